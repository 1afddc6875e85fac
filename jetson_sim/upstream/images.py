"""Container images for the simulated Docker Hub mirror, pushed with the distribution HTTP API.

No container engine on the controller: a layer is a gzip'd tar, an image is a config JSON plus a
schema-2 manifest, both uploaded to the fleet's CNCF registry as `docker push` would.

PREBUILT lists the prebuilt `dustynv/ollama` tags for the mirror's preload and what Ollama each one is.
All of them share the same two layers (the board base and the simulated ollama), so the preload stays
small; only the image config differs, whose Env (ollama_sim_env) tells the simulated ollama its version.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"

# What a container of the simulated ollama image needs from the board base image: not the
# container engine, init system or documentation.
EXCLUDED = (
    "./usr/bin/docker", "./usr/bin/dockerd", "./usr/sbin/dockerd", "./usr/bin/containerd*",
    "./usr/sbin/runc", "./usr/bin/runc", "./usr/share/doc", "./usr/share/man", "./usr/share/locale",
    "./usr/share/info", "./usr/lib/systemd", "./usr/lib/git-core", "./var/cache/*", "./var/log/*",
    "./usr/share/perl", "./usr/lib/x86_64-linux-gnu/perl", "./etc/ssh", "./usr/sbin/sshd", "./dev/*",
    "./proc/*", "./sys/*", "./run/*", "./tmp/*",
)


@dataclass(frozen=True)
class Prebuilt:
    """One prebuilt dustynv/ollama tag as the real image is."""
    version: str     # what its `ollama --version` and /api/version report (version.Version in the binary)
    behaves_as: str  # the Ollama release whose code it runs, for the simulated server's version rules
    pushed: str      # the push date Docker Hub lists
    verified: bool   # False: the version is inferred (see why)
    why: str         # the evidence; JC = dusty-nv/jetson-containers packages/llm/ollama at that commit


# The tags of JC README.md @16f7cf41 with their push dates. How the image got its ollama, by date:
# - to 2024-09-30 built from a depth-1 clone of ollama main, version stamped from `git describe --tags
#   --first-parent --abbrev=7 --long --dirty --always` (JC Dockerfile @6536834f, 2024-06-25): a bare
#   7-digit hash, or "<tag>-0-g<hash>" when main's head was itself a tag (a depth-1 clone fetches that tag);
# - from JC @e3c9d1c0 (2024-09-30) to 2025-01-30 built from source stamped VERSION="0.0.0", also when
#   the tag names a release (JC Dockerfile @e18584df, @6e0a8103 build v0.4.0 / v0.5.1 that way);
# - from JC @40570143 (2025-01-30) to 2025-05-06 `curl https://ollama.com/install.sh | sh` with no
#   version: the newest Ollama release on the build day, whatever the package version in config.py
#   (which only named the image); release days are the ollama tags' commit dates;
# - from JC @3c494936 (2025-05-06) install.sh downloads releases/download/v${OLLAMA_VERSION}.
PREBUILT = {
    "r35.4.1": Prebuilt(
        "0.1.46-0-gcb42e60", "0.1.46", "2024-06-25", False,
        "JC Dockerfile @6536834f (2024-06-25 21:08Z, 'populated ollama version from git repo'), README @36f235e4 "
        "16 min later; ollama main's head from 04:47Z that day to 06-27 was cb42e607c, tagged v0.1.46, so "
        "describe gives v0.1.46-0-gcb42e60, 'v' stripped. Unverified: built at that commit, not before it "
        "(then 0.0.0)"),
    "r36.2.0": Prebuilt(
        "5f7b4a5", "0.3.9", "2024-09-02", False,
        "JC Dockerfile @22e7e639 (describe as above); ollama main's head from 2024-09-01 04:12Z to 09-02 19:31Z "
        "was 5f7b4a5e3 (v0.3.9 + 2, untagged): describe --always gives the bare hash. Unverified: the build hour"),
    "r36.3.0": Prebuilt(
        "0.0.0", "0.3.12", "2024-09-30", False,
        "pushed the day of JC @e3c9d1c0 (2024-09-30 12:54Z, 'upgraded llama.cpp and ollama') that stamps 0.0.0; "
        "ollama main's head was 79d3b1e2b (v0.3.12 + 4). Unverified: built with that commit"),
    "0.4.0-r36.4.0": Prebuilt(
        "0.0.0", "0.4.0", "2024-11-09", True,
        "JC Dockerfile @e18584df (2024-11-09) builds branch v0.4.0 with VERSION=\"0.0.0\""),
    "0.5.1-r36.4.0": Prebuilt(
        "0.0.0", "0.5.1", "2024-12-12", True,
        "JC Dockerfile @6e0a8103 (2024-12-12, 'updated ollama to 0.5.1') builds tag v0.5.1 with VERSION=\"0.0.0\""),
    "0.5.7-r36.4.0": Prebuilt(
        "0.5.7", "0.5.7", "2025-01-30", True,
        "JC Dockerfile @40570143/@fe1f26d8 (2025-01-30): install.sh, newest release v0.5.7 (v0.5.8: 2025-02-10)"),
    "r36.4.3": Prebuilt(
        "0.5.13", "0.5.13", "2025-03-11", False,
        "JC Dockerfile as of @bb5518aa: install.sh, newest release on 2025-03-11 v0.5.13 (v0.6.0 tagged 22:07Z "
        "that day); config.py's default was 0.5.8, then 0.5.14 from 17:34Z (@bb5518aa, never released: it became "
        "0.6.0), neither picks the binary. Unverified: built before v0.6.0 was out"),
    "0.6.3-r36.4.0": Prebuilt(
        "0.6.3", "0.6.3", "2025-03-31", True,
        "JC Dockerfile @8bb5bcc4 (2025-03-31): install.sh, newest release v0.6.3 (v0.6.4: 2025-04-02)"),
    "main-r36.4.0": Prebuilt(
        "0.6.3", "0.6.3", "2025-03-31", False,
        "ollama:main of JC @8bb5bcc4: the same install.sh as 0.6.3-r36.4.0 the same day (config.py default "
        "0.6.3 @0340e6cb). Unverified: nothing in the tag names it"),
    "r36.4.0": Prebuilt(
        "0.6.5", "0.6.5", "2025-04-09", False,
        "JC Dockerfile @d7513727 (2025-04-09): install.sh, newest release v0.6.5 (2025-04-05 UTC; v0.6.6: 04-19); "
        "config.py lists 0.6.5, default 0.6.3 then main that day. Unverified"),
    "r36.4.0-cu128-24.04": Prebuilt(
        "0.6.5", "0.6.5", "2025-04-09", False,
        "as r36.4.0: the same install.sh the same day, on the CUDA 12.8 / Ubuntu 24.04 base. Unverified"),
    "0.6.8-r36.4": Prebuilt(
        "0.6.8", "0.6.8", "2025-05-06", True,
        "JC install.sh @3c494936 (2025-05-06) downloads releases/download/v${OLLAMA_VERSION}, the default 0.6.8"),
    "0.6.8-r36.4-cu126-22.04": Prebuilt(
        "0.6.8", "0.6.8", "2025-05-06", True, "as 0.6.8-r36.4"),
}

# tag -> the version the image reports
PREBUILT_OLLAMA = {tag: image.version for tag, image in PREBUILT.items()}

# Bump when the preloaded images change in a way the cache key would not see.
PRELOAD_VERSION = 2


def ollama_sim_env(tag: str) -> list[str]:
    """The simulator's part of a prebuilt image's Env: the version it reports and the release it behaves as."""
    image = PREBUILT[tag]
    return [f"OLLAMA_SIM_VERSION={image.version}", f"OLLAMA_SIM_BEHAVES_AS={image.behaves_as}"]


def preload_key() -> str:
    """What the preloaded mirror is built from, for its cache key: a changed image list rebuilds it."""
    return json.dumps([PRELOAD_VERSION, {tag: [i.version, i.behaves_as] for tag, i in PREBUILT.items()}])


@dataclass(frozen=True)
class Layer:
    path: Path        # the gzip'd tar
    digest: str       # sha256 of the gzip'd bytes (what the manifest names)
    diff_id: str      # sha256 of the uncompressed tar (what the image config names)
    size: int


def _describe(path: Path) -> Layer:
    meta = path.with_suffix(".json")
    if meta.exists():
        return Layer(path=path, **json.loads(meta.read_text()))
    digest, diff = hashlib.sha256(), hashlib.sha256()
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            digest.update(chunk)
    with gzip.open(path, "rb") as tar:
        for chunk in iter(lambda: tar.read(1 << 20), b""):
            diff.update(chunk)
    layer = Layer(path, "sha256:" + digest.hexdigest(), "sha256:" + diff.hexdigest(), path.stat().st_size)
    meta.write_text(json.dumps({"digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size}))
    return layer


def rootfs_layer(rootfs: Path, dest: Path) -> Layer:
    """The board base image, trimmed, as one layer (built once, cached next to `dest`)."""
    if not dest.exists():
        tmp = dest.with_suffix(".tmp")
        excludes = [f"--exclude={e}" for e in EXCLUDED]
        with open(tmp, "wb") as out:
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", *excludes, "-cf", "-", "."],
                                   stdout=subprocess.PIPE)
            subprocess.run(["gzip", "-1", "-n"], stdin=tar.stdout, stdout=out, check=True)
            if tar.wait() != 0:
                raise RuntimeError(f"tar of {rootfs} failed")
        tmp.rename(dest)
    return _describe(dest)


def files_layer(files: dict[str, tuple[bytes, int]], dest: Path) -> Layer:
    """A layer of a few files: {"/usr/local/bin/ollama": (content, mode)}; deterministic bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs = sorted({str(Path(p).parent).lstrip("/") for p in files} - {""})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, (content, mode) in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
    data = gzip.compress(buf.getvalue(), compresslevel=6, mtime=0)
    if not dest.exists() or dest.read_bytes() != data:
        dest.write_bytes(data)
        dest.with_suffix(".json").unlink(missing_ok=True)
    return _describe(dest)


