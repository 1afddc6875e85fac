"""Progress at pyinfra's default verbosity on a simulated board: a model pull that takes real seconds (the
simulated registry paced) shows the model, its bytes and rate every few seconds, and no silence is longer
than 10 s. Output lines are timestamped as they arrive (benchmarks/progress.py measures the same)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO, fleet_name
from .test_stages import SUPER

pytestmark = pytest.mark.sim


def timed_converge(fleet, env: dict, *extra: str, limit: str | None = None) -> dict:
    """deploys/full.py on the fleet as a user runs it (no -v), each output line with its arrival time
    (seconds since the start): {"lines": [(t, text), ...], "rc": int, "seconds": float}."""
    cmd = [str(Path(sys.executable).with_name("pyinfra")), "inventories/sim.py", "deploys/full.py", "-y", *extra]
    for name in (limit.split(",") if limit else []):
        cmd += ["--limit", name]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=dict(env, JETSON_SIM_FLEET=fleet.name), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    lines = [(time.monotonic() - started, line.rstrip("\n")) for line in proc.stdout]
    rc = proc.wait(timeout=900)
    return {"lines": lines, "rc": rc, "seconds": time.monotonic() - started}


def longest_silence(lines: list[tuple[float, str]]) -> tuple[float, str]:
    """The longest gap between two lines (from the start), and the line that ended it."""
    best, ended, before = 0.0, "", 0.0
    for at, text in lines:
        if at - before > best:
            best, ended = at - before, text
        before = at
    return best, ended


def pace(fleet, bytes_per_second: int) -> None:
    from jetson_sim.upstream.services import Upstream

    request = urllib.request.Request(Upstream(fleet).ollama_registry_url + "/_sim/pace", method="POST",
                                     data=json.dumps({"bytes_per_second": bytes_per_second}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


@pytest.fixture(scope="module")
def progress_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("p"))
    f.up(1, [SUPER])
    try:
        yield f
    finally:
        f.down()


def test_a_slow_model_pull_shows_progress_and_no_silence_over_10_s(progress_fleet, sim_env):
    board = next(iter(progress_fleet.boards.values()))
    pace(progress_fleet, 25_000)  # qwen2.5:0.5b's 397 KB: a 16 s pull
    try:
        run = timed_converge(progress_fleet, dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps(
            {"ollama_models": ["qwen2.5:0.5b"]})))
    finally:
        pace(progress_fleet, 0)
    text = "\n".join(line for _, line in run["lines"])
    assert run["rc"] == 0, text[-3000:]
    progress = [(at, line) for at, line in run["lines"]
                if re.search(rf"\[{board.name}\] qwen2\.5:0\.5b  pulling  [\d.]+/[\d.]+ (KB|MB)  \d+%", line)]
    assert len(progress) >= 2, text[-3000:]  # a 16 s pull: a line every 4 s
    assert any(re.search(r"  [\d.]+ KB/s  ETA \d+ s$", line) for _, line in progress), progress
    done = [float(line.split("  ")[2].split("/")[0]) for _, line in progress]
    assert done == sorted(done), progress
    assert any(f"[{board.name}] qwen2.5:0.5b pulled: " in line for _, line in run["lines"]), text[-3000:]
    gap, ended = longest_silence(run["lines"])
    assert gap <= 10, f"{gap:.1f} s without a line, until: {ended}"


def test_an_image_build_shows_its_jetson_containers_stage_every_few_seconds(progress_fleet, sim_env):
    from .conftest import board_host

    board = next(iter(progress_fleet.boards.values()))
    host = board_host(progress_fleet, board)
    host.check_output("echo 2 > /etc/jetson-sim/build-stage-seconds")  # 8 dependency stages: 16 s and more
    try:
        run = timed_converge(progress_fleet, dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps(
            {"ollama_models": ["qwen2.5:0.5b"], "jetson_image_strategy": "build"})))
    finally:
        host.check_output("rm -f /etc/jetson-sim/build-stage-seconds")
    text = "\n".join(line for _, line in run["lines"])
    assert run["rc"] == 0, text[-3000:]
    # jetson_containers/container.py build_container @16f7cf41: `[2/9] Building cuda (...)`
    stages = [line for _, line in run["lines"]
              if re.search(rf"\[{board.name}\] build ollama:\S+: \d+ s, \[\d/9\] Building \S+", line)]
    assert len(stages) >= 2, text[-3000:]
    assert any(re.search(rf"\[{board.name}\] build ollama:\S+: done in \d+ s$", line) for _, line in run["lines"])
    gap, ended = longest_silence(run["lines"])
    assert gap <= 10, f"{gap:.1f} s without a line, until: {ended}"
