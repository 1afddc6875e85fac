"""Container images fetched on the controller over the distribution HTTP API, written as archives that
`docker load` reads (no docker on the controller, none needed).

What a board's `docker pull dustynv/ollama:<tag>` would fetch: the tag's manifest (for a multi-platform
index, the linux/arm64 entry's), its config blob and its layer blobs, each checked against its sha256
digest. Docker Hub's anonymous token (a `401` with `WWW-Authenticate: Bearer realm=...`) is fetched as
docker does; a plain registry (the simulator's Docker Hub stand-in, a site mirror) needs none.

The archive is the `docker save` layout that docker 25 and later write and every docker since 1.10
loads (moby `image/tarexport/load.go`): `manifest.json`, a list with one
`{"Config": "blobs/sha256/<hex>", "RepoTags": [ref], "Layers": ["blobs/sha256/<hex>", ...]}`, and
the blobs it names. Layers stay as the registry served them (gzip'd tars): `docker load` decompresses
each (`DecompressStream`) and checks the result against the config's `rootfs.diff_ids`. The image
id `docker images` shows after the load is the config's digest. `check_docker_archive` applies
those rules to an archive.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

DOCKER_HUB = "https://registry-1.docker.io"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join((MANIFEST_V2, OCI_MANIFEST, MANIFEST_LIST, OCI_INDEX))
PLATFORM = ("linux", "arm64")  # a Jetson's docker pulls this entry of a multi-platform index
CHUNK = 1 << 20
TIMEOUT = 60  # seconds without a byte
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class ImageError(RuntimeError):
    """An image that cannot be fetched or an archive that does not check out (one line)."""


def split_ref(ref: str) -> tuple[str, str]:
    """`dustynv/ollama:r36.4.3` -> (`dustynv/ollama`, `r36.4.3`); `ubuntu:22.04` -> (`library/ubuntu`, ...).
    Docker Hub references with a tag only: a registry host or a digest in `ref` raises ImageError."""
    name, colon, tag = ref.rpartition(":") if isinstance(ref, str) else ("", "", "")
    parts = name.split("/")
    if not colon or "/" in tag or not _TAG_RE.fullmatch(tag) or not all(_COMPONENT_RE.fullmatch(p) for p in parts):
        raise ImageError(f"image must be a Docker Hub reference with a tag like dustynv/ollama:r36.4.3, not {ref!r}")
    return ("/".join(parts) if len(parts) > 1 else f"library/{name}"), tag


def _challenge(header: str) -> dict[str, str]:
    """`Bearer realm="https://auth.docker.io/token",service="registry.docker.io"` -> its parameters."""
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "bearer":
        return {}
    return dict(re.findall(r'(\w+)="([^"]*)"', rest))


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class FetchedImage:
    ref: str                 # dustynv/ollama:r36.4.3
    manifest_digest: str     # what the tag named (the index's digest for a multi-platform tag)
    config: Blob             # its digest is the image id docker shows after the load
    layers: tuple[Blob, ...]

    @property
    def size(self) -> int:
        return self.config.size + sum(layer.size for layer in self.layers)


class RegistryClient:
    """GETs on one registry's /v2/ API, with Docker Hub's anonymous bearer tokens."""

    def __init__(self, url: str = DOCKER_HUB, *, opener: urllib.request.OpenerDirector | None = None):
        self.url = url.rstrip("/")
        self.opener = opener or urllib.request.build_opener()
        self._tokens: dict[str, str] = {}

    def _request(self, path: str, accept: str | None, token: str | None):
        headers = {"User-Agent": "jetson-ollama-bundle/1"}
        if accept:
            headers["Accept"] = accept
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.opener.open(urllib.request.Request(self.url + path, headers=headers), timeout=TIMEOUT)

    def open(self, repository: str, path: str, accept: str | None = None):
        """The response to GET /v2/<repository>/<path>; ImageError (one line) on any failure."""
        url_path = f"/v2/{repository}/{path}"
        try:
            try:
                return self._request(url_path, accept, self._tokens.get(repository))
            except urllib.error.HTTPError as err:
                challenge = _challenge(err.headers.get("WWW-Authenticate", "")) if err.code == 401 else {}
                err.close()
                if not challenge.get("realm"):
                    raise
            self._tokens[repository] = self._token(challenge, repository)
            return self._request(url_path, accept, self._tokens[repository])
        except urllib.error.HTTPError as err:
            err.close()
            raise ImageError(f"GET {self.url}{url_path}: {err.code} {err.reason}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ImageError(f"GET {self.url}{url_path}: {reason}") from None

    def _token(self, challenge: dict[str, str], repository: str) -> str:
        query = {"scope": challenge.get("scope") or f"repository:{repository}:pull"}
        if challenge.get("service"):
            query["service"] = challenge["service"]
        url = f"{challenge['realm']}?{urllib.parse.urlencode(query)}"
        try:
            with self.opener.open(urllib.request.Request(url), timeout=TIMEOUT) as answer:
                body = json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise ImageError(f"no pull token for {repository} from {challenge['realm']}: {err}") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise ImageError(f"no pull token for {repository} from {challenge['realm']}")
        return token

    def manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest's bytes and media type; a digest reference is checked against the bytes."""
        with self.open(repository, f"manifests/{reference}", ACCEPT) as answer:
            raw = answer.read(4 << 20)
            media_type = answer.headers.get("Content-Type", "").split(";")[0].strip()
        if _DIGEST_RE.fullmatch(reference) and "sha256:" + hashlib.sha256(raw).hexdigest() != reference:
            raise ImageError(f"manifest {repository}@{reference} from {self.url} has other bytes")
        try:
            media_type = json.loads(raw).get("mediaType") or media_type
        except (ValueError, AttributeError):
            raise ImageError(f"manifest {repository}:{reference} from {self.url} is not JSON") from None
        return raw, media_type

    def blob(self, repository: str, blob: Blob, store: Path, log: Callable[[str], None] = lambda line: None) -> Path:
        """The blob in `store/sha256/<hex>`, fetched unless a file of its size is there (only blobs whose
        sha256 and size checked out get that name). ImageError when the bytes are not the digest's."""
        path = store / "sha256" / blob.digest.split(":", 1)[1]
        if path.is_file() and path.stat().st_size == blob.size:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
        sha, got = hashlib.sha256(), 0
        log(f"  fetching {repository} {blob.digest[:19]} ({blob.size} bytes)")
        try:
            with self.open(repository, f"blobs/{blob.digest}") as answer, open(temporary, "wb") as out:
                while chunk := answer.read(CHUNK):
                    got += len(chunk)
                    if got > blob.size:
                        break
                    sha.update(chunk)
                    out.write(chunk)
            if got != blob.size or "sha256:" + sha.hexdigest() != blob.digest:
                raise ImageError(f"blob {blob.digest} of {repository} from {self.url}: got "
                                 f"sha256:{sha.hexdigest()}, {got} bytes; expected {blob.size} bytes")
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return path


