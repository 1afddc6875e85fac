"""The report's charts as data for the HTML template's inline SVG: RAM in use per board, coloured by
memory tier (`ram_chart`), the last bench's decode tokens/s per board and model (`tps_chart`) and the
RAM each loaded model takes, coloured by its share on the GPU (`model_ram_chart`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..catalog import TIERS, tier_of
from .collect import BoardRecord

TIER_COLOURS = {"green": "#2f9e44", "yellow": "#e8b100", "red": "#d9381e", "black": "#111111"}
TIER_LIMITS = (70, 85, 95)  # percent of RAM where yellow, red and black begin (docs/facts.md section 6)


def gb_text(mb: int) -> str:
    """MB as the report prints GB: `7.4`."""
    return f"{mb / 1024:.1f}"


@dataclass(frozen=True)
class Bar:
    label: str
    value_text: str
    y: float
    width: float
    colour: str
    css: str  # class names: "bar ram tier-green", "bar tps"
    title: str
    marker_x: float | None = None  # ram: the largest model's estimate
    marker_title: str = ""


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    plot_x: int  # left edge of the plot area; labels sit left of it
    plot_width: int
    bar_height: int
    ticks: list[tuple[float, str]]  # x, label
    guides: list[tuple[float, str, str]]  # x, label, colour: the tier limits
    bars: list[Bar]
    empty: str = ""  # shown instead of bars when there are none


@dataclass(frozen=True)
class _Row:
    label: str
    value: float
    value_text: str
    colour: str
    css: str
    title: str
    marker: float | None = None
    marker_title: str = ""


_LABEL_W, _PLOT_W, _VALUE_W, _ROW_H, _BAR_H, _TOP, _BOTTOM = 190, 480, 130, 26, 16, 28, 26


def _chart(title: str, rows: list[_Row], maximum: float, ticks: list[float], tick_text,
           guides: Iterable[tuple[float, str, str]] = (), empty: str = "") -> Chart:
    scale = _PLOT_W / maximum

    def x(value: float) -> float:
        return _LABEL_W + min(max(value, 0.0), maximum) * scale

    bars = [Bar(row.label, row.value_text, _TOP + i * _ROW_H + (_ROW_H - _BAR_H) / 2, max(x(row.value) - _LABEL_W, 1.0),
                row.colour, row.css, row.title, None if row.marker is None else x(row.marker), row.marker_title)
            for i, row in enumerate(rows)]
    return Chart(title, _LABEL_W + _PLOT_W + _VALUE_W, _TOP + max(len(rows), 1) * _ROW_H + _BOTTOM, _LABEL_W,
                 _PLOT_W, _BAR_H, [(x(tick), tick_text(tick)) for tick in ticks],
                 [(x(limit), label, colour) for limit, label, colour in guides], bars, empty)


def ram_chart(records: list[BoardRecord]) -> Chart:
    """RAM in use, % of MemTotal, one bar per reachable board, coloured by the tier of that share; a tick
    marks the estimate of the board's largest model when it has one."""
    rows = []
    for record in records:
        if not record.reachable:
            continue
        used, total, percent = record.mem_used_mb, record.mem_total_mb, record.ram_used_percent
        if percent is None or used is None or total is None:  # percent is None exactly when either is
            rows.append(_Row(record.name, 0.0, "unknown", "#bbbbbb", "bar ram tier-unknown",
                             f"{record.name}: RAM unknown"))
            continue
        tier = tier_of(percent)
        ram = f"{gb_text(used)} of {gb_text(total)} GB"
        marker_tip = f"{record.tier_basis} ({record.tier})" if record.estimate_percent is not None else ""
        rows.append(_Row(record.name, percent, f"{percent:.0f} % {tier}", TIER_COLOURS[tier], f"bar ram tier-{tier}",
                         f"{record.name}: {ram} in use ({percent:.0f} %, {tier})", record.estimate_percent, marker_tip))
    guides = [(limit, f"{limit} %", TIER_COLOURS[tier]) for limit, tier in zip(TIER_LIMITS, TIERS[1:], strict=True)]
    return _chart("RAM in use (% of MemTotal)", rows, 100.0, [0, 25, 50, 75, 100], lambda t: f"{t:.0f} %",
                  guides, empty="no reachable board")


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def tps_chart(records: list[BoardRecord]) -> Chart:
    """Decode tokens/s of the last bench, one bar per board and model."""
    rows = []
    for record in records:
        if not record.reachable or not record.bench:
            continue
        for model, value in record.bench.tokens_per_s.items():
            rows.append(_Row(f"{record.name} {model}", value, f"{value:.1f} tok/s", "#3b6fb6", "bar tps",
                             f"{record.name}: {model} {value:.1f} tokens/s ({record.bench.time})"))
    maximum = _nice_ceiling(max((row.value for row in rows), default=0))
    return _chart("Decode tokens/s (last bench)", rows, maximum, [maximum * i / 4 for i in range(5)],
                  lambda t: f"{t:g}", empty="no bench figures yet (run bench on a board)")


GPU_COLOURS = {"all": "#3b6fb6", "part": "#e8590c", "none": "#868e96"}  # all on the GPU, partly, on the CPU


def model_ram_chart(records: list[BoardRecord]) -> Chart:
    """RAM each model Ollama holds in memory takes (/api/ps size), one bar per board and model, in GB;
    blue when all of it is on the GPU (size_vram == size), orange when part is, grey when none is."""
    rows = []
    for record in records:
        if not record.reachable:
            continue
        for model in record.loaded:
            share = "all" if model.size_bytes and model.gpu_bytes == model.size_bytes else (
                "part" if model.gpu_bytes else "none")
            gb = model.size_bytes / 1024 ** 3
            rows.append(_Row(f"{record.name} {model.name}", gb, f"{gb:.1f} GB, {model.gpu_percent:.0f} % GPU",
                             GPU_COLOURS[share], f"bar model-ram gpu-{share}",
                             f"{record.name}: {model.name} takes {gb:.2f} GB, {model.gpu_percent:.0f} % on the GPU"))
    maximum = _nice_ceiling(max((row.value for row in rows), default=0))
    return _chart("RAM per loaded model (GB, /api/ps)", rows, maximum, [maximum * i / 4 for i in range(5)],
                  lambda t: f"{t:g}", empty="no model loaded")
