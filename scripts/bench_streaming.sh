#!/usr/bin/env bash
# Streaming benchmark (issue 18): sensor readings one per MQTT message (32 features, SOURCES
# sources, default 1,000) through a local mosquitto, scored by our service and, in the same run,
# by the Python reference consumer ($ANCHORS_DIR/mqtt_consumer.py: paho-mqtt + PyTorch, one
# thread), plus the broker's own ceiling (the load generator's publisher and subscriber alone).
#
# Each side is offered a ladder of rates (RATES, messages/s, DURATION seconds each, default 5,
# at least 3) until it falls behind (achieves under 80 % of the offered rate); its sustained rate
# is the highest it achieved. Ours runs as the reference does (alerts published, no scores), its
# rate counted from its metrics, and then once more offered readings as fast as the broker takes
# them. The delay is from the reading's time stamp (publish time) to its score, measured the same
# way for both: in the consumer's process as it scores (the reference: its own figures; ours: its
# stream_delay_seconds{from="timestamp"} histogram, read before and after each rate, quoted as
# the upper bound of the bucket the quantile falls in). A last ladder has ours publish every
# score back (MQTT_SCORE_TOPIC), so the broker carries each reading twice, and also measures the
# delay where the score arrives at the load generator (end to end, one broker hop more).
# Pinned: the consumer (ours or the reference) on core 0; broker and load generator on core 1.
#
# Needs: mosquitto (and mosquitto_sub, for the floor), taskset, the release build of model-serving, and the reference's virtualenv
# (ANCHORS_WORK/venv with $ANCHORS_DIR/requirements-torch.txt, ~10 min to create, done here when
# missing) with a `train_torch.py --shape A --save` model (made here when missing).
# Usage: scripts/bench_streaming.sh            DURATION=3 RATES="2000 20000" scripts/bench_streaming.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHORS_DIR=$(cd "${ANCHORS_DIR:-../shared/anchors}" && pwd)
ANCHORS_WORK=${ANCHORS_WORK:-$HOME/.cache/ae-anchors}
SECONDS_EACH=${DURATION:-5}
[ "$SECONDS_EACH" -ge 3 ] || { echo "DURATION must be at least 3 (seconds)" >&2; exit 1; }
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
# The histogram's counts (and the readings scored) from /metrics, as JSON; `hist.py A B` prints
# the readings scored between two snapshots and the p50 and p99 delay in ms (bucket upper
# bounds) from the time stamp, then from the message's arrival in the process.
cat > "$WORK/hist.py" <<'PY'
import json, re, sys, urllib.request
if len(sys.argv) == 2:
    text = urllib.request.urlopen(sys.argv[1] + "/metrics").read().decode()
    buckets = {f"{m.group(1)} {m.group(2)}": float(m.group(3)) for m in re.finditer(
        r'^model_serving_stream_delay_seconds_bucket\{from="(\w+)",le="([^"]+)"\} (\S+)$', text, re.M)}
    scored = re.search(r'^model_serving_stream_readings_total\{outcome="scored"\} (\S+)$', text, re.M)
    print(json.dumps({"buckets": buckets, "scored": float(scored.group(1)) if scored else 0.0}))
else:
    a, b = (json.load(open(f)) for f in sys.argv[1:3])
    out = [str(int(b["scored"] - a["scored"]))]
    for source in ("timestamp", "arrival"):
        les = sorted((k for k in b["buckets"] if k.startswith(source + " ")), key=lambda k: float(k.split()[1]))
        cum = [b["buckets"][k] - a["buckets"].get(k, 0.0) for k in les]
        n = cum[-1] if cum else 0.0
        def q(x):
            for k, c in zip(les, cum):
                if n and c >= x * n:
                    return "%g" % (float(k.split()[1]) * 1000)
            return "-"
        out += [q(0.5), q(0.99)]
    print(" ".join(out))
PY
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.readline()); print(' '.join(str(d[k]) for k in sys.argv[1:]))" "$@"; }

