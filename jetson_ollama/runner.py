"""pyinfra in this process, as `pyinfra INVENTORY DEPLOY... -y --limit ...` runs it, with a result per host.

The rollout (`python -m jetson_ollama rollout`) runs many deploys over parts of one inventory and needs
each host's outcome as data, not as a log to parse: `run_deploy` follows the CLI's own sequence
(pyinfra_cli.cli: make the inventory, init the state with the limit, connect, load the deploy files,
run the operations, disconnect) and answers `{host name: HostResult}`. pyinfra's log goes to the
`pyinfra` logger (the rollout command sends it to stderr); nothing here prints to stdout.

`inventory_hosts` is the one reader of an inventory file. Where a process must not be monkey-patched
(the fleet report, the board tests: remote.py), it runs in a subprocess:
`python -m jetson_ollama.runner inventory PATH` prints the hosts as JSON, or one line on stderr.

Importing this module imports `pyinfra_cli`, which runs gevent's `monkey.patch_all()` in this process,
as the pyinfra command does first thing: the SSH connector needs cooperative sockets to reach boards
in parallel. Import it only where a rollout runs.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import pyinfra
import pyinfra.api.inventory
from pyinfra.api import Config, State, connectors
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operations import run_ops
from pyinfra.api.state import BaseStateCallback, StateStage
from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state
from pyinfra_cli.exceptions import UnexpectedExternalError
from pyinfra_cli.inventory import make_inventory
from pyinfra_cli.util import PYTHON_CODES, exec_file, json_encode

from . import deploy_refs
from .links import lost_link
from .plan import reset_plans
from .remote import InventoryHost

__all__ = ["HostInfo", "HostResult", "RunnerError", "inventory_hosts", "run_deploy"]


class RunnerError(ValueError):
    """The inventory or the limit cannot be used (one line)."""


# pyinfra looks its connectors up among the installed packages' entry points each time it makes an inventory
# (twice: every connector, then those that execute), a walk of every installed distribution's metadata, about
# 25 ms here. The packages installed do not change while this process runs: look them up once.
_all_connectors = functools.cache(connectors.get_all_connectors)


def _connectors() -> dict[str, Any]:
    return dict(_all_connectors())


def _execution_connectors() -> dict[str, Any]:
    return {name: module for name, module in _all_connectors().items() if module.handles_execution}


pyinfra.api.inventory.get_all_connectors = _connectors
pyinfra.api.inventory.get_execution_connectors = _execution_connectors


# An inventory host as pyinfra sees it: name, groups, and its effective data (override, host, group and
# `group_data/` data merged). One type for every reader: remote.InventoryHost.
HostInfo = InventoryHost


@dataclass
class HostResult:
    """What one run did on one host."""

    ok: bool
    connected: bool
    error: str | None = None  # the first failure's last stderr line, the connection error, or the lost link
    changed: int = 0          # operations that changed something
    ops: int = 0              # operations run on the host (failed ones included)


class _Recorder(BaseStateCallback):
    """Keeps each host's connection error, which pyinfra only logs."""

    def __init__(self) -> None:
        self.connect_errors: dict[str, str] = {}

    # pyinfra declares the callbacks staticmethods but calls them on the instance (State.trigger_callbacks):
    # a method, so that it can keep the error; state is pyinfra's argument, unused here
    def host_connect_error(self, state, host, error):  # type: ignore[override]  # noqa: ARG002
        self.connect_errors[host.name] = _one_line(error.args[0] if getattr(error, "args", None) else error)


def _one_line(text: Any) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else str(text).strip()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UnexpectedExternalError):  # an exception in deploy code, wrapped by exec_file
        return f"{type(exc.exception).__name__} in {exc.filename}: {_one_line(exc.exception)}"
    return _one_line(exc) or type(exc).__name__


def _use_cwd() -> str:
    # as the pyinfra command does: deploy and inventory files import modules next to them
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    return cwd


