#!/usr/bin/env bash
# Ordered shadows: `cutover proxy` 100 % mirrored with `[identity] ordered` off vs on.
#
# Loopback only; every process started here is killed on exit. Needs wrk and nginx.
# Usage: benches/order.sh [seconds per run, default 6] [rounds, default 2]
# Rows (wrk -t2 -c64 against a static-JSON nginx primary and candidate):
#   unordered         ordered = false
#   ordered, 64 ids   ordered = true, anonymous clients (one identity per connection)
#   ordered, 1 id     ordered = true, every connection sends the same Authorization:
#                     one identity, so its copies go one at a time per target; past
#                     max_queued_per_identity (64) copies are dropped (identity_queue_full)
set -u
DUR=${1:-6}
ROUNDS=${2:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/cutover}
. "$ROOT/benches/lib.sh"
bench_init order
bench_need wrk nginx
[ -x "$BIN" ] || { echo "build first: cargo build --release"; exit 0; }
UP=18201; CAND=18202; CUT=18203; ADM=18204
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
run() { # $1 ordered true|false, $2 optional request header for every connection
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
ordered = $1
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
  p99=$(awk '$1=="99%" {print $2}' "$WORK/wrk.out")
  mir=$(echo "$m" | awk '/^cutover_mirrored_total/ {s+=$2} END {print s+0}')
  qf=$(echo "$m" | awk '/^cutover_not_mirrored_total.*identity_queue_full/ {s+=$2} END {print s+0}')
  kill -INT $pid 2>/dev/null; timeout 15 tail --pid=$pid -f /dev/null 2>/dev/null; kill -9 $pid 2>/dev/null
  rm -f "$WORK"/rec*.jsonl
  echo "$rps $p99 $mir $qf"
}
printf '%-20s %10s %10s %12s %22s\n' row "req/s" "p99" mirrored identity_queue_full
for r in $(seq "$ROUNDS"); do
  read -r a b c d <<< "$(run false "")";  printf '%-20s %10s %10s %12s %22s\n' "unordered" "$a" "$b" "$c" "$d"
  read -r a b c d <<< "$(run true "")";   printf '%-20s %10s %10s %12s %22s\n' "ordered, 64 ids" "$a" "$b" "$c" "$d"
  read -r a b c d <<< "$(run true "Authorization: Bearer same-token")"; printf '%-20s %10s %10s %12s %22s\n' "ordered, 1 id" "$a" "$b" "$c" "$d"
done
