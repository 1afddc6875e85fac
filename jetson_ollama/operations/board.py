"""Operations on the board itself: refusing a board, the opt-in NVIDIA runtime for docker, and the record of
the Ollama container that start-ollama makes again."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from io import StringIO

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.files import FileContents
from pyinfra.operations import files

from ..facts.containers import DockerImages, OllamaContainer
from ..facts.docker import DockerDaemonJson
from .ollama import _check_ref, _find_image, container_spec, docker_run_words, swap_script

NVIDIA_RUNTIME = {"path": "nvidia-container-runtime", "runtimeArgs": []}  # docs/facts.md section 3


@operation(is_idempotent=False, idempotent_notice="Always fails: it stops a board that must not be changed")
def refused(reason: str):
    """
    Stop this board here, before anything on it changes, with one line naming board and reason.

    + reason: why the board is refused

    **Example:**

    .. code:: python

        refused(name="Refuse the board", reason="not a Jetson (x86_64, no /etc/nv_tegra_release)")
    """
    if not reason:
        raise OperationError("refused() needs a reason")
    message = f"jetson-ollama refused {host.name}: {reason}"
    yield StringCommand("echo", QuoteString(message), ">&2", "&&", "exit", "1")


@operation()
def nvidia_runtime(default: bool = False):
    """
    Ensure docker's daemon.json registers the NVIDIA runtime, keeping every other key (mirrors,
    registries, data root) as it is.

    + default: also make it the default runtime

    **Example:**

    .. code:: python

        nvidia_runtime(name="Register the NVIDIA runtime with docker")
    """
    config = host.get_fact(DockerDaemonJson).copy()
    if config.pop("_invalid", False):
        raise OperationError("/etc/docker/daemon.json does not parse; fix it by hand first")
    runtimes = dict(config.get("runtimes") or {})
    wanted = dict(config, runtimes={**runtimes, "nvidia": runtimes.get("nvidia") or NVIDIA_RUNTIME})
    if default:
        wanted["default-runtime"] = "nvidia"
    if wanted == config:
        host.noop("docker already has the nvidia runtime")
        return
    yield from files.put._inner(src=StringIO(json.dumps(wanted, indent=4) + "\n"), dest="/etc/docker/daemon.json",
                                mode="644")


@operation()
def fleet_barrier(reason: str):
    """
    Mark a point that every host of the run passes together; it changes nothing.

    + reason: what the hosts wait for, e.g. ``the fleet's cache holds the run's models``

    pyinfra orders each host's operations and runs one operation on all its hosts before the next;
    hosts whose sequences share no operation interleave freely. Called from the same line by every
    host, this is one operation of every sequence: whatever any host does before it is done before
    any host goes past it (a builder's push before the other boards' pulls).

    **Example:**

    .. code:: python

        fleet_barrier(name="Images pushed", reason="each variant's builder has pushed its image")
    """
    if not reason:
        raise OperationError("fleet_barrier() needs a reason")
    host.noop(reason)
    yield from ()


SUDOERS_DROP_IN = "/etc/sudoers.d/jetson-ollama"


def sudoers_line(user: str) -> str:
    return f"# written by jetson-ollama: pyinfra runs its commands through sudo\n{user} ALL=(ALL) NOPASSWD: ALL\n"


@operation()
def sudo_nopasswd(user: str):
    """
    Ensure a user may run sudo without a password, through a drop-in in ``/etc/sudoers.d``.

    + user: the SSH user the inventory connects as, e.g. ``jetson``

    The drop-in is written to a temporary file, checked with ``visudo -cf`` and only then moved into
    place with mode 0440, so a bad file never locks sudo. Run it once with the password from the
    environment (``_sudo_password`` in the inventory, read from e.g. ``JETSON_SUDO_PASSWORD``), never
    from a file in the repository; later runs need no password.

    **Example:**

    .. code:: python

        sudo_nopasswd(name="Passwordless sudo for jetson", user="jetson", _sudo=True)
    """
    if not isinstance(user, str) or not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user):
        raise OperationError(f"user must be a Linux user name like jetson, not {user!r}")
    wanted = sudoers_line(user)
    current = host.get_fact(FileContents, path=SUDOERS_DROP_IN)
    if current is not None and "\n".join(current) + "\n" == wanted:
        host.noop(f"{user} already has passwordless sudo")
        return
    temporary = f"{SUDOERS_DROP_IN}.tmp"
    yield StringCommand("printf %s", QuoteString(wanted), ">", QuoteString(temporary), "&& chmod 440",
                        QuoteString(temporary), "&& visudo -cf", QuoteString(temporary), ">/dev/null && mv",
                        QuoteString(temporary), QuoteString(SUDOERS_DROP_IN), "|| { rm -f", QuoteString(temporary),
                        "; exit 1; }")


CONTAINER_RECORD = "/var/lib/jetson-ollama/container.sh"


def container_record(container: str, spec: dict, spec_hash: str, hash_without_id: str, api_url: str,
                     api_timeout: float, spec_label: str = "jetson-ollama.spec") -> str:
    """The record of the container the service stage runs, as shell assignments start-ollama sources:
    CONTAINER, IMAGE, API, SPEC (the label hash), SPEC_NO_ID (the hash without the image id, which the
    service stage also takes as current), DOCKER_RUN (the line that makes it) and SWAP (the script that
    replaces another container of that name, putting the old one back when the new one does not answer)."""
    run = docker_run_words(container, spec, spec_hash, spec_label)
    values = {
        "CONTAINER": container, "IMAGE": spec["image"], "API": api_url, "SPEC": spec_hash,
        "SPEC_NO_ID": hash_without_id, "DOCKER_RUN": " ".join(shlex.quote(word) for word in run),
        "SWAP": swap_script(container, run, api_url=api_url, api_timeout=api_timeout),
    }
    lines = [f"{key}={shlex.quote(value)}" for key, value in values.items()]
    return ("# written by jetson-ollama's service stage: the Ollama container it runs, which start-ollama makes "
            "again from here\n" + "\n".join(lines) + "\n")


@operation()
def container_recorded(container: str, image: str, env: Mapping[str, str | int | float | bool], models_dir: str,
                       container_models_dir: str, api_url: str, api_timeout: float = 120,
                       path: str = CONTAINER_RECORD):
    """
    Ensure the board records the Ollama container the service stage runs, for start-ollama to make it again.

    + container: the container name, e.g. ``ollama``
    + image: the image with its tag, e.g. ``dustynv/ollama:r36.2.0``
    + env: the container's environment, as given to ``ollama.container``
    + models_dir: the host directory for the models
    + container_models_dir: where it is mounted in the container
    + api_url: where the container's API answers, e.g. ``http://127.0.0.1:11434``
    + api_timeout: seconds a new container has to answer before the old one is put back
    + path: the record, shell assignments (``container_record``)

    The spec and its label hash are ``ollama.container_spec``'s, with the image id that ``DockerImages``
    lists, or the hash without it that the container carries when ``ollama.container`` takes it as current
    (``OllamaContainer``), so the record names exactly the container the service stage leaves.
    ``start-ollama`` restarts a container whose label is the record's, and makes any other anew from the
    record: the board runs the settings the deploy wrote last, whichever stage rendered the script.

    **Example:**

    .. code:: python

        from jetson_ollama.operations import board

        board.container_recorded(
            name="Record the Ollama container",
            container="ollama",
            image="dustynv/ollama:r36.2.0",
            env={"JETSON_JETPACK": "6", "OLLAMA_KEEP_ALIVE": "5m"},
            models_dir="/opt/ollama/models",
            container_models_dir="/ollama/models",
            api_url="http://127.0.0.1:11434",
            _sudo=True,
        )
    """
    if not isinstance(path, str) or not re.fullmatch(r"/[A-Za-z0-9._+@/-]+", path):
        raise OperationError(f"path must be a plain absolute path, not {path!r}")
    if not re.fullmatch(r"https?://[^\s/]+", api_url or ""):
        raise OperationError(f"api_url must be a base URL like http://127.0.0.1:11434, not {api_url!r}")
    _check_ref(image)
    _, hash_without_id = container_spec(image, env, models_dir, container_models_dir)  # checks input
    known = _find_image(host.get_fact(DockerImages), image)
    image_id = known["id"] if known else ""
    spec, spec_hash = container_spec(image, env, models_dir, container_models_dir, image_id=image_id)
    # the label the container carries once ollama.container ran: its own when that one took it as current
    # (made before its image was listed: the hash without the id), else the one it makes
    current = host.get_fact(OllamaContainer, container=container)
    label = current.get("labels", {}).get("jetson-ollama.spec", "") if current else ""
    if label == hash_without_id and image_id and current.get("image_id") == image_id:
        spec_hash = label
    text = container_record(container, spec, spec_hash, hash_without_id, api_url, api_timeout)
    written = list(files.put._inner(src=StringIO(text), dest=path, mode="644"))
    if not written:
        host.noop(f"{path} records container {container}, spec {spec_hash[:12]}")
    yield from written
