"""Rendering the fleet report: a row of cells per record (`cells`), `report.md` (`render_markdown`),
self-contained `report.html` (`render_html`: the template's inline CSS and inline SVG charts, no
external resources), both written by `write_report`, and a PNG of the HTML (`screenshot`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..catalog import TIERS
from .charts import TIER_COLOURS, gb_text, ram_chart, tps_chart
from .collect import BenchFigures, BoardRecord
from ..resources import TEMPLATES

TEMPLATE = "report.html.j2"

COLUMNS = ("board", "address", "status", "L4T / JetPack", "module", "RAM used / total", "image", "Ollama",
           "models", "memory tier", "bench tokens/s", "notes")


def _bench_text(bench: BenchFigures | None) -> str:
    if not bench or not bench.tokens_per_s:
        return "-"
    figures = ", ".join(f"{model} {value:.1f}" for model, value in bench.tokens_per_s.items())
    return f"{figures} ({bench.time})"


def cells(record: BoardRecord) -> dict[str, str]:
    """The table row of a record, column name -> text ("-" where nothing is known)."""
    release = "-"
    if record.l4t:
        release = f"{record.l4t} / {record.jetpack}" if record.jetpack else record.l4t
    ram = "-"
    if record.mem_total_mb:
        percent = record.ram_used_percent
        used = f"{gb_text(record.mem_used_mb)} / " if record.mem_used_mb is not None else ""
        ram = f"{used}{gb_text(record.mem_total_mb)} GB" + (f" ({percent:.0f} %)" if percent is not None else "")
    tier = f"{record.tier} ({record.tier_basis})" if record.tier else "-"
    row = [record.name, record.address, record.status, release, record.board_model or "-", ram,
           record.image or "-", record.ollama_version or "-", ", ".join(record.models) or "-", tier,
           _bench_text(record.bench), "; ".join(record.notes) or "-"]
    if not record.reachable:
        row[3:] = ["-"] * (len(COLUMNS) - 3)
    return dict(zip(COLUMNS, row, strict=True))


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(records: list[BoardRecord], *, generated: datetime | None = None,
                    inventory: str = "") -> str:
    generated = generated or datetime.now(timezone.utc)
    lines = [f"# Jetson fleet report{f': {inventory}' if inventory else ''}", "",
             f"{_summary(records)}. Generated {generated:%Y-%m-%d %H:%M %Z}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for record in records:
        lines.append("| " + " | ".join(_md_cell(text) for text in cells(record).values()) + " |")
    lines += ["", "Memory tiers (share of RAM, docs/facts.md section 6): green < 70 %, yellow 70-85 %, red 85-95 %, "
                  "black > 95 %. RAM used = MemTotal - MemAvailable."]
    return "\n".join(lines) + "\n"


def _summary(records: list[BoardRecord]) -> str:
    reachable = sum(record.reachable for record in records)
    text = f"{len(records)} board{'s' if len(records) != 1 else ''}, {reachable} reachable"
    tiers = [record.tier for record in records if record.reachable and record.tier]
    counts = ", ".join(f"{tiers.count(tier)} {tier}" for tier in TIERS if tier in tiers)
    return f"{text} ({counts})" if counts else text


def render_html(records: list[BoardRecord], *, generated: datetime | None = None, inventory: str = "") -> str:
    generated = generated or datetime.now(timezone.utc)
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    rows = [{"record": record, "cells": cells(record)} for record in records]
    return environment.get_template(TEMPLATE).render(
        inventory=inventory, generated=f"{generated:%Y-%m-%d %H:%M %Z}", summary=_summary(records),
        columns=COLUMNS, rows=rows, charts=[ram_chart(records), tps_chart(records)], tier_colours=TIER_COLOURS,
    )


def write_report(records: list[BoardRecord], out_dir: str | os.PathLike, *, inventory: str = "",
                 generated: datetime | None = None) -> tuple[Path, Path]:
    """Writes `report.md` and `report.html` into out_dir (created); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generated = generated or datetime.now(timezone.utc)
    markdown, html = out / "report.md", out / "report.html"
    markdown.write_text(render_markdown(records, generated=generated, inventory=inventory))
    html.write_text(render_html(records, generated=generated, inventory=inventory))
    return markdown, html


def screenshot(html_path: str | os.PathLike, png_path: str | os.PathLike, *, timeout: float = 60) -> bool:
    """A PNG of the HTML as headless chromium renders it, to look at the picture; False when there is no
    `chromium` on PATH or it made no file. Networking features are off: the page needs none."""
    chromium = shutil.which("chromium")
    if not chromium:
        return False
    png = Path(png_path).resolve()
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1200,900",
                   Path(html_path).resolve().as_uri()]
        try:
            proc = subprocess.run(command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False
    return proc.returncode == 0 and png.is_file() and png.stat().st_size > 0
