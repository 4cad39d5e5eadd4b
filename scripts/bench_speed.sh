#!/usr/bin/env bash
# Training and inference speed (issue 2), one thread, release build; prints figures beside the
# fixed PyTorch/Keras references measured on this machine kind.
set -euo pipefail
cd "$(dirname "$0")/.."
RAYON_NUM_THREADS=1 cargo bench -q -p model_creation --bench speed
