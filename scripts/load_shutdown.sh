#!/usr/bin/env bash
# Load through a shutdown: starts the built model-serving binary, runs CONCURRENCY (64) workers
# of POST /compute for DURATION (20) seconds with examples/lb_load.rs, which behaves like a load
# balancer (no new request once /health/ready stops answering 200), and sends SIGTERM at a
# random moment. Prints requests, failures, p50/p99 and how long the process took to exit after
# the signal; exits non-zero if any request failed or the service did not exit in time.
#
# The model: MODEL_PATH if set, else model_creation/model (with a body from
# model_creation/data/test.csv) when the pipeline has produced it, else the benchmark's random
# 32-feature model and 100-row body (examples/bench_model.rs). SERVICE_BIN picks the binary
# (default: target/release/model-serving if built, else target/debug/model-serving).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
CONCURRENCY=${CONCURRENCY:-64}
PORT=${PORT:-19091}
TARGET=${CARGO_TARGET_DIR:-target}
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }

WORK=$(mktemp -d)
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${SERVICE_BIN:-}" ]; then
  if [ -x "$TARGET/release/model-serving" ]; then
    SERVICE_BIN="$TARGET/release/model-serving"
  else
    cargo build -q -p model_serving --bin model-serving
    SERVICE_BIN="$TARGET/debug/model-serving"
  fi
fi
cargo build -q -p model_serving --example lb_load --example bench_model

if [ -n "${MODEL_PATH:-}" ]; then
  MODEL="$MODEL_PATH"
  BODY=${BODY:?"with MODEL_PATH, set BODY to a CSV file the model scores"}
elif [ -d model_creation/model ] && [ -f model_creation/data/test.csv ]; then
  MODEL=model_creation/model
  BODY="$WORK/body.csv"
  head -n 101 model_creation/data/test.csv > "$BODY"
else
  "$TARGET/debug/examples/bench_model" "$WORK" >/dev/null
  MODEL="$WORK/model"
  BODY="$WORK/body_100.csv"
  echo "model_creation/model is not built here: using the benchmark's random model and 100-row body"
fi

MODEL_PATH="$MODEL" SERVICE_HOST=127.0.0.1 SERVICE_PORT=$PORT LOG_LEVEL=warn "$SERVICE_BIN" 2>"$WORK/service.log" &
PID=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 200); do
  curl -fs "$URL/health/ready" >/dev/null && break
  sleep 0.05
done
curl -fs "$URL/health/ready" >/dev/null || { echo "the service never became ready" >&2; cat "$WORK/service.log" >&2; exit 1; }

# SIGTERM somewhere between 20 % and 80 % of the run.
SIGNAL_AT=$(awk -v d="$DURATION" -v r="$RANDOM" 'BEGIN { printf "%.2f", d * (0.2 + 0.6 * r / 32767) }')
echo "binary $SERVICE_BIN, model $MODEL, body $BODY ($(wc -l <"$BODY") lines)"
echo "concurrency $CONCURRENCY for ${DURATION} s, SIGTERM at ${SIGNAL_AT} s"
"$TARGET/debug/examples/lb_load" "$URL" "$BODY" "$CONCURRENCY" "$DURATION" >"$WORK/load.out" &
LOAD=$!
sleep "$SIGNAL_AT"
SENT=$(date +%s.%N)
kill -TERM "$PID"
STATUS=0
wait "$PID" || STATUS=$?
EXITED=$(date +%s.%N)
PID=""
LOAD_STATUS=0
wait "$LOAD" || LOAD_STATUS=$?
cat "$WORK/load.out"
awk -v s="$SENT" -v e="$EXITED" -v c="$STATUS" 'BEGIN { printf "service exited %.2f s after SIGTERM, exit code %d\n", e - s, c }'
if [ -s "$WORK/service.log" ]; then
  echo "service warnings and errors:"
  cat "$WORK/service.log"
fi
[ "$STATUS" -eq 0 ] && [ "$LOAD_STATUS" -eq 0 ]
