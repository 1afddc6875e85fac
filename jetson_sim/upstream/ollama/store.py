"""Model names and the on-disk model store (docs/facts.md section 5): `Name` as Ollama parses and
checks it, `Store` (manifests, blobs, pruning of unreferenced blobs), manifests as Go writes them, and
blob hashing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path


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
