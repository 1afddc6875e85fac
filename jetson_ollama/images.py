"""Which Ollama container image a board gets (docs/facts.md section 4).

`jetson-containers build ollama[:VERSION]` names its image from the board's facts and the pinned commit's
rules (naming.py); Docker Hub's `dustynv/ollama` holds a few prebuilt tags, each usable only on boards
its L4T is compatible with. Both are data: `data/image_tags.yaml`. Everything here is pure: facts come in
as arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from .releases import L4TRelease, ReleaseInfo
from .version import Version, at_least

_TAGS_FILE = Path(__file__).parent / "data" / "image_tags.yaml"
# `r36.2.0` in `0.6.8-r36.2.0-cu122-22.04`; `r36.4` in `r36.4-cu126-...` and `r36.4.tegra-aarch64-...`
_TAG_L4T_RE = re.compile(r"(?:^|-)r(\d+)\.(\d+)(?:\.(\d+))?(?=$|[-.])")

STRATEGIES = ("prebuilt", "build", "reuse", "auto")


class NoImage(ValueError):
    """No image satisfies the board and the asked Ollama version."""


@dataclass(frozen=True)
class PrebuiltImage:
    ref: str  # dustynv/ollama:r36.4.3
    tag: str  # r36.4.3
    l4t: L4TRelease  # built for; 36.4.0 for a 36.4.x family tag such as 0.6.8-r36.4-cu126-22.04
    cuda: str
    ollama_version: str | None  # what /api/version reports; None: not known until pulled (then pinned)


@dataclass(frozen=True)
class BuildNames:
    """What the pinned jetson-containers builds on this board: image names per package, the Ollama
    versions its ollama package offers (empty: not known before the checkout exists) and its default."""

    images: Mapping[str, str]           # "ollama" -> "ollama:<postfix>", "ollama:0.11.8" -> ...
    versions: tuple[str, ...] = ()
    default: str | None = None
    source: str = ""                    # where the names come from, for messages
    warnings: tuple[str, ...] = field(default=())
    problem: str = ""                   # why no name can be known (then `images` is empty)

    def image(self, package: str) -> str:
        return self.images[package]


@dataclass(frozen=True)
class ImagePlan:
    strategy: str  # prebuilt | build | reuse ("auto" resolved to one of the first two)
    ref: str | None  # the image to run; None for reuse (the deploy picks a local image)
    build_package: str | None  # `jetson-containers build` argument: "ollama" or "ollama:0.6.8"
    ollama_version: str | None  # the version the image reports; None: read after the pull or the start
    version_pinned: bool = False  # ollama_version comes from models.lock, read from the image earlier


@cache
def _data() -> dict:
    return yaml.safe_load(_TAGS_FILE.read_text())


@cache
def _prebuilt() -> tuple[PrebuiltImage, ...]:
    section = _data()["prebuilt"]
    return tuple(
        PrebuiltImage(f"{section['repository']}:{tag}", tag, L4TRelease.parse(row["l4t"]),
                      row["cuda"], row["ollama"])
        for tag, row in section["tags"].items()
    )


def prebuilt_images() -> tuple[PrebuiltImage, ...]:
    return _prebuilt()


def _release(value: L4TRelease | str) -> L4TRelease:
    return value if isinstance(value, L4TRelease) else L4TRelease.parse(value)


def l4t_from_tag(tag: str) -> L4TRelease | None:
    """The L4T an image tag names (`r36.2.0`, `0.6.8-r36.4-cu126-22.04` -> 36.4.0 for the 36.4.x
    family, `r36.4.tegra-aarch64-cu126-22.04`); a full reference `ollama:<tag>` works too."""
    match = _TAG_L4T_RE.search(tag.rpartition(":")[2])
    return L4TRelease(*(int(part or 0) for part in match.groups())) if match else None


def _names_patch(tag: str) -> bool:
    """Whether the tag names a full L4T release (r36.4.0), not only a family (r36.4)."""
    match = _TAG_L4T_RE.search(tag.rpartition(":")[2])
    return bool(match and match[3] is not None)


def _in(release: L4TRelease, span: list[str]) -> bool:
    return L4TRelease.parse(span[0]) <= release < L4TRelease.parse(span[1])


def compatible_with(image_l4t: L4TRelease | str | None, board_l4t: L4TRelease | str, *, chosen: bool = False) -> bool:
    """Whether an image built for IMAGE_L4T runs on a board with BOARD_L4T, as jetson-containers'
    l4t_version_compatible says (data file, `compatibility:`). `chosen`: the deploy picks the image by
    itself, and then also wants the board's own L4T major (`auto_same_major`, with the reason there)."""
    if image_l4t is None:
        return False
    image, board = _release(image_l4t), _release(board_l4t)
    if chosen and _data().get("auto_same_major") and image.major != board.major:
        return False
    for row in _data()["compatibility"]:
        if _in(board, row["host"]):
            return row["images"] == "any" or _in(image, row["images"])
    return image == board


def image_version(image: PrebuiltImage, pinned: Mapping[str, str] | None = None) -> tuple[str | None, bool]:
    """The Ollama version of a prebuilt image: the data file's, else the one models.lock pinned when the
    image was pulled before (`pins: ollama: <ref>: <version>`); (version, whether it came from the lock)."""
    if image.ollama_version:
        return image.ollama_version, False
    found = (pinned or {}).get(image.ref)
    return (found, True) if found else (None, False)


