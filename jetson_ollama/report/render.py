"""Rendering the fleet report: a row of cells per record (`cells`), the boards' history of bench and
quick-test runs (`history`), `report.md` (`render_markdown`), self-contained `report.html`
(`render_html`: the template's inline CSS and inline SVG charts, no external resources), both written by
`write_report`, and a PNG of the whole HTML page (`screenshot`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..catalog import TIERS
from .charts import GPU_COLOURS, TIER_COLOURS, gb_text, model_ram_chart, ram_chart, tps_chart
from .collect import BenchFigures, BoardRecord, QuickTestRun
from ..resources import TEMPLATES

TEMPLATE = "report.html.j2"

COLUMNS = ("board", "address", "status", "L4T / JetPack", "module", "RAM used / total", "image", "Ollama",
           "models", "loaded (RAM, GPU share)", "memory tier", "bench tokens/s", "notes")
HISTORY_COLUMNS = ("board", "bench tokens/s, oldest first", "quick-test, oldest first")
WINDOW_WIDTH = 1200  # the PNG's width at the least; wider when the page is


def _bench_text(bench: BenchFigures | None) -> str:
    if not bench or not bench.tokens_per_s:
        return "-"
    figures = ", ".join(f"{model} {value:.1f}" for model, value in bench.tokens_per_s.items())
    return f"{figures} ({bench.time})"


def _loaded_text(record: BoardRecord) -> str:
    return ", ".join(f"{model.name} {model.size_bytes / 1024 ** 3:.1f} GB ({model.gpu_percent:.0f} % GPU)"
                     for model in record.loaded) or "-"


def _bench_run_text(run: BenchFigures) -> str:
    figures = ", ".join(f"{model} {value:.1f}" for model, value in run.tokens_per_s.items()) or "no figures"
    return f"{run.time}: {figures}"


def _quick_run_text(run: QuickTestRun) -> str:
    total = run.passed + len(run.failed)
    return f"{run.time}: {run.passed}/{total} OK" + (f" (failed: {', '.join(run.failed)})" if run.failed else "")


def history(records: list[BoardRecord]) -> list[dict[str, list[str]]]:
    """The history section: per reachable board with runs kept, its bench and quick-test runs as lines."""
    return [{"board": [record.name], "bench": [_bench_run_text(run) for run in record.bench_history],
             "quick-test": [_quick_run_text(run) for run in record.quick_tests]}
            for record in records if record.reachable and (record.bench_history or record.quick_tests)]


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
           record.image or "-", record.ollama_version or "-", ", ".join(record.models) or "-", _loaded_text(record),
           tier,
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
    past = history(records)
    if past:  # a list, not a table: the boards' table stays the only one whose rows start with a board
        lines += ["", "## History", ""]
        lines += [f"- {_md_cell(row['board'][0])}: bench tokens/s {'; '.join(row['bench']) or '-'}; "
                  f"quick-test {'; '.join(row['quick-test']) or '-'}" for row in past]
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
        columns=COLUMNS, rows=rows, charts=[ram_chart(records), tps_chart(records), model_ram_chart(records)],
        tier_colours=TIER_COLOURS, gpu_colours=GPU_COLOURS, history_columns=HISTORY_COLUMNS, history=history(records),
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


_MEASURE = """<script>window.addEventListener("load", function () {
  var page = document.documentElement;
  document.body.setAttribute("data-page-size", Math.ceil(page.scrollWidth) + "x" + Math.ceil(page.scrollHeight));
});</script>"""


def _chromium(chromium: str, profile: str, *args: str) -> list[str]:
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}", *args]


def page_size(chromium: str, html_path: Path, width: int, profile: str, timeout: float) -> tuple[int, int] | None:
    """The page's full width and height (scrollWidth, scrollHeight) in a window `width` wide, as chromium
    lays it out: a copy of the page with a script that writes them into the DOM chromium dumps; None when
    chromium gives no size. The report itself carries no script."""
    html = html_path.read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".html", dir=html_path.parent, delete=False) as probe:
        probe.write(html.replace("</body>", _MEASURE + "</body>", 1) if "</body>" in html else html + _MEASURE)
    try:
        proc = subprocess.run(_chromium(chromium, profile, f"--window-size={width},900", "--dump-dom",
                                        Path(probe.name).as_uri()),
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None
    finally:
        Path(probe.name).unlink(missing_ok=True)
    found = re.search(r'data-page-size="(\d+)x(\d+)"', proc.stdout)
    return (int(found.group(1)), int(found.group(2))) if found else None


def screenshot(html_path: str | os.PathLike, png_path: str | os.PathLike, *, timeout: float = 60) -> bool:
    """A PNG of the whole HTML page as headless chromium renders it, to look at the picture; False when
    there is no `chromium` on PATH or it made no file. The page is measured first (`page_size`: at least
    WINDOW_WIDTH wide, then as tall as it is at that width) and the window made that size, so no column
    or row is cut. Networking features are off: the page needs none."""
    chromium = shutil.which("chromium")
    if not chromium:
        return False
    html, png = Path(html_path).resolve(), Path(png_path).resolve()
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        width, height = WINDOW_WIDTH, 900
        size = page_size(chromium, html, width, profile, timeout)
        if size and size[0] > width:  # a table wider than the window: measure again at its width
            width = size[0]
            size = page_size(chromium, html, width, profile, timeout)
        if size:
            width, height = max(width, size[0]), max(size[1], 1)
        command = _chromium(chromium, profile, f"--screenshot={png}", f"--window-size={width},{height}", html.as_uri())
        try:
            proc = subprocess.run(command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False
    return proc.returncode == 0 and png.is_file() and png.stat().st_size > 0
