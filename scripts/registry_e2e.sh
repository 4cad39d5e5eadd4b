#!/usr/bin/env bash
# The closed training loop end to end on one machine, standing in for the cluster: the training
# pipeline (scripts/train_pipeline.sh, the Job's entrypoint) runs against a local DVC remote and
# a local model registry, with model-serving following the registry's champion:
#   1. a first training run publishes a version and promotes it (no champion yet);
#   2. model-serving, started on the registry, serves it;
#   3. a retrain with another seed publishes a second version and the gate decides: promoted
#      (the service switches with no restart; the time from promotion to the first response of
#      the new version is printed) or refused (exit 1 of the pipeline; the service keeps its
#      version);
#   4. `models rollback` moves the champion back, and the service follows.
# Prints each step and its figures; exits non-zero if any check fails.
#
# Usage: scripts/registry_e2e.sh   (builds model-creation and model-serving with the dev profile,
# which the tests already built)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
log() { echo "registry-e2e: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

cargo build -q -p model_creation --bin model-creation -p model_serving --bin model-serving
bin=${CARGO_TARGET_DIR:-$repo/target}/debug
export PATH="$bin:$PATH"

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The repository as the training image holds it: tracked and new files, no build outputs.
src=$work/src
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$src"
export DVC_REMOTE_URL=$work/dvc-remote MODEL_REGISTRY=$work/registry MODEL_NAME=ae-anomaly-detection
export WORKSPACE_SOURCE=$src
name=$MODEL_NAME

champion() { model-creation models alias get "$name@champion" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'; }

log "1. first training run (no champion yet)"
started=$(date +%s)
WORKSPACE=$work/run1 scripts/train_pipeline.sh || fail "the first run did not promote (exit $?)"
v1=$(champion)
log "   champion is $v1 after $(( $(date +%s) - started )) s"

log "2. model-serving follows $name@champion (MODEL_REFRESH_INTERVAL=1)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
SERVICE_HOST=127.0.0.1 SERVICE_PORT=$port MODEL_PATH=/nonexistent MODEL_REFRESH_INTERVAL=1 LOG_LEVEL=warn \
  model-serving &
server=$!
for _ in $(seq 1 200); do
  curl -fsS "$base/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/health/ready" >/dev/null || fail "model-serving is not ready"
csv=$work/run1/model_creation/data/test.csv
served() { curl -fsS -H 'Content-Type: text/csv' --data-binary "@$csv" "$base/compute" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["model_version"])'; }
[ "$(served)" = "$v1" ] || fail "the service does not serve $v1"
log "   serves $v1"

# Waits until the service answers with version $1; prints the seconds it took.
switch_time() {
  local want=$1 from
  from=$(date +%s.%N)
  for _ in $(seq 1 300); do
    if [ "$(served)" = "$want" ]; then
      python3 -c "import time; print(f'{time.time() - $from:.2f}')"
      return 0
    fi
    sleep 0.05
  done
  fail "the service did not switch to $want within 15 s"
}

log "3. retrain with another seed: publish, then the gate decides"
mkdir -p "$work/src2"
cp -R "$src/." "$work/src2/"
sed -i 's/^  seed: \([0-9]*\)$/  seed: 1\1/' "$work/src2/model_creation/params.yaml"
set +e
WORKSPACE_SOURCE=$work/src2 WORKSPACE=$work/run2 scripts/train_pipeline.sh
gate=$?
set -e
case $gate in
  0)
    v2=$(champion)
    [ "$v2" != "$v1" ] || fail "promoted, but the champion is still $v1"
    log "   promoted $v2; the service switched after $(switch_time "$v2") s, no restart (pid $server)"
    log "4. models rollback: champion back to $v1"
    model-creation models rollback "$name"
    log "   the service switched back after $(switch_time "$v1") s"
    ;;
  1)
    log "   refused (exit 1): the champion stays $(champion); the service still serves $(served)"
    log "4. models rollback: nothing to roll back to beyond $v1"
    ;;
  *) fail "the second run failed with exit $gate" ;;
esac
curl -fsS "$base/model" | python3 -c 'import json,sys; m=json.load(sys.stdin); print("registry-e2e: /model:", json.dumps({k: m[k] for k in ("name","version","alias","loaded_at","fallback","last_refresh")}))'
kill -0 "$server" || fail "model-serving is no longer running"
log "done: one service process ($server) served every version, with no restart"
