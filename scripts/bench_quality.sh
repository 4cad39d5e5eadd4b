#!/usr/bin/env bash
# Detection quality on real labelled data: trains with default parameters on every series in
# ../shared/data (SKAB train/test/labels layout) and prints per-series and mean ROC-AUC and
# PR-AUC per row, beside the fixed references measured on the same splits.
# Usage: scripts/bench_quality.sh [DATA_DIR] [-- extra train args, e.g. --params p.yaml]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/../shared/data}"
shift || true
[ "${1:-}" = "--" ] && shift
if [ ! -d "$data" ]; then
  echo "no data at $data: this benchmark needs the SKAB series (train.csv, test.csv, labels.csv per folder)" >&2
  exit 2
fi
cargo build -q -p model_creation --manifest-path "$root/Cargo.toml"
bin="$root/target/debug/model-creation"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '%-16s %8s %8s %8s\n' series rows roc_auc pr_auc
for dir in "$data"/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/train.csv" ] || continue
  "$bin" train --data "$dir/train.csv" --out "$work/$name/model" --plots "$work/$name" "$@" 2>/dev/null
  "$bin" evaluate --model "$work/$name/model" --data "$dir/test.csv" --labels "$dir/labels.csv" \
    --out "$work/$name/eval" 2>/dev/null
  python3 - "$name" "$work/$name/eval/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[2]))
print(f"{sys.argv[1]:<16} {m['rows']:>8} {m['roc_auc']:>8.3f} {m['pr_auc']:>8.3f}")
PY
done | tee "$work/table.txt"
python3 - "$work/table.txt" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
roc = sum(float(r[2]) for r in rows) / len(rows)
pr = sum(float(r[3]) for r in rows) / len(rows)
print(f"{'mean':<16} {'':>8} {roc:>8.3f} {pr:>8.3f}")
print("references (same splits): IsolationForest .714 / .705, PyTorch AE (original shape) .694 / .722, random .512 / .541")
PY
