"""Pulling from the registry (docs/facts.md section 5): `Puller` streams the status lines of
/api/pull, downloads blobs with resumable partial files, verifies every digest, writes the manifest
last and prunes what the old manifest left unused; its error texts are Ollama's.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .config import Config
from .store import DEFAULT_HOST, MANIFEST_V2, Name, Store, file_sha256, go_manifest_bytes, layer_digests, try_name


CHUNK = 64 * 1024
TICK = 0.06  # seconds: Ollama's progress ticker (server/download.go @v0.6.8)


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
        # Ollama streams the blob's progress on a 60 ms ticker while it downloads (ollama/ollama
        # server/download.go blobDownload.Wait @v0.6.8): here on every 5 % and at least every TICK while
        # bytes come, so a slow (paced) download streams as often as a real one
        step, last, shown = max(total // 20, CHUNK), have, time.monotonic()
        try:
            with self.request(url, headers) as resp:
                if have and resp.status != 206:  # the server ignored the Range: start over
                    have = 0
                read = getattr(resp, "read1", resp.read)  # what has come, not a whole CHUNK
                with open(partial, "ab" if have else "wb") as f:
                    while have < total:
                        data = read(min(CHUNK, total - have))
                        if not data:
                            break
                        f.write(data)
                        have += len(data)
                        if have - last >= step or have == total or time.monotonic() - shown >= TICK:
                            last, shown = have, time.monotonic()
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
