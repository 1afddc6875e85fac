#!/usr/bin/env python3
"""Pull (or delete) one Ollama model through the REST API on the board, checking every line of the
pull's NDJSON stream: Ollama reports errors inside an HTTP 200 stream (docs/facts.md section 5).

    ollama-pull.py --url http://127.0.0.1:11434 --model qwen2.5:7b \\
        [--expect-blobs sha256:...,sha256:... --models-dir /opt/ollama/models]
    ollama-pull.py --url http://127.0.0.1:11434 --delete qwen2.5:7b

stdout: every 4 s while a pull runs, one line for the whole model (pyinfra prints it at its default
verbosity: jetson_ollama/progress.py), ``qwen2.5:7b  pulling  1.2/4.7 GB  25%  21.3 MB/s  ETA 2 min 44 s``,
then ``qwen2.5:7b pulled: 4.7 GB in 221.0 s (5 blobs)``; errors are one line on stderr.

Installed by jetson_ollama.operations.models to /usr/local/lib/jetson-ollama/ollama-pull.py.
Stdlib only (the board has python3 and nothing else). Exit codes:
  0   pulled (and, with --expect-blobs, the store's manifest names exactly those blobs);
      deleted, or already absent
  1   the pull or delete failed: an error in the stream or in the answer, no connection, a stream
      that ended before "success", or no data for 300 s; run again: Ollama keeps the partial blobs
  2   pulled, but the store's manifest names other blobs than --expect-blobs (upstream retagged)
  64  bad usage
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

CONNECT_TIMEOUT = 5  # seconds to connect; a pull itself may take an hour
READ_TIMEOUT = 300  # seconds without a byte from Ollama before giving up
PROGRESS_EVERY = 4.0  # seconds between two progress lines: the longest silence while a pull runs
RATE_WINDOW = 15.0  # seconds the rate (and so the ETA) is averaged over
DEFAULT_HOST = "registry.ollama.ai"


class Failed(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    def error(self, message):  # exit 2 means a retag here, so usage errors get 64 (EX_USAGE)
        self.print_usage(sys.stderr)
        self.exit(64, f"{self.prog}: error: {message}\n")


def human(n: float, unit_of: float | None = None) -> str:
    """4.7 GB; with ``unit_of``, ``n`` in the unit that suits ``unit_of`` without the unit (``2.1``)."""
    reference = n if unit_of is None else unit_of
    unit, value = "B", f"{int(n)}"
    for name, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if reference >= size:
            unit, value = name, f"{n / size:.1f}"
            break
    return value if unit_of is not None else f"{value} {unit}"


# ---------------------------------------------------------------- progress
# One line every PROGRESS_EVERY seconds for the whole model. The same code as in ollama-fetch.py
# (tests/unit/test_progress.py compares them): each script is put on a board alone.


def duration(seconds: float) -> str:
    """``7 s``, ``2 min 05 s``, ``1 h 02 min``."""
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class Progress:
    """How far one model's transfer is, over all its blobs, and its line:
    ``qwen2.5:7b  pulling  1.2/4.7 GB  25%  21.3 MB/s  ETA 2 min 44 s`` (``no data for 12 s`` instead of
    the rate when nothing came for two intervals). Thread-safe: the transfer updates, a Ticker prints."""

    def __init__(self, model: str, status: str, every: float | None = None, clock=time.monotonic):
        self.model, self.status, self.clock = model, status, clock
        self.every = PROGRESS_EVERY if every is None else every
        self.started = self.changed = clock()
        self.printed: float | None = None
        self.totals: dict = {}
        self.completed: dict = {}
        self.samples: list = []  # (time, bytes done), the last RATE_WINDOW seconds
        self.lock = threading.Lock()

    def update(self, digest: str, total: int, completed: int) -> None:
        with self.lock:
            now = self.clock()
            before = sum(self.completed.values())
            self.totals[digest], self.completed[digest] = total, min(completed, total)
            done = sum(self.completed.values())
            if done != before:
                self.changed = now
            self.samples = [s for s in self.samples if now - s[0] <= RATE_WINDOW] + [(now, done)]

    def set_status(self, status: str) -> None:
        with self.lock:
            self.status, self.changed = status, self.clock()

    def due(self) -> bool:
        return self.clock() - (self.started if self.printed is None else self.printed) >= self.every

    def line(self) -> str:
        with self.lock:
            now = self.clock()
            self.printed = now
            total, done = sum(self.totals.values()), sum(self.completed.values())
            parts = [self.model, self.status]
            if total:
                parts += [f"{human(done, total)}/{human(total)}", f"{min(100, 100 * done // total)}%"]
            if done < total:
                first = next((s for s in self.samples if now - s[0] <= RATE_WINDOW), None)
                span = now - first[0] if first else 0
                rate = (done - first[1]) / span if first and span >= min(1.0, self.every) else 0
                if now - self.changed >= 2 * self.every:
                    parts.append(f"no data for {duration(now - self.changed)}")
                elif rate > 0:
                    parts += [f"{human(rate)}/s", f"ETA {duration((total - done) / rate)}"]
            return "  ".join(parts)


class Ticker(threading.Thread):
    """Prints the Progress line whenever it is due, until stopped: the transfer never waits on a print,
    and a stalled transfer still says so."""

    def __init__(self, progress: Progress):
        super().__init__(daemon=True)
        self.progress, self.stopped = progress, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(min(1.0, self.progress.every)):
            if self.progress.due():
                print(self.progress.line(), flush=True)

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join()


def request(url: str, method: str, path: str, body: dict):
    """Sends one request and returns the response; raises Failed when Ollama cannot be reached."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Failed(f"--url must be an http(s) URL like http://127.0.0.1:11434, not {url!r}", 64)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=CONNECT_TIMEOUT)
    try:
        connection.connect()
        connection.sock.settimeout(READ_TIMEOUT)
        data = json.dumps(body).encode()
        connection.request(method, parts.path.rstrip("/") + path, body=data,
                           headers={"Content-Type": "application/json", "Accept": "application/x-ndjson"})
        return connection.getresponse()
    except (OSError, http.client.HTTPException) as err:
        connection.close()
        raise Failed(f"cannot reach Ollama at {url}: {err or type(err).__name__}") from None


