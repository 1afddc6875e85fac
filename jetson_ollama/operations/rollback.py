"""The previous Ollama container a rollout keeps: during a rollout ``ollama.container`` keeps the
container it replaces, stopped, as ``<container>-previous``; the health gate then restores it on a
board that fails and removes it on a board that passes."""

from __future__ import annotations

import re

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from jetson_ollama.facts.containers import OllamaContainer
from jetson_ollama.operations.board import CONTAINER_RECORD

_CONTAINER_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")  # docker's own rule, as ollama.container checks it
PREVIOUS_SUFFIX = "-previous"


def _previous(container: str) -> str:
    if not _CONTAINER_NAME_RE.fullmatch(container or ""):
        raise OperationError(f"container must be a docker container name like ollama, not {container!r}")
    return container + PREVIOUS_SUFFIX


@operation()
def previous_restored(container: str, record: str = CONTAINER_RECORD):
    """
    Ensure the container kept as ``<container>-previous`` is back as ``container``, running.

    + container: the container name, e.g. ``ollama``
    + record: the service stage's record of the container it ran (``board.CONTAINER_RECORD``)

    When ``<container>-previous`` exists, the current ``container`` (if any) is removed, the
    previous one renamed to ``container`` and started, and the record removed: it names the spec the
    gate rejected, which ``start-ollama`` would make again; without a record ``start-ollama`` restarts
    the container there is. Without a previous container nothing changes: the board keeps what it runs.
    The restored container keeps its own spec label, so the next deploy recreates it (and records it)
    when its spec is not the wanted one.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import rollback

        rollback.previous_restored(
            name="Restore the previous Ollama container",
            container="ollama",
            _sudo=True,
        )
    """
    previous = _previous(container)
    if not host.get_fact(OllamaContainer, container=previous):
        host.noop(f"no previous {container} to restore")
        return
    if host.get_fact(OllamaContainer, container=container):
        yield StringCommand("docker rm -f", QuoteString(container))
    yield StringCommand("docker rename", QuoteString(previous), QuoteString(container))
    yield StringCommand("docker start", QuoteString(container))
    yield StringCommand("rm -f", QuoteString(record))


@operation()
def previous_removed(container: str):
    """
    Ensure no container ``<container>-previous`` is kept.

    + container: the container name, e.g. ``ollama``

    Removes the container a rollout kept (``docker rm -f``) once the new ``container`` passed its
    health gate; its image stays.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import rollback

        rollback.previous_removed(
            name="Drop the previous Ollama container",
            container="ollama",
            _sudo=True,
        )
    """
    previous = _previous(container)
    if not host.get_fact(OllamaContainer, container=previous):
        host.noop(f"no previous {container} kept")
        return
    yield StringCommand("docker rm -f", QuoteString(previous))
