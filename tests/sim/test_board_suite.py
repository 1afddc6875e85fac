"""The testinfra suite for real boards (tests/boards) and the fleet report, run against simulated boards."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from .conftest import REPO, board_host, board_of, sim
from .test_stages import AGX, NANO, SUPER, converge

pytestmark = pytest.mark.sim

ARTIFACTS = REPO / "artifacts"


@pytest.fixture(scope="module")
def suite_fleet(site_fleet):
    """The session's converged site fleet: one board of each Jetson profile, converged with SITE."""
    return site_fleet


def board_suite(fleet, site_env) -> subprocess.CompletedProcess:
    """What a user runs against their boards: pytest tests/boards --inventory <their inventory>."""
    return subprocess.run([sys.executable, "-m", "pytest", "tests/boards", "--inventory", "inventories/sim.py", "-q",
                           "-rA", "-p", "no:cacheprovider"],
                          cwd=REPO, env=dict(site_env, JETSON_SIM_FLEET=fleet.name), capture_output=True, text=True,
                          timeout=900)


def test_board_suite_passes_then_names_what_broke(suite_fleet, site_env):
    ok = board_suite(suite_fleet, site_env)
    assert ok.returncode == 0, ok.stdout[-4000:] + ok.stderr[-2000:]
    assert "passed" in ok.stdout.splitlines()[-1] and "failed" not in ok.stdout.splitlines()[-1]

    nano, agx = board_of(suite_fleet, NANO), board_of(suite_fleet, AGX)
    board_host(suite_fleet, nano).check_output(
        "curl -fsS -X DELETE http://127.0.0.1:11434/api/delete -d '{\"model\": \"qwen2.5:0.5b\"}'")
    board_host(suite_fleet, agx).check_output("docker stop ollama >/dev/null")
    broken = board_suite(suite_fleet, site_env)
    assert broken.returncode != 0
    failed = {line.split()[1] for line in broken.stdout.splitlines() if line.startswith("FAILED")}
    assert f"tests/boards/test_board.py::test_models_present_and_locked[{nano.name}]" in failed, broken.stdout[-4000:]
    assert f"tests/boards/test_board.py::test_api_answers_on_loopback[{agx.name}]" in failed
    assert not any(f"[{board_of(suite_fleet, SUPER).name}]" in test for test in failed)
    # the messages say what broke, on which board
    assert f"{agx.name}: container ollama is not running" in broken.stdout or "not running" in broken.stdout
    assert "qwen2.5:0.5b" in broken.stdout and nano.name in broken.stdout

    fixed = converge(suite_fleet, site_env)
    assert fixed["failed_hosts"] == []
    assert board_suite(suite_fleet, site_env).returncode == 0


def test_fleet_report_with_a_partitioned_board(suite_fleet, site_env, tmp_path):
    nano, super_ = board_of(suite_fleet, NANO), board_of(suite_fleet, SUPER)
    board_host(suite_fleet, nano).check_output("bench qwen2.5:0.5b >/dev/null")
    sim(site_env, suite_fleet, "partition", super_.name, "on")
    try:
        proc = subprocess.run([sys.executable, "-m", "jetson_ollama", "report", "inventories/sim.py", "-o",
                               str(tmp_path), "--png"], cwd=REPO, env=dict(site_env, JETSON_SIM_FLEET=suite_fleet.name),
                              capture_output=True, text=True, timeout=300)
    finally:
        sim(site_env, suite_fleet, "partition", super_.name, "off")
    assert proc.returncode == 0, proc.stderr[-3000:]
    markdown = (tmp_path / "report.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| board")}
    assert "unreachable" in rows[super_.name]
    assert "36.2.0" in rows[nano.name] and "qwen2.5:0.5b" in rows[nano.name]
    html = (tmp_path / "report.html").read_text()
    assert "<table" in html and "<svg" in html and "http://" not in html and "https://" not in html
    if shutil.which("chromium"):  # scripts/setup.sh installs it; the picture is kept for a person to look at
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "report.png", ARTIFACTS / "fleet-report.png")
        assert (ARTIFACTS / "fleet-report.png").stat().st_size > 10_000
