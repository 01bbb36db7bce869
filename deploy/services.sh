# shellcheck shell=bash
# Makes PostgreSQL and RabbitMQ reachable on 127.0.0.1: uses running servers, otherwise starts
# the installed ones, otherwise installs them with apt (Debian/Ubuntu). Sourced by up.sh and
# check.sh; every step says what it does.

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; return 1; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # port name seconds
  local i
  for ((i = 0; i < $3 * 4; i++)); do port_open "$1" && return 0; sleep 0.25; done
  echo "$2 did not come up on 127.0.0.1:$1 within $3 s" >&2; return 1
}

apt_install() {
  echo "installing $* with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if port_open 5432; then echo "PostgreSQL: running"; return 0; fi
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then apt_install postgresql; fi
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! ls /etc/postgresql/"$version"/main >/dev/null 2>&1; then as_root pg_createcluster "$version" main; fi
  echo "PostgreSQL: starting cluster $version/main"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for_port 5432 PostgreSQL 60
  # A fresh cluster asks for a password on TCP; give the postgres role the one our default
  # URLs carry (a trust-auth server ignores it).
  as_root runuser -u postgres -- psql -q -c "alter role postgres password 'postgres'" >/dev/null 2>&1 || true
}

ensure_rabbitmq() {
  if port_open 5672; then echo "RabbitMQ: running"; return 0; fi
  if ! command -v rabbitmq-server >/dev/null && [ ! -x /usr/sbin/rabbitmq-server ]; then apt_install rabbitmq-server; fi
  echo "RabbitMQ: starting"
  as_root /usr/sbin/rabbitmq-server -detached >/dev/null 2>&1 || as_root rabbitmq-server -detached || true
  wait_for_port 5672 RabbitMQ 120
  # The port opens before the broker accepts clients; wait for the application too.
  as_root rabbitmqctl await_startup >/dev/null 2>&1 || true
}

ensure_services() {
  ensure_postgres
  ensure_rabbitmq
}
