"""`jetson-ollama init DIR`: a starter project for real boards, from the package's `starter/` files.

    DIR/inventory.py          the boards by class (Orin Nano 8GB, Orin NX 16GB, AGX Orin 64GB), SSH settings;
                              the addresses are the user's to put in
    DIR/group_data/all.py     the settings a user edits, each commented out at its default (defaults.py),
                              and `ollama_models = "auto"`
    DIR/models.lock           an empty lock (its header only), which the first pulls fill; commit it
    DIR/README.md             the commands to run

DIR must be empty or not exist (`--force` writes over the starter's own files, and keeps the rest).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import lock
from .cli import one_line_errors
from .resources import PACKAGE

STARTER = PACKAGE / "starter"
FILES = ("inventory.py", "group_data/all.py", "README.md")  # copied from STARTER; models.lock is written
LOCK = "models.lock"


def init(directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write the starter project into `directory` (made if missing) and answer the files written.
    Raises FileExistsError (one line) when the directory is not empty and `force` is not set, and
    NotADirectoryError when it is a file."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} is not a directory")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise FileExistsError(f"{target} is not empty: init writes into an empty or new directory (--force to "
                              f"write the starter files over it)")
    written = []
    for name in FILES:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((STARTER / name).read_text())
        written.append(path)
    path = target / LOCK
    if not path.exists() or path.read_text().strip() == "":  # a lock with entries is never overwritten
        path.write_text(lock.HEADER)  # the header alone: a lock with no model yet (lock.load answers {})
    written.append(path)
    return written


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "init", help="write a starter project: inventory.py, group_data/all.py, models.lock, README.md",
        description="Write a starter project into DIR (empty or new): an inventory of boards by class to put "
                    "your boards' addresses in, group_data/all.py with every setting a user edits at its "
                    "default, an empty models.lock and a README with the commands to run.")
    parser.add_argument("directory", metavar="DIR", help="where to write it (made if missing)")
    parser.add_argument("--force", action="store_true",
                        help="write into a directory that is not empty (the starter files are replaced; "
                             "a models.lock with entries is kept)")
    one_line_errors(parser, "jetson-ollama init")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        written = init(args.directory, force=args.force)
    except (FileExistsError, NotADirectoryError) as exc:
        print(f"jetson-ollama init: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"next: put your boards in {Path(args.directory) / 'inventory.py'}, then from {args.directory}: "
          f"pyinfra inventory.py jetson_ollama.deploys.full")
    return 0
