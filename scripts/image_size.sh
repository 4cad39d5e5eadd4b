#!/usr/bin/env bash
# Serving image size (issue 6), measured with podman where no base image can be pulled: builds
# the stripped glibc model-serving binary here with cargo, as the Dockerfile's builder stage
# does, then builds model_serving/Dockerfile's final stage (FROM scratch, taken from the
# Dockerfile itself so labels, user and environment are the real ones) around it and the shared
# libraries it links, and prints the image size beside the reference.
#
# Needs: podman.
# Usage: scripts/image_size.sh [MODEL_DIR]   (MODEL_DIR: a trained model to bake in, optional)
set -euo pipefail
cd "$(dirname "$0")/.."
model_dir=${1:-}
command -v podman >/dev/null || { echo "podman is not installed: apt-get install podman" >&2; exit 1; }
# shellcheck source=scripts/serving_image.sh disable=SC1091
. scripts/serving_image.sh

bin=$(serving_image_release_binary)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
serving_image_context "$ctx" "$bin" "$model_dir"

tag=localhost/ae-anomaly-detection-serving:size-check
serving_image_build "$ctx" "$tag"
bytes=$(podman image inspect "$tag" --format '{{.Size}}')
podman image rm -f "$tag" >/dev/null
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
echo "model-serving binary (glibc, stripped): $(mb "$(stat -c %s "$bin")")"
echo "its shared libraries and loader: $(mb "$(find "$ctx/out/rootfs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')")"
echo "serving image (FROM scratch${model_dir:+, model baked in}): $(mb "$bytes")"
echo "reference: the original service's Python environment alone is 1.9 GB; target < 30 MB"
