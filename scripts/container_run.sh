#!/usr/bin/env bash
# A real container run of the serving image (issue 14): builds model_serving/Dockerfile's final
# stage (FROM scratch, through scripts/serving_image.sh as scripts/image_size.sh does) around a
# model-serving binary with a model baked in, runs it with podman the way
# kubernetes/base/deployment.yaml runs it, and checks what a cluster would notice:
#   ready      GET /health/ready answers 200 within READY_TIMEOUT seconds (default 30)
#   scoring    POST /compute with a CSV of the model's columns answers 200 with one finite score
#              per row, and the row planted 50 standard deviations out is among the anomalies
#   identity   the container's process runs as the Dockerfile's USER, with no capability
#              (CapEff/CapPrm/CapBnd 0), no_new_privs and a seccomp filter (/proc/PID/status)
#   read-only  podman's ReadonlyRootfs is true and / is mounted ro in the process's namespace
#   SIGTERM    `podman stop --time 30` ends it with exit code 0, well before the SIGKILL
# As the manifests run it: read-only root with a 64 MiB tmpfs at /tmp (the emptyDir), the user
# and group 65532 (numeric, from the Dockerfile), --cap-drop=ALL, no-new-privileges, podman's
# default seccomp profile (RuntimeDefault), the container limits (memory, cpu) and the ConfigMap's
# environment, except ENGINE_URLS=[] (there is no core engine to announce to here). The service
# listens on its ConfigMap port inside, published on a free port of 127.0.0.1.
# The container and the image are removed on exit. Exits 0 only if every check passed, 1 if one
# failed, 2 if podman is missing.
#
# Usage: scripts/container_run.sh [--binary PATH] [MODEL_DIR]
#   --binary PATH  an already built model-serving (CI: target/debug/model-serving, its test
#                  build); a dynamically linked one gets exactly the shared libraries and the
#                  loader `ldd` lists, at the same paths. Default: the stripped release binary,
#                  built here as scripts/image_size.sh builds it (minutes the first time).
#   MODEL_DIR      the model to bake in (metadata.json + weights.safetensors). Default:
#                  model_creation/model when the pipeline has produced it, else the trained model
#                  kept in git, model_core/tests/fixtures/scoring/multivariate/model.
# Needs podman and runc, curl, python3. On the machines this was written on podman needs
# `--runtime runc` (crun refuses their hybrid cgroups) and explicit --ulimit values (raising the
# default limits is not permitted there); both are harmless elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
model_dir=""
while [ $# -gt 0 ]; do
  case $1 in
    --binary) binary=${2:?"--binary needs a path"}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 1 ;;
    *) model_dir=$1; shift ;;
  esac
done
ready_timeout=${READY_TIMEOUT:-30}
stop_timeout=30

for tool in podman runc; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool is not installed. Install podman and runc (Debian/Ubuntu):" >&2
    echo "  apt-get install -y --no-install-recommends podman runc   (or: bash .ci/install-container.sh)" >&2
    exit 2
  fi
done
if [ -z "$model_dir" ]; then
  model_dir=model_core/tests/fixtures/scoring/multivariate/model
  if [ -f model_creation/model/metadata.json ]; then model_dir=model_creation/model; fi
fi
# shellcheck source=scripts/serving_image.sh disable=SC1091
. scripts/serving_image.sh

work=$(mktemp -d)
tag=localhost/ae-anomaly-detection-serving:container-run-$$
name=ae-container-run-$$
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  podman image rm -f "$tag" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- the image ---------------------------------------------------------------------------------
if [ -z "$binary" ]; then
  echo "building the stripped release binary (as scripts/image_size.sh does)"
  binary=$(serving_image_release_binary)
  kind="release build"
else
  [ -x "$binary" ] || { echo "--binary $binary: no executable file there" >&2; exit 1; }
  kind="given with --binary"
fi
serving_image_context "$work/ctx" "$binary" "$model_dir"
if serving_image_is_static "$binary"; then
  kind="$kind, statically linked"
else
  libraries=$(find "$work/ctx/out/rootfs" -type f | wc -l)
  kind="$kind, dynamically linked: + the $libraries files ldd lists"
fi
serving_image_build "$work/ctx" "$tag" || { echo "podman build of the final stage failed (above)" >&2; exit 1; }
image_mb=$(podman image inspect "$tag" --format '{{.Size}}' | awk '{ printf "%.1f", $1 / 1e6 }')
user=$(podman image inspect "$tag" --format '{{.Config.User}}')
case $user in
  [0-9]*:[0-9]* | [0-9]*) ;;
  *) echo "the image's USER is '$user': the manifests' runAsNonRoot needs a numeric user" >&2; exit 1 ;;
esac
uid=${user%%:*}

