"""Making an offline bundle on the controller: what an inventory's hosts need (`plan_bundle`), fetched
from upstream, verified and written as one deterministic tar (`build_bundle`), and the lines that say
what it holds (`summary`). The layout it writes is read.py's; no board is contacted.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import lock
from ..cache import is_cache_host
from ..catalog import model_info
from ..config import ConfigError, settings
from ..image_archive import RegistryClient, fetch_image, split_ref, write_docker_archive, write_tar
from ..images import BuildNames, NoImage, resolve_image
from ..native import archive_names, parse_checksums
from ..releases import UnknownRelease, release_info
from ..version import newest
from .read import (FORMAT, INDEX, LOCK_MEMBER, MODELS_DIR, NATIVE_SUMS, VERSION, BundleError, blob_member,
                   model_manifest_member)
from ..resources import FILES

# a bundle carries prebuilt images only: a board that would build is refused by the deploy (board_problem)
_NO_BUILD = BuildNames(images={}, problem="no prebuilt image fits its settings, and a build needs the internet "
                                           "(the deploy refuses such a board)")

FETCH_SCRIPT = FILES / "ollama-fetch.py"
NATIVE_ARCHIVE = "ollama-linux-arm64.tgz"
NATIVE_PINS = "ollama-native"  # the lock's pins section (lock.py)
DEFAULT_WORK = ".jetson-ollama/bundle-work"
CHUNK = 1 << 20


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
    """The release archives a native host needs for the given L4T releases, in the native runtime's own
    naming (native.py: .tgz, .tar.zst from 0.14)."""
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
        if is_cache_host(host):
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
        min_ollama = newest(info.min_ollama for info in map(model_info, wanted) if info)  # as plan.min_ollama
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
                assert image.ref is not None  # a prebuilt plan names its image
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
        listed = parse_checksums(_download(f"{base}/{NATIVE_SUMS}", folder / NATIVE_SUMS).read_text().splitlines())
        sums = {name: digest.removeprefix("sha256:") for name, digest in listed.items()}
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

