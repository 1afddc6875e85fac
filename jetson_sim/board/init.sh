#!/bin/bash
# PID 1 of a simulated board's fresh mount/uts/pid/cgroup namespaces (already inside its netns).
# Builds the board's root from its disk and boots the board's own systemd on it.
# args: NAME STATE_DIR LOWER   (STATE_DIR/disk is the board's ext4 disk: upper/ work/ docker/)
set -euo pipefail
name=$1 r=$2 lower=$3 d=$2/disk m=$2/merged
mount --make-rprivate /                       # nothing mounted here leaks to the host, or back
mkdir -p "$m"
mount -t overlay "board-$name" -o "lowerdir=$lower,upperdir=$d/upper,workdir=$d/work" "$m"
# overlay2 cannot sit on overlayfs: docker's data root is a plain directory of the same disk
mkdir -p "$m/var/lib/docker"; mount --bind "$d/docker" "$m/var/lib/docker"
if [ -d "$m/var/lib/jetson-sim/devicetree" ]; then   # Jetson profiles: an NVMe at /ssd, where jetson-containers'
  mkdir -p "$d/nvme" "$m/ssd"; mount --bind "$d/nvme" "$m/ssd"   # setup guide mounts it (not overlayfs: docker can use it)
fi
mount -t proc proc "$m/proc"
# MemTotal etc. of the profile; simtools rewrites this file in place as simulated memory is used
/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$m" /usr/local/bin/jetson-sim-meminfo
mount --bind "$m/var/lib/jetson-sim/meminfo" "$m/proc/meminfo"
mount -t sysfs sysfs "$m/sys"
if [ -d "$m/var/lib/jetson-sim/devicetree" ]; then    # Jetson profiles: the device tree the kernel exposes
  mount -t tmpfs -o mode=755,size=1m firmware "$m/sys/firmware"
  mkdir -p "$m/sys/firmware/devicetree"
  mount --bind -o ro "$m/var/lib/jetson-sim/devicetree" "$m/sys/firmware/devicetree"
fi
mount -t cgroup2 cgroup2 "$m/sys/fs/cgroup"   # rooted at the board's own cgroup (cgroup namespace)
mount -t tmpfs -o mode=755,size=64m dev "$m/dev"     # a minimal /dev, as container managers build it
for n in null zero full random urandom tty; do touch "$m/dev/$n"; mount --bind "/dev/$n" "$m/dev/$n"; done
mkdir -p "$m/dev/pts" "$m/dev/shm" "$m/dev/net"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$m/dev/pts"
ln -s pts/ptmx "$m/dev/ptmx"; ln -s /proc/self/fd "$m/dev/fd"
ln -s /proc/self/fd/0 "$m/dev/stdin"; ln -s /proc/self/fd/1 "$m/dev/stdout"; ln -s /proc/self/fd/2 "$m/dev/stderr"
touch "$m/dev/console"; : > "$r/console.log"; mount --bind "$r/console.log" "$m/dev/console"
mount -t tmpfs -o mode=1777 shm "$m/dev/shm"
mount -t tmpfs -o mode=755,nosuid,nodev run "$m/run"  # processes' runtime state dies with a reboot
# this boot's own uptime, target and (Jetson) swap table, kept by simtools.py: the host's would show through
mkdir -p "$m/run/jetson-sim"; date +%s.%N > "$m/run/jetson-sim/booted"
printf '0.00 0.00\n' > "$m/run/jetson-sim/uptime"; mount --bind "$m/run/jetson-sim/uptime" "$m/proc/uptime"
{ readlink "$m/etc/systemd/system/default.target" || true; } | sed 's|.*/||' > "$m/run/jetson-sim/boot-target"
if [ -d "$m/var/lib/jetson-sim/devicetree" ]; then
  printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' > "$m/run/jetson-sim/swaps"
  mount --bind "$m/run/jetson-sim/swaps" "$m/proc/swaps"
fi
hostname "$name"
mkdir -p "$m/.oldroot"; cd "$m"; pivot_root . .oldroot; cd /; umount -l /.oldroot; rmdir /.oldroot
export container=jetson-sim
exec /lib/systemd/systemd --log-target=console --show-status=no </dev/console >/dev/console 2>&1
