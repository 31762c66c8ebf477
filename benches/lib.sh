# Shared by the bench scripts (sourced, never run): a work directory and every process a
# script starts (appended to PIDS) are removed / killed on exit, tools are checked, and a
# missing release build is built once. Loopback only, as every bench here.

# bench_init NAME: WORK (a fresh directory under /tmp), PIDS, the exit trap.
bench_init() {
  WORK=$(mktemp -d "/tmp/cutover-$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$WORK"
}

# bench_need TOOL...: exit 0 (nothing measured, said why) when one is missing.
bench_need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install $*)"; exit 0; }
  done
}

# bench_build: the release binary at $BIN, built when absent (exit 0 if that fails).
bench_build() {
  [ -x "$BIN" ] || (cd "$ROOT" && nice -n 19 cargo build --release) || exit 0
}
