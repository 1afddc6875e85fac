"""The deploys, as functions of the installed package: each runs on the current host of a pyinfra run.

    pyinfra inventory.py jetson_ollama.deploys.full          # the whole deployment
    pyinfra inventory.py jetson_ollama.deploys.models        # one stage
    pyinfra inventory.py jetson_ollama.deploys.facts         # one line of facts per board, no change

pyinfra reads `a.b.c` as the attribute `c` of the module `a.b`, so each deploy is a name of this module
(a submodule of that name would hide it). The repository's `deploys/*.py` files call these functions.

Importing this module makes every pyinfra run in the process check its host data before it connects to
any host (`hostdata.install`): pyinfra imports it before it reads the inventory. A run that reads a deploy
file after connecting gets the same check from the first deploy function it calls, before any operation:
HostDataError, with every problem line, stops it.

The single-stage deploys are the stages' own `@deploy`s (jetson_ollama/stages), so their operations have
the same names whichever way they run; `full` and `tuning` call them in order.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from pyinfra import host
from pyinfra.context import ctx_state

from ..hostdata import check_state, install
from ..stages.access import api_access
from ..stages.board_scripts import board_scripts as _board_scripts
from ..stages.bootstrap import bootstrap as _bootstrap
from ..stages.cache import fleet_cache
from ..stages.gate import health_gate
from ..stages.image import ollama_image
from ..stages.jetson_containers import install_jetson_containers
from ..stages.metrics import board_metrics
from ..stages.models import ollama_models
from ..stages.preflight import preflight as _preflight
from ..stages.service import ollama_service
from ..stages.tuning import board_tuning
from ..stages.webui import open_webui
from .describe import describe_host

__all__ = ["access", "board_scripts", "bootstrap", "cache", "facts", "full", "gate", "image", "jetson_containers",
           "metrics", "models", "preflight", "service", "tuning", "webui"]

install()

F = TypeVar("F", bound=Callable[..., Any])


def _checked(func: F) -> F:
    """`func`, which first checks the run's host data (once per run: hostdata.check_state); outside a run
    (no pyinfra state, as a test calling it over a stand-in host) there is no inventory to check."""

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if ctx_state.isset():
            check_state(ctx_state.get())
        return func(*args, **kwargs)

    return checked  # type: ignore[return-value]  # same signature, by functools.wraps


# one stage each, as deploys/<name>.py runs it
preflight = _checked(_preflight)  # stage 1: verify the board; refuses, with one line, a board it must not touch
cache = _checked(fleet_cache)  # the fleet cache on `jetson_cache_host`, and every board's docker trusting it
jetson_containers = _checked(install_jetson_containers)  # stage 2: jetson-containers at the pinned commit
image = _checked(ollama_image)  # stage 3: the Ollama image with the right tag
access = _checked(api_access)  # who reaches the API: 127.0.0.1, or ollama_allow_from through a firewall
service = _checked(ollama_service)  # stage 4: the Ollama container (or native service) as a service
models = _checked(ollama_models)  # stage 5: the model set, pulled only where it fits, pinned by models.lock
board_scripts = _checked(_board_scripts)  # stage 6: start-ollama, quick-test, monitor, bench
metrics = _checked(board_metrics)  # opt-in (ollama_metrics): the node exporter on 9100 and the board's metrics
gate = _checked(health_gate)  # the rollout's health gate: a board that fails gets its previous container back
webui = _checked(open_webui)  # opt-in (ollama_webui, with ollama_tls): Open WebUI behind the HTTPS proxy's keys
bootstrap = _checked(_bootstrap)  # once per board: passwordless sudo (JETSON_SUDO_PASSWORD from the environment)


@_checked
def tuning() -> None:
    """The preflight, then the opt-in board tuning (power mode by name, jetson_clocks at boot, headless,
    nvargus-daemon off, zram off, a swapfile, docker's data root), with one reboot at the end when a
    change waits for it and jetson_allow_reboot is set."""
    _preflight()
    board_tuning()


@_checked
def full() -> None:
    """The whole deployment, stage by stage, as the deployment log did it by hand. Each stage reads the
    board's facts and changes only what differs; a second run changes nothing. A board the preflight
    refuses stops there with one line; the other boards go on. The opt-in board tuning runs right after
    the preflight; with `jetson_cache_host`, each image variant is built once and each model downloaded
    once for the fleet (stages/cache.py).

    Not a `@deploy` itself: each operation keeps its stage's name (`Verify the board | ...`)."""
    _preflight()
    board_tuning()
    fleet_cache()
    install_jetson_containers()
    ollama_image()
    api_access()
    ollama_service()
    ollama_models()
    _board_scripts()
    board_metrics()
    open_webui()


@_checked
def facts() -> None:
    """Print one line of board facts for the host (stderr, as stdout is for pyinfra's --json); it only reads
    facts: no operation (so no `@deploy` either), nothing changes."""
    print(describe_host(host), file=sys.stderr)
