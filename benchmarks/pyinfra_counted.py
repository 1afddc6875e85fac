"""pyinfra's own CLI, counting what it sends each host (used by benchmarks/converge.py).

    python benchmarks/pyinfra_counted.py OUT.json PYINFRA-ARGS...

pyinfra 3 has no fact callback, so this wraps its internals: `pyinfra.api.facts._get_fact` (every
fact read, ShortFactBase ones included, with its arguments and the deploy stage reading it) and
`Host.run_shell_command` / `put_file` / `get_file` (every command the host gets). A command run while
a fact is being read is a fact command; any other is an operation command. Each read and command is
attributed to the innermost frame of this repository (jetson_ollama/, deploys/) and, for facts read
by one of pyinfra's operations, to that operation. OUT.json gets, per host: `facts` (one row per fact
class + arguments, with its reads per stage and its callers) and `commands` (operation commands with
the operation's name and the command's start); for the run: `stages` (seconds from the start of this
script to each pyinfra stage, and to its end) and `operations` (seconds each operation took, all hosts).
"""

from __future__ import annotations

import atexit
import json
import sys
import time
import types
from collections import defaultdict
from pathlib import Path

STARTED = time.monotonic()

from pyinfra.api import facts as pyinfra_facts  # noqa: E402 - after STARTED: the count starts before pyinfra loads
from pyinfra.api import operations as pyinfra_operations  # noqa: E402 - after STARTED: the count starts before pyinfra loads
from pyinfra.api.host import Host  # noqa: E402 - after STARTED: the count starts before pyinfra loads
from pyinfra.api.state import State  # noqa: E402 - after STARTED: the count starts before pyinfra loads
from pyinfra.api.util import get_kwargs_str  # noqa: E402 - after STARTED: the count starts before pyinfra loads

REPO = Path(__file__).resolve().parents[1]
OPERATIONS = str(Path(pyinfra_facts.__file__).parents[1] / "operations")

facts: dict = defaultdict(lambda: defaultdict(lambda: {"reads": defaultdict(int), "callers": defaultdict(int)}))
commands: dict = defaultdict(list)
fact_depth: dict = defaultdict(int)  # per host: a fact's commands (and facts its preconditions read) nest
stages: dict = {}
operations: list = []


def _callers() -> str:
    """The two innermost repository frames (`jetson_ollama/x.py:function < its caller`), and pyinfra's
    operation in between if any."""
    ours: list[str] = []
    via = None
    frame: types.FrameType | None = sys._getframe(2)
    while frame and len(ours) < 2:
        path = frame.f_code.co_filename
        if via is None and not ours and path.startswith(OPERATIONS):
            via = f"pyinfra {Path(path).stem}.{frame.f_code.co_name}"
        if path.startswith(str(REPO)) and "/benchmarks/" not in path:
            ours.append(f"{Path(path).relative_to(REPO)}:{frame.f_code.co_name}")
        frame = frame.f_back
    return " via ".join(part for part in (" < ".join(ours) or "pyinfra's executor", via) if part)


_get_fact = pyinfra_facts._get_fact


def counted_get_fact(state, host, cls, args=None, kwargs=None, *rest, **kw):
    fact_kwargs, _ = pyinfra_facts._handle_fact_kwargs(state, host, cls, args, kwargs)
    row = facts[host.name][f"{cls().name}({get_kwargs_str(fact_kwargs)})"]
    row["reads"][state.current_stage.name.lower()] += 1
    row["callers"][_callers()] += 1
    fact_depth[host.name] += 1
    try:
        return _get_fact(state, host, cls, args, kwargs, *rest, **kw)
    finally:
        fact_depth[host.name] -= 1


def _counting(method_name: str):
    method = getattr(Host, method_name)

    def counted(self, *args, **kwargs):
        if fact_depth[self.name]:
            commands[self.name].append({"kind": "fact"})
        else:
            op_hash = self.executing_op_hash
            names = sorted(self.state.op_meta[op_hash].names) if op_hash in self.state.op_meta else []
            what = str(args[0]) if method_name == "run_shell_command" and args else f"{method_name} {args[1:2]}"
            commands[self.name].append({"kind": "operation", "op": ", ".join(names) or "?",
                                        "command": what[:160], "caller": _callers()})
        return method(self, *args, **kwargs)

    setattr(Host, method_name, counted)


_set_stage = State.set_stage


def timed_set_stage(self, stage):
    stages[stage.name.lower()] = round(time.monotonic() - STARTED, 3)
    return _set_stage(self, stage)


_run_single_op = pyinfra_operations._run_single_op


def timed_run_single_op(state, op_hash):
    started = time.monotonic()
    try:
        return _run_single_op(state, op_hash)
    finally:
        names = sorted(state.op_meta[op_hash].names) if op_hash in state.op_meta else [op_hash]
        operations.append({"op": ", ".join(names), "seconds": round(time.monotonic() - started, 3)})


def dump(out: Path) -> None:
    stages["end"] = round(time.monotonic() - STARTED, 3)
    out.write_text(json.dumps({"facts": facts, "commands": commands, "stages": stages, "operations": operations},
                              indent=1) + "\n")


def main() -> None:
    out = Path(sys.argv[1])
    pyinfra_facts._get_fact = counted_get_fact  # get_fact calls it by this module global
    pyinfra_operations._run_single_op = timed_run_single_op  # so does run_ops
    State.set_stage = timed_set_stage  # type: ignore[method-assign]  # counted, then pyinfra's own
    for name in ("run_shell_command", "put_file", "get_file"):
        _counting(name)
    atexit.register(dump, out)
    from pyinfra_cli.main import main as pyinfra_main

    sys.argv = ["pyinfra", *sys.argv[2:]]
    sys.exit(pyinfra_main())


if __name__ == "__main__":
    main()
