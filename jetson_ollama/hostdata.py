"""Every host's `jetson_*`/`ollama_*` data checked before anything connects, in every way we are run.

`check_inventory([(name, data), ...])` answers one line per problem of a whole inventory,
`"jetson-ollama: host <name>: <key>: <problem> (got <value!r>)"`: each host's own problems
(`config.problems`: type, range, model tags, paths, unknown keys) and those between hosts (the cache
host must be in the inventory and name itself; its boards share its registry and lock file; no two
names reach the same board).

Where it runs, before the first connection:

- `pyinfra INVENTORY deploys/full.py` from the repository root: pyinfra runs `config.py` there before
  it reads the inventory, and that file calls `check_before_connecting(state)`;
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
from pyinfra.api.state import StateStage

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


def summary(problem_lines: list[str], n_hosts: int) -> str:
    """The line above the problem lines (or the whole answer when there are none)."""
    hosts = f"{n_hosts} host{'' if n_hosts == 1 else 's'}"
    if not problem_lines:
        return f"{hosts}: host data ok"
    count = len(problem_lines)
    return f"{hosts}: {count} host data problem{'' if count == 1 else 's'}; no host was contacted"


# ---------------------------------------------------------------- pyinfra: before the first connection

def check_before_connecting(state) -> None:
    """Make a pyinfra run check the host data of every host of its inventory when it reaches its
    connect stage, and stop there with HostDataError (every problem line) before any host is contacted.

    + state: the run's `pyinfra.api.State`, as `config.py` finds it (`pyinfra.context.ctx_state`)

    pyinfra runs `config.py` before it reads the inventory, and `State.init` (after the inventory) starts
    an empty list of callback handlers, so a `BaseStateCallback` added from `config.py` is dropped. What
    runs between the inventory and the first connection is `state.set_stage(StateStage.Connect)`, in the
    CLI (`pyinfra_cli.cli._main`) and in `runner.run_deploy`: this wraps it on this one state. The CLI
    prints the error as `--> pyinfra error ...: <lines>` and exits 1. Every host is checked, whatever
    `--limit` says: a `jetson_cache_host` must be checked against the whole inventory.
    """
    if getattr(state, "_jetson_ollama_checks_host_data", False):
        return
    set_stage = state.set_stage

    def set_stage_checked(stage: StateStage) -> None:
        if stage == StateStage.Connect:
            hosts = list(state.inventory)
            if found := check_inventory((host.name, host.data) for host in hosts):
                raise HostDataError("\n".join([summary(found, len(hosts)), *found]))
        set_stage(stage)

    state.set_stage = set_stage_checked
    state._jetson_ollama_checks_host_data = True


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
    try:
        hosts = runner.inventory_hosts(args.inventory)
    except runner.RunnerError as exc:
        print(f"{PREFIX} check: {exc}", file=sys.stderr)
        return 2
    found = check_inventory((host.name, host.data) for host in hosts)
    print(summary(found, len(hosts)))
    for line in found:
        print(line)
    return 1 if found else 0
