"""Fleet rollouts on simulated boards over SSH: six boards of two image variants and a cache host.

What a user checks: the rollout's exit code, table and state file, what each board runs and serves,
and the simulated upstream's own counters of what crossed the "internet" (its Docker Hub stand-in's
access log and its Ollama registry's /_sim/stats). The tests run in file order on one fleet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, board_host, fleet_name, sim

pytestmark = pytest.mark.sim

NANO, AGX = "orin-nano-8gb-r36.2.0", "agx-orin-64gb-r36.4.4"
# qwen3 needs a newer Ollama than the r36.2.0 prebuilt image has (docs/facts.md section 4: #585, #611), so the
# Orin Nanos build their image and the AGX boards pull the 0.6.8 prebuilt one: two variants
MODELS = ["qwen2.5:0.5b", "qwen3:0.6b"]
BUILT = "ollama:r36.2.0-cu122-22.04"  # `build ollama` on r36.2.0 with CUDA 12.2 at jetson-containers 16f7cf41
PREBUILT = "dustynv/ollama:0.6.8-r36.4-cu126-22.04"
# what each serves: `build ollama` at the pinned 16f7cf41 builds its default, 0.11.8 (packages/llm/ollama/config.py)
SERVES = {BUILT: "0.11.8", PREBUILT: "0.6.8"}


@pytest.fixture(scope="module")
def fleet7(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("r"))
    f.up(1, ["x86-server"], prefix="cache")
    f.up(6, [NANO, AGX])
    try:
        yield f
    finally:
        f.down()


@pytest.fixture(scope="module")
def state_file(tmp_path_factory):
    return tmp_path_factory.mktemp("rollout") / "state.json"


def boards(fleet) -> list:
    return [b for b in fleet.boards.values() if not b.name.startswith("cache")]


def rollout_cmd(state_file, *extra) -> list[str]:
    return [sys.executable, "-m", "jetson_ollama", "rollout", "inventories/sim.py", "deploys/full.py",
            "--waves", "1,50%,100%", "--max-fail", "0", "--soak", "0", "--state", str(state_file), *extra]


def rollout_env(sim_env, fleet, **data) -> dict:
    return dict(sim_env, JETSON_SIM_FLEET=fleet.name,
                JETSON_SIM_HOST_DATA=json.dumps({"ollama_models": MODELS, "ollama_api_timeout": 20, **data}))


def rollout(fleet, sim_env, state_file, *extra, **data) -> subprocess.CompletedProcess:
    return subprocess.run(rollout_cmd(state_file, *extra), cwd=REPO, env=rollout_env(sim_env, fleet, **data),
                          capture_output=True, text=True, timeout=900)


def state(state_file) -> dict:
    return json.loads(state_file.read_text())["boards"]


def upstream(fleet):
    from jetson_sim.upstream.services import Upstream

    return Upstream(fleet)


def container(fleet, board) -> dict:
    host = board_host(fleet, board)
    found = json.loads(host.check_output("docker inspect ollama"))[0]
    found["previous"] = host.run("docker inspect ollama-previous").rc == 0
    return found


def serves(fleet, board) -> str:
    """The Ollama version the board's API answers on its loopback ("" when it does not)."""
    out = board_host(fleet, board).run("curl -fsS --max-time 5 http://127.0.0.1:11434/api/version")
    return json.loads(out.stdout)["version"] if out.rc == 0 else ""


