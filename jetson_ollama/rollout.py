"""Fleet rollouts: a deploy taken to the boards of an inventory in waves, each wave health-gated.

    jetson-ollama rollout inventories/lab.py deploys/full.py --waves 1,25%,100% --max-fail 10% --soak 60

Per wave: the deploy runs on the wave's boards (plus the cache hosts) with `jetson_rollout_keep_previous`
set, so each board keeps its previous Ollama container; after `--soak` seconds the gate deploy
(`jetson_ollama.deploys.gate`, `--gate`) checks every board of the wave that connected, restores the previous container
where the check fails and drops it where it passes. A board is ok when both its deploy and its gate
are. More failures in a wave than `--max-fail` allows stops the rollout: later waves are untouched.

Board order is the inventory's, the `--canary` group's boards first (they are wave 1, whatever the
first wave count says). Cache hosts (a host whose name is its own `jetson_cache_host`) are not boards:
they are in no wave, but in every deploy run (their deploy is idempotent infrastructure), never gated.

The state of the rollout is kept on the controller (`.jetson-ollama/rollout-<inventory stem>.json`),
written after every wave. A deploy is a file or the package's deploy by name (`jetson_ollama.deploys.full`:
a project made by `jetson-ollama init` has no deploy files). A board's release is a hash of the deploys (a
file's bytes; a deploy by name, the package's version and its module) and the board's
`jetson_*`/`ollama_*` data; a re-run skips the boards that are ok at the same release, retries the
others and continues with the first unfinished wave. `--recheck` converges and gates every board again.
The release does not cover the library's code: after upgrading jetson-ollama, re-run with `--recheck`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from . import deploy_refs
from .cache import is_cache_host
from .cli import one_line_errors
from .hostdata import check_inventory, summary
from .remote import InventoryHost

KEEP_PREVIOUS = {"jetson_rollout_keep_previous": True}  # host data of the deploy runs
STATE_DIR = ".jetson-ollama"
DEFAULT_GATE = "jetson_ollama.deploys.gate"  # the package's own: runs from any directory
RELEASE_PREFIXES = ("jetson_", "ollama_")
COLUMNS = ("board", "wave", "result", "release", "image/version", "models")


# ---------------------------------------------------------------- waves and limits

def _fraction(text: str, what: str) -> Fraction:
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(what) from None


def parse_waves(text: str, n_boards: int) -> list[int]:
    """The cumulative board counts of each wave for `n_boards` boards: "1,25%,100%" with 8 boards is
    [1, 2, 8]. An entry is a count of boards or a percentage of them (rounded up); entries must grow
    and the last one must be 100% or `n_boards`. A percentage that rounds to the previous wave's
    count (25% of 2 boards after 1) makes no wave of its own. Raises ValueError (one line)."""
    if n_boards < 1:
        raise ValueError("there are no boards to roll out to")
    items = [item.strip() for item in text.split(",")]
    usage = f"--waves {text!r}: give counts of boards and percentages, e.g. 1,25%,100%"
    if not text.strip() or not all(items):
        raise ValueError(usage)
    counts: list[int] = []
    last_count, last_percent, previous_was_percent = 0, Fraction(0), False
    for item in items:
        if item.endswith("%"):
            percent = _fraction(item[:-1].strip(), usage)
            if not 0 < percent <= 100 or percent <= last_percent:
                raise ValueError(f"--waves {text!r}: {item} must be above 0%, at most 100% and above "
                                 "the percentages before it")
            last_percent, is_percent = percent, True
            count = math.ceil(percent * n_boards / 100)
        else:
            if not item.isdigit():
                raise ValueError(usage)
            count, is_percent = int(item), False
            if count < 1 or count <= last_count:
                raise ValueError(f"--waves {text!r}: {item} must be at least 1 and above the counts before it")
            if count > n_boards:
                raise ValueError(f"--waves {text!r}: {item} boards, but the inventory has {n_boards}")
            last_count = count
        if counts and count <= counts[-1]:
            if count == counts[-1] and (is_percent or previous_was_percent):
                previous_was_percent = is_percent
                continue  # rounding put this wave onto the previous one
            raise ValueError(f"--waves {text!r}: {item} is {count} boards, not more than the "
                             f"{counts[-1]} before it")
        counts.append(count)
        previous_was_percent = is_percent
    last = items[-1]
    if not (last_percent == 100 if last.endswith("%") else int(last) == n_boards):
        raise ValueError(f"--waves {text!r}: the last wave must be 100% or {n_boards} (every board)")
    return counts


def parse_limit(text: str, wave_size: int) -> int:
    """The failures allowed in a wave of `wave_size` boards: a count ("2") or a percentage of the wave,
    rounded down ("10%" of 6 boards is 0: one failure in 6 stops the rollout). Raises ValueError."""
    item = text.strip()
    usage = f"--max-fail {text!r}: give a count of boards (2) or a percentage of each wave (10%)"
    if item.endswith("%"):
        percent = _fraction(item[:-1].strip(), usage)
        if not 0 <= percent <= 100:
            raise ValueError(usage)
        return math.floor(percent * wave_size / 100)
    if not item.isdigit():
        raise ValueError(usage)
    return int(item)


# ---------------------------------------------------------------- the plan of a rollout

class Runner(Protocol):
    """What the engine needs of jetson_ollama.runner (a stand-in in the tests)."""

    def run_deploy(self, inventory_path: str, deploy_paths: list[str], limit: list[str],
                   data: dict | None = None, host_data: dict[str, dict] | None = None) -> dict: ...


@dataclass(frozen=True)
class Options:
    inventory: str
    deploys: list[str]
    waves: str = "100%"
    max_fail: str = "0"
    soak: float = 0.0
    canary: str | None = None
    state: str | None = None  # default: .jetson-ollama/rollout-<inventory stem>.json
    recheck: bool = False
    gate: str = DEFAULT_GATE


@dataclass
class Plan:
    options: Options
    waves: list[list[str]]          # board names per wave, in rollout order
    cache_hosts: list[str]
    releases: dict[str, str]        # board -> release
    state_path: Path
    state: dict[str, Any]           # the state file as read (empty when there is none)


def default_state_path(inventory: str) -> Path:
    return Path(STATE_DIR) / f"rollout-{Path(inventory).stem}.json"


def release_of(deploy_bytes: Sequence[bytes], data: Mapping[str, Any]) -> str:
    """12 hex of sha256 over the deploy files' bytes and the board's jetson_*/ollama_* data (sorted JSON)."""
    digest = hashlib.sha256()
    for content in deploy_bytes:
        digest.update(hashlib.sha256(content).digest())
    settings = {key: value for key, value in data.items() if key.startswith(RELEASE_PREFIXES)}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def board_waves(hosts: Sequence[InventoryHost], waves: str, canary: str | None = None) -> list[list[str]]:
    """The boards (every host but the cache hosts) of each wave, canaries first. Raises ValueError."""
    boards = [host for host in hosts if not is_cache_host(host)]
    if not boards:
        raise ValueError("the inventory has no boards (only cache hosts)" if hosts else "the inventory has no hosts")
    order = [host.name for host in boards]
    counts = parse_waves(waves, len(order))
    if canary is not None:
        canaries = [host.name for host in boards if canary in host.groups]
        if not canaries:
            raise ValueError(f"--canary {canary}: no board of the inventory is in that group")
        order = canaries + [name for name in order if name not in canaries]
        counts = [len(canaries)] + [count for count in counts if count > len(canaries)]
    return [order[start:end] for start, end in zip([0, *counts], counts, strict=False)]


def load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"the rollout state {path} does not read ({exc}); move it away or pass --state") from None
    if not isinstance(state, dict) or not isinstance(state.get("boards", {}), dict):
        raise ValueError(f"the rollout state {path} is not a rollout state; move it away or pass --state")
    return state


def plan_rollout(hosts: Sequence[InventoryHost], options: Options) -> Plan:
    """Check the options against the inventory and read the state: everything that can be wrong
    before anything connects. Raises ValueError (one line; for bad host data, a line and one line per
    problem, from hostdata.check_inventory)."""
    if problems := check_inventory((host.name, host.data) for host in hosts):
        raise ValueError("\n".join([summary(problems, len(hosts)), *problems]))
    if not options.deploys:
        raise ValueError("name at least one deploy (a file, or jetson_ollama.deploys.full)")
    for path in [*options.deploys, options.gate]:
        if problem := deploy_refs.problem(path):
            raise ValueError(problem + (" (--gate)" if path == options.gate else ""))
    if not 0 <= options.soak < math.inf:
        raise ValueError(f"--soak {options.soak:g}: seconds, 0 or more")
    parse_limit(options.max_fail, 1)
    waves = board_waves(hosts, options.waves, options.canary)
    contents = [deploy_refs.source(path) for path in options.deploys]
    releases = {host.name: release_of(contents, host.data) for host in hosts if not is_cache_host(host)}
    state_path = Path(options.state) if options.state else default_state_path(options.inventory)
    return Plan(options, waves, [host.name for host in hosts if is_cache_host(host)], releases, state_path,
                load_state(state_path))


# ---------------------------------------------------------------- running it

@dataclass
class Outcome:
    code: int                        # 0: every board ok; 1: stopped, or a board failed
    waves: list[list[str]]
    boards: dict[str, dict]          # board -> its state entry
    stopped_at: int | None           # the wave that stopped the rollout
    summary: str
    table: str


def gate_findings() -> Mapping[str, dict]:
    """The gate's per-board findings (jetson_ollama.stages.gate.RESULTS), once the gate has run here."""
    module = sys.modules.get("jetson_ollama.stages.gate")
    return getattr(module, "RESULTS", None) or {}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _pending(wave: int, release: str) -> dict[str, Any]:
    return {"wave": wave, "result": "pending", "reason": None, "release": release, "version": None,
            "models": {}, "changed": 0, "updated": None}


