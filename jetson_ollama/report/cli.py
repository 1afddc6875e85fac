"""`python -m jetson_ollama report INVENTORY -o reports/`: the command that reads every board of an
inventory (collect.py) and writes report.md and report.html (render.py), report.png on request.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..remote import CONNECT_TIMEOUT, InventoryError, load_inventory
from .collect import collect
from .render import _summary, screenshot, write_report


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
