#!/usr/bin/env bash
# Fuzzes the parsers of untrusted input (the cargo-fuzz targets in fuzz/): the CSV reader's fast
# and slow paths, the /compute JSON body, dvc.yaml/params.yaml/dvc.lock and CONFIG_FILE. Each
# target runs for the given time, one after the other, and a table of executions and crashes per
# target ends the output. Not part of .ci/run: it needs the nightly toolchain and cargo-fuzz.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 60 s, every target)
#   e.g. nice -n 15 scripts/fuzz.sh 600            every target for 10 minutes
#        scripts/fuzz.sh 30 csv_fast json_body
# Exit: 0 no crash, 1 a target crashed (or failed to run), 2 a tool is missing or bad usage.
#
# Seeds (small real inputs, committed) are in fuzz/seeds/<target>/ and copied into the working
# corpus fuzz/corpus/<target>/ before each run; the corpus grows across runs (gitignored).
# A crashing input is saved as fuzz/artifacts/<target>/crash-* (also oom-*, timeout-*); replay it
# with `cargo +nightly fuzz run --sanitizer none <target> <file>`. Every crash is a bug to fix in
# the library, with a regression test holding the input in that crate's tests/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

all_targets=(csv_fast csv_slow json_body dvc_files config_file)
seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "fuzz.sh: SECONDS_PER_TARGET must be a positive whole number, got '$seconds'" >&2
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]  (targets: ${all_targets[*]})" >&2
  exit 2
fi
shift $(( $# > 0 ? 1 : 0 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
    echo "fuzz.sh: no fuzz target '$t'; the targets are: ${all_targets[*]}" >&2
    exit 2
  fi
done

# The tools: cargo-fuzz drives libFuzzer through unstable compiler flags, so it needs a nightly
# toolchain (stable rejects -Z flags).
missing=0
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: the nightly Rust toolchain is missing; install it with: rustup toolchain install nightly" >&2
  missing=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is missing; install it with: cargo install cargo-fuzz --locked (about 2 minutes)" >&2
  missing=1
fi
[ "$missing" -eq 0 ] || exit 2

# --sanitizer none: the code under test is safe Rust (the few unsafe blocks of these crates,
# forward.rs's kernel and memory.rs's malloc_trim, are not on these paths), so AddressSanitizer
# would find nothing a panic does not, while it roughly halves the executions per second on the
# two shared cores and needs a second, instrumented build of every dependency. What is looked for
# is panics (slice indexing, overflow: the build keeps debug assertions and overflow checks),
# disagreements the targets assert, hangs (-timeout) and runaway memory (-rss_limit_mb).
sanitizer=none
echo "=== building the fuzz targets (cargo +nightly fuzz build --sanitizer $sanitizer)"
if ! cargo +nightly fuzz build --sanitizer "$sanitizer"; then
  echo "fuzz.sh: building the fuzz targets failed" >&2
  exit 1
fi

log_dir=fuzz/target/fuzz-logs
mkdir -p "$log_dir"
rows=()
failed=0
for t in "${targets[@]}"; do
  corpus=fuzz/corpus/$t
  artifacts=fuzz/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  cp -p fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  marker=$(mktemp)
  log=$log_dir/$t.log
  command=(cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" --
    -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1)
  echo "=== $t: ${command[*]} (log: $log)"
  started=$(date +%s)
  "${command[@]}" >"$log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - started ))
  # libFuzzer's own figures: executions and fuzzing seconds (without cargo's start-up).
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
  [ -n "$execs" ] || execs=0
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
  [ -n "$secs" ] || secs=$elapsed
  crashes=$(find "$artifacts" -type f -newer "$marker" | wc -l)
  rm -f "$marker"
  files=$(find "$corpus" -type f | wc -l)
  if [ "$crashes" -gt 0 ] || [ "$rc" -ne 0 ]; then
    failed=1
    echo "--- $t: exit $rc, $crashes new artifact(s) in $artifacts; end of the log:"
    tail -n 40 "$log"
  fi
  rows+=("$(printf '%-12s %12s %8s %10s %8s %8s %5s' "$t" "$execs" "$secs" \
    "$(( execs / (secs > 0 ? secs : 1) ))" "$crashes" "$files" "$rc")")
done

echo
echo "=== fuzzing summary ($seconds s per target, sanitizer $sanitizer)"
printf '%-12s %12s %8s %10s %8s %8s %5s\n' target executions seconds exec/s crashes corpus exit
printf '%s\n' "${rows[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: a target crashed or failed; see the artifacts and logs above" >&2
  exit 1
fi
