#!/usr/bin/env bash
# Detection quality of the isolation_forest crate against scikit-learn's IsolationForest (the
# reference, ../shared/anchors/isoforest.py) on every labelled SKAB series: both fit train.csv
# with 100 trees and max_samples 256 for each seed, score test.csv, and this prints per-series
# mean ROC-AUC over the seeds and the mean difference (ours - sklearn). The two use different
# random generators, so single scores differ; the quality should not (acceptance: |diff| < 0.02).
# Usage: scripts/iforest_vs_sklearn.sh [DATA_DIR]   (env: PY, ANCHORS, SEEDS="0 1 2 3 4")
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/../shared/data}"
py="${PY:-$root/../venv-sk/bin/python}"
anchors="${ANCHORS:-$root/../shared/anchors}"
seeds="${SEEDS:-0 1 2 3 4}"
if [ ! -d "$data" ] || [ ! -x "$py" ] || [ ! -f "$anchors/isoforest.py" ]; then
  echo "needs the SKAB series in $data, a Python with scikit-learn at $py and $anchors/isoforest.py" >&2
  exit 2
fi
cargo build -q -p isolation_forest --example score_csv --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/debug/examples/score_csv"
read -r -a seed_list <<<"$seeds"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for dir in "$data"/*/; do
  [ -f "$dir/labels.csv" ] || continue
  name="$(basename "$dir")"
  for seed in "${seed_list[@]}"; do
    "$bin" "$dir/train.csv" "$dir/test.csv" "$seed" 100 256 >"$work/$name.ours.$seed" 2>/dev/null
    "$py" "$anchors/isoforest.py" --train "$dir/train.csv" --test "$dir/test.csv" --labels "$dir/labels.csv" \
      --n-estimators 100 --max-samples 256 --seed "$seed" --jobs 1 --repeat 1 >"$work/$name.sk.$seed"
  done
done
"$py" - "$work" "$data" "$anchors" "${seed_list[@]}" <<'PYEOF'
import glob, json, os, sys
import numpy as np
work, data, anchors, seeds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
sys.path.insert(0, anchors)
from common import roc_auc  # the same AUC isoforest.py reports

print(f"{'series':<16} {'ours':>8} {'sklearn':>8} {'diff':>8}")
rows = []
for d in sorted(glob.glob(os.path.join(data, "*", "labels.csv"))):
    name = os.path.basename(os.path.dirname(d))
    labels = np.loadtxt(d, skiprows=1)
    ours = [roc_auc(labels, np.loadtxt(os.path.join(work, f"{name}.ours.{s}"))) for s in seeds]
    sk = []
    for s in seeds:
        with open(os.path.join(work, f"{name}.sk.{s}")) as f:
            summary = [json.loads(l) for l in f if '"summary"' in l][-1]
        sk.append(summary["roc_auc"])
    o, k = float(np.mean(ours)), float(np.mean(sk))
    rows.append((o, k))
    print(f"{name:<16} {o:8.4f} {k:8.4f} {o - k:+8.4f}")
o = np.mean([r[0] for r in rows]); k = np.mean([r[1] for r in rows])
print(f"{'mean':<16} {o:8.4f} {k:8.4f} {o - k:+8.4f}   ({len(rows)} series, seeds {' '.join(seeds)})")
PYEOF
