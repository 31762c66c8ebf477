#!/usr/bin/env bash
# Benchmark the load stage's own request rate against the reference monolith's GET /health,
# next to wrk's (and oha's, when installed) on the same endpoint in the same run, with the
# CPU share of each load generator.
#
# Loopback only; every process started here is killed on exit. Never fails on the figures.
# Needs wrk (`apt-get install wrk`); oha is an optional row (`cargo install oha --locked`).
# Usage: benches/load.sh [seconds per run, default 10]
#
# cutover runs `--calibrate --get /health`: the A/A comparison sends every step to the
# monolith twice (as `monolith` and `monolith-aa`), so its rate is both sides together,
# which is what the server sees. Users = wrk's connections. Two cutover rows: with Goose's
# HTML report (requests through Goose's reqwest client) and without (`--no-goose-report`:
# cutover's own client, the load stage's fastest path).
set -u
DUR=${1:-10}
CONN=${CONN:-32}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/cutover}
. "$ROOT/benches/lib.sh"
bench_init loadbench
bench_need wrk
bench_build
PORT=18201

"$BIN" reference --monolith-port $PORT --auth-port 0 --ai-port 0 >"$WORK/ref.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done

cat > "$WORK/bench.toml" <<TOML
[targets]
monolith = { url = "http://127.0.0.1:$PORT", role = "primary" }
TOML

cpu_of() { # utime+stime of a finished child from /usr/bin/time's output: "user sys elapsed"
  awk '{printf "%.0f", ($1 + $2) * 100 / $3}' "$1"
}

echo "machine: $(nproc) cores, shared with other jobs (figures are noisy); $DUR s per run, $CONN connections"
printf '%-14s %12s %10s\n' tool "req/s" "CPU %"

/usr/bin/time -f "%U %S %e" -o "$WORK/wrk.time" \
  wrk -t2 -c"$CONN" -d"${DUR}s" "http://127.0.0.1:$PORT/health" >"$WORK/wrk.out" 2>&1
WRK=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
printf '%-14s %12.0f %10s\n' wrk "$WRK" "$(cpu_of "$WORK/wrk.time")"

if command -v oha >/dev/null; then
  /usr/bin/time -f "%U %S %e" -o "$WORK/oha.time" \
    oha -c "$CONN" -z "${DUR}s" --no-tui "http://127.0.0.1:$PORT/health" >"$WORK/oha.out" 2>&1
  OHA=$(awk '/Requests\/sec/ {print $2}' "$WORK/oha.out")
  printf '%-14s %12.0f %10s\n' oha "$OHA" "$(cpu_of "$WORK/oha.time")"
else
  printf '%-14s %12s %10s\n' oha "-" "-   (not installed: cargo install oha --locked)"
fi

# cutover_row NAME [flags]: one load-stage run; its rate is both A/A sides over the time
# requests were sent.
cutover_row() {
  local name=$1; shift
  rm -rf "$WORK/report"
  /usr/bin/time -f "%U %S %e" -o "$WORK/cut.time" \
    "$BIN" -q load --config "$WORK/bench.toml" --calibrate --get /health --users "$CONN" \
    --duration "${DUR}s" --out "$WORK/report" "$@" >"$WORK/cut.out" 2>&1
  CUT=$(python3 -c "
import json,sys
r=json.load(open('$WORK/report/load.json'))
print(sum(x['baseline']['requests']+x['candidate']['requests'] for x in r['routes'])/r['duration_s'])")
  printf '%-14s %12.0f %10s\n' "$name" "$CUT" "$(cpu_of "$WORK/cut.time")"
}
# Goose's own report on: every request through GooseUser::request and reqwest.
cutover_row cutover-goose
GOOSE=$CUT
# The load stage's fastest path (no Goose report): cutover's own client (load/direct.rs).
cutover_row cutover --no-goose-report
python3 -c "print(f'cutover / wrk: {100*$CUT/$WRK:.0f} %   (through Goose\'s client: {100*$GOOSE/$WRK:.0f} %)')"
grep -E "A/A|load stage" "$WORK/cut.out"
