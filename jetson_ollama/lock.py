"""models.lock: the registry manifest each model tag had on its first pull, committed by the user.

A tag such as `qwen2.5:7b` can be retagged upstream; the lock pins the manifest's sha256 and the
blobs it names (config + layers, docs/facts.md section 5), so a later pull of other bytes is refused until
the user accepts it (`ollama_update_lock: true`), and a board's installed copy can be compared with it.
The manifest digest is the sha256 of the manifest bytes, the `digest` `/api/tags` shows (docs/facts.md section 5).

    # models.lock: written by jetson-ollama on a model's first pull; commit it. Later pulls must match.
    qwen2.5:0.5b:
      manifest: sha256:<64 hex>
      blobs:
        - {digest: sha256:<64 hex>, size: 123, media_type: application/vnd.ollama.image.model}
    pins:
      ollama-native:
        ollama-linux-arm64.tgz: sha256:<64 hex>

The reserved key `pins` (no model tag lacks a colon) holds what else a site pins, by section: the
native Ollama release archives' sha256 (`ollama-native`), the image digests (`images`), the
jetson-containers commit (`jetson-containers`) and the Ollama version (`ollama`), each written on
first use like a model's entry.

Writes merge into the file under an exclusive lock and replace it atomically (temporary file in the
same directory, then rename), because pyinfra prepares hosts concurrently: a reader sees the old file
or the new one, never a part.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .catalog import TAG_PATTERN

HEADER = "# models.lock: written by jetson-ollama on a model's first pull; commit it. Later pulls must match.\n"
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_LOCK_TIMEOUT = 60.0  # seconds to wait for another writer
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the lock is re-read on each write


class LockError(ValueError):
    """A lock file or manifest that cannot be read, or a lock that cannot be taken."""


class LockMismatch(LockError):
    """record() of a tag the lock holds with another manifest (the message is check()'s)."""


@dataclass(frozen=True)
class Blob:
    digest: str  # sha256:<64 hex>
    size: int
    media_type: str


@dataclass(frozen=True)
class LockEntry:
    manifest: str  # sha256:<64 hex> of the registry's manifest bytes
    blobs: tuple[Blob, ...]  # config, then the layers, in manifest order

    @property
    def blob_digests(self) -> list[str]:
        """The blob digests, config first (what operations.models.present takes as expect_blobs)."""
        return [blob.digest for blob in self.blobs]


def _short(digest: str) -> str:
    return f"{digest[:len('sha256:') + 12]}..."


def _blob(fields: object, where: str) -> Blob:
    if not isinstance(fields, dict):
        raise LockError(f"{where}: a blob must be a mapping (got {fields!r})")
    digest, size = fields.get("digest"), fields.get("size")
    media_type = fields.get("media_type", fields.get("mediaType"))
    if not (isinstance(digest, str) and _DIGEST_RE.fullmatch(digest)):
        raise LockError(f"{where}: blob digest must be sha256:<64 hex> (got {digest!r})")
    if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
        raise LockError(f"{where}: blob size must be an integer >= 0 (got {size!r})")
    if not (isinstance(media_type, str) and media_type):
        raise LockError(f"{where}: blob media type must be a non-empty string (got {media_type!r})")
    return Blob(digest, size, media_type)


def entry_from_manifest(manifest_bytes: bytes) -> LockEntry:
    """The lock entry of a registry manifest (Docker distribution v2 JSON: `config` + `layers[]`,
    each `{mediaType, digest, size}`, docs/facts.md section 5), as the registry served its bytes."""
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError as error:
        raise LockError(f"manifest is not JSON: {error}") from None
    return entry_from_parsed(hashlib.sha256(manifest_bytes).hexdigest(), manifest)


def entry_from_parsed(sha256_hex: str, manifest: Any) -> LockEntry:
    """The same, from the sha256 of the served bytes and the parsed manifest (what the board's
    `RegistryManifest` fact reports)."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list) or "config" not in manifest:
        raise LockError("manifest has no config and layers: not a Docker v2 manifest")
    blobs = tuple(_blob(fields, "manifest") for fields in [manifest["config"], *manifest["layers"]])
    return LockEntry(manifest="sha256:" + sha256_hex, blobs=blobs)


# ---------------------------------------------------------------- reading and comparing

PINS = "pins"
_PIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")


def _parse(text: str, where: str) -> dict[str, LockEntry]:
    return _read(text, where)[0]


def _read(text: str, where: str) -> tuple[dict[str, LockEntry], dict[str, dict[str, str]]]:
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        raise LockError(f"{where}: not YAML: {' '.join(str(error).split())}") from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise LockError(f"{where}: must map model tags to entries")
    pins = data.pop(PINS, None) or {}
    if not isinstance(pins, dict) or not all(
            isinstance(section, str) and isinstance(values, dict) and all(
                isinstance(key, str) and _PIN_RE.fullmatch(key) and isinstance(value, str) and _PIN_RE.fullmatch(value)
                for key, value in values.items())
            for section, values in pins.items()):
        raise LockError(f"{where}: {PINS} must map sections to key: value strings")
    lock = {}
    for tag, fields in data.items():
        if not (isinstance(tag, str) and re.fullmatch(TAG_PATTERN, tag)):
            raise LockError(f"{where}: {tag!r} is not a name:tag")
        if not isinstance(fields, dict) or not isinstance(fields.get("blobs"), list):
            raise LockError(f"{where}: {tag} needs manifest and blobs")
        manifest = fields.get("manifest")
        if not (isinstance(manifest, str) and _DIGEST_RE.fullmatch(manifest)):
            raise LockError(f"{where}: {tag} manifest must be sha256:<64 hex> (got {manifest!r})")
        lock[tag] = LockEntry(manifest, tuple(_blob(blob, f"{where}: {tag}") for blob in fields["blobs"]))
    return lock, {section: dict(values) for section, values in pins.items()}


def load(path: str | os.PathLike) -> dict[str, LockEntry]:
    """The lock's entries by tag; {} when the file does not exist. LockError on a malformed file."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return {}
    return _parse(text, str(path))


def load_pins(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """The lock's pins by section ({} when the file or the section does not exist)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return {}
    return _read(text, str(path))[1]


def check(lock: dict[str, LockEntry], tag: str, entry: LockEntry, *, lock_name: str = "models.lock") -> str | None:
    """None when the registry's `entry` matches the lock or the lock lacks `tag`, else one line:
    `upstream retagged <tag>: models.lock has manifest sha256:<12 hex>..., the registry serves ...`."""
    locked = lock.get(tag)
    if locked is None or locked.manifest == entry.manifest:
        return None
    return (f"upstream retagged {tag}: {lock_name} has manifest {_short(locked.manifest)}, the registry serves "
            f"{_short(entry.manifest)} (set ollama_update_lock: true to accept it)")


def check_blobs(lock: dict[str, LockEntry], tag: str, blob_digests: Iterable[str], *,
                lock_name: str = "models.lock") -> str | None:
    """None when a board's installed `tag` names the lock's blobs (the config and layer digests of its
    manifest on disk, any order) or the lock lacks `tag`, else one line saying which differ."""
    locked = lock.get(tag)
    installed = set(blob_digests)
    if locked is None or installed == set(locked.blob_digests):
        return None
    missing = ", ".join(_short(digest) for digest in sorted(set(locked.blob_digests) - installed)) or "nothing"
    extra = ", ".join(_short(digest) for digest in sorted(installed - set(locked.blob_digests))) or "nothing"
    return (f"{tag} on the board differs from {lock_name} (missing {missing}; not in the lock {extra}): "
            f"delete it to pull the locked one")


# ---------------------------------------------------------------- writing

@functools.lru_cache(maxsize=4096)
def _scalar(text: str) -> str:
    # plain where YAML reads the text back unchanged (qwen2.5:0.5b, sha256:...), else double-quoted
    plain = (re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/+-]*", text)
             and yaml.load(text, Loader=_LOADER) == text)  # noqa: S506 - a safe loader
    return text if plain else json.dumps(text)


def _render(lock: dict[str, LockEntry], header: str, pins: dict[str, dict[str, str]] | None = None) -> str:
    lines = [header.rstrip("\n")]
    for tag in sorted(lock):
        entry = lock[tag]
        lines += [f"{_scalar(tag)}:", f"  manifest: {_scalar(entry.manifest)}", "  blobs:"]
        lines += [f"    - {{digest: {_scalar(blob.digest)}, size: {blob.size}, media_type: {_scalar(blob.media_type)}}}"
                  for blob in entry.blobs]
    if pins:
        lines.append(f"{PINS}:")
        for section in sorted(pins):
            lines.append(f"  {_scalar(section)}:")
            lines += [f"    {_scalar(key)}: {_scalar(pins[section][key])}" for key in sorted(pins[section])]
    return "\n".join(lines) + "\n"


def _header(text: str) -> str:
    # the file's leading comment lines, which the user may have edited; ours for a new file
    comments = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        comments.append(line if line.endswith("\n") else line + "\n")
    return "".join(comments) or HEADER


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Holds an flock on the lock file's directory: the file itself is replaced by rename, so it cannot
    carry the lock, and a directory leaves no extra file beside the one the user commits. The wait polls
    with time.sleep, which yields under gevent (pyinfra's host concurrency) as well as between threads."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockError(f"{path}: another writer held the lock for {_LOCK_TIMEOUT:.0f} s") from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # releases the flock


def _replace(path: Path, text: str) -> None:
    """Writes `text` to a temporary file beside `path` and renames it over `path` (atomic on POSIX)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _write(path: str | os.PathLike, tag: str, entry: LockEntry, *, overwrite: bool) -> bool:
    if not re.fullmatch(TAG_PATTERN, tag):
        raise LockError(f"not a name:tag: {tag!r}")
    path = Path(path).absolute()
    with _exclusive(path):
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = ""
        lock, pins = _read(text, str(path))
        if tag in lock and lock[tag].manifest == entry.manifest:
            return False
        if tag in lock and not overwrite:
            raise LockMismatch(check(lock, tag, entry, lock_name=path.name))
        lock[tag] = entry
        rendered = _render(lock, _header(text), pins)
        if _read(rendered, str(path)) != (lock, pins):  # never write what would read back differently
            raise LockError(f"{path}: rendering {tag} would not read back")
        _replace(path, rendered)
        return True


def record(path: str | os.PathLike, tag: str, entry: LockEntry) -> bool:
    """Adds `tag` to the lock at `path` (creating it) after its first pull. False when the lock has it
    with this manifest already; LockMismatch (check()'s line) when it has another."""
    return _write(path, tag, entry, overwrite=False)


def update(path: str | os.PathLike, tag: str, entry: LockEntry) -> bool:
    """Sets `tag`'s lock entry to `entry`, replacing another manifest (ollama_update_lock: true).
    False when the lock has it already."""
    return _write(path, tag, entry, overwrite=True)


def pin(path: str | os.PathLike, section: str, key: str, value: str, *, overwrite: bool = False) -> bool:
    """Pins `key` of `section` (e.g. "ollama-native", "ollama-linux-arm64.tgz") to `value` (e.g. its
    "sha256:..."), creating the file. False when it is pinned to `value` already; LockMismatch (one
    line with both values) when it is pinned to another and not `overwrite`."""
    for what, text in (("section", section), ("key", key), ("value", value)):
        if not (isinstance(text, str) and _PIN_RE.fullmatch(text)):
            raise LockError(f"pin {what} must be a plain word such as ollama-native or sha256:..., not {text!r}")
    path = Path(path).absolute()
    with _exclusive(path):
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = ""
        lock, pins = _read(text, str(path))
        current = pins.get(section, {}).get(key)
        if current == value:
            return False
        if current is not None and not overwrite:
            raise LockMismatch(f"{path.name} pins {section} {key} to {current}, this run found {value}")
        pins.setdefault(section, {})[key] = value
        rendered = _render(lock, _header(text), pins)
        if _read(rendered, str(path)) != (lock, pins):
            raise LockError(f"{path}: pinning {section} {key} would not read back")
        _replace(path, rendered)
        return True
