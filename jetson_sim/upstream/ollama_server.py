#!/usr/bin/env python3
"""SIMULATED `ollama` (server and CLI), what the simulated boards' ollama image runs. Not Ollama.

Stdlib only (Python 3.11): the boards have python3 and no pip packages. One file, so an image needs
one COPY: jetson_sim/upstream/ollama_server.py, built from the modules of the package
jetson_sim/upstream/ollama/ (`python -m jetson_sim.upstream.ollama.build`, checked by a unit test).
Install it as /usr/local/bin/ollama (a symlink works: the command is read from argv):

    ollama serve | pull MODEL | list | ps | rm MODEL... | run MODEL [PROMPT] | stop MODEL | cp SRC DST
           | show MODEL | --version

Behaviour follows docs/facts.md (cited "docs/facts.md section N"): the REST API and
its NDJSON streams, the on-disk model store, pruning at start-up and the environment of docs/facts.md section 5;
model sizes, KV cache and the speed anchors of docs/facts.md section 6; the registry's 412 for old clients (section 4).
Anything else is marked "unverified" where it is modelled.

Environment, as the real one reads it (docs/facts.md section 5):
  OLLAMA_HOST               listen / connect address, default 127.0.0.1:11434 (bare `0.0.0.0` -> port 11434)
  OLLAMA_MODELS             model store, default ~/.ollama/models
  OLLAMA_KEEP_ALIVE         how long an idle model stays loaded: `5m` (default), `30s`, `1h`, `-1` (forever), `0`
  OLLAMA_NUM_PARALLEL       parallel requests per model; the KV cache grows with it (default 1, unverified)
  OLLAMA_MAX_LOADED_MODELS  loaded models before the least recently used is evicted (default 3, unverified)
  OLLAMA_CONTEXT_LENGTH     context window per request slot (default 4096, unverified)
  OLLAMA_FLASH_ATTENTION    `1` enables flash attention (needed by OLLAMA_KV_CACHE_TYPE=q8_0/q4_0)
  OLLAMA_KV_CACHE_TYPE      f16 (default), q8_0 (half the KV bytes), q4_0 (a quarter)
  OLLAMA_GPU_OVERHEAD       bytes reserved on top of each model (docs/facts.md section 5: bytes, so `256` is nothing)
  OLLAMA_NOPRUNE            keep unreferenced blobs at start-up and after a pull
  JETSON_JETPACK            set (5/6) for the GPU to be used inside a container (docs/facts.md section 5, ollama #9503);
                            natively it is read from /etc/nv_tegra_release (R35 -> 5, R36 -> 6)

Simulator-only environment (never on a real board):
  OLLAMA_SIM_VERSION     the version this build reports and sends in its User-Agent, default 0.6.8
  OLLAMA_SIM_BEHAVES_AS  the release whose code this build runs, for the version rules below (VERSION_RULES);
                         default: OLLAMA_SIM_VERSION when that starts with a release number other than 0.0.0,
                         else 0.6.8. A source build stamped "0.0.0" or a bare git hash sets it (images.py)
  OLLAMA_SIM_REGISTRY    base URL of the simulated registry that stands in for registry.ollama.ai,
                         default http://registry.ollama.ai:11500: simulated boards resolve that name to
                         their bridge, where the fleet's simulated registry listens (and nothing else)
  JETSON_SIM_PROFILE     board profile JSON, default /etc/jetson-sim/profile.json (memory.bandwidth_gbps,
                         memory.mem_total_mb); missing: an Orin Nano's 68 GB/s is assumed
  JETSON_SIM_GPU         marker file that exists when the container has the NVIDIA runtime (and on a
                         Jetson board itself), default /run/jetson-sim/gpu
  JETSON_SIM_TEGRA_RELEASE  where the L4T release line is read natively, default /etc/nv_tegra_release
  JETSON_SIM_MEMINFO     where MemAvailable is read, default /proc/meminfo (on a board: the simulated one)
  JETSON_SIM_GR3D        the simulated GPU load file tegrastats reads, default /run/jetson-sim/gr3d;
                         written only when its directory exists
  JETSON_SIM_TIME_SCALE  wall seconds slept per simulated second, default 0.02 (0: no sleeping). Reported
                         durations are always the simulated (realistic) ones. Keep-alive runs on the wall clock.

Models come from the simulated registry (ollama_registry.py) with their model layer shrunk by its
--scale; the config blob's "jetson_sim" object carries the real size, KV bytes per token and context
length, so memory and speed are computed for the real model while the disk holds the small one.

Version rules: what changed between releases in the endpoints simulated here is keyed on the release
the server behaves as (VERSION_RULES, each with the first release that has it and where it was read in
ollama/ollama). Everything else behaves as v0.11.8 and v0.6.8 do alike.

GPU or CPU, decided at start-up (`gpu_decision`): in a container (no lib/ollama beside this file, the
jetson-containers image) the GPU needs the NVIDIA runtime's marker and JETSON_JETPACK, as before. Run
natively from an official release's layout (bin/ollama with lib/ollama/ beside it, what
github_releases.py serves), it needs the matching lib/ollama/cuda_jetpack<N> bundle and the right to
open the GPU's device nodes, which on a Jetson belong to the video and render groups (root may too);
otherwise it runs on the CPU (size_vram 0). The install layout's details are unverified.

The modules, in the order the script holds them: versions.py (VERSION_RULES), config.py (the
environment), store.py (names and the model store), pull.py (the registry pull), board.py (profile,
memory, GPU or CPU), scheduler.py (loading, memory and speed), generate.py (generate and chat),
handler.py (HTTP plumbing), api.py (the other endpoints and `serve`), cli.py (the client). They share
one namespace in the script: a top-level name is defined in one module only.
"""

# Built by `python -m jetson_sim.upstream.ollama.build` from jetson_sim/upstream/ollama/: edit the
# modules there, not this file.

from __future__ import annotations

import datetime as dt
import fcntl
import grp
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


# ---------------------------------------------------------------- versions.py

DEFAULT_VERSION = "0.6.8"

# Behaviour that changed between Ollama releases: rule -> (the first release that has it, where it was read).
# "ollama/ollama <file> @<tag>" is the tag the behaviour was read at; the commit is the change itself, and
# its first release is `git tag --contains <commit>`.
VERSION_RULES = {
    # the success answer of DELETE /api/delete is an empty 200; before, `null` (c.JSON(200, nil))
    "delete_empty_body": ("0.1.40", "ollama/ollama server/routes.go @v0.1.40 (a2fc933fe)"),
    # /api/pull (and /api/delete) check the model name before anything else: 400 "invalid model name"
    # (delete: `name "x" is invalid`) before the stream; before, only an empty name was refused
    "name_checked_first": ("0.1.40", "ollama/ollama server/routes.go PullHandler, DeleteHandler @v0.1.40 "
                                     "(85a57006d, a2fc933fe)"),
    # load and unload answers carry done_reason "load" / "unload"
    "done_reason": ("0.1.35", "ollama/ollama server/routes.go @v0.1.35 (cfa84b847)"),
    # a pull that leaves layers of the old manifest unused streams "removing unused layers" (only then,
    # and not with OLLAMA_NOPRUNE); before, every pull streamed "removing any unused layers"
    "prune_status_when_unused": ("0.3.7", "ollama/ollama server/images.go PullModel @v0.3.7 (b3f75fc81)"),
    # an empty prompt (no messages) with keep_alive 0 unloads without loading: done_reason "unload";
    # before, the model was loaded for keep_alive 0 and the answer was done_reason "load"
    "unload_request": ("0.3.11", "ollama/ollama server/routes.go GenerateHandler @v0.3.11 (abed273de)"),
    # the server itself opens the model (vocab only) before starting a runner: a corrupt model fails with
    # "unable to load model: <blob path>"; before, the runner died: "llama runner process has terminated: ..."
    "server_opens_model": ("0.6.0", "ollama/ollama llm/server.go NewLlamaServer @v0.6.0 (1fdb351c3)"),
    # /api/ps entries carry context_length (the context per request slot); `ollama ps` has a CONTEXT column
    "ps_context_length": ("0.10.0", "ollama/ollama api/types.go, server/routes.go PsHandler @v0.10.0 (34088dbcf)"),
    # keep_alive as a number keeps its fraction (0.5 is 500ms) and only exactly 0 unloads; before, a number
    # was truncated to whole seconds and anything under 1s (0.5, "100ms") counted as 0
    "exact_keep_alive": ("0.11.8", "ollama/ollama api/types.go, server/routes.go @v0.11.8 (108153243)"),
}


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """`0.6.8`, `v0.3.12`, `0.1.46-0-gcb42e60` -> (0, 6, 8) ...; None for `0.0.0`, a bare hash or nothing."""
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", (text or "").strip())
    version = tuple(int(part) for part in match.groups()) if match else None
    return None if version == (0, 0, 0) else version


# ---------------------------------------------------------------- config.py

DEFAULT_PORT = 11434
GIB = 1 << 30


def env(key: str, default: str = "") -> str:
    """Like Ollama's envconfig.Var: trimmed, surrounding quotes removed."""
    return os.environ.get(key, "").strip().strip("\"'") or default


