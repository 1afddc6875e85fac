"""The longest silence a user sits through: one simulated board converged from scratch with deploys/full.py
at pyinfra's default verbosity, every line of pyinfra's output timestamped as it arrives.

    python benchmarks/progress.py [PROFILE] [BYTES_PER_SECOND]      (as root: it boots a simulated board)

The simulated registry sends model blobs at BYTES_PER_SECOND (default 25000: qwen2.5:0.5b's 397 KB at
the simulator's 1/1000 scale is a 16 s pull, as the real 397 MB is at 25 MB/s). Prints the converge's
time, how many lines came, the longest silence with the line that ended it, and the model's progress lines.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.sim.test_progress import longest_silence, pace, timed_converge  # noqa: E402 - after the path


def main(argv: list[str]) -> int:
    from jetson_sim.fleet import Fleet

    profile = argv[0] if argv else "orin-nano-super-r36.4.3"
    rate = int(argv[1]) if len(argv) > 1 else 25_000
    env = dict(os.environ, PYTHONPATH=str(REPO), JETSON_SIM_HOST_DATA=json.dumps({"ollama_models": ["qwen2.5:0.5b"]}))
    fleet = Fleet.load(f"bp{os.getpid()}")
    fleet.up(1, [profile])
    try:
        pace(fleet, rate)
        run = timed_converge(fleet, env)
        gap, ended = longest_silence(run["lines"])
        print(f"converge of one {profile} board: {run['seconds']:.0f} s, rc {run['rc']}, {len(run['lines'])} lines")
        print(f"longest silence: {gap:.1f} s, ended by: {ended}")
        for at, text in run["lines"]:
            if "qwen2.5:0.5b" in text:
                print(f"  {at:6.1f} s  {text}")
    finally:
        fleet.down()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
