"""Runs cut short and dangerous settings, on a simulated board over SSH: Ctrl-C in the middle of the container's
replacement, a link lost in the middle of a run, an API opened to every network. Each time the board keeps a
serving Ollama, a refusal changes nothing, and a converge afterwards finishes the work."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import REPO, board_host, fleet_name, sim, ssh_client
from .test_stages import SUPER, changed, converge

pytestmark = pytest.mark.sim

MODELS = ["qwen2.5:0.5b"]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
INSPECT = "docker inspect --format '{{.Id}} {{.Config.Env}}' ollama"


@pytest.fixture(scope="module")
def fault_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("f"))
    f.up(1, [SUPER])
    try:
        yield f
    finally:
        f.down()


def site(sim_env, **data) -> dict:
    return dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps({"ollama_models": MODELS, **data}))


def the_board(fleet):
    return next(iter(fleet.boards.values()))


def start_run(fleet, env, *extra) -> subprocess.Popen:
    """`pyinfra inventories/sim.py deploys/full.py -y` in the background, as a user starts it in a terminal."""
    return subprocess.Popen([PYINFRA, "inventories/sim.py", "deploys/full.py", "-y", *extra], cwd=REPO,
                            env=dict(env, JETSON_SIM_FLEET=fleet.name), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


class Renames:
    """The board's docker events for renamed containers, read over an SSH session of its own: the swap's first
    step renames the running container `<name>-replaced` (operations/ollama.swap_script)."""

    def __init__(self, fleet, board, timeout: float = 300) -> None:
        self.client = ssh_client(fleet, board, timeout=10)
        channel = self.client.get_transport().open_session()
        channel.settimeout(timeout)  # bounded: socket.timeout when no rename comes
        channel.exec_command("docker events --filter event=rename --format '{{.Actor.Attributes.name}}'")
        self.lines = channel.makefile("r")

    def next(self) -> str:
        return self.lines.readline().strip()

    def close(self) -> None:
        self.client.close()


def serving(fleet, board, timeout: float = 120) -> dict:
    """/api/tags of the board's Ollama once it answers (within `timeout`), and the containers then."""
    deadline = time.monotonic() + timeout
    while True:
        host = board_host(fleet, board)
        tags = host.run("curl -fsS --max-time 3 http://127.0.0.1:11434/api/tags")
        names = host.check_output("docker ps -a --format '{{.Names}} {{.State}}'").splitlines()
        if tags.rc == 0 and not any(line.startswith("ollama-replaced ") for line in names):
            return {"tags": json.loads(tags.stdout), "containers": sorted(names)}
        assert time.monotonic() < deadline, f"no serving Ollama within {timeout} s: {tags.stderr} {names}"
        time.sleep(0.5)


def test_ctrl_c_during_the_container_swap_leaves_a_serving_board(fault_fleet, sim_env):
    board, env = the_board(fault_fleet), site(sim_env)
    first = converge(fault_fleet, env)
    assert first["failed_hosts"] == [], first["stderr"][-2000:]

    renames = Renames(fault_fleet, board)
    run = start_run(fault_fleet, env, "--data", "ollama_keep_alive=17m")  # a new container spec: a swap
    try:
        assert renames.next() == "ollama-replaced"  # the old container is stopped, the new one not answering yet
        run.send_signal(signal.SIGINT)  # Ctrl-C in the terminal
        output, _ = run.communicate(timeout=120)
    finally:
        renames.close()
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode != 0, output[-2000:]
    after = serving(fault_fleet, board)
    assert "ollama running" in after["containers"], after
    assert [model["name"] for model in after["tags"]["models"]] == MODELS

    finish = converge(fault_fleet, env, "--data", "ollama_keep_alive=17m")
    assert finish["failed_hosts"] == [], finish["stderr"][-2000:]
    assert "OLLAMA_KEEP_ALIVE=17m" in board_host(fault_fleet, board).check_output(INSPECT)
    again = converge(fault_fleet, env, "--data", "ollama_keep_alive=17m")
    assert again["failed_hosts"] == [] and changed(again) == {}, again["stderr"][-2000:]


def test_a_link_lost_during_a_run_is_one_line_and_the_next_converge_finishes(fault_fleet, sim_env):
    board, env = the_board(fault_fleet), site(sim_env)
    renames = Renames(fault_fleet, board)
    run = start_run(fault_fleet, env, "--data", "ollama_keep_alive=23m")
    try:
        assert renames.next() == "ollama-replaced"  # the swap runs: the link goes now
        sim(sim_env, fault_fleet, "partition", board.name, "on")
        output, _ = run.communicate(timeout=300)  # the dead link is seen within about 20 s
    finally:
        sim(sim_env, fault_fleet, "partition", board.name, "off")
        renames.close()
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode != 0, output[-2000:]
    lost = [line.strip() for line in output.splitlines() if "lost the link" in line]
    assert len(lost) == 1 and lost[0].startswith(f"[{board.name}] lost the link to {board.name} ({board.ip}): "), \
        output[-3000:]

    after = serving(fault_fleet, board)  # the board finished the swap on its own
    assert "ollama running" in after["containers"], after
    finish = converge(fault_fleet, env, "--data", "ollama_keep_alive=23m")
    assert finish["failed_hosts"] == [], finish["stderr"][-2000:]
    assert "OLLAMA_KEEP_ALIVE=23m" in board_host(fault_fleet, board).check_output(INSPECT)
    again = converge(fault_fleet, env, "--data", "ollama_keep_alive=23m")
    assert again["failed_hosts"] == [] and changed(again) == {}, again["stderr"][-2000:]


def board_state(fleet, board) -> dict[str, str]:
    """What an open API would change: the firewall, the container (id, environment), the API's listener."""
    host = board_host(fleet, board)
    return {"firewall": host.run("iptables -S").stdout, "container": host.check_output(INSPECT),
            "listeners": host.check_output("ss -Hltn sport = :11434")}


def reachable(board) -> bool:
    try:
        return httpx.get(f"http://{board.ip}:11434/api/version", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("network, line", [
    ("0.0.0.0/0", "jetson-ollama: host board1: ollama_allow_from: 0.0.0.0/0 is not a private network (RFC 1918 or "
                  "link-local), and the API has no authentication: "),
    ("::/0", "jetson-ollama: host board1: ollama_allow_from: must be a list of IPv4 networks such as 10.0.0.0/8 "),
])
def test_an_api_open_to_every_network_is_refused_before_connecting(fault_fleet, sim_env, network, line):
    board = the_board(fault_fleet)
    before = board_state(fault_fleet, board)
    run = start_run(fault_fleet, site(sim_env, ollama_allow_from=[network]))
    output, _ = run.communicate(timeout=300)
    assert run.returncode != 0
    said = [text for text in output.splitlines() if "ollama_allow_from" in text]
    assert len(said) == 1 and said[0].startswith(line), output[-2000:]
    assert "Connected" not in output  # refused before any board was reached
    assert board_state(fault_fleet, board) == before
    assert not reachable(board)


def test_an_api_open_to_every_network_with_the_opt_in(fault_fleet, sim_env):
    board = the_board(fault_fleet)
    opened = site(sim_env, ollama_allow_from=["0.0.0.0/0"], ollama_allow_public_networks=True)
    run = converge(fault_fleet, opened)
    assert run["failed_hosts"] == [], run["stderr"][-2000:]
    assert reachable(board)
    back = converge(fault_fleet, site(sim_env))  # the default again: 127.0.0.1 only, no firewall
    assert back["failed_hosts"] == [], back["stderr"][-2000:]
    assert not reachable(board)
