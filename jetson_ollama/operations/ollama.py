"""Ollama in a docker container: its image (pulled or built by jetson-containers), the container run
with ``docker run`` and recreated when its spec changes, and the wait for its API (docs/facts.md
section 4, section 5)."""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from jetson_ollama.facts.containers import DockerImages, ImageDict, OllamaContainer
from jetson_ollama.facts.ollama import OllamaVersion
from jetson_ollama.progress import log_path, watched

_CONTAINER_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")  # docker's own rule
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESTART_RE = re.compile(r"no|always|unless-stopped|on-failure(:\d+)?")


def _familiar(ref: str) -> str:
    """``docker.io/library/ubuntu:22.04`` -> ``ubuntu:22.04``: the name ``docker images`` prints."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "index.docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def _check_ref(ref: str, example: str = "dustynv/ollama:r36.2.0") -> None:
    # jetson-containers never makes a `latest` (docs/facts.md section 4), so a ref without a tag is a mistake;
    # `docker images` lists an image pulled by digest without a tag, so it would never count as present
    last = (ref or "").rpartition("/")[2] if isinstance(ref, str) else ""
    if not last or any(char.isspace() or char == "@" for char in ref) or ":" not in last or last.endswith(":"):
        raise OperationError(f"image must be a reference with a tag, like {example}, not {ref!r}")


# images: the DockerImages fact's own type, so that _find_image(host.get_fact(DockerImages), ...) checks
def _find_image(images: list[ImageDict], ref: str) -> ImageDict | None:
    return next((image for image in images if image["ref"] == _familiar(ref)), None)


@operation()
def image_pulled(ref: str):
    """
    Ensure a docker image is present, pulling it when it is not.

    + ref: the image with its tag, e.g. ``dustynv/ollama:r36.2.0`` (docs/facts.md section 4 lists the
      prebuilt ones); a tag is required, as nothing here has a ``latest``

    An image that is present is never pulled again, so a tag moved upstream is not followed. While it
    pulls, one line every 5 s says for how long, how many layers are done of those seen and docker's
    last line (``jetson_ollama.progress.watched``; the whole output in ``/var/log/jetson-ollama``).

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import ollama

        ollama.image_pulled(
            name="Pull the prebuilt Ollama image",
            ref="dustynv/ollama:r36.2.0",
            _sudo=True,
        )
    """
    _check_ref(ref)
    if _find_image(host.get_fact(DockerImages), ref):
        host.noop(f"image {ref} already present")
        return
    yield watched(StringCommand("docker pull", QuoteString(ref)), f"pull {ref}", log_path(f"pull-{ref}"), "docker")


@operation()
def image_built(package: str, expected_ref: str, path: str = "/opt/jetson-containers"):
    """
    Ensure a jetson-containers package is built into the image ``expected_ref``.

    + package: the jetson-containers package, e.g. ``ollama`` or ``ollama:0.6.8``
    + expected_ref: the image the build makes on this board, e.g. ``ollama:r36.2.0-cu122-22.04``;
      its form depends on the jetson-containers commit and the L4T release (docs/facts.md section 4)
    + path: the jetson-containers checkout (see ``jetson_containers.installed``)

    Runs ``jetson-containers build --skip-tests=all`` (its test pulls a model from the internet)
    with stdin from ``/dev/null``, then fails with one line if no image ``expected_ref`` came out.
    Never calls ``autotag``: it prompts on stdin (docs/facts.md section 4). The build took 13 minutes on an
    Orin Nano and makes a 10.7 GB image: while it runs, one line every 5 s says for how long, the
    jetson-containers stage (``[2/9] Building go``) and docker build step, and the last log line; the
    whole log stays in ``/var/log/jetson-ollama/build-<image>.log`` (``jetson_ollama.progress.watched``).

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import ollama

        ollama.image_built(
            name="Build the Ollama image",
            package="ollama",
            expected_ref="ollama:r36.4.tegra-aarch64-cu126-22.04",
            _sudo=True,
        )
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]*", package or ""):
        raise OperationError(f"package must be a jetson-containers package name like ollama, not {package!r}")
    _check_ref(expected_ref)
    if not posixpath.isabs(path or ""):
        raise OperationError(f"path must be absolute, not {path!r}")

    if _find_image(host.get_fact(DockerImages), expected_ref):
        host.noop(f"image {expected_ref} already present")
        return
    yield watched(StringCommand(
        "cd", QuoteString(path), "&& jetson-containers build --skip-tests=all", QuoteString(package), "</dev/null",
    ), f"build {expected_ref}", log_path(f"build-{expected_ref}"), "build")
    yield StringCommand(
        "docker image inspect", QuoteString(expected_ref), ">/dev/null 2>&1 || { echo",
        QuoteString(f"jetson-containers built no image named {expected_ref}"), ">&2; exit 1; }",
    )