def env_bool(key: str) -> bool:
    # envconfig.Bool: unset -> false, a bool string -> its value, anything else non-empty -> true
    value = env(key).lower()
    return bool(value) and value not in ("0", "f", "false")


def env_uint(key: str, default: int) -> int:
    value = env(key)
    return int(value) if value.isdigit() else default


def parse_host(value: str) -> tuple[str, int]:
    """OLLAMA_HOST -> (host, port): `0.0.0.0`, `0.0.0.0:11434`, `http://host:port`, `:11434`, `[::1]:8080`."""
    value = re.sub(r"^[A-Za-z]+://", "", value.strip() or "127.0.0.1").split("/", 1)[0]
    if value.startswith("["):  # [::1]:8080
        host, _, port = value[1:].partition("]")
        port = port.lstrip(":")
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:  # a bare host name or address (IPv6 included): the default port
        host, port = value, ""
    return host, int(port) if port.isdigit() else DEFAULT_PORT


def parse_duration(value, default: float | None = 300.0) -> float | None:
    """Keep-alive: a number of seconds or a Go duration (`5m`, `1h30m`, `500ms`) -> seconds; a negative
    value -> None (forever)."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif re.fullmatch(r"-?\d+(\.\d+)?", str(value).strip()):
        seconds = float(value)
    else:
        text = str(value).strip()
        sign = -1 if text.startswith("-") else 1
        parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text.lstrip("+-"))
        if not parts or "".join(n + u for n, u in parts) != text.lstrip("+-"):
            raise ValueError(f"time: invalid duration \"{text}\"")
        unit = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
        seconds = sign * sum(float(n) * unit[u] for n, u in parts)
    return None if seconds < 0 else seconds


GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def go_parse_duration(text: str) -> float:
    """Go's time.ParseDuration -> seconds, with its error texts (`time: missing unit in duration "30"`)."""
    quoted = f'"{text}"'
    rest, sign = text, 1
    if rest[:1] in ("+", "-"):
        sign, rest = (-1 if rest[0] == "-" else 1), rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        number = re.match(r"\d*(\.\d*)?", rest)[0]
        if number in ("", "."):
            raise ValueError(f"time: invalid duration {quoted}")
        rest = rest[len(number):]
        unit = re.match(r"[^\d.]*", rest)[0]
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in GO_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        total += float(number) * GO_UNITS[unit]
        rest = rest[len(unit):]
    return sign * total


def request_keep_alive(value, default: float | None, exact: bool) -> float | None:
    """A request's keep_alive as api.Duration's UnmarshalJSON reads it -> seconds, None for forever.
    A number is seconds (before 0.11.8 truncated to whole seconds: VERSION_RULES exact_keep_alive), a
    string a Go duration; negative is forever; absent or null: the server's OLLAMA_KEEP_ALIVE."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        kind = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}.get(type(value), "?")
        raise ValueError(f"Unsupported type: '{kind}'")
    seconds = go_parse_duration(value) if isinstance(value, str) else float(value if exact else int(value))
    return None if seconds < 0 else seconds


class Config:
    def __init__(self):
        self.host, self.port = parse_host(env("OLLAMA_HOST"))
        self.models = Path(os.path.expanduser(env("OLLAMA_MODELS", "~/.ollama/models")))
        try:
            self.keep_alive = parse_duration(env("OLLAMA_KEEP_ALIVE"))
        except ValueError:
            self.keep_alive = 300.0
        self.num_parallel = max(1, env_uint("OLLAMA_NUM_PARALLEL", 1))
        self.max_loaded = env_uint("OLLAMA_MAX_LOADED_MODELS", 0) or 3
        self.context_length = env_uint("OLLAMA_CONTEXT_LENGTH", 4096) or 4096
        self.flash_attention = env_bool("OLLAMA_FLASH_ATTENTION")
        self.kv_cache_type = env("OLLAMA_KV_CACHE_TYPE", "f16").lower()
        self.gpu_overhead = env_uint("OLLAMA_GPU_OVERHEAD", 0)
        self.noprune = env_bool("OLLAMA_NOPRUNE")
        self.version = env("OLLAMA_SIM_VERSION", DEFAULT_VERSION)
        self.behaves_as = (parse_version(env("OLLAMA_SIM_BEHAVES_AS")) or parse_version(self.version)
                           or parse_version(DEFAULT_VERSION))
        self.registry = env("OLLAMA_SIM_REGISTRY", "http://registry.ollama.ai:11500").rstrip("/")
        self.profile = env("JETSON_SIM_PROFILE", "/etc/jetson-sim/profile.json")
        self.gpu_marker = env("JETSON_SIM_GPU", "/run/jetson-sim/gpu")
        self.tegra_release = env("JETSON_SIM_TEGRA_RELEASE", "/etc/nv_tegra_release")
        self.meminfo = env("JETSON_SIM_MEMINFO", "/proc/meminfo")
        self.gr3d = env("JETSON_SIM_GR3D", "/run/jetson-sim/gr3d")
        try:
            self.time_scale = max(0.0, float(env("JETSON_SIM_TIME_SCALE", "0.02")))
        except ValueError:
            self.time_scale = 0.02
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
        self.user_agent = f"ollama/{self.version} ({arch} linux) Go/go1.24.0"

    def since(self, rule: str) -> bool:
        """Does this build have the behaviour VERSION_RULES[rule] names?"""
        return self.behaves_as >= parse_version(VERSION_RULES[rule][0])

    def client_url(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def sleep(self, simulated_seconds: float) -> None:
        if self.time_scale > 0 and simulated_seconds > 0:
            time.sleep(simulated_seconds * self.time_scale)


def log(level: str, msg: str, **attrs) -> None:
    """One slog-style line on stderr, like the real server's log."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    extra = "".join(f" {k}={json.dumps(v) if isinstance(v, str) and ' ' in v else v}" for k, v in attrs.items())
    sys.stderr.write(f"time={now} level={level} source=jetson-sim msg={json.dumps(msg)}{extra}\n")
    sys.stderr.flush()


