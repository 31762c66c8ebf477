#!/usr/bin/env bash
# Requests/s of the reference monolith's hot paths: GET /health and GET /auth/users/{id}.
#
# Builds the release binary, starts `cutover reference` on ephemeral 127.0.0.1 ports, registers
# one user, then runs wrk (installed with apt-get if missing; oha is used if present instead).
# Bounded: each run lasts $DURATION (default 10s); the server is stopped on exit, whatever
# happens. Only 127.0.0.1 is ever targeted.
#
# Usage: benches/reference.sh            (env: DURATION=10s CONNECTIONS=64 THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}

echo "building release binary..." >&2
cargo build --release --quiet --bin cutover
BIN=target/release/cutover

tool=""
if command -v oha >/dev/null 2>&1; then
  tool=oha
elif command -v wrk >/dev/null 2>&1; then
  tool=wrk
else
  echo "installing wrk..." >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  timeout 300 $SUDO apt-get install -y -qq wrk >/dev/null 2>&1 \
    || { timeout 300 $SUDO apt-get update -qq >/dev/null && timeout 300 $SUDO apt-get install -y -qq wrk >/dev/null; }
  tool=wrk
fi

log=$(mktemp)
"$BIN" reference --monolith-port 0 --auth-port 0 --ai-port 0 --bcrypt-cost 4 >"$log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT INT TERM

base=""
for _ in $(seq 1 100); do
  base=$(sed -n 's|^monolith *\(http://127\.0\.0\.1:[0-9]*\)$|\1|p' "$log")
  [ -n "$base" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "reference system did not start" >&2; cat "$log" >&2; exit 1; }
case "$base" in http://127.0.0.1:*) ;; *) echo "refusing to target $base" >&2; exit 1 ;; esac

user_json=$(curl -fsS -m 10 -X POST "$base/auth/register" -H 'content-type: application/json' \
  -d '{"username":"benchuser","password":"bench-password","display_name":"Bench"}')
id=$(printf '%s' "$user_json" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
[ -n "$id" ] || { echo "registration failed: $user_json" >&2; exit 1; }

run() {
  local url=$1
  if [ "$tool" = oha ]; then
    timeout 120 oha --no-tui -c "$CONNECTIONS" -z "$DURATION" "$url" | sed -n 's/^ *Requests\/sec: *\([0-9.]*\).*/\1/p'
  else
    timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$url" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p'
  fi
}

echo "tool: $tool, $THREADS threads, $CONNECTIONS connections, $DURATION per route, $(nproc) cores"
for path in /health "/auth/users/$id"; do
  rps=$(run "$base$path")
  printf '%-24s %12s req/s\n' "GET $path" "${rps:-?}"
done
