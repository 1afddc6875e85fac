"""Image names on simulated boards that differ where real boards do: without the host CUDA toolkit, a
Thor whose nvidia-smi names no nvgpu, a Xavier on JetPack 5.1.4. The expected names are what
dusty-nv/jetson-containers' own code at the pinned 16f7cf41 computes for such boards
(tests/unit/data/jetson_containers_names.yaml), not what this library predicts."""

from __future__ import annotations

import json

import pytest
import yaml

from .conftest import board_host, board_of, fleet_name
from .test_stages import changed, converge, refusal

pytestmark = pytest.mark.sim

NOCUDA, THOR, SUPER, XAVIER = ("orin-nano-8gb-r36.3.0-nocuda", "agx-thor-128gb-r38.2.0", "orin-nano-super-r36.4.3",
                               "agx-xavier-32gb-r35.6.0")
# jetson-containers 16f7cf41, `jetson-containers build ollama` on each board (ids 16f7cf41-36.3.0-nocuda,
# 16f7cf41-38.2.0-thor and 16f7cf41-36.4.3-cuda12.6 of the upstream cases)
BUILT = {NOCUDA: "ollama:r36.3.0-cu124-22.04",             # CUDA from upstream's table: 36.3 -> 12.4
         THOR: "ollama:r38.2.aarch64-cu130-24.04",         # SBSA: no "nvgpu" in the GPU name
         SUPER: "ollama:r36.4.tegra-aarch64-cu126-22.04"}  # the host's CUDA 12.6
MODELS = ["qwen2.5:0.5b"]


@pytest.fixture(scope="module")
def naming_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("n"))
    f.up(4, [NOCUDA, THOR, SUPER, XAVIER])
    try:
        yield f
    finally:
        f.down()


def _data(**settings) -> dict:
    return {"JETSON_SIM_HOST_DATA": json.dumps({"ollama_models": MODELS, **settings})}


def _names(fleet, *profiles) -> str:
    return ",".join(board_of(fleet, profile).name for profile in profiles)


def test_builds_are_named_as_the_pinned_commit_names_them_on_each_board(naming_fleet, sim_env):
    env = dict(sim_env, **_data(jetson_image_strategy="build"))
    first = converge(naming_fleet, env, limit=_names(naming_fleet, *BUILT))
    assert first["failed_hosts"] == [], first["stderr"][-3000:]
    for profile, image in BUILT.items():
        host = board_host(naming_fleet, board_of(naming_fleet, profile))
        assert host.check_output("docker inspect -f '{{.Config.Image}}' ollama") == image, profile
        assert host.check_output("docker inspect -f '{{.State.Running}}' ollama") == "true"
        # the checkout's own code, asked on the board, gives the same name the plan predicted
        own = json.loads(host.check_output(f"python3 -B -c {_quoted_probe()} /opt/jetson-containers"))
        assert own["images"]["ollama"] == image, own
        assert own["default"] == "0.11.8" and own["versions"] == ["0.4.0", "0.5.1", "0.5.5", "0.11.8"]
    nocuda = board_host(naming_fleet, board_of(naming_fleet, NOCUDA))
    assert not nocuda.file("/usr/local/cuda/version.json").exists  # the board really has no toolkit
    second = converge(naming_fleet, env, limit=_names(naming_fleet, *BUILT))
    assert second["failed_hosts"] == [] and second["totals"]["success"] == 0, changed(second)


def test_an_ollama_version_the_checkout_does_not_offer_is_refused_before_any_change(naming_fleet, sim_env):
    board = board_of(naming_fleet, SUPER)
    host = board_host(naming_fleet, board)
    before = host.check_output("docker inspect -f '{{.Id}}' ollama")
    env = dict(sim_env, **_data(jetson_image_strategy="build", ollama_version="0.6.8"))
    run = converge(naming_fleet, env, limit=board.name)
    assert refusal(run, board).startswith("jetson-containers "), run["stderr"][-2000:]
    assert "offers ollama 0.4.0, 0.5.1, 0.5.5, 0.11.8 (default 0.11.8), not 0.6.8" in refusal(run, board)
    assert run["totals"]["success"] == 0, changed(run)
    assert host.check_output("docker inspect -f '{{.Id}}' ollama") == before


def test_a_prebuilt_image_that_names_no_version_is_read_after_the_pull_and_pinned(naming_fleet, sim_env):
    board = board_of(naming_fleet, XAVIER)  # JetPack 5.1.4: upstream's r35.4.1 image runs on any R35
    run = converge(naming_fleet, dict(sim_env, **_data()), limit=board.name)
    assert run["failed_hosts"] == [], run["stderr"][-3000:]
    host = board_host(naming_fleet, board)
    assert host.check_output("docker inspect -f '{{.Config.Image}}' ollama") == "dustynv/ollama:r35.4.1"
    reported = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/version"))["version"]
    pins = yaml.safe_load((naming_fleet.dir / "models.lock").read_text())["pins"]
    assert pins["ollama"]["dustynv/ollama:r35.4.1"] == reported  # what the image said, not a table
    again = converge(naming_fleet, dict(sim_env, **_data()), limit=board.name)
    assert again["totals"]["success"] == 0, changed(again)


def _quoted_probe() -> str:
    import shlex

    from jetson_ollama.facts.containers import PROBE_SCRIPT

    return shlex.quote(PROBE_SCRIPT.read_text())