def human_bytes2(n: int) -> str:
    """Ollama's format.HumanBytes2 (binary units, one decimal), used in its memory errors."""
    for unit, size in (("GiB", GIB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def human_bytes(n: int) -> str:
    """Ollama's format.HumanBytes (decimal units, as `ollama list` prints 4.7 GB)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{int(value)} {unit}"
    return f"{n} B"


def rfc3339(ts: float | None = None, utc: bool = False) -> str:
    when = dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.timezone.utc)
    if utc:
        return when.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return when.astimezone().isoformat(timespec="microseconds")


# ---------------------------------------------------------------- store.py

DEFAULT_HOST = "registry.ollama.ai"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MODEL_MEDIA = "application/vnd.ollama.image.model"


class Name:
    """`qwen2.5:0.5b` = registry.ollama.ai / library / qwen2.5 : 0.5b, split and checked as Ollama's
    model.ParseName and Name.IsValid do (ollama/ollama types/model/name.go @v0.11.8): a part starts with a
    letter, digit or `_`, then those, `-`, `_` and `.` (not in the namespace; `:` only in the host), 1-80
    characters (the host 1-350). The model part is kept lower-case here (Ollama matches it case-blind)."""
    FIRST, REST = re.compile(r"[A-Za-z0-9_]"), {"host": r"[A-Za-z0-9_.:-]", "namespace": r"[A-Za-z0-9_-]",
                                                  "model": r"[A-Za-z0-9_.-]", "tag": r"[A-Za-z0-9_.-]"}

    def __init__(self, text: str):
        text = (text or "").strip()
        rest, tag = text, ""
        if rest.rfind(":") > rest.rfind("/"):
            rest, tag = rest[: rest.rfind(":")], rest[rest.rfind(":") + 1:] or "!"
        host = namespace = ""
        if "/" in rest:
            rest, model = rest.rsplit("/", 1)
            rest, model = rest or "!", model or "!"
            if "/" in rest:
                host, namespace = rest.rsplit("/", 1)
                host, namespace = host or "!", namespace or "!"
                host = host.split("://", 1)[-1]
            else:
                namespace = rest
        else:
            model = rest
        parts = {"host": host or DEFAULT_HOST, "namespace": namespace or "library", "model": model,
                 "tag": tag or "latest"}
        for kind, part in parts.items():
            longest = 350 if kind == "host" else 80
            if not 1 <= len(part) <= longest or not self.FIRST.match(part) \
                    or not re.fullmatch(self.REST[kind] + "*", part):
                raise ValueError(f"invalid model name {text!r}")
        self.host, self.namespace, self.model, self.tag = parts["host"], parts["namespace"], model.lower(), parts["tag"]

    @property
    def display(self) -> str:
        short = f"{self.model}:{self.tag}"
        if self.host == DEFAULT_HOST:
            return short if self.namespace == "library" else f"{self.namespace}/{short}"
        return f"{self.host}/{self.namespace}/{short}"

    @property
    def rel_path(self) -> Path:
        return Path(self.host, self.namespace, self.model, self.tag)


def try_name(text) -> Name | None:
    try:
        return Name(text if isinstance(text, str) else "")
    except ValueError:
        return None


class Store:
    """$OLLAMA_MODELS: manifests/<host>/<namespace>/<model>/<tag> and blobs/sha256-<hex> (docs/facts.md section 5)."""

    def __init__(self, root: Path):
        self.root = root
        self.blobs, self.manifests = root / "blobs", root / "manifests"
        self.lock = threading.RLock()

    def ensure(self) -> None:
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.manifests.mkdir(parents=True, exist_ok=True)

    def blob(self, digest: str) -> Path:
        return self.blobs / digest.replace(":", "-")

    def manifest_path(self, name: Name) -> Path:
        return self.manifests / name.rel_path

    def read(self, name: Name) -> tuple[bytes, dict] | None:
        try:
            raw = self.manifest_path(name).read_bytes()
            return raw, json.loads(raw)
        except (OSError, ValueError):
            return None

    def all(self) -> list[tuple[Name, Path]]:
        found = []
        for path in self.manifests.glob("*/*/*/*"):
            name = try_name("/".join(path.relative_to(self.manifests).parts[:3]) + ":" + path.name)
            if path.is_file() and name and not path.name.startswith("."):
                found.append((name, path))
        return found

    def referenced(self) -> set[str]:
        digests = set()
        for _, path in self.all():
            try:
                digests.update(layer_digests(json.loads(path.read_bytes())))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return digests

    def write_manifest(self, name: Name, data: bytes) -> None:
        path = self.manifest_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # written last and atomically (docs/facts.md section 5)

    def remove_unreferenced(self, candidates: set[str]) -> None:
        with self.lock:
            for digest in candidates - self.referenced():
                self.blob(digest).unlink(missing_ok=True)

    def prune(self) -> int:
        """At start-up: delete every blob no manifest references, partial downloads included (docs/facts.md section 5;
        that partials go too follows Ollama's PruneLayers, unverified)."""
        with self.lock:
            keep = {d.replace(":", "-") for d in self.referenced()}
            removed = 0
            for path in self.blobs.iterdir():
                if path.is_file() and path.name not in keep:
                    path.unlink(missing_ok=True)
                    removed += 1
            return removed


def layer_digests(manifest: dict) -> list[str]:
    return [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]


def go_manifest_bytes(manifest: dict) -> bytes:
    """The manifest as Ollama writes it: re-marshalled by Go, fields in struct order, compact."""
    layer = lambda item: {"mediaType": item["mediaType"], "digest": item["digest"], "size": item["size"]}  # noqa: E731
    doc = {"schemaVersion": manifest["schemaVersion"], "mediaType": manifest["mediaType"],
           "config": layer(manifest["config"]), "layers": [layer(item) for item in manifest["layers"]]}
    return json.dumps(doc, separators=(",", ":")).encode()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(1 << 20):
            h.update(data)
    return h.hexdigest()


_hashed: dict[str, tuple[tuple[int, int, int], str]] = {}  # path -> ((size, mtime_ns, inode), sha256)
_hashed_lock = threading.Lock()


def cached_sha256(path: Path) -> str:
    """file_sha256, hashed again only when the file's size, mtime or inode changed."""
    st = path.stat()
    key = (st.st_size, st.st_mtime_ns, st.st_ino)
    with _hashed_lock:
        cached = _hashed.get(str(path))
    if cached and cached[0] == key:
        return cached[1]
    digest = file_sha256(path)
    with _hashed_lock:
        _hashed[str(path)] = (key, digest)
    return digest


# ---------------------------------------------------------------- pull.py

CHUNK = 64 * 1024


class PullError(Exception):
    pass


_digest_locks: dict[str, threading.Lock] = {}
_digest_locks_guard = threading.Lock()


def digest_lock(digest: str) -> threading.Lock:
    with _digest_locks_guard:
        return _digest_locks.setdefault(digest, threading.Lock())


def go_dial_error(url: str, err: urllib.error.URLError) -> str:
    """A connection failure worded roughly as Go's net/http would (the exact text is unverified)."""
    parsed = urllib.parse.urlsplit(url)
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, ConnectionRefusedError):
        detail = f"dial tcp {parsed.netloc}: connect: connection refused"
    elif isinstance(reason, socket.gaierror):
        detail = f"dial tcp: lookup {parsed.hostname}: no such host"
    elif isinstance(reason, (TimeoutError, socket.timeout)):
        detail = f"dial tcp {parsed.netloc}: i/o timeout"
    else:
        detail = str(reason)
    return f'Get "{url}": {detail}'


class Puller:
    def __init__(self, cfg: Config, store: Store):
        self.cfg, self.store = cfg, store

    def base_url(self, name: Name, insecure: bool) -> str:
        if name.host == DEFAULT_HOST:
            return self.cfg.registry or f"https://{DEFAULT_HOST}"
        return f"{'http' if insecure else 'https'}://{name.host}"

    def request(self, url: str, headers: dict | None = None, method: str = "GET"):
        headers = {"User-Agent": self.cfg.user_agent, **(headers or {})}
        req = urllib.request.Request(url, method=method, headers=headers)
        return urllib.request.urlopen(req, timeout=30)

    def pull(self, text: str, insecure: bool = False):
        """Yield the progress objects of docs/facts.md section 5; raise PullError with Ollama's error text."""
        name = try_name(text)
        if name is None:
            raise PullError("invalid model name")
        # read before anything is fetched, as PullModel builds its deleteMap (a bad manifest counts as none)
        old = self.store.read(name)
        try:
            replaced = layer_digests(old[1]) if old else []
        except (KeyError, TypeError):
            replaced = []
        yield {"status": "pulling manifest"}
        base = f"{self.base_url(name, insecure)}/v2/{name.namespace}/{name.model}"
        url = f"{base}/manifests/{name.tag}"
        try:
            with self.request(url, {"Accept": MANIFEST_V2}) as resp:
                manifest = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:  # the client maps 404 to os.ErrNotExist
                raise PullError("pull model manifest: file does not exist") from None
            # any other 4xx/5xx: "<code>: <raw body>" (docs/facts.md section 4: `412: ... requires a newer version`)
            body = err.read().decode(errors="replace").strip()
            raise PullError(f"pull model manifest: {err.code}: {body}") from None
        except urllib.error.URLError as err:
            raise PullError(f"pull model manifest: {go_dial_error(url, err)}") from None
        except (ValueError, OSError) as err:
            raise PullError(f"pull model manifest: {err}") from None
        try:
            layers = list(manifest["layers"]) + [manifest["config"]]  # config last, as Ollama does
            wanted = {layer["digest"]: int(layer["size"]) for layer in layers}
        except (KeyError, TypeError, ValueError):
            raise PullError("pull model manifest: invalid manifest") from None
        self.store.ensure()

        fetched = []  # digests downloaded in this pull, verified below
        for digest, total in wanted.items():
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                raise PullError(f"invalid digest format: {digest}")
            with digest_lock(digest):
                final = self.store.blob(digest)
                if final.exists():
                    # an existing blob is reported as complete and not downloaded again (docs/facts.md section 5:
                    # Ollama does not re-verify it either)
                    yield self.progress(digest, final.stat().st_size, final.stat().st_size)
                    continue
                yield from self.download(f"{base}/blobs/{digest}", digest, total)
                fetched.append(digest)

        yield {"status": "verifying sha256 digest"}
        for digest in fetched:
            with digest_lock(digest):
                partial = self.partial(digest)
                if not partial.exists():  # a concurrent pull of the same blob finished it
                    continue
                got = file_sha256(partial)
                if f"sha256:{got}" != digest:
                    partial.unlink(missing_ok=True)  # Ollama deletes the bad file
                    raise PullError(f"digest mismatch, file must be downloaded again: want {digest}, got sha256:{got}")
                os.replace(partial, self.store.blob(digest))

        yield {"status": "writing manifest"}
        with self.store.lock:
            self.store.write_manifest(name, go_manifest_bytes(manifest))
        # Layers of the manifest this pull replaced that the new one does not list (e.g. after an upstream
        # retag) go, unless another manifest still lists them (ollama/ollama server/images.go PullModel and
        # deleteUnusedLayers @v0.11.8, alike @v0.6.8). The status is streamed when there were such layers,
        # whether or not another manifest keeps them, and not with OLLAMA_NOPRUNE (VERSION_RULES
        # prune_status_when_unused); before 0.3.7 "removing any unused layers" came with every pull.
        unused = set(replaced) - set(wanted) if not self.cfg.noprune else set()
        if self.cfg.since("prune_status_when_unused"):
            if unused:
                yield {"status": "removing unused layers"}
                self.store.remove_unreferenced(unused)
        else:
            yield {"status": "removing any unused layers"}
            self.store.remove_unreferenced(unused)
        yield {"status": "success"}

    def partial(self, digest: str) -> Path:
        return self.store.blobs / (digest.replace(":", "-") + "-partial")

    @staticmethod
    def progress(digest: str, total: int, completed: int) -> dict:
        # "pulling <first 12 hex>" (docs/facts.md section 5); Go omits `completed` while it is 0 (omitempty)
        out = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total}
        if completed:
            out["completed"] = completed
        return out

    def download(self, url: str, digest: str, total: int):
        """Into blobs/sha256-<hex>-partial, resuming with a Range request when a partial is there
        (docs/facts.md section 5: interrupted pulls resume). A cut connection ends the pull with an error and
        leaves the partial for the next pull (the real client also retries within the pull;
        this one does not, so the resume is observable)."""
        partial = self.partial(digest)
        have = partial.stat().st_size if partial.exists() else 0
        if have > total:
            partial.unlink()
            have = 0
        yield self.progress(digest, total, have)
        if have == total:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        step, last = max(total // 20, CHUNK), have
        try:
            with self.request(url, headers) as resp:
                if have and resp.status != 206:  # the server ignored the Range: start over
                    have = 0
                with open(partial, "ab" if have else "wb") as f:
                    while have < total:
                        data = resp.read(min(CHUNK, total - have))
                        if not data:
                            break
                        f.write(data)
                        have += len(data)
                        if have - last >= step or have == total:
                            last = have
                            yield self.progress(digest, total, have)
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace").strip()
            raise PullError(f"{err.code}: {body}") from None
        except urllib.error.URLError as err:
            raise PullError(go_dial_error(url, err)) from None
        except (ConnectionError, TimeoutError, http.client.HTTPException):
            raise PullError("unexpected EOF") from None  # a reset or cut connection (Go: io.ErrUnexpectedEOF)
        except OSError as err:  # the local disk: full, read-only, ...
            raise PullError(f"write {partial}: {err.strerror or err}") from None
        if have < total:
            raise PullError("unexpected EOF")


# ---------------------------------------------------------------- board.py

def read_profile(cfg: Config) -> dict:
    try:
        with open(cfg.profile) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def bandwidth_bytes_per_s(cfg: Config) -> float:
    gbps = (read_profile(cfg).get("memory") or {}).get("bandwidth_gbps") or 68  # docs/facts.md section 6: Orin Nano
    return float(gbps) * 1e9


def mem_available(cfg: Config) -> int | None:
    try:
        with open(cfg.meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


GPU_GROUPS = ("video", "render")  # the owners of /dev/nvhost-*, /dev/nvmap and /dev/dri/renderD* on a Jetson


def jetpack_major(cfg: Config) -> str:
    """JETSON_JETPACK, else the R35/R36 of /etc/nv_tegra_release, as install.sh greps it (docs/facts.md section 5);
    "" when neither tells (in a container: the file is not there)."""
    if env("JETSON_JETPACK"):
        return env("JETSON_JETPACK").split(".")[0]
    try:
        with open(cfg.tegra_release) as f:
            match = re.match(r"# R(\d+) ", f.readline())
    except OSError:
        return ""
    return {"35": "5", "36": "6"}.get(match[1], "") if match else ""


def release_libs() -> Path | None:
    """lib/ollama beside bin/ollama: this file runs from an official release's layout (natively)."""
    libs = Path(__file__).resolve().parent.parent / "lib" / "ollama"
    return libs if libs.is_dir() else None


def process_groups() -> set[str]:
    names = set()
    for gid in {os.getegid(), *os.getgroups()}:
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            pass
    return names


def gpu_decision(marker: bool, jetpack: str, libs: Path | None, euid: int, groups: set[str]) -> tuple[bool, str]:
    """(GPU?, why not) of an Ollama process. marker: the board's GPU is visible (a Jetson, or a container
    with the NVIDIA runtime); jetpack: the major it detects ("" unknown); libs: the release's
    lib/ollama, None in the container image; euid and groups: may it open the device nodes."""
    if not marker:
        return False, "no compatible GPUs were discovered"
    # docs/facts.md section 5: in a container only with --runtime nvidia (the marker) and JETSON_JETPACK
    if libs is None:
        if not env("JETSON_JETPACK"):
            return False, "cudaSetDevice err: 35; JETSON_JETPACK is not set, falling back to CPU"
        return True, ""
    if not jetpack:
        return False, "cannot tell the JetPack (no JETSON_JETPACK, no R35/R36 in /etc/nv_tegra_release)"
    if not (libs / f"cuda_jetpack{jetpack}").is_dir():
        return False, f"no cuda_jetpack{jetpack} libraries in {libs} (the JetPack bundle is not installed)"
    if euid != 0 and not groups & set(GPU_GROUPS):
        return False, (f"no permission to open the GPU device nodes (the process is not in the "
                       f"{' or '.join(GPU_GROUPS)} group)")
    return True, ""


def gpu_available(cfg: Config) -> tuple[bool, str]:
    return gpu_decision(os.path.exists(cfg.gpu_marker), jetpack_major(cfg), release_libs(), os.geteuid(),
                        process_groups())


# ---------------------------------------------------------------- scheduler.py

# Speed model (docs/facts.md section 6: decode is bound by memory bandwidth, tok/s <= bandwidth / model bytes).
# 0.65 is calibrated on the recorded anchor: qwen2.5:7b (4.7 GB) through Ollama on an Orin Nano
# (68 GB/s) ran 9.1-9.7 tok/s, and 0.65 * 68e9 / 4.7e9 = 9.40; the +-3% jitter stays inside 9.1-9.7.
GPU_EFFICIENCY = 0.65
# CPU fallback: the recorded 3.4-4.3 tok/s for a 7b on a server CPU (docs/facts.md section 6); the factor is the
# brief's choice and matches that anchor for a ~100 GB/s server (unverified for any given board).
CPU_EFFICIENCY = 0.18
JITTER = 0.03
REQUEST_OVERHEAD_S = 0.003  # tokenizing, sampling setup: a few ms per request (unverified)
PROMPT_SPEEDUP = 20  # prompt eval runs ~20x faster than decode (unverified)
# Load time: docs/facts.md section 6 records that models switch in 10-20 s on an Orin Nano; runner start-up plus
# reading weights at 0.4 GB/s puts the 7-8B models of the log at 14-15 s (both figures unverified).
LOAD_FIXED_S = 2.0
LOAD_BYTES_PER_S = 0.4e9
# Memory beyond weights + KV cache: compute graph and CUDA context (unverified). With it qwen3:8b at a
# 4096 context loads at 6.6 GB and qwen2.5:7b brings an Orin Nano 8GB to ~90% (docs/facts.md section 6: 6.5 GB, ~90%).
OVERHEAD_FIXED = 256 << 20
OVERHEAD_FRACTION = 0.10
KV_TYPE_FACTOR = {"f16": 1.0, "q8_0": 0.5, "q4_0": 0.25}  # q8_0/q4_0 need flash attention (docs/facts.md section 5)


class LoadError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Runner:
    """One loaded model."""

    def __init__(self, **fields):
        self.__dict__.update(fields)
        self.active = 0
        self.slots = threading.BoundedSemaphore(fields["parallel"])
        self.loaded_at = self.last_used = time.monotonic()


class Scheduler:
    def __init__(self, cfg: Config, store: Store):
        self.cfg, self.store = cfg, store
        self.loaded: dict[str, Runner] = {}
        self.lock = threading.RLock()  # guards `loaded`; held briefly
        self.load_lock = threading.Lock()  # one load at a time, like Ollama's scheduler
        self.gpu, self.cpu_reason = gpu_available(cfg)
        self.gpu_busy = 0
        threading.Thread(target=self._reaper, daemon=True, name="keep-alive").start()

    # -- what a model costs

    def plan(self, name: Name, manifest: dict, num_ctx: int | None) -> dict:  # noqa: ARG002 - load's arguments
        config = json.loads(self.store.blob(manifest["config"]["digest"]).read_bytes())
        sim = config.get("jetson_sim") or {}
        model_layers = [layer for layer in manifest["layers"] if layer["mediaType"] == MODEL_MEDIA]
        weights = int(sim.get("size") or sum(layer["size"] for layer in model_layers))
        # the context is capped at what the model was trained for (Ollama clamps num_ctx the same way)
        ctx = min(num_ctx or self.cfg.context_length, int(sim.get("context_length") or 1 << 30))
        kv_factor = KV_TYPE_FACTOR.get(self.cfg.kv_cache_type, 1.0) if self.cfg.flash_attention else 1.0
        # docs/facts.md section 6: KV bytes = context x parallel x per-token figure
        kv = int(int(sim.get("kv_bytes_per_token") or 0) * ctx * self.cfg.num_parallel * kv_factor)
        size = weights + kv + OVERHEAD_FIXED + int(weights * OVERHEAD_FRACTION) + self.cfg.gpu_overhead
        efficiency = GPU_EFFICIENCY if self.gpu else CPU_EFFICIENCY
        return {"weights": weights, "ctx": ctx, "size": size, "size_vram": size if self.gpu else 0,
                "tps": efficiency * bandwidth_bytes_per_s(self.cfg) / weights,
                "load_s": LOAD_FIXED_S + weights / LOAD_BYTES_PER_S, "config": config}

    # -- load / unload

    def load(self, name: Name, raw: bytes, manifest: dict, num_ctx: int | None, keep_alive) -> tuple[Runner, float]:
        """The runner for `name`, loading it if needed; (runner, simulated load seconds)."""
        key, digest = name.display, hashlib.sha256(raw).hexdigest()
        plan = self.plan(name, manifest, num_ctx)
        with self.load_lock:
            with self.lock:
                runner = self.loaded.get(key)
                if runner and runner.digest == digest and runner.ctx == plan["ctx"]:
                    runner.last_used = time.monotonic()
                    runner.expires_at = None  # busy from now on; set again when the request ends
                    runner.keep_alive = keep_alive
                    return runner, 0.002  # already loaded: a couple of ms (unverified)
            if runner:  # another digest or context size: reload
                self.unload(key)
            while len(self.loaded) >= self.cfg.max_loaded and self.unload(self._oldest()):
                pass  # OLLAMA_MAX_LOADED_MODELS: the least recently used goes
            while True:
                available = self.available()
                if available is None or plan["size"] <= available or not self.unload(self._oldest()):
                    break  # fits, or nothing left to evict (Ollama evicts idle models to make room)
            if available is not None and plan["size"] > available:
                raise LoadError(500, f"model requires more system memory ({human_bytes2(plan['size'])}) "
                                     f"than is available ({human_bytes2(available)})")
            self.check_model(manifest)  # after the memory check, as NewLlamaServer orders them
            self.cfg.sleep(plan["load_s"])
            runner = Runner(key=key, name=name, digest=digest, manifest=manifest, parallel=self.cfg.num_parallel,
                            keep_alive=keep_alive, expires_at=None, registered=False,
                            **{k: v for k, v in plan.items() if k != "load_s"})
            runner.registered = self._meminfo("alloc", key, plan["size"])
            with self.lock:
                self.loaded[key] = runner
            log("INFO", "llama runner started", model=key, size=plan["size"], size_vram=plan["size_vram"],
                num_ctx=plan["ctx"], parallel=self.cfg.num_parallel,
                processor="100% GPU" if self.gpu else "100% CPU")
            return runner, plan["load_s"]

    def check_model(self, manifest: dict) -> None:
        """A corrupt model is not served: the model blob must have its manifest size and digest.

        Real Ollama never hashes a blob at load; llama.cpp refuses a damaged GGUF (a truncated one: "tensor
        '...' data is not within the file bounds, model is corrupted or incomplete"; a broken header:
        "llama_model_loader: failed to load model from <path>"). The simulator's blobs are small synthetic
        files, so any mismatch stands for that damage (a flipped byte in tensor data would load in the real
        one). The answer is the real error (500) for where the model is opened (VERSION_RULES
        server_opens_model): from 0.6.0 the server opens it itself (llama.LoadModelFromFile, vocab only:
        "unable to load model: <path>", ollama/ollama llm/server.go, llama/llama.go @v0.11.8 and @v0.6.8, for
        the architectures the llama.cpp runner serves, all of the catalog's; gemma3 and the like differ);
        before, the runner did and died, and WaitUntilRunning answered "llama runner process has terminated:
        " + the last error line of its stderr (llm/status.go, llm/server.go @v0.5.7). The tensor named for a
        truncated file is illustrative. A missing blob fails to open (ggml decode in the scheduler)."""
        for layer in manifest["layers"]:
            if layer.get("mediaType") != MODEL_MEDIA:
                continue
            path = self.store.blob(layer["digest"])
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise LoadError(500, f"open {path}: no such file or directory") from None
            if size == layer["size"] and f"sha256:{cached_sha256(path)}" == layer["digest"]:
                continue
            log("ERROR", "model blob does not match its digest or size", blob=str(path), size=size,
                want_size=layer["size"])
            if self.cfg.since("server_opens_model"):
                raise LoadError(500, f"unable to load model: {path}")
            reason = ("tensor 'output.weight' data is not within the file bounds, model is corrupted or incomplete"
                      if size < layer["size"] else f"llama_model_loader: failed to load model from {path}")
            raise LoadError(500, f"llama runner process has terminated: error loading model: {reason}")

    def expire(self, key: str) -> None:
        """An unload request (expireRunner): now when idle, else when its last request ends."""
        with self.lock:
            runner = self.loaded.get(key)
            if runner is None:
                return
            runner.keep_alive = 0
            busy = runner.active > 0
        if not busy:
            self.unload(key)

    def available(self) -> int | None:
        """MemAvailable, minus models loaded here that the board's meminfo does not know about yet."""
        free = mem_available(self.cfg)
        if free is None:
            return None
        with self.lock:
            return free - sum(r.size for r in self.loaded.values() if not r.registered)

    def _oldest(self) -> str | None:
        with self.lock:
            idle = [r for r in self.loaded.values() if r.active == 0] or list(self.loaded.values())
            return min(idle, key=lambda r: r.last_used).key if idle else None

    def unload(self, key: str | None) -> bool:
        with self.lock:
            runner = self.loaded.pop(key, None)
        if runner is None:
            return False
        if runner.registered:
            self._meminfo("free", key)
        log("INFO", "model unloaded", model=key)
        return True

    def release(self, runner: Runner) -> None:
        """A request is done with `runner`: start its keep-alive clock, or unload at once for 0."""
        with self.lock:
            runner.last_used = time.monotonic()
            if runner.active:
                return
            if runner.keep_alive == 0:
                expire_now = True
            else:
                expire_now = False
                runner.expires_at = None if runner.keep_alive is None else time.time() + runner.keep_alive
        if expire_now:
            self.unload(runner.key)

    def _reaper(self) -> None:
        while True:
            time.sleep(0.05)
            now = time.time()
            with self.lock:
                expired = [r.key for r in self.loaded.values()
                           if r.active == 0 and r.expires_at is not None and r.expires_at <= now]
            for key in expired:
                self.unload(key)

    def unload_all(self) -> None:
        for key in list(self.loaded):
            self.unload(key)

    _leases: dict[str, int] = {}

    @classmethod
    def _meminfo(cls, action: str, key: str, size: int | None = None) -> bool:
        """Tell the simulated board what is loaded, so its /proc/meminfo and tegrastats follow.

        The allocation is a lease: a file in the board's mem.d that this process keeps locked, so
        the board gives the memory back when the process dies (`docker rm -f`, a crash), as RAM is.
        """
        tool = shutil.which("jetson-sim-meminfo")
        mem_d = os.environ.get("JETSON_SIM_MEM_D", "/run/jetson-sim/mem.d")
        if not tool or not os.path.isdir(mem_d):
            return False
        label = "ollama-" + re.sub(r"[^A-Za-z0-9_.:@+-]", "_", key)
        path = os.path.join(mem_d, label + ".lease")
        old = cls._leases.pop(label, None)
        if old is not None:
            os.close(old)
        written = time.time()
        try:
            if action == "alloc":
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, f"{size}\n".encode())
                cls._leases[label] = fd
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except PermissionError:  # another user's lease of the same name, not yet reaped
            return False
        try:
            if subprocess.run([tool], capture_output=True, timeout=10).returncode == 0:
                return True
        except (OSError, subprocess.SubprocessError):
            return False
        # not root (ollama.service runs as ollama): the tool may not rewrite the board's meminfo, but the
        # board's bookkeeping (jetson-sim-memd, every second) takes the lease up; wait for its next write
        meminfo = env("JETSON_SIM_MEMINFO", "/proc/meminfo")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                if os.stat(meminfo).st_mtime > written:
                    return action == "alloc"
            except OSError:
                return False
            time.sleep(0.1)
        return False

    # -- GPU load for tegrastats

    def gpu_load(self, busy: bool) -> None:
        if not self.gpu:
            return
        with self.lock:
            self.gpu_busy += 1 if busy else -1
            value = random.randint(96, 99) if self.gpu_busy > 0 else 0  # decode keeps the GPU near 99% (unverified)
        self.write_gr3d(value)

    def write_gr3d(self, value: int) -> None:
        if os.path.isdir(os.path.dirname(self.cfg.gr3d) or "."):
            try:
                with open(self.cfg.gr3d, "w") as f:
                    f.write(f"{value}\n")
            except OSError:
                pass


# ---------------------------------------------------------------- generate.py

LOREM = ("the model runs on a small board with shared memory and every token is read from it once "
         "so speed follows bandwidth while the cache grows with context and parallel requests").split()


def words_for(seed_text: str, count: int) -> list[str]:
    """Deterministic lorem-like tokens, one word per token."""
    seed = int(hashlib.sha256(seed_text.encode()).hexdigest()[:8], 16)
    return [("" if i == 0 else " ") + LOREM[(seed + i * 7) % len(LOREM)] for i in range(count)]


def prompt_tokens(prompt: str) -> int:
    return (len(prompt) + 3) // 4 + 10  # ~4 characters a token plus the chat template (unverified)


class Generation:
    """/api/generate and /api/chat, a part of Api: it uses Api's cfg, sched and answers."""

    def generate(self):
        self._complete(chat=False)

    def chat(self):
        self._complete(chat=True)

    def _complete(self, chat: bool):
        """generate and chat, as ollama/ollama server/routes.go GenerateHandler and ChatHandler @v0.11.8 answer
        (alike @v0.6.8 but for VERSION_RULES exact_keep_alive). Errors: generate answers an invalid or absent
        name with 404 `model 'x' not found`; chat an invalid name with 400 "model is required" and an absent
        model with 404 `model "x" not found, try pulling it first` (handleScheduleError), but its unload
        request with 404 `model 'x' not found`. An empty prompt (no messages) loads the model, and with
        keep_alive 0 unloads it: one JSON object either way, also when streaming (c.JSON there)."""
        req = self._request()
        if req is None:
            return
        text = req.get("model") if isinstance(req.get("model"), str) else ""
        exact = self.cfg.since("exact_keep_alive")
        try:  # ShouldBindJSON reads keep_alive first: a bad one is a 400 before the name is looked at
            keep_alive = request_keep_alive(req.get("keep_alive"), self.cfg.keep_alive, exact)
        except ValueError as err:
            return self._json(400, {"error": str(err)})
        if chat:
            messages = req.get("messages") or []
            prompt = "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
            empty = not messages
        else:
            prompt = str(req.get("prompt") or "")
            empty = prompt == ""
        # keep_alive 0 asks to unload: before 0.11.8 anything under a second (int(seconds) == 0) did
        unload = empty and req.get("keep_alive") is not None and keep_alive is not None \
            and (keep_alive == 0 if exact else int(keep_alive) == 0)
        found = self._local(text)
        if not found and (not chat or unload):
            return self._json(404, {"error": f"model '{text}' not found"})
        if not found:
            if try_name(text) is None:
                return self._json(400, {"error": "model is required"})
            return self._json(404, {"error": f'model "{text}" not found, try pulling it first'})
        name, raw, manifest = found
        stream = req.get("stream", True) is not False
        base = {"model": text}  # echoed as the request spelled it

        def reply(done_reason: str):
            """The answer to a load or unload request: one object, as c.JSON writes it, whatever `stream` says."""
            doc = {**base, "created_at": rfc3339(utc=True)}
            if chat:
                doc["message"] = {"role": "assistant", "content": ""}
            else:
                doc["response"] = ""
            if self.cfg.since("done_reason"):
                doc["done_reason"] = done_reason
            doc["done"] = True
            if not chat:  # GenerateResponse lists done before done_reason, ChatResponse after
                doc = {k: doc[k] for k in ("model", "created_at", "response", "done", "done_reason") if k in doc}
            return self._json(200, doc)

        if unload and self.cfg.since("unload_request"):  # VERSION_RULES unload_request: expire, load nothing
            self.sched.expire(name.display)
            return reply("unload")
        options = req.get("options") or {}
        try:
            runner, load_s = self.sched.load(name, raw, manifest, options.get("num_ctx"), keep_alive)
        except LoadError as err:
            return self._json(err.status, {"error": str(err)})
        except (OSError, ValueError, KeyError) as err:
            return self._json(500, {"error": f"unable to load model: {err}"})
        if empty:  # before 0.3.11 an unload request lands here too: loaded for keep_alive 0, gone at once
            self.sched.release(runner)
            return reply("load")

        with self.sched.lock:
            runner.active += 1
        runner.slots.acquire()  # OLLAMA_NUM_PARALLEL requests at a time, the rest queue
        try:
            self._decode(runner, load_s, prompt, options, chat, stream, base)
        finally:
            runner.slots.release()
            with self.sched.lock:
                runner.active -= 1
            self.sched.release(runner)

    def _decode(self, runner: Runner, load_s: float, prompt: str, options: dict, chat: bool, stream: bool, base: dict):
        predict = options.get("num_predict")
        count = 32 if predict is None else (128 if int(predict) < 0 else int(predict))
        words = words_for(f"{runner.key}\n{prompt}", count)
        tps = runner.tps * random.uniform(1 - JITTER, 1 + JITTER)
        n_prompt = prompt_tokens(prompt)
        prompt_s = n_prompt / (tps * PROMPT_SPEEDUP)
        eval_s = count / tps

        def chunks():
            self.sched.gpu_load(True)
            try:
                self.cfg.sleep(prompt_s)
                for word in words:
                    self.cfg.sleep(1 / tps)
                    yield {**base, "created_at": rfc3339(utc=True),
                           **({"message": {"role": "assistant", "content": word}} if chat else {"response": word}),
                           "done": False}
            finally:
                self.sched.gpu_load(False)
            ns = lambda s: int(s * 1e9)  # noqa: E731
            reason = "stop" if predict is None else "length"
            if chat:  # ChatResponse's order: done_reason before done
                final = {**base, "created_at": rfc3339(utc=True), "message": {"role": "assistant", "content": ""},
                         "done_reason": reason, "done": True}
            else:
                final = {**base, "created_at": rfc3339(utc=True), "response": "", "done": True, "done_reason": reason}
            if not chat:
                seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:6], 16)
                final["context"] = [(seed + i * 7919) % 151000 for i in range(n_prompt + count)]
            final.update({
                "total_duration": ns(load_s + prompt_s + eval_s + REQUEST_OVERHEAD_S), "load_duration": ns(load_s),
                "prompt_eval_count": n_prompt, "prompt_eval_duration": ns(prompt_s),
                # docs/facts.md section 5: tok/s = count / duration * 1e9
                "eval_count": count, "eval_duration": ns(eval_s),
            })
            yield final

        if stream:
            return self._stream(chunks())
        items = list(chunks())
        final = items[-1]
        text = "".join(i["message"]["content"] if chat else i["response"] for i in items[:-1])
        if chat:
            final["message"]["content"] = text
        else:
            final["response"] = text
        self._json(200, final)


