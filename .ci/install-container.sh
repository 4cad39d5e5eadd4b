#!/usr/bin/env bash
# Tools of the container run in .ci/run (scripts/container_run.sh, the serving image run as the
# manifests run it):
#   podman   Debian package   builds the FROM scratch final stage (no base image to pull) and runs it
#   runc     Debian package   the OCI runtime the script asks for (crun, podman's default, refuses
#                             hybrid cgroup setups such as CI containers')
# Idempotent: installs only what is missing, runs `apt-get update` at most once.
set -euo pipefail

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  echo "installing podman and runc (Debian packages)"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc >/dev/null
fi

echo "podman: $(podman --version 2>&1 | head -n 1)"
echo "runc: $(runc --version 2>&1 | head -n 1)"
