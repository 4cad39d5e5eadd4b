#!/usr/bin/env bash
# Group training (issue 19): N_GROUPS machines (default 100) of the simulated fleet, one model each
# (`data.group_by=machine`, the defaults otherwise), trained one after another
# (RAYON_NUM_THREADS=1: one worker, one thread) and then on every core (the default: a worker
# per core), best of ROUNDS (default 2) each; prints both times, the speedup, the CPU, and
# checks that both runs wrote the same model set.
# Usage: scripts/bench_groups.sh            N_GROUPS=20 ROUNDS=1 scripts/bench_groups.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N_GROUPS=${N_GROUPS:-100}
ROUNDS=${ROUNDS:-2}
cargo build -q --release -p model_creation
MC=$PWD/target/release/model-creation
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$MC" simulate --out "$work/fleet" --machines "$N_GROUPS" >/dev/null 2>&1

run() { # OUT [RAYON_NUM_THREADS] -> seconds
  local start end
  start=$(date +%s.%N)
  if [ -n "${2:-}" ]; then
    RAYON_NUM_THREADS=$2 "$MC" train --data "$work/fleet/train.csv" --out "$work/$1" --plots "$work/plots-$1" \
      --set data.group_by=machine >/dev/null 2>&1
  else
    "$MC" train --data "$work/fleet/train.csv" --out "$work/$1" --plots "$work/plots-$1" \
      --set data.group_by=machine >/dev/null 2>&1
  fi
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.2f}')"
}
best() { python3 -c "import sys; print(min(float(x) for x in sys.argv[1:]))" "$@"; }

# shellcheck source=scripts/cpu_line.sh
. scripts/cpu_line.sh
cpu_line
seq_times=(); par_times=()
for round in $(seq "$ROUNDS"); do
  seq_times+=("$(run "seq-$round" 1)")
  par_times+=("$(run "par-$round")")
done
cmp -s "$work/seq-1/set.json" "$work/par-1/set.json" || { echo "the two runs wrote different model sets" >&2; exit 1; }
s=$(best "${seq_times[@]}"); p=$(best "${par_times[@]}")
rows=$(($(wc -l <"$work/fleet/train.csv") - 1))
echo "$N_GROUPS groups, $rows training rows; best of $ROUNDS rounds"
echo "one after another: ${s}s   every core ($(nproc)): ${p}s   speedup $(python3 -c "print(f'{$s / $p:.2f}x')")"
echo "target (issue 19): >= 1.7x; the same model set either way: yes"
