"""Ollama's models: pulled through the board-side script ``files/ollama-pull.py`` (which checks every
line of the pull stream, docs/facts.md section 5, and the pulled blobs against models.lock), deleted, pruned."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.operations import files

from jetson_ollama.facts.models import OllamaManifests, OllamaModels
from jetson_ollama.progress import ProgressCommand, printed
from jetson_ollama.resources import FILES

PULL_SCRIPT = FILES / "ollama-pull.py"
PULL_SCRIPT_DEST = "/usr/local/lib/jetson-ollama/ollama-pull.py"
FETCH_SCRIPT = FILES / "ollama-fetch.py"
FETCH_SCRIPT_DEST = "/usr/local/lib/jetson-ollama/ollama-fetch.py"

_HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*(?::\d+)?")
_PART_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_URL_RE = re.compile(r"https?://[^\s/]+(/\S*)?")


def model_name(model: str) -> str:
    """The name ``/api/tags`` lists for ``model``: ``qwen2.5`` -> ``qwen2.5:latest``,
    ``registry.ollama.ai/library/qwen2.5:7b`` -> ``qwen2.5:7b``, ``user/model:tag`` and
    ``hf.co/user/model:tag`` as they are. Raises OperationError for a name Ollama would refuse."""
    parts = model.split("/") if isinstance(model, str) else []
    base, colon, tag = parts[-1].partition(":") if parts else ("", "", "")
    if not (
        1 <= len(parts) <= 3
        and (len(parts) < 3 or _HOST_RE.fullmatch(parts[0]))
        and all(_PART_RE.fullmatch(part) for part in [*parts[-2:-1], base])
        and (not colon or _PART_RE.fullmatch(tag))
    ):
        raise OperationError(f"model must be an Ollama model name like qwen2.5:7b, not {model!r}")
    if len(parts) == 3 and parts[0] == "registry.ollama.ai":
        parts = parts[1:]
    if len(parts) == 2 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts) + ("" if colon else ":latest")


def _listed(models: Mapping[str, Any], name: str) -> str | None:
    """The name under which Ollama lists ``name`` (it compares names without regard to case)."""
    return next((listed for listed in models if listed.casefold() == name.casefold()), None)


def _check_url(url: object) -> str:
    if not isinstance(url, str) or not _URL_RE.fullmatch(url):
        raise OperationError(f"url must be an http(s) URL like http://127.0.0.1:11434, not {url!r}")
    return url.rstrip("/")


def _short(digests: Iterable[str]) -> str:
    return ", ".join(digest[:19] for digest in sorted(digests)) or "none"


def damaged_removed(models_dir: str, name: str, damaged: Iterable[str]) -> StringCommand:
    """The command that takes a damaged model's blobs and its manifest out of the store, so that the
    fetch after it cannot keep them (Ollama skips a blob that exists: docs/facts.md section 5)."""
    if isinstance(damaged, str) or not all(isinstance(d, str) and _DIGEST_RE.fullmatch(d) for d in damaged):
        raise OperationError(f"damaged must be a list of sha256:<64 hex> digests, not {damaged!r}")
    rest, _, tag = model_name(name).rpartition(":")
    parts = rest.split("/")  # the store's path: <host>/<namespace>/<model>/<tag> (docs/facts.md section 5)
    where = {1: ["registry.ollama.ai", "library"], 2: ["registry.ollama.ai"], 3: []}[len(parts)] + parts
    paths = [posixpath.join(models_dir, "blobs", digest.replace(":", "-")) for digest in sorted(damaged)]
    manifest = posixpath.join(models_dir, "manifests", *where, tag)
    return StringCommand("rm -f", *(QuoteString(path) for path in [*paths, manifest]))


def unloaded(url: str, name: str) -> StringCommand:
    """The command that unloads ``name`` (a runner may still map the damaged file); no model loaded is no error."""
    body = json.dumps({"model": name, "keep_alive": 0})
    return StringCommand("curl -fsS --max-time 30 -o /dev/null -d", QuoteString(body),
                         QuoteString(url.rstrip("/") + "/api/generate"), "|| true")


def _script():
    """Puts the pull script on the board (nothing when it is there already)."""
    yield from files.put._inner(src=str(PULL_SCRIPT), dest=PULL_SCRIPT_DEST)


@operation()
def present(
    model: str,
    url: str = "http://127.0.0.1:11434",
    models_dir: str = "/opt/ollama/models",
    expect_blobs: list[str] | None = None,
    damaged: list[str] | None = None,
):
    """
    Ensure Ollama has a model, pulling it through its API when it does not.

    + model: the model, e.g. ``qwen2.5:7b`` (no tag means ``latest``)
    + url: base URL of the Ollama API on the board (its loopback: the controller cannot reach it)
    + models_dir: the model store on the board, the directory the container mounts
    + expect_blobs: the ``sha256:...`` digests the model's manifest must name (config and layers,
      any order), e.g. from models.lock; ``None`` takes whatever the tag names upstream
    + damaged: blobs of the model on the board that are missing, truncated or corrupt (``OllamaBlobs``):
      they and the manifest are removed, the model pulled again and unloaded, whatever the store says

    The pull runs ``ollama-pull.py`` (``files/``, put on the board in ``/usr/local/lib/jetson-ollama``):
    it checks every line of the NDJSON stream, as Ollama reports errors inside an HTTP 200, prints
    one progress line every 4 s (model, bytes done of the total, rate, ETA: pyinfra shows it at its
    default verbosity, ``jetson_ollama.progress.ProgressCommand``), and fails when the stream ends
    before ``success``; the next run resumes, as Ollama keeps partial blobs. Nothing is checked on
    the controller: the API is on the board's loopback.

    With ``expect_blobs`` the store on disk decides (``OllamaManifests``, which reads it as root
    with ``_sudo=True``): a manifest naming other blobs stops the operation before anything
    changes, one naming exactly these counts as present even when the API did not answer while facts
    were collected, and a model Ollama lists without a manifest in ``models_dir`` is an error (a
    ``models_dir`` that is not the mounted store). After a pull the script compares the pulled
    manifest and exits 2 on a difference: the tag was retagged upstream. Library models only.

    **Examples:**

    .. code:: python

        from jetson_ollama import lock
        from jetson_ollama.operations import models

        models.present(
            name="Pull qwen2.5:7b as models.lock pins it",
            model="qwen2.5:7b",
            expect_blobs=lock.load("models.lock")["qwen2.5:7b"].blob_digests,
            _sudo=True,
        )
    """
    name = model_name(model)
    base = _check_url(url)
    if not isinstance(models_dir, str) or not posixpath.isabs(models_dir):
        raise OperationError(f"models_dir must be an absolute path, not {models_dir!r}")
    if expect_blobs is not None:
        if isinstance(expect_blobs, str) or not expect_blobs or \
                not all(isinstance(digest, str) and _DIGEST_RE.fullmatch(digest) for digest in expect_blobs):
            raise OperationError(f"expect_blobs must be a list of sha256:<64 hex> digests, not {expect_blobs!r}")
        if "/" in name:
            raise OperationError(f"expect_blobs is checked for library models only, not {name}")

    if damaged:
        yield from _script()
        yield damaged_removed(models_dir, name, damaged)
        yield _pull(base, name, expect_blobs, models_dir)
        yield unloaded(base, name)
        return
    served = host.get_fact(OllamaModels, url=url)
    listed = _listed(served, name)
    if expect_blobs is not None:
        stored = host.get_fact(OllamaManifests, models_dir=models_dir)
        on_disk = stored[key] if (key := _listed(stored, name)) else None
        if on_disk and set(on_disk["blobs"]) != set(expect_blobs):
            raise OperationError(
                f"{name} on this board differs from models.lock (missing"
                f" {_short(set(expect_blobs) - set(on_disk['blobs']))}; not in the lock"
                f" {_short(set(on_disk['blobs']) - set(expect_blobs))}): delete it to pull the locked one"
            )
        if listed and not on_disk:
            raise OperationError(
                f"{name} is listed by Ollama but has no manifest under {models_dir}: is models_dir the store"
                " the container mounts, and readable (_sudo=True)?"
            )
        if on_disk:
            host.noop(f"model {name} already present")
            return
    elif listed:
        host.noop(f"model {name} already present")
        return

    yield from _script()
    yield _pull(base, name, expect_blobs, models_dir)


def _pull(base: str, name: str, expect_blobs: list[str] | None, models_dir: str) -> ProgressCommand:
    command: list[Any] = ["python3", QuoteString(PULL_SCRIPT_DEST), "--url", QuoteString(base),
                          "--model", QuoteString(name)]
    if expect_blobs is not None:
        command += ["--expect-blobs", QuoteString(",".join(expect_blobs))]
    return ProgressCommand(*command, "--models-dir", QuoteString(models_dir))  # its progress lines, printed


@operation()
def absent(model: str, url: str = "http://127.0.0.1:11434"):
    """
    Ensure Ollama does not have a model, deleting it through its API.

    + model: the model, e.g. ``qwen2.5:7b`` (no tag means ``latest``)
    + url: base URL of the Ollama API on the board

    Only a model the API lists is deleted (``DELETE /api/delete``, through ``ollama-pull.py --delete``,
    which takes a 404 as already absent); Ollama removes the blobs no other model uses.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import models

        models.absent(
            name="Remove llama3.2:1b",
            model="llama3.2:1b",
            _sudo=True,
        )
    """
    name = model_name(model)
    base = _check_url(url)
    served = host.get_fact(OllamaModels, url=url)
    listed = _listed(served, name)
    if not listed:
        host.noop(f"model {name} already absent")
        return
    yield from _script()
    yield StringCommand("python3", QuoteString(PULL_SCRIPT_DEST), "--url", QuoteString(base), "--delete",
                        QuoteString(listed))


@operation()
def pruned(keep: list[str], url: str = "http://127.0.0.1:11434"):
    """
    Ensure Ollama has no model outside a set, deleting the others through its API.

    + keep: the models to keep, e.g. ``["qwen2.5:7b", "llama3.2"]`` (no tag means ``latest``);
      ``[]`` deletes every model
    + url: base URL of the Ollama API on the board

    Deletes what ``/api/tags`` lists and ``keep`` does not name, one ``ollama-pull.py --delete`` each;
    a model in ``keep`` that is missing is not pulled (see ``present``).

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import models

        models.pruned(
            name="Remove models outside the catalog",
            keep=["qwen2.5:7b", "llama3.2:3b"],
            _sudo=True,
        )
    """
    if isinstance(keep, str) or not isinstance(keep, (list, tuple, set, frozenset)):
        raise OperationError(f"keep must be a list of model names, not {keep!r}")
    wanted = {model_name(model).casefold() for model in keep}
    base = _check_url(url)
    extra = sorted(listed for listed in host.get_fact(OllamaModels, url=url) if listed.casefold() not in wanted)
    if not extra:
        host.noop("no models outside the set")
        return
    yield from _script()
    for listed in extra:
        yield StringCommand("python3", QuoteString(PULL_SCRIPT_DEST), "--url", QuoteString(base), "--delete",
                            QuoteString(listed))


@operation()
def fetched(
    model: str,
    models_dir: str,
    manifest: str,
    *,
    registry: str | None = None,
    store: str | None = None,
    damaged: list[str] | None = None,
):
    """
    Ensure an Ollama store on disk holds a model exactly as a manifest digest pins it.

    + model: a library model, e.g. ``qwen2.5:7b``
    + models_dir: the store, e.g. ``/opt/ollama/models`` (what the container mounts) or the cache
      host's ``/srv/jetson-ollama/models``
    + manifest: the manifest's digest, ``sha256:<64 hex>``, e.g. from models.lock
    + registry: fetch from this Ollama registry, e.g. ``https://registry.ollama.ai`` (the download)
    + store: or from this HTTP server over an Ollama store, e.g. ``http://10.0.0.5:11480`` (the copy)
    + damaged: blobs of the model in ``models_dir`` that are missing, truncated or corrupt (``OllamaBlobs``):
      they and the manifest are removed and the model copied again, whatever the store says

    The model is copied blob by blob from an Ollama registry or from another store served over HTTP
    (the fleet's cache) by ``ollama-fetch.py`` (``files/``, put in ``/usr/local/lib/jetson-ollama``):
    every blob is checked for sha256 and size before it takes its name, a blob already there is not
    fetched again, and the manifest is written last, atomically; a manifest or blob that does not
    match fails the operation with both digests and installs nothing (docs/facts.md section 5: Ollama neither
    re-verifies blobs nor tolerates a manifest before its blobs). A running Ollama lists the model at once.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import models

        models.fetched(
            name="qwen2.5:7b from the fleet's cache",
            model="qwen2.5:7b",
            models_dir="/opt/ollama/models",
            manifest="sha256:" + "0" * 64,
            store="http://10.0.0.5:11480",
            _sudo=True,
        )
    """
    name = model_name(model)
    if "/" in name:
        raise OperationError(f"fetched copies library models only, not {name}")
    if not isinstance(models_dir, str) or not posixpath.isabs(models_dir):
        raise OperationError(f"models_dir must be an absolute path, not {models_dir!r}")
    if not isinstance(manifest, str) or not _DIGEST_RE.fullmatch(manifest):
        raise OperationError(f"manifest must be a sha256:<64 hex> digest, not {manifest!r}")
    if (registry is None) == (store is None):
        raise OperationError("fetched needs exactly one source: registry= or store=")
    source = _check_url(registry if store is None else store)

    if damaged:
        yield damaged_removed(models_dir, name, damaged)
    else:
        stored = host.get_fact(OllamaManifests, models_dir=models_dir)
        on_disk = stored[key] if (key := _listed(stored, name)) else None
        if on_disk and "sha256:" + on_disk["manifest_sha256"] == manifest:
            host.noop(f"model {name} already in {models_dir}")
            return
    yield from files.put._inner(src=str(FETCH_SCRIPT), dest=FETCH_SCRIPT_DEST)
    yield printed(StringCommand(  # its progress lines, at pyinfra's default verbosity too
        "python3", QuoteString(FETCH_SCRIPT_DEST), "--model", QuoteString(name),
        "--models-dir", QuoteString(models_dir),
        "--registry" if store is None else "--store", QuoteString(source), "--expect-manifest", QuoteString(manifest),
    ))