# ---------------------------------------------------------------- handler.py

class Handler(BaseHTTPRequestHandler):
    """The plumbing of Api: ROUTES maps a method and a path to the name of the method that answers."""

    protocol_version = "HTTP/1.1"
    server_version = "ollama-sim"
    disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms delayed-ACK stall
    ROUTES: dict[str, dict[str, str]] = {}

    # -- routing

    def do_HEAD(self):
        self._route()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD

    def _route(self) -> None:
        self.started, self.status = time.monotonic(), 0
        path = urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"
        name = self.ROUTES.get(self.command, {}).get(path)
        try:
            self.body = self._read_body()
            if name is not None:
                getattr(self, name)()
            elif any(path in routes for routes in self.ROUTES.values()):
                self._text(405, "405 method not allowed")  # gin with HandleMethodNotAllowed, as Ollama sets it
            else:
                self._text(404, "404 page not found")  # gin's answer for an unknown route
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._log()

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as err:
            return err

    def _request(self) -> dict | None:
        """The JSON body, or None after answering 400 (gin's messages, roughly)."""
        if self.body is None:
            self._json(400, {"error": "missing request body"})
            return None
        if isinstance(self.body, ValueError) or not isinstance(self.body, dict):
            self._json(400, {"error": "invalid character in request body"})
            return None
        return self.body

    # -- responses

    def _json(self, status: int, doc) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json; charset=utf-8")

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _empty(self, status: int = 200) -> None:
        """What gin sends when a handler writes nothing: the status, no body, no Content-Type."""
        self._send(status, b"", None)

    def _send(self, status: int, body: bytes, content_type: str | None) -> None:
        self.status = status
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _stream(self, items) -> None:
        """NDJSON over chunked encoding. An error after the 200 goes in-stream as {"error": ...}
        (docs/facts.md section 5)."""
        self.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for item in items:
                self._chunk(json.dumps(item).encode() + b"\n")
        except PullError as err:
            self._chunk(json.dumps({"error": str(err)}).encode() + b"\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def log_request(self, code="-", size="-"):
        pass  # _log writes one gin-style line per request instead

    def _log(self) -> None:
        elapsed = (time.monotonic() - self.started) * 1000
        sys.stderr.write(f"[GIN] {time.strftime('%Y/%m/%d - %H:%M:%S')} | {self.status:3d} | {elapsed:10.3f}ms |"
                         f" {self.client_address[0]:>15} | {self.command:<7} \"{self.path}\"\n")
        sys.stderr.flush()


# ---------------------------------------------------------------- api.py

FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "Q2_K": 10, "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}


class Api(Generation, Handler):
    """The endpoints; serve() binds a subclass with the server's cfg, store, sched and puller."""

    cfg: Config
    store: Store
    sched: Scheduler
    puller: Puller

    # the routes of ollama/ollama server/routes.go GenerateRoutes @v0.11.8 that are simulated here
    ROUTES = {
        "HEAD": {"/": "root", "/api/version": "version", "/api/tags": "tags"},
        "GET": {"/": "root", "/api/version": "version", "/api/tags": "tags", "/api/ps": "ps"},
        "POST": {"/api/pull": "pull", "/api/generate": "generate", "/api/chat": "chat", "/api/show": "show",
                 "/api/copy": "copy"},
        "DELETE": {"/api/delete": "delete"},
    }

    # -- endpoints

    def root(self):
        self._text(200, "Ollama is running")

    def version(self):
        self._json(200, {"version": self.cfg.version})

    def _details(self, manifest: dict) -> dict:
        try:
            config = json.loads(self.store.blob(manifest["config"]["digest"]).read_bytes())
        except (OSError, ValueError, KeyError):
            config = {}
        family = config.get("model_family", "")
        return {"parent_model": "", "format": config.get("model_format", "gguf"), "family": family,
                "families": config.get("model_families") or ([family] if family else None),
                "parameter_size": config.get("model_type", ""), "quantization_level": config.get("file_type", "")}

    def tags(self):
        """ollama/ollama server/routes.go ListHandler @v0.11.8 (alike @v0.6.8): a model whose config blob
        cannot be read is left out; newest first by the manifest's mtime in whole seconds."""
        models = []
        for name, path in self.store.all():
            try:
                raw = path.read_bytes()
                manifest = json.loads(raw)
                size = sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]
                json.loads(self.store.blob(manifest["config"]["digest"]).read_bytes())
                mtime = path.stat().st_mtime
            except (OSError, ValueError, KeyError, TypeError):
                continue
            models.append({"name": name.display, "model": name.display, "modified_at": rfc3339(mtime),
                           "size": size, "digest": hashlib.sha256(raw).hexdigest(),  # docs/facts.md section 5
                           "details": self._details(manifest), "_mtime": int(mtime)})
        models.sort(key=lambda m: m.pop("_mtime"), reverse=True)
        self._json(200, {"models": models})

    def pull(self):
        req = self._request()
        if req is None:
            return
        text = req.get("model") or req.get("name") or ""
        # VERSION_RULES name_checked_first: an invalid name is a 400 before the stream (also with stream false);
        # before 0.1.40 only an empty one was, and the rest failed in the stream
        if self.cfg.since("name_checked_first") and try_name(text) is None:
            return self._json(400, {"error": "invalid model name"})
        if not text:
            return self._json(400, {"error": "model is required"})
        items = self.puller.pull(text, bool(req.get("insecure")))
        if req.get("stream", True) is False:  # waitForStream: the last progress, or 500 with the error
            last = {}
            try:
                for last in items:  # noqa: B007 - the last item is the answer
                    pass
            except PullError as err:
                return self._json(500, {"error": str(err)})
            return self._json(200, last)
        self._stream(items)

    def _local(self, text) -> tuple[Name, bytes, dict] | None:
        name = try_name(text)
        found = self.store.read(name) if name else None
        return (name, *found) if found else None

    def delete(self):
        """ollama/ollama server/routes.go DeleteHandler @v0.11.8 (alike @v0.6.8): `name "x" is invalid` (400),
        `model 'x' not found` (404), else the manifest and the blobs no other manifest lists go, and the answer
        is a 200 with no body (VERSION_RULES delete_empty_body; before 0.1.40 `null`). A loaded model stays
        loaded, as there."""
        req = self._request()
        if req is None:
            return
        text = req.get("model") or req.get("name") or ""
        if self.cfg.since("name_checked_first") and try_name(text) is None:
            return self._json(400, {"error": f'name "{text}" is invalid'})
        found = self._local(text)
        if not found:
            return self._json(404, {"error": f"model '{text}' not found"})
        name, _, manifest = found
        with self.store.lock:
            self.store.manifest_path(name).unlink(missing_ok=True)
            self.store.remove_unreferenced(set(layer_digests(manifest)))
        if self.cfg.since("delete_empty_body"):
            return self._empty(200)
        self._json(200, None)

    def copy(self):
        req = self._request()
        if req is None:
            return
        # ollama/ollama server/routes.go CopyHandler @v0.11.8: both names checked first, a 200 with no body
        source, destination = req.get("source") or "", req.get("destination") or ""
        if try_name(source) is None:
            return self._json(400, {"error": f'source "{source}" is invalid'})
        dest = try_name(destination)
        if dest is None:
            return self._json(400, {"error": f'destination "{destination}" is invalid'})
        found = self._local(source)
        if not found:
            return self._json(404, {"error": f'model "{source}" not found'})
        self.store.write_manifest(dest, found[1])
        self._empty(200)

    def show(self):
        # ollama/ollama server/routes.go ShowHandler and GetModelInfo @v0.11.8 (alike @v0.6.8): no name is a
        # 400 "model is required", an invalid one a 500 "invalid model path" (ErrModelPathInvalid), an absent
        # one a 404
        req = self._request()
        if req is None:
            return
        text = req.get("model") or req.get("name") or ""
        if not text:
            return self._json(400, {"error": "model is required"})
        if try_name(text) is None:
            return self._json(500, {"error": "invalid model path"})
        found = self._local(text)
        if not found:
            return self._json(404, {"error": f"model '{text}' not found"})
        name, _, manifest = found
        texts = {}
        for layer in manifest["layers"]:
            kind = layer["mediaType"].rsplit(".", 1)[-1]
            if kind != "model":
                try:
                    texts[kind] = self.store.blob(layer["digest"]).read_text()
                except OSError:
                    pass
        try:
            params = json.loads(texts.get("params") or "{}")
        except ValueError:
            params = {}
        param_lines = [f"{k:<30} {json.dumps(v)}"
                       for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
        details = self._details(manifest)
        config = json.loads(self.store.blob(manifest["config"]["digest"]).read_bytes())
        sim = config.get("jetson_sim") or {}
        family = details["family"] or "llama"
        model_blob = next((layer["digest"] for layer in manifest["layers"] if layer["mediaType"] == MODEL_MEDIA), "")
        modelfile = (f"# Modelfile generated by \"ollama show\"\n# To build a new Modelfile based on this, replace "
                     f"FROM with:\n# FROM {name.display}\n\nFROM {self.store.blob(model_blob)}\n"
                     f"TEMPLATE \"\"\"{texts.get('template', '')}\"\"\"\n"
                     + "".join(f"PARAMETER {line}\n" for line in param_lines)
                     + f"LICENSE \"\"\"{texts.get('license', '')}\"\"\"\n")
        self._json(200, {
            "license": texts.get("license", ""), "modelfile": modelfile, "parameters": "\n".join(param_lines),
            "template": texts.get("template", ""), "details": details,
            "model_info": {
                "general.architecture": family,
                "general.file_type": FILE_TYPES.get(details["quantization_level"], 0),
                "general.parameter_count": parameter_count(details["parameter_size"]),
                "general.quantization_version": 2,
                f"{family}.context_length": sim.get("context_length", 0),
            },
            "capabilities": ["completion"],
            "modified_at": rfc3339(self.store.manifest_path(name).stat().st_mtime),
        })

    def ps(self):
        """ollama/ollama server/routes.go PsHandler @v0.11.8: the longest time left first (whole seconds, a
        stable sort; alike @v0.6.8), and from 0.10.0 context_length, the context of one request slot
        (VERSION_RULES ps_context_length)."""
        models = []
        with self.sched.lock:
            runners = list(self.sched.loaded.values())
        for r in runners:
            if r.expires_at is None and r.keep_alive is None:
                expires = time.time() + 292 * 365.25 * 86400  # forever: Go's max duration ahead
            else:
                expires = r.expires_at or time.time() + (r.keep_alive or 0)
            entry = {"name": r.key, "model": r.key, "size": r.size, "digest": r.digest,
                     "details": self._details(r.manifest), "expires_at": rfc3339(expires), "size_vram": r.size_vram}
            if self.cfg.since("ps_context_length"):
                entry["context_length"] = r.ctx
            models.append((int(expires), entry))
        models.sort(key=lambda item: item[0], reverse=True)
        self._json(200, {"models": [entry for _, entry in models]})


def parameter_count(text: str) -> int:
    match = re.match(r"([\d.]+)\s*([KMB]?)", text or "")
    if not match:
        return 0
    return int(float(match[1]) * {"K": 1e3, "M": 1e6, "B": 1e9, "": 1}[match[2]])


def serve() -> int:
    cfg = Config()
    store = Store(cfg.models)
    store.ensure()
    if cfg.noprune:
        log("INFO", "not pruning unused blobs: OLLAMA_NOPRUNE set")
    else:
        log("INFO", f"total unused blobs removed: {store.prune()}")  # docs/facts.md section 5: pruned at start-up
    sched = Scheduler(cfg, store)
    handler = type("BoundApi", (Api,), {"cfg": cfg, "store": store, "sched": sched, "puller": Puller(cfg, store)})
    family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
    server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
    try:
        server = server_class((cfg.host, cfg.port), handler)
    except OSError as err:
        print(f"Error: listen tcp {cfg.host}:{cfg.port}: bind: {err.strerror.lower()}", file=sys.stderr)
        return 1

    def stop(*_):
        raise SystemExit(0)  # unwinds serve_forever in the main thread; the finally below cleans up

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("INFO", "server config", OLLAMA_MODELS=str(cfg.models), OLLAMA_KEEP_ALIVE=cfg.keep_alive,
        OLLAMA_NUM_PARALLEL=cfg.num_parallel, OLLAMA_MAX_LOADED_MODELS=cfg.max_loaded,
        OLLAMA_CONTEXT_LENGTH=cfg.context_length, OLLAMA_FLASH_ATTENTION=cfg.flash_attention,
        OLLAMA_SIM_REGISTRY=cfg.registry or "(unset)")
    log("INFO", f"Listening on {cfg.host}:{cfg.port} (version {cfg.version})")
    free = mem_available(cfg)
    if sched.gpu:
        log("INFO", "inference compute", id="GPU-0", library="cuda", variant=f"jetpack{jetpack_major(cfg)}",
            name="Orin", available=human_bytes2(free or 0))
    else:
        # docs/facts.md section 5 (ollama #9503): e.g. no JETSON_JETPACK in the container
        if os.path.exists(cfg.gpu_marker):
            log("WARN", sched.cpu_reason)
        log("INFO", "no compatible GPUs were discovered")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        sched.unload_all()  # the runners die with the server: give the board its memory back
        if sched.gpu:
            sched.write_gr3d(0)
        server.server_close()
    return 0


# ---------------------------------------------------------------- cli.py

class ClientError(Exception):
    pass


def client_call(cfg: Config, method: str, path: str, body=None, stream: bool = False):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(cfg.client_url() + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", "User-Agent": cfg.user_agent})
    try:
        resp = urllib.request.urlopen(req, timeout=3600)
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            message = json.loads(raw).get("error") or raw.decode()
        except (ValueError, AttributeError):
            message = raw.decode(errors="replace").strip()
        raise ClientError(message) from None
    except (urllib.error.URLError, ConnectionError):
        raise ClientError("could not connect to ollama app, is it running?") from None
    if not stream:
        with resp:
            raw = resp.read()
            return json.loads(raw) if raw.strip() else {}
    return _ndjson(resp)


def _ndjson(resp):
    with resp:
        for line in resp:
            if line.strip():
                doc = json.loads(line)
                if "error" in doc:  # errors arrive inside the 200 stream (docs/facts.md section 5)
                    raise ClientError(doc["error"])
                yield doc


def human_time(ts: float, future: bool = False) -> str:
    delta = abs(ts - time.time())
    if future and delta > 100 * 365 * 86400:
        return "Forever"
    # the text of the first limit above delta: used after the loop
    for limit, text in ((1, "Less than a second"), (60, "{s} seconds"), (120, "About a minute"),  # noqa: B007
                        (46 * 60, "{m} minutes"), (90 * 60, "About an hour"), (48 * 3600, "{h} hours"),
                        (14 * 86400, "{d} days"), (90 * 86400, "{w} weeks"), (730 * 86400, "{mo} months")):
        if delta < limit:
            break
    else:
        text = "{y} years"
    s = int(delta)
    text = text.format(s=s, m=s // 60, h=s // 3600, d=s // 86400, w=s // 604800, mo=s // 2592000, y=s // 31536000)
    return f"{text} from now" if future else f"{text} ago"


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("    ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def parse_ts(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def go_duration(seconds: float) -> str:
    if seconds >= 60:
        return f"{int(seconds // 60)}m{seconds % 60:.6g}s"
    if seconds >= 1:
        return f"{seconds:.6g}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.6g}ms"
    return f"{seconds * 1e6:.6g}µs"


def cli_pull(cfg: Config, model: str) -> None:
    shown, tty = set(), sys.stderr.isatty()
    for doc in client_call(cfg, "POST", "/api/pull", {"model": model}, stream=True):
        status = doc.get("status", "")
        if "digest" in doc:
            total, done = doc.get("total", 0), doc.get("completed", 0)
            line = f"{status}: {100 * done // max(total, 1):3d}% {human_bytes(total)}"
            if tty:
                sys.stderr.write(f"\r{line}" + ("\n" if done >= total else ""))
            elif done >= total and status not in shown:
                sys.stderr.write(line + "\n")
                shown.add(status)
        else:
            sys.stderr.write(status + "\n")
        sys.stderr.flush()


def cli_run(cfg: Config, args: list[str]) -> int:
    verbose = "--verbose" in args
    keep_alive = None
    rest = []
    it = iter(a for a in args if a != "--verbose")
    for arg in it:
        if arg.startswith("--keepalive"):
            keep_alive = arg.partition("=")[2] or next(it, "")
        elif arg in ("--nowordwrap", "--insecure"):
            continue
        else:
            rest.append(arg)
    if not rest:
        raise ClientError('accepts at least 1 arg(s), received 0')
    model, words = rest[0], rest[1:]
    try:
        client_call(cfg, "POST", "/api/show", {"model": model})
    except ClientError as err:
        if "not found" not in str(err):
            raise
        cli_pull(cfg, model)  # `ollama run` pulls a missing model first

    def ask(prompt: str) -> None:
        body = {"model": model, "prompt": prompt}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        final = {}
        for doc in client_call(cfg, "POST", "/api/generate", body, stream=True):
            sys.stdout.write(doc.get("response", ""))
            sys.stdout.flush()
            final = doc
        sys.stdout.write("\n\n" if sys.stdout.isatty() else "\n")
        if verbose and final.get("eval_duration"):
            ns = 1e9
            prompt_rate = final["prompt_eval_count"] / max(final["prompt_eval_duration"], 1) * ns
            stats = [("total duration", go_duration(final["total_duration"] / ns)),
                     ("load duration", go_duration(final["load_duration"] / ns)),
                     ("prompt eval count", f"{final['prompt_eval_count']} token(s)"),
                     ("prompt eval duration", go_duration(final["prompt_eval_duration"] / ns)),
                     ("prompt eval rate", f"{prompt_rate:.2f} tokens/s"),
                     ("eval count", f"{final['eval_count']} token(s)"),
                     ("eval duration", go_duration(final["eval_duration"] / ns)),
                     ("eval rate", f"{final['eval_count'] / final['eval_duration'] * ns:.2f} tokens/s")]
            sys.stderr.write("".join(f"{k + ':':<22}{v}\n" for k, v in stats))

    if words:
        ask(" ".join(words))
    elif not sys.stdin.isatty():
        ask(sys.stdin.read())
    else:
        client_call(cfg, "POST", "/api/generate", {"model": model})  # load, as the real REPL does
        while True:
            try:
                line = input(">>> ")
            except EOFError:
                break
            if line.strip() in ("/bye", "/exit"):
                break
            if line.strip():
                ask(line)
    return 0


def cli(argv: list[str]) -> int:
    cfg = Config()
    usage = ("Usage:\n  ollama [flags]\n  ollama [command]\n\nAvailable Commands:\n"
             "  serve       Start ollama\n  show        Show information for a model\n"
             "  run         Run a model\n  stop        Stop a running model\n"
             "  pull        Pull a model from a registry\n"
             "  list        List models\n  ps          List running models\n  cp          Copy a model\n"
             "  rm          Remove a model\n\nFlags:\n  -h, --help      help for ollama\n"
             "  -v, --version   Show version information\n\n(jetson-sim: a simulated ollama, not Ollama)\n")
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(usage)
        return 0
    cmd, args = argv[0], argv[1:]
    try:
        if cmd in ("-v", "--version", "version"):
            try:
                server = client_call(cfg, "GET", "/api/version").get("version", "")
                print(f"ollama version is {server}")
                if server != cfg.version:
                    print(f"Warning: client version is {cfg.version}")
            except ClientError:
                print("Warning: could not connect to a running Ollama instance")
                print(f"Warning: client version is {cfg.version}")
            return 0
        if cmd in ("serve", "start"):
            return serve()
        if cmd == "pull":
            if len(args) != 1:
                raise ClientError(f"accepts 1 arg(s), received {len(args)}")
            cli_pull(cfg, args[0])
            return 0
        if cmd in ("list", "ls"):
            rows = [["NAME", "ID", "SIZE", "MODIFIED"]]
            for m in client_call(cfg, "GET", "/api/tags")["models"]:
                if not args or any(m["name"].startswith(a) for a in args):
                    modified = human_time(parse_ts(m["modified_at"]))
                    rows.append([m["name"], m["digest"][:12], human_bytes(m["size"]), modified])
            print(table(rows))
            return 0
        if cmd == "ps":
            context = cfg.since("ps_context_length")  # cmd/cmd.go ListRunningHandler: a CONTEXT column from 0.10.0
            rows = [["NAME", "ID", "SIZE", "PROCESSOR", *(["CONTEXT"] if context else []), "UNTIL"]]
            for m in client_call(cfg, "GET", "/api/ps")["models"]:
                vram, size = m.get("size_vram", 0), max(m["size"], 1)
                if vram == 0:
                    proc = "100% CPU"
                elif vram >= size:
                    proc = "100% GPU"
                else:
                    cpu = round(100 * (size - vram) / size)
                    proc = f"{cpu}%/{100 - cpu}% CPU/GPU"
                until = parse_ts(m["expires_at"])
                rows.append([m["name"], m["digest"][:12], human_bytes(m["size"]), proc,
                             *([str(m.get("context_length", 0))] if context else []),
                             "Stopping..." if until <= time.time() else human_time(until, future=True)])
            print(table(rows))
            return 0
        if cmd == "rm":
            if not args:
                raise ClientError("requires at least 1 arg(s), only received 0")
            for model in args:
                client_call(cfg, "DELETE", "/api/delete", {"model": model})
                print(f"deleted '{model}'")
            return 0
        if cmd == "stop":
            if len(args) != 1:
                raise ClientError(f"accepts 1 arg(s), received {len(args)}")
            client_call(cfg, "POST", "/api/generate", {"model": args[0], "keep_alive": 0})
            return 0
        if cmd == "cp":
            if len(args) != 2:
                raise ClientError(f"accepts 2 arg(s), received {len(args)}")
            client_call(cfg, "POST", "/api/copy", {"source": args[0], "destination": args[1]})
            print(f"copied '{args[0]}' to '{args[1]}'")
            return 0
        if cmd == "show":
            if len(args) != 1:
                raise ClientError(f"accepts 1 arg(s), received {len(args)}")
            info = client_call(cfg, "POST", "/api/show", {"model": args[0]})
            d, mi = info["details"], info["model_info"]
            ctx = next((v for k, v in mi.items() if k.endswith(".context_length")), "")
            print("  Model")
            for key, value in (("architecture", d["family"]), ("parameters", d["parameter_size"]),
                               ("context length", ctx), ("quantization", d["quantization_level"])):
                print(f"    {key:<20}{value}")
            return 0
        if cmd == "run":
            return cli_run(cfg, args)
        raise ClientError(f'unknown command "{cmd}" for "ollama"')
    except ClientError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
