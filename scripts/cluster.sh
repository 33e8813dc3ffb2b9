#!/usr/bin/env bash
# A 3-node Skiff cluster on this machine: three etcd members, three Skiff nodes on
# 127.0.0.1:9001-9003 and, with --rabbitmq, a 3-node RabbitMQ cluster (quorum queues replicated
# on all three) for asynchronous invocations. State and logs live in ./.skiff-cluster.
#
#   scripts/cluster.sh up [--rabbitmq]   start everything, deploy hello-c on node 1, invoke it on every node
#   scripts/cluster.sh down              stop everything (the state stays for the next `up`)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD/.skiff-cluster
skiff=target/release/skiff
etcd_ports=(2381 2383 2385)       # client ports; each member's peer port is the next one
rabbit_ports=(5701 5702 5703)

etcd_endpoints() { local IFS=,; echo "${etcd_ports[*]/#/http://127.0.0.1:}"; }

start_etcd() {
  local cluster=() i
  for i in 0 1 2; do cluster+=("e$i=http://127.0.0.1:$((etcd_ports[i] + 1))"); done
  for i in 0 1 2; do
    local client="http://127.0.0.1:${etcd_ports[i]}" peer="http://127.0.0.1:$((etcd_ports[i] + 1))"
    mkdir -p "$root/etcd$i"
    setsid nohup etcd --name "e$i" --data-dir "$root/etcd$i/data" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$(IFS=,; echo "${cluster[*]}")" --initial-cluster-state new \
      --auto-compaction-mode periodic --auto-compaction-retention 1h \
      >"$root/etcd$i/log" 2>&1 </dev/null &
    echo $! >"$root/etcd$i/pid"
  done
  for _ in $(seq 60); do etcdctl --endpoints "$(etcd_endpoints)" endpoint health >/dev/null 2>&1 && return; sleep 0.5; done
  echo "etcd did not become healthy (logs: $root/etcd*/log)" >&2; exit 1
}

rabbit_env() { # node index -> environment for rabbitmq-server / rabbitmqctl
  local i=$1 dir="$root/rabbit$1"
  echo RABBITMQ_NODENAME="skiffq$i@localhost" RABBITMQ_NODE_PORT="${rabbit_ports[i]}" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=$((rabbit_ports[i] + 20000)) ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_CONFIG_FILE="$dir/rabbitmq"
}
# Loopback only, as scripts/start-services.sh keeps the default broker (passed apart: it has spaces).
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

rabbit_ctl() { # node index, rabbitmqctl arguments...
  local i=$1; shift
  env $(rabbit_env "$i") rabbitmqctl -n "skiffq$i@localhost" "$@"
}

start_rabbitmq() {
  local i
  for i in 0 1 2; do
    mkdir -p "$root/rabbit$i"
    echo '[].' >"$root/rabbit$i/enabled_plugins"
    chown -R rabbitmq:rabbitmq "$root/rabbit$i" 2>/dev/null || true
    env $(rabbit_env $i) rabbitmq-server -detached
  done
  for i in 0 1 2; do # a node registers with epmd a few seconds after -detached returns
    for _ in $(seq 90); do rabbit_ctl $i await_startup >/dev/null 2>&1 && break; sleep 1; done
    rabbit_ctl $i await_startup >/dev/null
  done
  for i in 1 2; do
    if ! rabbit_ctl $i cluster_status 2>/dev/null | grep -q skiffq0; then
      rabbit_ctl $i stop_app >/dev/null
      rabbit_ctl $i join_cluster skiffq0@localhost >/dev/null
      rabbit_ctl $i start_app >/dev/null
    fi
  done
}

amqp_list() { # node index -> the brokers' URLs, starting from a different one per node
  local i=$1 k urls=()
  for k in 0 1 2; do urls+=("amqp://guest:guest@127.0.0.1:${rabbit_ports[(i + k) % 3]}/%2f"); done
  (IFS=,; echo "${urls[*]}")
}

start_nodes() {
  local with_rabbit=$1 i
  [ -s "$root/secret" ] || head -c 24 /dev/urandom | base64 >"$root/secret"
  for i in 1 2 3; do
    local extra=()
    [ "$with_rabbit" = 1 ] && extra=(--amqp-url "$(amqp_list $((i - 1)))")
    setsid nohup "$skiff" server --listen "127.0.0.1:900$i" --data-dir "$root/node$i" \
      --etcd "$(etcd_endpoints)" --node "node$i" --cluster-secret "$(cat "$root/secret")" "${extra[@]}" \
      >"$root/node$i.log" 2>&1 </dev/null &
    echo $! >"$root/node$i.pid"
  done
  for i in 1 2 3; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:900$i/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  done
}

up() {
  local with_rabbit=0
  [ "${1:-}" = "--rabbitmq" ] && with_rabbit=1
  scripts/setup.sh
  mkdir -p "$root"
  start_etcd
  [ "$with_rabbit" = 1 ] && start_rabbitmq
  start_nodes "$with_rabbit"
  echo '$ skiff --url http://127.0.0.1:9001 deploy functions/hello-c'
  SKIFF_URL=http://127.0.0.1:9001 "$skiff" deploy functions/hello-c
  for i in 1 2 3; do
    echo "\$ curl -si http://127.0.0.1:900$i/2015-03-31/functions/hello-c/invocations -d '{\"name\":\"node$i\"}'"
    curl -si "http://127.0.0.1:900$i/2015-03-31/functions/hello-c/invocations" -d "{\"name\":\"node$i\"}" | grep -iE '^x-skiff-node|^\{'
  done
  echo; echo '$ skiff --url http://127.0.0.1:9002 nodes'
  SKIFF_URL=http://127.0.0.1:9002 "$skiff" nodes
  echo; echo "cluster up: nodes on 127.0.0.1:9001-9003, etcd $(etcd_endpoints); stop with scripts/cluster.sh down"
}

down() {
  local f i
  for f in "$root"/node*.pid "$root"/etcd*/pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  for i in 0 1 2; do
    [ -d "$root/rabbit$i" ] && rabbit_ctl $i stop >/dev/null 2>&1 || true
  done
  echo "cluster stopped (state kept in $root)"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  *) echo "usage: scripts/cluster.sh up [--rabbitmq] | down" >&2; exit 2 ;;
esac
