#!/bin/bash
# Installs what the demo and the tests need on a fresh Debian machine (run as root); idempotent.
#   apt packages for the simulated boards, the project venv in .venv, the cached board base image.
set -euo pipefail
cd "$(dirname "$0")/.."
APT=(debootstrap iproute2 openssh-client e2fsprogs util-linux mount git ca-certificates curl python3 python3-venv
     docker-registry apt-cacher-ng    # these two serve the boards' simulated upstream
     iptables                         # `python -m jetson_sim internet BOARD off` cuts a board from it
     zstd                             # the simulated github.com packs Ollama's .tar.zst releases (0.14+)
     chromium)                        # the fleet report's page is checked in a headless browser
missing=()
for pkg in "${APT[@]}"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  # no package may start its service here (a system registry or apt proxy would hold the ports the
  # simulator binds on its bridges): a policy-rc.d for the duration of the install, unless one exists
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"
  [ -z "$policy" ] || rm -f "$policy"
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/python -m jetson_sim base >/dev/null   # debootstrap once (~2 min), then cached
