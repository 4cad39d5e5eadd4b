#!/usr/bin/env bash
# Runs the project's training pipeline end to end against an S3 remote (MinIO or AWS):
#   model-creation pull -> repro -> push -> models publish -> models promote
# The new model is published to the registry as a new version with its evaluation metrics, then
# promoted to the alias serving follows (champion) only if the gate finds it no worse than the
# current champion on the pipeline's held-out test data; services following the alias switch to
# it without a restart. The training image's entrypoint (Kubernetes Job/CronJob) and the train
# workflow both run it.
#
# Exit codes: 0 published and promoted; 1 published but promotion refused (final: the Job's
# podFailurePolicy does not retry it, and the champion keeps serving); 2 any other failure
# (worth a retry: the Job retries it up to its backoffLimit).
#
# Environment:
#   DVC_REMOTE_URL        required  s3://bucket/dvc: the DVC remote (data and pipeline cache)
#   MODEL_REGISTRY        required  s3://bucket/registry (or a local directory): the model registry
#   MODEL_NAME            optional  default: ae-anomaly-detection
#   MODEL_ALIAS           optional  default: champion (the alias promotion moves, serving follows)
#   PROMOTE_TOLERANCE     optional  default: 0.01 (how much worse ROC-AUC/PR-AUC may be)
#   AWS_ENDPOINT_URL      optional  S3-compatible endpoint (MinIO: http://minio:9000)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION: S3 credentials (from a Secret)
#   GIT_COMMIT            optional  recorded in the version's card
#   WORKSPACE_SOURCE      optional  a read-only copy of the repository to work on a copy of
#   WORKSPACE             optional  where to run; default: the repository this script is in
#   DVC_REMOTE_NAME       optional  default: training
set -euo pipefail

log() { echo "train-pipeline: $*" >&2; }
fail() { log "$*"; exit 2; }
# Every failure but a refused promotion is exit 2, which the Job retries.
trap 'log "failed (exit $?) at line $LINENO; a retry may succeed"; exit 2' ERR

: "${DVC_REMOTE_URL:?set DVC_REMOTE_URL to the DVC remote, e.g. s3://ae-anomaly/dvc}"
: "${MODEL_REGISTRY:?set MODEL_REGISTRY to the model registry, e.g. s3://ae-anomaly/registry}"
export MODEL_REGISTRY
name=${MODEL_NAME:-ae-anomaly-detection}
alias=${MODEL_ALIAS:-champion}
tolerance=${PROMOTE_TOLERANCE:-0.01}
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
(cd model_creation && model-creation pull --allow-missing)
log "repro"
(cd model_creation && model-creation repro)
log "push to $DVC_REMOTE_URL"
(cd model_creation && model-creation push)

log "publish to $MODEL_REGISTRY as $name"
# The new version is the last word of the output.
published=$(model-creation models publish --model model_creation/model --name "$name" \
  --metrics model_creation/evaluation/metrics.json)
version=${published##* }
log "published $name:$version"

log "promote $name:$version to $alias if it is no worse than the current one on the held-out test data"
trap - ERR
set +e
model-creation models promote "$name:$version" --to "$alias" --tolerance "$tolerance" \
  --data model_creation/data/test.csv --labels model_creation/data/labels.csv
gate=$?
set -e
case $gate in
  0) log "done: $name@$alias is $version; services following it switch within their MODEL_REFRESH_INTERVAL" ;;
  1) log "promotion refused: $name:$version stays published but $name@$alias is unchanged (see the figures above)"
     exit 1 ;;
  *) log "promotion failed with exit $gate (not a refusal); a retry may succeed"
     exit 2 ;;
esac