def test_a_rollout_builds_each_variant_once_and_downloads_each_model_once(fleet7, sim_env, state_file):
    run = rollout(fleet7, sim_env, state_file)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "6/6 boards ok in 3 waves" in run.stdout
    entries = state(state_file)
    assert sorted(entries) == sorted(b.name for b in boards(fleet7))
    assert [entries[name]["wave"] for name in sorted(entries, key=lambda n: entries[n]["wave"])] == [1, 2, 2, 3, 3, 3]

    # the Docker Hub stand-in served each image's blobs once, the Ollama registry each model's once,
    # and only to the builders and the cache host
    images, models = upstream(fleet7).image_stats(), upstream(fleet7).model_stats()
    assert images["gets_by_blob"] and set(images["gets_by_blob"].values()) == {1}, images["gets_by_blob"]
    cache_ip = fleet7.board("cache1").ip
    assert set(models["bytes_by_client"]) == {cache_ip}
    assert len(images["bytes_by_client"]) == 2  # one builder per variant

    # the three Orin Nanos run one build (the same image id; the build's stage tag only on the builder)
    ids, stage_tags = set(), 0
    for board in boards(fleet7):
        found = container(fleet7, board)
        assert found["Config"]["Image"] == (BUILT if board.profile == NANO else PREBUILT)
        assert found["State"]["Running"] and not found["previous"]
        host = board_host(fleet7, board)
        if board.profile == NANO:
            ids.add(found["Image"])
            stage_tags += host.run(f"docker image inspect {BUILT}-ollama").rc == 0
        tags = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/tags"))["models"]
        assert sorted(m["name"] for m in tags) == MODELS
        assert serves(fleet7, board)
    assert len(ids) == 1 and stage_tags == 1



def test_a_second_rollout_changes_and_downloads_nothing(fleet7, sim_env, state_file):
    images, models = upstream(fleet7).image_stats(), upstream(fleet7).model_stats()
    run = rollout(fleet7, sim_env, state_file, "--recheck")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert all(entry["result"] == "ok" and entry["changed"] == 0 for entry in state(state_file).values())
    assert upstream(fleet7).image_stats()["bytes_total"] == images["bytes_total"]
    after = upstream(fleet7).model_stats()
    assert after["requests"]["blob_get"] == models["requests"]["blob_get"]
    assert after["bytes_by_digest"] == models["bytes_by_digest"]
    # models.lock pins what was deployed: the commit, each image's digest and (once a board ran it, for
    # a build) its Ollama version, and the models
    locked = yaml.safe_load((fleet7.dir / "models.lock").read_text())
    assert set(MODELS) <= set(locked)
    pins = locked["pins"]
    assert list(pins["jetson-containers"].values()) == [json.loads(
        (fleet7.dir / "upstream" / "state.json").read_text())["commits"]["pin"]]
    assert set(pins["images"]) == {BUILT, PREBUILT} and all(v.startswith("sha256:") for v in pins["images"].values())
    assert pins["ollama"] == {BUILT: SERVES[BUILT], PREBUILT: SERVES[PREBUILT]}
    # and without --recheck, every board is done at this release: nothing is contacted
    again = rollout(fleet7, sim_env, state_file)
    assert again.returncode == 0 and again.stdout.count("already ok at this release") == 3


def test_a_release_that_fails_to_start_stops_at_the_canary_and_is_rolled_back(fleet7, sim_env, state_file):
    before = {b.name: container(fleet7, b) for b in boards(fleet7)}
    # a release whose container cannot start: its models mount lands inside the image's ollama binary
    # (docker: "not a directory")
    run = rollout(fleet7, sim_env, state_file, ollama_container_models_dir="/usr/local/bin/ollama/models")
    assert run.returncode == 1
    assert "stopped at wave 1: 1 failure > 0 allowed" in run.stdout
    entries = state(state_file)
    canary = next(name for name, entry in entries.items() if entry["wave"] == 1)
    assert entries[canary]["result"] == "failed"
    assert all(entry["result"] == "pending" for name, entry in entries.items() if name != canary)

    board = fleet7.board(canary)
    found = container(fleet7, board)
    env = dict(item.split("=", 1) for item in found["Config"]["Env"])
    assert env["OLLAMA_MODELS"] == "/ollama/models"  # the previous spec, restored
    assert found["Id"] == before[canary]["Id"] and found["State"]["Running"] and not found["previous"]
    assert serves(fleet7, board) == SERVES[found["Config"]["Image"]]
    for other in boards(fleet7):
        if other.name != canary:
            now = container(fleet7, other)
            assert now["Id"] == before[other.name]["Id"] and now["State"]["StartedAt"] == \
                before[other.name]["State"]["StartedAt"], other.name


