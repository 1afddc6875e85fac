"""L4T releases and what ships with them: JetPack, host CUDA, Ubuntu (facts section 1).

The table is data: `data/l4t_releases.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

_TABLE_FILE = Path(__file__).parent / "data" / "l4t_releases.yaml"
_RELEASE_RE = re.compile(r"[rR]?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, order=True)
class L4TRelease:
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> L4TRelease:
        """Parse "36.4.3", "r36.4.3" or "36.4" (patch 0)."""
        match = _RELEASE_RE.fullmatch(text.strip())
        if not match:
            raise ValueError(f"not an L4T release: {text!r} (expected e.g. 36.4.3 or r36.4.3)")
        return cls(*(int(part or 0) for part in match.groups()))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class ReleaseInfo:
    l4t: L4TRelease
    jetpack: str
    cuda: str  # major.minor of the CUDA toolkit JetPack installs on the host
    ubuntu: str


class UnknownRelease(ValueError):
    pass


@cache
def _table() -> dict[L4TRelease, ReleaseInfo]:
    rows = yaml.safe_load(_TABLE_FILE.read_text())
    infos = [ReleaseInfo(L4TRelease.parse(l4t), **row) for l4t, row in rows.items()]
    return {info.l4t: info for info in infos}


def known_releases() -> list[L4TRelease]:
    return sorted(_table())


def release_info(release: L4TRelease | str) -> ReleaseInfo:
    """JetPack, CUDA and Ubuntu of an L4T release; UnknownRelease when it is not in the table."""
    if isinstance(release, str):
        release = L4TRelease.parse(release)
    try:
        return _table()[release]
    except KeyError:
        known = ", ".join(map(str, known_releases()))
        raise UnknownRelease(f"unknown L4T release {release}; known: {known}") from None
