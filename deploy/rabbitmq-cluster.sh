#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, from the installed rabbitmq-server package,
# beside (and leaving alone) the system's own broker: nodes accredito-c1, -c2 and -c3 on
# 127.0.0.1:5701, 5702 and 5703 (deploy/rabbitmq-node.sh: own names, ports, data directories).
#   deploy/rabbitmq-cluster.sh start    starts and clusters the nodes (idempotent); prints
#                                       the AMQP_URL that lists the three
#   deploy/rabbitmq-cluster.sh stop     stops the nodes and removes their data
#   deploy/rabbitmq-cluster.sh status   the cluster's running nodes
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node="$here/rabbitmq-node.sh"
names=(accredito-c1 accredito-c2 accredito-c3)
ports=(5701 5702 5703)

urls() {
  local list="" port
  for port in "${ports[@]}"; do list+="${list:+,}amqp://guest:guest@127.0.0.1:$port/%2f"; done
  echo "$list"
}

running_nodes() { # as seen by the first node
  bash "$node" ctl "${names[0]}" eval 'length(rabbit_mnesia:cluster_nodes(running)).' 2>/dev/null | tr -d '\r'
}

case "${1:-}" in
  start)
    # One forming at a time (tests run in parallel); -o: the nodes started must not hold it.
    dir="${ACCREDITO_RABBITMQ_NODES:-/tmp/accredito-rabbitmq}"
    mkdir -p "$dir"
    exec flock -o "$dir/cluster.lock" bash "$0" start-locked
    ;;
  start-locked)
    # Together: a clustered node that restarts waits for its peers' tables before it is up.
    pids=()
    for i in 0 1 2; do bash "$node" start "${names[$i]}" "${ports[$i]}" >/dev/null & pids+=($!); done
    for pid in "${pids[@]}"; do wait "$pid"; done
    if [ "$(running_nodes)" != 3 ]; then
      for i in 1 2; do
        bash "$node" ctl "${names[$i]}" stop_app >/dev/null 2>&1
        bash "$node" ctl "${names[$i]}" reset >/dev/null 2>&1
        bash "$node" ctl "${names[$i]}" join_cluster "${names[0]}@localhost" >/dev/null 2>&1
        bash "$node" ctl "${names[$i]}" start_app >/dev/null 2>&1
      done
    fi
    [ "$(running_nodes)" = 3 ] || { echo "the cluster did not form" >&2; exit 1; }
    echo "$(urls)"
    ;;
  stop)
    # Stopped for good: the next start forms a fresh cluster rather than recover this one.
    for name in "${names[@]}"; do bash "$node" stop "$name"; done
    for name in "${names[@]}"; do rm -rf "${ACCREDITO_RABBITMQ_NODES:-/tmp/accredito-rabbitmq}/$name"; done
    ;;
  status)
    echo "running nodes: $(running_nodes)"
    ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
