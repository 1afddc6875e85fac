"""Facts about Ollama as seen from the board: who holds its port, and what its API answers (docs/facts.md section 5)."""

from __future__ import annotations

import json
import re

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import TypedDict, override


class ListenerDict(TypedDict):
    address: str
    port: int
    process: str | None  # None when ss may not see the owner (not root)


class PortListener(FactBase[list[ListenerDict]]):
    """
    Returns the TCP listeners on ``port`` with their process, from ``ss -ltnpH``: a native
    ``ollama.service`` on 11434 blocks a host-network Ollama container. Facts section 5.

    + port: TCP port, default 11434 (Ollama's)
    """

    @override
    def command(self, port: int = 11434) -> StringCommand:
        return StringCommand("ss -ltnpH", QuoteString(f"sport = :{int(port)}"), "2>/dev/null || true")

    @staticmethod
    def default() -> list[ListenerDict]:
        return []

    @override
    def process(self, output: list[str]) -> list[ListenerDict]:
        # LISTEN 0 4096 127.0.0.1:11434 0.0.0.0:* users:(("ollama",pid=812,fd=3))
        listeners: list[ListenerDict] = []
        for line in output:
            fields = line.split()
            if len(fields) < 5 or fields[0] != "LISTEN":
                continue
            address, _, port = fields[3].rpartition(":")
            if not port.isdigit():
                continue
            process = re.search(r'users:\(\("([^"]+)"', line)
            listeners.append({
                "address": address.strip("[]").partition("%")[0],  # [::] and 127.0.0.53%lo
                "port": int(port),
                "process": process[1] if process else None,
            })
        return listeners


class OllamaVersion(FactBase[str | None]):
    """
    Returns the version the Ollama API at ``url`` reports (``GET /api/version`` ->
    ``{"version":"0.6.8"}``; old jetson-containers images say ``0.0.0``); ``None`` when nothing
    answers. Facts sections 4 and 5.

    + url: base URL of the API, default ``http://127.0.0.1:11434``
    """

    @override
    def command(self, url: str = "http://127.0.0.1:11434") -> StringCommand:
        return StringCommand(
            "curl -fsS --max-time 3", QuoteString(url.rstrip("/") + "/api/version"), "|| true"
        )

    @override
    def process(self, output: list[str]) -> str | None:
        try:
            version = json.loads("\n".join(output)).get("version")
        except (ValueError, AttributeError):
            return None
        return version if isinstance(version, str) else None
