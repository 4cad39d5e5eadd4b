#!/usr/bin/env bash
# Installs the reference DVC (dvc[s3]==3.67.1 from PyPI) into a virtualenv for the
# dvc_pipeline compatibility tests. Idempotent: an existing venv with the right version is kept.
# Exports nothing; prints the dvc path on the last line (callers set DVC_BIN to it).
set -euo pipefail
VENV="${DVC_VENV:-${HOME}/.venv-dvc}"
WANT="3.67.1"
if [ -x "$VENV/bin/dvc" ] && [ "$("$VENV/bin/dvc" --version 2>/dev/null)" = "$WANT" ]; then
    echo "dvc $WANT already installed" >&2
else
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "dvc[s3]==$WANT"
fi
"$VENV/bin/dvc" --version >&2
echo "$VENV/bin/dvc"
