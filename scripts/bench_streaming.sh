#!/usr/bin/env bash
# Streaming benchmark (issue 18): sensor readings one per MQTT message (32 features, SOURCES
# sources, default 1,000) through a local mosquitto, scored by our service and, in the same run,
# by the Python reference consumer ($ANCHORS_DIR/mqtt_consumer.py: paho-mqtt + PyTorch, one
# thread), plus the broker's own ceiling (the load generator's publisher and subscriber alone).
#
# Each side is offered a ladder of rates (RATES, messages/s, DURATION seconds each, default 5) until it falls behind
# (achieves under 80 % of the offered rate); its sustained rate is the highest it achieved. The
# delay is from the reading's time stamp (publish time) to its score: for the reference, measured
# in its process as it scores; for ours, when its score message (MQTT_SCORE_TOPIC) comes back to
# the load generator, one broker hop later (so ours is measured the harder way).
# Pinned: the consumer (ours or the reference) on core 0; broker and load generator on core 1.
#
# Needs: mosquitto, taskset, the release build of model-serving, and the reference's virtualenv
# (ANCHORS_WORK/venv with $ANCHORS_DIR/requirements-torch.txt, ~10 min to create, done here when
# missing) with a `train_torch.py --shape A --save` model (made here when missing).
# Usage: scripts/bench_streaming.sh            DURATION=3 RATES="2000 20000" scripts/bench_streaming.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHORS_DIR=$(cd "${ANCHORS_DIR:-../shared/anchors}" && pwd)
ANCHORS_WORK=${ANCHORS_WORK:-$HOME/.cache/ae-anchors}
SECONDS_EACH=${DURATION:-5}
RATES=${RATES:-"2000 5000 10000 20000 40000 80000 160000"}
SOURCES=${SOURCES:-1000}
FEATURES=32
PORT=${PORT:-18870}
HTTP_PORT=${HTTP_PORT:-19470}
TARGET=${CARGO_TARGET_DIR:-target}
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$MOSQUITTO" ] || { echo "mosquitto is not installed (apt-get install mosquitto)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "pinning needs two cores" >&2; exit 1; }

PY="$ANCHORS_WORK/venv/bin/python"
if [ ! -x "$PY" ] || ! "$PY" -c 'import torch, paho' 2>/dev/null; then
  echo "creating the reference's virtualenv in $ANCHORS_WORK/venv (about 10 minutes)"
  python3 -m venv "$ANCHORS_WORK/venv"
  "$ANCHORS_WORK/venv/bin/pip" install -q -r "$ANCHORS_DIR/requirements-torch.txt"
fi
REF_MODEL="$ANCHORS_WORK/models/model_a.pt"
if [ ! -f "$REF_MODEL" ]; then
  mkdir -p "$ANCHORS_WORK/models"
  (cd "$ANCHORS_DIR" && "$PY" train_torch.py --shape A --threads 1 --epochs 1 --save "$REF_MODEL" | tail -n 1)
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build -q --release -p model_serving --bin model-serving
cargo build -q -p model_serving --example bench_model --example mqtt_load
"$TARGET/debug/examples/bench_model" "$WORK" >/dev/null
LOAD="$TARGET/debug/examples/mqtt_load"
cat > "$WORK/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 10000000
max_inflight_messages 1000
# Without it a lone small message waits for the receiver's delayed ACK (tens of ms).
set_tcp_nodelay true
EOF
# A fresh broker for each side: nothing one side left queued (a persistent session's backlog)
# weighs on the other.
BROKER=""
fresh_broker() {
  if [ -n "$BROKER" ]; then kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; fi
  taskset -c 1 "$MOSQUITTO" -c "$WORK/mosquitto.conf" >>"$WORK/mosquitto.log" 2>&1 &
  BROKER=$!
  PIDS+=("$BROKER")
  sleep 0.5
}
fresh_broker

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(nproc) cores; $("$MOSQUITTO" -h 2>&1 | head -n 1)"
echo "$SOURCES sources x $FEATURES features, one reading per message (QoS 1), ${SECONDS_EACH}s per rate"
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.readline()); print(' '.join(str(d[k]) for k in sys.argv[1:]))" "$@"; }

# 1. The broker's ceiling: publish as fast as it takes them, a plain subscriber counting.
read -r ceiling cp50 cp99 < <(taskset -c 1 "$LOAD" "$PORT" "$SOURCES" "$FEATURES" 0 "$SECONDS_EACH" 'sensors/#' | json received_per_s p50_delay_ms p99_delay_ms)
echo "broker ceiling (publisher -> subscriber alone): $ceiling msg/s (p50 $cp50 ms, p99 $cp99 ms)"
echo
printf '%-10s %-10s %-12s %-10s %-10s\n' side offered achieved "p50 ms" "p99 ms"

