#!/usr/bin/env bash
# Serving side by side (issue 21): model-serving (release build, stripped, as the image ships it)
# and the FastAPI + PyTorch reference ($ANCHORS_DIR/serve_fastapi.py) serving the same network
# (32-16-16-32, row by row: ours trained here with data.window=1 and model.hidden=[16,16] on
# the same synthetic data), measured in one run, interleaved side by side and round by round
# (ROUNDS, default 2; the best round of each case is kept), in two configurations:
#
#   pinned    each service on core 0 (taskset), the load generator on core 1; the reference with
#             one worker and one thread
#   defaults  each side as shipped, nothing pinned: ours with its defaults (explanations and
#             drift tracking on), the reference with 2 workers
#
# Cases (wrk through $ANCHORS_DIR/load.sh, DURATION seconds each, default 8): POST /compute of
# 100 rows x 32 and of 10,000 rows x 32 at concurrency 16, and 100 rows at concurrency 1, whose
# p50 is set against the floor of the same stack (GET /status for ours, GET /health for the
# reference) at concurrency 1. Also: resident memory after the load (the reference's workers
# summed), start to ready, and the CPU.
#
# Ours is the glibc release build, stripped, as the image ships it; OURS_BIN=PATH measures another
# build instead, such as a static musl one (the image's until session 19):
#   CARGO_PROFILE_RELEASE_STRIP=symbols cargo build --release --target x86_64-unknown-linux-musl \
#     -p model_serving --bin model-serving   (needs musl-tools)
#   OURS_BIN=target/x86_64-unknown-linux-musl/release/model-serving scripts/bench_serving.sh
#
# Needs: wrk, taskset, the reference's virtualenv ANCHORS_WORK/venv (made here when missing:
# several minutes, mostly downloads). Usage:
#   ANCHORS_WORK=/work/anchors-work scripts/bench_serving.sh      DURATION=3 ROUNDS=1 ... (quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cpu_line.sh
. scripts/cpu_line.sh
ANCHORS_DIR=$(cd "${ANCHORS_DIR:-../shared/anchors}" && pwd)
ANCHORS_WORK=${ANCHORS_WORK:-$HOME/.cache/ae-anchors}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-19090}
TARGET=${CARGO_TARGET_DIR:-target}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset is not installed (util-linux)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "the pinned configuration needs two cores" >&2; exit 1; }
PY=$ANCHORS_WORK/venv/bin/python
if [ ! -x "$PY" ] || ! "$PY" -c "import torch, fastapi, uvicorn" 2>/dev/null; then
  echo "creating $ANCHORS_WORK/venv from $ANCHORS_DIR/requirements-torch.txt (several minutes)" >&2
  python3 -m venv "$ANCHORS_WORK/venv"
  "$ANCHORS_WORK/venv/bin/pip" install -q -r "$ANCHORS_DIR/requirements-torch.txt" >&2
fi
OURS_BIN=${OURS_BIN:-}
if [ -z "$OURS_BIN" ]; then
  cargo build -q --release -p model_serving --bin model-serving
  OURS_BIN=$TARGET/release/model-serving
fi
[ -x "$OURS_BIN" ] || { echo "OURS_BIN=$OURS_BIN is not an executable" >&2; exit 1; }
# Our model is trained by the dev build the tests already made (its profile is optimized): a
# release build of the training side would compile burn again for nothing.
cargo build -q -p model_creation --bin model-creation
MC=$(realpath "$TARGET/debug/model-creation")
work=$(mktemp -d)
PID=""
cleanup() {
  if [ -n "$PID" ]; then stop; fi
  rm -rf "$work"
}
trap cleanup EXIT
BIN=$work/model-serving
strip -o "$BIN" "$OURS_BIN" 2>/dev/null || cp "$OURS_BIN" "$BIN"

echo "preparing the bodies and both models" >&2
"$PY" "$ANCHORS_DIR/synth.py" --rows 100 --d 32 --seed 2 --anomalies --out "$work/body100.csv"
"$PY" "$ANCHORS_DIR/synth.py" --rows 10000 --d 32 --seed 3 --anomalies --out "$work/body10k.csv"
"$PY" "$ANCHORS_DIR/synth.py" --rows 50000 --d 32 --seed 0 --out "$work/train.csv"
(cd "$ANCHORS_DIR" && "$PY" train_torch.py --shape A --rows 50000 --epochs 1 --threads "$(nproc)" \
  --save "$work/model.pt" >/dev/null 2>&1)
