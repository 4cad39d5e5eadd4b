#!/usr/bin/env bash
# Tools of the source checks in .ci/run:
#   cargo-machete   crates.io   unused dependencies in every Cargo.toml (no build needed)
# Idempotent: installs only what is missing.
set -euo pipefail

if ! command -v cargo-machete >/dev/null 2>&1; then
  echo "installing cargo-machete 0.9.2 (crates.io)"
  cargo install --locked --quiet cargo-machete@0.9.2
fi
echo "cargo-machete: $(cargo machete --version 2>&1 | head -n 1)"