# --- the run, as kubernetes/base runs it -------------------------------------------------------
# The ConfigMap's data (KEY: value lines, quotes removed), minus what is set here.
mapfile -t env_args < <(awk '
  /^data:/ { data = 1; next }
  data && /^[^ #]/ { data = 0 }
  data && /^  [A-Z_][A-Z0-9_]*: / {
    key = $1; sub(/:$/, "", key)
    value = $0; sub(/^  [A-Z_][A-Z0-9_]*: /, "", value)
    if (value ~ /^".*"$/ || value ~ /^\047.*\047$/) value = substr(value, 2, length(value) - 2)
    if (key != "ENGINE_URLS") print "--env=" key "=" value
  }' kubernetes/base/configmap.yaml)
[ ${#env_args[@]} -gt 0 ] || { echo "no data found in kubernetes/base/configmap.yaml" >&2; exit 1; }
container_port=$(printf '%s\n' "${env_args[@]}" | sed -n 's/^--env=SERVICE_PORT=//p')
container_port=${container_port:-9090}
# The serving container's limits (resources.limits in the Deployment).
read -r cpu_limit memory_limit < <(awk '
  /^ *limits:/ { limits = 1; next }
  limits && /cpu:/ { gsub(/"/, "", $2); cpu = $2 }
  limits && /memory:/ { memory = $2 }
  limits && cpu != "" && memory != "" { print cpu, memory; exit }' kubernetes/base/deployment.yaml)
[ -n "${memory_limit:-}" ] || { echo "no resources.limits (cpu, memory) in kubernetes/base/deployment.yaml" >&2; exit 1; }
memory=$(sed -e 's/Mi$/m/' -e 's/Gi$/g/' <<<"$memory_limit")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

tmpfs=/tmp:rw,nosuid,nodev,size=64m,mode=1777
run_args=(
  --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024
  --read-only --read-only-tmpfs=false --tmpfs "$tmpfs"
  --user "$user" --cap-drop=ALL --security-opt no-new-privileges
  --memory "$memory" --cpus "$cpu_limit"
  "${env_args[@]}" --env ENGINE_URLS='[]'
  -p "127.0.0.1:$port:$container_port"
)
echo "podman run ${run_args[*]} $tag"
started=$(now)
if ! podman run -d --name "$name" "${run_args[@]}" "$tag" >/dev/null; then
  echo "podman run failed (above): the container did not start" >&2
  exit 1
fi

failures=()
fail() { # fail CHECK MESSAGE: records the failure and shows the container's log
  failures+=("$1")
  echo "FAILED $1: $2" >&2
  echo "--- container log (last 40 lines)" >&2
  podman logs --tail 40 "$name" >&2 2>&1 || true
  echo "---" >&2
}
running() { [ "$(podman inspect "$name" --format '{{.State.Running}}' 2>/dev/null)" = true ]; }
summary() {
  echo "container run summary ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo "  binary     $binary ($kind)"
  echo "  image      $image_mb MB, model $model_dir"
  echo "  ready      ${ready_line:-not reached}"
  echo "  compute    ${compute_line:-not run}"
  echo "  identity   ${identity_line:-not checked}"
  echo "  read-only  ${readonly_line:-not checked}"
  echo "  limits     --memory $memory --cpus $cpu_limit, nofile 1024: ${limits_line:-not in the log}"
  echo "  SIGTERM    ${stop_line:-not run}"
  if [ ${#failures[@]} -eq 0 ]; then
    echo "container run: all checks passed"
  else
    echo "container run: FAILED: ${failures[*]}"
  fi
}

# --- ready ---------------------------------------------------------------------------------------
base="http://127.0.0.1:$port"
status=000
deadline=$(($(date +%s) + ready_timeout))
while [ "$(date +%s)" -lt "$deadline" ] && running; do
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/health/ready" || true)
  [ "$status" = 200 ] && break
  sleep 0.2
done
if [ "$status" != 200 ]; then
  if running; then
    fail ready "/health/ready answered $status, not 200, within ${ready_timeout}s"
  else
    fail ready "the container exited before it was ready (exit code $(podman inspect "$name" --format '{{.State.ExitCode}}'))"
  fi
  summary
  exit 1
fi
ready_line="/health/ready 200 after $(since "$started") s"

# --- scoring -------------------------------------------------------------------------------------
# Rows around the scaler means with one row 50 standard deviations out; every column the model
# names (its features and ignored columns), a timestamp in the ignored ones.
read -r rows outlier < <(python3 - "$model_dir/metadata.json" "$work/body.csv" <<'EOF'
import json, math, sys
meta = json.load(open(sys.argv[1]))
features, ignored = meta["features"], meta.get("ignored_columns", [])
mean, std = meta["scaler"]["mean"], meta["scaler"]["std"]
rows = max(40, 4 * meta.get("window", {}).get("length", 1))
outlier = rows // 2
with open(sys.argv[2], "w") as out:
    out.write(",".join(ignored + features) + "\n")
    for i in range(rows):
        stamp = [f"2025-02-12T{i // 60:02d}:{i % 60:02d}:00Z"] * len(ignored)
        k = [50.0 if i == outlier else 0.3 * math.sin(i + j) for j in range(len(features))]
        values = [f"{mean[j] + k[j] * std[j]:.4f}" for j in range(len(features))]
        out.write(",".join(stamp + values) + "\n")
print(rows, outlier)
EOF
)
status=$(curl -s -o "$work/report.json" -w '%{http_code}' --max-time 30 -H 'content-type: text/csv' \
  --data-binary "@$work/body.csv" "$base/compute" || true)
if [ "$status" != 200 ]; then
  fail compute "POST /compute with a $rows-row CSV answered $status, not 200: $(head -c 400 "$work/report.json" 2>/dev/null)"
elif ! verdict=$(python3 - "$work/report.json" "$rows" "$outlier" <<'EOF'
import json, math, sys
report, rows, outlier = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
scores = report.get("scores")
if not isinstance(scores, list) or len(scores) != rows or report.get("rows") != rows:
    sys.exit(f"expected {rows} rows and scores, got rows={report.get('rows')} and {len(scores or [])} scores")
if not all(isinstance(s, (int, float)) and math.isfinite(s) for s in scores):
    sys.exit("a score is not a finite number")
if outlier not in report.get("anomalies", []):
    sys.exit(f"row {outlier}, 50 standard deviations out, is not among the anomalies {report.get('anomalies')}")
print(f"{len(scores)} finite scores, anomalies {report['anomalies']} (planted: {outlier}), threshold {report['threshold']:.3f}")
EOF
); then
  fail compute "POST /compute answered 200 but the report is wrong: $verdict"
else
  compute_line="POST /compute 200: $verdict"
fi

# --- identity and read-only root -----------------------------------------------------------------
pid=$(podman inspect "$name" --format '{{.State.Pid}}')
# Rootless podman: read inside its user namespace, so the ids are the container's, not the host's.
proc_read=(cat)
if [ "$(podman info --format '{{.Host.Security.Rootless}}')" = true ]; then proc_read=(podman unshare cat); fi
if ! proc_status=$("${proc_read[@]}" "/proc/$pid/status") || ! mountinfo=$("${proc_read[@]}" "/proc/$pid/mountinfo"); then
  fail identity "cannot read /proc/$pid/status and mountinfo of the container's process"
else
  field() { awk -v f="$1:" '$1 == f { print $2 }' <<<"$proc_status"; }
  identity_line="uid $(field Uid) gid $(field Gid), CapEff $(field CapEff) CapPrm $(field CapPrm) CapBnd $(field CapBnd), NoNewPrivs $(field NoNewPrivs), Seccomp $(field Seccomp)"
  zero=0000000000000000
  if [ "$(field Uid)" != "$uid" ]; then
    fail identity "the process runs as uid $(field Uid), not the image's user $uid"
  elif [ "$(field CapEff)" != $zero ] || [ "$(field CapPrm)" != $zero ] || [ "$(field CapBnd)" != $zero ]; then
    fail identity "the process holds capabilities: $identity_line"
  elif [ "$(field NoNewPrivs)" != 1 ] || [ "$(field Seccomp)" != 2 ]; then
    fail identity "no_new_privs or the seccomp filter is missing: $identity_line"
  fi
  root_options=$(awk '$5 == "/" { print $6 }' <<<"$mountinfo" | tail -n 1)
  readonly_flag=$(podman inspect "$name" --format '{{.HostConfig.ReadonlyRootfs}}')
  readonly_line="ReadonlyRootfs $readonly_flag, / mounted ${root_options%%,*}"
  if [ "$readonly_flag" != true ] || [ "${root_options%%,*}" != ro ]; then
    fail read-only "the root filesystem is writable: $readonly_line"
  fi
fi

# What the service made of the limits (its effective configuration, logged at start).
limits_line=$(podman logs "$name" 2>&1 | grep -o -E '(memory_budget|max_connections): [A-Za-z]*\(?[0-9]*\)?' | head -n 2 | paste -s -d ' ' || true)

# --- SIGTERM -------------------------------------------------------------------------------------
stop_started=$(now)
podman stop --time "$stop_timeout" "$name" >/dev/null
stop_seconds=$(since "$stop_started")
exit_code=$(podman inspect "$name" --format '{{.State.ExitCode}}')
stop_line="podman stop --time $stop_timeout: exit code $exit_code after $stop_seconds s"
if [ "$exit_code" != 0 ]; then
  fail SIGTERM "the service exited with $exit_code on SIGTERM, not 0 (137: killed after ${stop_timeout}s)"
elif awk -v s="$stop_seconds" -v t="$stop_timeout" 'BEGIN { exit !(s >= t - 1) }'; then
  fail SIGTERM "the service took $stop_seconds s to stop, at the ${stop_timeout}s limit"
fi

summary
[ ${#failures[@]} -eq 0 ]