def _blob(entry: object, what: str) -> Blob:
    if not isinstance(entry, dict) or not _DIGEST_RE.fullmatch(str(entry.get("digest", ""))) \
            or not isinstance(entry.get("size"), int) or entry["size"] < 0:
        raise ImageError(f"{what}: a config or layer without a sha256 digest and size")
    return Blob(entry["digest"], entry["size"], str(entry.get("mediaType", "")))


def fetch_image(client: RegistryClient, ref: str, store: Path, log: Callable[[str], None] = lambda line: None,
                platform: tuple[str, str] = PLATFORM) -> FetchedImage:
    """Fetches `ref`'s manifest, config and layers into `store` (content-addressed, verified)."""
    repository, tag = split_ref(ref)
    raw, media_type = client.manifest(repository, tag)
    tag_digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    manifest = json.loads(raw)
    if media_type in (MANIFEST_LIST, OCI_INDEX) or "manifests" in manifest:
        entries = [entry for entry in manifest.get("manifests", []) if isinstance(entry, dict)
                   and (entry.get("platform") or {}).get("os") == platform[0]
                   and (entry.get("platform") or {}).get("architecture") == platform[1]]
        if not entries:
            raise ImageError(f"{ref} has no {'/'.join(platform)} image")
        raw, media_type = client.manifest(repository, entries[0]["digest"])
        manifest = json.loads(raw)
    if not isinstance(manifest.get("layers"), list) or "config" not in manifest:
        raise ImageError(f"manifest of {ref} ({media_type or 'no media type'}) is not an image manifest")
    config = _blob(manifest["config"], ref)
    layers = tuple(_blob(layer, ref) for layer in manifest["layers"])
    for blob in (config, *layers):
        client.blob(repository, blob, store, log)
    return FetchedImage(ref, tag_digest, config, layers)


# ---------------------------------------------------------------- deterministic tar files

