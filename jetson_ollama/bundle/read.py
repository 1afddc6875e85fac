"""Reading an offline bundle (the deploy side): its layout, `Bundle` (index.json checked against the
tar, members handed out as file objects), `open_bundle` (read once per version of the file) and
`board_problem` (why a board with `jetson_bundle` cannot converge from it).

What plan.py and the stages import: it needs nothing of the controller side (build.py) and imports
neither runner.py nor plan.py, so the board plan can import it with no import circle.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from functools import lru_cache
from pathlib import Path
from typing import Any

FORMAT, VERSION = "jetson-ollama-bundle", 1
INDEX = "index.json"
LOCK_MEMBER = "models.lock"
MODELS_DIR = "models"
REGISTRY_HOST = "registry.ollama.ai"  # the manifests' directory in an Ollama store (docs/facts.md section 5)
NATIVE_SUMS = "sha256sum.txt"


class BundleError(ValueError):
    """A bundle that cannot be made or used (one line)."""


def model_manifest_member(tag: str) -> str:
    name, _, version = tag.partition(":")
    return f"{MODELS_DIR}/manifests/{REGISTRY_HOST}/library/{name}/{version}"


def blob_member(digest: str) -> str:
    return f"{MODELS_DIR}/blobs/{digest.replace(':', '-')}"


class MemberFile(io.RawIOBase):
    """One member of the bundle as a read-only, seekable file of its own (its own descriptor, so hosts
    that upload the same member at once do not share a position): what `files.put` takes as `src`."""

    def __init__(self, path: Path, offset: int, size: int, name: str):
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._offset, self._size, self._pos = offset, size, 0
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        count = max(0, min(len(buffer), self._size - self._pos))
        if not count:
            return 0
        self._file.seek(self._offset + self._pos)
        data = self._file.read(count)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


class Bundle:
    """An offline bundle on the controller: its index, and its members as file objects."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            with tarfile.open(self.path) as tar:
                names = [member.name for member in tar.getmembers() if member.isfile()]
                members = {member.name: member for member in tar.getmembers() if member.isfile()}
                if not names or names[0] != INDEX:
                    raise BundleError(f"{self.path} is not a jetson-ollama bundle: {INDEX} is not its first file")
                index_file = tar.extractfile(members[INDEX])
                assert index_file is not None  # a regular file (isfile above) always has one
                index = json.loads(index_file.read())
        except (OSError, tarfile.TarError, ValueError) as exc:
            if isinstance(exc, BundleError):
                raise
            raise BundleError(f"jetson_bundle {self.path} cannot be read: {exc}") from None
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise BundleError(f"{self.path} is not a jetson-ollama bundle")
        if index.get("version") != VERSION:
            raise BundleError(f"{self.path} is a version {index.get('version')} bundle; "
                              f"this jetson-ollama reads {VERSION}")
        table = index.get("members") or {}
        listed = set(members) - {INDEX}
        if listed != set(table):
            odd = sorted(listed ^ set(table))
            raise BundleError(f"{self.path}: its files and its {INDEX} differ ({', '.join(odd[:3])})")
        for name, member in members.items():
            if name != INDEX and member.size != table[name]["size"]:
                raise BundleError(f"{self.path}: {name} has {member.size} bytes, {INDEX} says {table[name]['size']}")
        self.index = index
        self._offsets = {name: (member.offset_data, member.size) for name, member in members.items()}

    @property
    def images(self) -> dict[str, dict]:
        return self.index["images"]

    @property
    def models(self) -> dict[str, dict]:
        return self.index["models"]

    @property
    def native(self) -> dict[str, dict]:
        return self.index["native"]

    def sha256(self, member: str) -> str:
        """The member's sha256 hex, as index.json records it."""
        return self.index["members"][member]["sha256"]

    def open(self, member: str) -> MemberFile:
        offset, size = self._offsets[member]
        return MemberFile(self.path, offset, size, member)

    def read(self, member: str) -> bytes:
        """A small member's bytes, checked against index.json."""
        with self.open(member) as stream:
            data = stream.read()
        if hashlib.sha256(data).hexdigest() != self.sha256(member):
            raise BundleError(f"{self.path}: {member} does not match its sha256 in {INDEX}")
        return data

    def registry_manifest(self, tag: str) -> dict[str, Any]:
        """The model's manifest as the `RegistryManifest` fact answers: `sha256`, `manifest`, `error` ""; or
        only `error` when the bundle does not carry the model."""
        entry = self.models.get(tag)
        if entry is None:
            carried = ", ".join(sorted(self.models)) or "no models"
            return {"error": f"{tag} is not in the bundle {self.path} ({carried})"}
        raw = self.read(entry["path"])
        return {"sha256": hashlib.sha256(raw).hexdigest(), "manifest": json.loads(raw), "error": ""}

    def model_files(self, tag: str) -> dict[str, MemberFile]:
        """The model's files by their path in an Ollama store (manifest and blobs), as file objects."""
        entry = self.models[tag]
        files = {entry["path"].removeprefix(MODELS_DIR + "/"): self.open(entry["path"])}
        for blob in entry["blobs"]:
            member = blob_member(blob["digest"])
            files[member.removeprefix(MODELS_DIR + "/")] = self.open(member)
        return files

    def image_problem(self, ref: str, l4t: str) -> str | None:
        """None when the bundle carries `ref`, else one line for the board's refusal."""
        if ref in self.images:
            return None
        carried = ", ".join(f"{r} (L4T {', '.join(i['l4t'])})" for r, i in sorted(self.images.items())) or "no image"
        return (f"the bundle {self.path} has no image {ref}, which this board (L4T {l4t}) needs; it has {carried}: "
                f"bundle again with --l4t {l4t}")

    def native_file(self, version: str, name: str) -> tuple[MemberFile, str]:
        """A native release archive (or sha256sum.txt) of `version` and its sha256 hex: for the native
        runtime's stage. BundleError when the bundle does not carry it."""
        member = f"native/v{version}/{name}"
        if member not in self._offsets:
            raise BundleError(f"the bundle {self.path} has no native Ollama {version} {name}")
        return self.open(member), self.sha256(member)


@lru_cache(maxsize=8)
def _open_cached(path: str, mtime_ns: int, size: int) -> Bundle:  # noqa: ARG001 - the cache key
    return Bundle(path)


def open_bundle(path: str | os.PathLike) -> Bundle:
    """The bundle at `path` (relative to the current directory, where pyinfra runs), read once per
    version of the file. Raises BundleError (one line)."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise BundleError(f"jetson_bundle {path}: {exc.strerror}") from None
    return _open_cached(os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


def board_problem(cfg: Any, image_strategy: str, image_ref: str | None, l4t: str) -> str | None:
    """Why a board with `jetson_bundle` cannot converge from it (one line), or None: the bundle does not
    read, does not carry the board's image, or is combined with the fleet cache."""
    if cfg.jetson_cache_host is not None:
        return "jetson_bundle and jetson_cache_host do not combine: a bundle installs every board from the controller"
    try:
        bundle = open_bundle(cfg.jetson_bundle)
    except BundleError as exc:
        return str(exc)
    if image_strategy == "reuse":
        return None
    if image_strategy == "build":
        return (f"this board's settings build {image_ref}, which needs the internet; with jetson_bundle use "
                "jetson_image_strategy prebuilt (a bundled image) or reuse")
    assert image_ref is not None  # only reuse plans no ref (images.resolve_image)
    return bundle.image_problem(image_ref, l4t)
