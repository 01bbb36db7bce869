#!/usr/bin/env bash
# Sustained load: payments at a fixed rate for a while, against a fresh database on the bench's
# own PostgreSQL and RabbitMQ (bench/private-servers.sh), one `accredito serve` with every role.
# Prints e2e's JSON line: throughput, lag from each webhook's 200 to its order reconciled
# (p50/p99/max) and CPU per event. With LAG_BY_SECOND=1, then the lag per second of receipt
# (events received, p50 and max lag in ms, from the inbox and order_states), to see whether a
# high p99 is one stall or a backlog that builds and drains.
# usage: [RATE=600] [DURATION=300] [LAG_BY_SECOND=1] bench/sustained.sh BIN_DIR
#   e.g. SQLX_OFFLINE=true cargo build --release --bins && bench/sustained.sh target/release
set -u
bin=$1
bench=${BENCH:-$bin/accredito-bench}
rate=${RATE:-600}
duration=${DURATION:-300}
port=${PORT:-18300}
here=$(cd "$(dirname "$0")" && pwd)
eval "$("$here/private-servers.sh" start | grep '^export ')"
db=accredito_sustained
export DATABASE_URL="$DATABASE_SERVER/$db?sslmode=disable"
psql -q "$DATABASE_SERVER/postgres" -c "drop database if exists $db with (force)" 2>/dev/null
"$bin/accredito" migrate >/dev/null 2>&1
token="bench-admin-token-0123456789abcdef"
ACCREDITO_MASTER_KEY=$("$bin/accredito" generate-master-key) ACCREDITO_ADMIN_TOKEN=$token \
  ACCREDITO_AMQP_PREFIX=sustained_$$ RUST_LOG=warn ACCREDITO_ADMIN_LISTEN=127.0.0.1:$((port + 1)) \
  "$bin/accredito" --listen "127.0.0.1:$port" serve > /tmp/sustained-serve.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
sleep 3
ACCREDITO_BENCH_ACCREDITO_PID=$pid "$bench" e2e --url "http://127.0.0.1:$port" \
  --admin-url http://127.0.0.1:$((port + 1)) --admin-token $token \
  --orders $((rate * duration)) --rate "$rate" --register-orders db 2>&1 | tail -1
if [ "${LAG_BY_SECOND:-0}" = 1 ]; then
  psql -qAt -F ' ' "$DATABASE_URL" -c "
    with lag as (
      select date_trunc('second', i.received_at) as second,
             extract(epoch from s.updated_at - i.received_at) * 1000 as ms
      from inbox_events i
      join stripe_payment_intents p on p.id = i.object_id
      join order_states s on s.order_id = p.order_id
    )
    select to_char(second, 'HH24:MI:SS'), count(*),
           round(percentile_cont(0.5) within group (order by ms)), round(max(ms))
    from lag group by second order by second" |
    awk 'BEGIN { print "second received p50_ms max_ms" } { print }'
fi
