"""Offline bundles on simulated boards over SSH: a bundle built on the controller from the fleet's
simulated upstream, a board cut from that upstream (`python -m jetson_sim internet BOARD off`), and the
board converging from the bundle alone: its image loaded, its model copied, quick-test green, a second
run with nothing to do, and not one upstream byte to the board (the upstream's own counters: the Docker
Hub stand-in's access log and the Ollama registry's /_sim/stats). The tests run in file order.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO, board_host, board_of, fleet_name, sim
from .test_stages import SUPER, changed, converge, refusal

pytestmark = pytest.mark.sim

MODEL = "qwen2.5:0.5b"
IMAGE = "dustynv/ollama:r36.4.3"  # docs/facts.md section 4: the r36.4.3 board's prebuilt image


@pytest.fixture(scope="module")
def offline_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("o"))
    f.up(1, [SUPER])
    try:
        yield f
    finally:
        f.down()


@pytest.fixture(scope="module")
def site_bundle(tmp_path_factory):
    return tmp_path_factory.mktemp("bundle") / "site.tar"


def upstream(fleet):
    from jetson_sim.upstream.services import Upstream

    return Upstream(fleet)


def host_data(bundle=None) -> str:
    return json.dumps({"ollama_models": [MODEL], "ollama_api_timeout": 30,
                       **({"jetson_bundle": str(bundle)} if bundle else {})})


def reaches(host, url: str) -> bool:
    return host.run(f"curl -fsS -o /dev/null --max-time 5 {url}").rc == 0


def test_a_cut_board_reaches_no_upstream_service_but_ssh_works(offline_fleet, sim_env):
    board = board_of(offline_fleet, SUPER)
    host, up = board_host(offline_fleet, board), upstream(offline_fleet)
    registry = f"{up.registry_url}/v2/"
    models = f"{up.ollama_registry_url}/v2/library/{MODEL.split(':')[0]}/manifests/0.5b"
    assert reaches(host, registry) and reaches(host, models)
    sim(sim_env, offline_fleet, "internet", board.name, "off")
    try:
        host = board_host(offline_fleet, board)  # a new SSH session after the cut
        assert host.check_output("hostname") == board.name
        assert not reaches(host, registry) and not reaches(host, models)
        git = host.run(f"timeout 10 git ls-remote {up.git_url}")
        assert git.rc != 0 and git.rc != 124  # refused at once, not left hanging
        assert host.run("docker pull ubuntu:22.04").rc != 0  # the Docker Hub mirror is upstream too
        status = json.loads(sim(sim_env, offline_fleet, "status").stdout)
        assert [row["internet"] for row in status if row["name"] == board.name] == [False]
    finally:
        sim(sim_env, offline_fleet, "internet", board.name, "on")
    assert reaches(board_host(offline_fleet, board), registry)


def test_the_bundle_is_built_on_the_controller_from_upstream(offline_fleet, sim_env, site_bundle):
    up = upstream(offline_fleet)
    board = board_of(offline_fleet, SUPER)
    images_before, models_before = up.image_stats(), up.model_stats()
    env = dict(sim_env, JETSON_SIM_FLEET=offline_fleet.name, JETSON_SIM_HOST_DATA=host_data())
    run = subprocess.run([sys.executable, "-m", "jetson_ollama", "bundle", "inventories/sim.py", "-o", str(site_bundle),
                          "--l4t", "36.4.3", "--registry", up.registry_url, "--ollama-registry", up.ollama_registry_url,
                          "--work", str(site_bundle.parent / "work")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"image   {IMAGE}" in run.stdout and f"model   {MODEL}" in run.stdout
    # the controller fetched it: nothing more went to the board
    assert up.image_stats()["bytes_by_client"].get(board.ip, 0) == images_before["bytes_by_client"].get(board.ip, 0)
    assert up.model_stats()["bytes_by_client"].get(board.ip, 0) == models_before["bytes_by_client"].get(board.ip, 0)


def test_a_cut_board_converges_from_the_bundle_alone(offline_fleet, sim_env, site_bundle):
    board = board_of(offline_fleet, SUPER)
    up = upstream(offline_fleet)
    images_before, models_before = up.image_stats(), up.model_stats()
    env = dict(sim_env, JETSON_SIM_HOST_DATA=host_data(site_bundle))
    sim(sim_env, offline_fleet, "internet", board.name, "off")
    try:
        first = converge(offline_fleet, env)
        assert first["failed_hosts"] == [], first["stderr"][-3000:]
        host = board_host(offline_fleet, board)
        assert host.check_output("docker inspect -f '{{.Config.Image}}' ollama") == IMAGE
        tags = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/tags"))
        assert [model["name"] for model in tags["models"]] == [MODEL]
        quick = host.run("quick-test")
        assert quick.rc == 0, quick.stdout + quick.stderr
        assert not host.file("/var/lib/jetson-ollama/bundle/models").exists  # the staged copies are gone
        assert not host.file("/opt/jetson-containers").exists  # a bundled prebuilt image needs no checkout

        again = converge(offline_fleet, env)
        assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)
    finally:
        sim(sim_env, offline_fleet, "internet", board.name, "on")
    # not one upstream byte to the board
    assert up.image_stats()["bytes_by_client"].get(board.ip, 0) == images_before["bytes_by_client"].get(board.ip, 0)
    assert up.model_stats()["bytes_by_client"].get(board.ip, 0) == models_before["bytes_by_client"].get(board.ip, 0)


def test_a_board_whose_release_the_bundle_lacks_is_refused_before_any_change(offline_fleet, sim_env, tmp_path):
    up = upstream(offline_fleet)
    env = dict(sim_env, JETSON_SIM_FLEET=offline_fleet.name, JETSON_SIM_HOST_DATA=host_data())
    other = tmp_path / "r36.2.tar"
    run = subprocess.run([sys.executable, "-m", "jetson_ollama", "bundle", "inventories/sim.py", "-o", str(other),
                          "--l4t", "36.2.0", "--registry", up.registry_url, "--ollama-registry", up.ollama_registry_url,
                          "--work", str(tmp_path / "work")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    board = board_of(offline_fleet, SUPER)
    refused = converge(offline_fleet, dict(sim_env, JETSON_SIM_HOST_DATA=host_data(other)))
    assert refusal(refused, board) == (
        f"the bundle {other} has no image {IMAGE}, which this board (L4T 36.4.3) needs; it has "
        "dustynv/ollama:r36.2.0 (L4T 36.2.0): bundle again with --l4t 36.4.3")


def test_a_cut_native_board_converges_from_the_bundle_alone(offline_fleet, sim_env, tmp_path):
    # the same board switched to the native runtime while cut off: the release archives come from the
    # bundle (checked against the pins the bundle command wrote), the models stay where they are
    board = board_of(offline_fleet, SUPER)
    up = upstream(offline_fleet)
    data = {"ollama_models": [MODEL], "ollama_api_timeout": 30, "jetson_runtime": "native"}
    native = tmp_path / "native.tar"
    run = subprocess.run([sys.executable, "-m", "jetson_ollama", "bundle", "inventories/sim.py", "-o", str(native),
                          "--l4t", "36.4.3", "--registry", up.registry_url, "--ollama-registry", up.ollama_registry_url,
                          "--native-url", f"{up.releases_hooks_url}/ollama/ollama/releases/download",
                          "--work", str(tmp_path / "work")], cwd=REPO, capture_output=True, text=True, timeout=900,
                         env=dict(sim_env, JETSON_SIM_FLEET=offline_fleet.name, JETSON_SIM_HOST_DATA=json.dumps(data)))
    assert run.returncode == 0, run.stderr[-3000:]
    releases_before = up.release_stats()["bytes_by_client"].get(board.ip, 0)
    models_before = up.model_stats()["bytes_by_client"].get(board.ip, 0)
    env = dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps({**data, "jetson_bundle": str(native)}))
    sim(sim_env, offline_fleet, "internet", board.name, "off")
    try:
        first = converge(offline_fleet, env)
        assert first["failed_hosts"] == [], first["stderr"][-3000:]
        host = board_host(offline_fleet, board)
        assert host.service("ollama").is_running
        assert host.run("docker inspect ollama").rc != 0  # the container gave the port up
        quick = host.run("quick-test")
        assert quick.rc == 0, quick.stdout + quick.stderr
        again = converge(offline_fleet, env)
        assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)
    finally:
        sim(sim_env, offline_fleet, "internet", board.name, "on")
    assert up.release_stats()["bytes_by_client"].get(board.ip, 0) == releases_before
    assert up.model_stats()["bytes_by_client"].get(board.ip, 0) == models_before
