"""SIMULATED GitHub release downloads of ollama/ollama, standing in for github.com (the boards have no
internet). Not GitHub, not Ollama's real archives.

Run on the controller host (stdlib only; the `zstd` tool for the .tar.zst releases):

    python3 -m jetson_sim.upstream.github_releases --listen 10.231.0.1:11600

It serves, over plain HTTP, what the native runtime downloads (docs/facts.md section 5):

    GET|HEAD /ollama/ollama/releases/download/v<version>/<file>   302 to /_cdn/v<version>/<file>, as
                                                                  GitHub redirects to its CDN (unverified)
    GET|HEAD /_cdn/v<version>/<file>                               the bytes

with, for each version of RELEASES, `ollama-linux-arm64<ext>`, `ollama-linux-arm64-jetpack6<ext>`,
`ollama-linux-arm64-jetpack5<ext>` and `sha256sum.txt` (`<hex>  ./<file>` lines). The extension is
`.tgz`, and `.tar.zst` from 0.14 (docs/facts.md section 5); the .tar.zst releases are served only when the
controller has `zstd` (else they are left out, and the log says so). The layout is upstream's:
`bin/ollama` (the simulated server, built from jetson_sim/upstream/ollama/, reporting the release's version) and
`lib/ollama/...` (placeholder libraries); a JetPack bundle adds `lib/ollama/cuda_jetpack6` (or 5),
which the simulated server needs beside it to use the GPU. The exact library names are unverified.
Archives are byte-for-byte reproducible (fixed times, owners and order), so digests stay the same
across restarts.

Test hooks under /_sim/ (JSON in, JSON out):
    GET  /_sim/releases  {version: {file: {"sha256", "size"}}} as served now
    GET  /_sim/stats     requests and bytes per file and per client
    POST /_sim/tamper    {"version": "0.6.8", "file": "ollama-linux-arm64.tgz", "checksums": false}: the file
                         is served with other bytes (a changed bin/ollama); "checksums": true rewrites
                         sha256sum.txt to match, as an attacker who controls the release would
    POST /_sim/pace      {"bytes_per_second": N}: release files are sent at N bytes/s per request, so a
                         download takes real seconds (0: at once, the default); reset drops it
    POST /_sim/reset     the original files again, stats zeroed, unpaced
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Collection
from typing import Any

from .ollama.build import script_path

RELEASES = ("0.5.7", "0.6.8", "0.14.0")  # 0.6.8: the library's default ollama_native_version
ZSTD_SINCE = (0, 14, 0)
BUNDLES = ("jetpack6", "jetpack5")
MTIME = 1_746_000_000  # every entry's time: reproducible archives
DOWNLOAD = re.compile(r"^/ollama/ollama/releases/download/v(?P<version>[0-9.]+)/(?P<file>[A-Za-z0-9._-]+)$")
CDN = re.compile(r"^/_cdn/v(?P<version>[0-9.]+)/(?P<file>[A-Za-z0-9._-]+)$")
TAMPERED = b"\n# tampered: not the bytes this release published (jetson-sim /_sim/tamper)\n"


def _vtuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def extension(version: str) -> str:
    return ".tar.zst" if _vtuple(version) >= ZSTD_SINCE else ".tgz"


def placeholder(name: str, size: int = 48 * 1024) -> bytes:
    """Deterministic bytes standing in for a shared library."""
    out, seed = bytearray(b"\x7fELF jetson-sim placeholder " + name.encode() + b"\n"), name.encode()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size])


def server_script(version: str, tampered: bool = False) -> bytes:
    """The simulated ollama, reporting `version` (its DEFAULT_VERSION line replaced)."""
    server = script_path()
    text = server.read_bytes()
    line = re.search(rb'^DEFAULT_VERSION = "[^"]*"$', text, re.M)
    if not line:
        raise RuntimeError(f"{server} has no DEFAULT_VERSION line")
    text = text[:line.start()] + f'DEFAULT_VERSION = "{version}"'.encode() + text[line.end():]
    return text + TAMPERED if tampered else text


def archive_members(version: str, bundle: str | None, tampered: bool = False) -> list[tuple[str, bytes | None, int]]:
    """(path, bytes or None for a directory, mode) in archive order."""
    if bundle is None:
        return [("bin", None, 0o755), ("bin/ollama", server_script(version, tampered), 0o755),
                ("lib", None, 0o755), ("lib/ollama", None, 0o755),
                ("lib/ollama/libggml-base.so", placeholder(f"{version}/libggml-base.so"), 0o755),
                ("lib/ollama/libggml-cpu.so", placeholder(f"{version}/libggml-cpu.so"), 0o755)]
    cuda = f"lib/ollama/cuda_{bundle}"
    members = [("lib", None, 0o755), ("lib/ollama", None, 0o755), (cuda, None, 0o755),
               (f"{cuda}/libggml-cuda.so", placeholder(f"{version}/{bundle}/libggml-cuda.so", 96 * 1024), 0o755)]
    if tampered:
        members.append((f"{cuda}/README", TAMPERED, 0o644))
    return members


def tar_bytes(members) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, data, mode in members:
            info = tarfile.TarInfo(path)
            info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = MTIME, mode, 0, 0, "root", "root"
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def compress(raw: bytes, ext: str) -> bytes:
    if ext == ".tgz":
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as gz:
            gz.write(raw)
        return buffer.getvalue()
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, capture_output=True, check=True).stdout


def build_release(version: str, tampered: Collection[str] = frozenset()) -> dict[str, bytes]:
    """{file: bytes} of one release, sha256sum.txt included (over the files as served)."""
    ext = extension(version)
    files = {}
    for bundle in (None, *BUNDLES):
        name = f"ollama-linux-arm64{'-' + bundle if bundle else ''}{ext}"
        files[name] = compress(tar_bytes(archive_members(version, bundle, name in tampered)), ext)
    files["sha256sum.txt"] = checksums(files)
    return files


def checksums(files: dict[str, bytes]) -> bytes:
    return "".join(f"{hashlib.sha256(data).hexdigest()}  ./{name}\n"
                   for name, data in sorted(files.items()) if name != "sha256sum.txt").encode()


class Releases:
    """The files served, the stats and the tampering; thread-safe."""

    def __init__(self, versions=RELEASES):
        self.lock = threading.Lock()
        self.have_zstd = bool(shutil.which("zstd"))
        self.versions = [v for v in versions if extension(v) == ".tgz" or self.have_zstd]
        self.skipped = [v for v in versions if v not in self.versions]
        self.original = {version: build_release(version) for version in self.versions}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.files = {version: dict(files) for version, files in self.original.items()}
            self.pace = 0  # bytes per second of each file's body, 0: unpaced
            self.stats: dict[str, Any] = {"requests": 0, "bytes_total": 0, "gets_by_file": {}, "bytes_by_client": {},
                                          "log": []}

    def tamper(self, version: str, name: str, rewrite_checksums: bool) -> dict:
        with self.lock:
            files = self.files.get(version)
            if files is None or name not in files or name == "sha256sum.txt":
                raise KeyError(f"{version}/{name}")
            files[name] = build_release(version, {name})[name]
            if rewrite_checksums:
                files["sha256sum.txt"] = checksums(files)
            return self._listing()[version][name]

    def get(self, version: str, name: str) -> bytes | None:
        with self.lock:
            return self.files.get(version, {}).get(name)

    def record(self, client: str, path: str, name: str | None, sent: int, status: int) -> None:
        with self.lock:
            stats = self.stats
            stats["requests"] += 1
            stats["bytes_total"] += sent
            stats["bytes_by_client"][client] = stats["bytes_by_client"].get(client, 0) + sent
            if name and status == 200 and sent:
                stats["gets_by_file"][name] = stats["gets_by_file"].get(name, 0) + 1
            stats["log"] = (stats["log"] + [{"time": round(time.time(), 3), "client": client, "path": path,
                                             "status": status, "bytes": sent}])[-200:]

    def _listing(self) -> dict:
        return {version: {name: {"sha256": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}
                          for name, data in sorted(files.items())}
                for version, files in self.files.items()}

    def listing(self) -> dict:
        with self.lock:
            return self._listing()

    def snapshot(self) -> dict:
        with self.lock:
            return json.loads(json.dumps(self.stats))


class Handler(BaseHTTPRequestHandler):
    server_version = "jetson-sim-github/1"
    releases: Releases  # set on the subclass made by serve()

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        self.sent, self.status, name = 0, 0, None
        path = self.path.split("?", 1)[0]
        try:
            if path.startswith("/_sim/"):
                return self._sim(path)
            if self.command == "POST":
                return self._send(405, b"Method Not Allowed\n", "text/plain")
            if match := DOWNLOAD.match(path):
                name = f"v{match['version']}/{match['file']}"
                if self.releases.get(match["version"], match["file"]) is None:
                    return self._send(404, b"Not Found\n", "text/plain")
                return self._send(302, b"", "text/plain", {"Location": f"/_cdn/v{match['version']}/{match['file']}"})
            if match := CDN.match(path):
                name = f"v{match['version']}/{match['file']}"
                data = self.releases.get(match["version"], match["file"])
                if data is None:
                    return self._send(404, b"Not Found\n", "text/plain")
                return self._send(200, data, "application/octet-stream", pace=self.releases.pace)
            return self._send(404, b"Not Found\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if not path.startswith("/_sim/"):
                self.releases.record(self.client_address[0], path, name if CDN.match(path) else None,
                                     self.sent, self.status)

    def _sim(self, path: str) -> None:
        releases = self.releases
        if path == "/_sim/releases" and self.command == "GET":
            return self._json(200, releases.listing())
        if path == "/_sim/stats" and self.command == "GET":
            return self._json(200, releases.snapshot())
        if self.command != "POST":
            return self._json(405, {"error": f"{self.command} {path}: use POST"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except ValueError:
            return self._json(400, {"error": "body is not JSON"})
        if path == "/_sim/reset":
            releases.reset()
            return self._json(200, {"status": "reset"})
        if path == "/_sim/pace":
            with releases.lock:
                releases.pace = max(0, int(body.get("bytes_per_second", 0)))
            return self._json(200, {"pace": releases.pace})
        if path == "/_sim/tamper":
            try:
                served = releases.tamper(str(body.get("version")), str(body.get("file")), bool(body.get("checksums")))
            except KeyError as exc:
                return self._json(404, {"error": f"no file {exc.args[0]}"})
            return self._json(200, {"version": body["version"], "file": body["file"], **served})
        return self._json(404, {"error": f"unknown hook {path}"})

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None, pace: int = 0) -> None:
        """The answer; with ``pace``, its body at that many bytes per second, in ten writes a second."""
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        piece, began = (max(1024, pace // 10) if pace else len(body) or 1), time.monotonic()
        while self.sent < len(body):
            if pace:
                time.sleep(max(0.0, began + self.sent / pace - time.monotonic()))
            self.wfile.write(body[self.sent:self.sent + piece])
            self.sent += len(body[self.sent:self.sent + piece])

    def _json(self, status: int, doc) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json")

    def log_request(self, code="-", size="-"):  # noqa: ARG002 - BaseHTTPRequestHandler's signature
        sys.stderr.write(f"{self.log_date_time_string()} {self.client_address[0]} \"{self.command} {self.path}\" "
                         f"{code}\n")


def serve(listen: str) -> None:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--listen wants ADDR:PORT, got {listen!r}")
    started = time.monotonic()
    releases = Releases()
    handler = type("BoundHandler", (Handler,), {"releases": releases})
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), handler)
    server.daemon_threads = True

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    skipped = (f"; left out {', '.join(releases.skipped)} (.tar.zst: no zstd on this machine)"
               if releases.skipped else "")
    sys.stderr.write(f"jetson-sim github releases: ollama {', '.join(releases.versions)} built in "
                     f"{time.monotonic() - started:.2f}s{skipped}; listening on {host}:{port}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="github_releases", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="ADDR:PORT, e.g. 10.231.0.1:11600")
    args = parser.parse_args(argv)
    serve(args.listen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
