"""Operations on the board itself: refusing a board, and the opt-in NVIDIA runtime for docker."""

from __future__ import annotations

import json
import re
from io import StringIO

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.files import FileContents
from pyinfra.operations import files

from ..facts.docker import DockerDaemonJson

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