def container_spec(
    image: str,
    env: Mapping[str, str | int | float | bool],
    models_dir: str,
    container_models_dir: str,
    *,
    image_id: str = "",
    command: Sequence[str] = ("ollama", "serve"),
    runtime: str = "nvidia",
    restart: str = "unless-stopped",
) -> tuple[dict[str, Any], str]:
    """
    Returns the spec of an Ollama container and its hash (the sha256 hex digest of the spec as JSON
    with sorted keys): what ``container`` labels the container with and compares.

    + image: the image reference given to ``docker run``
    + env: environment; values become strings, and ``OLLAMA_MODELS`` is set to
      ``container_models_dir`` unless given (the image's own points into ``/data``, docs/facts.md section 4)
    + models_dir: the host directory that holds the models
    + container_models_dir: where it is mounted in the container (not ``/data``)
    + image_id: the image id (``sha256:...``) when known, ``""`` when not
    + command: the container command; ``ollama serve``, as the image's ``/start_ollama`` needs a TTY
    + runtime: the docker runtime, ``""`` for docker's default
    + restart: the restart policy

    The network is always the host's. Raises OperationError on a value docker would refuse or
    misread, like a relative path or a ``:`` in a mount path.
    """
    for label, directory in (("models_dir", models_dir), ("container_models_dir", container_models_dir)):
        if not posixpath.isabs(directory or "") or ":" in directory:
            raise OperationError(f"{label} must be an absolute path without ':', not {directory!r}")
    models_dir, container_models_dir = posixpath.normpath(models_dir), posixpath.normpath(container_models_dir)
    if container_models_dir == "/data":
        # the image keeps logs and more under /data; jetson-containers run mounts it (docs/facts.md section 4)
        raise OperationError("container_models_dir must not be /data itself; use e.g. /data/models/ollama/models")

    wanted_env: dict[str, str] = {"OLLAMA_MODELS": container_models_dir}
    for key, value in env.items():
        if not _ENV_NAME_RE.fullmatch(str(key)):
            raise OperationError(f"environment variable names are letters, digits and _, not {key!r}")
        if not isinstance(value, (str, int, float, bool)):
            raise OperationError(f"environment variable {key} must be a string or number, not {value!r}")
        wanted_env[key] = str(value)
    if posixpath.normpath(wanted_env["OLLAMA_MODELS"]) != container_models_dir:
        raise OperationError(
            f"OLLAMA_MODELS={wanted_env['OLLAMA_MODELS']} is not the mounted {container_models_dir}:"
            " models would be lost with the container",
        )
    if not command or isinstance(command, str) or not all(isinstance(word, str) and word for word in command):
        raise OperationError(f"command must be a list of words like ['ollama', 'serve'], not {command!r}")
    if not _RESTART_RE.fullmatch(restart or ""):
        raise OperationError(f"restart must be no, always, unless-stopped or on-failure[:N], not {restart!r}")
    if runtime and not re.fullmatch(r"[A-Za-z0-9_.-]+", runtime):
        raise OperationError(f"runtime must be a docker runtime name like nvidia, not {runtime!r}")

    spec = {
        "image": image,
        "image_id": image_id or "",
        "env": dict(sorted(wanted_env.items())),
        "mounts": [{"source": models_dir, "destination": container_models_dir}],
        "runtime": runtime or "",
        "restart": restart,
        "network": "host",
        "command": list(command),
    }
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return spec, hashlib.sha256(text.encode()).hexdigest()