def tar_info(name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    """A member with no owner, time or mode of the machine that wrote it: same inputs, same bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.uid, info.gid, info.uname, info.gname = size, 0, 0, 0, "", ""
    info.type, info.mode = (tarfile.DIRTYPE, 0o755) if directory else (tarfile.REGTYPE, 0o644)
    return info


def write_tar(dest: Path, members: Iterable[tuple[str, bytes | Path]]) -> None:
    """Writes `members` (name, bytes or a file's path), in the order given and each parent directory
    before its first file, to `dest` atomically (a temporary file beside it, then a rename)."""
    temporary = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar:
            seen: set[str] = set()
            for name, data in members:
                parents = name.split("/")[:-1]
                for depth in range(1, len(parents) + 1):
                    directory = "/".join(parents[:depth])
                    if directory not in seen:
                        seen.add(directory)
                        tar.addfile(tar_info(directory + "/", directory=True))
                if isinstance(data, bytes):
                    tar.addfile(tar_info(name, len(data)), io.BytesIO(data))
                else:
                    with open(data, "rb") as stream:
                        tar.addfile(tar_info(name, os.fstat(stream.fileno()).st_size), stream)
        os.replace(temporary, dest)
    finally:
        temporary.unlink(missing_ok=True)


def blob_path(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def docker_archive_manifest(image: FetchedImage) -> bytes:
    """manifest.json of the archive (docker save's: Config, RepoTags, Layers)."""
    entry = {"Config": blob_path(image.config.digest), "RepoTags": [image.ref],
             "Layers": [blob_path(layer.digest) for layer in image.layers]}
    return json.dumps([entry], separators=(",", ":")).encode()


def write_docker_archive(image: FetchedImage, store: Path, dest: Path) -> None:
    """The `docker load` archive of a fetched image, from the blobs in `store`; deterministic bytes."""
    blobs = {blob.digest: store / "sha256" / blob.digest.split(":", 1)[1] for blob in (image.config, *image.layers)}
    write_tar(dest, [("manifest.json", docker_archive_manifest(image)),
                     *((blob_path(digest), path) for digest, path in sorted(blobs.items()))])


# ---------------------------------------------------------------- what docker load checks

def _open_layer(stream) -> io.BufferedIOBase:
    head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=stream)
    if head[:4] == b"\x28\xb5\x2f\xfd":
        raise ImageError("a zstd layer (docker 23+ only): not checked here")
    return stream


def check_docker_archive(path: Path, *, layers: bool = True) -> list[str]:
    """The problems `docker load` would have with the archive at `path`, [] when none: manifest.json a
    list of {Config, RepoTags, Layers} whose files exist; each config JSON with `os` linux and
    `rootfs.diff_ids` as many as Layers; each RepoTag a name:tag; with `layers`, each layer (plain or
    gzip'd tar) hashing to its diff_id, as docker computes it after decompression."""
    problems: list[str] = []
    with tarfile.open(path) as tar:
        names = {member.name.rstrip("/"): member for member in tar.getmembers()}

        def read(name: str):
            member = names.get(name)
            if member is None or not member.isfile():
                problems.append(f"{name} is not in the archive")
                return None
            return tar.extractfile(member)

        stream = read("manifest.json")
        if stream is None:
            return problems
        try:
            manifest = json.loads(stream.read())
        except ValueError:
            return ["manifest.json is not JSON"]
        if not isinstance(manifest, list) or not manifest:
            return ["manifest.json is not a list of images"]
        for number, item in enumerate(manifest):
            if not isinstance(item, dict) or not isinstance(item.get("Config"), str) \
                    or not isinstance(item.get("Layers"), list):
                problems.append(f"manifest.json entry {number} has no Config and Layers")
                continue
            for tag in item.get("RepoTags") or []:
                try:
                    split_ref(tag)
                except ImageError:
                    problems.append(f"RepoTag {tag!r} is not a name:tag")
            config_file = read(item["Config"])
            if config_file is None:
                continue
            try:
                config = json.loads(config_file.read())
                diff_ids = config["rootfs"]["diff_ids"]
            except (ValueError, KeyError, TypeError):
                problems.append(f"{item['Config']} is not an image config with rootfs.diff_ids")
                continue
            if config.get("os") != "linux":
                problems.append(f"{item['Config']}: os {config.get('os')!r}, docker loads linux images only here")
            if len(diff_ids) != len(item["Layers"]):
                problems.append(f"invalid manifest, layers length mismatch: expected {len(item['Layers'])}, "
                                f"got {len(diff_ids)}")
                continue
            for index, (layer, diff_id) in enumerate(zip(item["Layers"], diff_ids, strict=True)):
                stream = read(layer)
                if stream is None or not layers:
                    continue
                sha = hashlib.sha256()
                with _open_layer(io.BufferedReader(stream)) as data:
                    while chunk := data.read(CHUNK):
                        sha.update(chunk)
                if "sha256:" + sha.hexdigest() != diff_id:
                    problems.append(f"invalid diffID for layer {index}: expected {diff_id},"
                                    f" got sha256:{sha.hexdigest()}")
    return problems
