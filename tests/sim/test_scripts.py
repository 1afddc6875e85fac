"""Stage 6 on simulated boards: the scripts a user runs on each board tell the truth."""

from __future__ import annotations

import csv
import io
import json

import pytest

from .conftest import board_host, board_of, unload_models
from .test_stages import AGX, NANO, NX, SUPER, converge

pytestmark = pytest.mark.sim

JETSONS = [NANO, SUPER, NX, AGX]


@pytest.fixture(scope="module")
def script_fleet(site_fleet, sim_env):
    """The session's site fleet (every Jetson profile converged with qwen2.5:0.5b), idle, with the log's
    board running the log's model (red on 8 GB: allowed with a warning)."""
    nano = board_of(site_fleet, NANO)
    run = converge(site_fleet, sim_env, "--data", 'ollama_models=["qwen2.5:7b"]', "--data", "ollama_memory_policy=warn",
                   limit=nano.name)
    assert run["failed_hosts"] == [], run["stderr"][-2000:]
    for board in site_fleet.boards.values():  # what an earlier module loaded is not counted here
        unload_models(site_fleet, board)
    return site_fleet


@pytest.mark.parametrize("profile", JETSONS)
def test_quick_test_passes_on_every_jetson(script_fleet, profile):
    host = board_host(script_fleet, board_of(script_fleet, profile))
    result = host.run("quick-test")
    lines = result.stdout.splitlines()
    assert result.rc == 0, result.stdout + result.stderr
    assert [line.split()[0] for line in lines if line.split()[:1] in (["OK"], ["FAIL"])] == ["OK"] * 6


def test_quick_test_fails_the_gpu_line_when_ollama_runs_on_the_cpu(script_fleet, sim_env):
    board = board_of(script_fleet, SUPER)
    host = board_host(script_fleet, board)
    spec = json.loads(host.check_output("docker inspect ollama"))[0]
    env = [e for e in spec["Config"]["Env"] if not e.startswith(("JETSON_JETPACK=", "PATH="))]
    mounts = [f"{m['Source']}:{m['Destination']}" for m in spec["Mounts"]]
    # the same container, but without JETSON_JETPACK (docs/facts.md section 5: Ollama falls back to the CPU)
    host.check_output("docker rm -f ollama >/dev/null && docker run -d --name ollama --runtime nvidia --network host "
                      + " ".join(f"-e {e}" for e in env) + " " + " ".join(f"-v {m}" for m in mounts)
                      + f" {spec['Config']['Image']} ollama serve >/dev/null"
                      + " && for i in $(seq 100); do curl -fs http://127.0.0.1:11434/ >/dev/null && exit 0;"
                      + " sleep 0.1; done")
    result = host.run("quick-test")
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert result.rc == 1 and len(failed) == 1 and "gpu" in failed[0].lower() and "CPU" in failed[0], result.stdout
    fixed = converge(script_fleet, sim_env, "--data", 'ollama_models=["qwen2.5:0.5b"]', limit=board.name)
    assert fixed["failed_hosts"] == []  # the deploy puts the spec back
    assert host.run("quick-test").rc == 0


def test_monitor_csv_follows_a_model_loaded_and_unloaded(script_fleet):
    host = board_host(script_fleet, board_of(script_fleet, AGX))

    def sample() -> dict:
        rows = list(csv.DictReader(io.StringIO(host.check_output("MONITOR_COUNT=1 monitor 1 --csv"))))
        assert len(rows) == 1
        return rows[0]

    api = "curl -fsS http://127.0.0.1:11434/api/generate -d "
    host.check_output(api + "'{\"model\": \"qwen2.5:0.5b\", \"prompt\": \"\", \"keep_alive\": 0}'")
    idle = sample()
    assert int(idle["ram_total_mb"]) == 62841  # docs/facts.md section 1: AGX Orin 64GB MemTotal
    host.check_output(api + "'{\"model\": \"qwen2.5:0.5b\", \"prompt\": \"\", \"keep_alive\": \"5m\"}'")
    loaded = sample()
    assert int(loaded["ram_used_mb"]) - int(idle["ram_used_mb"]) > 300  # a 397 MB model and its cache
    assert "qwen2.5:0.5b" in loaded["models"]
    host.check_output(api + "'{\"model\": \"qwen2.5:0.5b\", \"prompt\": \"\", \"keep_alive\": 0}'")
    assert abs(int(sample()["ram_used_mb"]) - int(idle["ram_used_mb"])) < 50


def test_bench_on_the_orin_nano_matches_the_recorded_speed(script_fleet):
    host = board_host(script_fleet, board_of(script_fleet, NANO))
    report = json.loads(host.check_output("bench qwen2.5:7b"))
    speeds = [r["tokens_per_s"] for r in report["results"]]
    assert speeds and all(9.1 <= s <= 9.7 for s in speeds)  # docs/facts.md section 6: 9.1-9.7 tok/s on an Orin Nano
    saved = json.loads(host.file("/var/lib/jetson-ollama/bench.json").content_string)
    assert saved["summary"]["qwen2.5:7b"]["tokens_per_s"] == report["summary"]["qwen2.5:7b"]["tokens_per_s"]