class Registry:
    """Just enough of the distribution API to push an image."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def _request(self, method: str, path: str, data=None, headers=None):
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        return urllib.request.urlopen(req, timeout=60)

    def has_blob(self, repo: str, digest: str) -> bool:
        try:
            self._request("HEAD", f"/v2/{repo}/blobs/{digest}").close()
            return True
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise

    def put_blob(self, repo: str, digest: str, data_path: Path | None = None, data: bytes | None = None):
        if self.has_blob(repo, digest):
            return
        with self._request("POST", f"/v2/{repo}/blobs/uploads/") as resp:
            location = resp.headers["Location"]
        if location.startswith("/"):
            location = self.url + location
        sep = "&" if "?" in location else "?"
        if data is None:
            if data_path is None:
                raise ValueError("put_blob needs data_path or data")
            data = data_path.read_bytes()
        req = urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(req, timeout=300).close()

    def push(self, repo: str, tag: str, layers: list[Layer], config: dict) -> str:
        """Push an image; returns the manifest digest (what `docker pull repo@digest` names)."""
        config = dict(config, architecture="amd64", os="linux",
                      rootfs={"type": "layers", "diff_ids": [la.diff_id for la in layers]})
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        for layer in layers:
            self.put_blob(repo, layer.digest, data_path=layer.path)
        self.put_blob(repo, config_digest, data=config_bytes)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "size": len(config_bytes), "digest": config_digest},
            "layers": [{"mediaType": LAYER_TYPE, "size": la.size, "digest": la.digest} for la in layers],
        }, indent=3).encode()
        self._request("PUT", f"/v2/{repo}/manifests/{tag}", data=manifest,
                      headers={"Content-Type": MANIFEST_TYPE}).close()
        return "sha256:" + hashlib.sha256(manifest).hexdigest()
