"""Tuning a Jetson board for Ollama (docs/facts.md section 3): the nvpmodel power mode chosen by name,
jetson_clocks at boot, the boot target (headless frees about 800 MB), zram, a swapfile and docker's
data root. Each reads the board's facts and changes only what differs."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from io import StringIO
from typing import Any

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.systemd import SystemdEnabled
from pyinfra.operations import files, systemd

from ..facts.docker import DockerDaemonJson
from ..facts.jetson import DefaultTarget
from ..facts.tuning import CurrentPowerMode, PowerModes, SwapFile, Swaps

CLOCKS_UNIT = "jetson-ollama-clocks.service"
CLOCKS_UNIT_PATH = f"/etc/systemd/system/{CLOCKS_UNIT}"
# jetson_clocks pins CPU, GPU and EMC clocks to the current power mode's maximum until the next boot
# (docs/facts.md section 3); nvpmodel.service sets the mode at boot, so the clocks are pinned after it
CLOCKS_UNIT_TEXT = """\
[Unit]
Description=Pin the Jetson clocks to the power mode's maximum (jetson_clocks), for Ollama
After=nvpmodel.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/jetson_clocks

[Install]
WantedBy=multi-user.target
"""
ZRAM_UNIT = "nvzramconfig.service"  # JetPack's zram swap, about 3.7 GiB on an Orin Nano (docs/facts.md section 3)
DOCKER_ROOT = "/var/lib/docker"
_PATH_RE = re.compile(r"/[A-Za-z0-9._+@/-]+")  # these paths go into fstab lines, sed and daemon.json
_SIZE_RE = re.compile(r"([1-9][0-9]*)([MG])")
_TARGET_RE = re.compile(r"[A-Za-z0-9:_.@-]+\.target")


def mode_named(modes: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    """The power mode of `modes` (the PowerModes fact's list) called `name`; OperationError naming
    the board's modes when there is none."""
    if not modes:
        raise OperationError("/etc/nvpmodel.conf lists no power modes (not a Jetson, or no nvpmodel)")
    for mode in modes:
        if mode["name"] == name:
            return mode
    names = ", ".join(f"{mode['name']} (id {mode['id']})" for mode in modes)
    raise OperationError(f"power mode {name!r} is not one of this board's: {names}")


def power_mode_needs_reboot(modes: Sequence[Mapping[str, Any]], current: int | None, name: str) -> bool:
    """Whether moving from mode id `current` to the mode `name` waits for a reboot: nvpmodel asks
    for one when the modes keep different CPU cores online (unverified: the facts file does not
    record nvpmodel's question; on the Orin Nano Super 7W keeps fewer cores than the others)."""
    wanted = mode_named(modes, name)
    now = next((mode for mode in modes if mode["id"] == current), None)
    if now is None or now["id"] == wanted["id"]:
        return False
    return None not in (now["cores_online"], wanted["cores_online"]) and now["cores_online"] != wanted["cores_online"]


def size_bytes(size: object) -> int:
    """``"8G"`` -> 8 GiB in bytes, as fallocate reads it; OperationError on anything else."""
    match = _SIZE_RE.fullmatch(size) if isinstance(size, str) else None
    if not match:
        raise OperationError(f"size must be a whole number of MiB or GiB like 512M or 8G, not {size!r}")
    return int(match[1]) * 1024 ** (2 if match[2] == "M" else 3)


def _check_path(what: str, path: str) -> None:
    if not isinstance(path, str) or not _PATH_RE.fullmatch(path) or posixpath.normpath(path) != path:
        raise OperationError(f"{what} must be a plain absolute path (letters, digits and . _ + @ - /), not {path!r}")


def check_swapfile(path: str, state: Mapping[str, Any], present: bool = True) -> None:
    """OperationError when the SwapFile fact's `state` of `path` forbids making (or removing) it:
    a file there that is not a swap area, or (to make it) no directory to hold it."""
    if state["size"] and not state["signature"]:
        raise OperationError(f"{path} exists and is not a swap area: remove it or choose another path")
    if present and not state["directory"]:
        raise OperationError(f"no directory {posixpath.dirname(path)} for the swapfile {path}: mount the NVMe "
                             "there first, or choose another path")


def check_data_root(path: str, config: Mapping[str, Any]) -> str:
    """The current data root of docker's daemon.json `config` (the DockerDaemonJson fact); OperationError
    when it does not parse, or when `path` and it hold one another."""
    if config.get("_invalid"):
        raise OperationError("/etc/docker/daemon.json does not parse; fix it by hand first")
    current = posixpath.normpath(config.get("data-root") or DOCKER_ROOT)
    if path != current and (path.startswith(current + "/") or current.startswith(path + "/") or path == "/"):
        raise OperationError(f"the data root {path} must not be inside the current one ({current}) nor hold it")
    return current


@operation()
def power_mode(mode: str):
    """
    Ensure the board runs the nvpmodel power mode called ``mode`` in its ``/etc/nvpmodel.conf``.

    + mode: the mode's NAME, e.g. ``MAXN_SUPER`` on an Orin Nano Super or ``MAXN`` on an AGX Orin

    Ids differ per board (MAXN_SUPER is id 2 on the Orin Nano Super, whose id 0 is 15W), so the
    mode is looked up by name, and a name the board does not have is refused with the board's
    modes. ``nvpmodel -m`` runs with nothing on its standard input: where the change waits for a
    reboot (``power_mode_needs_reboot``), nvpmodel's reboot question goes unanswered and the mode
    applies at the next boot. Facts section 3.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import tuning

        tuning.power_mode(
            name="Power mode MAXN_SUPER",
            mode="MAXN_SUPER",
            _sudo=True,
        )
    """
    if not isinstance(mode, str) or not mode:
        raise OperationError(f"mode must be a power mode name like MAXN_SUPER, not {mode!r}")
    wanted = mode_named(host.get_fact(PowerModes)["modes"], mode)
    if host.get_fact(CurrentPowerMode) == wanted["id"]:
        host.noop(f"power mode {mode} (id {wanted['id']}) already set")
        return
    yield StringCommand("nvpmodel", "-m", str(int(wanted["id"])), "</dev/null")


@operation()
def clocks_at_boot(present: bool = True):
    """
    Ensure a systemd unit runs ``jetson_clocks`` at every boot, and has run since this one.

    + present: whether the unit should exist; ``False`` disables and removes it (the clocks stay
      pinned until the next boot)

    ``jetson_clocks`` pins CPU, GPU and memory clocks to the maximum of the power mode in force
    (docs/facts.md section 3), which ``nvpmodel`` sets at boot; the unit runs after ``nvpmodel.service``.
    The unit is ``/etc/systemd/system/jetson-ollama-clocks.service``.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import tuning

        tuning.clocks_at_boot(
            name="jetson_clocks at boot",
            _sudo=True,
        )
    """
    if not isinstance(present, bool):
        raise OperationError(f"present must be True or False, not {present!r}")
    if present:
        written = list(files.put._inner(src=StringIO(CLOCKS_UNIT_TEXT), dest=CLOCKS_UNIT_PATH, mode="644"))
        yield from written
        yield from systemd.service._inner(service=CLOCKS_UNIT, running=True, enabled=True,
                                          daemon_reload=bool(written))
        return
    yield from systemd.service._inner(service=CLOCKS_UNIT, running=False, enabled=False)
    removed = list(files.file._inner(path=CLOCKS_UNIT_PATH, present=False))
    yield from removed
    if removed:
        yield from systemd.daemon_reload._inner()


@operation()
def default_target(target: str):
    """
    Ensure the systemd target the board boots into.

    + target: e.g. ``multi-user.target`` (headless) or ``graphical.target`` (JetPack's desktop)

    Headless frees about 800 MB of the memory CPU and GPU share (docs/facts.md section 3). The change applies
    at the next boot: the running desktop is left alone.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import tuning

        tuning.default_target(
            name="Boot headless",
            target="multi-user.target",
            _sudo=True,
        )
    """
    if not isinstance(target, str) or not _TARGET_RE.fullmatch(target):
        raise OperationError(f"target must be a systemd target like multi-user.target, not {target!r}")
    if host.get_fact(DefaultTarget) == target:
        host.noop(f"the board already boots {target}")
        return
    yield StringCommand("systemctl", "set-default", QuoteString(target))


@operation()
def zram_swap(enabled: bool):
    """
    Ensure JetPack's zram swap (``nvzramconfig``) is on or off.

    + enabled: ``False`` swaps off every ``/dev/zram*`` area now and disables ``nvzramconfig`` so
      none is made at the next boot; ``True`` enables it and, when no zram area is active, runs it

    An Orin Nano ships about 3.7 GiB of zram (docs/facts.md section 3): swap in compressed RAM, which a
    swapfile on NVMe replaces on 8 GB boards. Turned off, the zram devices themselves stay until
    the next boot.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import tuning

        tuning.zram_swap(
            name="zram swap off",
            enabled=False,
            _sudo=True,
        )
    """
    if not isinstance(enabled, bool):
        raise OperationError(f"enabled must be True or False, not {enabled!r}")
    zram = [swap["path"] for swap in host.get_fact(Swaps) if swap["path"].startswith("/dev/zram")]
    unit_enabled = host.get_fact(SystemdEnabled, services=[ZRAM_UNIT]).get(ZRAM_UNIT, False)
    if enabled == unit_enabled and enabled == bool(zram):
        host.noop(f"zram swap already {'on' if enabled else 'off'}")
        return
    if enabled:
        if not unit_enabled:
            yield StringCommand("systemctl", "enable", QuoteString(ZRAM_UNIT))
        if not zram:
            yield StringCommand("systemctl", "restart", QuoteString(ZRAM_UNIT))
        return
    for path in zram:
        yield StringCommand("swapoff", QuoteString(path))
    if unit_enabled:
        yield StringCommand("systemctl", "disable", QuoteString(ZRAM_UNIT))


@operation()
def swapfile(path: str, size: str | None = None, present: bool = True):
    """
    Ensure a swapfile of a given size is active and in ``/etc/fstab``, or gone.

    + path: the swapfile, e.g. ``/ssd/swapfile``; its directory must exist (an NVMe mount point)
    + size: its size, ``512M`` or ``8G`` (whole MiB or GiB); required when ``present``
    + present: whether the swapfile should exist and be active

    A swapfile on NVMe is the advice for 8 GB boards; swap on eMMC or SD is very slow (facts
    section 3). A swapfile of another size is swapped off and made again. A file at ``path`` that is
    not a swap area is never overwritten or removed: the operation refuses it. The fstab line is
    ``<path> none swap sw 0 0``; an existing line for the path is kept as it is.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import tuning

        tuning.swapfile(
            name="8 GB swapfile on the NVMe",
            path="/ssd/swapfile",
            size="8G",
            _sudo=True,
        )
    """
    _check_path("path", path)
    if not isinstance(present, bool):
        raise OperationError(f"present must be True or False, not {present!r}")
    wanted = size_bytes(size) if present or size is not None else None
    state = host.get_fact(SwapFile, path=path)
    active = path in [swap["path"] for swap in host.get_fact(Swaps)]
    quoted = QuoteString(path)
    check_swapfile(path, state, present)
    if not present:
        if not (active or state["fstab"] or state["size"] is not None):
            host.noop(f"no swapfile {path}")
            return
        if active:
            yield StringCommand("swapoff", quoted)
        if state["fstab"]:
            yield StringCommand("sed -i", QuoteString(r"\|^" + path.replace(".", r"\.") + r"[[:space:]]|d"),
                                "/etc/fstab")
        if state["size"] is not None:
            yield StringCommand("rm -f", quoted)
        return

    made = state["size"] == wanted and state["signature"]
    if made and active and state["fstab"]:
        host.noop(f"swapfile {path} of {size} already active")
        return
    if not made:
        if active:
            yield StringCommand("swapoff", quoted)
        yield StringCommand("rm -f", quoted, "&& fallocate -l", str(wanted), quoted, "&& chmod 600", quoted,
                            "&& mkswap", quoted)
    if not made or not active:
        yield StringCommand("swapon", quoted)
    if not state["fstab"]:
        yield StringCommand("echo", QuoteString(f"{path} none swap sw 0 0"), ">> /etc/fstab")


@operation()
def docker_data_root(path: str):
    """
    Ensure docker keeps its images and containers under ``path`` (daemon.json ``data-root``).

    + path: the new data root, e.g. ``/ssd/docker`` on an NVMe (docs/facts.md section 3)

    Docker is stopped, the current data root copied into ``path`` when ``path`` is empty (so the
    images and containers it holds, Ollama's included, come along and keep running), daemon.json
    rewritten with every other key kept, and docker started again. The old data root stays where it
    was, unused: remove it by hand. A ``path`` that already holds data is used as it is, without a copy.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import tuning

        tuning.docker_data_root(
            name="Docker data on the NVMe",
            path="/ssd/docker",
            _sudo=True,
        )
    """
    _check_path("path", path)
    config = host.get_fact(DockerDaemonJson).copy()
    current = check_data_root(path, config)
    if current == path:
        host.noop(f"docker already keeps its data in {path}")
        return
    wanted = dict(config, **{"data-root": path})
    yield StringCommand("systemctl stop docker.service")
    yield StringCommand("mkdir -p -m 710", QuoteString(path))
    yield StringCommand('if [ -z "$(ls -A', QuoteString(path), ')" ] && [ -d', QuoteString(current),
                        "]; then cp -a", QuoteString(current + "/."), QuoteString(path + "/"), "; fi")
    yield from files.put._inner(src=StringIO(json.dumps(wanted, indent=4) + "\n"), dest="/etc/docker/daemon.json",
                                mode="644")
    yield StringCommand("systemctl start docker.service")
