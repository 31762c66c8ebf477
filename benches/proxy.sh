#!/usr/bin/env bash
# Benchmark `cutover proxy` against direct access and NGINX (plain proxy and `mirror`).
#
# Loopback only; every process started here is killed on exit. Prints req/s and p99 per
# scenario and the ratios; never fails on the figures. Needs wrk, nginx and python3
# (`apt-get install wrk nginx`). Usage: benches/proxy.sh [seconds per run, default 8]
#
# Scenarios (same wrk settings: 2 threads, $CONN connections):
#   direct            wrk → upstream nginx (`return 200` static JSON)
#   nginx-plain       wrk → nginx reverse proxy → upstream
#   cutover-plain     wrk → cutover, no routes (mirroring off) → upstream
#   nginx-mirror      wrk → nginx `mirror` + `mirror_request_body on` → upstream + candidate
#   cutover-mirror    wrk → cutover, 100 % mirrored → upstream + candidate (recording on)
#   half-load         direct vs cutover-mirror at ~half of cutover-mirror's saturation rate
#   slow candidate    candidate answers after 5 ms (≥ 10× the primary): client p99 with
#                     mirroring off vs on, light load and saturated; proxy VmHWM, the
#                     shadow connections (peak vs max_shadow_connections_per_target) and
#                     the copies not made or dropped. ONLY=slow runs just these rows.
#   large bodies      candidate answers a 50 MB body (Content-Length), or an endless chunked
#                     body: client req/s, p99, proxy VmHWM and recording bytes on disk next
#                     to the plain-candidate mirror row. ONLY=bodies runs just these rows.
#   ONLY=half         the added-p99 target alone: direct, hyper-floor-mirror and cutover
#                     mirroring at the same paced rate, ROUNDS rounds (default 5).
#   hyper-floor-*     examples/hyper_floor.rs, a bare hyper 1 proxy (thread per core, no
#                     timeouts, header hygiene, limits or metrics; as mirror it sends the
#                     copy and drops the answer: no capture, diff or record). The least any
#                     hyper proxy costs on this machine: a target it cannot reach here is
#                     out of reach for cutover too. FLOOR=0 skips these rows.
#   miffy-mirror      optional Rust peer (github elmarx/miffy, built by hand outside this
#                     repo; needs no running Kafka): MIFFY=/path/to/miffy, or `miffy` on
#                     PATH; mirrors every path (`routes = [{ path = "/{*rest}" }]`).
#
# "proxy CPU µs/req" (nginx, cutover and miffy rows at saturation): the proxy processes' own
# user + system CPU over wrk's requests, which varies far less between runs than req/s on
# a machine where wrk, the upstream and the proxy share two cores.
#
# PROXY_TOML='key = value' adds lines to cutover's [proxy] table; EXTRA_TOML='[identity]\n
# ordered = false' appends tables (both for experiments; the default rows use neither).
set -u
DUR=${1:-8}
CONN=${CONN:-64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/cutover}   # BIN=/path/to/cutover compares another build
. "$ROOT/benches/lib.sh"
bench_init bench
bench_need wrk nginx python3
bench_build
NGINX=$(command -v nginx)
FLOOR_BIN=$ROOT/target/release/examples/hyper_floor
if [ "${FLOOR:-1}" != 0 ] && [ ! -x "$FLOOR_BIN" ]; then
  (cd "$ROOT" && nice -n 19 cargo build --release --example hyper_floor) || FLOOR=0
fi
[ "${FLOOR:-1}" = 0 ] && FLOOR_BIN=

UP=18101; CAND=18102; NG_PLAIN=18103; NG_MIRROR=18104; CUT=18105; SLOW=18106
BIG=18107; ENDLESS=18108; MIF=18109; MIF_ADMIN=18110; FLO=18111
MIFFY=${MIFFY:-$(command -v miffy || true)}
# A process left over from an earlier run on one of these ports would be measured instead.
for port in $UP $CAND $NG_PLAIN $NG_MIRROR $CUT $SLOW $BIG $ENDLESS $MIF $MIF_ADMIN $FLO; do
  if ss -Hltnp "sport = :$port" 2>/dev/null | grep -q .; then
    echo "port $port is in use (a stale cutover/nginx?): $(ss -Hltnp "sport = :$port" | grep -o 'users:.*')"; exit 1
  fi
