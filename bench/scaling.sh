#!/usr/bin/env bash
# Throughput across processes on the local three-node RabbitMQ cluster (deploy/rabbitmq-cluster.sh,
# quorum queues of three replicas): for 1 and 2 ingest processes (`serve --roles ingest,relay`)
# x 1, 2 and 4 worker processes (`serve --roles workers`; no sweeps), `accredito-bench intake`
# and then `accredito-bench e2e`, each on a fresh database and a RabbitMQ prefix of its own
# with the processes started for it, webhooks spread over the ingest processes in turn. Then,
# for comparison, 1 ingest x 1 worker against a single broker node.
#
# usage: bench/scaling.sh
# Prints one line per run: throughput, CPU ms per event by role (ingest processes, worker
# processes, PostgreSQL, the RabbitMQ nodes summed, and each node), the drain after the last
# webhook (intake: until every event is published; e2e: until every order is reconciled),
# PostgreSQL's write transactions and WAL bytes per event, the machine's busy share, the busy
# CPU time no measured process accounts for (other work), and the load average before and
# after (which counts the run's own processes too). The runs' JSON lines go to
# $SCALING_OUT (default /tmp/scaling-<time>.jsonl).
#
# Environment (defaults):
#   SCALING_INGEST="1 2"  SCALING_WORKERS="1 2 4"   the configurations
#   SCALING_EVENTS=20000 SCALING_CONCURRENCY=64     intake
#   SCALING_ORDERS=5000                             e2e (one webhook per order)
#   SCALING_PHASES="intake e2e"
#   SCALING_ROUNDS=1       how many times the whole series runs (one round: about 8 minutes on
#                          the 2-core machine, with the cluster's start)
#   SCALING_SINGLE=1       also 1x1 against one broker node (the private node, or SCALING_SINGLE_URL)
#   SCALING_PRIVATE=1      PostgreSQL (and the single node) of the bench's own
#                          (bench/private-servers.sh), so that other work's queries are not
#                          counted; 0 uses DATABASE_SERVER (default the system's, :5432)
#   SCALING_SKIP_BUILD=1   use the binaries in BIN_DIR (default $CARGO_TARGET_DIR/release)
# The cluster is shared with tests (tests/it/cluster.rs, deploy/cluster-fault-test.sh): before
# each configuration the script waits until no one else has a connection to it, and at the end
# it stops the cluster only if it started it. It never touches the system's RabbitMQ or
# PostgreSQL beyond creating and dropping its own databases.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/services.sh

ingest_counts=${SCALING_INGEST:-1 2}
worker_counts=${SCALING_WORKERS:-1 2 4}
events=${SCALING_EVENTS:-20000}
concurrency=${SCALING_CONCURRENCY:-64}
orders=${SCALING_ORDERS:-5000}
phases=${SCALING_PHASES:-intake e2e}
bin_dir=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
out=${SCALING_OUT:-/tmp/scaling-$(date +%Y%m%d-%H%M%S).jsonl}
token="bench-admin-token-0123456789abcdef"
node=deploy/rabbitmq-node.sh
names=(accredito-c1 accredito-c2 accredito-c3)
work=$(mktemp -d /tmp/scaling.XXXXXX)

if [ -z "${SCALING_SKIP_BUILD:-}" ]; then
  echo "building release binaries into $bin_dir" >&2
  SQLX_OFFLINE=true cargo build --release --quiet --bins
fi
bin=$bin_dir/accredito
bench=$bin_dir/accredito-bench

