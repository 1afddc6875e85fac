"""What the command modules of `python -m jetson_ollama` share (each adds its own parser, __main__.py)."""

from __future__ import annotations

import argparse
from typing import NoReturn


def one_line_errors(parser: argparse.ArgumentParser, prog: str) -> None:
    """Makes `parser` answer a usage error with one line, `PROG: message`, and exit status 2, rather than
    argparse's usage block."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{prog}: {message}\n")

    parser.error = error  # type: ignore[method-assign]  # argparse offers no other hook for its usage errors