# 2. Ours: the release binary on core 0, every score published back (MQTT_SCORE_TOPIC).
env -i PATH="$PATH" SERVICE_HOST=127.0.0.1 SERVICE_PORT="$HTTP_PORT" LOG_LEVEL=warn MODEL_PATH="$WORK/model_f" \
  MQTT_URL="mqtt://127.0.0.1:$PORT" MQTT_CLIENT_ID=bench-ours MQTT_SCORE_TOPIC='scores/{source}' \
  taskset -c 0 "$TARGET/release/model-serving" >"$WORK/ours.log" 2>&1 &
OURS=$!
PIDS+=("$OURS")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$HTTP_PORT/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
declare -A OURS_AT REF_AT
ours_best=0
for rate in $RATES; do
  read -r got p50 p99 < <(taskset -c 1 "$LOAD" "$PORT" "$SOURCES" "$FEATURES" "$rate" "$SECONDS_EACH" 'scores/#' | json received_per_s p50_delay_ms p99_delay_ms)
  printf '%-10s %-10s %-12s %-10s %-10s\n' ours "$rate" "$got" "$p50" "$p99"
  OURS_AT[$rate]="$p50 $p99"
  ours_best=$(python3 -c "print(max($ours_best, $got))")
  python3 -c "import sys; sys.exit(0 if $got >= 0.8 * $rate else 1)" || break
done
kill "$OURS"; wait "$OURS" 2>/dev/null || true
fresh_broker

# 3. The reference: mqtt_consumer.py on core 0, one thread, until it has every reading.
ref_best=0
ref_sustained=0
for rate in $RATES; do
  n=$((rate * SECONDS_EACH))
  (cd "$ANCHORS_DIR" && exec taskset -c 0 "$PY" mqtt_consumer.py --model "$REF_MODEL" --port "$PORT" --window 1 \
      --threads 1 --max-readings "$n" >"$WORK/ref.json" 2>"$WORK/ref.log") &
  REF=$!
  PIDS+=("$REF")
  sleep 5  # python, torch and the subscription
  taskset -c 1 "$LOAD" "$PORT" "$SOURCES" "$FEATURES" "$rate" "$SECONDS_EACH" 'none/#' 0 >/dev/null
  # It drains what the broker queued for it; give it up to 20 times the run.
  for _ in $(seq $((SECONDS_EACH * 200))); do kill -0 "$REF" 2>/dev/null || break; sleep 0.1; done
  kill "$REF" 2>/dev/null || true
  wait "$REF" 2>/dev/null || true
  read -r got p50 p99 < <(json readings_per_s p50_delay_ms p99_delay_ms <"$WORK/ref.json")
  printf '%-10s %-10s %-12s %-10s %-10s\n' reference "$rate" "$got" "$p50" "$p99"
  REF_AT[$rate]="$p50 $p99"
  ref_best=$(python3 -c "print(max($ref_best, $got))")
  if python3 -c "import sys; sys.exit(0 if $got >= 0.8 * $rate else 1)"; then ref_sustained=$rate; else break; fi
done

echo
echo "sustained: ours $ours_best readings/s, reference $ref_best readings/s ($(python3 -c "print(f'{$ours_best / max($ref_best, 1):.1f}')")x); broker ceiling $ceiling msg/s (ours at $(python3 -c "print(f'{100 * $ours_best / max($ceiling, 1):.0f}')") % of it)"
echo "target: >= 20x the reference or >= 80 % of the broker's ceiling, whichever is lower: $(python3 -c "print(f'{min(20 * $ref_best, 0.8 * $ceiling):.0f}')") readings/s"
if [ "$ref_sustained" -gt 0 ] && [ -n "${OURS_AT[$ref_sustained]:-}" ]; then
  read -r op50 op99 <<<"${OURS_AT[$ref_sustained]}"
  read -r rp50 rp99 <<<"${REF_AT[$ref_sustained]}"
  echo "delay at $ref_sustained/s (a rate the reference sustains): ours p50 $op50 / p99 $op99 ms, reference p50 $rp50 / p99 $rp99 ms; p99 ratio $(python3 -c "print(f'{$op99 / max($rp99, 1e-9):.2f}')") (target <= 0.2)"
fi
