"""Build once, download once: a fleet rollout with a cache host against the naive per-board path (run
as root from the repo root).

    python benchmarks/fleet.py [--boards 6] [--models qwen2.5:0.5b,qwen3:0.6b]

Two fresh simulated fleets of N boards, Orin Nano r36.2.0 and AGX Orin r36.4.4 in turn: two image
variants (the Nanos build theirs, since qwen3 needs a newer Ollama than their prebuilt image; the AGX
boards pull the 0.6.8 prebuilt one). The naive path runs `pyinfra inventories/sim.py deploys/full.py`
on every board; the cached path adds a cache host and runs `python -m jetson_ollama rollout` in waves
1,50%,100%. Each fleet has its own simulated upstream, whose own counters give the bytes.

Printed per path: wall time, upstream bytes (images from the Docker Hub stand-in's access log, models
from the Ollama registry's /_sim/stats), unique artifact bytes (each distinct image blob per image
repository and each distinct model blob, once), their ratio, and per variant how many boards built the
image or pulled it from upstream.
Targets (issue: fleet rollouts): ratio 1.0 (naive: about N), one build or upstream pull per variant.
Model blobs are the simulator's (1/1000 of the real sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("JETSON_SIM_HOME", "/var/lib/jetson-sim-bench")

from jetson_sim.fleet import Fleet  # noqa: E402
from jetson_sim.upstream.services import Upstream  # noqa: E402

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
NANO, AGX = "orin-nano-8gb-r36.2.0", "agx-orin-64gb-r36.4.4"
BUILT = "ollama:r36.2.0-cu122-22.04"  # what `build ollama` names the Nano's image (docs/facts.md section 4)
PREBUILT = "dustynv/ollama:0.6.8-r36.4-cu126-22.04"  # the AGX's


def run(cmd: list[str], fleet: Fleet, models: list[str]) -> float:
    env = dict(os.environ, JETSON_SIM_FLEET=fleet.name, JETSON_SIM_HOST_DATA=json.dumps({"ollama_models": models}))
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return time.monotonic() - started


def downloads(fleet: Fleet) -> dict:
    """Upstream bytes, and the size of each distinct artifact blob once."""
    upstream = Upstream(fleet)
    images, models = upstream.image_stats(), upstream.model_stats()
    unique = {blob: images["bytes_by_digest"][blob.split("@")[1]] // images["gets_by_digest"][blob.split("@")[1]]
              for blob in images["gets_by_blob"]}
    for entry in models["log"]:  # whole-blob transfers: their size is the blob's
        if "/blobs/" in entry["path"] and entry["status"] == 200 and not entry["range"]:
            unique[entry["path"].rsplit("/", 1)[1]] = entry["bytes"]
    return {"upstream": images["bytes_total"] + models["bytes_total"], "unique": sum(unique.values()),
            "pullers": len(images["clients_by_repository"].get("dustynv/ollama", []))}


def builds(fleet: Fleet) -> int:
    """Boards that ran the build: jetson-containers leaves the build stage's tag (`<image>-ollama`) there."""
    return sum(fleet.exec(board, "docker", "image", "inspect", f"{BUILT}-ollama", check=False).returncode == 0
               for board in fleet.boards.values() if board.profile == NANO)


def measure(label: str, count: int, models: list[str], cached: bool) -> dict:
    fleet = Fleet.load(f"bf{label}{os.getpid()}")
    try:
        if cached:
            fleet.up(1, ["x86-server"], prefix="cache")
        fleet.up(count, [NANO, AGX])
        if cached:
            with tempfile.TemporaryDirectory() as tmp:
                wall = run([sys.executable, "-m", "jetson_ollama", "rollout", "inventories/sim.py", "deploys/full.py",
                            "--waves", "1,50%,100%", "--max-fail", "0", "--state", f"{tmp}/state.json"], fleet, models)
        else:
            wall = run([PYINFRA, "-y", "inventories/sim.py", "deploys/full.py"], fleet, models)
        return {"wall": wall, "builds": builds(fleet), **downloads(fleet)}
    finally:
        fleet.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boards", type=int, default=6)
    parser.add_argument("--models", default="qwen2.5:0.5b,qwen3:0.6b")
    args = parser.parse_args()
    models = args.models.split(",")
    print(f"{args.boards} boards ({NANO} and {AGX} in turn: 2 image variants), models {', '.join(models)}")
    for label, cached in (("naive", False), ("cached", True)):
        result = measure(label, args.boards, models, cached)
        print(f"{label:>6}: {result['wall']:6.1f} s, upstream {result['upstream'] / 1e6:8.1f} MB, unique artifacts "
              f"{result['unique'] / 1e6:7.1f} MB, ratio {result['upstream'] / result['unique']:.2f}, "
              f"variant {BUILT}: {result['builds']} build(s); variant {PREBUILT}: {result['pullers']} upstream pull(s)")


if __name__ == "__main__":
    main()