(cd "$work" && "$MC" train --data train.csv --out model --plots plots \
  --set data.window=1 --set 'model.hidden=[16,16]' --set train.epochs=5 >/dev/null 2>&1)

URL="http://127.0.0.1:$PORT"
# start SIDE CONFIG: starts one service, waits until it answers, sets PID and READY_MS.
start() {
  local pin=() started
  [ "$2" = pinned ] && pin=(taskset -c 0)
  started=$(date +%s%N)
  if [ "$1" = ours ]; then
    MODEL_PATH=$work/model SERVICE_HOST=127.0.0.1 SERVICE_PORT=$PORT LOG_LEVEL=warn "${pin[@]}" "$BIN" &
    PID=$!
    READY_PATH=/health/ready FLOOR_PATH=/status
  else
    local workers=2 threads=0
    [ "$2" = pinned ] && workers=1 threads=1
    (cd "$ANCHORS_DIR" && exec "${pin[@]}" "$PY" serve_fastapi.py --model "$work/model.pt" --port "$PORT" \
      --workers "$workers" --threads "$threads") &
    PID=$!
    READY_PATH=/health FLOOR_PATH=/health
  fi
  until curl -sf -o /dev/null "$URL$READY_PATH"; do
    kill -0 "$PID" 2>/dev/null || { echo "$1 exited before it was ready" >&2; exit 1; }
    sleep 0.02
  done
  READY_MS=$(( ($(date +%s%N) - started) / 1000000 ))
}
# The service's processes: the one started and (uvicorn's workers) its descendants.
tree() {
  local p=$1
  echo "$p"
  for c in $(pgrep -P "$p" || true); do tree "$c"; done
}
rss_mb() {
  local total=0 p kb
  for p in $(tree "$PID"); do
    kb=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  awk -v k="$total" 'BEGIN { printf "%.0f", k / 1024 }'
}
stop() {
  local p
  for p in $(tree "$PID"); do kill "$p" 2>/dev/null || true; done
  wait "$PID" 2>/dev/null || true
  PID=""
}
# load CONFIG BODY CONC -> one JSON line (rps, p50_ms, p99_ms, ...)
load() {
  local pin=()
  [ "$1" = pinned ] && pin=(taskset -c 1)
  "${pin[@]}" bash "$ANCHORS_DIR/load.sh" "$URL/compute" "$2" "$3" "$DURATION"
}
to_ms() { # wrk latency like 812.00us / 1.20ms / 2.01s -> milliseconds
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'
}
floor_p50() { # CONFIG -> p50 ms of GET FLOOR_PATH at conc 1
  local pin=()
  [ "$1" = pinned ] && pin=(taskset -c 1)
  to_ms "$("${pin[@]}" wrk -t1 -c1 -d"${DURATION}s" --latency "$URL$FLOOR_PATH" | awk '$1 == "50%" {print $2}')"
}
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# Both sides must answer every body with one score per row before anything is timed.
for side in ours reference; do
  start "$side" defaults
  for rows in 100 10k; do
    got=$(curl -sf -H 'content-type: text/csv' --data-binary "@$work/body$rows.csv" "$URL/compute" |
      python3 -c 'import json, sys; print(len(json.load(sys.stdin)["scores"]))')
    want=$(( $(wc -l <"$work/body$rows.csv") - 1 ))
    [ "$got" = "$want" ] || { echo "$side: $want rows sent, $got scores back" >&2; exit 1; }
  done
  stop
done

