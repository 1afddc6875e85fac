"""Ollama without docker (``jetson_runtime: native``): the official release archives, each checked
against a pinned sha256 before it is unpacked (never ``curl | sh``), the model store owned by the
service's user, and the container of the other runtime out of the way (docs/facts.md section 5)."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.operations import files

from jetson_ollama.facts.containers import OllamaContainer
from jetson_ollama.facts.native import MARKER, NativeInstall, StoreOwnership
from jetson_ollama.native import PREFIX
from jetson_ollama.progress import log_path, watched

RELEASES_URL = "https://github.com/ollama/ollama/releases/download"
STAGING = "/var/tmp/jetson-ollama-native"  # the downloads wait here, unchecked, never in the prefix
_VERSION_RE = re.compile(r"\d+\.\d+\.\d+")
_ARCHIVE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.(tgz|tar\.zst)")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_URL_RE = re.compile(r"https?://[^\s/]+(/\S*)?")
_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]*")  # useradd's portable names
_CONTAINER_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def _check_path(label: str, path: str, *, depth: int = 1) -> str:
    if not isinstance(path, str) or not posixpath.isabs(path) or posixpath.normpath(path) != path.rstrip("/") \
            or path.rstrip("/").count("/") < depth:
        what = "an absolute path" if depth == 1 else f"an absolute path at least {depth} levels deep"
        raise OperationError(f"{label} must be {what}, not {path!r}")
    return path.rstrip("/")


@operation()
def installed(version: str, archives: Mapping[str, str], *, url: str = RELEASES_URL, prefix: str = PREFIX,
              sources: Mapping[str, Any] | None = None):
    """
    Ensure an Ollama release is unpacked under ``prefix``, from archives whose sha256 is checked first.

    + version: the release, e.g. ``0.6.8``
    + archives: each archive of the release to unpack, in order, with the sha256 it must have, e.g.
      ``{"ollama-linux-arm64.tgz": "sha256:...", "ollama-linux-arm64-jetpack6.tgz": "sha256:..."}``
      (the base, then the board's JetPack bundle; the digests pinned in models.lock)
    + url: the releases' base URL; each archive is ``<url>/v<version>/<archive>``
    + prefix: where ``bin/ollama`` and ``lib/ollama/`` go, as install.sh's ``/usr/local``
    + sources: the archives' bytes on the controller (file objects or paths, by archive name), e.g.
      from an offline bundle: put on the board instead of downloaded, and checked the same way

    Every archive is downloaded (one line every 5 s: bytes of the total, speed) to
    ``/var/tmp/jetson-ollama-native`` and its sha256 compared with the
    wanted one before anything is unpacked: a mismatch fails with one line (archive, expected and got
    digests, the downloaded size) and leaves the installed release as it was. Then, as install.sh
    does, the old ``lib/ollama`` is removed and the archives unpacked (``.tar.zst`` needs ``zstd``,
    docs/facts.md section 5). A marker in ``lib/ollama`` records the version, the digests and the binary's
    sha256 (the ``NativeInstall`` fact): the same release is not fetched again, and a binary replaced
    since is replaced back.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import native

        native.installed(
            name="Ollama 0.6.8 with the JetPack 6 bundle",
            version="0.6.8",
            archives={"ollama-linux-arm64.tgz": "sha256:" + "0" * 64,
                      "ollama-linux-arm64-jetpack6.tgz": "sha256:" + "1" * 64},
            _sudo=True,
        )
    """
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise OperationError(f"version must be a release version such as 0.6.8, not {version!r}")
    if not isinstance(archives, Mapping) or not archives:
        raise OperationError("archives must map at least one archive name to its sha256:<64 hex>")
    for archive, digest in archives.items():
        if not isinstance(archive, str) or not _ARCHIVE_RE.fullmatch(archive):
            raise OperationError(f"archive must be a file name ending in .tgz or .tar.zst, not {archive!r}")
        if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
            raise OperationError(f"the sha256 of {archive} must be sha256:<64 hex>, not {digest!r}")
    if not isinstance(url, str) or not _URL_RE.fullmatch(url):
        raise OperationError(f"url must be an http(s) URL, not {url!r}")
    prefix = _check_path("prefix", prefix)
    base = url.rstrip("/")

    wanted = dict(archives)
    current = host.get_fact(NativeInstall, prefix=prefix)
    if (current.get("version") == version and current.get("archives") == wanted and current.get("binary")
            and current.get("binary") == current.get("binary_at_install")):
        host.noop(f"Ollama {version} already unpacked under {prefix}")
        return

    staging = f"{STAGING}/{version}"
    if any(archive.endswith(".tar.zst") for archive in wanted):
        yield StringCommand("command -v zstd >/dev/null || { echo",
                            QuoteString(f"the Ollama {version} archives are .tar.zst: unpacking needs zstd"),
                            ">&2; exit 1; }")
    yield StringCommand("rm -rf", QuoteString(staging), "&& mkdir -p", QuoteString(staging))
    if sources is not None and set(sources) != set(wanted):
        raise OperationError(f"sources must give exactly the archives {sorted(wanted)}, not {sorted(sources)}")
    for archive in wanted:
        if sources is not None:
            yield from files.put._inner(src=sources[archive], dest=posixpath.join(staging, archive), mode="644")
        else:
            # curl's meter (no -s) in the log, one line every 5 s: bytes of the total, speed
            yield watched(StringCommand("curl -fSL --retry 3 -o", QuoteString(f"{staging}/{archive}"),
                                        QuoteString(f"{base}/v{version}/{archive}")),
                          f"download {archive}", log_path(f"download-{version}-{archive}"), "curl", last=False)
    for archive, digest in wanted.items():  # all of them before anything is unpacked
        path = f"{staging}/{archive}"
        yield StringCommand(
            "got=$(sha256sum", QuoteString(path), "| cut -d' ' -f1) && size=$(stat -c %s", QuoteString(path),
            ") && if [ \"sha256:$got\" !=", QuoteString(digest), "]; then echo",
            QuoteString(f"{archive} of Ollama {version} does not match its pinned sha256: expected {digest}, got"),
            '"sha256:$got"', '"($size"', QuoteString(f"bytes from {base}/v{version}/{archive}); nothing was unpacked"),
            ">&2; rm -rf", QuoteString(staging), "; exit 1; fi",
        )
    yield StringCommand("rm -rf", QuoteString(posixpath.join(prefix, "lib", "ollama")))  # install.sh does too
    for archive in wanted:
        unpack = "tar -xzf" if archive.endswith(".tgz") else "tar -I zstd -xf"
        yield StringCommand(unpack, QuoteString(f"{staging}/{archive}"), "-C", QuoteString(prefix))
    # the marker NativeInstall reads: one JSON line, the binary's sha256 taken from what was unpacked
    yield StringCommand(
        "printf '{\"archives\": %s, \"binary\": \"sha256:%s\", \"version\": %s}\\n'",
        QuoteString(json.dumps(wanted, sort_keys=True)),
        '"$(sha256sum', QuoteString(posixpath.join(prefix, "bin", "ollama")), "| cut -d' ' -f1)\"",
        QuoteString(json.dumps(version)), ">", QuoteString(posixpath.join(prefix, MARKER)),
    )
    yield StringCommand("rm -rf", QuoteString(staging))


@operation()
def store_owned(path: str, *, user: str = "ollama", group: str = "ollama"):
    """
    Ensure a directory and everything under it belong to ``user:group``, creating it if missing.

    + path: the directory, e.g. the model store ``/opt/ollama/models``
    + user: the owner, e.g. ``ollama`` (the native service's user)
    + group: the group

    The native Ollama runs as ``ollama`` and writes the store; the container runs as root, which can
    use it whoever owns it. So one store serves both runtimes once the files a root process made
    (a container's pulls, a copy from the fleet's cache) are given back to ``user``. Runs
    ``chown -R`` only when something under ``path`` has another owner (``StoreOwnership`` fact).

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import native

        native.store_owned(
            name="The model store belongs to ollama",
            path="/opt/ollama/models",
            _sudo=True,
        )
    """
    path = _check_path("path", path, depth=2)  # never chown -R / or /opt
    for label, name in (("user", user), ("group", group)):
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise OperationError(f"{label} must be a user or group name like ollama, not {name!r}")

    found = host.get_fact(StoreOwnership, path=path, user=user, group=group)
    if found.get("exists") and found.get("owner_known") and not found.get("foreign", ["?"]):
        host.noop(f"{path} belongs to {user}:{group}")
        return
    if not found.get("exists"):
        yield StringCommand("mkdir -p", QuoteString(path))
    yield StringCommand("chown -R", QuoteString(f"{user}:{group}"), QuoteString(path))


@operation()
def container_removed(container: str):
    """
    Ensure no Ollama container of the container runtime is left to take the port.

    + container: the container name, e.g. ``ollama``

    A host-network Ollama container and a native ollama.service both listen on 11434 (facts
    section 5): switching a board to the native runtime removes the container first (``docker rm
    -f``). Its image stays, and so do the models, which live in the host directory it mounted.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import native

        native.container_removed(
            name="No Ollama container",
            container="ollama",
            _sudo=True,
        )
    """
    if not isinstance(container, str) or not _CONTAINER_NAME_RE.fullmatch(container):
        raise OperationError(f"container must be a docker container name like ollama, not {container!r}")
    if not host.get_fact(OllamaContainer, container=container):
        host.noop(f"no container {container}")
        return
    yield StringCommand("docker rm -f", QuoteString(container))
