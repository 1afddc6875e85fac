"""The model catalog and whether a model fits a board's memory (docs/facts.md sections 1, 3, 5 and 6).

The catalog is data, `data/models.yaml`: download size, KV cache per token and the oldest Ollama of
each tag, plus the RAM baseline and runtime overhead the estimate adds. CPU and GPU share MemTotal on a
Jetson, so a model's weights, its KV cache, the runtime and the OS all come out of the same RAM
(docs/facts.md section 1). Everything here is pure: board facts come in as arguments.

Tags are always `name:tag`. A bare name means `:latest`, which moves, so it is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

_CATALOG_FILE = Path(__file__).parent / "data" / "models.yaml"
_MB = 1024 * 1024  # the facts' "MB" is /proc/meminfo's kB // 1024 (docs/facts.md section 1-2)
_GB = 1024 ** 3  # free -h's Gi: 7620 MB shows as 7.4 (docs/facts.md section 1)

# name[/namespace-part]:tag, as Ollama's library names them (`qwen2.5:0.5b`, `user/model:q4`)
TAG_PATTERN = r"[a-z0-9][a-z0-9._-]*(/[a-z0-9._-]+)?:[A-Za-z0-9._-]+"
POLICIES = ("strict", "warn", "off")
# the log's tiers, in percent of MemTotal (docs/facts.md section 6); upper bounds exclusive except red's 95
TIERS = ("green", "yellow", "red", "black")
_REFUSED = ("red", "black")


@dataclass(frozen=True)
class ModelInfo:
    """One catalog entry (field meanings: the header of data/models.yaml)."""

    tag: str
    download_bytes: int
    parameters: str
    quantization: str
    context_length: int  # trained window; 0 when unknown
    kv_bytes_per_token: int
    min_ollama: str
    embedding: bool = False  # an embedding model: /api/embed only, no chat, never the model `auto` picks

    @classmethod
    def unknown(cls, tag: str, download_bytes: int, kv_bytes_per_token: int) -> ModelInfo:
        """A tag outside the catalog (ollama_allow_unknown_models): its size from the registry manifest,
        a KV figure the caller chooses; parameters, quantization and context unknown, any Ollama."""
        _check_tag(tag)
        return cls(tag=tag, download_bytes=download_bytes, parameters="unknown", quantization="unknown",
                   context_length=0, kv_bytes_per_token=kv_bytes_per_token, min_ollama="0.0.0")


@dataclass(frozen=True)
class Estimate:
    """Memory a loaded model needs on a board, in bytes, and its share of MemTotal."""

    baseline_bytes: int  # OS and desktop at idle
    weights_bytes: int
    kv_bytes: int  # context_length x num_parallel x kv_bytes_per_token
    overhead_bytes: int  # CUDA context, runner, compute buffers (unverified)
    total_bytes: int
    ram_bytes: int  # MemTotal
    percent: float  # total_bytes / ram_bytes x 100
    tier: str  # green | yellow | red | black
    context_length: int
    num_parallel: int


def _check_tag(tag: str) -> None:
    if not isinstance(tag, str) or not re.fullmatch(TAG_PATTERN, tag):
        raise ValueError(f"not a model tag: {tag!r} (expected name:tag such as qwen2.5:1.5b; "
                         f"a bare name means :latest, which moves)")


@cache
def _data() -> dict:
    return yaml.safe_load(_CATALOG_FILE.read_text())


@cache
def catalog() -> dict[str, ModelInfo]:
    """Every catalog tag and its ModelInfo, in data file order."""
    models = {}
    for tag, fields in _data()["models"].items():
        _check_tag(tag)
        models[tag] = ModelInfo(tag=tag, **fields)
    return models


def model_info(tag: str) -> ModelInfo | None:
    """The catalog entry of a `name:tag`, None when the catalog lacks it; ValueError on a bare name."""
    _check_tag(tag)
    return catalog().get(tag)


# ---------------------------------------------------------------- memory fit

def tier_of(percent: float) -> str:
    """The log's tier of a share of RAM: green < 70 <= yellow < 85 <= red <= 95 < black (docs/facts.md section 6)."""
    if percent < 70:
        return "green"
    if percent < 85:
        return "yellow"
    if percent <= 95:
        return "red"
    return "black"