def _judge(wave: int, release: str, deploy, gate, finding: Mapping | None) -> dict[str, Any]:
    """A board's entry from its deploy and gate results and the gate's findings."""
    finding = finding or {}
    entry = {"wave": wave, "result": "failed", "reason": None, "release": release,
             "version": finding.get("version"), "models": dict(finding.get("models") or {}),
             "changed": getattr(deploy, "changed", 0), "updated": _now()}
    if deploy is None or not deploy.connected:
        entry["reason"] = f"unreachable: {deploy.error if deploy else 'no result'}"
    elif not deploy.ok:
        entry["reason"] = deploy.error or "the deploy failed"
    elif gate is None or not gate.connected:
        entry["reason"] = f"unreachable: {gate.error if gate else 'not gated'}"
    elif not gate.ok or finding.get("ok") is False:
        problems = "; ".join(finding.get("problems") or [])
        entry["reason"] = gate.error or f"health gate failed: {problems or 'no reason given'}"
    else:
        entry["result"] = "ok"
    return entry


def _write_state(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(document, stream, indent=2, sort_keys=True, default=str)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def run_rollout(runner: Runner, plan: Plan, *, findings: Callable[[], Mapping[str, dict]] | None = None,
                sleep: Callable[[float], Any] = time.sleep, out: Callable[[str], Any] = print) -> Outcome:
    """Roll the plan out wave by wave through `runner` (jetson_ollama.runner), writing the state after
    every wave; `findings` answers the gate's per-board findings (default: gate_findings), `out` gets
    one progress line per wave and board."""
    findings = findings or gate_findings
    options = plan.options
    old_boards = plan.state.get("boards", {})
    boards: dict[str, dict] = {}
    for wave, names in enumerate(plan.waves, 1):
        for name in names:
            old, release = old_boards.get(name) or {}, plan.releases[name]
            done = not options.recheck and old.get("result") == "ok" and old.get("release") == release
            boards[name] = {**old, "wave": wave} if done else _pending(wave, release)
    document = {**plan.state, "inventory": options.inventory, "deploys": list(options.deploys),
                "gate": options.gate, "waves": options.waves, "max_fail": options.max_fail,
                "boards": {**old_boards, **boards}, "cache_hosts": dict(plan.state.get("cache_hosts") or {})}

    def save() -> None:
        document["updated"] = _now()
        document["boards"].update(boards)
        _write_state(plan.state_path, document)

    save()
    stopped_at, stop_text = None, ""
    total = len(plan.waves)
    for wave, names in enumerate(plan.waves, 1):
        todo = [name for name in names if boards[name]["result"] != "ok"]
        if not todo:
            out(f"wave {wave}/{total}: {_plural(len(names), 'board')} already ok at this release")
            continue
        skipped = f" ({len(names) - len(todo)} already ok)" if len(todo) < len(names) else ""
        out(f"wave {wave}/{total}: {', '.join(todo)}{skipped}")
        deployed = runner.run_deploy(options.inventory, list(options.deploys), todo + plan.cache_hosts,
                                     data=dict(KEEP_PREVIOUS))
        for name in plan.cache_hosts:
            result = deployed.get(name)
            cached = bool(result and result.ok)
            document["cache_hosts"][name] = {"result": "ok" if cached else "failed", "updated": _now(),
                                             "reason": None if cached else (result.error if result else "no result")}
            if not cached:
                out(f"  cache host {name}: failed: {document['cache_hosts'][name]['reason']}")
        connected = [name for name in todo if deployed.get(name) is not None and deployed[name].connected]
        gated: dict = {}
        found: Mapping[str, dict] = {}
        if connected:
            if options.soak:
                out(f"  soak {options.soak:g} s")
                sleep(options.soak)
            stale = findings()
            for name in connected:
                if isinstance(stale, dict):
                    stale.pop(name, None)  # findings of an earlier gate run in this process
            # with the cache hosts: a board's plan needs its cache host in the run (the gate skips them)
            gated = runner.run_deploy(options.inventory, [options.gate], connected + plan.cache_hosts)
            found = findings()
        for name in todo:
            boards[name] = _judge(wave, plan.releases[name], deployed.get(name), gated.get(name), found.get(name))
            entry = boards[name]
            detail = f"{entry['changed']} changed" if entry["result"] == "ok" else entry["reason"]
            out(f"  {name}: {entry['result']}: {detail}")
        failures = sum(boards[name]["result"] == "failed" for name in names)
        allowed = parse_limit(options.max_fail, len(names))
        save()
        if failures > allowed:
            stopped_at = wave
            limit = (f"{options.max_fail} of {len(names)}" if options.max_fail.strip().endswith("%")
                     else f"--max-fail {options.max_fail}")
            later = "; later waves untouched" if wave < total else ""
            stop_text = f"stopped at wave {wave}: {_plural(failures, 'failure')} > {allowed} allowed ({limit}){later}"
            break

    order = [name for names in plan.waves for name in names]
    ok = sum(boards[name]["result"] == "ok" for name in order)
    failed = sum(boards[name]["result"] == "failed" for name in order)
    if stop_text:
        summary = stop_text
    else:
        summary = f"{ok}/{len(order)} boards ok in {_plural(total, 'wave')}"
        if failed:
            summary += f"; {failed} failed within --max-fail {options.max_fail}"
    code = 0 if ok == len(order) and stopped_at is None else 1
    return Outcome(code, plan.waves, {name: boards[name] for name in order}, stopped_at, summary,
                   render_table(order, boards))


def rollout(runner: Runner, options: Options, hosts: Sequence[InventoryHost], **kwargs) -> Outcome:
    """plan_rollout, then run_rollout."""
    return run_rollout(runner, plan_rollout(hosts, options), **kwargs)


# ---------------------------------------------------------------- the table

def _cells(name: str, entry: Mapping[str, Any]) -> list[str]:
    models = ", ".join(f"{tag} {digest}" for tag, digest in (entry.get("models") or {}).items())
    return [name, str(entry.get("wave", "-")), str(entry.get("result", "pending")), entry.get("release") or "-",
            entry.get("version") or "-", models or "-"]


def render_table(order: Sequence[str], boards: Mapping[str, Mapping[str, Any]]) -> str:
    """Plain text columns, one row per board in rollout order, then one line per failed board's reason."""
    rows = [list(COLUMNS)] + [_cells(name, boards[name]) for name in order]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines += [f"{name}: {boards[name]['reason']}" for name in order
              if boards[name].get("result") == "failed" and boards[name].get("reason")]
    return "\n".join(lines)


# ---------------------------------------------------------------- command line

def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "rollout", help="take a deploy to the fleet in health-gated waves",
        description="Run DEPLOY on the boards of INVENTORY in waves; after each wave a health gate "
                    "restores the previous Ollama container of a board that fails it. Too many failures "
                    "in a wave stop the rollout; a re-run resumes it.")
    parser.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/lab.py")
    parser.add_argument("deploys", nargs="+", metavar="DEPLOY",
                        help="deploys: files (deploys/full.py) or the package's by name (jetson_ollama.deploys.full)")
    parser.add_argument("--waves", default="100%", help="cumulative board counts or percentages, the last 100%% "
                                                        "(default: 100%%), e.g. 1,25%%,100%%")
    parser.add_argument("--max-fail", default="0", metavar="N|P%",
                        help="failures allowed per wave, a count or a percentage of the wave rounded down "
                             "(default: 0)")
    parser.add_argument("--soak", type=float, default=0.0, metavar="S",
                        help="seconds between a wave's deploy and its health gate (default: 0)")
    parser.add_argument("--canary", metavar="GROUP", help="the boards of this inventory group are wave 1")
    parser.add_argument("--state", metavar="PATH", help=f"the rollout's state file (default: "
                                                         f"{STATE_DIR}/rollout-<inventory stem>.json)")
    parser.add_argument("--recheck", action="store_true", help="converge and gate every board again, even "
                                                                "those the state has ok at this release")
    parser.add_argument("--gate", default=DEFAULT_GATE, metavar="DEPLOY",
                        help=f"the health gate deploy, a file or by name (default: {DEFAULT_GATE})")

    one_line_errors(parser, "jetson-ollama rollout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def refuse(message: str) -> int:
        print(f"jetson-ollama rollout: {message}", file=sys.stderr)
        return 2

    if not Path(args.inventory).is_file():
        return refuse(f"no inventory file {args.inventory}")
    options = Options(args.inventory, list(args.deploys), args.waves, args.max_fail, args.soak, args.canary,
                      args.state, args.recheck, args.gate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gevent's monkey patching after ssl was imported: harmless here
        from . import runner
    try:
        hosts = runner.inventory_hosts(args.inventory)
        plan = plan_rollout(hosts, options)
    except ValueError as exc:  # RunnerError is one
        return refuse(str(exc))
    _log_to_stderr()
    outcome = run_rollout(runner, plan, out=lambda line: print(line, flush=True))
    print(f"\nstate: {plan.state_path}\n")
    print(outcome.table)
    print(outcome.summary)
    return outcome.code


def _log_to_stderr() -> None:
    """pyinfra's own log lines, as the pyinfra command prints them, on stderr."""
    import logging

    from pyinfra import logger
    from pyinfra_cli.log import setup_logging

    if not logger.handlers:
        setup_logging(logging.INFO)
