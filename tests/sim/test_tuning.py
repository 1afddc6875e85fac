"""Board tuning on simulated boards over SSH: the power mode chosen by name (the Orin Nano Super's
MAXN_SUPER is id 2, not 0: docs/facts.md section 3), an unknown name refused with the board's modes, headless
lowering the memory fit, one reboot when allowed, docker's data root on the NVMe, and every second
run changing nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, board_host, board_of, fleet_name
from .test_stages import NANO, SUPER, changed, converge, refusal

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def tuning_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("tu"))
    f.up(3, [SUPER, NANO, SUPER])  # the second Super stays as JetPack ships it until the memory-fit test
    try:
        yield f
    finally:
        f.down()


def tune(fleet, sim_env, *data: str, board) -> dict:
    """deploys/tuning.py (preflight + tuning) on one board, with `--data key=value` for each of `data`."""
    cmd = [str(Path(sys.executable).with_name("pyinfra")), "inventories/sim.py", "deploys/tuning.py", "-y", "--json",
           "--limit", board.name]
    for item in data:
        cmd += ["--data", item]
    proc = subprocess.run(cmd, cwd=REPO, env=dict(sim_env, JETSON_SIM_FLEET=fleet.name), capture_output=True,
                          text=True, timeout=600)
    try:
        results = json.loads(proc.stdout)["results"]
    except (json.JSONDecodeError, KeyError) as error:
        if "No hosts remaining!" not in proc.stderr:
            raise AssertionError(f"pyinfra gave no JSON (rc {proc.returncode}): {proc.stderr[-3000:]}") from error
        results = {"failed_hosts": [board.name], "operations": [], "totals": {"success": 0}}
    results["stderr"], results["rc"] = proc.stderr, proc.returncode
    return results


def second_super(fleet):
    return [board for board in fleet.boards.values() if board.profile == SUPER][1]


def used_mb(host) -> int:
    meminfo = dict(re.findall(r"^(\w+): +(\d+) kB$", host.file("/proc/meminfo").content_string, re.M))
    return (int(meminfo["MemTotal"]) - int(meminfo["MemAvailable"])) // 1024


def test_the_super_gets_maxn_super_by_name_then_nothing_to_do(tuning_fleet, sim_env):
    board = board_of(tuning_fleet, SUPER)
    host = board_host(tuning_fleet, board)
    host.check_output("nvpmodel -m 0")  # 15W, id 0: what `nvpmodel -m 0` gives on this board
    assert host.file("/var/lib/nvpmodel/status").content_string == "pmode:0000\n"

    run = tune(tuning_fleet, sim_env, "jetson_power_mode=MAXN_SUPER", board=board)
    assert run["failed_hosts"] == [], run["stderr"][-3000:]
    assert host.file("/var/lib/nvpmodel/status").content_string == "pmode:0002\n"  # docs/facts.md section 3
    assert host.check_output("nvpmodel -q") == "NV Power Mode: MAXN_SUPER\n2"
    assert "reboot needed" not in run["stderr"]  # 15W and MAXN_SUPER keep the same cores online

    again = tune(tuning_fleet, sim_env, "jetson_power_mode=MAXN_SUPER", board=board)
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)


def test_an_unknown_mode_is_refused_with_the_boards_names_and_nothing_changes(tuning_fleet, sim_env):
    board = board_of(tuning_fleet, SUPER)
    host = board_host(tuning_fleet, board)
    before = host.file("/var/lib/nvpmodel/status").content_string
    run = tune(tuning_fleet, sim_env, "jetson_power_mode=MAXN", "jetson_headless=true", board=board)
    assert refusal(run, board) == ("power mode 'MAXN' is not one of this board's: 15W (id 0), 25W (id 1), "
                                   "MAXN_SUPER (id 2), 7W (id 3)")
    assert host.file("/var/lib/nvpmodel/status").content_string == before
    assert host.check_output("systemctl get-default") == "graphical.target"  # the headless part did not run


def test_tuned_headless_with_a_swapfile_reboots_once_and_comes_back_tuned(tuning_fleet, sim_env):
    board = board_of(tuning_fleet, SUPER)
    host = board_host(tuning_fleet, board)
    assert host.check_output("systemctl get-default") == "graphical.target"
    assert used_mb(host) == 1331  # the desktop's idle figure (docs/facts.md section 6)
    assert [line.split()[0] for line in host.file("/proc/swaps").content_string.splitlines()[1:]] == \
        [f"/dev/zram{i}" for i in range(6)]  # nvzramconfig's zram: 3810 MB (docs/facts.md section 3)
    host.check_output("nvpmodel -m 3 </dev/null")  # 7W keeps four of the six cores: back to MAXN_SUPER needs a reboot
    tuned = ["jetson_power_mode=MAXN_SUPER", "jetson_headless=true", "jetson_disable_zram=true",
             "jetson_swapfile_size=256M", "jetson_disable_argus=true", "jetson_clocks=true", "jetson_allow_reboot=true"]

    run = tune(tuning_fleet, sim_env, *tuned, board=board)
    assert run["failed_hosts"] == [], run["stderr"][-3000:]
    for why in ("power mode MAXN_SUPER keeps other CPU cores online", "the desktop stops at the next boot",
                "the zram devices nvzramconfig made go at the next boot"):
        assert f"{board.name}: reboot needed: {why}" in run["stderr"]
    assert [name for name in changed(run) if "Reboot" in name], changed(run)

    host = board_host(tuning_fleet, board)  # a new session: the board rebooted
    assert float(host.file("/proc/uptime").content_string.split()[0]) < 300
    assert host.check_output("systemctl get-default") == "multi-user.target"
    assert used_mb(host) == 1331 - 800  # headless frees about 800 MB (docs/facts.md section 3)
    assert host.check_output("nvpmodel -q") == "NV Power Mode: MAXN_SUPER\n2"
    swaps = host.file("/proc/swaps").content_string.splitlines()[1:]
    assert [line.split()[:2] for line in swaps] == [["/ssd/swapfile", "file"]]  # from fstab, no zram
    assert int(swaps[0].split()[2]) == 256 * 1024 - 4
    assert "/ssd/swapfile none swap sw 0 0" in host.file("/etc/fstab").content_string
    assert not host.service("nvargus-daemon").is_running and not host.service("nvargus-daemon").is_enabled
    assert not host.service("nvzramconfig").is_enabled
    assert host.service("jetson-ollama-clocks").is_enabled
    assert "pinned to the maximum (MAXN_SUPER)" in host.check_output("jetson_clocks --show")

    again = tune(tuning_fleet, sim_env, *tuned, board=board)
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)
    assert "reboot needed" not in again["stderr"]


def test_docker_data_root_moves_to_the_nvme(tuning_fleet, sim_env):
    board = board_of(tuning_fleet, NANO)
    host = board_host(tuning_fleet, board)
    run = tune(tuning_fleet, sim_env, "jetson_docker_data_root=/ssd/docker", board=board)
    assert run["failed_hosts"] == [], run["stderr"][-3000:]
    assert host.check_output("docker info -f '{{.DockerRootDir}}'") == "/ssd/docker"
    assert json.loads(host.file("/etc/docker/daemon.json").content_string)["runtimes"]["nvidia"]  # kept
    again = tune(tuning_fleet, sim_env, "jetson_docker_data_root=/ssd/docker", board=board)
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)


def test_headless_lowers_the_memory_fit_before_the_reboot(tuning_fleet, sim_env):
    """qwen3:8b on an 8 GB Orin Nano Super: 98 % (black) with the desktop, 88 % (red) once the deploy
    makes the board headless, judged in the same run that sets multi-user.target (docs/facts.md sections 3
    and 6). A refused board is left as it was (the plan refuses before any change); with the warn policy
    the same run makes it headless and says the reboot is needed."""
    board = second_super(tuning_fleet)
    want = ["--data", 'ollama_models=["qwen3:8b"]']
    desktop = converge(tuning_fleet, sim_env, *want, limit=board.name)
    assert refusal(desktop, board).startswith("qwen3:8b needs about 7.3 GB of 7.4 GB RAM (98 %, black)")

    headless = converge(tuning_fleet, sim_env, *want, "--data", "jetson_headless=true", limit=board.name)
    assert refusal(headless, board).startswith("qwen3:8b needs about 6.5 GB of 7.4 GB RAM (88 %, red)")
    host = board_host(tuning_fleet, board)
    assert host.check_output("systemctl get-default") == "graphical.target"  # refused: nothing changed

    warned = converge(tuning_fleet, sim_env, *want, "--data", "jetson_headless=true", "--data",
                      "ollama_memory_policy=warn", limit=board.name)
    assert warned["failed_hosts"] == [], warned["stderr"][-2000:]
    assert "qwen3:8b needs about 6.5 GB of 7.4 GB RAM (88 %, red)" in warned["stderr"]
    assert f"{board.name}: reboot needed: the desktop stops at the next boot" in warned["stderr"]
    assert host.check_output("systemctl get-default") == "multi-user.target"
    assert host.file("/run/jetson-sim/boot-target").content_string == "graphical.target\n"  # not rebooted
