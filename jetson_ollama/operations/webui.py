"""Open WebUI (`ollama_webui`) as a container on the board: its image pulled and checked against its pin,
the secret key it signs its sessions with made once on the board, and the container recreated only when
its spec changes (jetson_ollama/webui.py; docs/facts.md section 9)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.files import File

from jetson_ollama.facts.containers import DockerImages, OllamaContainer
from jetson_ollama.operations import ollama
from jetson_ollama.progress import log_path, watched
from jetson_ollama.webui import CONTAINER, DATA_DIR, SECRET_FILE, SPEC_LABEL, container_spec, run_words

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_ref(ref: str) -> None:
    ollama._check_ref(ref, example="ghcr.io/open-webui/open-webui:0.6.32")


def _image(ref: str):
    return ollama._find_image(host.get_fact(DockerImages), ref)


@operation()
def image(ref: str, digest: str | None = None):
    """
    Ensure the Open WebUI image is on the board, and is the one pinned.

    + ref: the image with its version tag, e.g. ``ghcr.io/open-webui/open-webui:0.6.32``
    + digest: its repository digest pinned in models.lock (``sha256:<hex>``); None before the first pull

    A present image is never pulled again; one whose digest is not the pin fails with one line (the tag
    moved, or another image took its name). A pull is checked against the pin before it counts as done.

    **Example:**

    .. code:: python

        from jetson_ollama.operations import webui

        webui.image(name="Open WebUI image", ref="ghcr.io/open-webui/open-webui:0.6.32", _sudo=True)
    """
    _check_ref(ref)
    if digest is not None and not (isinstance(digest, str) and _DIGEST_RE.fullmatch(digest)):
        raise OperationError(f"digest must be sha256:<64 hex>, not {digest!r}")
    found = _image(ref)
    if found:
        if digest and found.get("digest") and found["digest"] != digest:
            raise OperationError(f"{ref} on the board is {found['digest'][:19]}, models.lock pins {digest[:19]}")
        host.noop(f"image {ref} present")
        return
    yield watched(StringCommand("docker pull", QuoteString(ref)), f"pull {ref}", log_path(f"pull-{ref}"), "docker")
    if digest:
        yield StringCommand(
            "docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}'", QuoteString(ref),
            "| grep -q", QuoteString(f"@{digest}$"), "|| { echo",
            QuoteString(f"the pulled {ref} is not the digest models.lock pins ({digest[:19]})"), ">&2; exit 1; }")


@operation()
def secret_key():
    """
    Ensure the file with Open WebUI's WEBUI_SECRET_KEY exists on the board (root only), made once from
    /dev/urandom and then kept: the key signs Open WebUI's logins, so a new one would sign every user out.
    The key never leaves the board (the container reads it with ``--env-file``).

    **Example:**

    .. code:: python

        webui.secret_key(name="Open WebUI's secret key", _sudo=True)
    """
    info = host.get_fact(File, path=SECRET_FILE)
    if info and info.get("size", 1):
        host.noop("Open WebUI's secret key kept")
        return
    path = QuoteString(SECRET_FILE)
    yield StringCommand(
        "umask 077 && mkdir -p", QuoteString(posixpath.dirname(SECRET_FILE)),
        "&& printf 'WEBUI_SECRET_KEY=%s\\n' \"$(head -c 32 /dev/urandom | base64 | tr -d '\\n')\" >",
        QuoteString(SECRET_FILE + ".tmp"), "&& mv", QuoteString(SECRET_FILE + ".tmp"), path)


@operation()
def container(image: str, env: Mapping[str, str]):
    """
    Ensure the Open WebUI container runs with exactly this spec (``jetson_ollama.webui.container_spec``):
    the image, the environment, the secret key file, the data directory, host network, restart
    unless-stopped. Its hash is the container's ``jetson-ollama.webui-spec`` label: a running container with
    that hash is left alone, a stopped one started, any other removed and run again (its data stays in
    the board's data directory).

    + image: the image with its tag
    + env: the environment, e.g. ``{"HOST": "127.0.0.1", "PORT": "11446"}``

    **Example:**

    .. code:: python

        webui.container(name="Open WebUI", image="ghcr.io/open-webui/open-webui:0.6.32",
                        env={"HOST": "127.0.0.1", "PORT": "11446"}, _sudo=True)
    """
    _check_ref(image)
    if not isinstance(env, Mapping) or not all(
            isinstance(key, str) and _ENV_NAME_RE.fullmatch(key) and isinstance(value, str) and "\n" not in value
            for key, value in env.items()):
        raise OperationError(f"env must map variable names to one-line strings, not {env!r}")
    spec, spec_hash = container_spec(image, dict(env))
    current = host.get_fact(OllamaContainer, container=CONTAINER)
    if current and current.get("labels", {}).get(SPEC_LABEL) == spec_hash:
        if current.get("running"):
            host.noop(f"container {CONTAINER} running, spec {spec_hash[:12]}")
        else:
            yield StringCommand("docker start", QuoteString(CONTAINER))
        return
    yield StringCommand("mkdir -p", QuoteString(DATA_DIR))
    if current:
        yield StringCommand("docker rm -f", QuoteString(CONTAINER), ">/dev/null")
    yield StringCommand(*(QuoteString(word) for word in run_words(spec, spec_hash)))


@operation()
def absent():
    """
    Ensure no Open WebUI container of ours is left (ollama_webui off). Its data directory and secret key
    stay on the board, so turning it on again finds its users and chats.

    **Example:**

    .. code:: python

        webui.absent(name="No Open WebUI", _sudo=True)
    """
    if host.get_fact(OllamaContainer, container=CONTAINER):
        yield StringCommand("docker rm -f", QuoteString(CONTAINER), ">/dev/null")
    else:
        host.noop("no Open WebUI container")
