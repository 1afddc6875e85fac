"""Container images for the simulated Docker Hub mirror, pushed with the distribution HTTP API.

No container engine on the controller: a layer is a gzip'd tar, an image is a config JSON plus a
schema-2 manifest, both uploaded to the fleet's CNCF registry as `docker push` would.
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
        body = data if data is not None else data_path.read_bytes()
        req = urllib.request.Request(f"{location}{sep}digest={digest}", data=body, method="PUT",
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
