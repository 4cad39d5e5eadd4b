#!/usr/bin/env bash
# Pipeline engine vs real dvc 3, side by side in the same run, on the same machine and the
# same S3 server (s3s-fs, in a local process):
#   status and no-op repro (2 stages; deps: a 50 MB file and a directory of 2,000 small files),
#   push / pull of the 2,003 objects, first-time md5 of the 50 MB file vs md5sum.
# Usage: DVC_BIN=/path/to/dvc scripts/bench_pipeline.sh   (builds in release first)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DVC=${DVC_BIN:-$(command -v dvc || echo "$HOME/.venv-dvc/bin/dvc")}
[ -x "$DVC" ] || { echo "real dvc not found: set DVC_BIN" >&2; exit 1; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# BENCH_PROFILE=dev needs no release build of burn: the dev profile builds dvc_pipeline,
# object_storage and every dependency at opt-level 3 (Cargo.toml), the code these figures time.
PROFILE=${BENCH_PROFILE:-release}
OUTDIR=$PROFILE; [ "$PROFILE" = dev ] && OUTDIR=debug
cargo build --quiet --profile "$PROFILE" -p model_creation --bin model-creation
cargo build --quiet --profile "$PROFILE" -p s3_test_server --bin s3-test-server
cargo build --quiet --profile "$PROFILE" -p dvc_pipeline --example md5_file
OURS=$CARGO_TARGET_DIR/$OUTDIR/model-creation
S3=$CARGO_TARGET_DIR/$OUTDIR/s3-test-server
MD5=$CARGO_TARGET_DIR/$OUTDIR/examples/md5_file
echo "profile: $PROFILE; dvc $("$DVC" --version) at $DVC; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
WORK=$(mktemp -d)
S3PID=""
cleanup() { [ -n "$S3PID" ] && kill "$S3PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
export DVC_NO_ANALYTICS=1 DVC_SITE_CACHE_DIR=$WORK/site-cache

now() { date +%s%N; }
# median wall time in ms of N runs of a command (output discarded)
time_ms() {
  local n=$1; shift
  local ts=()
  for _ in $(seq "$n"); do
    local s; s=$(now); "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; return 1; }; local e; e=$(now)
    ts+=($(( (e - s) / 1000000 )))
  done
  printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (n + 1) / 2 ))p"
}
row() { # name dvc_ms ours_ms
  awk -v n="$1" -v d="$2" -v o="$3" 'BEGIN { r = (o > 0) ? d / o : 0; printf "%-28s %10d ms %10d ms %8.1fx\n", n, d, o, r }'
}

make_ws() {
  mkdir -p "$1/data/small"
  head -c 50000000 /dev/urandom > "$1/data/big.bin"
  python3 - "$1/data/small" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(2000):
    with open(os.path.join(d, f"f{i:04d}.txt"), "w") as f:
        f.write(f"row {i}\n" * (1 + i % 50))
PY
  cat > "$1/dvc.yaml" <<'YAML'
stages:
  digest:
    cmd: md5sum data/big.bin > digest.txt
    deps:
    - data/big.bin
    outs:
    - digest.txt
  count:
    cmd: ls data/small | wc -l > count.json
    deps:
    - data/small
    - digest.txt
    metrics:
    - count.json:
        cache: false
YAML
}

echo "preparing workspaces in $WORK ..."
make_ws "$WORK/dvc"
cp -a "$WORK/dvc" "$WORK/ours"
(cd "$WORK/dvc" && "$DVC" init --no-scm -q && "$DVC" add -q data/big.bin data/small && "$DVC" repro -q >/dev/null)
(cd "$WORK/ours" && "$OURS" init >/dev/null && "$OURS" add data/big.bin data/small >/dev/null && "$OURS" repro >/dev/null)

printf '\n%-28s %13s %13s %9s\n' "operation" "dvc 3.67.1" "this engine" "speed-up"
D=$(cd "$WORK/dvc" && time_ms 5 "$DVC" status); O=$(cd "$WORK/ours" && time_ms 5 "$OURS" status); row "status (no changes)" "$D" "$O"
D=$(cd "$WORK/dvc" && time_ms 5 "$DVC" repro); O=$(cd "$WORK/ours" && time_ms 5 "$OURS" repro); row "repro (no-op)" "$D" "$O"

# first-time md5: a fresh copy of the 50 MB file, no hash state involved
cp "$WORK/dvc/data/big.bin" "$WORK/md5-input.bin"
M=$(time_ms 5 md5sum "$WORK/md5-input.bin"); O=$(time_ms 5 "$MD5" "$WORK/md5-input.bin")
awk -v m="$M" -v o="$O" 'BEGIN { printf "%-28s %10d ms %10d ms  ours at %.0f%% of md5sum speed (md5sum column)\n", "md5 of 50 MB (first time)", m, o, 100 * m / o }'

mkdir -p "$WORK/s3/bench"
"$S3" "$WORK/s3" 39517 bench-ak bench-sk > "$WORK/s3.log" 2>&1 &
S3PID=$!
for _ in $(seq 100); do grep -q ready "$WORK/s3.log" 2>/dev/null && break; sleep 0.05; done
for w in dvc ours; do
  tool=$DVC; [ $w = ours ] && tool=$OURS
  (cd "$WORK/$w" && "$tool" remote add -d s3r "s3://bench/$w" >/dev/null \
    && "$tool" remote modify s3r endpointurl http://127.0.0.1:39517 >/dev/null \
    && "$tool" remote modify --local s3r access_key_id bench-ak >/dev/null \
    && "$tool" remote modify --local s3r secret_access_key bench-sk >/dev/null)
done
D=$(cd "$WORK/dvc" && time_ms 1 "$DVC" push); O=$(cd "$WORK/ours" && time_ms 1 "$OURS" push)
echo "objects on the remote: dvc $(find "$WORK/s3/bench/dvc" -type f | wc -l), ours $(find "$WORK/s3/bench/ours" -type f | wc -l)"
row "push (2,003 objects)" "$D" "$O"
for w in dvc ours; do rm -rf "$WORK/$w/.dvc/cache" "$WORK/$w/data/big.bin" "$WORK/$w/data/small" "$WORK/$w/digest.txt"; done
D=$(cd "$WORK/dvc" && time_ms 1 "$DVC" pull); O=$(cd "$WORK/ours" && time_ms 1 "$OURS" pull)
row "pull (2,003 objects)" "$D" "$O"
cmp "$WORK/dvc/data/big.bin" "$WORK/ours/data/big.bin" && diff -r "$WORK/dvc/data/small" "$WORK/ours/data/small" && echo "pulled data identical"