# 1. The broker's ceiling: publish as fast as it takes them, a plain subscriber counting.
read -r ceiling cp50 cp99 < <(taskset -c 1 "$LOAD" "$PORT" "$SOURCES" "$FEATURES" 0 "$SECONDS_EACH" 'sensors/#' | json received_per_s p50_delay_ms p99_delay_ms)
echo "broker ceiling (publisher -> subscriber alone): $ceiling msg/s (p50 $cp50 ms, p99 $cp99 ms)"
# The floor of any consumer's delay at the rates a Python consumer keeps up with: a C
# subscriber that does nothing (mosquitto_sub, QoS 1) on core 0, where the consumers run,
# stamping each message as it prints it. From the publisher on core 1, through the broker, to a
# process on the other core that was idle: the wake-up of that core is in it.
declare -A FLOOR_AT
SUB=$(command -v mosquitto_sub || true)
for rate in $RATES; do
  if [ -z "$SUB" ] || [ "$rate" -gt 5000 ]; then break; fi
  taskset -c 0 "$SUB" -p "$PORT" -h 127.0.0.1 -q 1 -t 'sensors/#' -F '%U %p' >"$WORK/floor.txt" &
  FLOOR_SUB=$!
  sleep 0.5
  taskset -c 1 "$LOAD" "$PORT" "$SOURCES" "$FEATURES" "$rate" "$SECONDS_EACH" 'none/#' 0 >/dev/null
  sleep 0.5
  kill "$FLOOR_SUB"; wait "$FLOOR_SUB" 2>/dev/null || true
  read -r fp50 fp99 < <(python3 -c '
import json, sys
d = sorted(float(l.split(" ", 1)[0]) - json.loads(l.split(" ", 1)[1])["ts"] for l in open(sys.argv[1]) if " " in l)
pick = lambda q: d[round((len(d) - 1) * q)] * 1000 if d else 0
print(f"{pick(0.5):.3f} {pick(0.99):.3f}")' "$WORK/floor.txt")
  FLOOR_AT[$rate]="$fp50 $fp99"
  echo "a subscriber that does nothing (mosquitto_sub on core 0) at $rate/s: p50 $fp50 ms, p99 $fp99 ms"
done
echo
printf '%-10s %-10s %-12s %-10s %-10s %-24s\n' side offered achieved "p50 ms" "p99 ms" "p50/p99 ms: in process; at the echo"

OURS_URL="http://127.0.0.1:$HTTP_PORT"
# Ours: the release binary on core 0 (extra settings as arguments), against a fresh broker.
start_ours() {
  fresh_broker
  env -i PATH="$PATH" SERVICE_HOST=127.0.0.1 SERVICE_PORT="$HTTP_PORT" LOG_LEVEL=warn MODEL_PATH="$WORK/model_f" \
    MQTT_URL="mqtt://127.0.0.1:$PORT" MQTT_CLIENT_ID=bench-ours "$@" \
    taskset -c 0 "$TARGET/release/model-serving" >>"$WORK/ours.log" 2>&1 &
  OURS=$!
  PIDS+=("$OURS")
  for _ in $(seq 100); do curl -fsS "$OURS_URL/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
}
# On core 1: a snapshot taken during a run must not take core 0 from the consumer (a Python
# start-up there delays tens of readings, enough to move ours's p99).
snapshot() { taskset -c 1 python3 "$WORK/hist.py" "$OURS_URL" >"$WORK/$1.json"; date +%s%N >"$WORK/$1.ns"; }
scored_between() { python3 "$WORK/hist.py" "$WORK/$1.json" "$WORK/$2.json" | cut -d' ' -f1; }
# Offers RATE readings/s (0: as fast as the broker takes them) with nothing listening; prints
# the offered rate, the rate scored from a second into the run to a second before its end (from
# the metrics), and the p50 and p99 delay of every reading of the run (when all are scored, at
# most 10 s later).
measure_quiet() {
  snapshot s0
  taskset -c 1 "$LOAD" "$PORT" "$SOURCES" "$FEATURES" "$1" "$SECONDS_EACH" 'none/#' 0 >"$WORK/load.json" &
  local loading=$!
  sleep 1
  snapshot s1
  sleep $((SECONDS_EACH - 2))
  snapshot s2
  wait "$loading"
  local published offered
  read -r published offered < <(json published publish_seconds <"$WORK/load.json" | awk '{ printf "%d %.0f\n", $1, $1 / $2 }')
  for _ in $(seq 100); do
    snapshot s3
    [ "$(scored_between s0 s3)" -lt "$published" ] || break
    sleep 0.1
  done
  local steady p50 p99 a50 a99
  steady=$(scored_between s1 s2)
  read -r _ p50 p99 a50 a99 < <(python3 "$WORK/hist.py" "$WORK/s0.json" "$WORK/s3.json")
  echo "$offered $(python3 -c "print(round($steady / (($(cat "$WORK/s2.ns") - $(cat "$WORK/s1.ns")) / 1e9)))") $p50 $p99 $a50 $a99"
}

# 2. Ours as the reference runs: publishing alerts only, the delay measured in its process.
declare -A OURS_AT REF_AT
ours_best=0
start_ours
for rate in $RATES; do
  read -r _ got p50 p99 a50 a99 < <(measure_quiet "$rate")
  printf '%-10s %-10s %-12s %-10s %-10s %-24s\n' ours "$rate" "$got" "<= $p50" "<= $p99" "<= $a50 / <= $a99"
  OURS_AT[$rate]="$p50 $p99"
  ours_best=$(python3 -c "print(max($ours_best, $got))")
  python3 -c "import sys; sys.exit(0 if $got >= 0.8 * $rate else 1)" || break
done
read -r offered quiet_rate _ _ _ _ < <(measure_quiet 0)
printf '%-10s %-10s %-12s (as fast as the broker takes them)\n' ours "$offered" "$quiet_rate"
ours_best=$(python3 -c "print(max($ours_best, $quiet_rate))")
kill "$OURS"; wait "$OURS" 2>/dev/null || true

# 2b. Ours publishing every score back (MQTT_SCORE_TOPIC): the broker carries each reading
# twice; the delay also where the score arrives at the load generator (end to end).
start_ours MQTT_SCORE_TOPIC='scores/{source}'
for rate in $RATES; do
  snapshot e0
  read -r got ep50 ep99 < <(taskset -c 1 "$LOAD" "$PORT" "$SOURCES" "$FEATURES" "$rate" "$SECONDS_EACH" 'scores/#' | json received_per_s p50_delay_ms p99_delay_ms)
  snapshot e1
  read -r _ p50 p99 _ _ < <(python3 "$WORK/hist.py" "$WORK/e0.json" "$WORK/e1.json")
  printf '%-10s %-10s %-12s %-10s %-10s %-24s\n' "ours+echo" "$rate" "$got" "<= $p50" "<= $p99" "$ep50 / $ep99"
  python3 -c "import sys; sys.exit(0 if $got >= 0.8 * $rate else 1)" || break
done
kill "$OURS"; wait "$OURS" 2>/dev/null || true
fresh_broker

# 3. The reference: mqtt_consumer.py on core 0, one thread, until it has every reading.
ref_best=0
ref_sustained=0
for rate in $RATES; do
  n=$((rate * SECONDS_EACH))
  # A fresh broker for each rate: the reference keeps a persistent session under a fixed client
  # id, and readings left in it by the last rate would arrive first and stretch its time.
  fresh_broker
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
# The delay target at every rate the reference sustained.
for rate in $RATES; do
  [ "$rate" -le "$ref_sustained" ] || break
  [ -n "${OURS_AT[$rate]:-}" ] || continue
  read -r op50 op99 <<<"${OURS_AT[$rate]}"
  read -r _ fp99 <<<"${FLOOR_AT[$rate]:-- -}"
  read -r rp50 rp99 <<<"${REF_AT[$rate]}"
  echo "delay at $rate/s (sustained by the reference), publish to score in the consumer: ours p50 <= $op50 / p99 <= $op99 ms, reference p50 $rp50 / p99 $rp99 ms; p99 ratio <= $(python3 -c "print(f'{$op99 / max($rp99, 1e-9):.2f}')") (target <= 0.2); the broker alone: p99 $fp99 ms"
done