declare -A RPS P50 P99 MEM READY
keep() { # KEY JSON: keeps the round with the most req/s
  local rps
  rps=$(field "$2" rps)
  if [ -z "${RPS[$1]:-}" ] || awk -v a="$rps" -v b="${RPS[$1]}" 'BEGIN { exit !(a + 0.5 > b) }'; then
    RPS[$1]=$(printf "%.0f" "$rps") P50[$1]=$(field "$2" p50_ms) P99[$1]=$(field "$2" p99_ms)
  fi
}
for round in $(seq "$ROUNDS"); do
  for config in pinned defaults; do
    for side in ours reference; do
      echo "round $round: $config, $side" >&2
      start "$side" "$config"
      READY[$config,$side]=$READY_MS
      keep "$config,$side,100" "$(load "$config" "$work/body100.csv" 16)"
      keep "$config,$side,10k" "$(load "$config" "$work/body10k.csv" 16)"
      keep "$config,$side,c1" "$(load "$config" "$work/body100.csv" 1)"
      f=$(floor_p50 "$config")
      if [ -z "${P50[$config,$side,floor]:-}" ] || awk -v a="$f" -v b="${P50[$config,$side,floor]}" 'BEGIN { exit !(a < b) }'; then
        P50[$config,$side,floor]=$f
      fi
      MEM[$config,$side]=$(rss_mb)
      stop
    done
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
echo
echo "model-serving vs FastAPI + PyTorch ($ANCHORS_DIR/serve_fastapi.py), the same 32-16-16-32 network row by row"
echo "$(cpu_line); wrk; ${DURATION}s per case, best of $ROUNDS interleaved rounds; $(date -u +%Y-%m-%d)"
echo "ours: $OURS_BIN ($(file -b "$BIN" | grep -o -e 'static-pie linked' -e 'dynamically linked' | head -1), stripped)"
for config in pinned defaults; do
  echo
  if [ "$config" = pinned ]; then
    echo "pinned: each service on core 0, the load on core 1; the reference with 1 worker, 1 thread"
  else
    echo "defaults: nothing pinned; ours as shipped, the reference with 2 workers"
  fi
  printf "  %-22s %10s %8s %8s   %10s %8s %8s   %7s  %s\n" case "ours r/s" "p50 ms" "p99 ms" "ref r/s" "p50 ms" "p99 ms" ratio target
  for c in 100 10k; do
    label="100 rows, conc 16"; want=">= 20x"
    [ "$c" = 10k ] && label="10,000 rows, conc 16" && want=">= 5x"
    printf "  %-22s %10s %8s %8s   %10s %8s %8s   %7s  %s\n" "$label" \
      "${RPS[$config,ours,$c]}" "${P50[$config,ours,$c]}" "${P99[$config,ours,$c]}" \
      "${RPS[$config,reference,$c]}" "${P50[$config,reference,$c]}" "${P99[$config,reference,$c]}" \
      "$(ratio "${RPS[$config,ours,$c]}" "${RPS[$config,reference,$c]}")" "$want"
  done
  printf "  %-22s %10s %8s %8s   %10s %8s %8s   %7s  %s\n" "100 rows, conc 1" \
    "${RPS[$config,ours,c1]}" "${P50[$config,ours,c1]}" "${P99[$config,ours,c1]}" \
    "${RPS[$config,reference,c1]}" "${P50[$config,reference,c1]}" "${P99[$config,reference,c1]}" \
    "$(ratio "${RPS[$config,ours,c1]}" "${RPS[$config,reference,c1]}")" ""
  printf "  %-22s %10s %8s %8s   %10s %8s %8s   %7s  %s\n" "floor p50, conc 1" "" "${P50[$config,ours,floor]}" "" \
    "" "${P50[$config,reference,floor]}" "" "" "ours: GET /status, reference: GET /health"
  printf "  %-22s %s (ours; target <= 1.5x), %s (reference)\n" "conc-1 p50 / floor" \
    "$(ratio "${P50[$config,ours,c1]}" "${P50[$config,ours,floor]}")" \
    "$(ratio "${P50[$config,reference,c1]}" "${P50[$config,reference,floor]}")"
  printf "  %-22s ours %s MB, reference %s MB (last round)\n" "memory after the load" \
    "${MEM[$config,ours]}" "${MEM[$config,reference]}"
  printf "  %-22s ours %s ms, reference %s ms (last round)\n" "start to ready" \
    "${READY[$config,ours]}" "${READY[$config,reference]}"
done
