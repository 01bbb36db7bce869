#!/usr/bin/env bash
# The cluster fault test: two ingest and two worker processes against a local three-node
# RabbitMQ cluster (deploy/rabbitmq-cluster.sh) with quorum queues of three replicas, under a
# stream of signed events sent to both ingest processes (each order's events in one burst).
# While the load is sent it kills -9 one ingest and one worker process and starts them again,
# kills -9 the node that leads the orders queue and starts it again, then stops a second node
# gracefully and starts it. At the end every event answered 2xx must be stored, published and
# applied exactly once, and every order must equal the reconciliation of its events: the
# load's report prints the counts (lost, applied twice, wrong).
# FAULTS_ORDERS, FAULTS_REFUNDS and FAULTS_RATE size the load (defaults: 200, 20, 100/s: 4,200
# events over about 42 s, so that every fault falls within the load).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/services.sh
ensure_services

SQLX_OFFLINE=true cargo build --release --quiet --bins
bin="${CARGO_TARGET_DIR:-target}/release/accredito"
bench="${CARGO_TARGET_DIR:-target}/release/accredito-bench"
work=$(mktemp -d)
prefix="cluster_faults_$(date +%s)"
node=deploy/rabbitmq-node.sh
names=(accredito-c1 accredito-c2 accredito-c3)
ports=(5701 5702 5703)

echo "== three-node RabbitMQ cluster"
export AMQP_URL
AMQP_URL=$(bash deploy/rabbitmq-cluster.sh start)
echo "AMQP_URL=$AMQP_URL"

export DATABASE_URL="${FAULTS_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/accredito_cluster_faults}"
export ACCREDITO_MASTER_KEY ACCREDITO_ADMIN_TOKEN ACCREDITO_AMQP_PREFIX="$prefix"
ACCREDITO_MASTER_KEY=$("$bin" generate-master-key)
ACCREDITO_ADMIN_TOKEN="faults-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ACCREDITO_WORKER_RETRY_BASE_MS=250 ACCREDITO_QUORUM_GROUP_SIZE=3 RUST_LOG=warn
psql "${DATABASE_URL%/*}/postgres" -qc "drop database if exists ${DATABASE_URL##*/} with (force)" >/dev/null
"$bin" migrate >/dev/null

# Processes by name: ingest-a, ingest-b (ingest and relay), worker-a, worker-b (workers).
declare -A pid port roles
port=([ingest-a]=18201 [ingest-b]=18203 [worker-a]=18205 [worker-b]=18207)
roles=([ingest-a]=ingest,relay [ingest-b]=ingest,relay [worker-a]=workers [worker-b]=workers)
start() { # name
  local p=${port[$1]}
  ACCREDITO_LISTEN="127.0.0.1:$p" ACCREDITO_ADMIN_LISTEN="127.0.0.1:$((p + 1))" \
    "$bin" serve --roles "${roles[$1]}" >>"$work/$1.log" 2>&1 &
  pid[$1]=$!
  for _ in $(seq 1 100); do port_open "$p" && return 0; sleep 0.1; done
  echo "$1 did not start; log in $work/$1.log" >&2
  return 1
}
kill_hard() { # name
  kill -9 "${pid[$1]}"
  wait "${pid[$1]}" 2>/dev/null || true
}
cleanup() {
  for name in "${!pid[@]}"; do kill "${pid[$name]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for q in $(bash "$node" ctl "${names[0]}" list_queues -q name 2>/dev/null | grep "^$prefix\." || true); do
    bash "$node" ctl "${names[0]}" delete_queue "$q" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# The node that leads a quorum queue (its Raft leader), by name.
leader_of() { # queue
  bash "$node" ctl "${names[0]}" list_queues -q name leader 2>/dev/null |
    awk -v q="$1" '$1 == q { sub(/@.*/, "", $2); print $2 }'
}
port_of() { # node name
  local i
  for i in 0 1 2; do [ "${names[$i]}" = "$1" ] && echo "${ports[$i]}"; done
}

for name in ingest-a ingest-b worker-a worker-b; do start "$name"; done
"$bench" faults --url "http://127.0.0.1:${port[ingest-a]}" --also-url "http://127.0.0.1:${port[ingest-b]}" \
  --admin-url "http://127.0.0.1:$((port[ingest-a] + 1))" --admin-token "$ACCREDITO_ADMIN_TOKEN" \
  --orders "${FAULTS_ORDERS:-200}" --refunds-per-order "${FAULTS_REFUNDS:-20}" --rate "${FAULTS_RATE:-100}" \
  >"$work/report.json" &
load_pid=$!
started=$SECONDS
at() { echo "[$((SECONDS - started)) s, load $(kill -0 "$load_pid" 2>/dev/null && echo running || echo over)] $*"; }

sleep 5
at "fault: kill -9 ingest-b and worker-a, start them again"
kill_hard ingest-b
kill_hard worker-a
sleep 2
start ingest-b
start worker-a
at "ingest-b and worker-a are back"

sleep 2
leader=$(leader_of "$prefix.orders")
[ -n "$leader" ] || { echo "no leader found for $prefix.orders" >&2; exit 1; }
at "fault: kill -9 RabbitMQ node $leader (leads $prefix.orders), start it again"
kill -9 "$(cat "${ACCREDITO_RABBITMQ_NODES:-/tmp/accredito-rabbitmq}/$leader/pid")"
sleep 3
bash "$node" start "$leader" "$(port_of "$leader")" >/dev/null 2>&1
at "RabbitMQ node $leader is back"

sleep 2
for candidate in "${names[@]}"; do [ "$candidate" != "$leader" ] && second=$candidate && break; done
at "fault: stop RabbitMQ node $second gracefully, start it again"
bash "$node" stop "$second"
sleep 3
bash "$node" start "$second" "$(port_of "$second")" >/dev/null 2>&1
at "RabbitMQ node $second is back"

status=0
wait "$load_pid" || status=$?
cat "$work/report.json"
if [ "$status" -ne 0 ]; then
  echo "CLUSTER FAULT TEST FAILED: events lost, applied twice or wrong (logs in $work)" >&2
  echo "cluster fault test: 0 passed, 1 failed"
  exit "$status"
fi
echo "cluster fault test passed: nothing acknowledged was lost, nothing applied twice"
echo "cluster fault test: 1 passed, 0 failed"
