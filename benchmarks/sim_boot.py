"""How fast simulated boards come up and go away (run as root; the base image must exist).

Prints, for 3 boards with dockerd and 20 without: seconds until every board answers SSH with
systemd booted, seconds to tear down, and the host memory the running boards take.
Target (issue: simulated boards): 3 boards under 30 s once the base image exists.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("JETSON_SIM_HOME", "/var/lib/jetson-sim-bench")

from jetson_sim import base
from jetson_sim.fleet import Fleet


def used_mb() -> int:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) // 1024


def measure(count: int, profiles: list[str], docker: bool) -> None:
    fleet = Fleet.load(f"bench{os.getpid()}")
    before = used_mb()
    started = time.monotonic()
    fleet.up(count, profiles, docker=docker)
    ready = time.monotonic() - started
    memory = used_mb() - before
    started = time.monotonic()
    fleet.down()
    print(f"{count:>3} boards {'with' if docker else 'without'} dockerd: ready in {ready:5.1f} s, "
          f"{memory / count:5.0f} MB host memory each, torn down in {time.monotonic() - started:4.1f} s")


if __name__ == "__main__":
    base.ensure_base()
    measure(3, ["orin-nano-8gb-r36.2.0", "orin-nano-super-r36.4.3", "agx-orin-64gb-r36.4.4"], docker=True)
    measure(20, ["orin-nano-8gb-r36.2.0"], docker=False)
