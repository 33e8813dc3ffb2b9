#!/usr/bin/env bash
# Starts Skiff with its embedded defaults (127.0.0.1:9000, data in ./.skiff), deploys the example
# functions, invokes them, and keeps serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
skiff=target/release/skiff
export SKIFF_URL=${SKIFF_URL:-http://127.0.0.1:9000}

$skiff server --listen "${SKIFF_URL#http://}" --data-dir ./.skiff &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf "$SKIFF_URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

$skiff deploy functions/hello-c
$skiff deploy functions/hello-py        # an 18 MB component: the first deploy compiles it (~15 s)
echo; echo '$ skiff invoke hello-c --data '"'"'{"name":"Ada"}'"'"
$skiff invoke hello-c --data '{"name":"Ada"}'
echo '$ skiff invoke hello-py --data '"'"'{"name":"Ada","items":[1,2,3]}'"'"' --log'
$skiff invoke hello-py --data '{"name":"Ada","items":[1,2,3]}' --log
echo '$ curl -s '"$SKIFF_URL"'/2015-03-31/functions/hello-c/invocations -d '"'"'{"name":"curl"}'"'"
curl -s "$SKIFF_URL/2015-03-31/functions/hello-c/invocations" -d '{"name":"curl"}'; echo
echo; echo '$ skiff deploy functions/hello-rust    # a container function: lambda_runtime, FROM scratch'
$skiff deploy functions/hello-rust
echo '$ skiff invoke hello-rust --data '"'"'{"name":"Ada"}'"'"' --log'
$skiff invoke hello-rust --data '{"name":"Ada"}' --log
echo; echo '$ skiff invoke hello-c --async --data '"'"'{"name":"later"}'"'"'    # 202 once durable in the embedded queue'
id=$($skiff invoke hello-c --async --data '{"name":"later"}')
echo "$id"
for _ in $(seq 50); do $skiff status "$id" --json 2>/dev/null | grep -q '"succeeded"' && break; sleep 0.1; done
echo "\$ skiff status $id"
$skiff status "$id"
echo; echo '$ skiff service deploy functions/hello-service --wait    # 2 copies, health-checked, load-balanced'
$skiff service deploy functions/hello-service --health-interval-ms 500 --health-timeout-ms 400 --wait
echo '$ curl -s '"$SKIFF_URL"'/svc/hello/   (twice: two copies answer)'
curl -s "$SKIFF_URL/svc/hello/"; echo
curl -s "$SKIFF_URL/svc/hello/"; echo
$skiff service endpoints hello
echo; $skiff ls
echo; echo "Services keep running when the server stops (the next one adopts them): skiff service rm hello"
echo; echo "Skiff is serving on $SKIFF_URL (Ctrl-C to stop)."
wait $server
