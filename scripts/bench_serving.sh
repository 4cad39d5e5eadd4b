#!/usr/bin/env bash
# Load benchmark of model-serving (issue 4): POST /compute with 100-row and 10,000-row CSV bodies
# of 32 features, concurrency 1 and 16, DURATION seconds each (default 20), with wrk; then
# resident memory after the load and the time from process start to /health/ready answering.
# Prints the figures beside the fixed references of the FastAPI + PyTorch service of the same
# model on this machine kind, and the issue's targets.
#
# The headline cases use the reference's model: 32 features scored row by row,
# 32->32->16->16->32->32. One extra line runs the 10,000-row case against the window-4 model that
# `model-creation train` builds by default (128 inputs, about 4x the arithmetic per row).
#
# Then the engine task load (issue 5): ENGINE_TASKS (default 1,000) tasks of the 100-row CSV
# through /compute against an in-process S3, 503s retried; tasks/s end to end and a check that
# every accepted task got exactly one callback.
#
# Needs: wrk (`apt-get install wrk`) and curl. Release build of the service (no burn: ~8 min cold on 2 cores).
# Usage: scripts/bench_serving.sh            DURATION=5 scripts/bench_serving.sh (quick look)
#        SERVICE_BIN=/path/to/model-serving scripts/bench_serving.sh (measure that binary instead)
# The binary is measured stripped (a stripped copy when `strip` is present), as the image ships it.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
PORT=${PORT:-19090}
TARGET=${CARGO_TARGET_DIR:-target}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d)
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${SERVICE_BIN:-}" ]; then
  cargo build -q --release -p model_serving --bin model-serving
  SERVICE_BIN="$TARGET/release/model-serving"
fi
# Measure the binary as the image ships it: stripped (the release profile keeps line tables,
# which triple its size and slow a cold start).
if command -v strip >/dev/null; then
  strip -o "$WORK/model-serving" "$SERVICE_BIN"
  SERVICE_BIN="$WORK/model-serving"
fi
# The input writer is an example: built in the dev profile, whose dev-dependencies the tests
# already built (a release example would build burn for nothing).
cargo build -q -p model_serving --example bench_model --example engine_load
"$TARGET/debug/examples/bench_model" "$WORK" >/dev/null

cat > "$WORK/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
wrk.headers["Content-Type"] = "text/csv"
f:close()
LUA

URL="http://127.0.0.1:$PORT"
start_service() { # MODEL_DIR; sets PID and ready_ms
  local start_ns
  start_ns=$(date +%s%N)
  MODEL_PATH="$1" SERVICE_HOST=127.0.0.1 SERVICE_PORT=$PORT LOG_LEVEL=warn "$SERVICE_BIN" &
  PID=$!
  until curl -sf -o /dev/null "$URL/health/ready"; do
    kill -0 "$PID" 2>/dev/null || { echo "model-serving exited before it was ready" >&2; exit 1; }
  done
  ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
}
stop_service() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
start_service "$WORK/model"

# One checked request per body: the benchmark must measure successful scoring.
for rows in 100 10000; do
  got=$(curl -sf -H 'content-type: text/csv' --data-binary "@$WORK/body_$rows.csv" "$URL/compute" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"])')
  [ "$got" = "$rows" ] || { echo "sanity check failed: $rows rows sent, $got scored" >&2; exit 1; }
done

to_ms() { # wrk latency like 812.00us / 1.20ms / 2.01s -> milliseconds
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n }'
}

declare -A RPS P50 P99
run_wrk() { # KEY CONC PATH [ROWS]: a POST of body_ROWS.csv when ROWS is given, else a GET
  local out script=()
  [ -n "${4:-}" ] && script=(-s "$WORK/post.lua")
  out=$(BODY="$WORK/body_${4:-}.csv" wrk -t"$(( $2 > 1 ? 2 : 1 ))" -c"$2" -d"${DURATION}s" --latency "${script[@]}" "$URL$3")
  if grep -q "Non-2xx" <<<"$out"; then echo "$out" >&2; echo "errors during the run" >&2; exit 1; fi
  RPS[$1]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  P50[$1]=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  P99[$1]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
}
for rows in 100 10000; do
  for conc in 1 16; do
    run_wrk "$rows,$conc" "$conc" /compute "$rows"
  done
done
# The floor of this machine: GET /status (no body, no work) through the same stack, so the
# scoring cases can be read against what one HTTP round trip costs here.
for conc in 1 16; do
  run_wrk "status,$conc" "$conc" /status
