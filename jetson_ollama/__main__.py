"""Command line: `jetson-ollama COMMAND ...` (the console script of the package), or
`python -m jetson_ollama COMMAND ...`: check, init, report, rollout, bundle, ca.

Each command lives in its own module, which adds its parser with `add_command(subparsers)` and sets
`run(args) -> exit status` as the parser's default; list the module in COMMANDS to add a command.
"""

from __future__ import annotations

import argparse
import sys

from . import bundle, hostdata, init, report, rollout, tls

COMMANDS = (hostdata, init, report, rollout, bundle, tls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jetson-ollama",
                                     description="Tools for Jetson boards deployed with jetson-ollama.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_command(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
