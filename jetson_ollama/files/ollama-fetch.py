#!/usr/bin/env python3
"""Copy one Ollama model into an Ollama models dir, verified, so a fleet downloads each model from
upstream once (onto a LAN cache host) and copies it from there to the other boards (docs/facts.md section 5:
copying blobs + manifests works and /api/tags sees them without a restart).

    ollama-fetch.py --model qwen2.5:0.5b --models-dir /srv/cache/models \\
        (--registry https://registry.ollama.ai | --store http://10.0.0.5:11480) \\
        [--expect-manifest sha256:HEX] [--expect-blobs sha256:A,sha256:B] [--registry-host registry.ollama.ai]
    ollama-fetch.py --check --model qwen2.5:0.5b --models-dir /srv/cache/models [--expect-manifest ...]

Models are `name:tag` or `namespace/name:tag`; no tag means `latest`, no namespace `library`. The
manifest goes to MODELS_DIR/manifests/<registry-host>/<namespace>/<name>/<tag> whichever source the
bytes came from, the blobs to MODELS_DIR/blobs/sha256-<hex>. Sources (no plain CNCF registry: it
cannot serve Ollama blobs, docs/facts.md section 5):
  --registry URL  an Ollama (distribution v2) registry: URL/v2/<namespace>/<name>/manifests/<tag> and
                  URL/v2/<namespace>/<name>/blobs/sha256:<hex>, redirects followed (blobs go to a CDN)
  --store URL     a static HTTP server whose root is an Ollama models dir: URL/manifests/<registry-host>/
                  <namespace>/<name>/<tag> and URL/blobs/sha256-<hex>; or file:///DIR, such a dir on this
                  machine (an offline bundle's files put on the board), verified the same way

The manifest's sha256 over its exact bytes must be --expect-manifest, and the digests it names (config
+ layers) must be --expect-blobs as a set, when given; the manifest is stored as those exact bytes.
A blob whose file exists with the manifest's size is trusted (only verified blobs get that name: Ollama
does not re-verify one, docs/facts.md section 5). Any other is streamed to blobs/sha256-<hex>-fetch-<pid>,
hashed and counted while written, fsynced and renamed into place only when its sha256 and size match.
The manifest is written last (temporary file, fsync, rename), when every blob is in place, because
Ollama prunes unreferenced blobs at start-up; a manifest already holding these bytes is left alone.
Files are 0644, new directories 0755, both owned by the models dir's owner when run as root. One fetch
at a time per models dir (a lock in MODELS_DIR/.ollama-fetch.lock); a killed run's temporary files are
removed by the next one.

stdout: every 4 s while blobs come, one line for the whole model (pyinfra prints it at its default
verbosity: jetson_ollama/progress.py), ``qwen2.5:7b  fetching  1.2/4.7 GB  25%  21.3 MB/s  ETA 2 min 44 s``,
``qwen2.5:7b fetched: 4.7 GB in 221.0 s (4 of 5 blobs)`` when a blob came, then as the last line one JSON object:
  {"model": "qwen2.5:0.5b", "manifest": "sha256:...", "fetched": ["sha256:..."], "present": ["sha256:..."],
   "bytes_fetched": N, "changed": true}     (changed: a blob fetched or the manifest written)
--check fetches and writes nothing: it prints one line saying whether the models dir holds the model
complete (its manifest, equal to --expect-manifest and naming --expect-blobs when given, and every
blob with its size) and exits 0 if so, else 1.

Installed to /usr/local/lib/jetson-ollama/ollama-fetch.py on the cache host and the boards. Stdlib
only (the board has python3 >= 3.8 and nothing else). Errors are one line on stderr. Exit codes:
  0   the model is in place (or, with --check, complete)
  1   a network or HTTP error (the URL and e.g. "404 Not Found", a refused connection, no data for
      30 s, a cut transfer), or the models dir cannot be written; with --check: not complete
  2   the manifest is not what is expected (another digest or other blobs than --expect-*, or not a
      distribution v2 manifest); nothing written
  3   a blob failed verification (other sha256 or size); it is not installed, nor is the manifest
  64  bad usage
  130, 143  interrupted (SIGINT, SIGTERM); no temporary file stays
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

READ_TIMEOUT = 30  # seconds without a byte (or a connection) before a transfer fails
PROGRESS_EVERY = 4.0  # seconds between two progress lines: the longest silence while a fetch runs
RATE_WINDOW = 15.0  # seconds the rate (and so the ETA) is averaged over
CHUNK = 1 << 20
MAX_MANIFEST = 4 << 20  # a manifest is a few hundred bytes: more is no manifest
DEFAULT_HOST = "registry.ollama.ai"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
USER_AGENT = "jetson-ollama-fetch/1"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # no "/", no "..": every part is one directory
HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]+)?")


class Failed(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    def error(self, message):  # exit 2 means an unexpected manifest here, so usage errors get 64 (EX_USAGE)
        self.print_usage(sys.stderr)
        self.exit(64, f"{self.prog}: error: {message}\n")


class Redirects(urllib.request.HTTPRedirectHandler):
    """Follows 308 too, which urllib learnt only in Python 3.11."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return super().redirect_request(req, fp, 307 if code == 308 else code, msg, headers, newurl)

    http_error_308 = urllib.request.HTTPRedirectHandler.http_error_302