# Everything this script started, stopped on exit.
declare -a pids=() admin_ports=()
prefixes=()
started_private=""
started_cluster=""
stop_processes() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
delete_queues() { # ctl-style command..., then the prefixes
  local q p
  for p in "${prefixes[@]}"; do
    for q in $("$@" list_queues -q name 2>/dev/null | grep "^$p\." || true); do
      "$@" delete_queue "$q" >/dev/null 2>&1 || true
    done
  done
}
# The single broker's queues: the private node's, or the system broker's (rabbitmqctl).
delete_single_queues() {
  if [ -n "${single_node:-}" ]; then delete_queues bash "$node" ctl "$single_node"
  elif [ -z "${SCALING_SINGLE_URL:-}" ]; then delete_queues rabbitmqctl; fi
}
cleanup() {
  stop_processes
  if [ ${#prefixes[@]} -gt 0 ]; then
    delete_queues bash "$node" ctl "${names[0]}"
    delete_single_queues
  fi
  if [ -n "$started_cluster" ]; then bash deploy/rabbitmq-cluster.sh stop || true; fi
  if [ -n "$started_private" ]; then bash bench/private-servers.sh stop || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# PostgreSQL, and the single broker node for the comparison.
single_node=""
if [ "${SCALING_PRIVATE:-1}" = 1 ]; then
  port_open 5434 || started_private=1
  env_lines=$(bash bench/private-servers.sh start)
  db_server=$(sed -n 's/^export DATABASE_SERVER=//p' <<<"$env_lines")
  pg_pid=$(sed -n 's/^export ACCREDITO_BENCH_POSTGRES_PID=//p' <<<"$env_lines")
  single_url=${SCALING_SINGLE_URL:-$(sed -n 's/^export AMQP_URL=//p' <<<"$env_lines")}
  [ -n "${SCALING_SINGLE_URL:-}" ] || single_node=accredito-bench
else
  db_server=${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
  data_dir=$(psql -Atq "$db_server/postgres" -c 'show data_directory')
  pg_pid=$(head -n 1 "$data_dir/postmaster.pid" 2>/dev/null || true)
  single_url=${SCALING_SINGLE_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
fi
# The single node's name, for the CPU figures: the private node, else the system's (`rabbit`).
single_name=${single_node:-rabbit}

# The cluster.
if [ "$(bash deploy/rabbitmq-cluster.sh status 2>/dev/null)" != "running nodes: 3" ]; then
  started_cluster=1
fi
echo "starting the three-node cluster (deploy/rabbitmq-cluster.sh)" >&2
cluster_url=$(bash deploy/rabbitmq-cluster.sh start)
IFS=, read -r -a cluster_urls <<<"$cluster_url"

# Waits until the cluster has its three nodes and no connection of anyone else's (a test or
# the cluster fault test using it would share its CPU and might stop a node mid-run).
wait_for_idle_cluster() {
  local waited=0 connections
  while :; do
    if [ "$(bash deploy/rabbitmq-cluster.sh status 2>/dev/null)" != "running nodes: 3" ]; then
      bash deploy/rabbitmq-cluster.sh start >/dev/null
    fi
    connections=$(bash "$node" ctl "${names[0]}" list_connections -q name 2>/dev/null | grep -c . || true)
    [ "$connections" = 0 ] && return 0
    [ $((waited % 60)) = 0 ] && echo "the cluster has $connections connection(s) of someone else's; waiting" >&2
    [ "$waited" -ge 1800 ] && { echo "the cluster stayed busy for 30 min" >&2; return 1; }
    sleep 5; waited=$((waited + 5))
  done
}

# The AMQP_URL list starting at node k (mod 3), so processes spread their connections.
rotated_urls() { # k
  local i list=""
  for i in 0 1 2; do list+="${list:+,}${cluster_urls[$(((i + $1) % 3))]}"; done
  echo "$list"
}

# Starts one process; appends its pid to pids. Ingest processes get the pool size the
# Kubernetes manifests give them (8), workers the default (16): 2 x 8 + 4 x 16 stays under
# PostgreSQL's max_connections.
start_process() { # roles port amqp_url
  local roles=$1 port=$2 amqp=$3 pool=16
  [ "$roles" = workers ] || pool=8
  AMQP_URL=$amqp ACCREDITO_DB_MAX_CONNECTIONS=$pool ACCREDITO_LISTEN=127.0.0.1:$port \
    ACCREDITO_ADMIN_LISTEN=127.0.0.1:$((port + 1)) \
    "$bin" serve --roles "$roles" >>"$work/$roles-$port.log" 2>&1 &
  pids+=($!)
  admin_ports+=($((port + 1)))
}

# Waits until every process started answers /readyz with 200.
wait_ready() {
  local p i
  for p in "${admin_ports[@]}"; do
    for i in $(seq 1 300); do
      curl -fsS -o /dev/null "http://127.0.0.1:$p/readyz" 2>/dev/null && break
      [ "$i" = 300 ] && { echo "the process on admin port $p never got ready (logs in $work)" >&2; return 1; }
      sleep 0.1
    done
  done
}

# The orders queue's leader, and which nodes the processes' connections use.
topology_note() { # prefix broker
  local leader="" p nodes=""
  if [ "$2" = cluster ]; then
    leader=$(bash "$node" ctl "${names[0]}" list_queues -q name leader 2>/dev/null |
      awk -v q="$1.orders" '$1 == q { sub(/@.*/, "", $2); print $2 }')
  fi
  for p in "${admin_ports[@]}"; do
    nodes+="${nodes:+ }$(curl -fsS "http://127.0.0.1:$p/readyz" 2>/dev/null | jq -r '.rabbitmq_nodes | join("+")' | sed 's/127\.0\.0\.1://g')"
  done
  echo "orders leader ${leader:-n/a}; ports in use by process: $nodes"
}

load() { cut -d' ' -f1-3 /proc/loadavg; }

# One run: a fresh database and prefix, the processes, the bench, one line.
run() { # broker(cluster|single) ingest workers phase
  local broker=$1 n_ingest=$2 n_workers=$3 phase=$4
  local label="${n_ingest}i${n_workers}w_${broker}_$phase"
  local db=accredito_scaling_$phase run_started=$SECONDS
  echo "[$(date +%T)] $label: fresh database, $n_ingest ingest and $n_workers worker process(es)" >&2
  local prefix="scaling_${label}_$$"
  prefixes+=("$prefix")
  export DATABASE_URL="$db_server/$db?sslmode=disable"
  psql -q "$db_server/postgres" -c "drop database if exists $db with (force)" -c "create database $db" >/dev/null 2>&1
  "$bin" migrate >/dev/null
  export ACCREDITO_MASTER_KEY ACCREDITO_ADMIN_TOKEN=$token ACCREDITO_AMQP_PREFIX=$prefix RUST_LOG=warn
  ACCREDITO_MASTER_KEY=$("$bin" generate-master-key)
  admin_ports=()
  local i urls="" amqp nodes_var
  for i in $(seq 0 $((n_ingest - 1))); do
    if [ "$broker" = cluster ]; then amqp=$(rotated_urls "$i"); else amqp=$single_url; fi
    start_process ingest,relay $((18301 + 2 * i)) "$amqp"
    urls+="${urls:+,}http://127.0.0.1:$((18301 + 2 * i))"
  done
  for i in $(seq 0 $((n_workers - 1))); do
    if [ "$broker" = cluster ]; then amqp=$(rotated_urls "$((i + n_ingest))"); else amqp=$single_url; fi
    start_process workers $((18321 + 2 * i)) "$amqp"
  done
  wait_ready
  if [ "$broker" = cluster ]; then nodes_var=$(IFS=,; echo "${names[*]}"); else nodes_var=$single_name; fi
  local note before after json status=0
  note=$(topology_note "$prefix" "$broker")
  before=$(load)
  local args=(--url "$urls" --admin-url "http://127.0.0.1:18302" --admin-token "$token")
  if [ "$phase" = intake ]; then
    args=(intake "${args[@]}" --events "$events" --concurrency "$concurrency")
  else
    args=(e2e "${args[@]}" --orders "$orders" --concurrency "$concurrency")
  fi
  json=$(ACCREDITO_BENCH_ACCREDITO_PID=$(IFS=,; echo "${pids[*]}") ACCREDITO_BENCH_POSTGRES_PID=$pg_pid \
    ACCREDITO_BENCH_RABBITMQ_NODES=$nodes_var "$bench" "${args[@]}" 2>"$work/bench-$label.err" | tail -n 1) || status=$?
  after=$(load)
  stop_processes
  if [ "$broker" = cluster ]; then delete_queues bash "$node" ctl "${names[0]}"; else delete_single_queues; fi
  prefixes=()
  psql -q "$db_server/postgres" -c "drop database if exists $db with (force)" >/dev/null
  if [ -z "$json" ] || [ "$status" -ne 0 ]; then
    echo "$label: FAILED (exit $status): $(tail -n 3 "$work/bench-$label.err")"
    return 0
  fi
  jq -c --arg run_label "$label" --arg broker "$broker" --argjson ingest "$n_ingest" --argjson workers "$n_workers" \
    --arg load_before "$before" --arg load_after "$after" --arg note "$note" \
    '. + {run: $run_label, broker: $broker, ingest_processes: $ingest, worker_processes: $workers, load_before: $load_before, load_after: $load_after, topology: $note}' \
    <<<"$json" >>"$out"
  jq -r --arg run_label "$label" --arg before "$before" --arg after "$after" --arg note "$note" '
    def r(n): (n * 1000 | round) / 1000;
    def part(p): [.cpu.ms_per_event_by_part | to_entries[] | select(.key | startswith(p)) | .value] | add // 0;
    def nodes: [.cpu.ms_per_event_by_part | to_entries[] | select(.key | startswith("rabbitmq["))
      | "\(.key | sub("rabbitmq\\["; "") | sub("@.*"; "") | sub("accredito-"; "")) \(.value)"] | join(" ");
    (if .bench == "intake" then "\(.events_per_sec) events/s, p99 \(.latency_ms.p99) ms"
     else "\(.webhook_events_per_sec) webhooks/s, \(.reconciled_per_sec) orders/s reconciled" end) as $rate
    | (if .bench == "intake" then .publish_wait_s else r(.reconcile_s - .send_s) end) as $drain
    | "\($run_label): \($rate); drain \($drain) s; CPU ms/event: ingest \(r(part("accredito[ingest"))) workers \(r(part("accredito[workers")))"
      + " postgresql \(.cpu.ms_per_event_by_process.postgresql) rabbitmq \(.cpu.ms_per_event_by_process.rabbitmq) (\(nodes))"
      + " total \(.cpu.ms_per_event); PostgreSQL per event \(.postgresql_writes.write_transactions_per_event // "?") write transactions,"
      + " \(.postgresql_writes.wal_bytes_per_event // "?") B of WAL; machine busy \((.cpu.machine_busy_share // 0) * 100 | round)%, bench \(.cpu.bench_s) s,"
      + " other \(.cpu.other_s) s; load \($before) -> \($after); \($note)"' <<<"$json"
  echo "[$(date +%T)] $label: done in $((SECONDS - run_started)) s" >&2
}

echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; build $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' (src modified)'); JSON lines in $out" >&2
for round in $(seq 1 "${SCALING_ROUNDS:-1}"); do
  [ "${SCALING_ROUNDS:-1}" = 1 ] || echo "round $round"
  for n_ingest in $ingest_counts; do
    for n_workers in $worker_counts; do
      for phase in $phases; do
        wait_for_idle_cluster
        run cluster "$n_ingest" "$n_workers" "$phase"
      done
    done
  done
  if [ "${SCALING_SINGLE:-1}" = 1 ]; then
    for phase in $phases; do run single 1 1 "$phase"; done
  fi
done
