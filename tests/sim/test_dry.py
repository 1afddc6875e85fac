"""`pyinfra inventories/sim.py deploys/full.py --dry` on a simulated board: it says what would change and
why, changes nothing, and a real run says the same lines before it changes the board."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, board_host, fleet_name
from .test_stages import NANO, converge

pytestmark = pytest.mark.sim

MODELS = '["qwen2.5:0.5b"]'
TOO_BIG = '["qwen2.5:32b"]'  # about 20 GB of weights: black on an 8 GB board


@pytest.fixture(scope="module")
def nano(sim_env):
    """One Orin Nano 8GB, converged with the default settings and one small model."""
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("d"))
    f.up(1, [NANO])
    try:
        board = next(iter(f.boards.values()))
        run = converge(f, sim_env, "--data", f"ollama_models={MODELS}", limit=board.name)
        assert run["failed_hosts"] == [], run["stderr"][-2000:]
        yield f, board
    finally:
        f.down()


def dry(fleet, board, sim_env, *data: str) -> list[str]:
    """The lines `--dry` says about BOARD (its name, then the line), as a user would run it."""
    cmd = [str(Path(sys.executable).with_name("pyinfra")), "inventories/sim.py", "deploys/full.py", "--dry",
           "--limit", board.name]
    for item in data:
        cmd += ["--data", item]
    proc = subprocess.run(cmd, cwd=REPO, env=dict(sim_env, JETSON_SIM_FLEET=fleet.name), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    prefix = f"{board.name}: "
    return [line.strip()[len(prefix):] for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip().startswith(prefix)]


def container(fleet, board) -> dict:
    return json.loads(board_host(fleet, board).check_output("docker container inspect ollama"))[0]


def test_dry_says_the_changed_setting_and_changes_nothing(nano, sim_env):
    fleet, board = nano
    before = container(fleet, board)
    current = dict(entry.split("=", 1) for entry in before["Config"]["Env"])["OLLAMA_KEEP_ALIVE"]
    assert current == "5m"  # the default, as converged

    said = dry(fleet, board, sim_env, f"ollama_models={MODELS}", "ollama_keep_alive=30m")
    assert "container ollama: OLLAMA_KEEP_ALIVE 5m -> 30m" in said, said
    assert [line for line in said if line.startswith("container ollama: ")] == \
        ["container ollama: OLLAMA_KEEP_ALIVE 5m -> 30m"], said  # the one field that differs
    assert any(line.startswith("model qwen2.5:0.5b: present (green") for line in said), said
    assert any(line.startswith("image dustynv/ollama:r36.2.0: prebuilt, on the board already") for line in said), said
    assert "to change: container recreated" in said, said
    after = container(fleet, board)
    assert (after["Id"], after["Config"]["Env"], after["State"]["StartedAt"]) == \
        (before["Id"], before["Config"]["Env"], before["State"]["StartedAt"])

    # the same settings without --dry: the same line, then the container has it
    run = converge(fleet, sim_env, "--data", f"ollama_models={MODELS}", "--data", "ollama_keep_alive=30m",
                   limit=board.name)
    assert run["failed_hosts"] == [], run["stderr"][-2000:]
    assert f"{board.name}: container ollama: OLLAMA_KEEP_ALIVE 5m -> 30m" in run["stderr"], run["stderr"][-2000:]
    assert "OLLAMA_KEEP_ALIVE=30m" in container(fleet, board)["Config"]["Env"]
    again = dry(fleet, board, sim_env, f"ollama_models={MODELS}", "ollama_keep_alive=30m")
    assert "container ollama: up to date" in again, again
    assert "nothing to change in the Ollama image, service or models" in again, again


def test_dry_with_a_model_too_big_says_the_refusal_and_nothing_else(nano, sim_env):
    fleet, board = nano
    before = container(fleet, board)
    said = dry(fleet, board, sim_env, f"ollama_models={TOO_BIG}")
    refusals = [line for line in said if line.startswith("refused before any change: ")]
    assert len(refusals) == 1 and "qwen2.5:32b needs about" in refusals[0] and "black" in refusals[0], said
    assert not [line for line in said if line.startswith(("to change:", "container ", "model "))], said
    assert container(fleet, board)["Id"] == before["Id"]
