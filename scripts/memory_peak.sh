#!/usr/bin/env bash
# Peak resident memory of model-serving for large /compute bodies (issue 14, defect 8): starts the
# service, POSTs a ~SIZE_MB CSV with the model's 6 features once, reads VmHWM (the process's
# peak resident size) from /proc/PID/status, then starts a fresh service and POSTs CONCURRENT
# copies at once. Prints body size, VmHWM and their ratio for each case.
#
# Needs curl and python3, the built binary (`cargo build -p model_serving`; the dev profile is
# optimised) and model_creation/model (`cargo run -p model_creation -- repro`).
# Usage: scripts/memory_peak.sh   SIZE_MB=60 CONCURRENT=2 MEMORY_BUDGET=auto scripts/memory_peak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-60}
CONCURRENT=${CONCURRENT:-2}
PORT=${PORT:-19191}
SERVICE_BIN=${SERVICE_BIN:-${CARGO_TARGET_DIR:-target}/debug/model-serving}
MODEL_PATH=${MODEL_PATH:-model_creation/model}
[ -x "$SERVICE_BIN" ] || { echo "no $SERVICE_BIN: cargo build -p model_serving" >&2; exit 1; }
[ -d "$MODEL_PATH" ] || { echo "no $MODEL_PATH: cargo run -p model_creation -- repro" >&2; exit 1; }

WORK=$(mktemp -d)
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Sensor-like values with a timestamp column the model ignores, as the training data looks.
python3 - "$WORK/body.csv" "$SIZE_MB" <<'EOF'
import random, sys
path, size = sys.argv[1], int(sys.argv[2]) * 1_000_000
random.seed(14)
with open(path, "w") as f:
    f.write("timestamp,temperature,pressure,flow,current,vibration,voltage\n")
    written, i = 0, 0
    while written < size:
        line = "2024-01-01T00:%02d:%02d,%.2f,%.3f,%.2f,%.2f,%.3f,%.1f\n" % (
            (i // 60) % 60, i % 60, random.gauss(20, 1), random.gauss(3, 0.05), random.gauss(50, 1),
            random.gauss(10, 0.2), random.gauss(0.55, 0.02), random.gauss(230, 1))
        f.write(line)
        written += len(line)
        i += 1
EOF
BODY_BYTES=$(stat -c %s "$WORK/body.csv")

start() {
  MODEL_PATH="$MODEL_PATH" SERVICE_HOST=127.0.0.1 SERVICE_PORT=$PORT LOG_LEVEL=warn REQUEST_TIMEOUT=300 \
    "$SERVICE_BIN" >"$WORK/service.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "service did not become ready:" >&2
  cat "$WORK/service.log" >&2
  exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$PID/status"; }

run() {
  local n=$1
  start
  local idle
  idle=$(kib VmRSS)
  local clients=()
  for i in $(seq 1 "$n"); do
    curl -s -o "$WORK/out.$i" -w "%{http_code}\n" -H 'Content-Type: text/csv' \
      --data-binary "@$WORK/body.csv" "http://127.0.0.1:$PORT/compute" >"$WORK/code.$i" &
    clients+=("$!")
  done
  wait "${clients[@]}" 2>/dev/null || true
  local hwm codes
  hwm=$(kib VmHWM)
  codes=$(cat "$WORK"/code.* | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
  awk -v n="$n" -v body="$BODY_BYTES" -v hwm="$hwm" -v idle="$idle" -v codes="$codes" 'BEGIN {
    printf "%d request(s) of %.1f MB: VmHWM %.1f MB (idle %.1f MB), %.2f x body, %.2f x total bodies; answers %s\n",
      n, body / 1e6, hwm * 1024 / 1e6, idle * 1024 / 1e6, hwm * 1024 / body, hwm * 1024 / (n * body), codes }'
  rm -f "$WORK"/code.* "$WORK"/out.*
  stop
}

run 1
run "$CONCURRENT"
