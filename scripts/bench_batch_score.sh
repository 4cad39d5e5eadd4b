#!/usr/bin/env bash
# Batch scoring side by side (issue 19): `model-creation batch-score` (release build) and, in the
# same run, on the same S3 server, $ANCHORS_DIR/batch_score.py (pandas + PyTorch + boto3), over
# FILES CSVs of ROWS rows x 32 columns (synth.py), interleaved round by round (ROUNDS, default
# 2), best round each: first one thread each (--threads 1, MATMUL_NUM_THREADS=1 for our sgemm),
# then every core (ours: --threads N files at once; the reference: --threads N for torch).
# The same network (32-16-16-32) and the same per-row arithmetic: our model is trained here with
# data.window=1 (one row per input, as the reference scores). Each side's time runs from its
# listing of the input to its last upload (ours: the shard manifest's `seconds`; the
# reference's own timer), model loading excluded on both. Also prints our peak memory for one
# file of ROWS rows and one of 10 x ROWS rows: it stays the same (files are read and scored a
# piece at a time).
#
# Needs the reference's virtualenv, made here when missing (several minutes, mostly downloads):
# ANCHORS_WORK/venv ($ANCHORS_DIR/requirements-torch.txt).
# Usage: scripts/bench_batch_score.sh         FILES=4 ROWS=20000 ROUNDS=1 scripts/bench_batch_score.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHORS_DIR=$(cd "${ANCHORS_DIR:-../shared/anchors}" && pwd)
ANCHORS_WORK=${ANCHORS_WORK:-$HOME/.cache/ae-anchors}
FILES=${FILES:-10}
ROWS=${ROWS:-100000}
ROUNDS=${ROUNDS:-2}
CORES=$(nproc)
PY=$ANCHORS_WORK/venv/bin/python
if [ ! -x "$PY" ] || ! "$PY" -c "import torch, pandas, boto3" 2>/dev/null; then
  echo "creating $ANCHORS_WORK/venv from $ANCHORS_DIR/requirements-torch.txt (several minutes)" >&2
  python3 -m venv "$ANCHORS_WORK/venv"
  "$ANCHORS_WORK/venv/bin/pip" install -q -r "$ANCHORS_DIR/requirements-torch.txt" >&2
fi
cargo build -q --release -p model_creation -p s3_test_server --bins
MC=$PWD/target/release/model-creation

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_REGION=us-east-1
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/s3/bucket" "$work/gen"
target/release/s3-test-server "$work/s3" "$port" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$work/server.log" 2>&1 &
server_pid=$!
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
for _ in $(seq 100); do grep -q ready "$work/server.log" && break; sleep 0.1; done

echo "preparing $FILES files of $ROWS rows x 32 columns, and both models" >&2
for i in $(seq "$FILES"); do
  "$PY" "$ANCHORS_DIR/synth.py" --rows "$ROWS" --d 32 --seed "$i" --out "$work/gen/part-$i.csv"
done
# Uploaded through S3 (boto3's multipart upload, as data arrives in a real bucket), so the server
# keeps each ETag rather than hashing the file again on every GET.
upload() { # FILE KEY
  "$PY" -c 'import boto3, os, sys
boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).upload_file(sys.argv[1], "bucket", sys.argv[2])' "$1" "$2"
}
for i in $(seq "$FILES"); do upload "$work/gen/part-$i.csv" "in/part-$i.csv"; done
"$PY" "$ANCHORS_DIR/synth.py" --rows 50000 --d 32 --seed 100 --out "$work/train.csv"
(cd "$ANCHORS_DIR" && "$PY" train_torch.py --shape A --rows 50000 --epochs 1 --threads "$CORES" --save "$work/model.pt" >/dev/null 2>&1)
(cd "$work" && "$MC" train --data train.csv --out model --plots plots --set data.window=1 --set 'model.hidden=[16,16]' \
  --set train.epochs=5 >/dev/null 2>&1)

ours() { # THREADS ROUND -> rows/s
  local out="s3://bucket/ours-$1-$2/"
  (cd "$work" && MATMUL_NUM_THREADS=$1 "$MC" batch-score --model model --input s3://bucket/in/ --output "$out" \
    --threads "$1" >/dev/null 2>>"$work/ours.log")
  python3 -c "import json, sys; m = json.load(open(sys.argv[1])); print(round(m['rows'] / m['seconds']))" \
    "$work/s3/bucket/ours-$1-$2/_manifests/shard-0000-of-0001.json"
}
reference() { # THREADS ROUND -> rows/s
  "$PY" "$ANCHORS_DIR/batch_score.py" --model "$work/model.pt" --endpoint "$AWS_ENDPOINT_URL" \
    --input s3://bucket/in/ --output "s3://bucket/ref-$1-$2/" --threads "$1" 2>>"$work/ref.log" |
    python3 -c 'import json, sys; print(round(json.loads(sys.stdin.readline())["rows_per_s"]))'
}
peak_kib() { # COMMAND... -> the child's peak resident memory in KiB
  python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
}

# shellcheck source=scripts/cpu_line.sh
. scripts/cpu_line.sh
cpu_line
echo "$FILES files x $ROWS rows x 32 columns on one local S3 server; best of $ROUNDS interleaved rounds; rows/s"
printf '\n%-10s %14s %16s %8s\n' threads ours "pandas+PyTorch" ratio
for threads in 1 "$CORES"; do
  o=0; r=0
  for round in $(seq "$ROUNDS"); do
    x=$(ours "$threads" "$round"); o=$(( x > o ? x : o ))
    x=$(reference "$threads" "$round"); r=$(( x > r ? x : r ))
  done
  label=$([ "$threads" = 1 ] && echo 1 || echo "all ($CORES)")
  printf '%-10s %14s %16s %8s\n' "$label" "$o" "$r" "$(python3 -c "print(f'{$o / max($r, 1):.1f}x')")"
done

# Bounded memory: one file of ROWS rows, then one of 10 x ROWS rows.
upload "$work/gen/part-1.csv" big-1/one.csv
one=$(cd "$work" && peak_kib "$MC" batch-score --model model --input s3://bucket/big-1/ --output s3://bucket/mem-1/ --threads 1)
{ cat "$work/gen/part-1.csv"; for _ in $(seq 9); do tail -n +2 "$work/gen/part-1.csv"; done; } >"$work/gen/ten.csv"
upload "$work/gen/ten.csv" big-10/ten.csv
ten=$(cd "$work" && peak_kib "$MC" batch-score --model model --input s3://bucket/big-10/ --output s3://bucket/mem-10/ --threads 1)
echo
echo "peak memory of ours, one file: $ROWS rows $((one / 1024)) MiB; $((10 * ROWS)) rows $((ten / 1024)) MiB"
echo "target (issue 19): one thread each, ours >= 10x the reference's rows/s"
