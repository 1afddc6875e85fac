"""The fleet report: one row per inventory host, as Markdown (`report.md`) and self-contained HTML
(`report.html`: inline CSS and inline SVG charts, no external resources).

    python -m jetson_ollama report inventories/lab.py -o reports/

Every board is read at once (one thread each, a short connect timeout); a board that cannot be reached
is a row `unreachable: <reason>`, never a crash. What a row shows, and where it is read on the board:
the L4T release and JetPack (`/etc/nv_tegra_release`, docs/facts.md section 1), the devicetree model, RAM total
and in use (`/proc/meminfo`: MemTotal - MemAvailable), the image of the Ollama container, the Ollama
version (`/api/version` with curl on the board's loopback), the models (`/api/tags`), the memory tier
(the library's estimate for the largest model present, else the tier of the RAM in use; tiers from
docs/facts.md section 6) and the last `bench` figures (`/var/lib/jetson-ollama/bench.json`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import paramiko
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .remote import (
    COMMAND_TIMEOUT, CONNECT_TIMEOUT, Board, FactReader, InventoryError, InventoryHost, Unreachable, api_url,
    board_desktop, describe_error, load_inventory, sudo_problem,
)
from .config import ConfigError, settings
from .facts.containers import OllamaContainer
from .facts.jetson import BoardModel, Memory, TegraRelease
from .facts.models import OllamaModels
from .facts.ollama import OllamaVersion
from .catalog import TIERS, estimate, model_info, tier_of
from .releases import UnknownRelease, release_info

BENCH_FILE = "/var/lib/jetson-ollama/bench.json"
TEMPLATES = Path(__file__).parents[1] / "templates"
TEMPLATE = "report.html.j2"
TIER_COLOURS = {"green": "#2f9e44", "yellow": "#e8b100", "red": "#d9381e", "black": "#111111"}
TIER_LIMITS = (70, 85, 95)  # percent of RAM where yellow, red and black begin (docs/facts.md section 6)
MAX_WORKERS = 32


@dataclass(frozen=True)
class BenchFigures:
    """The last `bench` run on a board: when, and decode tokens/s per model."""

    time: str
    tokens_per_s: dict[str, float]


@dataclass
class BoardRecord:
    """What the report knows about one inventory host."""

    name: str
    address: str
    status: str = "ok"  # ok | not a Jetson | unreachable: <reason> | error: <reason>
    l4t: str | None = None
    jetpack: str | None = None
    board_model: str | None = None
    mem_total_mb: int | None = None
    mem_used_mb: int | None = None
    image: str | None = None
    ollama_version: str | None = None
    models: list[str] = field(default_factory=list)
    tier: str | None = None
    tier_basis: str | None = None  # "qwen2.5:7b estimated at 87 %" or "RAM in use"
    estimate_percent: float | None = None  # the largest present model's estimate, when there is one
    bench: BenchFigures | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        return not self.status.startswith(("unreachable", "error"))

    @property
    def ram_used_percent(self) -> float | None:
        if not self.mem_total_mb or self.mem_used_mb is None:
            return None
        return self.mem_used_mb / self.mem_total_mb * 100


# ---------------------------------------------------------------- reading a board

def parse_bench(text: str) -> tuple[BenchFigures | None, str | None]:
    """The figures of a bench.json (`{"board","time","results":[...],"summary":{model:{"tokens_per_s"}}}`),
    and a problem to note; (None, None) when there is no file."""
    if not text.strip():
        return None, None
    try:
        doc = json.loads(text)
        summary = doc.get("summary") or {}
        figures = {model: float(row["tokens_per_s"]) for model, row in summary.items()
                   if isinstance(row, dict) and isinstance(row.get("tokens_per_s"), (int, float))}
    except (ValueError, AttributeError, TypeError):
        return None, f"{BENCH_FILE} does not parse"
    return BenchFigures(str(doc.get("time") or "?"), figures), None


def _largest_known(names: Iterable[str]):
    infos = []
    for name in names:
        try:
            info = model_info(name)
        except ValueError:
            info = None
        if info:
            infos.append(info)
    return max(infos, key=lambda info: info.download_bytes, default=None)


def read_board(runner, host: InventoryHost) -> BoardRecord:
    """The record of a connected board; `runner` runs a shell command on it (`Board`, testinfra's Host)."""
    record = BoardRecord(host.name, host.address)
    reader = FactReader(runner, host.data, host.name)
    try:
        cfg = settings(host.data)
    except ConfigError as exc:
        record.notes.append(f"host data: {exc}; shown with the defaults")
        cfg = settings()

    tegra = reader.get_fact(TegraRelease)
    if tegra:
        record.l4t = tegra["l4t"]
        try:
            record.jetpack = release_info(tegra["l4t"]).jetpack
        except UnknownRelease:
            record.notes.append(f"L4T {tegra['l4t']} is not in data/l4t_releases.yaml")
    else:
        record.status = "not a Jetson"
    record.board_model = reader.get_fact(BoardModel).get("model")
    memory = reader.get_fact(Memory)
    if memory.get("mem_total_mb"):
        record.mem_total_mb = memory["mem_total_mb"]
        if "mem_available_mb" in memory:
            record.mem_used_mb = memory["mem_total_mb"] - memory["mem_available_mb"]

    container = reader.get_fact(OllamaContainer, container=cfg.ollama_container_name)
    if container:
        record.image = container.get("image") or None
        if not container.get("running"):
            record.notes.append(f"container {cfg.ollama_container_name} is {container.get('status') or 'not running'}")
    elif tegra:
        record.notes.append(f"no container {cfg.ollama_container_name}")
    api = api_url(cfg.ollama_host)
    record.ollama_version = reader.get_fact(OllamaVersion, url=api)
    if record.ollama_version is None and container.get("running"):
        record.notes.append(f"{api}/api/version does not answer")
    record.models = sorted(reader.get_fact(OllamaModels, url=api)) if record.ollama_version else []

    largest = _largest_known(record.models)
    if largest and record.mem_total_mb:
        fit = estimate(largest, record.mem_total_mb, board_desktop(reader, cfg), cfg.ollama_context_length,
                       cfg.ollama_num_parallel)
        record.tier, record.estimate_percent = fit.tier, fit.percent
        record.tier_basis = f"{largest.tag} estimated at {fit.percent:.0f} %"
    elif record.ram_used_percent is not None:
        record.tier, record.tier_basis = tier_of(record.ram_used_percent), "RAM in use"

    record.bench, problem = parse_bench(runner.run(f"cat {BENCH_FILE} 2>/dev/null || true").stdout)
    if problem:
        record.notes.append(problem)
    return record


def gather(host: InventoryHost, *, timeout: float = CONNECT_TIMEOUT) -> BoardRecord:
    """One board's record; `unreachable: <reason>` when it cannot be reached, never an exception."""
    try:
        board = Board.open(host, timeout=timeout)
    except Unreachable as exc:
        return BoardRecord(host.name, host.address, status=f"unreachable: {exc}")
    try:
        if problem := sudo_problem(board, board.target):
            return BoardRecord(host.name, host.address, status=f"error: {problem}")
        return read_board(board, host)
    except (paramiko.SSHException, OSError, EOFError) as exc:  # the session died half-way
        return BoardRecord(host.name, host.address, status=f"unreachable: {describe_error(exc, COMMAND_TIMEOUT)}")
    except Exception as exc:  # noqa: BLE001 - one odd board must not cost the others their rows
        return BoardRecord(host.name, host.address, status=f"error: {type(exc).__name__}: {exc}")
    finally:
        board.close()


def collect(hosts: list[InventoryHost], *, timeout: float = CONNECT_TIMEOUT) -> list[BoardRecord]:
    """The records of all hosts, read in parallel, in inventory order."""
    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(hosts)), thread_name_prefix="report") as pool:
        return list(pool.map(lambda host: gather(host, timeout=timeout), hosts))


