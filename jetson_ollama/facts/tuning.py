"""Facts for tuning a Jetson board (docs/facts.md section 3): its nvpmodel power modes and the current one,
the active swap areas (zram and swapfiles) and the state of one swapfile.

Every command succeeds on any Linux host; a host without the file or tool yields the fact's default.
"""

from __future__ import annotations

import posixpath
import re

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import TypedDict, override


class PowerModeDict(TypedDict):
    id: int
    name: str
    cores_online: int | None  # CPU cores the mode keeps online; None when the conf does not say


class PowerModesDict(TypedDict):
    modes: list[PowerModeDict]
    default: int | None


_BLOCK_RE = re.compile(r"<\s*(\w+)\s+(.*?)\s*>")


class PowerModes(FactBase[PowerModesDict]):
    """
    Returns the power modes of ``/etc/nvpmodel.conf``, one per ``< POWER_MODEL ID=n NAME=... >``
    block, with the CPU cores each keeps online (its ``CPU_ONLINE CORE_i 1`` lines), and the
    ``< PM_CONFIG DEFAULT=n >`` id. Ids differ per board (the Orin Nano Super's MAXN_SUPER is 2, an
    AGX Orin's MAXN is 0), so modes are chosen by name. ``{"modes": [], "default": None}`` without
    the file. Facts section 3.
    """

    @override
    def command(self) -> str:
        # only the block headers and the CPU_ONLINE lines: the clock tables are long and not needed
        return r"grep -E '^[[:space:]]*(<|CPU_ONLINE)' /etc/nvpmodel.conf 2>/dev/null || true"

    @staticmethod
    def default() -> PowerModesDict:
        return {"modes": [], "default": None}

    @override
    def process(self, output: list[str]) -> PowerModesDict:
        modes: list[PowerModeDict] = []
        default: int | None = None
        current: PowerModeDict | None = None
        for line in output:
            if block := _BLOCK_RE.match(line.strip()):
                fields = dict(re.findall(r"(\w+)=(\S+)", block[2]))
                current = None
                if block[1] == "POWER_MODEL" and fields.get("ID", "").isdigit() and fields.get("NAME"):
                    current = {"id": int(fields["ID"]), "name": fields["NAME"], "cores_online": None}
                    modes.append(current)
                elif block[1] == "PM_CONFIG" and fields.get("DEFAULT", "").isdigit():
                    default = int(fields["DEFAULT"])
            elif current is not None and (words := line.split())[:1] == ["CPU_ONLINE"] and len(words) == 3:
                current["cores_online"] = (current["cores_online"] or 0) + (words[2] == "1")
        return {"modes": modes, "default": default}


_STATUS_RE = re.compile(r"pmode:(\d+)")


class CurrentPowerMode(FactBase[int | None]):
    """
    Returns the id of the board's power mode: ``/var/lib/nvpmodel/status`` (``pmode:0002``), else the
    id line of ``nvpmodel -q`` (``NV Power Mode: MAXN_SUPER`` then ``2``); ``None`` on anything but a
    Jetson. Facts section 3.
    """

    @override
    def command(self) -> str:
        return "cat /var/lib/nvpmodel/status 2>/dev/null || nvpmodel -q 2>/dev/null || true"

    @override
    def process(self, output: list[str]) -> int | None:
        for line in output:
            if match := _STATUS_RE.search(line):
                return int(match[1])
        for line in output:
            if line.strip().isdigit():
                return int(line.strip())
        return None


class SwapDict(TypedDict):
    path: str
    type: str        # "partition" (zram, disks) or "file"
    size_kb: int
    used_kb: int
    priority: int


class Swaps(FactBase[list[SwapDict]]):
    """
    Returns the active swap areas of ``/proc/swaps``: ``path`` (``/dev/zram0`` for each of the zram
    devices JetPack's ``nvzramconfig`` makes, about 3.7 GiB in all on an Orin Nano; a swapfile's
    path), ``type``, ``size_kb``, ``used_kb``, ``priority``. ``[]`` without swap. Facts section 3.
    """

    @override
    def command(self) -> str:
        return "cat /proc/swaps 2>/dev/null || true"

    @staticmethod
    def default() -> list[SwapDict]:
        return []

    @override
    def process(self, output: list[str]) -> list[SwapDict]:
        swaps: list[SwapDict] = []
        for line in output:
            words = line.split()
            if len(words) != 5 or not all(word.lstrip("-").isdigit() for word in words[2:]):
                continue  # the header, or a line this parser does not know
            # the kernel writes a space in a path as \040 (and a backslash as \134)
            path = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), words[0])
            swaps.append({"path": path, "type": words[1], "size_kb": int(words[2]), "used_kb": int(words[3]),
                          "priority": int(words[4])})
        return swaps


class SwapFileDict(TypedDict):
    directory: bool         # the directory that holds it exists (an NVMe mount point, say)
    size: int | None        # bytes, None when there is no such file
    signature: bool         # mkswap's SWAPSPACE2 signature ends its first page
    fstab: list[str]        # the /etc/fstab lines that mount it as swap


class SwapFile(FactBase[SwapFileDict]):
    """
    Returns what is known of a swapfile: whether its directory exists, its size in bytes (``None``
    when there is no such file), whether ``mkswap`` has made it a swap area (``SWAPSPACE2`` at the
    end of its first page) and the ``/etc/fstab`` lines that mount it as swap. Whether it is active
    is the ``Swaps`` fact's answer. A swapfile on NVMe is the advice for 8 GB boards (docs/facts.md section 3).

    + path: the swapfile, e.g. ``/ssd/swapfile``
    """

    @override
    def command(self, path: str) -> StringCommand:
        quoted = QuoteString(path)
        return StringCommand(
            "if [ -d", QuoteString(posixpath.dirname(path) or "/"), "]; then echo directory; fi;",
            "if [ -f", quoted, "]; then echo size=$(stat -c %s", quoted, ");",
            "echo signature=$(head -c \"$(getconf PAGESIZE)\"", quoted, "| tail -c 10); fi;",
            "awk -v", QuoteString(f"p={path}"), QuoteString('$1 == p && $3 == "swap" {print "fstab=" $0}'),
            "/etc/fstab 2>/dev/null; true",
        )

    @staticmethod
    def default() -> SwapFileDict:
        return {"directory": False, "size": None, "signature": False, "fstab": []}

    @override
    def process(self, output: list[str]) -> SwapFileDict:
        state = self.default()
        for line in output:
            key, _, value = line.partition("=")
            if line == "directory":
                state["directory"] = True
            elif key == "size" and value.isdigit():
                state["size"] = int(value)
            elif key == "signature":
                state["signature"] = value.strip() == "SWAPSPACE2"
            elif key == "fstab":
                state["fstab"].append(value)
        return state
