#!/usr/bin/env bash
# What monitoring costs on the request path (issue 17), through HTTP with the release binary as
# the image ships it (stripped), pinned: the service on core 0 (taskset), the load generator
# (hey) on core 1. The model is bench_model's: 32 features, 32-32-16-16-32-32, a training
# distribution for drift and a threshold that flags about 1 % of the bodies' rows.
#
#   1. Explanations and drift tracking: 10,000-row and 100-row CSV requests at saturation
#      (concurrency 8): req/s and p50/p99 with neither (`explain=none`, DRIFT_WINDOW=0), with
#      explanations of the anomalous rows only, with drift tracking only, and with both (the
#      defaults), and each one's cost against neither.
#   2. Shadow scoring: the defaults, without and with SHADOW_MODEL_URI=@challenger (the same
#      model again, from a registry), at half of the saturated rate measured in 1: p50/p99 and
#      how many shadow jobs were scored and dropped (SHADOW_QUEUE, default 4).
#
# Every case runs ROUNDS times (default 2), the rounds interleaved; all runs are printed.
# Needs: hey (`apt-get install hey`), taskset, curl. Usage: scripts/bench_monitoring.sh
#        DURATION=4 ROUNDS=1 scripts/bench_monitoring.sh (quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-19190}
TARGET=${CARGO_TARGET_DIR:-target}
for tool in hey taskset curl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "pinning needs two cores; this machine has $(nproc)" >&2; exit 1; }

WORK=$(mktemp -d)
PID=""
stop() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi
}
cleanup() { stop; rm -rf "$WORK"; }
trap cleanup EXIT

cargo build -q --release -p model_serving --bin model-serving
strip -o "$WORK/model-serving" "$TARGET/release/model-serving" 2>/dev/null || cp "$TARGET/release/model-serving" "$WORK/model-serving"
cargo build -q -p model_serving --example bench_model
cargo build -q -p model_creation --bin model-creation
"$TARGET/debug/examples/bench_model" "$WORK" >/dev/null
REGISTRY="$WORK/registry"
version=$("$TARGET/debug/model-creation" models --registry "$REGISTRY" publish --model "$WORK/model" | awk '{print $NF}')
"$TARGET/debug/model-creation" models --registry "$REGISTRY" alias set bench-32-w1@champion "$version" >/dev/null
"$TARGET/debug/model-creation" models --registry "$REGISTRY" alias set bench-32-w1@challenger "$version" >/dev/null

URL="http://127.0.0.1:$PORT"
# start VAR=VALUE...: the service on core 0 with these settings, waited for until ready.
start() {
  stop
  env -i PATH="$PATH" SERVICE_HOST=127.0.0.1 SERVICE_PORT="$PORT" LOG_LEVEL=warn "$@" taskset -c 0 "$WORK/model-serving" >"$WORK/service.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do
    curl -fsS "$URL/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "the service did not become ready:" >&2; cat "$WORK/service.log" >&2; exit 1
}

# load BODY QUERY CONC [QPS_PER_WORKER]: "req/s p50_ms p99_ms" of hey on core 1.
load() {
  local body=$1 query=$2 conc=$3 qps=${4:-0} out
  out=$(taskset -c 1 hey -z "${DURATION}s" -c "$conc" -q "$qps" -m POST -T text/csv -D "$WORK/$body" "$URL/compute$query")
  if ! grep -q '^\s*\[200\]' <<<"$out" || grep -Eq '^\s*\[[^2][0-9][0-9]\]' <<<"$out"; then
    echo "non-200 answers under load:" >&2; echo "$out" >&2; exit 1
  fi
  awk '/Requests\/sec/ {r=$2} /50% in/ {p50=$3*1000} /99% in/ {p99=$3*1000} END {printf "%.1f %.2f %.2f\n", r, p50, p99}' <<<"$out"
}

metric() { curl -fsS "$URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "service on core 0, hey on core 1; ${DURATION}s per run, $ROUNDS rounds"
echo

declare -A RATE P50 P99
for _ in $(seq "$ROUNDS"); do
  for drift in off on; do
    if [ "$drift" = off ]; then start MODEL_PATH="$WORK/model" DRIFT_WINDOW=0; else start MODEL_PATH="$WORK/model"; fi
    for body in body_10000.csv body_100.csv; do
      for explain in off on; do
        query=""
        if [ "$explain" = off ]; then query="?explain=none"; fi
        read -r r p50 p99 < <(load "$body" "$query" 8)
        key="$body explain=$explain drift=$drift"
        RATE[$key]+="$r "; P50[$key]+="$p50 "; P99[$key]+="$p99 "
      done
    done
  done
done
stop

best() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | tail -n 1; }
printf '%-15s %-13s %-6s %-24s %-20s %-20s %s\n' body explanations drift "req/s (each round)" "p50 ms" "p99 ms" "cost (best req/s)"
for body in body_10000.csv body_100.csv; do
  base=$(best "${RATE[$body explain=off drift=off]}")
  for case in "off off" "on off" "off on" "on on"; do
    read -r explain drift <<<"$case"
    key="$body explain=$explain drift=$drift"
    r=$(best "${RATE[$key]}")
    printf '%-15s %-13s %-6s %-24s %-20s %-20s %s\n' "$body" "$explain" "$drift" "${RATE[$key]}" "${P50[$key]}" "${P99[$key]}" \
      "$(awk -v a="$base" -v b="$r" 'BEGIN {printf "%.2fx", a / b}')"
  done
done

echo
echo "Shadow scoring at half of the saturated rate (the defaults: explanations and drift on)"
printf '%-15s %-7s %-10s %-20s %-20s %s\n' body shadow "target/s" "p50 ms" "p99 ms" "shadow jobs scored / dropped"
for body in body_10000.csv body_100.csv; do
  saturated=$(best "${RATE[$body explain=on drift=on]}")
  # hey's rate is per worker: 4 workers at an eighth of saturation each.
  qps=$(awk -v s="$saturated" 'BEGIN {q = s / 8; printf "%.2f", (q < 0.5 ? 0.5 : q)}')
  declare -A SP50=() SP99=() JOBS=()
  for _ in $(seq "$ROUNDS"); do
    for shadow in off on; do
      if [ "$shadow" = off ]; then
        start MODEL_REGISTRY="$REGISTRY" MODEL_NAME=bench-32-w1
      else
        start MODEL_REGISTRY="$REGISTRY" MODEL_NAME=bench-32-w1 SHADOW_MODEL_URI=@challenger
      fi
      read -r _ p50 p99 < <(load "$body" "" 4 "$qps")
      SP50[$shadow]+="$p50 "; SP99[$shadow]+="$p99 "
      if [ "$shadow" = on ]; then
        scored=$(metric 'model_serving_shadow_jobs_total{outcome="scored"}'); dropped=$(metric 'model_serving_shadow_jobs_total{outcome="dropped"}')
        JOBS[$shadow]+="${scored:-0}/${dropped:-0} "
      fi
    done
  done
  for shadow in off on; do
    printf '%-15s %-7s %-10s %-20s %-20s %s\n' "$body" "$shadow" "$(awk -v q="$qps" 'BEGIN {printf "%.0f", q * 4}')" \
      "${SP50[$shadow]}" "${SP99[$shadow]}" "${JOBS[$shadow]:--}"
  done
done
stop
