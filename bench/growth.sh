#!/usr/bin/env bash
# The growth curve: intake and end-to-end throughput on a fresh database and on databases
# filled in bulk to 100,000 and 1,000,000 inbox events (with orders, refunds, disputes, open
# discrepancies and payouts in proportion: bench/growth.sql), statistics left stale.
# usage: bench/growth.sh BIN_DIR PORT [SIZES...]   e.g. bench/growth.sh target/release 18094
# Needs PostgreSQL and RabbitMQ on 127.0.0.1 (deploy/services.sh). Prints one JSON line per run.
set -u
bin=$1; port=$2; shift 2
# The admin listener (`/v1`); a build from before it existed serves `/v1` on $port: ADMIN_PORT=$port.
admin_port=${ADMIN_PORT:-$((port + 1))}
token=bench-admin-token-0123456789abcdef
sizes=("${@:-0 100000 1000000}")
cd "$(dirname "$0")/.."

# A fresh database of the given size, and the service on it; sets $pid.
filled_server() {
  local size=$1 run=$2
  local db=accredito_growth_${size}_$run
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
  psql -q -U postgres -h 127.0.0.1 -d postgres -c "drop database if exists $db with (force)" \
    -c "create database $db" 2>/dev/null
  $bin/accredito migrate >/dev/null 2>&1
  local started=$(date +%s)
  if [ "$size" -gt 0 ]; then
    psql -q -U postgres -h 127.0.0.1 -d "$db" -v inbox="$size" -f bench/growth.sql
  fi
  loaded=$(( $(date +%s) - started ))
  ACCREDITO_MASTER_KEY=$($bin/accredito generate-master-key) ACCREDITO_ADMIN_TOKEN=$token \
    ACCREDITO_AMQP_PREFIX=growth_${size}_$run RUST_LOG=warn \
    ACCREDITO_ADMIN_LISTEN=127.0.0.1:$admin_port $bin/accredito --listen 127.0.0.1:$port serve > /tmp/growth_${size}_$run.log 2>&1 &
  pid=$!
  sleep 3
}

# Intake and e2e each on a database of their own, so e2e never shares the workers with the
# events an intake run left to drain.
for size in ${sizes[@]}; do
  filled_server "$size" intake
  echo "size $size (loaded in ${loaded}s) intake: $($bin/accredito-bench intake --url http://127.0.0.1:$port --admin-url http://127.0.0.1:$admin_port --admin-token $token --events 20000 --concurrency 64 2>&1 | tail -1)"
  kill $pid; wait $pid 2>/dev/null
  filled_server "$size" e2e
  echo "size $size (loaded in ${loaded}s) e2e: $($bin/accredito-bench e2e --url http://127.0.0.1:$port --admin-url http://127.0.0.1:$admin_port --admin-token $token --orders ${E2E_ORDERS:-5000} 2>&1 | tail -1)"
  kill $pid; wait $pid 2>/dev/null
done
