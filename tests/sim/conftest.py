"""Fixtures for tests on simulated boards: a private fleet per test run, torn down at the end.

Fleets of a run are named after its PID (bridge, namespaces and cgroups carry that name), so two runs
on one machine never meet, and the leftovers of a killed run are torn down before a new one starts.
"""

from __future__ import annotations

import fcntl
import json
import os
import string
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest
import testinfra

REPO = Path(__file__).resolve().parents[2]
SIM_HOME = Path(os.environ.get("JETSON_SIM_TEST_HOME", "/var/lib/jetson-sim-tests"))
JETSON_PROFILES = ["orin-nano-8gb-r36.2.0", "orin-nano-super-r36.4.3", "orin-nx-16gb-r35.4.1",
                   "agx-orin-64gb-r36.4.4"]
ALL_PROFILES = [*JETSON_PROFILES, "x86-server"]
SITE = {"ollama_models": ["qwen2.5:0.5b"]}  # the site fleet's settings, as group_data/all.py would hold them


def _needs_root():
    if os.geteuid() != 0:
        pytest.skip("simulated boards need root (namespaces, mounts, cgroups)")


@pytest.fixture(scope="session")
def sim_env():
    """Environment under which the simulator, pyinfra and the inventory see this run's fleets."""
    _needs_root()
    os.environ["JETSON_SIM_HOME"] = str(SIM_HOME)
    from jetson_sim.fleet import Fleet

    fleets = SIM_HOME / "fleets"
    fleets.mkdir(parents=True, exist_ok=True)
    with (fleets / ".cleanup.lock").open("a") as lock:  # the lane's workers start at once: one cleans up
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in sorted(fleets.glob("*/fleet.json")):  # left by a killed earlier run
            owner = stale.parent.name.lstrip(string.ascii_lowercase)  # the tag, then the PID of its run
            if stale.exists() and not (owner.isdigit() and Path(f"/proc/{owner}").exists()):
                Fleet.load(stale.parent.name).down()
    return dict(os.environ, JETSON_SIM_HOME=str(SIM_HOME), PYTHONPATH=str(REPO))


def fleet_name(tag: str) -> str:
    return f"{tag}{os.getpid()}"


@pytest.fixture(scope="session")
def fleet(sim_env):
    """One board of every profile, docker on where the profile ships it."""
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("t"))
    f.up(len(ALL_PROFILES), ALL_PROFILES)
    try:
        yield f
    finally:
        f.down()


@pytest.fixture(scope="session")
def site_env(sim_env):
    """The environment under which inventories/sim.py gives every board the site's settings (SITE)."""
    return dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps(SITE))


@pytest.fixture(scope="session")
def site_fleet(site_env):
    """One board of each Jetson profile, converged once with SITE, for the modules that check converged
    boards (the board suite, the fleet report, the board scripts). A module may converge a board of it
    to other settings or break and mend one, but leaves it converged and reachable; scenarios that leave
    a board changed (a fault left in place, a reboot, other hardware) boot boards of their own."""
    from jetson_sim.fleet import Fleet

    from .test_stages import converge

    f = Fleet.load(fleet_name("c"))
    f.up(len(JETSON_PROFILES), JETSON_PROFILES)
    try:
        run = converge(f, site_env)
        assert run["failed_hosts"] == [], run["stderr"][-2000:]
        yield f
    finally:
        f.down()


def unload_models(fleet, board) -> None:
    """Unload every model the board's Ollama holds in memory (keep_alive 0), as a board just converged is."""
    host = board_host(fleet, board)
    loaded = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/ps"))["models"]
    for model in loaded:
        body = json.dumps({"model": model["name"], "prompt": "", "keep_alive": 0})
        host.check_output(f"curl -fsS http://127.0.0.1:11434/api/generate -d '{body}' >/dev/null")


def board_of(fleet, profile: str):
    return next(b for b in fleet.boards.values() if b.profile == profile)


def ssh_client(fleet, board, timeout: float = 5) -> paramiko.SSHClient:
    """An SSH client that trusts exactly the host keys the simulator recorded (strict checking)."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(fleet.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(board.ip, username="root", key_filename=str(fleet.key), timeout=timeout,
                   banner_timeout=timeout, auth_timeout=timeout, look_for_keys=False, allow_agent=False)
    return client


def board_host(fleet, board) -> testinfra.host.Host:
    """A testinfra host over SSH with strict host key checking."""
    host = testinfra.get_host(f"paramiko://root@{board.ip}")
    host.backend.__dict__["client"] = ssh_client(fleet, board)  # fills the backend's cached client
    return host


def sim(sim_env, fleet, *args, check=True, timeout=120):
    """Run the simulator CLI as a user would."""
    proc = subprocess.run([sys.executable, "-m", "jetson_sim", "--fleet", fleet.name, *args], env=sim_env,
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"jetson_sim {' '.join(args)} failed: {proc.stderr}")
    return proc


# the modules that share a session fleet (a module missing here still passes: its worker boots its own copy)
SHARED_FLEETS = {"test_boards.py": "fleet", "test_upstream.py": "fleet",
                 "test_board_suite.py": "site_fleet", "test_scripts.py": "site_fleet"}
# the modules that take longest (minutes: test_rollout about a third of the lane), longest first, so that
# two workers end together; the others after them, in file order
LONGEST = ("test_rollout.py", "test_board_suite.py", "test_scripts.py", "test_boards.py", "test_upstream.py",
           "test_bootstrap.py", "test_stages.py", "test_native.py", "test_bundle.py", "test_models.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: index for index, name in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST)))  # stable: file order within a module


def pytest_xdist_make_scheduler(config, log):
    """With pytest-xdist (`scripts/test.sh --sim`: two workers): each module runs whole on one worker, in
    file order on its own fleets, and the modules that share a session fleet run on the same worker, so
    that each fleet is booted and converged once."""
    from xdist.scheduler import LoadScopeScheduling

    class FleetScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_FLEETS.get(Path(module).name, module)

    return FleetScheduling(config, log)
