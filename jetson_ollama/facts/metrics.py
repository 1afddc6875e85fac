"""Facts about the board's metrics: the arguments the Prometheus node exporter starts with.

Debian's ``prometheus-node-exporter`` package (1.5.0-1+b6, read from its .deb; Ubuntu builds its package from
Debian's source) starts
``/usr/bin/prometheus-node-exporter $ARGS`` with ``EnvironmentFile=/etc/default/prometheus-node-exporter``
(its ``prometheus-node-exporter.service``); the packaged file holds ``ARGS=""`` under four lines of
comments, and the package's textfile collector reads ``/var/lib/prometheus/node-exporter/*.prom`` by
default (its ``README.textfile``; the package creates that directory).
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from typing_extensions import TypedDict, override

EXPORTER_DEFAULTS = "/etc/default/prometheus-node-exporter"


class ExporterDefaultsDict(TypedDict):
    present: bool  # the file exists
    args: str      # its ARGS as the shell reads them ("" without the line)


class ExporterArgs(FactBase[ExporterDefaultsDict]):
    """
    Returns whether ``/etc/default/prometheus-node-exporter`` exists (not before the package is installed,
    or the deploy writes it) and the node exporter's ``ARGS`` in it as the shell reads them (quotes
    removed; the last assignment wins; ``""`` without one).
    """

    @override
    def command(self) -> str:
        path = EXPORTER_DEFAULTS
        return f"test -f {path} && {{ echo file; grep -E '^[[:space:]]*ARGS=' {path}; }} || true"

    @staticmethod
    def default() -> ExporterDefaultsDict:
        return {"present": False, "args": ""}

    @override
    def process(self, output: list[str]) -> ExporterDefaultsDict:
        if not output or output[0].strip() != "file":
            return self.default()
        args = ""
        for line in output[1:]:
            value = line.strip()[len("ARGS="):]
            try:
                words = shlex.split(value, comments=True)
            except ValueError:  # an unbalanced quote: not what we wrote, so it differs
                words = [value]
            args = " ".join(words)
        return {"present": True, "args": args}
