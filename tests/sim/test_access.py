"""Secure defaults on simulated boards over SSH: the API stays on 127.0.0.1 unless `ollama_allow_from`
lists networks; then it binds to the board's LAN address and a host firewall admits only those networks.
Checked as a user would: the testinfra suite for real boards, and connections from the controller."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import REPO, board_host, fleet_name
from .test_stages import SUPER, changed, converge

pytestmark = pytest.mark.sim

MODELS = ["qwen2.5:0.5b"]


@pytest.fixture(scope="module")
def access_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("a"))
    f.up(1, [SUPER])
    try:
        yield f
    finally:
        f.down()


def site(sim_env, **data) -> dict:
    return dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps({"ollama_models": MODELS, **data}))


def access_checks(fleet, env) -> subprocess.CompletedProcess:
    """The suite's listening and firewall checks, and quick-test, as a user runs them."""
    return subprocess.run([sys.executable, "-m", "pytest", "tests/boards", "--inventory", "inventories/sim.py", "-q",
                           "-p", "no:cacheprovider", "-k", "listens or firewall or quick_test"],
                          cwd=REPO, env=dict(env, JETSON_SIM_FLEET=fleet.name), capture_output=True, text=True,
                          timeout=600)


def reachable(board) -> bool:
    try:
        return httpx.get(f"http://{board.ip}:11434/api/version", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def test_by_default_the_api_listens_on_127_0_0_1_only(access_fleet, sim_env):
    env = site(sim_env)
    run = converge(access_fleet, env)
    assert run["failed_hosts"] == [], run["stderr"][-2000:]
    checks = access_checks(access_fleet, env)
    assert checks.returncode == 0 and "3 passed" in checks.stdout, checks.stdout[-3000:]
    board = next(iter(access_fleet.boards.values()))
    sockets = board_host(access_fleet, board).check_output("ss -Hltn sport = :11434")
    assert [line.split()[3] for line in sockets.splitlines()] == ["127.0.0.1:11434"]
    assert not reachable(board)


def test_allow_from_binds_to_the_lan_address_behind_a_firewall(access_fleet, sim_env):
    board = next(iter(access_fleet.boards.values()))
    env = site(sim_env, ollama_allow_from=["10.0.0.0/8"])
    run = converge(access_fleet, env)
    assert run["failed_hosts"] == [], run["stderr"][-2000:]
    checks = access_checks(access_fleet, env)
    assert checks.returncode == 0 and "3 passed" in checks.stdout, checks.stdout[-3000:]
    host = board_host(access_fleet, board)
    assert [line.split()[3] for line in host.check_output("ss -Hltn sport = :11434").splitlines()] == \
        [f"{board.ip}:11434"]
    assert host.check_output("iptables -S JETSON-OLLAMA").splitlines() == [
        "-N JETSON-OLLAMA", "-A JETSON-OLLAMA -i lo -j ACCEPT", "-A JETSON-OLLAMA -s 10.0.0.0/8 -j ACCEPT",
        "-A JETSON-OLLAMA -j DROP"]
    assert reachable(board)  # the controller is in 10.0.0.0/8
    again = converge(access_fleet, env)
    assert again["failed_hosts"] == [] and changed(again) == {}

    # a rule flushed by hand is put back; a network the controller is not in shuts it out
    host.check_output("iptables -F JETSON-OLLAMA")
    other = site(sim_env, ollama_allow_from=["192.168.0.0/16"])
    run = converge(access_fleet, other)
    assert run["failed_hosts"] == [], run["stderr"][-2000:]
    assert not reachable(board)
    checks = access_checks(access_fleet, other)
    assert checks.returncode == 0 and "3 passed" in checks.stdout, checks.stdout[-3000:]  # the board reaches itself


def test_back_to_the_default_removes_the_firewall(access_fleet, sim_env):
    board = next(iter(access_fleet.boards.values()))
    env = site(sim_env)
    run = converge(access_fleet, env)
    assert run["failed_hosts"] == [], run["stderr"][-2000:]
    host = board_host(access_fleet, board)
    assert host.run("iptables -S JETSON-OLLAMA").rc != 0
    assert not host.file("/etc/systemd/system/jetson-ollama-firewall.service").exists
    checks = access_checks(access_fleet, env)
    assert checks.returncode == 0 and "3 passed" in checks.stdout, checks.stdout[-3000:]


def test_an_api_open_to_every_network_is_refused_before_anything_changes(access_fleet, sim_env):
    board = next(iter(access_fleet.boards.values()))
    before = board_host(access_fleet, board).check_output("docker inspect --format '{{.Id}}' ollama")
    proc = subprocess.run([str(Path(sys.executable).with_name("pyinfra")), "-y", "inventories/sim.py",
                           "deploys/full.py"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=dict(site(sim_env, ollama_host="0.0.0.0:11434"), JETSON_SIM_FLEET=access_fleet.name))
    assert proc.returncode != 0
    assert "ollama_host: listens beyond the board (0.0.0.0)" in proc.stdout + proc.stderr
    assert board_host(access_fleet, board).check_output("docker inspect --format '{{.Id}}' ollama") == before
