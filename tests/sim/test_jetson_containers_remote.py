"""Stage 2 on a simulated board: a changed jetson_containers_repo reaches a checkout cloned before.

The simulated upstream's git daemon serves every bare repository under its directory; a mirror of its
jetson-containers there stands for a fork or a site mirror a user moves to after the first run.
"""

from __future__ import annotations

import subprocess

import pytest

from .conftest import board_host, board_of, fleet_name
from .test_stages import SUPER, changed, converge

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def remote_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("jr"))
    f.up(1, [SUPER])
    try:
        yield f
    finally:
        f.down()


def test_a_new_jetson_containers_repo_becomes_the_checkouts_origin(remote_fleet, sim_env):
    from jetson_ollama.config import settings
    from jetson_sim.upstream.services import Upstream

    upstream = Upstream(remote_fleet)
    git_root = upstream.dir / "git"
    mirror = git_root / "jetson-containers-mirror.git"
    subprocess.run(["git", "clone", "--quiet", "--mirror", str(git_root / "jetson-containers.git"), str(mirror)],
                   check=True, capture_output=True)
    mirror_url = upstream.git_url.replace("/jetson-containers.git", "/" + mirror.name)
    path = settings({}).jetson_containers_path
    host = board_host(remote_fleet, board_of(remote_fleet, SUPER))

    first = converge(remote_fleet, sim_env)
    assert first["failed_hosts"] == [], first["stderr"][-3000:]
    assert host.check_output(f"git -C {path} remote get-url origin") == upstream.git_url
    pinned = host.check_output(f"git -C {path} rev-parse HEAD")

    moved = converge(remote_fleet, sim_env, "--data", f"jetson_containers_repo={mirror_url}")
    assert moved["failed_hosts"] == [], moved["stderr"][-3000:]
    assert host.check_output(f"git -C {path} remote get-url origin") == mirror_url
    assert host.check_output(f"git -C {path} rev-parse HEAD") == pinned  # the same pin, from the new remote
    assert any("jetson-containers at" in name for name in changed(moved)), changed(moved)

    again = converge(remote_fleet, sim_env, "--data", f"jetson_containers_repo={mirror_url}")
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)
