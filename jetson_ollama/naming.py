"""How jetson-containers names the image it builds on a board: its rules as data, the board's own inputs.

jetson-containers computes the tag on the board from what it finds there: the L4T release, the CUDA
toolkit (`$CUDA_VERSION`, `/usr/local/cuda/version.json`, `libcudart.so.X.Y.Z`, else its own table),
the Ubuntu release, and whether the GPU is a Tegra one. Which of these go into the tag, and how,
changed several times; each change is one entry of `data/image_tags.yaml` (`naming:`), with the commit
it was read in. Everything here is pure: the board's facts come in as a `BoardInputs`.

Once the pinned checkout is on the board, its own code names the images (`files/jc-names.py`, read by
the `CheckoutNaming` fact), and the plan takes those names; these rules predict the names of a first
build, before stage 2 has cloned anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import cache
from pathlib import Path

import yaml

from .releases import L4TRelease

_DATA_FILE = Path(__file__).parent / "data" / "image_tags.yaml"
TEGRA = "tegra-aarch64"


class NoNaming(ValueError):
    """The image name of a build cannot be known (one line, with the way out)."""


@dataclass(frozen=True)
class BoardInputs:
    """What jetson-containers reads on a board to name an image."""

    l4t: L4TRelease             # /etc/nv_tegra_release
    ubuntu: str                 # lsb_release -rs
    cuda_json: str | None       # cuda_nvcc.version of /usr/local/cuda/version.json (None: no toolkit)
    cudart: str | None = None   # X.Y.Z of /usr/local/cuda/targets/aarch64-linux/lib/libcudart.so.X.Y.Z
    gpu_name: str | None = None  # nvidia-smi --query-gpu=name (None: no nvidia-smi, as on JetPack 5)
    kernel: str = ""            # uname -a (or -r): "tegra" in it marks a Jetson kernel


@dataclass(frozen=True)
class Rule:
    commit: str
    committed: datetime
    what: str
    short_since: L4TRelease | None
    arch_in_tag: bool
    cu_lsb: bool
    arch_from: str
    sbsa_l4t: L4TRelease | None
    sbsa_tag: str
    sbsa_lsb: str | None
    sbsa_reads_json: bool
    cuda_lsb: tuple[dict, ...]
    cuda_table: dict[L4TRelease, str]
    cuda_major: tuple[dict, ...]


@dataclass(frozen=True)
class Naming:
    """What one jetson-containers commit makes of one board: the values it computes and the tag."""

    l4t: L4TRelease
    cuda: str          # major.minor
    ubuntu: str
    arch: str          # tegra-aarch64 | aarch64
    postfix: str
    warnings: tuple[str, ...] = field(default=())

    def image(self, package: str = "ollama") -> str:
        """`ollama` -> `ollama:<postfix>`, `ollama:0.11.8` -> `ollama:0.11.8-<postfix>` (JC
        jetson_containers/container.py build_container @16f7cf41: the postfix follows a ':' or a '-')."""
        return f"{package}{'-' if ':' in package else ':'}{self.postfix}"

    def stage(self, package: str = "ollama") -> str:
        """The build-stage tag, `<image>-<package with ':' as '_'>` (JC container.py @16f7cf41)."""
        return f"{self.image(package)}-{package.replace(':', '_')}"


def _timestamp(text: str | date | datetime) -> datetime:
    if isinstance(text, datetime):
        moment = text
    elif isinstance(text, date):
        moment = datetime(text.year, text.month, text.day)
    else:
        moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@cache
def _data() -> dict:
    return yaml.safe_load(_DATA_FILE.read_text())


@cache
def rules() -> tuple[Rule, ...]:
    found = []
    for row in _data()["naming"]:
        found.append(Rule(
            commit=row["commit"], committed=_timestamp(row["committed"]), what=row["what"],
            short_since=L4TRelease.parse(row["short_since"]) if row["short_since"] else None,
            arch_in_tag=bool(row["arch_in_tag"]), cu_lsb=bool(row["cu_lsb"]), arch_from=row["arch_from"],
            sbsa_l4t=L4TRelease.parse(row["sbsa_l4t"]) if row["sbsa_l4t"] else None,
            sbsa_tag=row["sbsa_tag"], sbsa_lsb=row["sbsa_lsb"], sbsa_reads_json=row.get("sbsa_reads_json", True),
            cuda_lsb=tuple(row["cuda_lsb"]),
            cuda_table={L4TRelease.parse(key): value for key, value in row["cuda_table"].items()},
            cuda_major=tuple(row["cuda_major"]),
        ))
    return tuple(sorted(found, key=lambda rule: rule.committed))


@dataclass(frozen=True)
class KnownCommit:
    commit: str
    committed: datetime
    ollama_versions: tuple[str, ...]
    ollama_default: str


def known_commit(commit: str) -> KnownCommit | None:
    """A jetson-containers commit this library knows without a checkout (`commits:` of the data file)."""
    row = _data()["commits"].get(commit)
    if row is None:
        return None
    return KnownCommit(commit, _timestamp(row["committed"]), tuple(row["ollama_versions"]), row["ollama_default"])


def rule_at(committed: str | date | datetime, commit: str = "") -> Rule:
    """The naming rule of a jetson-containers commit: the rule commit itself, else the last rule
    committed at or before `committed` (the commit's committer time, ISO 8601 with its offset)."""
    for rule in rules():
        if commit and rule.commit.startswith(commit.lower()) and len(commit) >= 7:
            return rule
    moment = _timestamp(committed)
    earlier = [rule for rule in rules() if rule.committed <= moment]
    return earlier[-1] if earlier else rules()[0]


def ambiguous_day(day: date) -> bool:
    """Whether a date alone cannot say which rule a commit of that day follows (two rules on one day,
    or a rule that starts during it): a full timestamp is needed then."""
    return any(rule.committed.date() == day for rule in rules())


def _arch(rule: Rule, board: BoardInputs) -> str:
    """CUDA_ARCH on an aarch64 board: tegra-aarch64 or aarch64 (SBSA)."""
    if rule.arch_from == "nvidia-smi":  # JC l4t_version.py _get_platform_architecture @c6bf3b62
        return TEGRA if board.gpu_name is None or "nvgpu" in board.gpu_name else "aarch64"
    if rule.arch_from == "uname":  # JC l4t_version.py _get_platform_architecture @55b14897
        return TEGRA if "tegra" in board.kernel else "aarch64"
    return TEGRA


def _major_minor(version: str) -> str:
    parts = [int(part) for part in version.split(".")[:2]]
    return f"{parts[0]}.{parts[1] if len(parts) > 1 else 0}"


def _cuda(rule: Rule, board: BoardInputs, l4t: L4TRelease, ubuntu: str, tegra: bool) -> tuple[str, tuple[str, ...]]:
    """CUDA_VERSION as JC l4t_version.py get_cuda_version computes it (order @16f7cf41: $CUDA_VERSION,
    which the deploy never sets; the Ubuntu 24.04 defaults; version.json; libcudart.so.*; the table)."""
    for row in rule.cuda_lsb:
        if ubuntu == row["lsb"] and row.get("l4t_major_min", 0) <= l4t.major <= row.get("l4t_major_max", 99):
            return row["cuda"], ()
    if board.cuda_json and (tegra or rule.sbsa_reads_json):
        return _major_minor(board.cuda_json), ()
    if board.cudart:
        return _major_minor(board.cudart), ()
    if l4t in rule.cuda_table:
        return rule.cuda_table[l4t], ()
    for row in rule.cuda_major:
        if l4t.major >= row["major"]:
            if row["cuda"] is None:
                raise NoNaming(f"jetson-containers {rule.commit[:8]} finds no CUDA version for L4T {l4t} without "
                               "the host's CUDA toolkit (install nvidia-jetpack, or pin a newer commit)")
            warnings = (f"jetson-containers does not know L4T {l4t} and assumes CUDA {row['cuda']}",) \
                if row.get("warn") else ()
            return row["cuda"], warnings
    return "0.0", ()


def naming(rule: Rule, board: BoardInputs) -> Naming:
    """What the commit of `rule` computes on `board`, and the postfix of its tags."""
    arch = _arch(rule, board)
    tegra = arch == TEGRA
    l4t = board.l4t if tegra or rule.sbsa_l4t is None else rule.sbsa_l4t
    ubuntu = board.ubuntu if tegra or not rule.sbsa_lsb else rule.sbsa_lsb
    cuda, warnings = _cuda(rule, board, l4t, ubuntu, tegra)
    if rule.short_since is not None and l4t >= rule.short_since:
        postfix = f"r{l4t.major}.{l4t.minor}"
        if rule.arch_in_tag:
            postfix += "." + (arch if tegra else rule.sbsa_tag)
    else:
        postfix = f"r{l4t}"
    if rule.cu_lsb:
        major, minor = cuda.split(".")[:2]
        postfix += f"-cu{major}{minor}-{ubuntu}"
    return Naming(l4t, cuda, ubuntu, arch, postfix, warnings)
