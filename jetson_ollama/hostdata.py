"""Every host's `jetson_*`/`ollama_*` data checked before anything connects, in every way we are run.

`check_inventory([(name, data), ...])` answers one line per problem of a whole inventory,
`"jetson-ollama: host <name>: <key>: <problem> (got <value!r>)"`: each host's own problems
(`config.problems`: type, range, model tags, paths, unknown keys) and those between hosts (the cache
host must be in the inventory and name itself; its boards share its registry and lock file; no two
names reach the same board).

Where it runs, before the first connection:

- `pyinfra INVENTORY jetson_ollama.deploys.full` from any directory: pyinfra imports that module before
  it makes its State, and importing it runs `install()` (the check at the connect stage, class-wide);
- `pyinfra INVENTORY deploys/full.py` from the repository root: pyinfra runs `config.py` there before
  it reads the inventory, and that file runs `install()` too;
- a deploy file run from elsewhere (read after connecting): the deploy functions call `check_state` at
  their first call, before any operation;
- `python -m jetson_ollama rollout ...`: `rollout.plan_rollout` refuses the inventory;
- `python -m jetson_ollama check INVENTORY`: prints the problems (exit 1) or "N hosts: host data ok".
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from collections.abc import Iterable
from typing import Any

from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import State, StateStage

from .config import problems
from .defaults import DEFAULTS

PREFIX = "jetson-ollama"
# what a cache host does for its boards with its own value of these: it downloads their models from its
# ollama_registry and pins them in its ollama_lock_file, which the boards then check theirs against
SHARED_WITH_CACHE = ("ollama_registry", "ollama_lock_file")


class HostDataError(PyinfraError):
    """The inventory's host data has problems; the message is every problem line (no host contacted)."""


