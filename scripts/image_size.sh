#!/usr/bin/env bash
# Serving image size (issue 6), measured with podman where no base image can be pulled: builds
# the static (musl, stripped) model-serving binary here with cargo, as the Dockerfile's builder
# stage does, then builds model_serving/Dockerfile's final stage (FROM scratch, taken from the
# Dockerfile itself so labels, user and environment are the real ones) around it, and prints
# the image size beside the reference.
#
# Needs: podman, musl-tools (x86_64-linux-musl-gcc, for aws-lc-sys) and
# `rustup target add x86_64-unknown-linux-musl`.
# Usage: scripts/image_size.sh [MODEL_DIR]   (MODEL_DIR: a trained model to bake in, optional)
set -euo pipefail
cd "$(dirname "$0")/.."
model_dir=${1:-}
command -v podman >/dev/null || { echo "podman is not installed: apt-get install podman" >&2; exit 1; }
command -v x86_64-linux-musl-gcc >/dev/null || { echo "musl-tools is not installed: apt-get install musl-tools" >&2; exit 1; }
target_dir=${CARGO_TARGET_DIR:-target}

CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build -q --release --locked --target x86_64-unknown-linux-musl -p model_serving --bin model-serving
bin="$target_dir/x86_64-unknown-linux-musl/release/model-serving"
file "$bin" | grep -q "static" || { echo "$bin is not statically linked" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/out/model" "$ctx/out/tmp" "$ctx/certs"
chmod 1777 "$ctx/out/tmp"
install -m 0755 "$bin" "$ctx/out/model-serving"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/certs/"
if [ -n "$model_dir" ]; then
  cp -a "$model_dir/." "$ctx/out/model/"
fi
# The final stage, reading from this context instead of the builder stage.
{
  sed -n '/^FROM scratch/,$p' model_serving/Dockerfile \
    | sed -e 's#COPY --from=builder /etc/ssl/certs/#COPY certs/#' -e 's#COPY --from=builder /out/#COPY out/#'
} >"$ctx/Containerfile"
if grep -q -- "--from=" "$ctx/Containerfile"; then
  echo "model_serving/Dockerfile's final stage copies something this script does not provide" >&2
  exit 1
fi

tag=localhost/ae-anomaly-detection-serving:size-check
podman build -q -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
bytes=$(podman image inspect "$tag" --format '{{.Size}}')
podman image rm -f "$tag" >/dev/null
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
echo "model-serving binary (musl, static, stripped): $(mb "$(stat -c %s "$bin")")"
echo "serving image (FROM scratch${model_dir:+, model baked in}): $(mb "$bytes")"
echo "reference: the original service's Python environment alone is 1.9 GB; target < 30 MB"
