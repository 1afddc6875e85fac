"""Offline bundles: what an inventory's boards need from the internet, fetched once on the controller
into one tar, from which `deploys/full.py` with `jetson_bundle: <path>` installs with no internet.

    python -m jetson_ollama bundle inventories/lab.py --l4t 36.4.3,35.4.1 -o site.tar

The bundle holds, for the hosts of the inventory (no board is contacted; the controller fetches from
upstream itself):

- `images/<repository>_<tag>.tar`: per image variant a `docker load` archive (image_archive.py) of
  the prebuilt `dustynv/ollama` image each board's settings choose for each L4T release given with
  `--l4t` (a board's L4T is not known without contacting it: give the releases of the site's boards;
  `pyinfra INVENTORY deploys/facts.py` prints them while they are online). A release for which a
  board's settings would build an image is skipped with a note: a build needs the internet (the
  deploy then refuses such a board with one line). `jetson_image_strategy: reuse` needs no image.
- `models/`: an Ollama store (`manifests/registry.ollama.ai/library/<name>/<tag>`, `blobs/sha256-<hex>`)
  with every model the hosts list in `ollama_models`. A host with `ollama_models: auto` picks by its
  RAM on the board, which the controller does not know: `--models TAG,...` names what to bundle for
  such hosts (the board's pick must be among them), else the command refuses with one line.
- `native/v<version>/`: for hosts with `jetson_runtime: native`, the release archives
  (`ollama-linux-arm64.tgz` and the `-jetpack6`/`-jetpack5` one of each given L4T) and
  `sha256sum.txt` from `<ollama_native_url>/v<version>/`, checked against it and against the lock's
  `ollama-native` pins (pinned on first download as `v<version>/<file>`).
- `models.lock`: the site's lock after the models were fetched (first fetches are pinned like first
  pulls; a locked model must come with its locked manifest).
- `index.json`, the first member: what is where, per host what it needs, and the sha256 and size of
  every other member. The tar is deterministic: same inputs, same bytes (sorted members, no times
  or owners).

The deploy side (`open_bundle`) reads index.json, checks that the tar holds exactly its members, and
hands out members as file objects; the boards check every file's sha256 again before using it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import lock
from .config import ConfigError, settings
from .image_archive import ImageError, RegistryClient, fetch_image, split_ref, write_docker_archive, write_tar
from .images import BuildNames, NoImage, resolve_image
from .catalog import model_info
from .releases import UnknownRelease, release_info

# a bundle carries prebuilt images only: a board that would build is refused by the deploy (board_problem)
_NO_BUILD = BuildNames(images={}, problem="no prebuilt image fits its settings, and a build needs the internet "
                                           "(the deploy refuses such a board)")

FORMAT, VERSION = "jetson-ollama-bundle", 1
INDEX = "index.json"
LOCK_MEMBER = "models.lock"
MODELS_DIR = "models"
REGISTRY_HOST = "registry.ollama.ai"  # the manifests' directory in an Ollama store (docs/facts.md section 5)
FETCH_SCRIPT = Path(__file__).parents[1] / "files" / "ollama-fetch.py"
NATIVE_ARCHIVE = "ollama-linux-arm64.tgz"
NATIVE_JETPACK = {35: "ollama-linux-arm64-jetpack5.tgz", 36: "ollama-linux-arm64-jetpack6.tgz"}
NATIVE_SUMS = "sha256sum.txt"
NATIVE_PINS = "ollama-native"  # the lock's pins section (lock.py)
DEFAULT_WORK = ".jetson-ollama/bundle-work"
CHUNK = 1 << 20


class BundleError(ValueError):
    """A bundle that cannot be made or used (one line)."""


# ---------------------------------------------------------------- what the inventory needs

@dataclass(frozen=True)
class Native:
    version: str
    url: str
    files: tuple[str, ...]  # release archives, sha256sum.txt not included


@dataclass
class BundlePlan:
    hosts: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # name -> images, models, native
    images: dict[str, list[str]] = field(default_factory=dict)             # ref -> the L4T releases it serves
    models: list[str] = field(default_factory=list)
    native: dict[str, Native] = field(default_factory=dict)               # version -> archives
    ollama_registry: str = "https://registry.ollama.ai"
    lock_file: str = "models.lock"
    notes: list[str] = field(default_factory=list)                        # what was skipped, one line each


def _host_value(cfg: Any, data: Mapping[str, Any], key: str) -> Any:
    """A setting this library may not define yet (the native runtime's keys): the settings' value, else
    the raw host data's."""
    return getattr(cfg, key, None) if getattr(cfg, key, None) is not None else data.get(key)


def _native_archives(version: str, releases: list, host_name: str) -> list[str]:
    """The release archives a native host needs for the given L4T releases: the native runtime's own
    naming (native.py: .tgz, .tar.zst from 0.14) where that module is present, else the .tgz names."""
    try:
        from .native import archive_names
    except ImportError:
        return [NATIVE_ARCHIVE, *(NATIVE_JETPACK[r.l4t.major] for r in releases if r.l4t.major in NATIVE_JETPACK)]
    names: list[str] = []
    for release in releases:
        try:
            names += [name for name in archive_names(version, release.jetpack) if name not in names]
        except ValueError as exc:  # no JetPack bundle for this release, or not a release version
            raise BundleError(f"{host_name}: {exc}") from None
    return names or [NATIVE_ARCHIVE]


def plan_bundle(hosts: Iterable[Any], l4t: list[str], auto_models: list[str] | None = None) -> BundlePlan:
    """What the hosts (runner.HostInfo: name and data) need; raises BundleError (one line, naming the host).

    + l4t: the boards' L4T releases, e.g. ["36.4.3"]; each host gets the image its settings choose
      for each of them
    + auto_models: the models to bundle for hosts with `ollama_models: auto` (None: refuse them)
    """
    try:
        releases = [release_info(text) for text in l4t]
    except (UnknownRelease, ValueError) as exc:
        raise BundleError(f"--l4t: {exc}") from None
    plan = BundlePlan()
    registries, lock_files = [], []
    for host in hosts:
        name, data = host.name, host.data
        if data.get("jetson_cache_host") == name:
            continue  # the fleet's cache host is no board
        try:
            cfg = settings(data)
        except ConfigError as exc:
            raise BundleError(f"{name}: {exc}") from None
        if cfg.ollama_models == "auto":
            if auto_models is None:
                raise BundleError(f"{name}: ollama_models is auto, which the board picks by its RAM: name the models "
                                  "to bundle for such hosts with --models TAG,... (e.g. --models qwen2.5:7b)")
            wanted = list(auto_models)
        else:
            wanted = list(cfg.ollama_models)
        needs = [info.min_ollama for info in map(model_info, wanted) if info]
        min_ollama = max(needs, key=lambda v: tuple(int(p) for p in v.split(".")), default=None)
        images = []
        if cfg.jetson_image_strategy != "reuse":
            if not releases:
                raise BundleError(f"{name}: give the boards' L4T releases with --l4t, e.g. --l4t 36.4.3 "
                                  "(`pyinfra INVENTORY deploys/facts.py` prints them)")
            for release in releases:
                try:
                    image = resolve_image(release, cfg.jetson_image_strategy, _NO_BUILD, cfg.ollama_version,
                                          min_ollama=min_ollama)
                except NoImage as exc:
                    plan.notes.append(f"{name}: L4T {release.l4t} skipped: {exc}")
                    continue
                if image.strategy != "prebuilt":
                    plan.notes.append(f"{name}: L4T {release.l4t} skipped: its settings build {image.ref}, which "
                                      "needs the internet (the deploy refuses such a board)")
                    continue
                images.append(image.ref)
                served = plan.images.setdefault(image.ref, [])
                if str(release.l4t) not in served:
                    served.append(str(release.l4t))
            if not images:
                raise BundleError(f"{name}: no prebuilt image for any of the L4T releases {', '.join(l4t)}: "
                                  + "; ".join(note.split(": ", 1)[1] for note in plan.notes if note.startswith(name)))
        native = []
        if _host_value(cfg, data, "jetson_runtime") == "native":
            version, url = _host_value(cfg, data, "ollama_native_version"), _host_value(cfg, data, "ollama_native_url")
            if not version or not url:
                raise BundleError(f"{name}: jetson_runtime native needs ollama_native_version and ollama_native_url "
                                  "to bundle its release archives")
            files = _native_archives(str(version), releases, name)
            known = plan.native.get(str(version))
            if known and known.url != str(url).rstrip("/"):
                raise BundleError(f"{name}: ollama_native_url {url} differs from another host's {known.url} "
                                  f"for version {version}")
            merged = sorted(set(files) | set(known.files if known else ()))
            plan.native[str(version)] = Native(str(version), str(url).rstrip("/"), tuple(merged))
            native = [f"v{version}/{file}" for file in files]
        plan.hosts[name] = {"images": images, "models": wanted, "native": sorted(set(native))}
        plan.models += [tag for tag in wanted if tag not in plan.models]
        registries.append(cfg.ollama_registry)
        lock_files.append(cfg.ollama_lock_file)
    if not plan.hosts:
        raise BundleError("the inventory has no boards")
    if len(set(lock_files)) > 1:
        raise BundleError(f"the hosts use different lock files ({', '.join(sorted(set(lock_files)))}): bundle each "
                          "group of hosts with its own --limit")
    plan.ollama_registry, plan.lock_file = registries[0], lock_files[0]
    return plan


# ---------------------------------------------------------------- fetching and writing

def human(size: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} B"


def image_member(ref: str) -> str:
    """`dustynv/ollama:r36.4.3` -> `images/dustynv_ollama_r36.4.3.tar`."""
    repository, tag = split_ref(ref)
    return f"images/{repository.removeprefix('library/').replace('/', '_')}_{tag}.tar"


def model_manifest_member(tag: str) -> str:
    name, _, version = tag.partition(":")
    return f"{MODELS_DIR}/manifests/{REGISTRY_HOST}/library/{name}/{version}"


def blob_member(digest: str) -> str:
    return f"{MODELS_DIR}/blobs/{digest.replace(':', '-')}"


def sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _download(url: str, dest: Path) -> Path:
    temporary = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "jetson-ollama-bundle/1"})
        with urllib.request.urlopen(request, timeout=60) as answer, open(temporary, "wb") as out:
            while chunk := answer.read(CHUNK):
                out.write(chunk)
        os.replace(temporary, dest)
    except (urllib.error.URLError, OSError) as err:
        raise BundleError(f"GET {url}: {getattr(err, 'reason', err)}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return dest


def parse_sha256sums(text: str) -> dict[str, str]:
    """`<hex>  ./name` or `<hex> *name` lines -> {name: hex}."""
    sums = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([0-9a-f]{64}) [ *](?:\./)?(\S+)", line.strip())
        if match:
            sums[match[2]] = match[1]
    return sums


def _fetch_model(tag: str, store: Path, registry: str, locked: lock.LockEntry | None) -> bytes:
    """ollama-fetch.py (files/) into the work store: every blob verified, the manifest last; the
    manifest's bytes. A locked tag must come with its locked manifest."""
    command = [sys.executable, str(FETCH_SCRIPT), "--model", tag, "--models-dir", str(store), "--registry", registry]
    if locked:
        command += ["--expect-manifest", locked.manifest]
    proc = subprocess.run(command, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        line = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        if proc.returncode == 2 and locked:
            line += " (models.lock pins it: set ollama_update_lock: true and pull it online to accept a retag)"
        raise BundleError(line)
    return (store / model_manifest_member(tag).removeprefix(MODELS_DIR + "/")).read_bytes()


@dataclass
class Written:
    path: Path
    sha256: str
    size: int
    members: dict[str, dict[str, Any]]
    index: dict[str, Any]


def build_bundle(plan: BundlePlan, out: Path, *, work: Path, registry: str, ollama_registry: str | None = None,
                 native_url: str | None = None, log: Callable[[str], None] = lambda line: None) -> Written:
    """Fetches what `plan` names (work: a cache that later runs reuse) and writes the bundle to `out`.
    `native_url` replaces the hosts' ollama_native_url for the downloads (a mirror the controller
    reaches). Raises BundleError or ImageError (one line)."""
    work.mkdir(parents=True, exist_ok=True)
    members: dict[str, Path | bytes] = {}
    index: dict[str, Any] = {"format": FORMAT, "version": VERSION, "hosts": plan.hosts, "images": {},
                             "models": {}, "native": {}, "lock": LOCK_MEMBER}

    client = RegistryClient(registry)
    for ref in sorted(plan.images):
        log(f"image {ref}")
        image = fetch_image(client, ref, work / "blobs", log)
        member = image_member(ref)
        archive = work / member
        archive.parent.mkdir(parents=True, exist_ok=True)
        write_docker_archive(image, work / "blobs", archive)
        members[member] = archive
        index["images"][ref] = {"archive": member, "image_id": image.config.digest, "manifest": image.manifest_digest,
                                "layers": len(image.layers), "l4t": plan.images[ref]}

    store = work / MODELS_DIR
    locked = lock.load(plan.lock_file)
    for tag in plan.models:
        log(f"model {tag}")
        raw = _fetch_model(tag, store, ollama_registry or plan.ollama_registry, locked.get(tag))
        entry = lock.entry_from_manifest(raw)
        if tag not in locked:
            lock.record(plan.lock_file, tag, entry)  # the site's first download pins it, as a first pull does
        members[model_manifest_member(tag)] = raw
        for blob in entry.blobs:
            members[blob_member(blob.digest)] = store / "blobs" / blob.digest.replace(":", "-")
        index["models"][tag] = {"manifest": entry.manifest, "path": model_manifest_member(tag),
                                "blobs": [{"digest": b.digest, "size": b.size, "media_type": b.media_type}
                                          for b in entry.blobs]}

    for version, native in sorted(plan.native.items()):
        log(f"native Ollama {version}")
        base = f"{(native_url or native.url).rstrip('/')}/v{version}"
        folder = work / "native" / f"v{version}"
        sums = parse_sha256sums(_download(f"{base}/{NATIVE_SUMS}", folder / NATIVE_SUMS).read_text())
        files = {}
        for name in native.files:
            if name not in sums:
                raise BundleError(f"{base}/{NATIVE_SUMS} lists no {name}")
            path = folder / name
            if not (path.is_file() and sha256_file(path) == sums[name]):
                _download(f"{base}/{name}", path)
            digest = sha256_file(path)
            if digest != sums[name]:
                raise BundleError(f"{base}/{name}: sha256 {digest}, {NATIVE_SUMS} says {sums[name]}")
            try:
                lock.pin(plan.lock_file, NATIVE_PINS, f"v{version}/{name}", f"sha256:{digest}")
            except lock.LockMismatch as exc:
                raise BundleError(str(exc)) from None
            member = f"native/v{version}/{name}"
            members[member] = path
            files[name] = member
        members[f"native/v{version}/{NATIVE_SUMS}"] = folder / NATIVE_SUMS
        index["native"][version] = {"url": native.url, "files": files, "sha256sum": f"native/v{version}/{NATIVE_SUMS}"}

    lock_path = Path(plan.lock_file)
    members[LOCK_MEMBER] = lock_path.read_bytes() if lock_path.exists() else b""

    log("checksums")
    table = {}
    for name, data in sorted(members.items()):
        if isinstance(data, bytes):
            table[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        else:
            table[name] = {"sha256": sha256_file(data), "size": data.stat().st_size}
    index["members"] = table
    index_bytes = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
    log(f"writing {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_tar(out, [(INDEX, index_bytes), *sorted(members.items())])
    for member in index["images"].values():  # the blobs stay as the cache; the archives are in the bundle
        (work / member["archive"]).unlink(missing_ok=True)
    return Written(out, sha256_file(out), out.stat().st_size, table, index)


def summary(written: Written, notes: Iterable[str] = ()) -> str:
    """What the bundle holds, one line per image, model and native archive, sizes included."""
    index, table = written.index, written.members
    lines = [f"note: {note}" for note in notes]
    for ref, image in sorted(index["images"].items()):
        lines.append(f"image   {ref}  {human(table[image['archive']]['size'])}  (L4T {', '.join(image['l4t'])})")
    for tag, model in sorted(index["models"].items()):
        lines.append(f"model   {tag}  {human(sum(blob['size'] for blob in model['blobs']))}  {model['manifest'][:19]}")
    for version, native in sorted(index["native"].items()):
        for name, member in sorted(native["files"].items()):
            lines.append(f"native  v{version}/{name}  {human(table[member]['size'])}")
    lines.append(f"bundle  {written.path}  {human(written.size)}  {len(table) + 1} members  sha256:{written.sha256}")
    return "\n".join(lines)


# ---------------------------------------------------------------- reading (the deploy side)

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
                index = json.loads(tar.extractfile(members[INDEX]).read())
        except (OSError, tarfile.TarError, ValueError) as exc:
            if isinstance(exc, BundleError):
                raise
            raise BundleError(f"jetson_bundle {self.path} cannot be read: {exc}") from None
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise BundleError(f"{self.path} is not a jetson-ollama bundle")
        if index.get("version") != VERSION:
            raise BundleError(f"{self.path} is a version {index.get('version')} bundle; this jetson-ollama reads {VERSION}")
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
    return bundle.image_problem(image_ref, l4t)


# ---------------------------------------------------------------- command line

def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bundle", help="fetch what an inventory's boards need into one tar, for deploys with no internet",
        description="Fetch on this machine the images, models (and native Ollama archives) the boards of INVENTORY "
                    "need, verified, into one deterministic tar; deploy with jetson_bundle set to its path.")
    parser.add_argument("inventory", nargs="?", help="pyinfra inventory file, e.g. inventories/lab.py")
    parser.add_argument("--inventory", dest="inventory_option", metavar="INVENTORY", help="the same, as an option")
    parser.add_argument("-o", "--output", required=True, metavar="PATH", help="the bundle to write, e.g. site.tar")
    parser.add_argument("--l4t", default="", metavar="R[,R]",
                        help="the boards' L4T releases, e.g. 36.4.3,35.4.1 (an image per release and setting)")
    parser.add_argument("--models", metavar="TAG[,TAG]",
                        help="models to bundle for hosts with ollama_models: auto (their pick must be among them)")
    parser.add_argument("--limit", action="append", default=[], metavar="NAME",
                        help="only these hosts (repeat it); default: every host of the inventory")
    parser.add_argument("--registry", default=None, metavar="URL",
                        help="the image registry (default: Docker Hub, what the boards' docker pulls from)")
    parser.add_argument("--ollama-registry", metavar="URL",
                        help="the Ollama registry to fetch models from (default: the hosts' ollama_registry)")
    parser.add_argument("--native-url", metavar="URL",
                        help="where the controller downloads native Ollama releases (default: the hosts' "
                             "ollama_native_url)")
    parser.add_argument("--work", default=DEFAULT_WORK, metavar="DIR",
                        help=f"download cache, reused by later runs (default: {DEFAULT_WORK})")

    def error(message: str):  # one line, not argparse's usage block
        parser.exit(2, f"jetson-ollama bundle: {message}\n")

    parser.error = error
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """0: written; 1: a fetch or a check failed; 2: the inventory or the arguments do not allow a bundle."""
    from .image_archive import DOCKER_HUB

    def refuse(message: str, code: int = 2) -> int:
        print(f"jetson-ollama bundle: {message}", file=sys.stderr)
        return code

    inventory = args.inventory or args.inventory_option
    if not inventory or (args.inventory and args.inventory_option and args.inventory != args.inventory_option):
        return refuse("give one inventory file, e.g. inventories/lab.py")
    if not Path(inventory).is_file():
        return refuse(f"no inventory file {inventory}")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gevent's monkey patching after ssl was imported: harmless here
        from . import runner
    try:
        hosts = runner.inventory_hosts(inventory)
        if args.limit:
            unknown = sorted(set(args.limit) - {host.name for host in hosts})
            if unknown:
                return refuse(f"not in {inventory}: {', '.join(unknown)}")
            hosts = [host for host in hosts if host.name in args.limit]
        auto = [tag.strip() for tag in args.models.split(",") if tag.strip()] if args.models is not None else None
        plan = plan_bundle(hosts, [r.strip() for r in args.l4t.split(",") if r.strip()], auto)
    except ValueError as exc:  # RunnerError and BundleError are
        return refuse(str(exc))
    try:
        written = build_bundle(plan, Path(args.output), work=Path(args.work), registry=args.registry or DOCKER_HUB,
                               ollama_registry=args.ollama_registry, native_url=args.native_url,
                               log=lambda line: print(line, file=sys.stderr))
    except (BundleError, ImageError, lock.LockError) as exc:
        return refuse(str(exc), 1)
    print(summary(written, plan.notes))
    return 0
