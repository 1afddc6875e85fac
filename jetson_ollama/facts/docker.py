"""Facts about the Docker engine and its NVIDIA runtime (docs/facts.md section 3).

pyinfra's own ``docker.DockerSystemInfo`` fails when docker is missing or its daemon is down; these
facts report those states instead.
"""

from __future__ import annotations

import json
from typing import Any

from pyinfra.api import FactBase
from typing_extensions import TypedDict, override


class DockerStateDict(TypedDict):
    installed: bool
    version: str | None
    running: bool
    runtimes: list[str]
    default_runtime: str | None


class DockerState(FactBase[DockerStateDict]):
    """
    Returns whether the docker client is installed, whether its daemon answers, the server version,
    the runtimes it knows (``nvidia`` once ``/etc/docker/daemon.json`` registers it) and the default
    runtime, from ``docker info --format '{{json .}}'``. Facts section 3.
    """

    @override
    def command(self) -> str:
        # first line: the path `command -v` prints; then docker info's JSON, also printed (with an
        # empty ServerVersion) when the daemon is down
        return "command -v docker && docker info --format '{{json .}}' 2>/dev/null; true"

    @staticmethod
    def default() -> DockerStateDict:
        return {"installed": False, "version": None, "running": False, "runtimes": [], "default_runtime": None}

    @override
    def process(self, output: list[str]) -> DockerStateDict:
        state = self.default()
        if not output:
            return state
        state["installed"] = True
        info: dict[str, Any] = {}
        for line in output:
            if line.startswith("{"):
                try:
                    info = json.loads(line)
                except ValueError:
                    pass
        state["version"] = info.get("ServerVersion") or None
        state["running"] = bool(state["version"]) and not info.get("ServerErrors")
        if state["running"]:
            state["runtimes"] = list(info.get("Runtimes") or {})
            state["default_runtime"] = info.get("DefaultRuntime") or None
        return state


class DockerDaemonJson(FactBase[dict[str, Any]]):
    """
    Returns ``/etc/docker/daemon.json`` parsed: ``{}`` when absent, ``{"_invalid": True}`` when it
    exists but is not a JSON object (dockerd refuses to start then; an empty file counts as invalid).
    JetPack registers the runtime there:
    ``{"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}}``. Facts section 3.
    """

    @override
    def command(self) -> str:
        # the echo makes an existing but empty file print one line, so it is told apart from absent
        return "if [ -e /etc/docker/daemon.json ]; then cat /etc/docker/daemon.json; echo; fi; true"

    @staticmethod
    def default() -> dict[str, Any]:
        return {}

    @override
    def process(self, output: list[str]) -> dict[str, Any]:
        if not output:
            return {}
        try:
            config = json.loads("\n".join(output))
        except ValueError:
            return {"_invalid": True}
        return config if isinstance(config, dict) else {"_invalid": True}
