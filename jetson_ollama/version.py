"""Ollama versions: the one type the catalog, the image tables, the plan and the board tests compare.

Ollama reports "0.6.8", tags say "v0.6.8", release candidates "0.6.8-rc1"; old images report "0.0.0"
and an image built from a shallow clone reports a bare git hash such as "5f7b4a5" (docs/facts.md
section 4). A suffix is ignored ("0.6.8-rc1" counts as 0.6.8); a bare hash is no release: only "any
version" (no need, or 0.0.0) accepts it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_VERSION_RE = re.compile(r"v?(\d+(?:\.\d+)*)(?:[-+].*)?")
_GIT_HASH_RE = re.compile(r"[0-9a-f]{7,40}")


@dataclass(frozen=True, order=True)
class Version:
    parts: tuple[int, ...]

    @classmethod
    def of(cls, text: object) -> Version:
        """The version `text` names; ValueError (one line) when it names none."""
        match = _VERSION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if not match:
            raise ValueError(f"not a version: {text!r} (expected e.g. 0.6.8)")
        parts = tuple(int(part) for part in match[1].split("."))
        return cls(parts + (0,) * (3 - len(parts)))

    @classmethod
    def release(cls, text: object) -> Version | None:
        """The release `text` names, or None for what names no release (None, a bare git hash, junk)."""
        if not isinstance(text, str) or _GIT_HASH_RE.fullmatch(text.strip()):
            return None
        try:
            return cls.of(text)
        except ValueError:
            return None

    def __str__(self) -> str:
        return ".".join(map(str, self.parts))


ANY = Version((0, 0, 0))


def at_least(have: str | None, need: str | None) -> bool:
    """Whether Ollama `have` is `need` or newer. Any `have` satisfies no need (None or 0.0.0); an unknown
    or non-release `have` satisfies nothing else. A `need` that names no version raises ValueError."""
    if not need or Version.of(need) == ANY:
        return True
    found = Version.release(have)
    return found is not None and found >= Version.of(need)


def newest(versions: Iterable[str | None]) -> str | None:
    """The newest of `versions` as written (None when none names a version): the model set's minimum Ollama."""
    named = [(Version.of(text), text) for text in versions if text]
    return max(named)[1] if named else None
