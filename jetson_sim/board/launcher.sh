#!/bin/bash
# Power supply of one simulated board: joins the board's cgroup, then boots it; a board that asks
# to reboot (systemd exits 129) is booted again on the same disk.
# args: CGROUP_DIR NETNS NAME STATE_DIR LOWER
set -u
cg=$1 netns=$2 name=$3 r=$4 lower=$5
echo $$ > "$cg/cgroup.procs"
here=$(dirname "$(readlink -f "$0")")
while :; do
  nsenter --net="/run/netns/$netns" \
    unshare --mount --uts --pid --cgroup --fork --kill-child "$here/init.sh" "$name" "$r" "$lower"
  rc=$?
  [ "$rc" = 129 ] || exit "$rc"
done
