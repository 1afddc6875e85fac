"""Converge speed of deploys/full.py at fleet scale, on simulated boards (run as root from the repo root).

    python benchmarks/converge.py [--sizes 1,10,50] [--save DIR]

For each size (Orin Nano 8GB r36.2.0 boards, dockerd on each, a fresh fleet with a unique name per
size): the first converge, then the no-op re-run, then the no-op re-run again under
benchmarks/pyinfra_counted.py, which counts what pyinfra sends each board. Printed per size:
- wall time of the first converge and of the no-op re-run, in total and per board;
- controller CPU seconds (user+sys of the pyinfra process and the children it waited for, from
  wait4's rusage) and its peak RSS (ru_maxrss), of both runs, in total and per board;
- CPU seconds the boards used meanwhile (the fleet's cgroup), and the whole machine's busy CPU seconds
  (boards and controller share its cores here, as real boards would not);
- host memory the running boards take (MemAvailable before `up` and after), and the lowest
  MemAvailable seen during the runs;
- per board on the (counted) no-op run: commands split into fact commands and operation commands,
  the operation commands themselves (operation, caller, command), and every fact (class + arguments)
  read more than once per board, with its reads in the prepare and execute stages and its callers;
- whether both no-op runs changed nothing (`--json` totals: no changed, no failed operation).
Then the ratios. Targets (issue 13, item 6): the no-op re-run of the largest size at most 3x the one
of 1 board; a no-op run sends only fact commands, each fact read once per board.
Every run keeps pyinfra's default parallelism (20 hosts per core).
`--save DIR` keeps the raw counts (DIR/counts-N.json) and the pyinfra logs of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("JETSON_SIM_HOME", "/var/lib/jetson-sim-bench")

from jetson_sim.fleet import Fleet, SimError  # noqa: E402 - after JETSON_SIM_HOME is set

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
COUNTED = str(REPO / "benchmarks" / "pyinfra_counted.py")
PROFILE = "orin-nano-8gb-r36.2.0"
NOOP_TARGET = 3.0  # no-op re-run, largest size vs 1 board

def mem_available_mb() -> int:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return int(info["MemAvailable"].split()[0]) // 1024


def board_cpu(fleet: Fleet) -> float:
    """CPU seconds the fleet's boards used (their cgroups: systemd, sshd, dockerd, every command run there)."""
    for line in (fleet.cgroup / "cpu.stat").read_text().splitlines():
        if line.startswith("usage_usec "):
            return int(line.split()[1]) / 1e6
    return 0.0


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (every process, other people's included)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Run:
    """One pyinfra process: wall seconds, CPU seconds (user+sys, its waited-for children included),
    peak RSS in MB, the CPU seconds the boards and the whole machine used meanwhile, the lowest
    MemAvailable seen while it ran, its output."""

    def __init__(self, fleet: Fleet, args: list[str], timeout: float, logs: Path, label: str,
                 counts: Path | None = None):
        env = dict(os.environ, JETSON_SIM_FLEET=fleet.name,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        cmd = ([sys.executable, COUNTED, str(counts)] if counts else [PYINFRA]) + [
            "inventories/sim.py", "deploys/full.py", "-y", *args]
        out, err = logs / f"{label}.stdout", logs / f"{label}.stderr"
        self.min_available = mem_available_mb()
        boards_before, machine_before = board_cpu(fleet), machine_busy()
        started = time.monotonic()
        with open(out, "w") as stdout, open(err, "w") as stderr:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                    start_new_session=True)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what this run started
                os.wait4(proc.pid, 0)
                raise SimError(f"{label}: pyinfra still running after {timeout:.0f} s (see {err})")
            self.min_available = min(self.min_available, mem_available_mb())
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        self.wall = time.monotonic() - started
        self.board_cpu, self.machine_cpu = board_cpu(fleet) - boards_before, machine_busy() - machine_before
        self.cpu = usage.ru_utime + usage.ru_stime
        self.rss_mb = usage.ru_maxrss / 1024
        self.stdout, self.stderr = out.read_text(), err.read_text()
        if proc.returncode != 0:
            raise SimError(f"{label}: pyinfra exited {proc.returncode}:\n{self.stderr[-3000:]}")

    def changes(self) -> list[str]:
        """From --json: the operations that changed or failed something, and the failed hosts."""
        results = json.loads(self.stdout[self.stdout.index("{"):])["results"]
        changed = [f"{op['name']}: changed on {', '.join(op['success'])}" for op in results["operations"]
                   if op["success"]]
        failed = [f"{op['name']}: failed on {', '.join(op['error'])}" for op in results["operations"] if op["error"]]
        return changed + failed + [f"failed host {h}" for h in results["failed_hosts"]]


def per_board(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def noop_counts(counts: dict, boards: list[str]) -> dict:
    """Per board: fact and operation commands; operation commands by (op, caller, command); facts read
    more than once (reads per stage, callers), over every board."""
    kinds = {b: Counter(c["kind"] for c in counts["commands"].get(b, [])) for b in boards}
    ops: Counter[tuple[str, str, str]] = Counter()
    for board in boards:
        for c in counts["commands"].get(board, []):
            if c["kind"] == "operation":
                ops[(c["op"], c["caller"], c["command"])] += 1
    reads: dict[str, Any] = {}
    for board in boards:
        for fact, row in counts["facts"].get(board, {}).items():
            entry = reads.setdefault(fact, {"totals": [], "prepare": [], "execute": [], "callers": Counter()})
            entry["totals"].append(sum(row["reads"].values()))
            entry["prepare"].append(row["reads"].get("prepare", 0))
            entry["execute"].append(row["reads"].get("execute", 0))
            entry["callers"].update(row["callers"])
    return {"fact": [kinds[b]["fact"] for b in boards], "operation": [kinds[b]["operation"] for b in boards],
            "ops": ops, "reads": reads, "stages": counts["stages"], "operations": counts["operations"]}


def measure(count: int, timeout: float, save: Path | None) -> dict:
    fleet = Fleet.load(f"cv{count}x{os.getpid()}t{int(time.time()) % 100000}")
    logs = Path(tempfile.mkdtemp(prefix=f"converge{count}-"))
    result: dict = {"count": count}
    try:
        before = mem_available_mb()
        started = time.monotonic()
        try:
            fleet.up(count, [PROFILE])
        except SimError as e:
            up = sum(fleet.running(b) for b in fleet.boards.values())
            raise SimError(f"{count} boards: `up` failed after {time.monotonic() - started:.0f} s with {up} boards "
                           f"running, MemAvailable {before} MB before and {mem_available_mb()} MB now: {e}") from e
        result["up"] = time.monotonic() - started
        result["board_mb"] = (before - mem_available_mb()) / count
        print(f"{count} board(s) up in {result['up']:.0f} s, {result['board_mb']:.0f} MB host memory each "
              f"(load {load()})", flush=True)
        first_args: list[str] = []
        first = Run(fleet, first_args, timeout, logs, "first")
        noop = Run(fleet, ["--json"], timeout, logs, "noop")
        counted = Run(fleet, ["--json"], timeout, logs, "counted", counts=logs / "counts.json")
        result.update(first=first, first_args=first_args, noop=noop, counted=counted, load=load(),
                      counts=noop_counts(json.loads((logs / "counts.json").read_text()), sorted(fleet.boards)),
                      changes=noop.changes() + counted.changes(),
                      min_available=min(first.min_available, noop.min_available, counted.min_available))
        return result
    finally:
        if save:
            save.mkdir(parents=True, exist_ok=True)
            for path in logs.iterdir():
                shutil.copy(path, save / f"{path.stem}-{count}{path.suffix}")
        shutil.rmtree(logs, ignore_errors=True)
        fleet.down()


def report(r: dict) -> None:
    n, first, noop, c = r["count"], r["first"], r["noop"], r["counts"]
    print(f"{n} board(s) (load {r['load']}; lowest MemAvailable {r['min_available']} MB):")
    for label, run in (("first converge", first), ("no-op re-run", noop)):
        print(f"  {label:15} {run.wall:6.1f} s wall ({run.wall / n:5.2f} s/board), controller CPU {run.cpu:6.1f} s "
              f"({run.cpu / n:5.2f} s/board), peak RSS {run.rss_mb:5.0f} MB ({run.rss_mb / n:5.1f} MB/board)")
        print(f"  {'':15} boards' CPU {run.board_cpu:6.1f} s ({run.board_cpu / n:5.2f} s/board); the machine was busy "
              f"{run.machine_cpu:6.1f} CPU s of {run.wall * (os.cpu_count() or 1):.0f} "
              f"({run.machine_cpu - run.cpu - run.board_cpu:.1f} s neither pyinfra nor these boards)")
    if r["first_args"]:
        print(f"  (first converge with {' '.join(r['first_args'])}: the simulated git server's client limit)")
    st = c["stages"]
    slowest = sorted(c["operations"], key=lambda op: -op["seconds"])[:3]
    connect, prepare = st.get("prepare", 0) - st.get("connect", 0), st.get("execute", 0) - st.get("prepare", 0)
    execute = st.get("disconnect", 0) - st.get("execute", 0)
    print(f"  counted no-op run {r['counted'].wall:.1f} s: start to connect {st.get('connect', 0):.1f} s, connect "
          f"{connect:.1f} s, prepare {prepare:.1f} s, execute {execute:.1f} s ({len(c['operations'])} operations; "
          "slowest " + ", ".join(f"{op['op']} {op['seconds']:.1f} s" for op in slowest) + ")")
    print(f"  no-op commands per board: {per_board(c['fact'])} fact, {per_board(c['operation'])} operation; "
          f"{len(c['reads'])} distinct facts")
    for (op, caller, command), times in sorted(c["ops"].items(), key=lambda kv: -kv[1]):
        print(f"    operation command x{times / n:g}/board: {op} [{caller}]: {command}")
    again = {fact: e for fact, e in c["reads"].items() if max(e["totals"]) > 1}
    print(f"  facts read more than once per board: {len(again)} of {len(c['reads'])}, "
          f"{sum(max(e['totals']) - 1 for e in again.values())} extra reads per board")
    for fact, e in sorted(again.items(), key=lambda kv: -max(kv[1]["totals"])):
        callers = "; ".join(f"{k} x{v / n:g}" for k, v in e["callers"].most_common())
        print(f"    {per_board(e['totals'])}x {fact} (prepare {per_board(e['prepare'])}, "
              f"execute {per_board(e['execute'])}): {callers}")
    print(f"  no-op runs changed nothing: {'yes' if not r['changes'] else 'NO: ' + '; '.join(r['changes'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,50", help="fleet sizes, comma-separated (default 1,10,50)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one pyinfra run may take")
    parser.add_argument("--save", type=Path, help="keep counts and pyinfra logs here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    probe = subprocess.run([sys.executable, "-c", "import jetson_ollama; print(jetson_ollama.__file__)"],
                           env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, cwd=REPO,
                           check=False)
    print(f"jetson_ollama from {probe.stdout.strip()}; {os.cpu_count()} cores, MemAvailable {mem_available_mb()} MB, "
          f"load {load()}", flush=True)
    results = {}
    for size in sizes:
        try:
            results[size] = measure(size, args.timeout, args.save)
        except SimError as e:
            print(f"{size} board(s): did not run: {e}", flush=True)
            continue
        report(results[size])
    if 1 in results and len(results) > 1:
        top = max(results)
        ratio = results[top]["noop"].wall / results[1]["noop"].wall
        print(f"no-op re-run, {top} boards vs 1: {ratio:.2f}x (target at most {NOOP_TARGET:g}x): "
              f"{'met' if ratio <= NOOP_TARGET else 'NOT met'}")
    for size, r in sorted(results.items()):
        c = r["counts"]
        only_facts = max(c["operation"]) == 0
        once = all(max(e["totals"]) == 1 for e in c["reads"].values())
        print(f"{size} board(s), no-op commands per board: {per_board(c['fact'])} fact + "
              f"{per_board(c['operation'])} operation (target: only facts: {'met' if only_facts else 'NOT met'}; "
              f"each fact read once: {'met' if once else 'NOT met'}); changed nothing: "
              f"{'yes' if not r['changes'] else 'NO'}")


if __name__ == "__main__":
    main()
