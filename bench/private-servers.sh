#!/usr/bin/env bash
# PostgreSQL and RabbitMQ of the benchmark's own, so that what else runs on the machine (tests,
# builds against the system's servers) neither shares their load nor counts in the bench's CPU
# figures: a PostgreSQL cluster `accredito-bench` on 127.0.0.1:5434 (Debian's postgresql-common,
# default settings, trust on loopback) and a RabbitMQ node on 127.0.0.1:5692
# (deploy/rabbitmq-node.sh).
#   bench/private-servers.sh start   prints the variables to export (URLs and root pids)
#   bench/private-servers.sh stop
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
source "$here/deploy/services.sh"
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
cluster=accredito-bench
pg_port=5434
mq_port=5692

case "${1:-}" in
  start)
    if ! pg_lsclusters -h | awk '{print $2}' | grep -qx "$cluster"; then
      as_root pg_createcluster "$version" "$cluster" -p "$pg_port" -- --auth-local=trust --auth-host=trust >/dev/null
      printf "listen_addresses = '127.0.0.1'\nssl = off\n" |
        as_root tee "/etc/postgresql/$version/$cluster/conf.d/bench.conf" >/dev/null
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start 2>/dev/null || true
    wait_for_port "$pg_port" "PostgreSQL ($cluster)" 60 >&2
    mq_dir=$(bash "$here/deploy/rabbitmq-node.sh" start accredito-bench "$mq_port")
    echo "export DATABASE_SERVER=postgres://postgres@127.0.0.1:$pg_port"
    echo "export AMQP_URL=amqp://guest:guest@127.0.0.1:$mq_port/%2f"
    echo "export ACCREDITO_BENCH_POSTGRES_PID=$(head -n 1 "/var/lib/postgresql/$version/$cluster/postmaster.pid")"
    echo "export ACCREDITO_BENCH_RABBITMQ_PID=$(cat "$mq_dir/pid")"
    ;;
  stop)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" stop 2>/dev/null || true
    bash "$here/deploy/rabbitmq-node.sh" stop accredito-bench
    ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