def _load_inventory(inventory_path: str, state: State, override_data: dict | None):
    if not os.path.isfile(inventory_path):  # pyinfra would read a missing file as a host name
        raise RunnerError(f"no inventory file {inventory_path}")
    PYTHON_CODES.clear()  # pyinfra caches compiled files by name: read them as they are now
    with ctx_state.use(state):
        try:
            return make_inventory(inventory_path, cwd=state.cwd, override_data=dict(override_data or {}))
        except Exception as exc:  # noqa: BLE001 - any error of the user's inventory file is one line
            raise RunnerError(f"pyinfra could not read {inventory_path}: {_describe(exc)}") from None


def inventory_hosts(inventory_path: str) -> list[HostInfo]:
    """The hosts of a pyinfra inventory file, in inventory order, with their groups and effective data.
    Runs the inventory file and its `group_data/` files; connects to nothing. Raises RunnerError."""
    state = State()
    state.cwd = _use_cwd()
    inventory = _load_inventory(inventory_path, state, None)
    return [HostInfo(host.name, list(dict.fromkeys(host.groups)), host.data.dict()) for host in inventory]


def _print_inventory(inventory_path: str) -> int:
    """`python -m jetson_ollama.runner inventory PATH`: inventory_hosts as JSON on stdout (values JSON
    cannot hold as pyinfra's `debug-inventory --json` writes them); 2 and one line on stderr when the
    inventory cannot be read."""
    try:
        hosts = inventory_hosts(inventory_path)
    except RunnerError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # an inventory file that exits: a refusal like any other error of it
        print(f"pyinfra could not read {inventory_path}: {_one_line(exc.code)}", file=sys.stderr)
        return 2
    rows = [{"name": host.name, "groups": host.groups, "data": host.data} for host in hosts]
    print(json.dumps(rows, default=json_encode))
    return 0


def _load_deploy_file(state: State, filename: str) -> dict:
    """pyinfra_cli.util.load_deploy_file, but an exception in the deploy code fails only the host it
    happened on (the CLI stops the whole run); hosts start in inventory order. Answers {host: error}."""
    state.current_deploy_filename = filename

    def load(host):
        try:
            with ctx_config.use(state.config.copy()), ctx_host.use(host):
                exec_file(filename)
        except Exception as exc:  # noqa: BLE001 - one board's bad data must not stop the others
            return exc
        return None

    hosts = [host for host in state.inventory if host in state.active_hosts]
    greenlets = {host: state.pool.spawn(load, host) for host in hosts}
    gevent.joinall(list(greenlets.values()))
    errors = {host: greenlet.get() for host, greenlet in greenlets.items()}
    return {host: _describe(exc) for host, exc in errors.items() if exc is not None}


def _host_result(state: State, order: list[str], host, connect_error: str | None, prepare_error: str | None,
                 run_error: str | None) -> HostResult:
    if host not in state.activated_hosts:
        return HostResult(ok=False, connected=False, error=connect_error or "did not connect")
    changed = ops = 0
    error = prepare_error
    for op_hash in order:
        op_data = state.ops[host].get(op_hash)
        if op_data is None or not op_data.operation_meta.is_complete():
            continue
        meta = op_data.operation_meta
        ops += 1
        if meta.did_change():
            changed += 1
        if error is None and not meta.did_succeed() and not op_data.global_arguments.get("_ignore_errors"):
            lines = meta.stderr_lines or meta.stdout_lines
            names = ", ".join(sorted(state.get_op_meta(op_hash).names)) or "an operation"
            error = _one_line(lines[-1]) if lines else f"{names} failed"
    failed = host in state.failed_hosts or run_error is not None  # an aborted run finished no host
    if lost := lost_link(host.name):  # why its commands failed: its link is gone
        error = lost
    if failed and error is None:
        error = run_error or "failed"
    return HostResult(ok=not failed and error is None, connected=True, error=error, changed=changed, ops=ops)