def estimate(model: ModelInfo, mem_total_mb: int, desktop: bool, context_length: int,
             num_parallel: int) -> Estimate:
    """RAM a loaded `model` needs on a board of `mem_total_mb` MB (MemTotal, docs/facts.md section 1).

    baseline (data/models.yaml `baseline`: the log's 1.3 GiB idle with GNOME, docs/facts.md section 6, less
    the about 800 MB headless frees, docs/facts.md section 3) + weights (the download size: GGUF weights load
    as stored) + KV cache (context x parallel x per-token bytes, docs/facts.md section 6) + runtime overhead
    (`overhead`: a fixed part plus a share of the weights, unverified, fitted to the log's qwen3:8b
    and qwen2.5:7b observations as the data file explains).
    """
    if mem_total_mb <= 0 or context_length < 1 or num_parallel < 1:
        raise ValueError(f"need mem_total_mb > 0, context_length >= 1, num_parallel >= 1 "
                         f"(got {mem_total_mb}, {context_length}, {num_parallel})")
    data = _data()
    baseline = data["baseline"]["desktop_mb" if desktop else "headless_mb"] * _MB
    weights = model.download_bytes
    kv = context_length * num_parallel * model.kv_bytes_per_token
    overhead = data["overhead"]["fixed_mb"] * _MB + round(data["overhead"]["weights_fraction"] * weights)
    total = baseline + weights + kv + overhead
    ram = mem_total_mb * _MB
    percent = total / ram * 100
    return Estimate(baseline_bytes=baseline, weights_bytes=weights, kv_bytes=kv, overhead_bytes=overhead,
                    total_bytes=total, ram_bytes=ram, percent=percent, tier=tier_of(percent),
                    context_length=context_length, num_parallel=num_parallel)


def _needs(estimate: Estimate) -> str:
    context = f"a {estimate.context_length}-token context"
    if estimate.num_parallel > 1:
        context += f" x {estimate.num_parallel} parallel requests"
    return (f"needs about {estimate.total_bytes / _GB:.1f} GB of {estimate.ram_bytes / _GB:.1f} GB RAM "
            f"({estimate.percent:.0f} %, {estimate.tier}) with {context}")


def fits(estimate: Estimate, policy: str) -> tuple[bool, str | None]:
    """Whether `policy` lets a model of this estimate load, and a warning to show.

    strict: refuses red and black; warn: allows them with a warning; off: allows anything silently.
    Green and yellow pass every policy without a word. The warning (also given with a refusal) reads
    `needs about 7.3 GB of 7.4 GB RAM (98 %, black) with a 4096-token context`; the caller adds the
    board and tag (see refusal_message).
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown memory policy {policy!r}; one of {', '.join(POLICIES)}")
    if policy == "off" or estimate.tier not in _REFUSED:
        return True, None
    return policy == "warn", _needs(estimate)


def refusal_message(board: str | None, tag: str, estimate: Estimate) -> str:
    """One line saying why strict refuses `tag` on `board`, and how to allow it anyway (without the
    board's name when the caller's line already carries it)."""
    prefix = f"{board}: " if board else ""
    return f"{prefix}{tag} {_needs(estimate)}; set ollama_memory_policy: warn to allow it"


def auto_models(preference: Iterable[str], mem_total_mb: int, desktop: bool, context_length: int,
                num_parallel: int) -> list[str]:
    """What `ollama_models: auto` installs: the first tag of `preference` that is green on this board.

    `preference` (ollama_models_auto) lists catalog tags largest first, so this is the largest green
    model: one chat model per board. An embedding model of the list is passed over (it has no chat, so
    it is never the board's model). [] when none is green. ValueError on a tag the catalog lacks.
    """
    for tag in preference:
        model = model_info(tag)
        if model is None:
            raise ValueError(f"ollama_models_auto: {tag} is not in the model catalog (data/models.yaml)")
        if model.embedding:
            continue
        if estimate(model, mem_total_mb, desktop, context_length, num_parallel).tier == "green":
            return [tag]
    return []