def _mapping(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    return dict(data.dict() if callable(getattr(data, "dict", None)) else data)  # pyinfra's HostData, or a mapping


def _effective(data: dict[str, Any], key: str) -> Any:
    value = data.get(key)
    return DEFAULTS[key] if value is None else value


def _cache_problems(hosts: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Problems between hosts, per host name: a `jetson_cache_host` outside the inventory, a cache host
    that does not name itself (it would be deployed as a board, and no cache set up), a board that does
    not share its cache host's SHARED_WITH_CACHE values."""
    found: dict[str, list[str]] = {}
    users: dict[str, list[str]] = {}
    for name, data in hosts.items():
        cache = data.get("jetson_cache_host")
        if not isinstance(cache, str) or not cache.strip():
            continue  # unset, or a bad value its own check reports
        if cache not in hosts:
            near = difflib.get_close_matches(cache, list(hosts), n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            found.setdefault(name, []).append(
                f"jetson_cache_host: not a host of the inventory{hint} (got {cache!r})")
        elif cache != name:
            users.setdefault(cache, []).append(name)
    for cache, boards in users.items():
        own = hosts[cache]
        if own.get("jetson_cache_host") != cache:
            found.setdefault(cache, []).append(
                f"jetson_cache_host: must be {cache} itself, the cache host of {', '.join(boards)}; otherwise "
                f"it is deployed as a board (got {own.get('jetson_cache_host')!r})")
            continue
        for board in boards:
            for key in SHARED_WITH_CACHE:
                value, wanted = _effective(hosts[board], key), _effective(own, key)
                if value != wanted:
                    found.setdefault(board, []).append(
                        f"{key}: must be the same as on its cache host {cache} ({wanted!r}), which downloads "
                        f"this host's models (got {value!r})")
    return found


def _address_problems(hosts: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Two inventory names for one board (the same ssh_hostname and port): two runs would change it at once."""
    by_address: dict[tuple[str, Any], list[str]] = {}
    for name, data in hosts.items():
        if name.startswith("@"):  # pyinfra's @local, @docker/..., @fake/...: no SSH address
            continue
        address = data.get("ssh_hostname") or name
        by_address.setdefault((str(address), data.get("ssh_port") or 22), []).append(name)
    found: dict[str, list[str]] = {}
    for (address, port), names in by_address.items():
        for name in names[1:] if len(names) > 1 else []:
            found.setdefault(name, []).append(
                f"ssh_hostname: {address}:{port} is also the board {names[0]}; one board, one inventory name "
                f"(got {address!r})")
    return found


def check_inventory(hosts: Iterable[tuple[str, Any]]) -> list[str]:
    """Every problem of an inventory's host data, one line each, host by host in inventory order:
    `"jetson-ollama: host <name>: <key>: <problem> (got <value!r>)"`; [] when the data is fine.

    + hosts: (name, data) pairs; data is pyinfra's `host.data` or a mapping of the host's effective data
    """
    datas = {name: _mapping(data) for name, data in hosts}
    between = _cache_problems(datas)
    twice = _address_problems(datas)
    return [f"{PREFIX}: host {name}: {line}" for name, data in datas.items()
            for line in [*problems(data), *between.get(name, []), *twice.get(name, [])]]


def summary(problem_lines: list[str], n_hosts: int, *, connected: bool = False) -> str:
    """The line above the problem lines (or the whole answer when there are none); `connected`: the run
    had connected to its hosts already (a deploy file read after the connect stage), and changed nothing."""
    hosts = f"{n_hosts} host{'' if n_hosts == 1 else 's'}"
    if not problem_lines:
        return f"{hosts}: host data ok"
    count = len(problem_lines)
    outcome = "no operation ran" if connected else "no host was contacted"
    return f"{hosts}: {count} host data problem{'' if count == 1 else 's'}; {outcome}"


# ---------------------------------------------------------------- pyinfra: before the first connection

_CHECKED = "_jetson_ollama_host_data"  # on a State: its inventory's problem lines once checked ([] when fine)
_INSTALLED = "_jetson_ollama_checks_host_data"  # on State.set_stage and exec_file once they check


def check_state(state: State) -> None:
    """Check the host data of every host of `state`'s inventory, once per state, and raise HostDataError
    (the summary line and every problem line) when there is a problem; again on every later call.

    The deploy functions (jetson_ollama/deploys) call it before their first operation, for the runs in
    which nothing checked earlier: a deploy *file* that imports them runs after the connect stage. Every
    host is checked, whatever `--limit` says: a `jetson_cache_host` must be checked against the whole
    inventory."""
    found = getattr(state, _CHECKED, None)
    if found is None:
        hosts = list(getattr(state, "inventory", None) or ())
        lines = check_inventory((host.name, host.data) for host in hosts)
        # Setup: called from set_stage(Connect); a later stage: a deploy file read after connecting
        connected = getattr(state, "current_stage", StateStage.Setup) > StateStage.Setup
        found = [summary(lines, len(hosts), connected=connected), *lines] if lines else []
        setattr(state, _CHECKED, found)
    if found:
        raise HostDataError("\n".join(found))


def syntax_line(exc: SyntaxError, filename: str) -> str:
    """A SyntaxError of a user's file in one line: `PATH, line N: SyntaxError: MSG`."""
    return f"{exc.filename or filename}, line {exc.lineno}: {type(exc).__name__}: {exc.msg}"


def install() -> None:
    """Make every pyinfra run in this process check its host data before it connects to any host, and
    answer a syntax error in an inventory or group_data file with one line. Idempotent.

    - `State.set_stage` is wrapped for the class: pyinfra's CLI (`pyinfra_cli.cli._main`) and
      `runner.run_deploy` call `state.set_stage(StateStage.Connect)` between reading the inventory and
      the first connection; there `check_state(state)` raises HostDataError, which the CLI prints as
      `--> pyinfra error ...: <lines>` (exit 1). A class, not one state: `pyinfra INVENTORY
      jetson_ollama.deploys.full` imports the deploy module before it makes its State, and `State.init`
      (after the inventory) starts an empty list of callback handlers, so neither a state nor a
      `BaseStateCallback` is there to hook when this runs.
    - `pyinfra_cli.inventory.exec_file`, when pyinfra's CLI is loaded (this never imports it: that import
      monkey-patches the process), reads inventory and group_data files: its SyntaxError (raised before
      pyinfra's own wrapping, as a traceback and an "internal exception") becomes pyinfra's CliError, one
      line (`--> pyinfra error: PATH, line N: SyntaxError: MSG`, exit 1; `syntax_line` on the error holds
      the line for `jetson-ollama check`). Installed by importing jetson_ollama.deploys (module runs) or
      from `config.py` (file runs): both run before pyinfra reads the inventory.
    """
    if not getattr(State.set_stage, _INSTALLED, False):
        set_stage = State.set_stage

        def set_stage_checked(self: State, stage: StateStage) -> None:
            if stage == StateStage.Connect:
                check_state(self)
            set_stage(self, stage)

        setattr(set_stage_checked, _INSTALLED, True)
        State.set_stage = set_stage_checked  # type: ignore[method-assign]  # pyinfra has no earlier hook
    cli_inventory: Any = sys.modules.get("pyinfra_cli.inventory")
    if cli_inventory is not None and not getattr(cli_inventory.exec_file, _INSTALLED, False):
        from pyinfra_cli.exceptions import CliError  # loaded with pyinfra_cli.inventory, which imports it

        exec_file = cli_inventory.exec_file

        def exec_file_one_line(filename: str, *args: Any, **kwargs: Any) -> Any:
            try:
                return exec_file(filename, *args, **kwargs)
            except SyntaxError as exc:  # compile() runs outside exec_file's own error wrapping
                error = CliError(syntax_line(exc, filename))
                error.syntax_line = error.message  # what `check` prints
                raise error from None

        setattr(exec_file_one_line, _INSTALLED, True)
        cli_inventory.exec_file = exec_file_one_line


# ---------------------------------------------------------------- python -m jetson_ollama check

def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "check", help="check every host's jetson_*/ollama_* data, contacting no host",
        description="Read INVENTORY (and its group_data/) as pyinfra does, without connecting, and check "
                    "every host's jetson_*/ollama_* data. Prints one line per problem and exits 1, or "
                    "prints 'N hosts: host data ok' and exits 0; 2 when the inventory cannot be read.")
    parser.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/lab.py")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gevent's monkey patching after ssl was imported: harmless here
        from . import runner
    install()  # a syntax error in the inventory or its group_data: one line, PATH, line N: SyntaxError: MSG
    try:
        hosts = runner.inventory_hosts(args.inventory)
    except runner.RunnerError as exc:
        line = getattr(exc.__context__, "syntax_line", None)  # the error the runner read, as install() made it
        print(f"{PREFIX} check: {line or exc}", file=sys.stderr)
        return 2
    found = check_inventory((host.name, host.data) for host in hosts)
    print(summary(found, len(hosts)))
    for line in found:
        print(line)
    return 1 if found else 0
