"""Facts about the native Ollama runtime (docs/facts.md section 5): the release unpacked under /usr/local, the
state of ollama.service, the checksums a release publishes, and who owns the model store.

Every command succeeds on any Linux host; what is absent reads as the empty default.
"""

from __future__ import annotations

import json
import posixpath

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import TypedDict, override

from jetson_ollama.native import DROPIN_PATH, PREFIX, SERVICE, parse_checksums

MARKER = "lib/ollama/.jetson-ollama.json"  # under the prefix: install.sh's rm -rf lib/ollama takes it along


class InstallDict(TypedDict, total=False):
    version: str
    archives: dict[str, str]  # archive -> sha256:<hex>, as checked when it was unpacked
    binary_at_install: str    # sha256:<hex> of bin/ollama right after the unpacking
    binary: str               # sha256:<hex> of bin/ollama now, "" when there is none


class NativeInstall(FactBase[InstallDict]):
    """
    Returns what jetson-ollama unpacked under ``prefix``: the release ``version``, the ``archives``
    with the sha256 each was checked against, the sha256 of ``bin/ollama`` then
    (``binary_at_install``) and now (``binary``); ``{}`` when there is neither a marker nor a binary.
    A binary that install.sh or a person replaced shows as ``binary != binary_at_install``. Facts section 5.

    + prefix: where the release is unpacked, default ``/usr/local``
    """

    @override
    def command(self, prefix: str = PREFIX) -> StringCommand:
        return StringCommand(
            "cat", QuoteString(posixpath.join(prefix, MARKER)), "2>/dev/null; echo;",
            "sha256sum", QuoteString(posixpath.join(prefix, "bin", "ollama")), "2>/dev/null; true",
        )

    @staticmethod
    def default() -> InstallDict:
        return {}

    @override
    def process(self, output: list[str]) -> InstallDict:
        found: InstallDict = {}
        for line in output:
            line = line.strip()
            if line.startswith("{"):
                try:
                    marker = json.loads(line)
                except ValueError:
                    continue  # a marker cut short: as if there were none, so the release is unpacked again
                if isinstance(marker, dict):
                    found["version"] = str(marker.get("version") or "")
                    archives = marker.get("archives")
                    found["archives"] = dict(archives) if isinstance(archives, dict) else {}
                    found["binary_at_install"] = str(marker.get("binary") or "")
            elif line and len(line.split()[0]) == 64:
                found["binary"] = "sha256:" + line.split()[0]
        if found:
            found.setdefault("binary", "")
        return found


class ServiceDict(TypedDict, total=False):
    loaded: bool    # systemd knows a unit file for it
    active: bool
    enabled: bool
    user: str
    ours: bool      # it carries jetson-ollama's drop-in: this deploy's native runtime, not a foreign one


class OllamaService(FactBase[ServiceDict]):
    """
    Returns the state of ``ollama.service`` from ``systemctl show``: ``loaded`` (a unit file exists),
    ``active``, ``enabled``, its ``user``, and ``ours`` (it has jetson-ollama's drop-in); ``{}`` without
    systemd. A native Ollama on 11434 blocks a host-network container (docs/facts.md section 5): ``ours``
    tells this deploy's own native runtime from a foreign install.
    """

    @override
    def command(self) -> str:
        return (f"systemctl show {SERVICE} -p LoadState -p ActiveState -p UnitFileState -p User "
                f"2>/dev/null; if [ -f {DROPIN_PATH} ]; then echo Ours=yes; fi; true")

    @staticmethod
    def default() -> ServiceDict:
        return {}

    @override
    def process(self, output: list[str]) -> ServiceDict:
        values = dict(line.strip().partition("=")[::2] for line in output if "=" in line)
        if not values:
            return {}
        return {
            "loaded": values.get("LoadState") == "loaded",
            "active": values.get("ActiveState") in ("active", "activating", "reloading"),
            "enabled": values.get("UnitFileState") == "enabled",
            "user": values.get("User", ""),
            "ours": values.get("Ours") == "yes",
        }


class ReleaseChecksums(FactBase[dict[str, str]]):
    """
    Returns the ``sha256sum.txt`` a release publishes, read from the board (which downloads the
    archives), as ``{archive: "sha256:<hex>"}``; ``{}`` when it cannot be read. Facts section 5.

    + url: the file's URL, e.g. ``https://github.com/ollama/ollama/releases/download/v0.6.8/sha256sum.txt``
    """

    @override
    def command(self, url: str) -> StringCommand:
        return StringCommand("curl -fsSL --max-time 60", QuoteString(url), "2>/dev/null || true")

    @staticmethod
    def default() -> dict[str, str]:
        return {}

    @override
    def process(self, output: list[str]) -> dict[str, str]:
        return parse_checksums(output)


class OwnershipDict(TypedDict, total=False):
    exists: bool
    owner_known: bool     # the user and group exist (find cannot test an unknown name)
    foreign: list[str]    # up to 5 paths under it owned by someone else


class StoreOwnership(FactBase[OwnershipDict]):
    """
    Returns whether ``path`` ``exists``, whether ``user`` and ``group`` are known (``owner_known``),
    and up to five paths under it not owned by ``user:group`` (``foreign``); ``{}`` when it cannot tell.

    + path: the directory, e.g. the model store ``/opt/ollama/models``
    + user: the owner it should have, e.g. ``ollama``
    + group: the group it should have, e.g. ``ollama``
    """

    @override
    def command(self, path: str, user: str, group: str) -> StringCommand:
        return StringCommand(
            "if [ -d", QuoteString(path), "]; then echo exists=yes; else echo exists=no; fi;",
            "if id -u", QuoteString(user), ">/dev/null 2>&1 && getent group", QuoteString(group),
            ">/dev/null 2>&1; then echo owner=known;",
            "find", QuoteString(path), "\\( ! -user", QuoteString(user), "-o ! -group", QuoteString(group),
            "\\) -print 2>/dev/null | head -n 5 | sed 's/^/foreign=/'; else echo owner=unknown; fi; true",
        )

    @staticmethod
    def default() -> OwnershipDict:
        return {}

    @override
    def process(self, output: list[str]) -> OwnershipDict:
        found: OwnershipDict = {"foreign": []}
        for line in output:
            key, _, value = line.partition("=")
            if key == "exists":
                found["exists"] = value == "yes"
            elif key == "owner":
                found["owner_known"] = value == "known"
            elif key == "foreign":
                found["foreign"].append(value)
        return found if "exists" in found else {}
