#!/usr/bin/env bash
# Tools the model_serving tests run as subprocesses (with CI=true a missing one fails the test):
#   promtool               Debian package `prometheus`   (/metrics is checked with `promtool check metrics`)
#   openapi-spec-validator PyPI                          (/openapi.json is validated)
#   schemathesis (st)      PyPI 4.32.5, in its own venv ($HOME/.venv-schemathesis, where
#                          tests/schemathesis.rs looks after SCHEMATHESIS_BIN and PATH): its
#                          dependencies stay apart from openapi-spec-validator's
#   chromium, chromedriver Debian packages `chromium`, `chromium-driver` (tests/ui.rs drives the
#                          live page in headless chromium over WebDriver)
#   mosquitto              Debian package `mosquitto` (tests/stream.rs starts its own broker on a
#                          free port; /usr/sbin is searched too)
#   openssl                Debian package `openssl` (tests/stream.rs makes a test CA and the TLS
#                          broker's certificate; usually present with ca-certificates)
# Idempotent: installs only what is missing, runs `apt-get update` at most once.
set -euo pipefail

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

packages=()
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || packages+=(mosquitto)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
if [ ${#packages[@]} -gt 0 ]; then
  echo "installing Debian packages: ${packages[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

if ! command -v openapi-spec-validator >/dev/null 2>&1 || ! openapi-spec-validator --version >/dev/null 2>&1; then
  echo "installing openapi-spec-validator (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi

st_venv=$HOME/.venv-schemathesis
if ! "$st_venv/bin/st" --version 2>/dev/null | grep -q '4\.32\.5'; then
  echo "installing schemathesis 4.32.5 (PyPI) into $st_venv"
  python3 -m venv "$st_venv"
  "$st_venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi

echo "promtool: $(promtool --version 2>&1 | head -n 1)"
echo "openapi-spec-validator: $(openapi-spec-validator --version 2>&1 | head -n 1)"
echo "chromedriver: $(chromedriver --version 2>&1 | head -n 1)"
echo "mosquitto: $( (command -v mosquitto || echo /usr/sbin/mosquitto) )"
echo "schemathesis: $("$st_venv/bin/st" --version 2>&1 | head -n 1)"
