"""Open WebUI on the board (`ollama_webui`): the container the plan decides and the figures it is
planned with. Pure functions; the operations are operations/webui.py, the proxy in front of it
operations/proxy.py. docs/facts.md section 9 says what Open WebUI itself takes (its environment, its
health endpoint, its socket.io path) and where the image comes from.

The container listens on 127.0.0.1:LOOPBACK_PORT only (HOST, PORT), talks to Ollama on 127.0.0.1
(OLLAMA_BASE_URL), keeps its data in DATA_DIR on the board, and gets WEBUI_SECRET_KEY from a file made
once on the board (`--env-file`), so the key never passes through the controller and survives a new
container (start.sh would otherwise make one inside the container, lost with it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONTAINER = "open-webui"
LOOPBACK_PORT = 11446          # Open WebUI's own port on 127.0.0.1 (its PORT); the proxy is the way in
VERIFIER_PORT = 11436          # the key verifier's (operations/proxy.py VERIFIER_LISTEN)
DATA_DIR = "/var/lib/jetson-ollama/open-webui"      # on the board, mounted at CONTAINER_DATA_DIR
CONTAINER_DATA_DIR = "/app/backend/data"            # Open WebUI's DATA_DIR in its image
SECRET_FILE = "/var/lib/jetson-ollama/open-webui.env"  # WEBUI_SECRET_KEY=..., root only, made on the board
SPEC_LABEL = "jetson-ollama.webui-spec"
HEALTH_PATH = "/health"        # {"status": true} (the image's own HEALTHCHECK)
SOCKET_PATH = "/ws/socket.io"  # socket.io, mounted at /ws: the proxy upgrades it to a websocket

_DATA = Path(__file__).parent / "data" / "webui.yaml"


@cache
def figures() -> dict[str, Any]:
    """data/webui.yaml: Open WebUI's resident memory and its image's disk, with whether each is verified."""
    return yaml.safe_load(_DATA.read_text())


def memory_bytes() -> int:
    return int(figures()["memory_mb"]) * 1024 * 1024


@dataclass(frozen=True)
class WebUiPlan:
    """What the plan decided for ollama_webui on a board."""

    image: str                           # the pinned version tag (ollama_webui_image)
    digest: str | None                   # its pin in models.lock (`images`), None before the first pull
    present: bool                        # the board has the image already
    env: dict[str, str] = field(default_factory=dict)
    memory_mb: int = 0                   # added to each model's memory fit
    listen: str = ""                     # address:port of the proxy's web UI server
    found_spec: str = ""                 # the spec label of the board's open-webui container ("" when none)
    found_running: bool = False

    @property
    def upstream(self) -> str:
        return f"127.0.0.1:{LOOPBACK_PORT}"

    @property
    def spec_hash(self) -> str:
        return container_spec(self.image, self.env)[1]


def environment(api_port: int) -> dict[str, str]:
    """The container's environment (docs/facts.md section 9): bound to 127.0.0.1, Ollama on 127.0.0.1, its
    own logins kept on (WEBUI_AUTH: the proxy's key gets a browser to the page, each user still signs in)."""
    return {"HOST": "127.0.0.1", "PORT": str(LOOPBACK_PORT), "OLLAMA_BASE_URL": f"http://127.0.0.1:{api_port}",
            "WEBUI_AUTH": "True", "DATA_DIR": CONTAINER_DATA_DIR}


def container_spec(image: str, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The Open WebUI container's spec and its hash (sha256 of the spec as sorted JSON): what the container
    is labelled with, so it is made again only when the spec changes. The image is a version tag whose
    digest the pull checks against models.lock, so the tag stands for the image."""
    spec = {"image": image, "env": dict(sorted(env.items())), "env_file": SECRET_FILE,
            "mounts": [{"source": DATA_DIR, "destination": CONTAINER_DATA_DIR}], "restart": "unless-stopped",
            "network": "host"}
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return spec, hashlib.sha256(text.encode()).hexdigest()


def run_words(spec: dict[str, Any], spec_hash: str) -> list[str]:
    """`docker run` of the container of `spec`, word by word (no GPU runtime: Ollama does the inference)."""
    words = ["docker", "run", "-d", "--name", CONTAINER, "--restart", spec["restart"], "--network", "host",
             "--env-file", spec["env_file"]]
    for key, value in spec["env"].items():
        words += ["-e", f"{key}={value}"]
    for mount in spec["mounts"]:
        words += ["-v", f"{mount['source']}:{mount['destination']}"]
    return [*words, "--label", f"{SPEC_LABEL}={spec_hash}", spec["image"]]
