#!/usr/bin/env bash
# Issue 12 bench: proxy throughput with per-target identity translation on vs off, side by
# side in one run, and memory per 10,000 learned identities.
#
# Loopback only; every process started here is killed on exit; bounded (2 × $DUR s of wrk
# plus the memory bench). Prints req/s, p99 and the on/off ratio (target: ≥ 0.90, i.e. at
# most 10 % loss); never fails on the figures. Needs wrk and nginx (`apt-get install wrk
# nginx`). Usage: benches/identity.sh [seconds per run, default 8]
#
# The mirrored bench: wrk → cutover (100 % mirrored, writes too) → upstream nginx (primary)
# + candidate nginx. Each wrk thread logs in every 50th request as a new user (the primary
# answers `p-<request id>`, the candidate its own `c-<request id>`, so the candidate issues
# credentials of its own) and sends the others as `GET /api/items/<n>` with the primary's
# token — with translation on, every copy is rewritten with the candidate's token.
#
# The switch is a variable: TRANSLATE_ON / TRANSLATE_OFF hold the TOML appended to the
# configuration (defaults: `[translate] enabled = "auto"` / `enabled = false`). A build
# without `[translate]` refuses both; the script then says so and measures the proxy
# without the section as the "off" row.
set -u
DUR=${1:-8}
CONN=${CONN:-64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/cutover}
TRANSLATE_ON=${TRANSLATE_ON:-$'[translate]\nenabled = "auto"'}
TRANSLATE_OFF=${TRANSLATE_OFF:-$'[translate]\nenabled = false'}
. "$ROOT/benches/lib.sh"
bench_init idbench

if [ -z "${SKIP_MEMORY:-}" ]; then   # SKIP_MEMORY=1: throughput only
  echo "== memory per learned identity (cargo bench --bench identity_memory)"
  (cd "$ROOT" && nice -n 19 cargo bench --quiet --bench identity_memory 2>/dev/null) \
    || echo "(memory bench did not build)"
  echo
fi

bench_need wrk nginx
bench_build
NGINX=$(command -v nginx)
UP=18201; CAND=18202; CUT=18205

mkdir -p "$WORK/up"
cat > "$WORK/up/nginx.conf" <<CONF
worker_processes 1;
error_log $WORK/up/error.log crit;
pid $WORK/up/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/json;
  server {
    listen 127.0.0.1:$UP backlog=4096;
    location /auth/login { return 200 '{"access_token":"p-\$request_id","token_type":"bearer"}'; }
    location / { return 200 '{"id":17,"ok":true,"service":"primary"}'; }
  }
  server {
    listen 127.0.0.1:$CAND backlog=4096;
    location /auth/login { return 200 '{"access_token":"c-\$request_id","token_type":"bearer"}'; }
    location / { return 200 '{"id":17,"ok":true,"service":"primary"}'; }
  }
}
CONF
"$NGINX" -p "$WORK/up" -c "$WORK/up/nginx.conf" -g 'daemon off;' & PIDS+=($!)

cat > "$WORK/mix.lua" <<'LUA'
local n, token, tid = 0, nil, tostring(math.random(1, 1e9))
request = function()
  n = n + 1
  if token == nil or n % 50 == 0 then
    return wrk.format("POST", "/auth/login",
      {["Content-Type"] = "application/x-www-form-urlencoded"},
      "username=u" .. tid .. "-" .. n .. "&password=pw")
  end
  return wrk.format("GET", "/api/items/" .. (n % 1000), {["Authorization"] = "Bearer " .. token})
end
response = function(status, headers, body)
  local t = body:match('"access_token":"([^"]+)"')
  if t then token = t end
end
LUA

CUT_PID=
start_cutover() { # $1 = TOML appended
  cat > "$WORK/cutover.toml" <<CONF
[proxy]
listen = "127.0.0.1:$CUT"
admin = "127.0.0.1:0"
[targets]
primary = { url = "http://127.0.0.1:$UP", role = "primary" }
cand = { url = "http://127.0.0.1:$CAND" }
[[routes]]
match = "/**"
candidate = "cand"
mirror_writes = true
$1
CONF
  (cd "$WORK" && exec "$BIN" proxy --config "$WORK/cutover.toml" --record "$WORK/rec.jsonl" > "$WORK/cutover.out" 2>&1) &
  CUT_PID=$!; PIDS+=($CUT_PID)
  for _ in $(seq 50); do grep -q listening "$WORK/cutover.out" 2>/dev/null && return 0; sleep 0.1; done
  kill $CUT_PID 2>/dev/null; return 1
}
stop_cutover() {
  HWM=$(awk '/VmHWM/ {print $2}' /proc/$CUT_PID/status 2>/dev/null)
  kill -INT $CUT_PID 2>/dev/null; timeout 15 tail --pid=$CUT_PID -f /dev/null 2>/dev/null; kill -9 $CUT_PID 2>/dev/null
}
run() {
  wrk -t2 -c"$CONN" -d"${DUR}s" --latency -s "$WORK/mix.lua" "http://127.0.0.1:$CUT" > "$WORK/wrk.out" 2>&1
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$WORK/wrk.out")
  echo "${rps:-0} ${p99:-0}"
}
row() { printf '%-40s %12s %10s %12s\n' "$1" "$2" "$3" "$4"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
sleep 0.5

echo "== throughput, 100 % mirrored, login every 50th request (wrk -t2 -c$CONN, ${DUR}s, $(nproc) cores)"
row scenario "req/s" "p99 ms" "VmHWM kB"
OFF_LABEL="translation off"
if ! start_cutover "$TRANSLATE_OFF"; then
  echo "(this build refuses [translate]: $(grep -m1 -i error "$WORK/cutover.out"); measuring without the section)"
  OFF_LABEL="no [translate] section"; start_cutover "" || { echo "cutover did not start"; exit 0; }
fi
read -r OFF_RPS OFF_P99 <<< "$(run)"; stop_cutover; OFF_HWM=$HWM
row "$OFF_LABEL" "$OFF_RPS" "$OFF_P99" "${OFF_HWM:-?}"
if start_cutover "$TRANSLATE_ON"; then
  read -r ON_RPS ON_P99 <<< "$(run)"
  TRANSLATED=$(curl -s "$(grep -o 'http://127.0.0.1:[0-9]*/metrics' "$WORK/cutover.out" | head -1)" 2>/dev/null \
    | awk '/^cutover_translated_copies_total/ {s += $2} END {print s + 0}')
  stop_cutover; ON_HWM=$HWM
  row "translation on" "$ON_RPS" "$ON_P99" "${ON_HWM:-?}"
  echo
  echo "ratio on / off (req/s) = $(ratio "$ON_RPS" "$OFF_RPS")   (target >= 0.90)"
  echo "copies translated during the on run: ${TRANSLATED:-?}"
else
  echo "translation on: this build has no [translate] ($(grep -m1 -i error "$WORK/cutover.out"))"
fi
