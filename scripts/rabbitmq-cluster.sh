#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, beside the single broker of services.sh:
# nodes inlet-a, inlet-b and inlet-c on AMQP ports 5701-5703 (distribution ports
# 25701-25703), each with its own data folder under $INLET_CLUSTER_DIR (default
# /tmp/inlet-rabbitmq-cluster), no plugins, and the user's one Erlang cookie; b and c are
# joined to a with `rabbitmqctl join_cluster`.
#
#   scripts/rabbitmq-cluster.sh start      start (or restart) the cluster, wait until joined
#   scripts/rabbitmq-cluster.sh stop       stop every node and remove the data folders
#   scripts/rabbitmq-cluster.sh kill NODE  SIGKILL one node (a, b or c), as a crash would
#   scripts/rabbitmq-cluster.sh revive NODE start a killed node again (it rejoins)
#   scripts/rabbitmq-cluster.sh urls       print INLET_AMQP_URL for the three nodes
set -euo pipefail

dir=${INLET_CLUSTER_DIR:-/tmp/inlet-rabbitmq-cluster}
host=$(hostname -s)
nodes=(a b c)

log() { printf 'rabbitmq-cluster: %s\n' "$*" >&2; }

index() { case $1 in a) echo 1 ;; b) echo 2 ;; c) echo 3 ;; *) log "no node $1 (a, b or c)"; exit 2 ;; esac; }
name() { echo "inlet-$1@$host"; }

ctl() { rabbitmqctl -n "$(name "$1")" "${@:2}"; }

env_of() {
  local n=$1 i
  i=$(index "$n")
  mkdir -p "$dir/$n"
  printf '[].\n' > "$dir/$n/enabled_plugins"
  cat > "$dir/$n/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:570$i
loopback_users = none
cluster_partition_handling = pause_minority
CONF
  # Debian's rabbitmq-server runs the node as the rabbitmq user.
  chown -R rabbitmq:rabbitmq "$dir" 2>/dev/null || true
  echo "RABBITMQ_NODENAME=$(name "$n")" \
    "RABBITMQ_NODE_PORT=570$i" \
    "RABBITMQ_DIST_PORT=2570$i" \
    "RABBITMQ_MNESIA_BASE=$dir/$n/mnesia" \
    "RABBITMQ_LOG_BASE=$dir/$n/log" \
    "RABBITMQ_PID_FILE=$dir/$n/pid" \
    "RABBITMQ_CONFIG_FILE=$dir/$n/rabbitmq.conf" \
    "RABBITMQ_ENABLED_PLUGINS_FILE=$dir/$n/enabled_plugins"
}

start_node() {
  local n=$1
  # shellcheck disable=SC2046
  env $(env_of "$n") rabbitmq-server -detached
  # -detached returns before the node registers; wait for the pid file's node to boot.
  ctl "$n" wait --timeout 120 "$dir/$n/pid" >/dev/null
}

joined() {
  ctl a cluster_status --formatter json 2>/dev/null |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["running_nodes"]))' 2>/dev/null
}

case ${1:-} in
  start)
    "$0" stop || true
    command -v rabbitmq-server >/dev/null || { log "rabbitmq-server is not installed (scripts/services.sh installs it)"; exit 1; }
    for n in "${nodes[@]}"; do start_node "$n"; done
    for n in b c; do
      ctl "$n" stop_app >/dev/null
      ctl "$n" join_cluster "$(name a)" >/dev/null
      ctl "$n" start_app >/dev/null
    done
    for _ in $(seq 1 60); do
      [ "$(joined)" = 3 ] && { log "three nodes joined: $(name a) $(name b) $(name c)"; exit 0; }
      sleep 1
    done
    log "the nodes did not join"; exit 1
    ;;
  stop)
    for n in "${nodes[@]}"; do
      if [ -f "$dir/$n/pid" ]; then
        kill -9 "$(cat "$dir/$n/pid")" 2>/dev/null || true
      fi
      ctl "$n" stop >/dev/null 2>&1 || true
    done
    rm -rf "$dir"
    ;;
  kill)
    n=${2:?node a, b or c}
    index "$n" >/dev/null
    kill -9 "$(cat "$dir/$n/pid")"
    log "killed $(name "$n")"
    ;;
  revive)
    n=${2:?node a, b or c}
    start_node "$n"
    ;;
  urls)
    echo "amqp://guest:guest@127.0.0.1:5701/%2f,amqp://guest:guest@127.0.0.1:5702/%2f,amqp://guest:guest@127.0.0.1:5703/%2f"
    ;;
  *)
    sed -n '2,13p' "$0"; exit 2
    ;;
esac