def error_text(response) -> str:
    """The ``error`` of a JSON answer, else its first line, else the HTTP status."""
    try:
        raw = response.read(4096).decode(errors="replace").strip()
    except (OSError, http.client.HTTPException):
        raw = ""
    try:
        message = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        message = None
    if message:
        return str(message)
    return raw.splitlines()[0] if raw else f"HTTP {response.status} {response.reason}"


def pull(url: str, model: str) -> None:
    """Pulls ``model``, printing its Progress line every PROGRESS_EVERY seconds and one summary line;
    raises Failed with the stream's error."""
    progress = Progress(model, "pulling manifest")
    ticker = Ticker(progress)
    # "name" too: Ollama before the rename to "model" reads only it
    response = request(url, "POST", "/api/pull", {"model": model, "name": model, "stream": True})
    if response.status != 200:
        raise Failed(f"pull {model} failed: HTTP {response.status}: {error_text(response)}")
    ticker.start()
    try:
        while True:
            try:
                line = response.readline()
            except socket.timeout:
                raise Failed(f"pull {model} failed: no data from Ollama for {READ_TIMEOUT} s;"
                             " run again to resume (Ollama keeps the partial blobs)") from None
            if not line:
                break
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                raise Failed(f"pull {model} failed: Ollama sent a line that is not JSON:"
                             f" {line[:200].decode(errors='replace').strip()}") from None
            if not isinstance(event, dict):
                continue
            if event.get("error"):  # inside the HTTP 200 stream (docs/facts.md section 5)
                raise Failed(f"pull {model} failed: {event['error']}")
            status = event.get("status")
            if status == "success":
                ticker.stop()
                blobs, size = len(progress.totals), sum(progress.totals.values())
                print(f"{model} pulled: {human(size)} in {time.monotonic() - progress.started:.1f} s ({blobs} blobs)",
                      flush=True)
                return
            # Ollama's ProgressResponse: status, digest, total, completed (ollama/ollama api/types.go @v0.6.8,
            # the zero ones omitted); "pulling <12 hex>" every 60 ms while a blob downloads (server/download.go)
            digest = event.get("digest")
            if isinstance(digest, str) and isinstance(event.get("total"), int):
                completed = event.get("completed") or 0
                progress.update(digest, event["total"], completed if isinstance(completed, int) else 0)
                if progress.status != "pulling":
                    progress.set_status("pulling")
            elif isinstance(status, str) and status:
                progress.set_status(status)  # "verifying sha256 digest", "writing manifest", ...
    except (OSError, http.client.HTTPException) as err:  # a reset or a cut chunked stream
        raise Failed(f"pull {model} failed: the connection broke ({err or type(err).__name__});"
                     " run again to resume (Ollama keeps the partial blobs)") from None
    finally:
        ticker.stop()
        response.close()
    raise Failed(f"pull {model} failed: the stream ended before success;"
                 " run again to resume (Ollama keeps the partial blobs)")