done

# --- upstream nginx (primary and candidate): static JSON, one worker ----------------------
mkdir -p "$WORK/up" "$WORK/px"
cat > "$WORK/up/nginx.conf" <<CONF
worker_processes 1;
error_log $WORK/up/error.log crit;
pid $WORK/up/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP  backlog=4096; location / { default_type application/json; return 200 '{"ok":true,"service":"primary"}'; } }
  server { listen 127.0.0.1:$CAND backlog=4096; location / { default_type application/json; return 200 '{"ok":true,"service":"primary"}'; } }
}
CONF
# --- proxy nginx: plain reverse proxy and mirror, workers = cores -------------------------
cat > "$WORK/px/nginx.conf" <<CONF
worker_processes auto;
error_log $WORK/px/error.log crit;
pid $WORK/px/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream primary   { server 127.0.0.1:$UP;   keepalive 128; }
  upstream candidate { server 127.0.0.1:$CAND; keepalive 128; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  server { listen 127.0.0.1:$NG_PLAIN backlog=4096; location / { proxy_pass http://primary; } }
  server {
    listen 127.0.0.1:$NG_MIRROR backlog=4096;
    location / { mirror /_mirror; mirror_request_body on; proxy_pass http://primary; }
    location = /_mirror { internal; proxy_pass http://candidate\$request_uri; }
  }
}
CONF
"$NGINX" -p "$WORK/up" -c "$WORK/up/nginx.conf" -g 'daemon off;' & PIDS+=($!)
"$NGINX" -p "$WORK/px" -c "$WORK/px/nginx.conf" -g 'daemon off;' & PIDS+=($!)

# --- slow candidate: python asyncio, keep-alive, answers after 5 ms ----------------------
cat > "$WORK/slow.py" <<'PY'
import asyncio, sys
port, delay = int(sys.argv[1]), float(sys.argv[2])
BODY = b'{"ok":true,"service":"primary"}'
RESP = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
async def handle(r, w):
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
                    if n: await r.readexactly(n)
            await asyncio.sleep(delay)
            w.write(RESP); await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def main():
    s = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with s: await s.serve_forever()
asyncio.run(main())
PY
python3 "$WORK/slow.py" $SLOW 0.005 & PIDS+=($!)

# --- misbehaving candidates: a 50 MB body, or an endless chunked body ---------------------
cat > "$WORK/big.py" <<'PY'
import asyncio, sys
port, mode = int(sys.argv[1]), sys.argv[2]
CHUNK = b"x" * (1 << 20)
async def handle(r, w):
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
                    if n: await r.readexactly(n)
            if mode == "50mb":
                w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (50 * len(CHUNK)))
                for _ in range(50):
                    w.write(CHUNK); await w.drain()
            else:
                w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                frame = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
                while True:
                    w.write(frame); await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def main():
    s = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with s: await s.serve_forever()
asyncio.run(main())
PY
python3 "$WORK/big.py" $BIG 50mb & PIDS+=($!)
python3 "$WORK/big.py" $ENDLESS endless & PIDS+=($!)
sleep 1

cutover_config() { # $1 = candidate port, $2 = "mirror" | "off"
  cat <<CONF
[proxy]
listen = "127.0.0.1:$CUT"
admin = "127.0.0.1:0"
${PROXY_TOML:-}
[targets]
primary = { url = "http://127.0.0.1:$UP", role = "primary" }
cand = { url = "http://127.0.0.1:$1" }
CONF
  if [ "$2" = mirror ]; then printf '[[routes]]\nmatch = "/**"\ncandidate = "cand"\n'; fi
  printf '%b\n' "${EXTRA_TOML:-}"
}
CUT_PID=
start_cutover() { # $1 candidate port, $2 mirror|off
  cutover_config "$1" "$2" > "$WORK/cutover.toml"
  "$BIN" proxy --config "$WORK/cutover.toml" --record "$WORK/rec.jsonl" > "$WORK/cutover.out" 2>&1 &
  CUT_PID=$!; PIDS+=($CUT_PID)
  for _ in $(seq 300); do grep -q listening "$WORK/cutover.out" 2>/dev/null && break; sleep 0.1; done
  grep -q listening "$WORK/cutover.out" 2>/dev/null || { echo "cutover did not start:"; cat "$WORK/cutover.out"; }
}
stop_cutover() {
  HWM=$(awk '/VmHWM/ {print $2}' /proc/$CUT_PID/status 2>/dev/null)
  REC=$(du -cb "$WORK"/rec*.jsonl 2>/dev/null | awk 'END {print $1}')
  kill -INT $CUT_PID 2>/dev/null; timeout 15 tail --pid=$CUT_PID -f /dev/null 2>/dev/null; kill -9 $CUT_PID 2>/dev/null
  rm -f "$WORK"/rec*.jsonl
}

# CPU ticks (user + system) of these processes so far.
ticks() {
  local t=0 p
  for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
# wrk → "req/s p99_ms cpu_us_per_request"; optional $3 = per-connection delay in ms (rate
# limiting via Lua). The proxy's CPU per request is measured over the processes in
# CPU_PIDS ("-" when unset): less noisy than req/s on a machine the load generator, the
# upstream and the proxy share.
run() {
  local url=$1 conns=${2:-$CONN} delay=${3:-}
  local c0; c0=$(ticks ${CPU_PIDS:-})
  local script=()
  if [ -n "$delay" ]; then
    printf 'function delay() return %s end\n' "$delay" > "$WORK/delay.lua"; script=(-s "$WORK/delay.lua")
  fi
  wrk -t2 -c"$conns" -d"${DUR}s" --latency "${script[@]}" "$url" > "$WORK/wrk.out" 2>&1
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$WORK/wrk.out")
  [ -n "$rps" ] || { echo "wrk $url failed:" >&2; tail -5 "$WORK/wrk.out" >&2; }
  local cpu=- n; n=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  if [ -n "${CPU_PIDS:-}" ]; then
    cpu=$(awk -v c=$(( $(ticks $CPU_PIDS) - c0 )) -v n="${n:-0}" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { if (n > 0) printf "%.1f", c * 1e6 / hz / n; else print "-" }')
  fi
  echo "${rps:-0} ${p99:-0} $cpu"
}
# The bare hyper proxy on $FLO: `floor_start [candidate port]`, `floor_stop`.
floor_start() {
  "$FLOOR_BIN" 127.0.0.1:$FLO 127.0.0.1:$UP ${1:+127.0.0.1:$1} > "$WORK/floor.out" 2>&1 & FL_PID=$!; PIDS+=($FL_PID)
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$FLO/api/x" && break; sleep 0.1; done
}
floor_stop() { kill $FL_PID 2>/dev/null; wait $FL_PID 2>/dev/null; }
row() { printf '%-34s %12s %10s %14s\n' "$1" "$2" "$3" "${4:-}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# Large / endless candidate bodies next to the plain-candidate mirror row.
bodies_rows() {
  echo "large candidate bodies, 100 % mirrored (wrk -t2 -c$CONN, ${DUR}s):"
  printf '%-34s %12s %10s %12s %14s\n' scenario "req/s" "p99 ms" "VmHWM kB" "recording B"
  start_cutover $CAND mirror
  read -r a b _ <<< "$(run http://127.0.0.1:$CUT/api/x)"; stop_cutover
  printf '%-34s %12s %10s %12s %14s\n' "plain candidate" "$a" "$b" "${HWM:-?}" "${REC:-?}"
  start_cutover $BIG mirror
  read -r a b _ <<< "$(run http://127.0.0.1:$CUT/api/x)"; stop_cutover
  printf '%-34s %12s %10s %12s %14s\n' "50 MB candidate body" "$a" "$b" "${HWM:-?}" "${REC:-?}"
  start_cutover $ENDLESS mirror
  read -r a b _ <<< "$(run http://127.0.0.1:$CUT/api/x)"; stop_cutover
  printf '%-34s %12s %10s %12s %14s\n' "endless chunked candidate body" "$a" "$b" "${HWM:-?}" "${REC:-?}"
}
# Slow candidate (5 ms): light load (16 conn, 10 ms pauses) and saturated.
slow_rows() {
  start_cutover $SLOW off
  read -r SO_RPS SO_P99 _ <<< "$(run http://127.0.0.1:$CUT/api/x 16 10)";   row "slow cand, mirror off, light" "$SO_RPS" "$SO_P99"
  stop_cutover
  start_cutover $SLOW mirror
  read -r SL_RPS SL_P99 _ <<< "$(run http://127.0.0.1:$CUT/api/x 16 10)";   row "slow cand, mirror on, light" "$SL_RPS" "$SL_P99"
  read -r SS_RPS SS_P99 _ <<< "$(run http://127.0.0.1:$CUT/api/x)";         row "slow cand, mirror on, saturated" "$SS_RPS" "$SS_P99"
  SLOW_METRICS=$(curl -s "$(grep -o 'http://[^ ]*/metrics' "$WORK/cutover.out")" | grep -E '^cutover_(not_mirrored_total\{.*capacity|mirrored_total|upstream_errors_total\{target="cand",kind="timeout"|exchanges_dropped_total\{reason="shadow_|shadow_connection|shadows_in_flight)')
  stop_cutover; SL_HWM=$HWM
}
if [ "${ONLY:-}" = bodies ]; then bodies_rows; exit 0; fi
# ONLY=half: the added-p99 target alone, ROUNDS times (default 5), each round direct, the
# bare hyper mirror and cutover mirroring at the same paced rate (HALF_C connections × 10 ms
# pauses, default 100 ≈ 10k req/s), interleaved so each round shares the machine's state.
if [ "${ONLY:-}" = half ]; then
  HALF_C=${HALF_C:-100}
  echo "added p99 at a paced ~$((HALF_C * 100)) req/s ($HALF_C conn, 10 ms pauses), ${DUR}s per row:"
  printf '%-6s %12s %14s %14s %14s %14s\n' round "direct p99" "floor p99" "cutover p99" "floor added" "cutover added"
  for r in $(seq "${ROUNDS:-5}"); do
    read -r _ d _ <<< "$(run http://127.0.0.1:$UP/api/x "$HALF_C" 10)"
    f=-
    if [ -n "$FLOOR_BIN" ]; then
      floor_start $CAND; read -r _ f _ <<< "$(run http://127.0.0.1:$FLO/api/x "$HALF_C" 10)"; floor_stop
    fi
    start_cutover $CAND mirror; read -r _ c _ <<< "$(run http://127.0.0.1:$CUT/api/x "$HALF_C" 10)"; stop_cutover
    printf '%-6s %12s %14s %14s %14s %14s\n' "$r" "$d" "$f" "$c" \
      "$(awk -v a="$f" -v b="$d" 'BEGIN { if (a == "-") print "-"; else printf "%.3f", a - b }')" \
      "$(awk -v a="$c" -v b="$d" 'BEGIN { printf "%.3f", a - b }')"
  done
  exit 0
fi
if [ "${ONLY:-}" = slow ]; then
  row scenario "req/s" "p99 ms"; slow_rows
  echo "slow candidate, light load: p99 off $SO_P99 ms, on $SL_P99 ms"
  echo "proxy VmHWM, slow candidate: ${SL_HWM:-?} kB   (target <= 65536 kB)"
  echo "slow-candidate counters:"; echo "$SLOW_METRICS" | sed 's/^/  /'
  exit 0
fi

echo "cutover proxy bench: ${DUR}s per run, wrk -t2 -c$CONN, $(nproc) cores, loopback"
row scenario "req/s" "p99 ms" "proxy CPU µs/req"
read -r D_RPS D_P99 _ <<< "$(run http://127.0.0.1:$UP/api/x)";            row direct "$D_RPS" "$D_P99"
NG_WORKERS=$(pgrep -P "$(cat "$WORK/px/nginx.pid")" | tr '\n' ' ')
CPU_PIDS=$NG_WORKERS
read -r NP_RPS NP_P99 NP_CPU <<< "$(run http://127.0.0.1:$NG_PLAIN/api/x)"; row nginx-plain "$NP_RPS" "$NP_P99" "$NP_CPU"
start_cutover $CAND off
CPU_PIDS=$CUT_PID
read -r CP_RPS CP_P99 CP_CPU <<< "$(run http://127.0.0.1:$CUT/api/x)";    row cutover-plain "$CP_RPS" "$CP_P99" "$CP_CPU"
stop_cutover; CP_HWM=$HWM
FP_RPS=
if [ -n "$FLOOR_BIN" ]; then
  floor_start; CPU_PIDS=$FL_PID
  read -r FP_RPS FP_P99 FP_CPU <<< "$(run http://127.0.0.1:$FLO/api/x)"; row hyper-floor-plain "$FP_RPS" "$FP_P99" "$FP_CPU"
  floor_stop
fi
CPU_PIDS=$NG_WORKERS
read -r NM_RPS NM_P99 NM_CPU <<< "$(run http://127.0.0.1:$NG_MIRROR/api/x)"; row nginx-mirror "$NM_RPS" "$NM_P99" "$NM_CPU"
MF_RPS=
if [ -n "$MIFFY" ] && [ -x "$MIFFY" ]; then
  cat > "$WORK/miffy.toml" <<CONF
port = $MIF
management_port = $MIF_ADMIN
logging = "human"
reference = "http://127.0.0.1:$UP"
candidate = "http://127.0.0.1:$CAND"
routes = [ { path = "/{*rest}" } ]
[kafka]
topic = "miffy"
"bootstrap.servers" = "127.0.0.1:9"
CONF
  MIFFY_CONFIG="$WORK/miffy.toml" RUST_LOG=error "$MIFFY" > "$WORK/miffy.out" 2>&1 & MF_PID=$!; PIDS+=($MF_PID)
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$MIF/api/x" && break; sleep 0.1; done
  CPU_PIDS=$MF_PID
  read -r MF_RPS MF_P99 MF_CPU <<< "$(run http://127.0.0.1:$MIF/api/x)"; row "miffy-mirror (100 %)" "$MF_RPS" "$MF_P99" "$MF_CPU"
  kill $MF_PID 2>/dev/null
fi
start_cutover $CAND mirror
CPU_PIDS=$CUT_PID
read -r CM_RPS CM_P99 CM_CPU <<< "$(run http://127.0.0.1:$CUT/api/x)";    row "cutover-mirror (100 %)" "$CM_RPS" "$CM_P99" "$CM_CPU"
CPU_PIDS=
stop_cutover; CM_HWM=$HWM
FM_RPS=
if [ -n "$FLOOR_BIN" ]; then
  floor_start $CAND; CPU_PIDS=$FL_PID
  read -r FM_RPS FM_P99 FM_CPU <<< "$(run http://127.0.0.1:$FLO/api/x)"; row "hyper-floor-mirror (100 %)" "$FM_RPS" "$FM_P99" "$FM_CPU"
  CPU_PIDS=; floor_stop
fi
# Half saturation: C connections each pausing 10 ms between requests ≈ C*100 req/s, on a
# fresh process (the saturated run leaves shadows and a full analysis queue behind, which
# would be measured too).
HALF_C=$(awk -v r="$CM_RPS" 'BEGIN { c = int(r / 2 / 100); if (c < 1) c = 1; if (c > 2000) c = 2000; print c }')
start_cutover $CAND mirror
read -r HM_RPS HM_P99 _ <<< "$(run http://127.0.0.1:$CUT/api/x "$HALF_C" 10)"; row "cutover-mirror @half ($HALF_C conn)" "$HM_RPS" "$HM_P99"
stop_cutover
read -r HD_RPS HD_P99 _ <<< "$(run http://127.0.0.1:$UP/api/x "$HALF_C" 10)"; row "direct @half ($HALF_C conn)" "$HD_RPS" "$HD_P99"
if [ -n "$FLOOR_BIN" ]; then
  floor_start $CAND
  read -r HF_RPS HF_P99 _ <<< "$(run http://127.0.0.1:$FLO/api/x "$HALF_C" 10)"; row "hyper-floor-mirror @half ($HALF_C conn)" "$HF_RPS" "$HF_P99"
  floor_stop
fi

slow_rows

echo
echo "ratios (req/s):"
echo "  cutover-plain / nginx-plain    = $(ratio "$CP_RPS" "$NP_RPS")   (target >= 1.0)"
echo "  cutover-mirror / nginx-mirror  = $(ratio "$CM_RPS" "$NM_RPS")   (target >= 1.2)"
echo "  cutover-plain / direct         = $(ratio "$CP_RPS" "$D_RPS")"
echo "  cutover-mirror / cutover-plain = $(ratio "$CM_RPS" "$CP_RPS")   (target >= 0.6)"
[ -n "$MF_RPS" ] && echo "  cutover-mirror / miffy-mirror  = $(ratio "$CM_RPS" "$MF_RPS")   (target >= 1.5)"
echo "proxy CPU per request: cutover-plain / nginx-plain = $(ratio "$CP_CPU" "$NP_CPU"), cutover-mirror / nginx-mirror = $(ratio "$CM_CPU" "$NM_CPU")$([ -n "$MF_RPS" ] && echo ", cutover-mirror / miffy = $(ratio "$CM_CPU" "$MF_CPU")")"
echo "added p99 at half saturation     = $(awk -v a="$HM_P99" -v b="$HD_P99" 'BEGIN { printf "%.3f ms", a - b }')   (target <= 1 ms)"
if [ -n "$FP_RPS" ] && [ -n "$FM_RPS" ]; then
  echo "the floor (bare hyper, examples/hyper_floor.rs) on this machine, against the same targets:"
  echo "  hyper-floor-plain / nginx-plain        = $(ratio "$FP_RPS" "$NP_RPS")   (cutover-plain / hyper-floor-plain = $(ratio "$CP_RPS" "$FP_RPS"); CPU $(ratio "$CP_CPU" "$FP_CPU")x)"
  echo "  hyper-floor-mirror / cutover-plain     = $(ratio "$FM_RPS" "$CP_RPS")   (cutover-mirror / hyper-floor-mirror = $(ratio "$CM_RPS" "$FM_RPS"); CPU $(ratio "$CM_CPU" "$FM_CPU")x)"
  [ -n "$MF_RPS" ] && echo "  hyper-floor-mirror / miffy-mirror      = $(ratio "$FM_RPS" "$MF_RPS")"
  echo "  hyper-floor-mirror added p99 @half     = $(awk -v a="$HF_P99" -v b="$HD_P99" 'BEGIN { printf "%.3f ms", a - b }')"
fi
echo "slow candidate, light load: p99 off $SO_P99 ms, on $SL_P99 ms"
echo "proxy VmHWM: plain ${CP_HWM:-?} kB, mirror ${CM_HWM:-?} kB, slow-candidate ${SL_HWM:-?} kB   (target <= 65536 kB)"
echo "slow-candidate counters:"; echo "$SLOW_METRICS" | sed 's/^/  /'
echo
bodies_rows
