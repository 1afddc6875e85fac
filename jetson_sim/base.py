"""The base image every simulated board boots from: a debootstrap'd Debian minbase, built once and cached.

Never the host's own `/`: that leaks host tools (docker clients, CUDA, pyenv) into the boards, so a
check such as "is nvcc installed?" would pass on a board for the wrong reason.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

# What a board needs beyond minbase: sshd for the controller, python3 for the simulated tools and
# testinfra, systemd as init, a real dockerd (Debian's docker.io), git/curl for jetson-containers.
BASE_PACKAGES = (
    "openssh-server", "python3", "curl", "ca-certificates", "git", "iproute2", "procps",
    "systemd", "systemd-sysv", "dbus", "docker.io", "kmod", "less", "sudo", "iptables",
)
# Bump when the steps below change, so cached images are rebuilt.
RECIPE_VERSION = "2"

# Units a board never needs, or that cannot work inside a namespace.
MASKED_UNITS = (
    "console-getty.service", "getty@tty1.service", "apt-daily.timer", "apt-daily-upgrade.timer",
    "e2scrub_all.timer", "fstrim.timer", "systemd-timesyncd.service", "systemd-networkd-wait-online.service",
)
# docker comes up only on boards whose profile ships it (see seed.py), so bare boards boot light.
DISABLED_UNITS = ("docker.service", "docker.socket", "containerd.service")


def cache_dir() -> Path:
    return Path(os.environ.get("JETSON_SIM_CACHE", "/var/cache/jetson-sim"))


def host_suite() -> str:
    """Debian codename of the host (its mirror serves it)."""
    text = Path("/etc/os-release").read_text()
    match = re.search(r"^VERSION_CODENAME=(\S+)$", text, re.M)
    if not match:
        raise RuntimeError("cannot tell the Debian release from /etc/os-release")
    return match.group(1)


def host_mirror() -> str:
    """The Debian mirror the host's apt already uses (the only package source this machine reaches)."""
    if os.environ.get("JETSON_SIM_MIRROR"):
        return os.environ["JETSON_SIM_MIRROR"]
    candidates: list[str] = []
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in path.read_text().split("\n\n"):
            if re.search(r"^Suites:.*\b" + host_suite() + r"\b", stanza, re.M) and "security" not in stanza:
                match = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if match:
                    candidates.append(match.group(1))
    listfile = Path("/etc/apt/sources.list")
    if listfile.exists():
        for line in listfile.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and "security" not in line:
                candidates.append(parts[1] if not parts[1].startswith("[") else parts[2])
    if not candidates:
        raise RuntimeError("no Debian mirror found in the host's apt sources; set JETSON_SIM_MIRROR")
    return candidates[0]


def image_key() -> str:
    recipe = "\n".join([RECIPE_VERSION, host_suite(), *BASE_PACKAGES, *MASKED_UNITS, *DISABLED_UNITS])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def base_rootfs() -> Path:
    return cache_dir() / f"base-{image_key()}" / "rootfs"


def ensure_base(log=print) -> Path:
    """Return the cached base rootfs, building it first if needed (about a minute)."""
    rootfs = base_rootfs()
    if (rootfs.parent / "complete").exists():
        return rootfs
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    with open(rootfs.parent / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second builder waits, then finds it done
        if (rootfs.parent / "complete").exists():
            return rootfs
        _build(rootfs, log)
    return rootfs


def _build(rootfs: Path, log) -> None:
    tmp = rootfs.with_name("rootfs.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    started = time.monotonic()
    mirror = host_mirror()
    log(f"building the simulated-board base image in {rootfs.parent} (debootstrap {host_suite()})")
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES),
         host_suite(), str(tmp), mirror],
        check=True, stdout=subprocess.DEVNULL,
    )
    systemd_dir = tmp / "etc/systemd/system"
    for unit in MASKED_UNITS:
        link = systemd_dir / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    subprocess.run(["chroot", str(tmp), "systemctl", "disable", "--quiet", *DISABLED_UNITS], check=True)
    # per-board identity is written at `up`: no shared host keys or machine id in the image
    for key in (tmp / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (tmp / "etc/machine-id").write_text("")
    (tmp / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    # the apt sources a connected board would have; the simulated upstream points them at its proxy
    (tmp / "etc/apt/sources.list").write_text(f"deb {mirror} {host_suite()} main\n")
    subprocess.run(["chroot", str(tmp), "apt-get", "clean"], check=True)
    shutil.rmtree(tmp / "var/lib/apt/lists", ignore_errors=True)
    (tmp / "var/lib/apt/lists/partial").mkdir(parents=True)
    tmp.rename(rootfs)
    (rootfs.parent / "complete").write_text(f"built in {time.monotonic() - started:.0f}s\n")
    log(f"base image ready in {time.monotonic() - started:.0f}s")
