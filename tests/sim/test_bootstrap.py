"""Sudo on simulated boards: a user whose sudo asks for a password gets a NOPASSWD drop-in from
deploys/bootstrap.py, run once with the password from the environment; later runs need none."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, board_host, fleet_name
from .test_stages import NANO

pytestmark = pytest.mark.sim

PASSWORD = "orin-nano-123"  # the test's own user on a throw-away board


@pytest.fixture(scope="module")
def sudo_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("u"))
    f.up(1, [NANO], docker=False)
    board = next(iter(f.boards.values()))
    f.exec(board, "sh", "-c", f"useradd -m -s /bin/bash -G sudo jetson && echo 'jetson:{PASSWORD}' | chpasswd && "
                              "install -d -m 700 -o jetson -g jetson ~jetson/.ssh && "
                              "install -m 600 -o jetson -g jetson /root/.ssh/authorized_keys ~jetson/.ssh/")
    try:
        yield f
    finally:
        f.down()


def deploy(fleet, sim_env, entry: str, password: str | None = None) -> subprocess.CompletedProcess:
    env = dict(sim_env, JETSON_SIM_FLEET=fleet.name,
               JETSON_SIM_HOST_DATA=json.dumps({"ssh_user": "jetson", "_sudo": True}))
    env.pop("JETSON_SUDO_PASSWORD", None)
    if password:
        env["JETSON_SUDO_PASSWORD"] = password
    return subprocess.run([str(Path(sys.executable).with_name("pyinfra")), "-y", "--json", "inventories/sim.py", entry],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_bootstrap_with_the_password_from_the_environment_then_no_password(sudo_fleet, sim_env):
    board = next(iter(sudo_fleet.boards.values()))
    host = board_host(sudo_fleet, board)
    assert deploy(sudo_fleet, sim_env, "deploys/bootstrap.py").returncode != 0  # sudo asks for the password

    first = deploy(sudo_fleet, sim_env, "deploys/bootstrap.py", PASSWORD)
    assert first.returncode == 0, first.stderr[-2000:]
    drop_in = host.file("/etc/sudoers.d/jetson-ollama")
    assert drop_in.mode == 0o440 and drop_in.user == "root"
    assert "jetson ALL=(ALL) NOPASSWD: ALL" in drop_in.content_string
    assert host.run("visudo -c").rc == 0
    assert host.run("su - jetson -c 'sudo -n true'").rc == 0

    again = deploy(sudo_fleet, sim_env, "deploys/bootstrap.py")  # no password any more
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["results"]["totals"]["success"] == 0  # nothing to change
