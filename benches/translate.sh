#!/usr/bin/env bash
# Learned translation: `cutover proxy` 100 % mirrored with `[translate]` off vs auto.
#
# Loopback only; every process started here is killed on exit. Needs wrk and nginx.
# Usage: benches/translate.sh [seconds per run, default 6] [rounds, default 2]
# Rows (wrk -t2 -c64 GETs against a static-JSON nginx primary and candidate; `[identity]
# ordered = false` so that only translation differs):
#   off               [translate] enabled = false (the shadow path as before)
#   auto, anonymous   enabled = "auto", no credential
#   auto, token       enabled = "auto", every request presents a bearer token (never learned,
#                     so passed unchanged: the cost of looking it up, waiting for nothing,
#                     and preparing the copy in the shadow task)
set -u
DUR=${1:-6}
ROUNDS=${2:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/cutover}
WORK=$(mktemp -d /tmp/cutover-translate.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
for tool in wrk nginx; do
  command -v $tool >/dev/null || { echo "missing $tool"; exit 0; }
done
[ -x "$BIN" ] || { echo "build first: cargo build --release"; exit 0; }
UP=18211; CAND=18212; CUT=18213; ADM=18214
mkdir -p "$WORK/up"
cat > "$WORK/up/nginx.conf" <<CONF
worker_processes 1;
error_log $WORK/up/error.log crit;
pid $WORK/up/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP backlog=4096; location / { default_type application/json; return 200 '{"ok":true}'; } }
  server { listen 127.0.0.1:$CAND backlog=4096; location / { default_type application/json; return 200 '{"ok":true}'; } }
}
CONF
nginx -c "$WORK/up/nginx.conf" -g 'daemon off;' & PIDS+=($!)
sleep 0.5
run() { # $1 translate enabled (false | "auto" | true), $2 optional request header
  cat > "$WORK/c.toml" <<CONF
[proxy]
listen = "127.0.0.1:$CUT"
admin = "127.0.0.1:$ADM"
[targets]
primary = { url = "http://127.0.0.1:$UP", role = "primary" }
cand = { url = "http://127.0.0.1:$CAND" }
[[routes]]
match = "/**"
candidate = "cand"
[identity]
ordered = false
[translate]
enabled = $1
CONF
  "$BIN" proxy --config "$WORK/c.toml" --record "$WORK/rec.jsonl" > "$WORK/c.out" 2>&1 &
  local pid=$!; PIDS+=($pid)
  for _ in $(seq 50); do grep -q listening "$WORK/c.out" 2>/dev/null && break; sleep 0.1; done
  local hdr=()
  [ -n "${2:-}" ] && hdr=(-H "$2")
  wrk -t2 -c64 -d"${DUR}s" --latency "${hdr[@]}" "http://127.0.0.1:$CUT/api/x" > "$WORK/wrk.out" 2>&1
  local m; m=$(curl -s "http://127.0.0.1:$ADM/metrics")
  local rps p99 mir qf
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  [ -z "$rps" ] && sed -n 1,5p "$WORK/c.out" >&2
  p99=$(awk '$1=="99%" {print $2}' "$WORK/wrk.out")
  mir=$(echo "$m" | awk '/^cutover_mirrored_total/ {s+=$2} END {print s+0}')
  qf=$(echo "$m" | awk '/^cutover_not_mirrored_total.*identity_queue_full/ {s+=$2} END {print s+0}')
  kill -INT $pid 2>/dev/null; timeout 15 tail --pid=$pid -f /dev/null 2>/dev/null; kill -9 $pid 2>/dev/null
  rm -f "$WORK"/rec*.jsonl
  echo "$rps $p99 $mir $qf"
}
printf '%-20s %10s %10s %12s\n' row "req/s" "p99" mirrored
for r in $(seq "$ROUNDS"); do
  read -r a b c d <<< "$(run false "")";  printf '%-20s %10s %10s %12s\n' "off" "$a" "$b" "$c"
  read -r a b c d <<< "$(run '"auto"' "")";   printf '%-20s %10s %10s %12s\n' "auto, anonymous" "$a" "$b" "$c"
  read -r a b c d <<< "$(run '"auto"' "Authorization: Bearer some-token")"; printf '%-20s %10s %10s %12s\n' "auto, token" "$a" "$b" "$c"
done
