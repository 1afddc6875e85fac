"""Models kept warm (`ollama_preload`): a systemd unit on the board that loads them into Ollama at every
start of the service, with the board's keep-alive.

Ollama loads a model on an empty ``/api/generate`` request, ``{"model": M, "keep_alive": K}`` (ollama/ollama
``docs/api.md`` "Load a model" @v0.6.8, 6a74bba7; docs/facts.md section 5); ``files/ollama-preload.py``
sends it once the API answers. The unit runs it at boot (after docker, or with ``ollama.service`` for the
native runtime) and whenever the deploy or ``start-ollama`` starts it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from io import StringIO

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.systemd import SystemdEnabled
from pyinfra.operations import files, systemd

from ..catalog import TAG_PATTERN
from ..checks import keep_alive as keep_alive_problem

UNIT = "jetson-ollama-preload.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
SCRIPT_PATH = "/usr/local/lib/jetson-ollama/ollama-preload"  # files/ollama-preload.py, run by the board's python3
_UNIT_NAME_RE = re.compile(r"[A-Za-z0-9@._-]+\.(service|target)")
_URL_RE = re.compile(r"https?://[A-Za-z0-9.:\[\]-]+")


def unit_text(models: Sequence[str], api_url: str, keep_alive: str | int, after: str = "docker.service",
              wanted_by: str = "multi-user.target", wait: float = 120) -> str:
    """The unit that loads `models` once the API at `api_url` answers (waiting up to `wait` s). Every value
    was checked by `unit` (tags, a URL, a duration, unit names): nothing systemd would split or expand."""
    words = ["/usr/bin/python3", SCRIPT_PATH, "--api", api_url, "--keep-alive", str(keep_alive),
             "--wait", f"{wait:g}", *models]
    return (
        "# written by jetson-ollama (ollama_preload); the deploy rewrites it\n"
        "[Unit]\n"
        "Description=Load the models of ollama_preload into Ollama (jetson-ollama)\n"
        f"After={after}\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={' '.join(words)}\n"
        "TimeoutStartSec=infinity\n"  # the script bounds its own wait and each load
        "\n"
        "[Install]\n"
        f"WantedBy={wanted_by}\n"
    )


@operation()
def unit(models: Sequence[str], api_url: str, keep_alive: str | int, after: str = "docker.service",
         wanted_by: str = "multi-user.target", wait: float = 120):
    """
    Ensure the unit that loads the preloaded models at every start of Ollama is installed and enabled.

    + models: the tags to load, e.g. ``["qwen2.5:0.5b"]``; ``[]`` disables and removes the unit
    + api_url: the API's base URL on the board, e.g. ``http://127.0.0.1:11434``
    + keep_alive: how long each model stays loaded (``ollama_keep_alive``: ``5m``, ``-1``, seconds)
    + after: the unit Ollama runs under, which this one starts after: ``docker.service`` (the container
      comes back with docker) or ``ollama.service`` (native)
    + wanted_by: what starts it: ``multi-user.target`` (every boot), or ``ollama.service`` for the native
      runtime, so that each start or restart of the service loads the models again
    + wait: seconds the unit waits for ``/api/version`` before it gives up, with one line in the journal

    The unit (``/etc/systemd/system/jetson-ollama-preload.service``, a oneshot) runs
    ``/usr/local/lib/jetson-ollama/ollama-preload`` (``files/ollama-preload.py``, installed by the service
    stage). Writing it reloads systemd; it is not started here: the service stage starts it after the
    container or service (re)starts (``systemctl start`` waits for the loads).

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import preload

        preload.unit(
            name="Preloaded models at every start",
            models=["qwen2.5:0.5b"],
            api_url="http://127.0.0.1:11434",
            keep_alive="5m",
            _sudo=True,
        )
    """
    if isinstance(models, str) or not all(isinstance(tag, str) and re.fullmatch(TAG_PATTERN, tag) for tag in models):
        raise OperationError(f"models must be a list of name:tag strings such as qwen2.5:0.5b, not {models!r}")
    if not isinstance(api_url, str) or not _URL_RE.fullmatch(api_url):
        raise OperationError(f"api_url must be a base URL such as http://127.0.0.1:11434, not {api_url!r}")
    if keep_alive_problem(keep_alive):
        raise OperationError(f"keep_alive must be a duration such as 5m, -1 or a number of seconds, not {keep_alive!r}")
    for label, name in (("after", after), ("wanted_by", wanted_by)):
        if not isinstance(name, str) or not _UNIT_NAME_RE.fullmatch(name):
            raise OperationError(f"{label} must be a systemd unit name such as docker.service, not {name!r}")
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 < wait < math.inf:
        raise OperationError(f"wait must be a positive number of seconds, not {wait!r}")

    enabled = host.get_fact(SystemdEnabled, user_mode=False, machine=None, user_name=None,
                            services=[UNIT]).get(UNIT, False)
    if models:
        text = unit_text(list(models), api_url, keep_alive, after, wanted_by, wait)
        written = list(files.put._inner(src=StringIO(text), dest=UNIT_PATH, mode="644"))
        if written:  # reenable: a changed WantedBy= needs its link made anew
            yield from written
            yield from systemd.daemon_reload._inner()
            yield StringCommand("systemctl reenable", QuoteString(UNIT))
        elif not enabled:
            yield StringCommand("systemctl enable", QuoteString(UNIT))
        else:
            host.noop(f"{UNIT} loads {', '.join(models)} at every start")
        return
    if enabled:
        yield StringCommand("systemctl disable", QuoteString(UNIT))
    removed = list(files.file._inner(path=UNIT_PATH, present=False))
    if removed:
        yield from removed
        yield from systemd.daemon_reload._inner()
    elif not enabled:
        host.noop("no preloaded models: no preload unit")
