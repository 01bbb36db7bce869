#!/usr/bin/env bash
# Extra RabbitMQ nodes on this machine, beside (and leaving alone) the system's own broker: each
# with its own node name, ports and data directory under $ACCREDITO_RABBITMQ_NODES (default
# /tmp/accredito-rabbitmq), from the installed rabbitmq-server package. For tests that need a
# broker configured differently from the system's (TLS) and for a local cluster.
#
#   deploy/rabbitmq-node.sh start NAME AMQP_PORT [--tls TLS_PORT]
#       Starts node NAME@localhost listening on 127.0.0.1:AMQP_PORT (and with --tls, AMQPS on
#       127.0.0.1:TLS_PORT with a certificate for localhost/127.0.0.1 issued by a CA made for
#       the node: its PEM is NODES/NAME/tls/ca.pem). Does nothing if the node already runs.
#       Prints the node's directory.
#   deploy/rabbitmq-node.sh stop NAME
#   deploy/rabbitmq-node.sh ctl NAME ARGS...     rabbitmqctl against the node
#   deploy/rabbitmq-node.sh queues NAME ARGS...  rabbitmq-queues against the node
#
# Every node here shares one Erlang cookie (in NODES), so they can be clustered
# (deploy/rabbitmq-cluster.sh). Concurrent callers (tests run in parallel) are serialised per node by a lock file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/services.sh"

nodes="${ACCREDITO_RABBITMQ_NODES:-/tmp/accredito-rabbitmq}"
sbin=/usr/lib/rabbitmq/bin

usage() { sed -n '2,19p' "$0" >&2; exit 2; }

node_env() { # name
  local dir="$nodes/$1"
  export HOME="$nodes" # one Erlang cookie for every node here, so that they can cluster
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
  export RABBITMQ_NODENAME="$1@localhost"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_PID_FILE="$dir/pid"
  export ERL_EPMD_ADDRESS=127.0.0.1
  # A node that fails to boot writes its crash dump here, not into the caller's directory.
  export ERL_CRASH_DUMP="$dir/erl_crash.dump"
}

ctl() { # name args...
  local name="$1"; shift
  node_env "$name"
  "$sbin/rabbitmqctl" -n "$name@localhost" "$@"
}

make_certificates() { # dir
  local tls="$1/tls"
  [ -s "$tls/server.pem" ] && return 0
  command -v openssl >/dev/null || apt_install openssl
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=accredito test CA ($(basename "$1"))" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 3650 -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
  chmod 0644 "$tls"/*.pem "$tls"/*.key
}

start() { # name port [--tls tls_port]
  local name="$1" port="$2" tls_port=""
  [ "${3:-}" = --tls ] && tls_port="${4:?--tls needs a port}"
  local dir="$nodes/$name"
  mkdir -p "$dir"
  exec 9>"$dir.lock"
  flock 9
  if [ -s "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null \
    && port_open "$port" && { [ -z "$tls_port" ] || port_open "$tls_port"; }; then
    echo "$dir"; return 0
  fi
  for p in "$port" $tls_port; do
    if port_open "$p"; then echo "127.0.0.1:$p is taken by another program than node $name" >&2; return 1; fi
  done
  [ -x "$sbin/rabbitmq-server" ] || apt_install rabbitmq-server
  {
    echo "listeners.tcp.default = 127.0.0.1:$port"
    echo "loopback_users = none"
    if [ -n "$tls_port" ]; then
      make_certificates "$dir"
      echo "listeners.ssl.default = 127.0.0.1:$tls_port"
      echo "ssl_options.cacertfile = $dir/tls/ca.pem"
      echo "ssl_options.certfile = $dir/tls/server.pem"
      echo "ssl_options.keyfile = $dir/tls/server.key"
      echo "ssl_options.verify = verify_none"
      echo "ssl_options.fail_if_no_peer_cert = false"
    fi
  } >"$dir/rabbitmq.conf"
  echo '[].' >"$dir/enabled_plugins"
  # Erlang distribution on loopback only, on a port of its own.
  echo "DIST_PORT=$((port + 20000))" >"$dir/rabbitmq-env.conf"
  echo "export ERL_FLAGS=\"-kernel inet_dist_use_interface {127,0,0,1}\"" >>"$dir/rabbitmq-env.conf"
  node_env "$name"
  echo "RabbitMQ node $name: starting on 127.0.0.1:$port${tls_port:+ (TLS on $tls_port)}" >&2
  # The node must not inherit the lock (fd 9), or it would hold it for its lifetime.
  "$sbin/rabbitmq-server" -detached >/dev/null 2>&1 9>&-
  wait_for_port "$port" "RabbitMQ node $name" 120 >&2
  [ -z "$tls_port" ] || wait_for_port "$tls_port" "RabbitMQ node $name (TLS)" 60 >&2
  "$sbin/rabbitmqctl" -n "$name@localhost" await_startup --timeout 120 >/dev/null
  echo "$dir"
}

queues() { # name args...
  local name="$1"; shift
  node_env "$name"
  "$sbin/rabbitmq-queues" -n "$name@localhost" "$@"
}

stop() { # name
  local dir="$nodes/$1"
  [ -d "$dir" ] || return 0
  ctl "$1" stop >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) [ $# -ge 3 ] || usage; shift; start "$@" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  ctl) [ $# -ge 3 ] || usage; shift; ctl "$@" ;;
  queues) [ $# -ge 3 ] || usage; shift; queues "$@" ;;
  *) usage ;;
esac
