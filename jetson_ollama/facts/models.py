"""Facts about Ollama's models: what its API lists, what its store on disk holds, and what the
registry serves for a tag, fetched from the board (docs/facts.md section 5).

Every command succeeds on any Linux host; when the API, the store or the registry cannot be read each
yields an empty dict (or, for the registry, one with an ``error``), never ``None``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import TypedDict, override

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"

_PART_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

# one JSON line per library manifest: its tag, the sha256 of its bytes and the parsed JSON
# (None when it does not parse); dot files are Ollama's half-written manifests
_MANIFESTS_PY = """import hashlib, json, os, sys
root = os.path.join(sys.argv[1], "manifests", "registry.ollama.ai", "library")
for model in sorted(os.listdir(root)) if os.path.isdir(root) else []:
    folder = os.path.join(root, model)
    for tag in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, tag)
        if tag.startswith(".") or not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            continue
        try:
            manifest = json.loads(raw.decode())
        except ValueError:
            manifest = None
        print(json.dumps({"name": model + ":" + tag, "sha256": hashlib.sha256(raw).hexdigest(),
                          "manifest": manifest}, sort_keys=True))
"""

# curl through python3, so the manifest's exact bytes are hashed and curl's own error kept
_REGISTRY_PY = """import hashlib, json, subprocess, sys
try:
    curl = subprocess.Popen(["curl", "-fsS", "--max-time", "15", "-H", "Accept: " + sys.argv[2], sys.argv[1]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
except OSError as err:
    print(json.dumps({"error": "curl: " + str(err)}))
    sys.exit()
body, error = curl.communicate()
if curl.returncode:
    lines = error.decode(errors="replace").strip().splitlines()
    print(json.dumps({"error": lines[-1] if lines else "curl exit %d" % curl.returncode}))
    sys.exit()
try:
    manifest = json.loads(body.decode())
except ValueError:
    manifest = None
if not isinstance(manifest, dict):
    print(json.dumps({"error": "the registry answered with something other than a manifest"}))
else:
    print(json.dumps({"sha256": hashlib.sha256(body).hexdigest(), "manifest": manifest, "error": ""}))
"""


def manifest_blobs(manifest: Any) -> list[str]:
    """The digests a Docker v2 manifest names, config first then the layers; ``[]`` when it is not one."""
    try:
        digests = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
    except (KeyError, TypeError):
        return []
    return digests if all(isinstance(digest, str) and digest for digest in digests) else []


def registry_path(model: str) -> str:
    """``qwen2.5:7b`` -> ``library/qwen2.5/manifests/7b``; ``user/model`` -> ``user/model/manifests/latest``.
    Raises ValueError for anything else (a host, more path parts, odd characters)."""
    rest, tag = model, "latest"
    if model.rfind(":") > model.rfind("/"):
        rest, _, tag = model.rpartition(":")
    parts = rest.split("/")
    if len(parts) == 1:
        parts = ["library", *parts]
    if len(parts) != 2 or not all(_PART_RE.fullmatch(part) for part in [*parts, tag]):
        raise ValueError(f"model must be a name like qwen2.5:7b or user/model:tag, not {model!r}")
    return f"{parts[0]}/{parts[1]}/manifests/{tag}"


class ModelDict(TypedDict):
    digest: str
    size: int


class OllamaModels(FactBase[dict[str, ModelDict]]):
    """
    Returns the models the Ollama API at ``url`` lists (``GET /api/tags``), by name as Ollama shows
    it (``qwen2.5:7b``, ``user/model:tag``): their ``digest`` (the sha256 hex of the manifest file)
    and ``size`` in bytes; ``{}`` when the API does not answer. Facts section 5.

    + url: base URL of the API, default ``http://127.0.0.1:11434`` (the board's loopback)
    """

    @override
    def command(self, url: str = "http://127.0.0.1:11434") -> StringCommand:
        return StringCommand(
            "curl -fsS --max-time 5", QuoteString(url.rstrip("/") + "/api/tags"), "2>/dev/null || true",
        )

    @staticmethod
    def default() -> dict[str, ModelDict]:
        return {}

    @override
    def process(self, output: list[str]) -> dict[str, ModelDict]:
        try:
            listed = json.loads("\n".join(output)).get("models")
        except (ValueError, AttributeError):
            return {}
        models: dict[str, ModelDict] = {}
        for model in listed if isinstance(listed, list) else []:
            if not isinstance(model, dict):
                continue
            name = model.get("name") or model.get("model")
            if not isinstance(name, str) or not name:
                continue
            size, digest = model.get("size"), model.get("digest")
            models[name] = {
                "digest": digest if isinstance(digest, str) else "",
                "size": size if isinstance(size, int) and not isinstance(size, bool) else 0,
            }
        return models


class ManifestDict(TypedDict):
    blobs: list[str]
    manifest_sha256: str


class OllamaManifests(FactBase[dict[str, ManifestDict]]):
    """
    Returns the library models in the store on disk, by name (``qwen2.5:7b``): the ``blobs`` their
    manifest names (``sha256:...``, config first, then the layers) and ``manifest_sha256``, the
    sha256 hex of the manifest file (what ``/api/tags`` calls ``digest``). Read from
    ``MODELS_DIR/manifests/registry.ollama.ai/library/<name>/<tag>`` with ``python3``; ``{}`` when
    there is no store, or it cannot be read (the store is root's: use ``_sudo=True``). Only models
    of ``registry.ollama.ai/library/``. Facts section 5.

    + models_dir: the store on the board, e.g. ``/opt/ollama/models`` (what the container mounts)
    """

    @override
    def command(self, models_dir: str) -> StringCommand:
        return StringCommand("python3 -c", QuoteString(_MANIFESTS_PY), QuoteString(models_dir), "2>/dev/null || true")

    @staticmethod
    def default() -> dict[str, ManifestDict]:
        return {}

    @override
    def process(self, output: list[str]) -> dict[str, ManifestDict]:
        manifests: dict[str, ManifestDict] = {}
        for line in output:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict) or not isinstance(row.get("name"), str):
                continue
            blobs = manifest_blobs(row.get("manifest"))
            if blobs:  # a manifest that does not parse is no model Ollama would list
                manifests[row["name"]] = {"blobs": blobs, "manifest_sha256": str(row.get("sha256", ""))}
        return manifests


class RegistryManifestDict(TypedDict, total=False):
    sha256: str
    manifest: dict[str, Any]
    error: str


class RegistryManifest(FactBase[RegistryManifestDict]):
    """
    Returns the manifest the registry serves for ``model``, fetched from the board with
    ``curl -fsS --max-time 15`` and the Docker v2 ``Accept`` header: ``sha256`` (hex of the manifest
    bytes), ``manifest`` (the parsed JSON) and ``error`` ``""``; or only ``error`` (curl's message,
    e.g. ``curl: (22) The requested URL returned error: 404``) when it fails; ``{}`` without
    ``python3`` on the board. Facts section 5.

    + model: ``qwen2.5:7b`` (``/v2/library/qwen2.5/manifests/7b``), ``user/model:tag``
      (``/v2/user/model/manifests/tag``); no tag means ``latest``
    + registry: base URL of the registry, default ``https://registry.ollama.ai``
    """

    @override
    def command(self, model: str, registry: str = "https://registry.ollama.ai") -> StringCommand:
        url = f"{registry.rstrip('/')}/v2/{registry_path(model)}"
        return StringCommand(
            "python3 -c", QuoteString(_REGISTRY_PY), QuoteString(url), QuoteString(MANIFEST_V2), "2>/dev/null || true",
        )

    @staticmethod
    def default() -> RegistryManifestDict:
        return {}

    @override
    def process(self, output: list[str]) -> RegistryManifestDict:
        if not output:
            return {}
        try:
            row = json.loads("\n".join(output))
        except ValueError:
            return {"error": "no answer from the board: " + " ".join(output)[:200]}
        if not isinstance(row, dict):
            return {"error": "no answer from the board"}
        if row.get("error") or not isinstance(row.get("manifest"), dict) or not row.get("sha256"):
            return {"error": str(row.get("error") or "no manifest")}
        return {"sha256": str(row["sha256"]), "manifest": row["manifest"], "error": ""}


# every blob the store's manifests name must be there with its size; every blob file must hash to its name.
# A blob is hashed only when its (size, mtime_ns, inode) differs from what the memo kept at its last
# verified hash (or always with "full"); the memo is rewritten only when it changes, and a memo that
# cannot be written means hashing again next time, never a failure.
_BLOBS_PY = """import hashlib, json, os, re, sys
root, memo_path, full = sys.argv[1], sys.argv[2], sys.argv[3] == "full"
blobs = os.path.join(root, "blobs")
sizes = {}
for folder, _, names in os.walk(os.path.join(root, "manifests")):
    for name in names:
        if name.startswith("."):
            continue
        try:
            with open(os.path.join(folder, name), "rb") as f:
                manifest = json.loads(f.read().decode())
            layers = [manifest["config"]] + list(manifest["layers"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for layer in layers:
            if isinstance(layer, dict) and isinstance(layer.get("digest"), str) and isinstance(layer.get("size"), int):
                sizes[layer["digest"]] = layer["size"]
try:
    with open(memo_path) as f:
        memo = json.load(f)
    memo = memo if isinstance(memo, dict) else {}
except (OSError, ValueError):
    memo = {}
damaged, kept, hashed = {}, {}, 0
files = set(os.listdir(blobs)) if os.path.isdir(blobs) else set()
for digest, size in sorted(sizes.items()):
    if digest.replace(":", "-") not in files:
        damaged[digest] = "missing"
for name in sorted(files):
    if not re.match(r"sha256-[0-9a-f]{64}$", name):
        continue
    digest, path = name.replace("-", ":"), os.path.join(blobs, name)
    try:
        st = os.stat(path)
    except OSError:
        continue
    want = sizes.get(digest)
    if want is not None and st.st_size != want:
        damaged[digest] = "%d bytes, the manifest says %d" % (st.st_size, want)
        continue
    key = [st.st_size, st.st_mtime_ns, st.st_ino]
    if not full and memo.get(digest) == key:
        kept[digest] = key
        continue
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as err:
        damaged[digest] = "unreadable: %s" % err.strerror
        continue
    hashed += st.st_size
    if "sha256:" + h.hexdigest() == digest:
        kept[digest] = key
    else:
        damaged[digest] = "its sha256 is not its digest"
if kept != memo:
    try:
        os.makedirs(os.path.dirname(memo_path), exist_ok=True)
        with open(memo_path + ".tmp", "w") as f:
            json.dump(kept, f, sort_keys=True)
        os.replace(memo_path + ".tmp", memo_path)
    except OSError:
        pass
print(json.dumps({"damaged": damaged, "checked": len(kept) + len(damaged), "hashed_bytes": hashed}, sort_keys=True))
"""

BLOB_MEMO = "/var/lib/jetson-ollama/verified-blobs.json"


class BlobsDict(TypedDict, total=False):
    damaged: dict[str, str]
    checked: int
    hashed_bytes: int


class OllamaBlobs(FactBase[BlobsDict]):
    """
    Returns the blobs of the store on disk that Ollama would serve damaged: ``damaged`` maps each
    ``sha256:...`` to why (``missing``: a manifest names it and there is no file; ``120 bytes, the
    manifest says 400``; ``its sha256 is not its digest``), ``checked`` the blobs looked at, and
    ``hashed_bytes`` what was read to hash them. Ollama never checks a blob it has (docs/facts.md section 5:
    a pull skips a blob that exists, a load does not hash), so a damaged one is served until replaced.

    Sizes are checked on every read; a blob is hashed when its size, mtime or inode changed since its last
    verified hash, kept in ``memo`` on the board (a cache of hashes: writing it changes nothing a user
    sees), or every blob with ``full=True``. The store is root's: use ``_sudo=True``. ``damaged`` is
    empty when there is no store; ``{}`` without python3.

    + models_dir: the store, e.g. ``/opt/ollama/models``
    + memo: where the verified hashes are kept, default ``/var/lib/jetson-ollama/verified-blobs.json``
    + full: hash every blob
    """

    @override
    def command(self, models_dir: str, memo: str = BLOB_MEMO, full: bool = False) -> StringCommand:
        return StringCommand("python3 -c", QuoteString(_BLOBS_PY), QuoteString(models_dir), QuoteString(memo),
                             "full" if full else "changed", "2>/dev/null || true")

    @staticmethod
    def default() -> BlobsDict:
        return {}

    @override
    def process(self, output: list[str]) -> BlobsDict:
        try:
            row = json.loads(output[-1])
        except (ValueError, IndexError):
            return self.default()
        damaged = row.get("damaged") if isinstance(row, dict) else None
        if not isinstance(damaged, dict):
            return self.default()
        return {"damaged": {str(k): str(v) for k, v in damaged.items()},
                "checked": int(row.get("checked") or 0), "hashed_bytes": int(row.get("hashed_bytes") or 0)}
