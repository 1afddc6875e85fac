"""Which Ollama container image a board gets (facts section 4).

`jetson-containers build ollama` names its image by a postfix whose format changed twice in 2025;
Docker Hub's `dustynv/ollama` holds a few prebuilt tags, each usable only on boards of its JetPack
generation. Both are data: `data/image_tags.yaml`. Everything here is pure: facts come in as arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

import yaml

from .releases import L4TRelease, ReleaseInfo

_TAGS_FILE = Path(__file__).parent / "data" / "image_tags.yaml"
# `r36.2.0` in `0.6.8-r36.2.0-cu122-22.04`; `r36.4` in `r36.4-cu126-...` and `r36.4.tegra-aarch64-...`
_TAG_L4T_RE = re.compile(r"(?:^|-)r(\d+)\.(\d+)(?:\.(\d+))?(?=$|[-.])")
_VERSION_RE = re.compile(r"\d+(?:\.\d+)*")

STRATEGIES = ("prebuilt", "build", "reuse", "auto")


class NoImage(ValueError):
    """No image satisfies the board and the asked Ollama version."""


@dataclass(frozen=True)
class PrebuiltImage:
    ref: str  # dustynv/ollama:r36.4.3
    tag: str  # r36.4.3
    l4t: L4TRelease  # built for; 36.4.0 for a 36.4.x family tag such as 0.6.8-r36.4-cu126-22.04
    cuda: str
    ollama_version: str  # what /api/version reports (unverified, see the data file)


@dataclass(frozen=True)
class ImagePlan:
    strategy: str  # prebuilt | build | reuse ("auto" resolved to one of the first two)
    ref: str | None  # the image to run; None for reuse (the deploy picks a local image)
    build_package: str | None  # `jetson-containers build` argument: "ollama" or "ollama:0.6.8"
    ollama_version: str | None  # the version the image should report; None: the package default


@dataclass(frozen=True)
class _Era:
    since: date
    postfix: str
    short_since: L4TRelease | None
    short_postfix: str | None


@cache
def _data() -> dict:
    return yaml.safe_load(_TAGS_FILE.read_text())


@cache
def _eras() -> dict[str, _Era]:
    eras = {}
    for name, row in _data()["eras"].items():
        short_since = L4TRelease.parse(row["short_since"]) if "short_since" in row else None
        eras[name] = _Era(date.fromisoformat(row["since"]), row["postfix"], short_since, row.get("short_postfix"))
    return dict(sorted(eras.items(), key=lambda item: item[1].since))


@cache
def _generations() -> list[tuple[L4TRelease, str]]:
    return sorted((L4TRelease.parse(row["since"]), row["name"]) for row in _data()["generations"])


@cache
def _prebuilt() -> tuple[PrebuiltImage, ...]:
    section = _data()["prebuilt"]
    return tuple(
        PrebuiltImage(f"{section['repository']}:{tag}", tag, L4TRelease.parse(row["l4t"]),
                      row["cuda"], row["ollama"])
        for tag, row in section["tags"].items()
    )


def _release(value: L4TRelease | str) -> L4TRelease:
    return value if isinstance(value, L4TRelease) else L4TRelease.parse(value)


def _version(text: str) -> tuple[int, ...]:
    if not _VERSION_RE.fullmatch(str(text)):
        raise ValueError(f"not an Ollama version: {text!r} (expected e.g. 0.6.8)")
    return tuple(int(part) for part in str(text).split("."))


def containers_era(commit_date: str | date) -> str:
    """The naming era ("2025-03", "2025-05", "2025-07") of a jetson-containers commit, by its date
    (an ISO date or timestamp such as `git show -s --format=%cI` prints)."""
    if isinstance(commit_date, datetime):
        commit_date = commit_date.date()
    elif isinstance(commit_date, str):
        commit_date = date.fromisoformat(commit_date.strip()[:10])
    names = [name for name, era in _eras().items() if era.since <= commit_date]
    if not names:
        first = next(iter(_eras().values())).since
        raise ValueError(f"no jetson-containers naming era before {first} (got {commit_date})")
    return names[-1]


def local_image_name(l4t: L4TRelease | str, cuda: str, ubuntu: str, era: str,
                     ollama_version: str | None = None, package: str = "ollama") -> str:
    """The image `jetson-containers build <package>[:<ollama_version>]` tags in ERA (facts section 4):
    `ollama:r36.2.0`, `ollama:r36.4-cu126-22.04`, `ollama:0.6.8-r36.2.0-cu122-22.04`, ..."""
    if era not in _eras():
        raise ValueError(f"unknown jetson-containers naming era {era!r}; known: {', '.join(_eras())}")
    release, spec = _release(l4t), _eras()[era]
    short = spec.short_since is not None and release >= spec.short_since
    postfix = (spec.short_postfix if short else spec.postfix).format(
        l4t=release, major=release.major, minor=release.minor,
        cu="cu" + "".join(cuda.split(".")[:2]), ubuntu=ubuntu)
    return f"{package}:{ollama_version}-{postfix}" if ollama_version else f"{package}:{postfix}"


def l4t_from_tag(tag: str) -> L4TRelease | None:
    """The L4T an image tag names (`r36.2.0`, `0.6.8-r36.4-cu126-22.04` -> 36.4.0 for the 36.4.x
    family, `r36.4.tegra-aarch64-cu126-22.04`); a full reference `ollama:<tag>` works too."""
    match = _TAG_L4T_RE.search(tag.rpartition(":")[2])
    return L4TRelease(*(int(part or 0) for part in match.groups())) if match else None


def _names_patch(tag: str) -> bool:
    """Whether the tag names a full L4T release (r36.4.0), not only a family (r36.4)."""
    match = _TAG_L4T_RE.search(tag.rpartition(":")[2])
    return bool(match and match[3] is not None)


def _generation(release: L4TRelease) -> str | None:
    names = [name for since, name in _generations() if since <= release]
    return names[-1] if names else None


def compatible_with(image_l4t: L4TRelease | str | None, board_l4t: L4TRelease | str) -> bool:
    """Whether an image built for IMAGE_L4T runs on a board with BOARD_L4T: same L4T major and same
    JetPack generation (6.0 and 6.1+ differ in CUDA; JetPack 5 images get no CUDA on 6: #725)."""
    if image_l4t is None:
        return False
    image, board = _release(image_l4t), _release(board_l4t)
    generation = _generation(image)
    return image.major == board.major and generation is not None and generation == _generation(board)


def prebuilt_tag(l4t: L4TRelease | str, min_ollama: str | None = None, *,
                 ollama_version: str | None = None) -> PrebuiltImage | None:
    """The `dustynv/ollama` image for a board (facts section 4), None when none fits.

    + l4t: the board's release
    + min_ollama: skip images whose Ollama is older (new models need a new Ollama: registry 412)
    + ollama_version: only images reporting exactly this version

    Compatible images only (see `compatible_with`); those built for exactly this L4T come first;
    among them the newest Ollama wins, ties going to the data file's order.
    """
    board = _release(l4t)
    images = [image for image in _prebuilt()
              if compatible_with(image.l4t, board)
              and (min_ollama is None or _version(image.ollama_version) >= _version(min_ollama))
              and (ollama_version is None or _version(image.ollama_version) == _version(ollama_version))]
    exact = [image for image in images if image.l4t == board and _names_patch(image.tag)]
    return max(exact or images, key=lambda image: _version(image.ollama_version), default=None)


def resolve_image(release_info: ReleaseInfo, strategy: str, era: str,
                  ollama_version: str | None = None, min_ollama: str | None = None) -> ImagePlan:
    """How this board gets its image.

    + release_info: the board's L4T, CUDA and Ubuntu (`releases.release_info`)
    + strategy: prebuilt | build | reuse | auto (prebuilt when one fits, else build)
    + era: naming era of the pinned jetson-containers commit (`containers_era`)
    + ollama_version: build `ollama:<version>` / take only a prebuilt image of that version
    + min_ollama: the oldest Ollama the wanted models accept

    `reuse` plans no ref: the deploy takes `jetson_image` or `reusable_image(...)` of the board's images.
    Raises NoImage (one line, with the way out) when `prebuilt` finds nothing or the asked version
    is older than `min_ollama`.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"image strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    l4t = release_info.l4t
    if strategy == "reuse":
        return ImagePlan("reuse", None, None, ollama_version)
    if strategy in ("prebuilt", "auto"):
        image = prebuilt_tag(l4t, min_ollama, ollama_version=ollama_version)
        if image:
            return ImagePlan("prebuilt", image.ref, None, image.ollama_version)
        if strategy == "prebuilt":
            asked = [part for part in (ollama_version, min_ollama and f">= {min_ollama}") if part]
            wanted = f" with Ollama {' and '.join(asked)}" if asked else ""
            raise NoImage(f"no prebuilt {_data()['prebuilt']['repository']} image for L4T {l4t}{wanted}; "
                          "set jetson_image_strategy: build")
    if ollama_version and min_ollama and _version(ollama_version) < _version(min_ollama):
        raise NoImage(f"ollama_version {ollama_version} is older than {min_ollama}, which the models need "
                      f"(L4T {l4t}); set ollama_version: {min_ollama} or newer")
    return ImagePlan("build", local_image_name(l4t, release_info.cuda, release_info.ubuntu, era, ollama_version),
                     f"ollama:{ollama_version}" if ollama_version else "ollama", ollama_version)


def reusable_image(images: Iterable[str], board_l4t: L4TRelease | str, package: str = "ollama") -> str | None:
    """For `reuse`: the first of the board's images (`docker images` lists the newest first) that is a
    PACKAGE image whose tag names a compatible L4T. Build-stage tags (`...-ollama`: a build whose test
    failed leaves only that one, facts section 4) are skipped."""
    for image in images:
        repository, _, tag = image.rpartition(":")
        if (repository.rsplit("/", 1)[-1] == package and not tag.endswith(f"-{package}")
                and compatible_with(l4t_from_tag(tag), board_l4t)):
            return image
    return None