def test_a_board_partitioned_during_wave_2_fails_it_and_the_rerun_finishes(fleet7, sim_env, state_file):
    data = {"ollama_keep_alive": "10m"}  # a new release: every board's container is recreated
    proc = subprocess.Popen(rollout_cmd(state_file), cwd=REPO, env=rollout_env(sim_env, fleet7, **data),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    try:
        for line in proc.stdout:
            if line.startswith("wave 2/3: "):
                victim = line.split(": ", 1)[1].split(",")[0].split()[0]
                sim(sim_env, fleet7, "partition", victim, "on")
                break
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert victim, "the rollout never reached wave 2"
    try:
        assert proc.returncode == 1, out[-3000:] + err[-3000:]
        assert "stopped at wave 2: 1 failure > 0 allowed" in out
        entries = state(state_file)
        assert entries[victim]["result"] == "failed" and entries[victim]["wave"] == 2
        wave3 = [name for name, entry in entries.items() if entry["wave"] == 3]
        assert all(entries[name]["result"] == "pending" for name in wave3)
        for name in wave3:  # untouched: still the earlier release's keep-alive
            env = dict(item.split("=", 1) for item in container(fleet7, fleet7.board(name))["Config"]["Env"])
            assert env["OLLAMA_KEEP_ALIVE"] == "5m"
    finally:
        sim(sim_env, fleet7, "partition", victim, "off")

    rerun = rollout(fleet7, sim_env, state_file, **data)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "wave 1/3: 1 board already ok at this release" in rerun.stdout
    assert all(entry["result"] == "ok" for entry in state(state_file).values())
    for board in boards(fleet7):
        env = dict(item.split("=", 1) for item in container(fleet7, board)["Config"]["Env"])
        assert env["OLLAMA_KEEP_ALIVE"] == "10m"


def test_a_corrupted_blob_on_the_cache_host_is_fetched_again_before_any_board_gets_it(fleet7, sim_env, state_file):
    models = [*MODELS, "qwen2.5:1.5b"]
    env = rollout_env(sim_env, fleet7, ollama_keep_alive="10m", ollama_models=models)
    # the cache host downloads the new model (deploys/cache.py copies nothing to the boards)
    fetch = subprocess.run([str(Path(sys.executable).with_name("pyinfra")), "-y", "inventories/sim.py",
                            "deploys/cache.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert fetch.returncode == 0, fetch.stderr[-3000:]
    locked = yaml.safe_load((fleet7.dir / "models.lock").read_text())  # the cache host's download pinned it
    layer = max(locked["qwen2.5:1.5b"]["blobs"], key=lambda blob: blob["size"])
    path = f"/srv/jetson-ollama/models/blobs/{layer['digest'].replace(':', '-')}"
    # bit rot on the cache host: same size, other bytes (and a new mtime, as any write gives)
    sim(sim_env, fleet7, "exec", "cache1", "--", "sh", "-c",
        f"printf 'rotten' | dd of={path} bs=1 seek=4096 conv=notrunc status=none")

    run = subprocess.run(rollout_cmd(state_file), cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    hexdigest = layer["digest"].split(":")[1]
    cached = sim(sim_env, fleet7, "exec", "cache1", "--", "sha256sum", path).stdout
    assert cached.split()[0] == hexdigest  # the cache's copy was fetched again from upstream
    for board in boards(fleet7):
        host = board_host(fleet7, board)
        tags = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/tags"))["models"]
        assert "qwen2.5:1.5b" in {m["name"] for m in tags}, board.name
        on_board = host.check_output(f"sudo sha256sum /opt/ollama/models/blobs/sha256-{hexdigest}")
        assert on_board.split()[0] == hexdigest, board.name
        assert serves(fleet7, board)
