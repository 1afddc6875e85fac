"""SIMULATED Ollama model registry, standing in for registry.ollama.ai (the boards have no internet).

Run on the controller host (stdlib only, Python 3.11):

    python3 -m jetson_sim.upstream.ollama_registry --listen 10.231.0.1:11500 --data DIR [--scale 1000]

It serves the catalog in models.yaml over the protocol the Ollama client uses (docs/facts.md section 5):

    GET|HEAD /v2/library/<model>/manifests/<tag>     Docker distribution v2 manifest
    GET|HEAD /v2/library/<model>/blobs/sha256:<hex>  blob bytes; `Range: bytes=N-` answers 206 (resume)

Blobs are synthetic but honest: deterministic bytes seeded from the tag, the model layer
`size // scale` long (qwen2.5:7b's 4.7 GB is 4.7 MB at the default scale), every digest the real
sha256 of the bytes served. The config blob carries the real figures in a "jetson_sim" object so the
simulated `ollama` (jetson_sim/upstream/ollama/) computes memory and speed as if the full model were there.

A client whose User-Agent says `ollama/<version>` older than the model's `min_ollama` gets HTTP 412
(docs/facts.md section 4). Clients without an `ollama/` User-Agent (curl, tests) are not version-checked:
what the real registry does with them is unverified.

Test hooks under /_sim/ (JSON in, JSON out):
    GET  /_sim/stats    bytes served per client IP and per blob digest, request counts, a request log
    GET  /_sim/models   the catalog as served: manifest digest and layers per model
    POST /_sim/reset    zero the stats and drop pending faults (retags stay: they are upstream state)
    POST /_sim/retag    {"model": "qwen2.5:0.5b"}: upstream republishes the tag, new model layer bytes
    POST /_sim/corrupt  {"model": ..., "count": 1}: the next N blob GETs of that model send wrong bytes
                        of the right length
    POST /_sim/cut      {"after_bytes": N, "count": 1}: the next N blob GETs close the connection after
                        N bytes of body, like a cut link
    POST /_sim/pace     {"bytes_per_second": N}: blob bodies are sent at N bytes/s per request, so a pull
                        takes real seconds as a real one does (0: as fast as possible, the default);
                        reset drops it. 25000 makes qwen2.5:0.5b's 397 KB a 16 s pull

The data dir holds blobs/sha256-<hex>, manifests/<model>/<tag> and state.json; it is filled at start
for whatever is missing or stale, so a restart on the same dir is quick and serves the same digests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).with_name("models.yaml")

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA = "application/vnd.ollama.image.{}"  # model | template | license | params (docs/facts.md section 5)

# The raw body of the 412. The Ollama client prints a 4xx answer as "<code>: <body>", so this text
# makes it show `pull model manifest: 412: The model ... newer version of Ollama.` (docs/facts.md section 4).
TOO_OLD = "The model you are attempting to pull requires a newer version of Ollama."

GGUF_MAGIC = b"GGUF\x03\x00\x00\x00"  # GGUF v3 header start, so `head -c4` of a blob looks right
CHUNK = 64 * 1024
FLIP = bytes(b ^ 0x5A for b in range(256))  # translate table for corrupted responses

FIELDS = {"size": int, "kv_bytes_per_token": int, "parameters": str, "quantization": str,
          "family": str, "context_length": int, "min_ollama": str}


# ---------------------------------------------------------------- catalog (models.yaml)

def parse_catalog(text: str) -> dict[str, dict]:
    """Parse models.yaml: `"name:tag":` lines at column 0, `  key: value` lines under them, `#` comments.
    The file sticks to that subset so no YAML library is needed; tests check it against PyYAML."""
    models: dict[str, dict] = {}
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()  # no value contains " #"
        if not line:
            continue
        key, colon, value = line.strip().partition(": ") if ": " in line else (line.strip()[:-1], ":", "")
        if not colon or (not value and not line.endswith(":")):
            raise ValueError(f"models.yaml:{number}: expected `key: value` or `key:`, got {raw!r}")
        key = key.strip().strip('"')
        if not raw.startswith(" "):
            if value:
                raise ValueError(f"models.yaml:{number}: a model line must be `\"name:tag\":`")
            current = models.setdefault(key, {})
        elif current is None or not raw.startswith("  ") or raw.startswith("   "):
            raise ValueError(f"models.yaml:{number}: field outside a model or not indented by two spaces")
        else:
            value = value.strip()
            current[key] = value[1:-1] if value[:1] == '"' else int(value) if value.isdigit() else value
    for name, entry in models.items():
        if "alias_of" in entry:
            if set(entry) != {"alias_of"} or entry["alias_of"] not in models:
                raise ValueError(f"models.yaml: {name}: alias_of must be the only field and name a model")
            continue
        for field, kind in FIELDS.items():
            if not isinstance(entry.get(field), kind):
                raise ValueError(f"models.yaml: {name}.{field}: missing or not {kind.__name__}")
    return models


def load_catalog(path: Path = CATALOG) -> dict[str, dict]:
    return parse_catalog(path.read_text())


def version_tuple(text: str) -> tuple[int, int, int]:
    """"0.6.8" / "0.6.8-rc1" / "v0.5" -> (0, 6, 8); garbage -> (0, 0, 0) like a dev build, and so is a
    bare git hash such as "5f7b4a5" (an image built from a shallow clone), which is no release
    (unverified: how the real registry reads it is not public)."""
    match = re.match(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?=$|[-+])", text or "")
    if not match:
        return 0, 0, 0
    major, minor, patch = (int(part or 0) for part in match.groups())
    return major, minor, patch


# ---------------------------------------------------------------- synthetic blobs

def model_bytes(name: str, generation: int, length: int) -> bytes:
    """Deterministic pseudo-random bytes for one model layer. A 64 KiB random base block, rotated by a
    different offset for each block: as unique as the tests need and generated at memcpy speed."""
    rng = random.Random(f"{name}#{generation}")
    base = rng.randbytes(CHUNK)
    step = rng.randrange(1, CHUNK)
    out = bytearray(GGUF_MAGIC[:length])
    i = 0
    while len(out) < length:
        r = (i * step) % CHUNK
        out += (base[r:] + base[:r])[: length - len(out)]
        i += 1
    return bytes(out)


TEMPLATES = {  # chat templates in Ollama's Go-template form, shortened; content unverified
    "qwen2": "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
             "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n",
    "qwen3": "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
             "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n<think>\n",
    "llama": "<|im_start|>system\n{{ .System }}<|im_end|>\n<|im_start|>user\n{{ .Prompt }}<|im_end|>\n"
             "<|im_start|>assistant\n",
}
PARAMS = {  # unverified
    "qwen2": {"stop": ["<|im_start|>", "<|im_end|>"]},
    "qwen3": {"repeat_penalty": 1, "stop": ["<|im_start|>", "<|im_end|>"], "temperature": 0.6,
              "top_k": 20, "top_p": 0.95},
    "llama": {"stop": ["<|im_start|>", "<|im_end|>"]},
}


def build_model(name: str, entry: dict, generation: int, scale: int) -> tuple[bytes, dict[str, bytes]]:
    """(manifest bytes, {digest: blob bytes}) for one catalog entry."""
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    family = entry["family"]
    weights = model_bytes(name, generation, max(1, entry["size"] // scale))  # only the model layer is scaled
    layers = [
        {"mediaType": LAYER_MEDIA.format("model"), **add(weights)},
        {"mediaType": LAYER_MEDIA.format("template"), **add(TEMPLATES.get(family, TEMPLATES["llama"]).encode())},
        {"mediaType": LAYER_MEDIA.format("license"),
         **add(f"Synthetic license text for {name} (jetson-sim). Not the upstream license.\n".encode())},
        {"mediaType": LAYER_MEDIA.format("params"), **add(json.dumps(PARAMS.get(family, {})).encode())},
    ]
    # Shaped like the config of a real Ollama model, plus the real figures the simulated server needs.
    config = {
        "model_format": "gguf", "model_family": family, "model_families": [family],
        "model_type": entry["parameters"], "file_type": entry["quantization"],
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        "jetson_sim": {
            "size": entry["size"], "kv_bytes_per_token": entry["kv_bytes_per_token"],
            "context_length": entry["context_length"], "min_ollama": entry["min_ollama"],
            "generation": generation, "scale": scale,
        },
    }
    manifest = {
        "schemaVersion": 2, "mediaType": MANIFEST_V2,
        "config": {"mediaType": CONFIG_MEDIA, **add(json.dumps(config, separators=(",", ":")).encode())},
        "layers": layers,
    }
    return json.dumps(manifest, separators=(",", ":")).encode(), blobs


# ---------------------------------------------------------------- the registry's state

class Registry:
    """The data dir plus the in-memory stats and pending faults; every method is thread-safe."""

    def __init__(self, data: Path, scale: int = 1000, catalog: dict | None = None):
        self.data, self.scale = Path(data), scale
        self.catalog = catalog if catalog is not None else load_catalog()
        self.lock = threading.Lock()
        self.state_path = self.data / "state.json"
        self.manifests: dict[str, bytes] = {}  # "model:tag" -> manifest bytes (aliases included)
        self.digest_models: dict[str, set[str]] = {}  # blob digest -> names whose manifest lists it
        self.reset()
        self.ensure_data()

    def reset(self) -> None:
        with self.lock:
            self.cuts: list[int] = []  # after_bytes for each pending cut
            self.corrupt: dict[str, int] = {}  # model name -> blob responses still to corrupt
            self.pace = 0  # bytes per second of each blob body, 0: unpaced
            self.stats: dict[str, Any] = {
                "requests": {"total": 0, "manifest": 0, "blob_get": 0, "blob_head": 0, "range": 0,
                             "too_old": 0, "not_found": 0, "cut": 0, "corrupted": 0},
                "bytes_total": 0, "bytes_by_client": {}, "bytes_by_digest": {}, "log": [],
            }

    # -- data dir

    def _state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {"generations": {}, "fingerprints": {}}

    def ensure_data(self) -> None:
        """Write whatever is missing or stale; a model whose fingerprint (catalog entry, scale,
        generation) matches and whose files exist is left alone, so restarts are fast."""
        (self.data / "blobs").mkdir(parents=True, exist_ok=True)
        state = self._state()
        for name, entry in self.catalog.items():
            if "alias_of" not in entry:
                self._ensure_model(name, entry, state)
        for name, entry in self.catalog.items():
            if "alias_of" in entry:
                self.manifests[name] = self.manifests[entry["alias_of"]]
        self._index()
        self._save_state(state)

    def _ensure_model(self, name: str, entry: dict, state: dict, force: bool = False) -> None:
        generation = state["generations"].get(name, 0)
        fingerprint = hashlib.sha256(json.dumps([entry, self.scale, generation], sort_keys=True).encode()).hexdigest()
        model, tag = name.split(":", 1)
        path = self.data / "manifests" / model / tag
        if not force and state["fingerprints"].get(name) == fingerprint and path.exists():
            manifest = path.read_bytes()
            if all(self.blob_path(d).exists() for d in self._digests(manifest)):
                self.manifests[name] = manifest
                return
        manifest, blobs = build_model(name, entry, generation, self.scale)
        for digest, data in blobs.items():
            blob = self.blob_path(digest)
            if not blob.exists():
                _write_atomic(blob, data)
        _write_atomic(path, manifest)
        state["fingerprints"][name] = fingerprint
        self.manifests[name] = manifest

    def _save_state(self, state: dict) -> None:
        _write_atomic(self.state_path, json.dumps(state, indent=2, sort_keys=True).encode())

    @staticmethod
    def _digests(manifest: bytes) -> list[str]:
        doc = json.loads(manifest)
        return [doc["config"]["digest"]] + [layer["digest"] for layer in doc["layers"]]

    def _index(self) -> None:
        self.digest_models = {}
        for name, manifest in self.manifests.items():
            for digest in self._digests(manifest):
                self.digest_models.setdefault(digest, set()).add(name)

    def blob_path(self, digest: str) -> Path:
        return self.data / "blobs" / digest.replace(":", "-")

    def retag(self, name: str) -> str:
        """Upstream republishes `name`: the next generation of model bytes, a new manifest."""
        target = self.catalog.get(name, {}).get("alias_of", name)
        if target not in self.catalog:
            raise KeyError(name)
        with self.lock:
            state = self._state()
            state["generations"][target] = state["generations"].get(target, 0) + 1
            self._ensure_model(target, self.catalog[target], state, force=True)
            for alias, entry in self.catalog.items():
                if entry.get("alias_of") == target:
                    self.manifests[alias] = self.manifests[target]
            self._index()
            self._save_state(state)
            return "sha256:" + hashlib.sha256(self.manifests[name]).hexdigest()

    # -- faults and accounting

    def take_faults(self, digest: str) -> tuple[int | None, bool]:
        """(cut after N bytes or None, corrupt?) for one blob GET, consuming the pending faults."""
        with self.lock:
            cut = self.cuts.pop(0) if self.cuts else None
            corrupt = False
            for name in sorted(self.digest_models.get(digest, ())):
                if self.corrupt.get(name, 0) > 0:
                    self.corrupt[name] -= 1
                    corrupt = True
                    break
            if cut is not None:
                self.stats["requests"]["cut"] += 1
            if corrupt:
                self.stats["requests"]["corrupted"] += 1
            return cut, corrupt

    def count(self, kind: str) -> None:
        with self.lock:
            self.stats["requests"][kind] += 1

    def record(self, entry: dict, digest: str | None) -> None:
        with self.lock:
            stats, sent = self.stats, entry["bytes"]
            stats["requests"]["total"] += 1
            stats["bytes_total"] += sent
            by_client = stats["bytes_by_client"]
            by_client[entry["client"]] = by_client.get(entry["client"], 0) + sent
            if digest:
                stats["bytes_by_digest"][digest] = stats["bytes_by_digest"].get(digest, 0) + sent
            stats["log"] = (stats["log"] + [entry])[-500:]

    def snapshot(self) -> dict:
        with self.lock:
            return json.loads(json.dumps(self.stats))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------- HTTP

MANIFEST_URL = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+)/manifests/(?P<tag>[A-Za-z0-9._-]+)$")
BLOB_URL = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class Handler(BaseHTTPRequestHandler):
    server_version = "jetson-sim-registry/1"
    disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms delayed-ACK stall
    registry: Registry  # set on the subclass made by serve()

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        self.sent, self.digest, self.range = 0, None, None
        path = self.path.split("?", 1)[0]
        try:
            if path.startswith("/_sim/"):
                self._sim(path)
            elif path in ("/v2", "/v2/") and self.command != "POST":
                self._json(200, {})
            elif (m := MANIFEST_URL.match(path)) and self.command != "POST":
                self._manifest(m["repo"], m["tag"])
            elif (m := BLOB_URL.match(path)) and self.command != "POST":
                self._blob(m["digest"])
            else:
                self._errors(404, "NOT_FOUND", "not found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._log()

    # -- registry protocol

    def _manifest(self, repo: str, tag: str) -> None:
        reg = self.registry
        reg.count("manifest")
        # only the `library` namespace exists here, as for the official models on registry.ollama.ai
        name = f"{repo.removeprefix('library/')}:{tag}"
        manifest = reg.manifests.get(name) if repo.startswith("library/") else None
        if manifest is None:
            reg.count("not_found")
            return self._errors(404, "MANIFEST_UNKNOWN", "manifest unknown")
        agent = re.search(r"\bollama/(\S+)", self.headers.get("User-Agent", ""))
        entry = reg.catalog[reg.catalog[name].get("alias_of", name)]
        if agent and version_tuple(agent[1]) < version_tuple(entry["min_ollama"]):
            reg.count("too_old")
            return self._send(412, TOO_OLD.encode(), "text/plain; charset=utf-8")
        self._send(200, manifest, MANIFEST_V2,
                   {"Docker-Content-Digest": "sha256:" + hashlib.sha256(manifest).hexdigest()})

    def _blob(self, digest: str) -> None:
        reg = self.registry
        self.digest = digest
        path = reg.blob_path(digest)
        if not path.exists():
            reg.count("not_found")
            return self._errors(404, "BLOB_UNKNOWN", "blob unknown to registry")
        size = path.stat().st_size
        if self.command == "HEAD":
            reg.count("blob_head")
            return self._head(200, size, {"Accept-Ranges": "bytes", "Docker-Content-Digest": digest})
        reg.count("blob_get")
        start, end, status = 0, size - 1, 200
        if header := self.headers.get("Range"):
            reg.count("range")
            self.range = header
            m = RANGE.match(header.strip())
            if not m or int(m[1]) >= size or (m[2] and int(m[2]) < int(m[1])):
                return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
            start, end, status = int(m[1]), min(int(m[2]), size - 1) if m[2] else size - 1, 206
        cut, corrupt = reg.take_faults(digest)
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Docker-Content-Digest", digest)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        budget = length if cut is None else min(cut, length)
        pace, began = reg.pace, time.monotonic()
        piece = CHUNK if not pace else max(1024, min(CHUNK, pace // 10))  # ten writes a second when paced
        with open(path, "rb") as f:
            f.seek(start)
            while self.sent < budget:
                if pace:  # the body so far at `pace` bytes/s
                    time.sleep(max(0.0, began + self.sent / pace - time.monotonic()))
                data = f.read(min(piece, budget - self.sent))
                if not data:
                    break
                if corrupt:  # same length, different bytes: only a digest check can tell
                    data = data.translate(FLIP)
                self.wfile.write(data)
                self.sent += len(data)
        if cut is not None and budget < length:
            # a cut link: the client was promised `length` bytes and the connection just ends
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- test hooks

    def _sim(self, path: str) -> None:
        reg = self.registry
        if path == "/_sim/stats" and self.command == "GET":
            return self._json(200, reg.snapshot())
        if path == "/_sim/models" and self.command == "GET":
            return self._json(200, {name: {"digest": "sha256:" + hashlib.sha256(m).hexdigest(), **json.loads(m)}
                                    for name, m in sorted(reg.manifests.items())})
        if self.command != "POST":
            return self._json(405, {"error": f"{self.command} {path}: use POST"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except ValueError:
            return self._json(400, {"error": "body is not JSON"})
        if path == "/_sim/reset":
            reg.reset()
            return self._json(200, {"status": "reset"})
        if path == "/_sim/retag":
            try:
                return self._json(200, {"model": body.get("model"), "digest": reg.retag(body.get("model"))})
            except KeyError:
                return self._json(404, {"error": f"unknown model {body.get('model')!r}"})
        if path == "/_sim/corrupt":
            if body.get("model") not in reg.manifests:
                return self._json(404, {"error": f"unknown model {body.get('model')!r}"})
            with reg.lock:
                reg.corrupt[body["model"]] = reg.corrupt.get(body["model"], 0) + int(body.get("count", 1))
            return self._json(200, {"corrupt": dict(reg.corrupt)})
        if path == "/_sim/pace":
            with reg.lock:
                reg.pace = max(0, int(body.get("bytes_per_second", 0)))
            return self._json(200, {"pace": reg.pace})
        if path == "/_sim/cut":
            with reg.lock:
                reg.cuts += [int(body.get("after_bytes", 0))] * int(body.get("count", 1))
            return self._json(200, {"cuts": list(reg.cuts)})
        return self._json(404, {"error": f"unknown hook {path}"})

    # -- plumbing

    def _head(self, status: int, length: int, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self.sent += len(body)

    def _json(self, status: int, doc) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json")

    def _errors(self, status: int, code: str, message: str) -> None:
        # the Docker distribution error shape (what a registry answers)
        self._json(status, {"errors": [{"code": code, "message": message}]})

    def send_response(self, code, message=None):
        self.status = code
        super().send_response(code, message)

    def log_request(self, code="-", size="-"):
        pass  # one line per request is written by _log, once the byte count is known

    def _log(self) -> None:
        entry = {"time": round(time.time(), 3), "client": self.client_address[0], "method": self.command,
                 "path": self.path, "status": getattr(self, "status", 0), "bytes": self.sent,
                 "range": self.range, "user_agent": self.headers.get("User-Agent", "")}
        if not self.path.startswith("/_sim/"):  # the hooks' own traffic is not registry traffic
            self.registry.record(entry, self.digest)
        sys.stderr.write(f"{self.log_date_time_string()} {entry['client']} \"{self.command} {self.path}\" "
                         f"{entry['status']} {self.sent}{' range=' + self.range if self.range else ''} "
                         f"\"{entry['user_agent']}\"\n")


def serve(listen: str, data: Path, scale: int = 1000) -> None:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--listen wants ADDR:PORT, got {listen!r}")
    started = time.monotonic()
    registry = Registry(data, scale)
    handler = type("BoundHandler", (Handler,), {"registry": registry})
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), handler)
    server.daemon_threads = True

    def stop(*_):
        raise SystemExit(0)  # raised in the main thread, inside serve_forever: it unwinds and we close

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write(f"jetson-sim ollama registry: {len(registry.manifests)} tags, scale 1/{scale}, "
                     f"data {data} ready in {time.monotonic() - started:.2f}s; "
                     f"listening on {server.server_address[0]!s}:{server.server_port}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ollama_registry", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="ADDR:PORT, e.g. 10.231.0.1:11500")
    parser.add_argument("--data", required=True, type=Path, help="data dir (created and filled if needed)")
    parser.add_argument("--scale", type=int, default=1000, help="model layer bytes = real size // SCALE (1000)")
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error("--scale must be >= 1")
    serve(args.listen, args.data, args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
