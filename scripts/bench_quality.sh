#!/usr/bin/env bash
# Detection quality on labelled data: `model-creation benchmark` over every folder holding
# train.csv, test.csv and labels.csv under DATA_DIR (default ../shared/data, the SKAB series):
# the defaults (or --params FILE) beside the Isolation Forest baseline, per series and mean
# ROC-AUC, PR-AUC and best F1. docs/quality.md has the measured tables.
# Usage: scripts/bench_quality.sh [DATA_DIR] [-- extra benchmark args, e.g. --params p.yaml --json q.json]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/../shared/data}"
shift || true
[ "${1:-}" = "--" ] && shift
if [ ! -d "$data" ]; then
  echo "no data at $data: give a directory of series folders (train.csv, test.csv, labels.csv each)" >&2
  exit 2
fi
cargo build -q -p model_creation --manifest-path "$root/Cargo.toml"
exec "$root/target/debug/model-creation" benchmark --data "$data" "$@"