def run_deploy(inventory_path: str, deploy_paths: list[str], limit: list[str], data: dict | None = None,
               host_data: dict[str, dict] | None = None) -> dict[str, HostResult]:
    """Run deploy files on the hosts named in `limit` (exact inventory names, no patterns), as
    `pyinfra INVENTORY DEPLOY... -y --limit NAME...` would from the current directory (its config.py
    and group_data/ included), and answer one HostResult per host of the limit.

    + data: overrides every host's data (as `--data key=value`)
    + host_data: per host name, data that overrides that host's data (and `data`)

    A host that does not connect is ok=False, connected=False with the connection error; a host whose
    deploy code raises, or one of whose operations fails, is ok=False with one line. The library's
    module-level state (the board plans) is reset first, so runs in one process do not share it.
    Raises RunnerError for a missing inventory or a name that is not in it.
    """
    limit = list(dict.fromkeys(limit))
    if not limit:
        return {}
    reset_plans()
    state = State(check_for_changes=False)  # -y: no change detection pass, no prompt
    state.cwd = _use_cwd()
    config = Config()
    recorder = _Recorder()
    was_cli = pyinfra.is_cli
    pyinfra.is_cli = True  # operation order from the deploy files' lines, as in the CLI
    try:
        with ctx_state.use(state), ctx_config.use(config):
            config_file = os.path.join(state.cwd, "config.py")
            if os.path.exists(config_file):
                exec_file(config_file)
            config.lock_current_state()
            inventory = _load_inventory(inventory_path, state, data)
            unknown = [name for name in limit if inventory.get_host(name, default=None) is None]
            if unknown:
                raise RunnerError(f"not in {inventory_path}: {', '.join(unknown)}")
            for name, values in (host_data or {}).items():
                host = inventory.get_host(name, default=None)
                for key, value in (values or {}).items() if host is not None else ():
                    setattr(host.data, key, value)  # the host's override layer, above every other
            with ctx_inventory.use(inventory):
                hosts = [inventory.get_host(name) for name in limit]
                state.init(inventory, config, initial_limit=hosts)
                state.add_callback_handler(recorder)
                prepare_errors, run_error = _run(state, config, deploy_paths)
                order = state.get_op_order()
                return {host.name: _host_result(state, order, host, recorder.connect_errors.get(host.name),
                                                prepare_errors.get(host), run_error)
                        for host in hosts}
    finally:
        pyinfra.is_cli = was_cli
        if state.initialised:
            with ctx_state.use(state):
                disconnect_all(state)


def _run(state: State, config: Config, deploy_paths: list[str]) -> tuple[dict, str | None]:
    """Connect, load the deploys, run the operations; pyinfra's "No hosts remaining!" (every host
    failed) ends the run early, as in the CLI. Answers the hosts' prepare errors and the run's error.
    A deploy by name (`jetson_ollama.deploys.full`) runs from a deploy file that calls it (deploy_refs)."""
    with tempfile.TemporaryDirectory(prefix="jetson-ollama-deploys-") as directory:
        files = [deploy_refs.as_file(ref, Path(directory)) for ref in deploy_paths]
        return _run_files(state, config, files)


def _run_files(state: State, config: Config, deploy_paths: list[str]) -> tuple[dict, str | None]:
    prepare_errors: dict = {}
    try:
        state.set_stage(StateStage.Connect)
        connect_all(state)
        state.set_stage(StateStage.Prepare)
        for number, filename in enumerate(deploy_paths):
            config.lock_current_state()
            state.current_op_file_number = number
            PYTHON_CODES.pop(filename, None)  # read it as it is now, not as an earlier run saw it
            failures = _load_deploy_file(state, filename)
            config.reset_locked_state()
            prepare_errors.update(failures)
            state.fail_hosts(set(failures))
        state.set_stage(StateStage.Execute)
        run_ops(state)
    except PyinfraError as exc:
        return prepare_errors, _one_line(exc)
    state.set_stage(StateStage.Disconnect)
    return prepare_errors, None


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "inventory":
        sys.exit("usage: python -m jetson_ollama.runner inventory INVENTORY")
    sys.exit(_print_inventory(sys.argv[2]))
