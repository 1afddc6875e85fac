"""One run at a time on a board (board_lock.py), on a simulated board over SSH: while another session
holds the board's run lock a converge is refused with one line and changes nothing; once that session
ends the lock is gone and the converge goes on."""

from __future__ import annotations

import time

import pytest

from jetson_ollama import board_lock

from .conftest import board_host, fleet_name, ssh_client
from .test_stages import NANO, converge

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def lock_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("k"))
    f.up(1, [NANO])
    try:
        yield f
    finally:
        f.down()


def test_a_second_run_is_refused_while_the_board_is_busy_and_goes_on_after(lock_fleet, sim_env):
    board = next(iter(lock_fleet.boards.values()))
    first = converge(lock_fleet, sim_env)
    assert first["failed_hosts"] == [], first["stderr"][-2000:]
    container = board_host(lock_fleet, board).check_output("docker inspect --format '{{.Id}}' ollama")

    other = ssh_client(lock_fleet, board)  # another controller's run, holding the lock
    channel = other.get_transport().open_session()
    channel.exec_command(board_lock.lock_command("other-laptop pid 4242 since 2026-12-03T07:00:00Z"))
    assert channel.makefile("r").readline().strip() == "locked"
    try:
        busy = converge(lock_fleet, sim_env, "--data", "ollama_keep_alive=30m")  # a change it must not make
        assert busy["failed_hosts"] == [board.name]
        assert f"jetson-ollama refused {board.name}: board busy: held by other-laptop pid 4242 since " \
               "2026-12-03T07:00:00Z" in busy["stderr"]
        host = board_host(lock_fleet, board)
        assert host.check_output("docker inspect --format '{{.Id}}' ollama") == container
        assert "OLLAMA_KEEP_ALIVE=30m" not in host.check_output("docker inspect --format '{{.Config.Env}}' ollama")
    finally:
        other.close()  # that run's SSH session ends: its lock goes with it
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "busy" in board_host(lock_fleet, board).run(
            "flock -n /run/jetson-ollama.lock true || echo busy").stdout:
        time.sleep(0.2)
    again = converge(lock_fleet, sim_env)
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, again["stderr"][-2000:]