@operation()
def container(
    container: str,
    image: str,
    env: Mapping[str, str | int | float | bool],
    models_dir: str,
    container_models_dir: str,
    *,
    spec_label: str = "jetson-ollama.spec",
    command: Sequence[str] = ("ollama", "serve"),
    runtime: str = "nvidia",
    restart: str = "unless-stopped",
    keep_previous: bool = False,
    api_url: str | None = None,
    api_timeout: float = 120,
):
    """
    Ensure the Ollama container runs with exactly this spec, recreating it when the spec changed.

    + container: the container name, e.g. ``ollama``
    + image: the image with its tag, e.g. ``ollama:r36.2.0-cu122-22.04``
    + env: environment, e.g. ``{"JETSON_JETPACK": "6", "OLLAMA_CONTEXT_LENGTH": 4096}``; on a Jetson
      ``JETSON_JETPACK`` keeps Ollama on the GPU (docs/facts.md section 5); ``OLLAMA_MODELS`` defaults to
      ``container_models_dir``
    + models_dir: the host directory for the models, created if missing
    + container_models_dir: where ``models_dir`` is mounted in the container (not ``/data``)
    + spec_label: the label holding the spec hash
    + command: the container command; ``ollama serve`` because the image's ``/start_ollama`` only
      stays up with a TTY (docs/facts.md section 4)
    + runtime: the docker runtime, ``""`` for docker's default
    + restart: the restart policy, so Ollama comes back after a reboot
    + keep_previous: when recreating, keep the old container stopped as ``<container>-previous``
      (replacing an older one) instead of removing it, so a failed health gate can restore it
      (``rollback.previous_restored``); the old image stays too, as the stopped container uses it
    + api_url: when recreating, the new container must answer ``GET api_url/api/version``, or the old
      one is put back and started (None: the new one need only start)
    + api_timeout: seconds the new container has to answer

    The spec (``container_spec``: image and, when ``DockerImages`` lists it, its id; env; the mount;
    runtime; restart; host network; command) is hashed into the ``spec_label`` label. A running
    container with that hash is left alone, a stopped one started; any other container of that name
    is replaced (``swap_script``: stopped and renamed ``<container>-replaced``, the new one run, and
    the old one removed once the new one answers, or put back when it does not; the whole swap runs
    on the board under ``setsid --wait``, so an interrupted run or a lost link never leaves the board
    without a container) by ``docker run`` (not ``jetson-containers run``, which adds ``--rm``,
    ``-it`` and a ``/data`` mount; docs/facts.md section 4). pyinfra's ``docker.container`` never recreates
    on a changed spec. A container made while its image was not listed yet (built or pulled earlier
    in the same run) carries the hash without the id, and still counts as current while it runs the
    image the tag now names.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import ollama

        ollama.container(
            name="Run Ollama",
            container="ollama",
            image="ollama:r36.2.0-cu122-22.04",
            env={"JETSON_JETPACK": "6", "OLLAMA_KEEP_ALIVE": "5m"},
            models_dir="/var/lib/ollama/models",
            container_models_dir="/data/models/ollama/models",
            _sudo=True,
        )
    """
    if not _CONTAINER_NAME_RE.fullmatch(container or ""):
        raise OperationError(f"container must be a docker container name like ollama, not {container!r}")
    _check_ref(image)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_./-]*", spec_label or ""):
        raise OperationError(f"spec_label must be a docker label name like jetson-ollama.spec, not {spec_label!r}")

    _, hash_without_id = container_spec(image, env, models_dir, container_models_dir,  # checks input
                                        command=command, runtime=runtime, restart=restart)

    known = _find_image(host.get_fact(DockerImages), image)
    image_id = known["id"] if known else ""
    spec, spec_hash = container_spec(image, env, models_dir, container_models_dir, image_id=image_id,
                                     command=command, runtime=runtime, restart=restart)
    current = host.get_fact(OllamaContainer, container=container)
    label = current.get("labels", {}).get(spec_label, "") if current else ""
    current_spec = label == spec_hash or (
        image_id and current.get("image_id") == image_id and label == hash_without_id
    )
    if current_spec:
        if current["running"]:
            host.noop(f"container {container} running, spec {label[:12]}")
        else:
            yield StringCommand("docker start", QuoteString(container))
        return

    yield StringCommand("mkdir -p", QuoteString(spec["mounts"][0]["source"]))
    run = docker_run_words(container, spec, spec_hash, spec_label)
    if not current:
        yield StringCommand(*(QuoteString(word) for word in run))
        return
    script = swap_script(container, run, keep_previous=keep_previous, api_url=api_url, api_timeout=api_timeout)
    yield StringCommand("setsid --wait sh -c", QuoteString(script))


