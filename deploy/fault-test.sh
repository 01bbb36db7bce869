#!/usr/bin/env bash
# Fault test (G1-G5): under a steady stream of signed events, each order's events sent together
# in one burst, with two processes running workers (the full service and a workers-only one)
# competing for them: kill -9 each process and start it again, restart RabbitMQ, restart
# PostgreSQL; then check that every acknowledged event is stored, published and applied
# exactly once and that every order's books equal its events. Prints the load generator's
# JSON counts.
# Restarts the local PostgreSQL and RabbitMQ: run it on a development or CI machine only.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/services.sh
ensure_services

SQLX_OFFLINE=true cargo build --release --quiet --bins
# Where cargo put it: CARGO_TARGET_DIR when the target directory is shared.
bin="${CARGO_TARGET_DIR:-target}/release/accredito"
bench="${CARGO_TARGET_DIR:-target}/release/accredito-bench"
work=$(mktemp -d)
prefix="faults_$(date +%s)"
port=18099
admin_port=18097
worker_port=18098
worker_admin_port=18096
export DATABASE_URL="${FAULTS_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/accredito_faults}"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export ACCREDITO_MASTER_KEY ACCREDITO_ADMIN_TOKEN ACCREDITO_AMQP_PREFIX="$prefix" ACCREDITO_LISTEN="127.0.0.1:$port" \
  ACCREDITO_ADMIN_LISTEN="127.0.0.1:$admin_port"
ACCREDITO_MASTER_KEY=$("$bin" generate-master-key)
ACCREDITO_ADMIN_TOKEN="faults-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ACCREDITO_WORKER_RETRY_BASE_MS=250 RUST_LOG=warn

psql "${DATABASE_URL%/*}/postgres" -qc "drop database if exists ${DATABASE_URL##*/} with (force)" >/dev/null
"$bin" migrate >/dev/null

server_pid=""
worker_pid=""
start_server() {
  "$bin" serve >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do port_open "$port" && return 0; sleep 0.1; done
  echo "accredito did not start; log in $work/server.log" >&2
  return 1
}
# A second process with only the workers role: it competes with the first for every queue.
start_worker() {
  ACCREDITO_LISTEN="127.0.0.1:$worker_port" ACCREDITO_ADMIN_LISTEN="127.0.0.1:$worker_admin_port" \
    "$bin" serve --roles workers >>"$work/worker.log" 2>&1 &
  worker_pid=$!
  for _ in $(seq 1 100); do port_open "$worker_port" && return 0; sleep 0.1; done
  echo "the workers-only accredito did not start; log in $work/worker.log" >&2
  return 1
}
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  for q in $(as_root rabbitmqctl list_queues -q name 2>/dev/null | grep "^$prefix\." || true); do
    as_root rabbitmqctl delete_queue "$q" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

start_server
start_worker
"$bench" faults --url "http://127.0.0.1:$port" --admin-url "http://127.0.0.1:$admin_port" --admin-token "$ACCREDITO_ADMIN_TOKEN" \
  --orders "${FAULTS_ORDERS:-100}" --refunds-per-order "${FAULTS_REFUNDS:-20}" --rate "${FAULTS_RATE:-100}" \
  >"$work/report.json" &
load_pid=$!

sleep 6
echo "fault: kill -9 accredito, start it again"
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
sleep 2
start_server

sleep 4
echo "fault: kill -9 the workers-only accredito, start it again"
kill -9 "$worker_pid"
wait "$worker_pid" 2>/dev/null || true
sleep 1
start_worker

sleep 4
echo "fault: restart RabbitMQ"
as_root rabbitmqctl stop_app >/dev/null
sleep 3
as_root rabbitmqctl start_app >/dev/null

sleep 6
echo "fault: restart PostgreSQL"
version=$(ls /etc/postgresql | sort -V | tail -n 1)
as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart
wait_for_port 5432 PostgreSQL 60

status=0
wait "$load_pid" || status=$?
cat "$work/report.json"
if [ "$status" -ne 0 ]; then
  echo "FAULT TEST FAILED: events lost or applied twice (server log: $work/server.log)" >&2
  echo "fault test: 0 passed, 1 failed"
  exit "$status"
fi
echo "fault test passed: nothing acknowledged was lost, nothing applied twice"
echo "fault test: 1 passed, 0 failed"
