#!/usr/bin/env bash
# Benchmark contract checks: the cost per exchange with compiled schemas next to the JSON
# parse cost (cargo bench --bench contracts), the proxy's throughput with contract checks on
# vs off, and Stoplight Prism's validating proxy on the same traffic.
#
# Loopback only; every process started here is killed on exit; never fails on the figures.
# Needs wrk, nginx, node/npm (Prism is installed into /tmp/cutover-prism by this script;
# no test needs it). Usage: benches/contracts.sh [seconds per run, default 8]
# (SKIP_MICRO=1 skips the cargo bench part).
#
# Traffic: GET /auth/users/1 answered by nginx with a user JSON shaped like the shipped
# reference contract (contracts/reference.openapi.json), 100 % mirrored to an identical
# candidate. Rows (same wrk settings: 2 threads, $CONN connections):
#   direct             wrk → upstream nginx
#   cutover-mirror     cutover proxy, no [contracts]
#   cutover-contracts  cutover proxy, [contracts] dir = contracts (request, primary and
#                      candidate validated on the analysis thread)
#   prism-proxy        `prism proxy --errors` (validates request and response) → upstream
set -u
DUR=${1:-8}
CONN=${CONN:-64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/cutover}
PRISM_DIR=${PRISM_DIR:-/tmp/cutover-prism}
. "$ROOT/benches/lib.sh"
bench_init contracts-bench
bench_need wrk nginx

if [ -z "${SKIP_MICRO:-}" ]; then   # SKIP_MICRO=1: proxy rows only
  echo "== validation cost per exchange (cargo bench --bench contracts) =="
  (cd "$ROOT" && cargo bench --bench contracts 2>/dev/null) || echo "(bench did not build)"
  echo
fi

bench_build
NGINX=$(command -v nginx)
UP=18201; CAND=18202; CUT=18203; PRISM=18204
USER='{"id":1,"username":"admina","display_name":null,"status":"offline","profile_picture_url":null,"created_at":"2026-11-22T10:49:54.811406"}'

mkdir -p "$WORK/up"
cat > "$WORK/up/nginx.conf" <<CONF
worker_processes 1;
error_log $WORK/up/error.log crit;
pid $WORK/up/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP backlog=4096; location / { default_type application/json; return 200 '$USER'; } }
  server { listen 127.0.0.1:$CAND backlog=4096; location / { default_type application/json; return 200 '$USER'; } }
}
CONF
"$NGINX" -p "$WORK/up" -c "$WORK/up/nginx.conf" -g 'daemon off;' & PIDS+=($!)
sleep 0.5

run() { # $1 url → "req/s p99_ms"
  wrk -t2 -c"$CONN" -d"${DUR}s" --latency "$1" > "$WORK/wrk.out" 2>&1
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$WORK/wrk.out")
  echo "${rps:-0} ${p99:-0}"
}
row() { printf '%-28s %12s %10s\n' "$1" "$2" "$3"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

CUT_PID=
start_cutover() { # $1 = on|off
  {
    cat <<CONF
[proxy]
listen = "127.0.0.1:$CUT"
admin = "127.0.0.1:0"
[targets]
primary = { url = "http://127.0.0.1:$UP", role = "primary" }
cand = { url = "http://127.0.0.1:$CAND" }
[[routes]]
match = "/**"
candidate = "cand"
CONF
    if [ "$1" = on ]; then printf '[contracts]\ndir = "%s/contracts"\n' "$ROOT"; fi
  } > "$WORK/cutover.toml"
  "$BIN" proxy --config "$WORK/cutover.toml" --record "$WORK/rec.jsonl" > "$WORK/cutover.out" 2>&1 &
  CUT_PID=$!; PIDS+=($CUT_PID)
  for _ in $(seq 50); do grep -q listening "$WORK/cutover.out" 2>/dev/null && break; sleep 0.1; done
}
stop_cutover() {
  METRICS=$(curl -s "$(grep -o 'http://[^ ]*/metrics' "$WORK/cutover.out")" | grep -E '^cutover_(pipeline_analysed_total|exchanges_dropped_total)' | tr '\n' ' ')
  kill -INT $CUT_PID 2>/dev/null; timeout 15 tail --pid=$CUT_PID -f /dev/null 2>/dev/null; kill -9 $CUT_PID 2>/dev/null
  rm -f "$WORK"/rec*.jsonl
}

echo "== proxy throughput: contract checks off vs on, Prism (${DUR}s per run, wrk -t2 -c$CONN, $(nproc) cores) =="
row scenario "req/s" "p99 ms"
URL_PATH=/auth/users/1
read -r D_RPS D_P99 <<< "$(run http://127.0.0.1:$UP$URL_PATH)"; row direct "$D_RPS" "$D_P99"
start_cutover off
read -r OFF_RPS OFF_P99 <<< "$(run http://127.0.0.1:$CUT$URL_PATH)"; row "cutover-mirror" "$OFF_RPS" "$OFF_P99"
stop_cutover; OFF_METRICS=$METRICS
start_cutover on
read -r ON_RPS ON_P99 <<< "$(run http://127.0.0.1:$CUT$URL_PATH)"; row "cutover-contracts" "$ON_RPS" "$ON_P99"
stop_cutover; ON_METRICS=$METRICS

PR_RPS=
if command -v npm >/dev/null; then
  if [ ! -x "$PRISM_DIR/node_modules/.bin/prism" ]; then
    mkdir -p "$PRISM_DIR" && (cd "$PRISM_DIR" && npm install --silent --no-audit --no-fund @stoplight/prism-cli >/dev/null 2>&1)
  fi
  if [ -x "$PRISM_DIR/node_modules/.bin/prism" ]; then
    "$PRISM_DIR/node_modules/.bin/prism" proxy "$ROOT/contracts/reference.openapi.json" "http://127.0.0.1:$UP" \
      --host 127.0.0.1 --port $PRISM --errors > "$WORK/prism.out" 2>&1 & PIDS+=($!)
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PRISM$URL_PATH" && break; sleep 0.2; done
    read -r PR_RPS PR_P99 <<< "$(run http://127.0.0.1:$PRISM$URL_PATH)"; row "prism-proxy --errors" "$PR_RPS" "$PR_P99"
  else
    echo "(prism could not be installed; skipped)"
  fi
fi
echo
echo "analysed/dropped, contracts off: $OFF_METRICS"
echo "analysed/dropped, contracts on:  $ON_METRICS"
echo "ratios (req/s):"
echo "  contracts on / off      = $(ratio "$ON_RPS" "$OFF_RPS")   (target >= 0.90)"
[ -n "$PR_RPS" ] && echo "  contracts on / prism    = $(ratio "$ON_RPS" "$PR_RPS")   (target >= 10)"
