"""Installing from an offline bundle (``python -m jetson_ollama bundle``): the Ollama image loaded from
its ``docker load`` archive, a model copied from its Ollama store subtree. Files go from the controller
to a staging directory on the board, are checked there by sha256 and removed once installed."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import IO, Any

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.operations import files

from ..facts.containers import DockerImages
from ..facts.models import OllamaManifests
from ..progress import log_path, printed, watched
from .models import FETCH_SCRIPT, FETCH_SCRIPT_DEST, _listed, damaged_removed, model_name
from .ollama import _check_ref, _find_image

STAGING = "/var/lib/jetson-ollama/bundle"
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_STORE_FILE_RE = re.compile(r"manifests/registry\.ollama\.ai/library/"
                            r"[A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*"
                            r"|blobs/sha256-[0-9a-f]{64}")


def _check_staging(staging: str) -> str:
    if not isinstance(staging, str) or not posixpath.isabs(staging) or posixpath.normpath(staging) in ("/", "//"):
        raise OperationError(f"staging must be an absolute directory other than /, not {staging!r}")
    return posixpath.normpath(staging)


def _check_src(src: Any, what: str) -> None:
    if not (isinstance(src, str) and src) and not hasattr(src, "read"):
        raise OperationError(f"{what} must be a file on the controller (a path or a file object), not {src!r}")


@operation()
def image_loaded(
    ref: str,
    src: str | IO[Any],
    sha256: str,
    image_id: str,
    *,
    staging: str = STAGING,
):
    """
    Ensure a docker image is present, loaded from a ``docker load`` archive on the controller when it is not.

    + ref: the image with its tag, e.g. ``dustynv/ollama:r36.4.3``, as the archive's manifest.json names it
    + src: the archive on the controller, a path or a file object (``Bundle.open(...)``)
    + sha256: the archive's sha256, ``sha256:<64 hex>`` (the bundle's index.json records it)
    + image_id: the id the loaded image must have, ``sha256:<64 hex>`` (the digest of its config)
    + staging: the directory on the board the archive waits in while it loads

    The archive is put in ``staging`` (not uploaded again while a file with its sha1 is there), checked
    with ``sha256sum`` (a mismatch removes it and fails), loaded, and ``ref`` must then name
    ``image_id``; the archive is removed after the load. An image that is present is never loaded again.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import bundle

        bundle.image_loaded(
            name="Load the Ollama image from the bundle",
            ref="dustynv/ollama:r36.4.3",
            src="images/dustynv_ollama_r36.4.3.tar",
            sha256="sha256:" + "4" * 64,
            image_id="sha256:" + "c" * 64,
            _sudo=True,
        )
    """
    _check_ref(ref)
    _check_src(src, "src")
    for label, digest in (("sha256", sha256), ("image_id", image_id)):
        if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
            raise OperationError(f"{label} must be a sha256:<64 hex> digest, not {digest!r}")
    staging = _check_staging(staging)
    if _find_image(host.get_fact(DockerImages), ref):
        host.noop(f"image {ref} already present")
        return
    archive = posixpath.join(staging, sha256.split(":", 1)[1][:32] + ".tar")
    yield from files.put._inner(src=src, dest=archive, mode="600")
    yield StringCommand(
        "echo", QuoteString(f"{sha256.split(':', 1)[1]}  {archive}"), "| sha256sum -c --status || { rm -f",
        QuoteString(archive), "; echo", QuoteString(f"the archive of {ref} does not match its {sha256[:19]}..."),
        ">&2; exit 1; }",
    )
    yield watched(StringCommand("docker load -i", QuoteString(archive)), f"load {ref}", log_path(f"load-{ref}"),
                  "docker")
    yield StringCommand(
        "[ \"$(docker image inspect -f '{{.Id}}'", QuoteString(ref), '2>/dev/null)" =', QuoteString(image_id),
        "] || { echo", QuoteString(f"{ref} is not the image {image_id[:19]}... after the load"), ">&2; exit 1; }",
    )
    yield StringCommand("rm -f", QuoteString(archive))


@operation()
def model_copied(
    model: str,
    models_dir: str,
    manifest: str,
    store_files: Mapping[str, str | IO[Any]],
    *,
    staging: str = STAGING,
    damaged: list[str] | None = None,
):
    """
    Ensure an Ollama store on disk holds a model as a manifest digest pins it, copied from files on the controller.

    + model: a library model, e.g. ``qwen2.5:0.5b``
    + models_dir: the store, e.g. ``/opt/ollama/models`` (what the container mounts)
    + manifest: the manifest's digest, ``sha256:<64 hex>``, e.g. from models.lock
    + store_files: the model's files by their path in an Ollama store, each a path or a file object on
      the controller: ``manifests/registry.ollama.ai/library/<name>/<tag>`` and ``blobs/sha256-<hex>``
      (``Bundle.model_files(...)``)
    + staging: the directory on the board the files wait in while they are copied
    + damaged: blobs of the model in ``models_dir`` that are missing, truncated or corrupt (``OllamaBlobs``):
      they and the manifest are removed and the model copied again

    The files are put in ``staging`` as a store of their own (blobs another model in ``models_dir``
    already names are not sent), copied into ``models_dir`` by ``ollama-fetch.py --store file://...``
    (``files/``): every blob checked for sha256 and size, the manifest last and only when it is
    ``manifest``; a mismatch fails the operation and installs nothing. The staged files are removed.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import bundle

        bundle.model_copied(
            name="qwen2.5:0.5b from the bundle",
            model="qwen2.5:0.5b",
            models_dir="/opt/ollama/models",
            manifest="sha256:" + "0" * 64,
            store_files={"manifests/registry.ollama.ai/library/qwen2.5/0.5b": "models/manifest",
                         "blobs/sha256-" + "1" * 64: "models/blob"},
            _sudo=True,
        )
    """
    name = model_name(model)
    if "/" in name:
        raise OperationError(f"model_copied copies library models only, not {name}")
    if not isinstance(models_dir, str) or not posixpath.isabs(models_dir):
        raise OperationError(f"models_dir must be an absolute path, not {models_dir!r}")
    if not isinstance(manifest, str) or not _DIGEST_RE.fullmatch(manifest):
        raise OperationError(f"manifest must be a sha256:<64 hex> digest, not {manifest!r}")
    if not isinstance(store_files, Mapping) or not store_files:
        raise OperationError(f"store_files must map store paths to files, not {store_files!r}")
    base, _, tag = name.partition(":")
    manifest_path = f"manifests/registry.ollama.ai/library/{base}/{tag}"
    for path, src in store_files.items():
        if not isinstance(path, str) or not _STORE_FILE_RE.fullmatch(path):
            raise OperationError(f"store_files paths are manifests/registry.ollama.ai/library/<name>/<tag> or "
                                 f"blobs/sha256-<hex>, not {path!r}")
        _check_src(src, f"store_files[{path!r}]")
    if manifest_path not in store_files:
        raise OperationError(f"store_files has no {manifest_path}")
    staging = _check_staging(staging)

    stored = host.get_fact(OllamaManifests, models_dir=models_dir)
    on_disk = stored[key] if (key := _listed(stored, name)) else None
    if on_disk and "sha256:" + on_disk["manifest_sha256"] == manifest and not damaged:
        host.noop(f"model {name} already in {models_dir}")
        return
    if damaged:
        yield damaged_removed(models_dir, name, damaged)
    in_store = {digest.replace(":", "-") for entry in stored.values() for digest in entry["blobs"]
                if digest not in (damaged or ())}
    store = posixpath.join(staging, "models", base, tag)
    for path in sorted(store_files):
        if path.startswith("blobs/") and path.split("/", 1)[1] in in_store:
            continue  # ollama-fetch.py finds it in models_dir
        yield from files.put._inner(src=store_files[path], dest=posixpath.join(store, path), mode="644")
    yield from files.put._inner(src=str(FETCH_SCRIPT), dest=FETCH_SCRIPT_DEST)
    yield printed(StringCommand(  # its progress lines, at pyinfra's default verbosity too
        "python3", QuoteString(FETCH_SCRIPT_DEST), "--model", QuoteString(name),
        "--models-dir", QuoteString(models_dir),
        "--store", QuoteString(f"file://{store}"), "--expect-manifest", QuoteString(manifest),
    ))
    # the staged store and the directories it made, so nothing of it stays on the board
    yield StringCommand("rm -rf", QuoteString(store), "&& rmdir --ignore-fail-on-non-empty",
                        QuoteString(posixpath.join(staging, "models", base)),
                        QuoteString(posixpath.join(staging, "models")))
