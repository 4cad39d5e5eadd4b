#!/usr/bin/env bash
# Training speed side by side (issue 20): ours (burn, flex backend: the speed bench's BENCH_CASE
# mode, model_creation/benches/speed.rs) and, in the same run, the references of
# $ANCHORS_DIR (train_torch.py: PyTorch; train_keras.py: TensorFlow/Keras), same shape, batch,
# epochs (3) and rows (100,000), interleaved round by round (ROUNDS, default 2): first one thread
# each (RAYON_NUM_THREADS=1, --threads 1), then every side at every core. Each side's figure is
# its best epoch of the best round (the references' first epoch includes their warm-up; ours
# warms up before it times). Prints rows/s per side, the ratios, the CPU and its widest SIMD.
# Ours trains on the bench's own synthetic sines, the references on synth.py's data: the same
# shapes and sizes, so the same arithmetic.
#
# Needs the references' virtualenvs, made here when missing (~10 minutes, mostly downloads):
# ANCHORS_WORK/venv ($ANCHORS_DIR/requirements-torch.txt) and ANCHORS_WORK/venv-keras
# ($ANCHORS_DIR/requirements-keras.txt).
# Usage: scripts/bench_speed.sh            CASES="A:32" ROUNDS=1 scripts/bench_speed.sh
# The old full report (per-step split, batch 256, the serving kernel): SPEED_REPORT=1.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SPEED_REPORT:-}" ]; then
  RAYON_NUM_THREADS=1 exec cargo bench -q -p model_creation --bench speed
fi
ANCHORS_DIR=$(cd "${ANCHORS_DIR:-../shared/anchors}" && pwd)
ANCHORS_WORK=${ANCHORS_WORK:-$HOME/.cache/ae-anchors}
CASES=${CASES:-"A:32 B:512"}
ROUNDS=${ROUNDS:-2}
EPOCHS=3
ROWS=100000
CORES=$(nproc)

venv() {
  local dir=$1 requirements=$2 module=$3
  if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c "import $module" 2>/dev/null; then
    echo "creating $dir from $requirements (several minutes)" >&2
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q -r "$requirements" >&2
  fi
}
venv "$ANCHORS_WORK/venv" "$ANCHORS_DIR/requirements-torch.txt" torch
venv "$ANCHORS_WORK/venv-keras" "$ANCHORS_DIR/requirements-keras.txt" keras
cargo bench -q -p model_creation --bench speed --no-run 2>/dev/null

# The best epoch's rows/s of a reference's JSON lines.
best_epoch() { python3 -c '
import json, sys
rates = [d["rows_per_s"] for d in map(json.loads, (l for l in sys.stdin if l.startswith("{"))) if d.get("event") == "epoch"]
print(round(max(rates)) if rates else 0)'; }
ours() { # SHAPE BATCH THREADS ("" = every core)
  if [ -n "$3" ]; then
    BENCH_CASE="$1:$2" RAYON_NUM_THREADS=$3 cargo bench -q -p model_creation --bench speed
  else
    BENCH_CASE="$1:$2" cargo bench -q -p model_creation --bench speed
  fi | python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["best_rows_per_s"])'
}
# Their logs (TensorFlow's start-up notes) go to a file, not between the table's lines.
REF_LOG=${TMPDIR:-/tmp}/bench_speed_references.log
reference() { # PYTHON SCRIPT SHAPE BATCH THREADS
  (cd "$ANCHORS_DIR" && TF_CPP_MIN_LOG_LEVEL=2 "$1" "$2" --shape "$3" --batch "$4" --threads "$5" --epochs "$EPOCHS" \
    --rows "$ROWS" 2>>"$REF_LOG") | best_epoch
}

# shellcheck source=scripts/cpu_line.sh
. scripts/cpu_line.sh
cpu_line
echo "$ROWS rows, $EPOCHS epochs, best epoch of the best of $ROUNDS interleaved rounds; rows/s"
printf '\n%-6s %-6s %-8s %12s %12s %12s %10s %10s\n' shape batch threads ours PyTorch Keras "/PyTorch" "/Keras"
for threads in 1 "$CORES"; do
  for case in $CASES; do
    shape=${case%%:*}
    batch=${case##*:}
    o=0; t=0; k=0
    for _ in $(seq "$ROUNDS"); do
      if [ "$threads" = 1 ]; then r=$(ours "$shape" "$batch" 1); else r=$(ours "$shape" "$batch" ""); fi
      o=$(( r > o ? r : o ))
      r=$(reference "$ANCHORS_WORK/venv/bin/python" train_torch.py "$shape" "$batch" "$threads")
      t=$(( r > t ? r : t ))
      r=$(reference "$ANCHORS_WORK/venv-keras/bin/python" train_keras.py "$shape" "$batch" "$threads")
      k=$(( r > k ? r : k ))
    done
    label=$([ "$threads" = 1 ] && echo 1 || echo "all ($CORES)")
    printf '%-6s %-6s %-8s %12s %12s %12s %10s %10s\n' "$shape" "$batch" "$label" "$o" "$t" "$k" \
      "$(python3 -c "print(f'{$o / max($t, 1):.2f}x')")" "$(python3 -c "print(f'{$o / max($k, 1):.2f}x')")"
  done
done
echo
echo "targets (issue 20): one thread, shape A batch 32 >= 5x PyTorch, shape B batch 512 >= 1.2x Keras; every core: >= both references"