OPENER = urllib.request.build_opener(Redirects)


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
# One line every PROGRESS_EVERY seconds for the whole model. The same code as in ollama-pull.py
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


def parse_model(text: str) -> tuple[str, str, str]:
    """``qwen2.5:0.5b`` -> (``library``, ``qwen2.5``, ``0.5b``); ValueError when it is no model name."""
    rest, tag = text, "latest"
    if text.rfind(":") > text.rfind("/"):
        rest, _, tag = text.rpartition(":")
    parts = rest.split("/")
    if len(parts) == 1:
        parts = ["library", *parts]
    if len(parts) != 2 or not all(PART.fullmatch(part) for part in (*parts, tag)):
        raise ValueError(f"--model must be name:tag or namespace/name:tag, not {text!r}")
    return parts[0], parts[1], tag


def display(namespace: str, name: str, tag: str) -> str:
    return f"{name}:{tag}" if namespace == "library" else f"{namespace}/{name}:{tag}"


def parse_manifest(raw: bytes) -> list[tuple[str, int]]:
    """(digest, size) of the config and then each layer, each digest once; ValueError saying what is wrong."""
    try:
        manifest = json.loads(raw.decode())
    except ValueError as err:
        raise ValueError(f"not JSON ({err})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list):
        raise ValueError("no config and layers")
    blobs: dict[str, int] = {}
    for entry in [manifest.get("config"), *manifest["layers"]]:
        if not isinstance(entry, dict):
            raise ValueError("a config or layer that is not an object")
        digest, size = entry.get("digest"), entry.get("size")
        if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
            raise ValueError(f"digest {digest!r} is not sha256:<64 hex>")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or blobs.get(digest, size) != size:
            raise ValueError(f"blob {digest} has size {size!r}")
        blobs[digest] = size
    return list(blobs.items())


def reason_text(reason) -> str:
    if isinstance(reason, socket.timeout):
        return f"no data for {READ_TIMEOUT} s"
    return str(reason) or type(reason).__name__


def open_url(url: str, model: str, headers: dict | None = None):
    """The response to GET ``url``, redirects followed; Failed (1) on a network or HTTP error."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        return OPENER.open(request, timeout=READ_TIMEOUT)
    except urllib.error.HTTPError as err:
        err.close()
        raise Failed(f"fetch {model} failed: GET {url}: {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise Failed(f"fetch {model} failed: GET {url}: {reason_text(err.reason)}") from None
    except (OSError, http.client.HTTPException) as err:
        raise Failed(f"fetch {model} failed: GET {url}: {reason_text(err)}") from None


def read_chunk(response, url: str, model: str, limit: int = CHUNK) -> bytes:
    """Up to ``limit`` bytes, what has come (``read1``: a slow link still shows progress); b"" at the end."""
    try:
        return getattr(response, "read1", response.read)(limit)
    except (OSError, http.client.HTTPException) as err:  # a stall, a reset, a cut chunked stream
        raise Failed(f"fetch {model} failed: GET {url}: {reason_text(err)}") from None


def check_complete(response, url: str, model: str, got: int) -> None:
    """A body shorter than its Content-Length is a cut transfer, not a short blob."""
    announced = response.headers.get("Content-Length")
    if announced and announced.isdigit() and int(announced) > got:
        raise Failed(f"fetch {model} failed: GET {url}: the connection closed after {got} of {announced} bytes")


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """The local models dir: where a model's files go, and new files and directories made 0644 / 0755,
    owned by the models dir's owner (Ollama must be able to replace and delete them)."""

    def __init__(self, root: str, registry_host: str, namespace: str, name: str, tag: str):
        self.root = os.path.abspath(root)  # a relative one too: make_dirs climbs to an existing dir
        self.blobs = os.path.join(self.root, "blobs")
        self.manifest = os.path.join(self.root, "manifests", registry_host, namespace, name, tag)
        self.owner: tuple[int, int] | None = None

    def blob(self, digest: str) -> str:
        return os.path.join(self.blobs, digest.replace(":", "-"))

    def adopt(self, path: str, mode: int) -> None:
        os.chmod(path, mode)
        if self.owner and os.geteuid() == 0:
            os.chown(path, *self.owner)

    def make_dirs(self, path: str) -> None:
        missing = []
        while not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        for directory in reversed(missing):
            os.mkdir(directory)
            self.adopt(directory, 0o755)

    def prepare(self) -> int:
        """Creates blobs/ and takes the store's lock; returns the lock's descriptor (held until exit)."""
        self.make_dirs(self.root)  # a new models dir is ours: nobody else's to adopt
        st = os.stat(self.root)
        self.owner = st.st_uid, st.st_gid
        self.make_dirs(self.blobs)
        path = os.path.join(self.root, ".ollama-fetch.lock")
        lock = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.adopt(path, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another ollama-fetch.py in {self.root}", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        return lock

    def has_blob(self, digest: str, size: int) -> bool:
        try:
            return os.path.getsize(self.blob(digest)) == size and os.path.isfile(self.blob(digest))
        except OSError:
            return False

    def remove_stale(self, directory: str, prefix: str) -> None:
        """Temporary files of a killed run (under the lock, no live run has any)."""
        for entry in os.listdir(directory):
            if entry.startswith(prefix):
                os.unlink(os.path.join(directory, entry))

    def write_atomically(self, final: str, temp: str, chunks) -> None:
        """Writes ``chunks`` (an iterable of bytes; it may raise) to ``temp``, fsyncs it and renames it
        to ``final``; the temporary file never outlives a failure."""
        renamed = False
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            with os.fdopen(fd, "wb") as f:
                self.adopt(temp, 0o644)
                for data in chunks:
                    f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, final)
            renamed = True
        finally:
            if not renamed:
                try:
                    os.unlink(temp)
                except FileNotFoundError:
                    pass


def fetch_manifest(url: str, model: str) -> bytes:
    response = open_url(url, model, {"Accept": MANIFEST_V2})
    try:
        raw = b""
        while len(raw) <= MAX_MANIFEST:
            data = read_chunk(response, url, model, MAX_MANIFEST + 1 - len(raw))
            if not data:
                break
            raw += data
        check_complete(response, url, model, len(raw))
    finally:
        response.close()
    if len(raw) > MAX_MANIFEST:
        raise Failed(f"manifest of {model} from {url} is not a distribution v2 manifest: over {human(MAX_MANIFEST)}", 2)
    return raw


def fetch_blob(store: Store, url: str, model: str, digest: str, size: int, progress: Progress) -> None:
    """Streams one blob into place, verified; Failed (3) when its bytes are not the manifest's."""
    final = store.blob(digest)
    prefix = os.path.basename(final) + "-fetch-"
    store.remove_stale(store.blobs, prefix)
    response = open_url(url, model)

    def chunks():
        sha, got = hashlib.sha256(), 0
        while True:
            data = read_chunk(response, url, model)
            if not data:
                break
            got += len(data)
            if got > size:
                raise Failed(f"blob {digest} of {model} from {url}: got more than {size} bytes;"
                             f" expected {size} bytes", 3)
            sha.update(data)
            yield data
            progress.update(digest, size, got)
        check_complete(response, url, model, got)
        if got != size or "sha256:" + sha.hexdigest() != digest:
            raise Failed(f"blob {digest} of {model} from {url}: got sha256:{sha.hexdigest()}, {got} bytes;"
                         f" expected {size} bytes", 3)

    try:
        store.write_atomically(final, f"{store.blobs}/{prefix}{os.getpid()}", chunks())
    finally:
        response.close()


def write_manifest(store: Store, raw: bytes) -> bool:
    """Puts the manifest in place unless it already holds ``raw``; True when it was written."""
    try:
        with open(store.manifest, "rb") as f:
            if f.read() == raw:
                return False
    except FileNotFoundError:
        pass
    directory, tag = os.path.split(store.manifest)
    store.make_dirs(directory)
    store.remove_stale(directory, f".{tag}.fetch-")
    store.write_atomically(store.manifest, os.path.join(directory, f".{tag}.fetch-{os.getpid()}"), [raw])
    fsync_dir(directory)
    return True


def fetch(args, namespace: str, name: str, tag: str, expected_blobs: list[str]) -> dict:
    model = display(namespace, name, tag)
    if args.registry:
        base = f"{args.registry.rstrip('/')}/v2/{namespace}/{name}"
        manifest_url, blob_url = f"{base}/manifests/{tag}", f"{base}/blobs/{{digest}}"
    else:
        base = args.store.rstrip("/")
        manifest_url = f"{base}/manifests/{args.registry_host}/{namespace}/{name}/{tag}"
        blob_url = f"{base}/blobs/{{file}}"

    raw = fetch_manifest(manifest_url, model)
    manifest_digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    if args.expect_manifest and manifest_digest != args.expect_manifest:
        raise Failed(f"manifest of {model} from {manifest_url}: got {manifest_digest},"
                     f" expected {args.expect_manifest}", 2)
    try:
        blobs = parse_manifest(raw)
    except ValueError as err:
        raise Failed(f"manifest of {model} from {manifest_url} is not a distribution v2 manifest: {err}", 2) from None
    if expected_blobs and {digest for digest, _ in blobs} != set(expected_blobs):
        got = ",".join(sorted(digest for digest, _ in blobs))
        raise Failed(f"manifest of {model} from {manifest_url} names other blobs: got {got};"
                     f" expected {','.join(sorted(set(expected_blobs)))}", 2)

    store = Store(args.models_dir, args.registry_host, namespace, name, tag)
    try:
        store.prepare()
        fetched, present, bytes_fetched = [], [], 0
        missing = [(digest, size) for digest, size in blobs if not store.has_blob(digest, size)]
        progress = Progress(model, "fetching")
        for digest, size in missing:
            progress.update(digest, size, 0)  # the total is known from the start
        ticker = Ticker(progress)
        ticker.start()
        try:
            for digest, size in blobs:
                if (digest, size) not in missing:
                    present.append(digest)
                    continue
                url = blob_url.format(digest=digest, file=digest.replace(":", "-"))
                fetch_blob(store, url, model, digest, size, progress)
                fetched.append(digest)
                bytes_fetched += size
        finally:
            ticker.stop()
        if fetched:
            fsync_dir(store.blobs)  # the blobs are durable before a manifest names them
        written = write_manifest(store, raw)
    except OSError as err:
        raise Failed(f"fetch {model} failed: cannot write {args.models_dir}: {err}") from None
    if fetched:
        print(f"{model} fetched: {human(bytes_fetched)} in {time.monotonic() - progress.started:.1f} s"
              f" ({len(fetched)} of {len(blobs)} blobs)", flush=True)
    return {"model": model, "manifest": manifest_digest, "fetched": fetched, "present": present,
            "bytes_fetched": bytes_fetched, "changed": bool(fetched) or written}


def check(args, namespace: str, name: str, tag: str, expected_blobs: list[str]) -> tuple[bool, str]:
    """Whether the models dir holds the model complete, and one line saying so or why not."""
    model = display(namespace, name, tag)
    store = Store(args.models_dir, args.registry_host, namespace, name, tag)
    try:
        with open(store.manifest, "rb") as f:
            raw = f.read(MAX_MANIFEST + 1)
    except OSError as err:
        return False, f"{model} is not in {args.models_dir}: no manifest {store.manifest} ({err.strerror})"
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    if args.expect_manifest and digest != args.expect_manifest:
        return False, f"{model} in {args.models_dir} has manifest {digest}, expected {args.expect_manifest}"
    try:
        blobs = parse_manifest(raw)
    except ValueError as err:
        return False, (f"{model} in {args.models_dir}: manifest {store.manifest} is not a distribution v2"
                       f" manifest: {err}")
    if expected_blobs and {blob for blob, _ in blobs} != set(expected_blobs):
        return False, f"{model} in {args.models_dir}: its manifest names other blobs than --expect-blobs"
    for blob, size in blobs:
        if not store.has_blob(blob, size):
            have = os.path.getsize(store.blob(blob)) if os.path.isfile(store.blob(blob)) else None
            state = "missing" if have is None else f"{have} bytes, expected {size}"
            return False, f"{model} in {args.models_dir} is incomplete: blob {blob} {state}"
    total = sum(size for _, size in blobs)
    return True, f"{model} complete in {args.models_dir}: manifest {digest}, {len(blobs)} blobs, {human(total)}"


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description="Copy one Ollama model into a models dir, verified (or --check that it is there).")
    parser.add_argument("--model", required=True, help="the model, e.g. qwen2.5:0.5b or namespace/name:tag")
    parser.add_argument("--models-dir", required=True, help="the Ollama models dir to fill ($OLLAMA_MODELS)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--registry", metavar="URL", help="an Ollama registry, e.g. https://registry.ollama.ai")
    source.add_argument("--store", metavar="URL", help="a static HTTP server whose root is an Ollama models dir, "
                                                       "or file:///DIR for such a dir on this machine")
    parser.add_argument("--expect-manifest", metavar="DIGEST", help="sha256:... of the manifest's bytes")
    parser.add_argument("--expect-blobs", default="", metavar="DIGESTS",
                        help="comma-separated sha256:... digests the manifest must name (config + layers)")
    parser.add_argument("--registry-host", default=DEFAULT_HOST,
                        help=f"the host part of the manifest's path in the models dir, default {DEFAULT_HOST}")
    parser.add_argument("--check", action="store_true",
                        help="fetch and write nothing; exit 0 when the models dir holds the model complete, else 1")
    args = parser.parse_args(argv)
    try:
        namespace, name, tag = parse_model(args.model)
    except ValueError as err:
        parser.error(str(err))
    expected_blobs = [digest for digest in args.expect_blobs.split(",") if digest]
    for digest in expected_blobs + ([args.expect_manifest] if args.expect_manifest is not None else []):
        if not DIGEST.fullmatch(digest):
            parser.error(f"a digest is sha256:<64 lowercase hex>, not {digest!r}")
    if not HOST.fullmatch(args.registry_host):
        parser.error(f"--registry-host must be a host name like {DEFAULT_HOST}, not {args.registry_host!r}")
    url = args.registry or args.store
    if not url and not args.check:
        parser.error("one of --registry or --store is required (or --check)")
    parts = urllib.parse.urlsplit(url or "http://unused")
    local_store = args.store and parts.scheme == "file" and not parts.netloc and parts.path.startswith("/")
    if not local_store and (parts.scheme not in ("http", "https") or not parts.hostname):
        parser.error(f"--registry and --store take an http(s) URL like http://10.0.0.5:11480 (--store also"
                     f" file:///path), not {url!r}")

    if args.check:
        complete, line = check(args, namespace, name, tag, expected_blobs)
        print(line, flush=True)
        return 0 if complete else 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds, so no temporary file stays
    try:
        result = fetch(args, namespace, name, tag, expected_blobs)
    except Failed as err:
        print(err, file=sys.stderr, flush=True)
        return err.code
    except KeyboardInterrupt:
        return 130
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
