"""The real-board path as the README gives it: inventories/lab.py's settings on the board class they are for.

A user copies inventories/lab.py, puts their boards' addresses in and runs `pyinfra inventories/lab.py
deploys/full.py`. Here the Orin Nano 8GB group's settings are read from that module and given to a simulated
Orin Nano 8GB (the deployment log's board, L4T 36.2.0), with only the keys that say how to reach and log in
to a board (ssh_*, _sudo*) replaced by the simulated board's; the board must end up serving a model.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from .conftest import REPO, board_host, board_of, fleet_name
from .test_stages import NANO, changed, converge

pytestmark = pytest.mark.sim

# how the controller reaches and logs in to a board: the simulated inventory gives its own
LOGIN_KEYS = ("ssh_", "_sudo")


def lab_group(name: str) -> dict:
    """The data of one board group of inventories/lab.py, without its login keys."""
    spec = importlib.util.spec_from_file_location("lab_inventory", REPO / "inventories" / "lab.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _hosts, data = getattr(module, name)
    return {key: value for key, value in data.items() if not key.startswith(LOGIN_KEYS)}


@pytest.fixture(scope="module")
def lab_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("lb"))
    f.up(1, [NANO])
    try:
        yield f
    finally:
        f.down()


def test_the_lab_inventorys_nano_group_gets_a_board_serving_a_model(lab_fleet, sim_env):
    from jetson_ollama.config import settings
    from jetson_ollama.plan import model_set
    from jetson_sim.profiles import load_profile

    data = lab_group("orin_nano_8gb")
    memory = load_profile(NANO)["memory"]
    # the largest green model of the preference list on 7620 MB with the desktop at 4096 tokens (qwen3:8b is
    # black there, qwen2.5:7b red): what the README promises an Orin Nano 8GB of the lab inventory
    chosen = model_set(settings(data), memory["mem_total_mb"], memory["desktop"])
    assert chosen == ["qwen3:4b"], data

    env = dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps(data))
    run = converge(lab_fleet, env)
    assert run["failed_hosts"] == [], run["stderr"][-3000:]

    host = board_host(lab_fleet, board_of(lab_fleet, NANO))
    tags = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/tags"))
    assert [model["name"] for model in tags["models"]] == chosen
    result = host.run("quick-test")
    assert result.rc == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.split()[:1] in (["OK"], ["FAIL"])]
    assert lines and all(line.startswith("OK") for line in lines), result.stdout

    again = converge(lab_fleet, env)
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)
