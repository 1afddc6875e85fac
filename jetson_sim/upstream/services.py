"""The simulated internet of one fleet, served on its bridge address and reachable only from its boards.

- a CNCF distribution registry (Debian's docker-registry) that the boards' dockerd uses as its Docker Hub
  mirror, preloaded with `dustynv/ollama:<tag>` for the prebuilt tags of docs/facts.md section 4, and a
  simulated `open-webui/open-webui:0.6.32` (docs/facts.md section 9; the boards pull it from here by address);
- a git daemon with the simulated jetson-containers repository;
- the simulated Ollama model registry (`registry.ollama.ai` on the boards);
- the simulated GitHub release downloads of Ollama (`github.com:11600` on the boards, github_releases.py);
- an apt proxy (apt-cacher-ng) that the boards' apt uses, fetching from the host's own Debian mirror.

Every process is started with its PID recorded under the fleet's directory and stopped by that PID.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, cast

from .. import base
from . import images
from .ollama.build import script_path

REGISTRY_PORT, GIT_PORT, OLLAMA_PORT, APT_PORT = 5000, 9418, 11500, 3142
RELEASES_PORT = 11600  # plain HTTP: the boards trust no certificate of ours
# names a board resolves to the bridge address (via /etc/hosts, which docker copies into
# host-network containers); anything else has no route
OLLAMA_REGISTRY_HOST = "registry.ollama.ai"
UPSTREAM_DIR = Path(__file__).parent

# Prebuilt dustynv/ollama tags as dusty-nv/jetson-containers packages/llm/ollama/README.md @16f7cf41 lists
# them, and the Ollama each one reports (images.py says how each version was worked out)
PREBUILT_OLLAMA = images.PREBUILT_OLLAMA
# what `jetson-containers build` starts FROM: ubuntu:<LSB_RELEASE> on JetPack 6 and 7 (20.04 stands in for
# JetPack 5's l4t-jetpack base; 24.04 is Thor's, dusty-nv/jetson-containers l4t_version.py get_l4t_base @16f7cf41)
BASE_TAGS = ("ubuntu:24.04", "ubuntu:22.04", "ubuntu:20.04")

START_OLLAMA = b"""#!/usr/bin/env bash
# as in the jetson-containers ollama image (docs/facts.md section 4): backgrounds the server, logs to a file
mkdir -p "$(dirname "$OLLAMA_LOGS")"
ollama serve > "$OLLAMA_LOGS" 2>&1 &
"""


def ollama_layer_files() -> dict[str, tuple[bytes, int]]:
    server = script_path().read_bytes()
    return {"/usr/local/bin/ollama": (server, 0o755), "/start_ollama": (START_OLLAMA, 0o755)}


# Open WebUI's own image (ghcr.io/open-webui/open-webui, docs/facts.md section 9), as the fleet's registry
# serves it under the same repository and tag: its WORKDIR, ENV and CMD, over the simulated server
OPEN_WEBUI_REPO, OPEN_WEBUI_TAG = "open-webui/open-webui", "0.6.32"
OPEN_WEBUI_START = b"""#!/usr/bin/env bash
# as open-webui/open-webui backend/start.sh: HOST and PORT with their defaults, then the server
exec python3 /app/backend/open_webui_sim.py
"""


def open_webui_layer_files() -> dict[str, tuple[bytes, int]]:
    server = (UPSTREAM_DIR / "open_webui.py").read_bytes()
    return {"/app/backend/open_webui_sim.py": (server, 0o755), "/app/backend/start.sh": (OPEN_WEBUI_START, 0o755)}


def open_webui_image_config() -> dict:
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ENV=prod", "PORT=8080",
           "OLLAMA_BASE_URL=/ollama", "WEBUI_SECRET_KEY=", "DO_NOT_TRACK=true"]
    return {"config": {"Env": env, "Cmd": ["bash", "start.sh"], "WorkingDir": "/app/backend",
                       "ExposedPorts": {"8080/tcp": {}}, "Labels": {"jetson-sim": "simulated open-webui image"}}}


def ollama_image_config(tag: str) -> dict:
    """The image config of docs/facts.md section 4: the ENV that points models at /data, and a CMD that
    needs a TTY to stay up; the simulated Ollama reports (and behaves as) what the real tag would."""
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "OLLAMA_HOST=0.0.0.0",
           "OLLAMA_MODELS=/data/models/ollama/models", "OLLAMA_LOGS=/data/logs/ollama.log",
           *images.ollama_sim_env(tag)]
    return {"config": {"Env": env, "Cmd": ["/bin/sh", "-c", "/start_ollama && /bin/bash"],
                       "Labels": {"jetson-sim": "simulated ollama image"}}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(host: str, port: int, proc: subprocess.Popen | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                program = cast(list[str], proc.args)[0]  # both callers start it from a list of str
                raise RuntimeError(f"{program} exited ({proc.returncode})"
                                   f" before listening on {host}:{port}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f} s") from None
            time.sleep(0.05)


def _registry_config(storage: Path, addr: str, path: Path) -> Path:
    path.write_text(json.dumps({  # YAML is a superset of JSON
        "version": 0.1, "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": addr},
    }))
    return path


def images_key() -> str:
    recipe = json.dumps([images.preload_key(), BASE_TAGS, images.EXCLUDED, base.image_key(),
                         hashlib.sha256(json.dumps({k: v[0].hex() for k, v in ollama_layer_files().items()})
                                        .encode()).hexdigest(),
                         hashlib.sha256(json.dumps({k: v[0].hex() for k, v in open_webui_layer_files().items()})
                                        .encode()).hexdigest(), open_webui_image_config()])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def ensure_mirror_storage(log=print) -> Path:
    """Registry storage preloaded with the base and prebuilt ollama images; built once and cached."""
    storage = base.cache_dir() / f"mirror-{images_key()}"
    if (storage / "complete").exists():
        return storage
    storage.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rootfs = base.ensure_base(log)
    layers_dir = base.cache_dir() / "layers"
    layers_dir.mkdir(exist_ok=True)
    base_layer = images.rootfs_layer(rootfs, layers_dir / f"base-{base.image_key()}.tar.gz")
    ollama_layer = images.files_layer(ollama_layer_files(), layers_dir / f"ollama-{images_key()}.tar.gz")
    webui_layer = images.files_layer(open_webui_layer_files(), layers_dir / f"open-webui-{images_key()}.tar.gz")
    port = _free_port()
    config = _registry_config(storage / "docker", f"127.0.0.1:{port}", storage / "preload.yml")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_port("127.0.0.1", port, proc)
        registry = images.Registry(f"http://127.0.0.1:{port}")
        for ref in BASE_TAGS:
            repo, tag = ref.split(":")
            registry.push(f"library/{repo}", tag, [base_layer], {"config": {"Cmd": ["/bin/bash"]}})
        for tag in PREBUILT_OLLAMA:
            registry.push("dustynv/ollama", tag, [base_layer, ollama_layer], ollama_image_config(tag))
        registry.push(OPEN_WEBUI_REPO, OPEN_WEBUI_TAG, [base_layer, webui_layer], open_webui_image_config())
    finally:
        proc.kill()
        proc.wait()
    (storage / "complete").write_text(f"preloaded in {time.monotonic() - started:.0f}s\n")
    log(f"registry mirror preloaded in {time.monotonic() - started:.0f}s")
    return storage


# a blob GET in the registry's access log:
#   10.0.0.12 - - [date] "GET /v2/<repo>/blobs/sha256:... HTTP/1.1" 200 90921918 ...
_ACCESS_RE = re.compile(r'(?P<client>\S+) \S+ \S+ \[[^]]*\] "(?P<method>[A-Z]+) '
                        r'/v2/(?P<repository>\S+)/blobs/(?P<digest>sha256:[0-9a-f]{64})'
                        r' [^"]*" (?P<status>\d{3}) (?P<size>\d+)')


class Upstream:
    """The upstream services of one fleet (`fleet.gateway` is their address)."""

    SERVICES = ("registry", "git", "ollama", "apt", "releases")

    def __init__(self, fleet):
        self.fleet = fleet
        self.dir = fleet.dir / "upstream"

    @property
    def address(self) -> str:
        return self.fleet.gateway

    # ---- what a board needs to use them ------------------------------------------------------
    def board_files(self) -> dict[str, str]:
        """Files in a board's root that point it at these services, as an admin of a real site
        with a mirror and a proxy would configure them."""
        gw = self.address
        return {
            "/etc/apt/apt.conf.d/01proxy": f'Acquire::http::Proxy "http://{gw}:{APT_PORT}";\n',
            "/etc/jetson-sim/hosts": f"{gw} {OLLAMA_REGISTRY_HOST} github.com\n",
        }

    def docker_daemon_keys(self) -> dict:
        gw = self.address
        return {"registry-mirrors": [f"http://{gw}:{REGISTRY_PORT}"], "insecure-registries": [f"{gw}:{REGISTRY_PORT}"]}

    @property
    def git_url(self) -> str:
        return f"git://{self.address}/jetson-containers.git"

    @property
    def ollama_registry_url(self) -> str:
        return f"http://{self.address}:{OLLAMA_PORT}"

    @property
    def registry_url(self) -> str:
        return f"http://{self.address}:{REGISTRY_PORT}"

    @property
    def releases_url(self) -> str:
        """The Ollama release downloads as a board reaches them (ollama_native_url)."""
        return f"http://github.com:{RELEASES_PORT}/ollama/ollama/releases/download"

    @property
    def releases_hooks_url(self) -> str:
        """The same server by address, for the controller (its /_sim/ hooks)."""
        return f"http://{self.address}:{RELEASES_PORT}"

    # ---- what was downloaded ------------------------------------------------------------------------
    def image_stats(self) -> dict:
        """Image blobs the Docker Hub stand-in served, from its access log (combined format): bytes per
        client address and per digest, and how often each digest (and each repository's blob) was served."""
        stats: dict[str, Any] = {"bytes_total": 0, "bytes_by_client": {}, "bytes_by_digest": {}, "gets_by_digest": {},
                 "gets_by_blob": {},  # "<repository>@<digest>": a layer two images share counts per image
                 "clients_by_repository": {}}
        log = self.dir / "registry.log"
        for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
            match = _ACCESS_RE.match(line)
            if not match or match["status"] != "200" or match["method"] != "GET":
                continue
            size = int(match["size"])
            stats["bytes_total"] += size
            stats["bytes_by_client"][match["client"]] = stats["bytes_by_client"].get(match["client"], 0) + size
            digest = match["digest"]
            stats["bytes_by_digest"][digest] = stats["bytes_by_digest"].get(digest, 0) + size
            stats["gets_by_digest"][digest] = stats["gets_by_digest"].get(digest, 0) + 1
            blob = f"{match['repository']}@{digest}"
            stats["gets_by_blob"][blob] = stats["gets_by_blob"].get(blob, 0) + 1
            clients = stats["clients_by_repository"].setdefault(match["repository"], [])
            if match["client"] not in clients:
                clients.append(match["client"])
        return stats

    def model_stats(self) -> dict:
        """What the Ollama registry stand-in served (its /_sim/stats)."""
        with urllib.request.urlopen(f"{self.ollama_registry_url}/_sim/stats", timeout=10) as answer:
            return json.loads(answer.read())

    def release_stats(self) -> dict:
        """What the GitHub releases stand-in served (its /_sim/stats)."""
        with urllib.request.urlopen(f"{self.releases_hooks_url}/_sim/stats", timeout=10) as answer:
            return json.loads(answer.read())

    # ---- processes ------------------------------------------------------------------------------
    def _pid(self, name: str) -> int | None:
        try:
            pid = int((self.dir / f"{name}.pid").read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def _spawn(self, name: str, cmd: list[str], port: int, env: dict | None = None) -> None:
        if self._pid(name):
            return
        with open(self.dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, env=env)
        (self.dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        _wait_port(self.address, port, proc)
        time.sleep(0.05)
        if proc.poll() is not None:  # something else holds the port: see its log
            raise RuntimeError(f"{name} exited ({proc.returncode}); see {self.dir / (name + '.log')}")

    def start(self) -> None:
        from .jetson_containers import make_repo

        self.dir.mkdir(parents=True, exist_ok=True)
        gw = self.address
        storage = ensure_mirror_storage()
        config = _registry_config(storage / "docker", f"{gw}:{REGISTRY_PORT}", self.dir / "registry.yml")
        self._spawn("registry", ["docker-registry", "serve", str(config)], REGISTRY_PORT)

        git_root = self.dir / "git"
        self.commits = make_repo(git_root / "jetson-containers.git", ollama_server=script_path())
        self._spawn("git", ["git", "daemon", f"--listen={gw}", f"--port={GIT_PORT}", "--export-all",
                            "--max-connections=0", "--reuseaddr", f"--base-path={git_root}", str(git_root)], GIT_PORT)

        self._spawn("ollama", [sys.executable, "-m", "jetson_sim.upstream.ollama_registry",
                               "--listen", f"{gw}:{OLLAMA_PORT}", "--data", str(self.dir / "ollama")], OLLAMA_PORT,
                    env=dict(os.environ, PYTHONPATH=str(UPSTREAM_DIR.parents[1])))

        self._spawn("releases", [sys.executable, "-m", "jetson_sim.upstream.github_releases",
                                 "--listen", f"{gw}:{RELEASES_PORT}"], RELEASES_PORT,
                    env=dict(os.environ, PYTHONPATH=str(UPSTREAM_DIR.parents[1])))

        apt_dir = self.dir / "apt"
        (apt_dir / "cache").mkdir(parents=True, exist_ok=True)
        (apt_dir / "log").mkdir(exist_ok=True)
        # our own config: Debian's remaps Debian URLs to its mirror list, which this machine cannot
        # resolve; without them it fetches exactly what the board asks for, through the host
        (apt_dir / "conf").mkdir(exist_ok=True)
        (apt_dir / "conf/acng.conf").write_text("ReportPage: acng-report.html\nExThreshold: 4\n")
        self._spawn("apt", ["apt-cacher-ng", "-c", str(apt_dir / "conf"), "ForeGround=1", f"Port={APT_PORT}",
                            "SupportDir=/usr/lib/apt-cacher-ng",
                            f"BindAddress={gw}", f"CacheDir={apt_dir / 'cache'}", f"LogDir={apt_dir / 'log'}",
                            f"PidFile={apt_dir / 'acng.pid'}", f"SocketPath={apt_dir / 'acng.socket'}"], APT_PORT)
        repo = git_root / "jetson-containers.git"
        # the full ISO committer timestamp of each commit (%cI), under the keys of self.commits
        dates = {ref: subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%cI", sha], check=True,
                                     capture_output=True, text=True).stdout.strip()
                 for ref, sha in self.commits.items()}
        (self.dir / "state.json").write_text(json.dumps(
            {"git_url": self.git_url, "registry_url": self.registry_url, "commits": self.commits, "dates": dates,
             "releases_url": self.releases_url, "releases_hooks_url": self.releases_hooks_url}, indent=2))

    def stop(self) -> None:
        for name in self.SERVICES:
            pid = self._pid(name)
            if pid:
                os.killpg(pid, signal.SIGKILL)  # its session's group: `git daemon` forks git-daemon
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            (self.dir / f"{name}.pid").unlink(missing_ok=True)
