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
# shellcheck source=scripts/serving_image.sh disable=SC1091
. scripts/serving_image.sh

bin=$(serving_image_static_binary)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
serving_image_context "$ctx" "$bin" "$model_dir"

tag=localhost/ae-anomaly-detection-serving:size-check
serving_image_build "$ctx" "$tag"
bytes=$(podman image inspect "$tag" --format '{{.Size}}')
podman image rm -f "$tag" >/dev/null
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
echo "model-serving binary (musl, static, stripped): $(mb "$(stat -c %s "$bin")")"
echo "serving image (FROM scratch${model_dir:+, model baked in}): $(mb "$bytes")"
echo "reference: the original service's Python environment alone is 1.9 GB; target < 30 MB"
