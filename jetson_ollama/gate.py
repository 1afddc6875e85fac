"""The rollout's health gate: whether a board's Ollama, as the ``OllamaHealth`` fact saw it after a
deploy, is the one the deploy meant and works (docs/facts.md section 5, section 6). Pure: the fact comes in as
a dict, the expectations as ``Expected``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .catalog import TIERS, tier_of

GIB = 1024 ** 3


def _red_lower_bound() -> float:
    """The whole percent of RAM where tier_of's red tier begins (tier_of holds the figure, docs/facts.md section 6)."""
    return float(next(percent for percent in range(101) if TIERS.index(tier_of(percent)) >= TIERS.index("red")))


RED_PERCENT = _red_lower_bound()


@dataclass
class Expected:
    version: str | None  # what /api/version should say; None: any
    # tag -> models.lock's manifest digest, None when not locked; the health check generates with the first
    models: dict[str, str | None]
    red_percent: float = RED_PERCENT  # RAM in use at or above this share of MemTotal fails the board


def _hex(digest: str | None) -> str:
    """``sha256:ab...`` and ``ab...`` (what /api/tags shows) alike: the hex."""
    return (digest or "").removeprefix("sha256:")


def _mem_percent(health: Mapping[str, Any]) -> float | None:
    mem = health.get("mem") or {}
    total, available = mem.get("total_kb") or 0, mem.get("available_kb")
    if total <= 0 or available is None:
        return None
    return (total - available) / total * 100


def evaluate(health: Mapping[str, Any], expected: Expected) -> list[str]:
    """The board's problems, one short line each; [] when the gate passes. The model checks run only
    when the API answered, the generation and GPU checks only for the first expected model."""
    problems = []
    if health.get("error") or not health.get("version"):
        problems.append(f"Ollama API not answering: {health.get('error') or 'no health report from the board'}")
    else:
        if expected.version is not None and health["version"] != expected.version:
            problems.append(f"Ollama {health['version']} answers, {expected.version} expected")
        tags = health.get("tags") or {}
        for tag, locked in expected.models.items():
            if tag not in tags:
                problems.append(f"{tag} missing from /api/tags")
            elif locked and _hex(tags[tag]) != _hex(locked):
                problems.append(f"{tag} has manifest {_hex(tags[tag])[:12]}, models.lock {_hex(locked)[:12]}")
        model = next(iter(expected.models), None)
        generate = health.get("generate") or {}
        if model and not generate.get("ok"):
            problems.append(f"generating with {model} failed: {generate.get('error') or 'no generation ran'}")
        elif model:
            loaded = next((entry for entry in health.get("ps") or [] if entry.get("name") == model), None)
            if loaded is None:
                problems.append(f"{model} not in /api/ps after generating")
            elif loaded["size_vram"] < loaded["size"]:  # size_vram == size: all on the GPU (docs/facts.md section 5)
                problems.append(f"{model} not all on the GPU: {loaded['size_vram'] / GIB:.2f} of "
                                f"{loaded['size'] / GIB:.2f} GiB in VRAM")
    percent = _mem_percent(health)
    if percent is not None and percent >= expected.red_percent:
        problems.append(f"RAM {percent:.1f} % used after generating (red from {expected.red_percent:g} %)")
    return problems


def summary(health: Mapping[str, Any]) -> dict[str, Any]:
    """What the rollout's final table shows of a board: ``version``, ``models`` (tag -> the first 12
    hex of its manifest digest) and ``mem_percent`` (RAM in use, one decimal; None when unknown)."""
    percent = _mem_percent(health)
    return {
        "version": health.get("version"),
        "models": {tag: _hex(digest)[:12] for tag, digest in sorted((health.get("tags") or {}).items())},
        "mem_percent": None if percent is None else round(percent, 1),
    }
