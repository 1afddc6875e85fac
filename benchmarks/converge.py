"""Converge speed of deploys/full.py on simulated boards (run as root from the repo root).

For 1 and 5 boards (Orin Nano r36.2.0, a fresh fleet each): wall time of the first run, of the no-op
re-run, and the number of commands pyinfra runs per board on the no-op run (facts included).
Targets (issue: stages 1-4): no-op re-run under 2 s per board; 5 boards under 2x one board.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("JETSON_SIM_HOME", "/var/lib/jetson-sim-bench")

from jetson_sim.fleet import Fleet  # noqa: E402

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


def deploy(fleet: Fleet, *extra: str) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ, JETSON_SIM_FLEET=fleet.name)
    started = time.monotonic()
    proc = subprocess.run([PYINFRA, "inventories/sim.py", "deploys/full.py", "-y", *extra], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"deploy failed:\n{proc.stderr[-3000:]}")
    return time.monotonic() - started, proc


def measure(count: int) -> tuple[float, float]:
    fleet = Fleet.load(f"bench{count}x{os.getpid()}")
    try:
        fleet.up(count, ["orin-nano-8gb-r36.2.0"])
        first, _ = deploy(fleet)
        noop, proc = deploy(fleet, "--debug")
        commands = Counter(re.findall(r"Running command on (\S+):", proc.stderr))
        again, proc = deploy(fleet, "--json")
        assert json.loads(proc.stdout)["results"]["totals"]["success"] == 0, "the re-run changed something"
        per_host = sorted(set(commands.values()))
        print(f"{count} board(s): first run {first:5.1f} s, no-op re-run {again:4.1f} s "
              f"({again / count:.2f} s per board), {'/'.join(map(str, per_host))} commands per board on the no-op run")
        return first, again
    finally:
        fleet.down()


if __name__ == "__main__":
    _, one = measure(1)
    _, five = measure(5)
    print(f"no-op re-run, 5 boards vs 1: {five / one:.2f}x (target < 2x)")