# ---------------------------------------------------------------- rendering

COLUMNS = ("board", "address", "status", "L4T / JetPack", "module", "RAM used / total", "image", "Ollama",
           "models", "memory tier", "bench tokens/s", "notes")


def _gb(mb: int) -> str:
    return f"{mb / 1024:.1f}"


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
        used = f"{_gb(record.mem_used_mb)} / " if record.mem_used_mb is not None else ""
        ram = f"{used}{_gb(record.mem_total_mb)} GB" + (f" ({percent:.0f} %)" if percent is not None else "")
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
        percent = record.ram_used_percent
        if percent is None:
            rows.append(_Row(record.name, 0.0, "unknown", "#bbbbbb", "bar ram tier-unknown",
                             f"{record.name}: RAM unknown"))
            continue
        tier = tier_of(percent)
        ram = f"{_gb(record.mem_used_mb)} of {_gb(record.mem_total_mb)} GB"
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


# ---------------------------------------------------------------- command line

def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("report", help="the fleet report: report.md and report.html",
                                 description="Read every board of a pyinfra inventory over SSH (strict host keys) "
                                             "and write report.md and report.html.")
    parser.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/lab.py")
    parser.add_argument("-o", "--output", default="reports", metavar="DIR", help="where to write (default: reports)")
    parser.add_argument("--timeout", type=float, default=CONNECT_TIMEOUT, metavar="S",
                        help=f"SSH connect timeout per board in seconds (default: {CONNECT_TIMEOUT:g})")
    parser.add_argument("--png", action="store_true", help="also write report.png with headless chromium")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        hosts = load_inventory(args.inventory)
    except InventoryError as exc:
        print(f"jetson-ollama report: {exc}")
        return 2
    records = collect(hosts, timeout=args.timeout)
    markdown, html = write_report(records, args.output, inventory=args.inventory)
    for record in records:
        print(f"{record.name}: {record.status}")
    print(f"{_summary(records)}: wrote {markdown} and {html}")
    if args.png:
        png = Path(args.output) / "report.png"
        print(f"wrote {png}" if screenshot(html, png) else "no report.png: chromium is not on PATH or failed")
    return 0


__all__ = ["BoardRecord", "BenchFigures", "read_board", "gather", "collect", "render_markdown", "render_html",
           "write_report", "screenshot", "parse_bench", "cells", "ram_chart", "tps_chart"]
