#!/usr/bin/env bash
# SIMULATED run.sh: pass-through to 'docker run' with the defaults upstream always adds (--runtime
# nvidia -it --rm --network host --shm-size=8g -v <root>/data:/data) before the user's options. So
# another `-v X:/data` fails with docker's `Duplicate mount point: /data`, and without a TTY docker
# answers `the input device is not a TTY`.
ROOT="$(dirname "$(readlink -f "$0")")"

# upstream mounts these unconditionally; here only when the board has them, else docker refuses
EXTRA=()
if [ -e /tmp/argus_socket ]; then
	EXTRA+=(--volume /tmp/argus_socket:/tmp/argus_socket)
fi
for dev in /dev/snd /dev/bus/usb /dev/video* /dev/i2c-*; do
	if [ -e "$dev" ]; then
		EXTRA+=(--device "$dev")
	fi
done

# check if sudo is needed (as upstream; also not when sudo is absent or DOCKER_HOST names the daemon)
if [ "$(id -u)" -eq 0 ] || id -nG | grep -qw docker || [ -n "$DOCKER_HOST" ] || ! command -v sudo >/dev/null; then
	SUDO=""
else
	SUDO="sudo"
fi

set -x
exec $SUDO docker run --runtime nvidia -it --rm --network host \
	--shm-size=8g \
	"${EXTRA[@]}" \
	-v "$ROOT/data:/data" \
	"$@"
