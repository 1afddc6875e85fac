"""The fleet report: one row per inventory host, as Markdown (`report.md`) and self-contained HTML
(`report.html`: inline CSS and inline SVG charts, no external resources).

    python -m jetson_ollama report inventories/lab.py -o reports/

Every board is read at once (one thread each, a short connect timeout); a board that cannot be reached
is a row `unreachable: <reason>`, never a crash. What a row shows, and where it is read on the board:
the L4T release and JetPack (`/etc/nv_tegra_release`, docs/facts.md section 1), the devicetree model, RAM total
and in use (`/proc/meminfo`: MemTotal - MemAvailable), the image of the Ollama container, the Ollama
version (`/api/version` with curl on the board's loopback), the models (`/api/tags`), the memory tier
(the library's estimate for the largest model present, else the tier of the RAM in use; tiers from
docs/facts.md section 6), the last `bench` figures (`/var/lib/jetson-ollama/bench.json`), the models
loaded and the RAM each takes (`/api/ps`: size, and size_vram for the GPU's share) and, below the table,
each board's history: its last runs of bench and quick-test (`bench-history.jsonl` and
`quick-test-history.jsonl` beside bench.json, one JSON line a run, written by the board scripts).

The package: collect.py reads the boards (`collect`, `gather`, `read_board`, `BoardRecord`),
render.py writes the Markdown and HTML (`render_markdown`, `render_html`, `write_report`,
`screenshot`), charts.py computes the HTML's charts, cli.py is the command.
"""

from __future__ import annotations

from .charts import GPU_COLOURS, TIER_COLOURS, TIER_LIMITS, Bar, Chart, model_ram_chart, ram_chart, tps_chart
from .cli import add_command, run
from .collect import (
    BENCH_FILE, MAX_WORKERS, BenchFigures, BoardRecord, LoadedModel, QuickTestRun, collect, gather, parse_bench,
    parse_history, parse_loaded, read_board,
)
from .render import (
    COLUMNS, TEMPLATE, TEMPLATES, cells, history, page_size, render_html, render_markdown, screenshot, write_report,
)

__all__ = ["BoardRecord", "BenchFigures", "read_board", "gather", "collect", "render_markdown", "render_html",
           "write_report", "screenshot", "parse_bench", "cells", "ram_chart", "tps_chart", "add_command", "run",
           "BENCH_FILE", "MAX_WORKERS", "COLUMNS", "TEMPLATE", "TEMPLATES", "TIER_COLOURS", "TIER_LIMITS", "Bar",
           "Chart", "LoadedModel", "QuickTestRun", "parse_history", "parse_loaded", "history", "page_size",
           "model_ram_chart", "GPU_COLOURS"]