done
rss_now_mb=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$PID/status")
# The service hands the memory of a burst of large requests back once large jobs have stopped
# for 0.2 s (model_serving/src/memory.rs); a second later is its resident size after the load.
sleep 1
rss_mb=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$PID/status")
peak_mb=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$PID/status")
first_ready_ms=$ready_ms
stop_service

start_service "$WORK/model_w4"
run_wrk w4 16 /compute 10000
stop_service

# Fully cold: the binary, its libraries and the model read from disk (needs root to drop the
# page cache); then five warm starts.
cold_ready_ms="n/a (dropping the page cache needs root)"
if [ -w /proc/sys/vm/drop_caches ]; then
  sync
  echo 3 >/proc/sys/vm/drop_caches
  start_service "$WORK/model"
  cold_ready_ms="$ready_ms ms ($(awk -v a="$ready_ms" 'BEGIN { printf "1/%.0f", 3000/(a>0?a:1) }'))"
  stop_service
fi
warm=()
for _ in 1 2 3 4 5; do
  start_service "$WORK/model"
  warm+=("$ready_ms")
  stop_service
done
warm_ready_ms=$(printf '%s\n' "${warm[@]}" | sort -n | sed -n 3p)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a/b }'; }
echo
echo "model-serving load benchmark: 32 features row by row, 32-32-16-16-32-32 (the reference's model); wrk, ${DURATION}s per case"
echo "machine: $(nproc) cores, load average before the run: $LOAD_BEFORE"
echo
printf "%-30s %10s %9s %9s   %-24s %8s  %s\n" "case" "req/s" "p50 ms" "p99 ms" "reference (FastAPI+torch)" "ratio" "target"
printf "%-30s %10s %9s %9s   %-24s %8s  %s\n" "100 rows, conc 1" "${RPS[100,1]}" "${P50[100,1]}" "${P99[100,1]}" \
  "530 req/s, p50 1.0 ms" "$(ratio "${RPS[100,1]}" 530)" ">= 10x"
printf "%-30s %10s %9s %9s   %-24s %8s  %s\n" "100 rows, conc 16" "${RPS[100,16]}" "${P50[100,16]}" "${P99[100,16]}" \
  "650 req/s" "$(ratio "${RPS[100,16]}" 650)" ">= 20x"
printf "%-30s %10s %9s %9s   %-24s %8s  %s\n" "10,000 rows, conc 1" "${RPS[10000,1]}" "${P50[10000,1]}" "${P99[10000,1]}" \
  "-" "-" "-"
printf "%-30s %10s %9s %9s   %-24s %8s  %s\n" "10,000 rows, conc 16" "${RPS[10000,16]}" "${P50[10000,16]}" "${P99[10000,16]}" \
  "44 req/s" "$(ratio "${RPS[10000,16]}" 44)" ">= 3x"
for conc in 1 16; do
  printf "%-30s %10s %9s %9s   %s\n" "GET /status, conc $conc" "${RPS[status,$conc]}" "${P50[status,$conc]}" \
    "${P99[status,$conc]}" "no body, no scoring: the round trip's floor here (reference at 10x/20x: 5,300 / 13,000 req/s)"
done
printf "%-30s %10s %9s %9s   %s\n" "10,000 rows, conc 16, window 4" "${RPS[w4]}" "${P50[w4]}" "${P99[w4]}" \
  "model-creation's default model (128 inputs, ~4x the arithmetic); no reference"
echo
printf "%-30s %10s MB 1 s after the load (%s MB at its end, peak %s MB)   reference 650 MB   ratio %s   target <= 1/10\n" \
  "resident memory" "$rss_mb" "$rss_now_mb" "$peak_mb" \
  "$(awk -v a="$rss_mb" 'BEGIN { printf "1/%.0f", 650/a }')"
printf "%-30s %10s ms first start, %s with the page cache dropped, %s ms median of 5 warm   reference 3000 ms  ratio %s / %s   target <= 1/20\n" \
  "start to ready" "$first_ready_ms" "$cold_ready_ms" "$warm_ready_ms" \
  "$(awk -v a="$first_ready_ms" 'BEGIN { printf "1/%.0f", 3000/(a>0?a:1) }')" \
  "$(awk -v a="$warm_ready_ms" 'BEGIN { printf "1/%.0f", 3000/(a>0?a:1) }')"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
"$TARGET/debug/examples/engine_load" "$SERVICE_BIN" "$WORK/model" "$WORK/body_100.csv" "${ENGINE_TASKS:-1000}"
