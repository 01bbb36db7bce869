#!/usr/bin/env bash
# Runs the intake and end-to-end benchmarks twice each against one build, each run on a fresh
# database and RabbitMQ prefix of its own (an e2e run never inherits the rows and open
# discrepancies an intake run left), so two builds (two commits) can be compared on one
# machine.
# usage: bench/compare.sh BIN_DIR LABEL PORT
#   e.g. bench/compare.sh target/release new 18092
# Needs PostgreSQL and RabbitMQ on 127.0.0.1 (deploy/services.sh), or those named by
# DATABASE_SERVER and AMQP_URL (e.g. `eval "$(bench/private-servers.sh start)"`, which also
# restricts the CPU figures to those servers' processes). Prints one JSON line per run;
# e2e's has the CPU seconds of the accredito, PostgreSQL and RabbitMQ processes per event.
# INTAKE_RUNS and E2E_RUNS (2 each) set how many runs; BENCH another accredito-bench binary
# (to drive an older build with the current bench).
set -u
bin=$1; label=$2; port=$3
bench=${BENCH:-$bin/accredito-bench}
# The admin listener (`/v1`); a build from before it existed serves `/v1` on $port: ADMIN_PORT=$port.
admin_port=${ADMIN_PORT:-$((port + 1))}
token=bench-admin-token-0123456789abcdef

# Starts the service on a fresh database named after the label and run; sets $pid.
fresh_server() {
  local run=$1
  local db=accredito_cmp_${label}_$run
  # Plain connections: the builds compared may differ in TLS support, and TLS costs CPU.
  local server=${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
  export DATABASE_URL="$server/$db?sslmode=disable"
  psql -q "$server/postgres" -c "drop database if exists $db with (force)" 2>/dev/null
  $bin/accredito migrate >/dev/null 2>&1
  ACCREDITO_MASTER_KEY=$($bin/accredito generate-master-key) ACCREDITO_ADMIN_TOKEN=$token \
    ACCREDITO_AMQP_PREFIX=cmp_${label}_$run RUST_LOG=warn \
    ACCREDITO_ADMIN_LISTEN=127.0.0.1:$admin_port $bin/accredito --listen 127.0.0.1:$port serve > /tmp/serve_${label}_$run.log 2>&1 &
  pid=$!
  sleep 3
}

for i in $(seq 1 "${INTAKE_RUNS:-2}"); do
  fresh_server "intake$i"
  echo "$label intake: $($bench intake --url http://127.0.0.1:$port --admin-url http://127.0.0.1:$admin_port --admin-token $token --events 20000 --concurrency 64 2>&1 | tail -1)"
  kill $pid; wait $pid 2>/dev/null
done
for i in $(seq 1 "${E2E_RUNS:-2}"); do
  fresh_server "e2e$i"
  echo "$label e2e: $(ACCREDITO_BENCH_ACCREDITO_PID=$pid $bench e2e --url http://127.0.0.1:$port --admin-url http://127.0.0.1:$admin_port --admin-token $token --orders ${E2E_ORDERS:-5000} 2>&1 | tail -1)"
  kill $pid; wait $pid 2>/dev/null
done
