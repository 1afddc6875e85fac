#!/usr/bin/env bash
# SIMULATED jetson-containers: install python packages required for running build/autotag
# and link these scripts under /usr/local so they're in the path (as upstream's install.sh).
# Non-interactive.
set -ex

ROOT="$(dirname "$(readlink -f "$0")")"
INSTALL_PREFIX="${INSTALL_PREFIX:-/usr/local/bin}"  # simulator-only override, for tests without root

SUDO=sudo
if [ "$(id -u)" -eq 0 ] && ! command -v sudo >/dev/null; then
  SUDO=""  # root on a board without sudo: link directly
fi

# install package requirements. The simulated tools need only python3's standard library and the
# boards have no pip index, so requirements.txt lists nothing and pip is skipped.
if grep -qvE '^[[:space:]]*(#|$)' "$ROOT/requirements.txt"; then
  pip3 --version || $SUDO apt-get install -y python3-pip
  pip3 install -r "$ROOT/requirements.txt"
fi

# link scripts to path
$SUDO ln -sf "$ROOT/autotag" "$INSTALL_PREFIX/autotag"
$SUDO ln -sf "$ROOT/jetson-containers" "$INSTALL_PREFIX/jetson-containers"

# create a default env
if [ ! -f "${ROOT}/.env" ]; then
  cp "${ROOT}/.env.default" "${ROOT}/.env"
fi
