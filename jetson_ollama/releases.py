"""L4T releases and what ships with them: JetPack, host CUDA, Ubuntu, SoCs (docs/facts.md section 1).

The table is data: `data/l4t_releases.yaml`. A patch release the table does not list, of a family
(major.minor) it does, gets that family's newest listed values and a warning (`ReleaseInfo.note`):
NVIDIA's patch releases keep JetPack's CUDA and Ubuntu. A family the table does not know is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
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
    socs: str = ""   # t194 (Xavier) t234 (Orin) t264 (Thor)
    note: str = ""   # why these values are assumed (an unlisted patch release), else ""


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
    """JetPack, CUDA and Ubuntu of an L4T release. An unlisted patch release of a listed family gets the
    family's newest listed values with a `note`; UnknownRelease (one line) for an unlisted family."""
    if isinstance(release, str):
        release = L4TRelease.parse(release)
    table = _table()
    if release in table:
        return table[release]
    family = [known for known in table if (known.major, known.minor) == (release.major, release.minor)]
    if family:
        nearest = max(family)
        return replace(table[nearest], l4t=release,
                       note=f"L4T {release} is not in this library's table: taking {nearest}'s values "
                            f"(JetPack {table[nearest].jetpack}, CUDA {table[nearest].cuda})")
    families = sorted({(known.major, known.minor) for known in table})
    spans: dict[int, list[int]] = {}
    for major, minor in families:
        spans.setdefault(major, []).append(minor)
    known = ", ".join(f"{major}.{min(minors)}-{major}.{max(minors)}" for major, minors in spans.items())
    raise UnknownRelease(f"unknown L4T release {release} (known families: {known})")