def manifest_path(models_dir: str, model: str) -> str:
    """Where Ollama's store keeps the manifest of ``model``: manifests/<host>/<namespace>/<model>/<tag>."""
    rest, tag = model, "latest"
    if model.rfind(":") > model.rfind("/"):
        rest, _, tag = model.rpartition(":")
    parts = rest.split("/")
    parts = {1: [DEFAULT_HOST, "library", *parts], 2: [DEFAULT_HOST, *parts]}.get(len(parts), parts)
    return os.path.join(models_dir, "manifests", *parts, tag)


def check_blobs(models_dir: str, model: str, expected: list[str]) -> None:
    path = manifest_path(models_dir, model)
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read().decode())
        pulled = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise Failed(f"pulled {model}, but cannot read its manifest {path} to compare with models.lock:"
                     f" {err}") from None
    if set(pulled) != set(expected):
        missing = sorted(set(expected) - set(pulled))
        unexpected = sorted(set(pulled) - set(expected))
        short = lambda digests: ", ".join(d[:19] for d in digests) or "none"  # noqa: E731
        raise Failed(f"upstream retagged {model}: the pulled manifest differs from models.lock"
                     f" (missing {short(missing)}; new {short(unexpected)})", 2)


def delete(url: str, model: str) -> None:
    response = request(url, "DELETE", "/api/delete", {"model": model, "name": model})
    try:
        if response.status == 404:
            print(f"{model} already absent", flush=True)
        elif response.status == 200:
            print(f"{model} deleted", flush=True)
        else:
            raise Failed(f"delete {model} failed: HTTP {response.status}: {error_text(response)}")
    finally:
        response.close()


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description="Pull or delete an Ollama model through its REST API.")
    parser.add_argument("--url", default="http://127.0.0.1:11434", help="base URL of the Ollama API")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--model", help="the model to pull, e.g. qwen2.5:7b")
    action.add_argument("--delete", metavar="MODEL", help="the model to delete")
    parser.add_argument("--expect-blobs", default="",
                        help="comma-separated sha256:... digests the pulled manifest must name (config + layers)")
    parser.add_argument("--models-dir", help="Ollama's store, to read the pulled manifest (needed with --expect-blobs)")
    args = parser.parse_args(argv)
    expected = [digest for digest in args.expect_blobs.split(",") if digest]
    if expected and not args.model:
        parser.error("--expect-blobs goes with --model")
    if expected and not args.models_dir:
        parser.error("--expect-blobs needs --models-dir")

    try:
        if args.delete:
            delete(args.url, args.delete)
            return 0
        pull(args.url, args.model)
        if expected:
            check_blobs(args.models_dir, args.model, expected)
    except Failed as err:
        print(err, file=sys.stderr, flush=True)
        return err.code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