def prebuilt_tag(l4t: L4TRelease | str, min_ollama: str | None = None, *,
                 ollama_version: str | None = None, pinned: Mapping[str, str] | None = None) -> PrebuiltImage | None:
    """The `dustynv/ollama` image for a board (docs/facts.md section 4), None when none fits.

    + l4t: the board's release
    + min_ollama: skip images whose Ollama is older, or not known (new models need a new Ollama:
      registry 412)
    + ollama_version: only images reporting exactly this version
    + pinned: versions models.lock pinned for images read after an earlier pull

    Compatible images of the board's L4T major only (see `compatible_with`); those built for exactly this
    L4T come first; among them the newest known Ollama wins, then images whose version is not known (the
    deploy reads it after the pull), ties going to the data file's order.
    """
    board = _release(l4t)
    candidates = []
    for image in _prebuilt():
        if not compatible_with(image.l4t, board, chosen=True):
            continue
        version, _ = image_version(image, pinned)
        if not at_least(version, min_ollama):
            continue
        if ollama_version and Version.release(version) != Version.release(ollama_version):
            continue
        candidates.append((image, version))
    exact = [item for item in candidates if item[0].l4t == board and _names_patch(item[0].tag)]
    pool = exact or candidates
    if not pool:
        return None
    def newest_known(item: tuple[PrebuiltImage, str | None]) -> tuple[bool, Version]:
        found = Version.release(item[1])
        return found is not None, found or Version(())

    return max(pool, key=newest_known)[0]


def _build_plan(names: BuildNames | None, l4t: L4TRelease, ollama_version: str | None,
                min_ollama: str | None) -> ImagePlan:
    if names is None or names.problem:
        raise NoImage(names.problem if names else f"the name jetson-containers gives a build on L4T {l4t} is not known")
    if ollama_version and names.versions and ollama_version not in names.versions:
        raise NoImage(f"{names.source} offers ollama {', '.join(names.versions)} (default {names.default}), "
                      f"not {ollama_version}: set ollama_version to one of them, or pin another "
                      "jetson_containers_commit")
    version = ollama_version or names.default
    if min_ollama and version and not at_least(version, min_ollama):
        way_out = f"set ollama_version: {min_ollama} or newer" if not names.versions else (
            "set ollama_version to one of " + ", ".join(v for v in names.versions if at_least(v, min_ollama))
            if any(at_least(v, min_ollama) for v in names.versions) else "pin a newer jetson_containers_commit")
        raise NoImage(f"ollama {version} is older than {min_ollama}, which the models need (L4T {l4t}); {way_out}")
    package = f"ollama:{ollama_version}" if ollama_version else "ollama"
    return ImagePlan("build", names.image(package), package, version)


def resolve_image(release_info: ReleaseInfo, strategy: str, names: BuildNames | None,
                  ollama_version: str | None = None, min_ollama: str | None = None,
                  pinned: Mapping[str, str] | None = None) -> ImagePlan:
    """How this board gets its image.

    + release_info: the board's L4T, JetPack, CUDA and Ubuntu (`releases.release_info`)
    + strategy: prebuilt | build | reuse | auto (prebuilt when one fits, else build)
    + names: what a build makes on this board (`BuildNames`), None when that cannot be known
    + ollama_version: build `ollama:<version>` / take only a prebuilt image of that version
    + min_ollama: the oldest Ollama the wanted models accept
    + pinned: Ollama versions models.lock pinned per image (read from images pulled earlier)

    `reuse` plans no ref: the deploy takes `jetson_image` or `reusable_image(...)` of the board's images.
    Raises NoImage (one line, with the way out) when `prebuilt` finds nothing, when the asked version is
    not one the pinned jetson-containers offers, or when it is older than `min_ollama`.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"image strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    l4t = release_info.l4t
    if strategy == "reuse":
        return ImagePlan("reuse", None, None, ollama_version)
    if strategy in ("prebuilt", "auto"):
        image = prebuilt_tag(l4t, min_ollama, ollama_version=ollama_version, pinned=pinned)
        if image:
            version, from_lock = image_version(image, pinned)
            return ImagePlan("prebuilt", image.ref, None, version, from_lock)
        if strategy == "prebuilt":
            asked = [part for part in (ollama_version, min_ollama and f">= {min_ollama}") if part]
            wanted = f" with Ollama {' and '.join(asked)}" if asked else ""
            raise NoImage(f"no prebuilt {_data()['prebuilt']['repository']} image for L4T {l4t}{wanted}; "
                          "set jetson_image_strategy: build")
    return _build_plan(names, l4t, ollama_version, min_ollama)


def reusable_image(images: Iterable[str], board_l4t: L4TRelease | str, package: str = "ollama") -> str | None:
    """For `reuse`: the first of the board's images (`docker images` lists the newest first) that is a
    PACKAGE image whose tag names a compatible L4T. Build-stage tags (`...-ollama`: a build whose test
    failed leaves only that one, docs/facts.md section 4) are skipped."""
    for image in images:
        repository, _, tag = image.rpartition(":")
        if (repository.rsplit("/", 1)[-1] == package
                and not re.search(rf"-{re.escape(package)}(_[\w.]+)?$", tag)
                and compatible_with(l4t_from_tag(tag), board_l4t, chosen=True)):
            return image
    return None
