#!/usr/bin/env bash
# Engine task load (issue 5), split out of the serving benchmark: ENGINE_TASKS (default 1,000)
# core-engine tasks of a 100-row CSV through /compute against an in-process S3, 503s retried;
# prints tasks/s end to end and checks that every accepted task got exactly one callback.
# Release build of the service, measured stripped as the image ships it.
# Usage: scripts/bench_engine.sh      ENGINE_TASKS=200 scripts/bench_engine.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cargo build -q --release -p model_serving --bin model-serving
SERVICE_BIN=$WORK/model-serving
strip -o "$SERVICE_BIN" "$TARGET/release/model-serving" 2>/dev/null || cp "$TARGET/release/model-serving" "$SERVICE_BIN"
# The inputs and the load driver are examples, built in the dev profile the tests already built.
cargo build -q -p model_serving --example bench_model --example engine_load
"$TARGET/debug/examples/bench_model" "$WORK" >/dev/null
"$TARGET/debug/examples/engine_load" "$SERVICE_BIN" "$WORK/model" "$WORK/body_100.csv" "${ENGINE_TASKS:-1000}"