def swap_script(container: str, run: Sequence[str], *, keep_previous: bool = False, api_url: str | None = None,
                api_timeout: float = 120) -> str:
    """The shell script that replaces a container with the one `run` (``docker run`` words) makes: the old
    one stopped and kept as ``<container>-replaced`` until the new one answers (``api_url``), then removed
    (or kept as ``<container>-previous`` with ``keep_previous``); when the new one fails, it is removed and
    the old one started again, and the script exits 1 with one line. Every step is the board's own: run
    under ``setsid --wait``, it finishes even when the controller's session is gone."""
    name, old, previous = (shlex.quote(f"{container}{suffix}") for suffix in ("", "-replaced", "-previous"))
    wait = "true"
    if api_url:
        version = shlex.quote(api_url.rstrip("/") + "/api/version")
        wait = (f"( for i in $(seq {math.ceil(api_timeout * 2)}); do curl -fsS --max-time 2 {version} >/dev/null 2>&1 "
                "&& exit 0; sleep 0.5; done; exit 1 )")
    keep = (f"docker rm -f {previous} >/dev/null 2>&1; docker rename {old} {previous}" if keep_previous
            else f"docker rm -f {old} >/dev/null")
    failed = shlex.quote(f"the new {container} container did not start or answer"
                         f"{f' at {api_url} within {api_timeout:g} s' if api_url else ''}: the one before serves again")
    return (f"docker rm -f {old} >/dev/null 2>&1; "
            f"docker stop {name} >/dev/null && docker rename {name} {old} || exit 1; "
            f"if {' '.join(shlex.quote(word) for word in run)} >/dev/null && {wait}; then {keep}; "
            f"else docker rm -f {name} >/dev/null 2>&1; docker rename {old} {name} && docker start {name} >/dev/null; "
            f"echo {failed} >&2; exit 1; fi")


def docker_run_words(container: str, spec: dict[str, Any], spec_hash: str,
                     spec_label: str = "jetson-ollama.spec") -> list[str]:
    """The ``docker run`` that makes the container of ``spec`` (from ``container_spec``), word by word:
    what ``container`` runs, and what the board's start-ollama script prints."""
    words = ["docker", "run", "-d", "--name", container]
    if spec["runtime"]:
        words += ["--runtime", spec["runtime"]]
    words += ["--restart", spec["restart"], "--network", "host"]
    for key, value in spec["env"].items():
        words += ["-e", f"{key}={value}"]
    for mount in spec["mounts"]:
        words += ["-v", f"{mount['source']}:{mount['destination']}"]
    return [*words, "--label", f"{spec_label}={spec_hash}", spec["image"], *spec["command"]]


@operation()
def api_ready(url: str = "http://127.0.0.1:11434", timeout: float = 120):
    """
    Ensure the Ollama API at ``url`` answers, waiting up to ``timeout`` seconds for it.

    + url: base URL of the API
    + timeout: seconds to wait, polling ``GET /api/version`` every half second

    Nothing runs and nothing is reported as changed when the API already answered while facts were
    collected (``OllamaVersion``). Otherwise the wait runs, and counts as a change: that happens on
    the runs that (re)create or start the container, because facts are collected before anything
    runs, and when the API was down. It fails with ``Ollama API at URL did not answer within T s``.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import ollama

        ollama.api_ready(
            name="Wait for the Ollama API",
            timeout=120,
        )
    """
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url or ""):
        raise OperationError(f"url must be an http(s) URL like http://127.0.0.1:11434, not {url!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise OperationError(f"timeout must be a positive number of seconds, not {timeout!r}")

    version = host.get_fact(OllamaVersion, url=url)
    base = url.rstrip("/")
    if version:
        host.noop(f"Ollama API at {base} answers, version {version}")
        return
    tries = math.ceil(timeout * 2)
    yield StringCommand(
        f"for i in $(seq {tries}); do curl -fsS --max-time 2", QuoteString(f"{base}/api/version"),
        f'>/dev/null 2>&1 && break; if [ "$i" -eq {tries} ]; then echo',
        QuoteString(f"Ollama API at {base} did not answer within {timeout:g} s"), ">&2; exit 1; fi; sleep 0.5; done",
    )
