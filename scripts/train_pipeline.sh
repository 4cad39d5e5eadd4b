#!/usr/bin/env bash
# Runs the project's training pipeline end to end against an S3 remote (MinIO or AWS):
#   model-creation pull -> repro -> push -> publish
# The training image's entrypoint (Kubernetes Job/CronJob) and the train workflow both run it.
#
# Environment:
#   DVC_REMOTE_URL        required  s3://bucket/dvc: the DVC remote (data and pipeline cache)
#   MODEL_PUBLISH_PREFIX  required  s3://bucket/models/<name>/: models go to <prefix><version>/
#   MODEL_VERSION         optional  default: UTC time stamp, e.g. 20261123T150000Z
#   PUBLISH_LATEST        optional  "true" (default) also publishes to <prefix>latest/
#   AWS_ENDPOINT_URL      optional  S3-compatible endpoint (MinIO: http://minio:9000)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION: S3 credentials (from a Secret)
#   WORKSPACE_SOURCE      optional  a read-only copy of the repository to work on a copy of
#   WORKSPACE             optional  where to run; default: the repository this script is in
#   DVC_REMOTE_NAME       optional  default: training
set -euo pipefail

log() { echo "train-pipeline: $*" >&2; }
fail() { log "$*"; exit 1; }

: "${DVC_REMOTE_URL:?set DVC_REMOTE_URL to the DVC remote, e.g. s3://ae-anomaly/dvc}"
: "${MODEL_PUBLISH_PREFIX:?set MODEL_PUBLISH_PREFIX to where models are published, e.g. s3://ae-anomaly/models/ae-anomaly-detection/}"
case "$MODEL_PUBLISH_PREFIX" in
  s3://*/) ;;
  s3://*) MODEL_PUBLISH_PREFIX="$MODEL_PUBLISH_PREFIX/" ;;
  *) fail "MODEL_PUBLISH_PREFIX=$MODEL_PUBLISH_PREFIX: expected s3://bucket/prefix/" ;;
esac
version=${MODEL_VERSION:-$(date -u +%Y%m%dT%H%M%SZ)}
remote=${DVC_REMOTE_NAME:-training}
command -v model-creation >/dev/null 2>&1 || fail "model-creation is not on PATH (cargo install --path model_creation)"

# The image holds the repository read-only; the pipeline writes outputs, dvc.lock and the cache.
if [ -n "${WORKSPACE_SOURCE:-}" ]; then
  workspace=${WORKSPACE:-/work/repo}
  mkdir -p "$workspace"
  # Not -a: ownership cannot be kept by an unprivileged user, and the copy must be writable.
  cp -R --preserve=timestamps "$WORKSPACE_SOURCE/." "$workspace/"
else
  workspace=${WORKSPACE:-$(cd "$(dirname "$0")/.." && pwd)}
fi
cd "$workspace"
[ -f model_creation/dvc.yaml ] || fail "$workspace has no model_creation/dvc.yaml; set WORKSPACE to the repository root"

[ -d .dvc ] || model-creation init
# config.local: this machine's remote, never committed; -f makes a rerun replace it.
model-creation remote add --local -d -f "$remote" "$DVC_REMOTE_URL"
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  model-creation remote modify --local "$remote" endpointurl "$AWS_ENDPOINT_URL"
fi

log "pull from $DVC_REMOTE_URL"
# Objects the remote lacks (first run) are only warned about; repro rebuilds those stages.
# A failure here is real (credentials, endpoint, bucket) and stops the run.
(cd model_creation && model-creation pull)
log "repro"
(cd model_creation && model-creation repro)
log "push to $DVC_REMOTE_URL"
(cd model_creation && model-creation push)

log "publish version $version to $MODEL_PUBLISH_PREFIX$version/"
model-creation publish --model model_creation/model --to "$MODEL_PUBLISH_PREFIX$version/"
if [ "${PUBLISH_LATEST:-true}" = "true" ]; then
  model-creation publish --force --model model_creation/model --to "${MODEL_PUBLISH_PREFIX}latest/"
fi
log "done: MODEL_URI=$MODEL_PUBLISH_PREFIX$version/ (and ${MODEL_PUBLISH_PREFIX}latest/)"
