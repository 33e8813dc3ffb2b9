#!/usr/bin/env bash
# Starts what the tests need and this machine is not running yet: the Docker engine, RabbitMQ and
# an OCI registry on 127.0.0.1:5005 (scripts/registry.yml). Idempotent;
# services started here keep running after the script ends.
set -euo pipefail

wait_for() { # seconds, description, command...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq "$((seconds * 2))"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "$what did not come up within ${seconds}s" >&2
  return 1
}

if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd (log: /var/log/skiff-dockerd.log)"
  setsid nohup dockerd >/var/log/skiff-dockerd.log 2>&1 < /dev/null &
  wait_for 60 "the Docker engine" docker info || { tail -20 /var/log/skiff-dockerd.log >&2; exit 1; }
fi

if ! curl -sf http://127.0.0.1:5005/v2/ >/dev/null 2>&1; then
  echo "starting docker-registry on 127.0.0.1:5005 (log: /var/log/skiff-registry.log)"
  setsid nohup docker-registry serve "$(dirname "$0")/registry.yml" >/var/log/skiff-registry.log 2>&1 < /dev/null &
  wait_for 30 "the registry" curl -sf http://127.0.0.1:5005/v2/ || { tail -20 /var/log/skiff-registry.log >&2; exit 1; }
fi

# RabbitMQ listens on loopback only (AMQP, epmd and Erlang distribution): function containers
# with egress sit on Docker's bridge and must not reach the broker (BRIEF §4).
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=25672
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
if ! rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; then
  echo "starting rabbitmq-server (loopback only)"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_for 90 "RabbitMQ" rabbitmq-diagnostics -q check_port_connectivity || exit 1
fi

# Queues left by earlier test and benchmark runs on this broker: test functions carry a random
# 12-hex suffix (tests/common/queues.rs), the async benchmark's functions are `noop` + a UUID. Many
# hundreds of idle quorum queues slow a 2-core broker enough to fail timing-bound tests, so they
# go before a run. Nothing else matches these names.
rabbitmqctl -q eval '
  Leftover = fun(Q) ->
    Name = element(4, amqqueue:get_name(Q)),
    re:run(Name, "-[0-9a-f]{12}$") =/= nomatch orelse re:run(Name, "^skiff[.]fn[.]noop[0-9a-f]{32}$") =/= nomatch
  end,
  length([rabbit_amqqueue:delete(Q, false, false, <<"skiff-tests">>) || Q <- rabbit_amqqueue:list(<<"/">>), Leftover(Q)]).' \
  >/dev/null 2>&1 || echo "could not remove leftover test queues (continuing)" >&2
