"""Simulated boards behave like the recorded hardware, checked over SSH as a user would check a board.

Expected values come from docs/facts.md (the recorded hardware), not from the profile files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from paramiko.ssh_exception import NoValidConnectionsError

from .conftest import REPO, board_host, board_of, fleet_name, sim

pytestmark = pytest.mark.sim

# docs/facts.md section 1 (tegra release line, MemTotal, CUDA), section 2 (nvidia-smi), section 3 (power modes)
RECORDED = {
    "orin-nano-8gb-r36.2.0": dict(tegra="# R36 (release), REVISION: 2.0, ", board="BOARD: generic",
                                  mem_mb=7620, cuda="release 12.2, V12.2", smi_cuda="12.2", model="Orin Nano"),
    "orin-nano-super-r36.4.3": dict(tegra="# R36 (release), REVISION: 4.3, ", board="BOARD: generic",
                                    mem_mb=7620, cuda="release 12.6", smi_cuda="12.6",
                                    model="NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super",
                                    power_mode=("MAXN_SUPER", 2)),
    "orin-nx-16gb-r35.4.1": dict(tegra="# R35 (release), REVISION: 4.1, ", board="BOARD: t186ref",
                                 mem_mb=15388, cuda="release 11.4", smi_cuda=None, model="Orin NX"),
    "agx-orin-64gb-r36.4.4": dict(tegra="# R36 (release), REVISION: 4.4, ", board="BOARD: generic",
                                  mem_mb=62841, cuda="release 12.6", smi_cuda="12.6",
                                  model="NVIDIA Jetson AGX Orin Developer Kit", power_mode=("MAXN", 0)),
}
TEGRASTATS = re.compile(r"^\d\d-\d\d-\d{4} \d\d:\d\d:\d\d RAM (\d+)/(\d+)MB \(lfb \d+x4MB\) "
                        r"SWAP \d+/\d+MB \(cached \d+MB\) CPU \[[^]]+\] .*GR3D_FREQ \d+% .*tj@[\d.]+C .*mW/\d+mW")


@pytest.mark.parametrize("profile", list(RECORDED))
def test_jetson_profile_reproduces_recorded_outputs(fleet, profile):
    want = RECORDED[profile]
    host = board_host(fleet, board_of(fleet, profile))

    tegra = host.file("/etc/nv_tegra_release").content_string.splitlines()[0]
    assert tegra.startswith(want["tegra"]) and want["board"] in tegra and "EABI: aarch64" in tegra
    assert host.check_output("uname -m") == "aarch64"
    model = host.file("/sys/firmware/devicetree/base/model").content
    assert model.endswith(b"\0") and want["model"] in model.decode()
    compatible = host.file("/sys/firmware/devicetree/base/compatible").content.split(b"\0")
    assert b"nvidia,tegra234" in compatible  # Orin SoC

    meminfo = host.file("/proc/meminfo").content_string
    assert f"MemTotal:       {want['mem_mb'] * 1024:>8} kB" in meminfo or \
        int(re.search(r"MemTotal:\s+(\d+) kB", meminfo).group(1)) == want["mem_mb"] * 1024
    assert host.check_output("free -m | awk '/^Mem:/ {print $2}'") == str(want["mem_mb"])

    assert want["cuda"] in host.check_output("/usr/local/cuda/bin/nvcc --version")
    version = json.loads(host.file("/usr/local/cuda/version.json").content_string)
    assert version["cuda_nvcc"]["version"].startswith(want["cuda"].split()[1].rstrip(","))

    smi = host.run("nvidia-smi")
    if want["smi_cuda"] is None:  # JetPack 5: nvidia-smi: command not found
        assert smi.rc == 127
    else:
        assert smi.rc == 0 and "Orin (nvgpu)" in smi.stdout and "Not Supported" in smi.stdout
        assert f"CUDA Version: {want['smi_cuda']}" in smi.stdout

    line = host.check_output("JETSON_SIM_TEGRASTATS_COUNT=1 tegrastats --interval 100")
    used, total = map(int, TEGRASTATS.match(line).groups())
    assert total == want["mem_mb"] and 0 < used < total

    conf = host.file("/etc/nvpmodel.conf").content_string
    assert "< POWER_MODEL ID=0 NAME=" in conf
    if "power_mode" in want:
        name, ident = want["power_mode"]
        assert f"< POWER_MODEL ID={ident} NAME={name} >" in conf
        host.check_output(f"nvpmodel -m {ident}")
        assert host.check_output("nvpmodel -q").splitlines() == [f"NV Power Mode: {name}", str(ident)]

    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"  # docs/facts.md section 3
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert "nvidia" in info["Runtimes"]
    assert host.check_output("dpkg-query --showformat='${Version}' --show nvidia-l4t-core").startswith(
        tegra.split()[1].lstrip("R") + "." + tegra.split("REVISION: ")[1].split(",")[0])


def test_x86_server_is_not_a_jetson(fleet):
    host = board_host(fleet, board_of(fleet, "x86-server"))
    assert host.check_output("uname -m") == "x86_64"
    assert not host.file("/etc/nv_tegra_release").exists
    assert not host.file("/sys/firmware/devicetree/base/model").exists
    assert host.run("nvidia-smi").rc == 127 and host.run("tegrastats").rc == 127
    assert host.run("dpkg-query --show nvidia-l4t-core").rc != 0
    assert "nvidia" not in json.loads(host.check_output("docker info --format '{{json .}}'"))["Runtimes"]


def test_memory_figures_follow_what_is_loaded(fleet):
    """A simulated allocation (what a loaded model registers) shows in /proc/meminfo and tegrastats."""
    host = board_host(fleet, board_of(fleet, "orin-nano-8gb-r36.2.0"))
    ram = "JETSON_SIM_TEGRASTATS_COUNT=1 tegrastats | grep -o 'RAM [0-9]*' | cut -c5-"
    idle = int(host.check_output(ram))
    host.check_output("jetson-sim-meminfo alloc test-model 4000000000")
    try:
        loaded = int(host.check_output(ram))
        available_kb = int(host.check_output("awk '/MemAvailable/ {print $2}' /proc/meminfo"))
    finally:
        host.check_output("jetson-sim-meminfo free test-model")
    assert abs(loaded - idle - 4000000000 / 2**20) < 5
    assert available_kb < (7620 - loaded + 5) * 1024
    assert abs(int(host.check_output(ram)) - idle) < 5


def test_boards_are_isolated(fleet):
    a, b = board_of(fleet, "orin-nano-8gb-r36.2.0"), board_of(fleet, "agx-orin-64gb-r36.4.4")
    ha, hb = board_host(fleet, a), board_host(fleet, b)
    assert ha.check_output("hostname") == a.name and hb.check_output("hostname") == b.name
    ha.check_output("echo only-on-a > /root/isolation-marker")
    assert not hb.file("/root/isolation-marker").exists
    # each board has its own localhost: a listener on a's loopback is not b's
    ha.check_output("setsid python3 -m http.server 18080 --bind 127.0.0.1 >/dev/null 2>&1 < /dev/null &")
    ha.check_output("for i in $(seq 100); do curl -fs -o /dev/null http://127.0.0.1:18080/ && exit 0; "
                    "sleep 0.05; done; exit 1")
    assert hb.run("curl -fs -o /dev/null --max-time 2 http://127.0.0.1:18080/").rc != 0
    ha.run("pkill -f 'http.server 18080'")
    # the boards see each other on the bridge, and nothing beyond it (no default route)
    assert hb.run(f"curl -s -o /dev/null --max-time 2 telnet://{a.ip}:22").rc in (0, 28, 52, 56)
    assert "default" not in ha.check_output("ip route")
    assert ha.run("curl -s -o /dev/null --max-time 2 http://192.0.2.1/").rc != 0
    # processes of one board are invisible in another
    assert "sshd" in ha.check_output("ps -e -o comm") and hb.run("pgrep -f isolation-marker").rc == 1


def test_unit_with_restart_always_restarts(fleet):
    host = board_host(fleet, board_of(fleet, "orin-nano-super-r36.4.3"))
    host.check_output(
        "printf '[Service]\\nExecStart=/bin/sleep infinity\\nRestart=always\\nRestartSec=0.2\\n' "
        "> /etc/systemd/system/sim-restart.service && systemctl daemon-reload && systemctl start sim-restart")
    first = host.check_output("systemctl show -p MainPID --value sim-restart")
    host.check_output(f"kill -9 {first}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = host.check_output("systemctl show -p MainPID --value sim-restart")
        if pid not in ("0", first):
            break
        time.sleep(0.1)
    assert pid not in ("0", first)
    assert int(host.check_output("systemctl show -p NRestarts --value sim-restart")) >= 1
    host.check_output("systemctl stop sim-restart")


IDLE_IMAGE = (  # a two-file image from the board's own sleep binary (no registry needed here)
    "tar -chf - -C / usr/bin/sleep lib64/ld-linux-x86-64.so.2 usr/lib/x86_64-linux-gnu/libc.so.6"
    " | docker import - sim/idle:1 >/dev/null"
)


def test_reboot_keeps_disk_drops_processes_and_restarts_containers(sim_env, fleet):
    board = board_of(fleet, "orin-nano-8gb-r36.2.0")
    host = board_host(fleet, board)
    host.check_output(IDLE_IMAGE)
    host.check_output("docker rm -f idle >/dev/null 2>&1; docker run -d --name idle --restart unless-stopped "
                      "--runtime nvidia --network host sim/idle:1 /usr/bin/sleep infinity")
    host.check_output("echo kept > /root/reboot-marker; setsid sleep 4242 >/dev/null 2>&1 < /dev/null &")
    assert host.run("pgrep -f 'sleep 4242'").rc == 0

    sim(sim_env, fleet, "reboot", board.name)
    host = board_host(fleet, board)
    assert host.file("/root/reboot-marker").content_string == "kept\n"
    assert host.run("pgrep -f 'sleep 4242'").rc == 1
    deadline = time.monotonic() + 20
    while host.check_output("docker inspect -f '{{.State.Running}}' idle") != "true":
        assert time.monotonic() < deadline, "container with a restart policy did not come back"
        time.sleep(0.2)
    assert host.check_output("docker inspect -f '{{.RestartCount}} {{.HostConfig.RestartPolicy.Name}}' idle") \
        .endswith("unless-stopped")
    host.check_output("docker rm -f idle")


def test_partition_cuts_the_board_off_and_back(sim_env, fleet):
    board = board_of(fleet, "orin-nx-16gb-r35.4.1")
    sim(sim_env, fleet, "partition", board.name, "on")
    try:
        # the link is down: the connect times out, or ARP gives up first (EHOSTUNREACH)
        with pytest.raises((TimeoutError, NoValidConnectionsError)):
            board_host(fleet, board).check_output("true")
        status = {r["name"]: r for r in json.loads(sim(sim_env, fleet, "status").stdout)}
        assert status[board.name]["state"] == "partitioned" and not status[board.name]["ssh"]
    finally:
        sim(sim_env, fleet, "partition", board.name, "off")
    assert board_host(fleet, board).check_output("hostname") == board.name


def test_full_disk_is_a_real_enospc(sim_env, fleet):
    board = board_of(fleet, "agx-orin-64gb-r36.4.4")
    host = board_host(fleet, board)
    sim(sim_env, fleet, "fill-disk", board.name)
    try:
        write = host.run("head -c 1048576 /dev/zero > /root/one-more-megabyte")
        assert write.rc != 0 and "No space left on device" in write.stderr
        assert host.check_output("df --output=avail -B1 / | tail -1").strip() == "0"
    finally:
        sim(sim_env, fleet, "fill-disk", board.name, "--release")
    assert host.run("head -c 1048576 /dev/zero > /root/one-more-megabyte").rc == 0


def test_pyinfra_exec_reaches_every_board(sim_env, fleet):
    env = dict(sim_env, JETSON_SIM_FLEET=fleet.name)
    proc = subprocess.run([str(Path(sys.executable).with_name("pyinfra")), "inventories/sim.py", "-y",
                           "exec", "--", "cat /etc/hostname"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    for name in fleet.boards:
        assert f"[{name}] {name}" in out


def test_teardown_leaves_nothing_behind(sim_env):
    """20 light boards (no dockerd) come up, answer SSH, and leave no trace when torn down."""
    from jetson_sim.fleet import Fleet, cgroup_root

    f = Fleet.load(fleet_name("z"))
    boards = f.up(20, ["orin-nano-8gb-r36.2.0"], docker=False)
    launchers = [f._launcher_pid(b) for b in boards]
    for board in boards[:: 5]:
        assert board_host(f, board).check_output("hostname") == board.name
    state_dir, bridge = f.dir, f.bridge
    from jetson_sim.upstream.services import Upstream
    services = [Upstream(f)._pid(name) for name in Upstream.SERVICES]
    assert all(services)  # the fleet's simulated internet was up
    f.down()

    assert not any(ns.startswith(bridge) for ns in os.listdir("/run/netns"))
    assert bridge not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert str(state_dir) not in Path("/proc/self/mountinfo").read_text()
    assert not (cgroup_root() / "jetson-sim" / bridge).exists()
    assert not state_dir.exists()
    for pid in launchers + services:  # gone, or a zombie waiting for the host's init to reap it
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")
    assert subprocess.run(["ip", "route", "show", f.subnet], capture_output=True, text=True).stdout == ""
