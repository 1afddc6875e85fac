"""The simulated boards' side of board tuning, run as a user on the board would run the tools.

No root needed: each test seeds a board into a tmp dir and points JETSON_SIM_ROOT at it, as
tests/sim/test_simtools.py does; init.sh's per-boot files (swap table, boot target, uptime) are
written here the way init.sh writes them. The library's own facts parse what the tools print.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from jetson_ollama.facts.tuning import CurrentPowerMode, Swaps
from jetson_sim.profiles import load_profile
from jetson_sim.seed import SIMTOOLS_SRC, seed_board

SUPER = "orin-nano-super-r36.4.3"
HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"  # as init.sh writes it


class Board:
    def __init__(self, tmp, name):
        self.profile = load_profile(name)
        lower, self.root, self.bin = tmp / "lower", tmp / "upper", tmp / "bin"
        (lower / "usr/bin").mkdir(parents=True)
        (lower / "usr/lib").mkdir()
        (lower / "bin").symlink_to("usr/bin")
        (lower / "lib").symlink_to("usr/lib")
        seed_board(self.profile, self.root, lower)
        (self.root / "proc").mkdir()
        (self.root / "proc/meminfo").symlink_to(self.root / "var/lib/jetson-sim/meminfo")
        (self.root / "run/jetson-sim").mkdir(parents=True)
        self.bin.mkdir()
        for tool in ("nvpmodel", "jetson_clocks", "nvzramconfig.sh", "swapon", "swapoff", "jetson-sim-meminfo"):
            (self.bin / tool).symlink_to(SIMTOOLS_SRC)

    def boot(self, target="graphical.target"):
        """What init.sh writes at each boot on a Jetson board."""
        (self.root / "run/jetson-sim/swaps").write_text(HEADER)
        (self.root / "run/jetson-sim/boot-target").write_text(target + "\n")
        (self.root / "proc/swaps").unlink(missing_ok=True)
        (self.root / "proc/swaps").symlink_to(self.root / "run/jetson-sim/swaps")

    def run(self, tool, *args, check=True, stdin=""):
        result = subprocess.run([sys.executable, "-I", "-S", str(self.bin / tool), *args], input=stdin,
                                capture_output=True, text=True, timeout=10,
                                env={**os.environ, "JETSON_SIM_ROOT": str(self.root)})
        assert not check or result.returncode == 0, result.stderr
        return result

    def meminfo(self):
        self.run("jetson-sim-meminfo", "free", "nothing")  # refreshes the file, as the board's watcher does
        text = (self.root / "var/lib/jetson-sim/meminfo").read_text()
        return {key: int(value) for key, value in re.findall(r"^(\w+): +(\d+) kB$", text, re.M)}

    def swaps(self):
        return Swaps().process((self.root / "proc/swaps").read_text().splitlines())


@pytest.fixture
def board(tmp_path):
    return lambda name=SUPER: Board(tmp_path / name, name)


def test_nvpmodel_by_id_the_library_reads_back_and_a_core_change_waits_for_a_reboot(board):
    b = board()
    assert CurrentPowerMode().process((b.root / "var/lib/nvpmodel/status").read_text().splitlines()) == 2
    switched = b.run("nvpmodel", "-m", "0")   # MAXN_SUPER -> 15W: six cores in both, no question
    assert switched.stdout == ""
    assert CurrentPowerMode().process(b.run("nvpmodel", "-q").stdout.splitlines()) == 0
    asked = b.run("nvpmodel", "-m", "3")      # 7W keeps four cores: applies at the next boot
    assert "Reboot required for changing to this power mode: 3" in asked.stdout
    assert "DO YOU WANT TO REBOOT NOW?" in asked.stdout
    assert (b.root / "var/lib/nvpmodel/status").read_text() == "pmode:0003\n"


def test_jetson_clocks_pins_until_restored(board):
    b = board()
    assert "governed by the power mode" in b.run("jetson_clocks", "--show").stdout
    b.run("jetson_clocks")
    shown = b.run("jetson_clocks", "--show").stdout
    assert "NV Power Mode: MAXN_SUPER" in shown and "pinned to the maximum (MAXN_SUPER)" in shown
    b.run("jetson_clocks", "--restore")
    assert "governed by the power mode" in b.run("jetson_clocks", "--show").stdout


def test_zram_from_nvzramconfig_shows_in_proc_swaps_and_meminfo(board):
    b = board()
    b.boot()
    assert b.swaps() == [] and b.meminfo()["SwapTotal"] == 0
    b.run("nvzramconfig.sh", "start")
    zram = b.swaps()
    assert [swap["path"] for swap in zram] == [f"/dev/zram{i}" for i in range(6)]  # one per core (unverified)
    assert {swap["type"] for swap in zram} == {"partition"} and {swap["priority"] for swap in zram} == {5}
    assert sum(swap["size_kb"] for swap in zram) == 3810 * 1024 == b.meminfo()["SwapTotal"]  # docs/facts.md section 3
    for swap in zram:
        b.run("swapoff", swap["path"])
    assert b.swaps() == [] and b.meminfo()["SwapTotal"] == 0
    assert b.run("swapoff", "/dev/zram0", check=False).returncode == 4


@pytest.mark.skipif(not shutil.which("mkswap"), reason="needs util-linux mkswap")
def test_swapon_takes_only_a_swap_area_and_swapon_a_reads_fstab(board):
    b = board()
    b.boot()
    b.run("nvzramconfig.sh", "start")
    swapfile = b.root / "ssd/swapfile"
    swapfile.parent.mkdir()
    swapfile.write_bytes(b"\0" * (8 << 20))
    refused = b.run("swapon", "/ssd/swapfile", check=False)
    assert refused.returncode == 255 and "read swap header failed" in refused.stderr
    subprocess.run(["mkswap", str(swapfile)], check=True, capture_output=True)
    b.run("swapon", "/ssd/swapfile")
    assert b.swaps()[-1] == {"path": "/ssd/swapfile", "type": "file", "size_kb": 8 * 1024 - 4, "used_kb": 0,
                             "priority": -2}
    assert b.meminfo()["SwapTotal"] == 3810 * 1024 + 8 * 1024 - 4
    assert b.run("swapon", "/ssd/swapfile", check=False).returncode == 255  # busy
    b.boot()  # a reboot: nothing is on until nvzramconfig and fstab's lines come back
    (b.root / "etc/fstab").write_text("# <file system> <mount point> <type> <options> <dump> <pass>\n"
                                      "/ssd/swapfile none swap sw 0 0\n")
    b.run("swapon", "-a")
    b.run("swapon", "-a")  # what is on already is left alone
    assert [swap["path"] for swap in b.swaps()] == ["/ssd/swapfile"]


def test_swap_tools_refuse_a_board_without_a_swap_table(board):
    x86 = board("x86-server")  # no swap table: the kernel's swapon must never be reached from a board
    assert os.readlink(x86.root / "usr/sbin/swapon") == os.readlink(x86.root / "usr/sbin/swapoff") == \
        "/usr/lib/jetson-sim/simtools.py"
    refused = x86.run("swapon", "/swapfile", check=False)
    assert refused.returncode == 1 and "no swap table" in refused.stderr


def test_a_headless_boot_frees_the_desktops_800_mb(board):
    b = board()
    b.boot("graphical.target")
    desktop = b.meminfo()
    b.boot("multi-user.target")
    headless = b.meminfo()
    used = lambda m: (m["MemTotal"] - m["MemAvailable"]) // 1024  # noqa: E731
    assert used(desktop) == 1331 and used(headless) == 1331 - 800  # docs/facts.md section 3, section 6


def test_uptime_counts_from_the_boards_own_boot(board):
    b = board()
    (b.root / "run/jetson-sim/booted").write_text(f"{time.time() - 100:.3f}\n")
    (b.root / "run/jetson-sim/uptime").write_text("0.00 0.00\n")
    subprocess.run(
        [sys.executable, "-I", "-S", "-c",
         f"import runpy; runpy.run_path({str(SIMTOOLS_SRC)!r})['refresh_uptime']()"],
        env={**os.environ, "JETSON_SIM_ROOT": str(b.root)}, capture_output=True, text=True, check=True)
    up = float((b.root / "run/jetson-sim/uptime").read_text().split()[0])
    assert 99 <= up <= 110


def test_seed_ships_jetpacks_units_enabled_and_keeps_a_boards_choice(board, tmp_path):
    b = board()
    wants = b.root / "etc/systemd/system/multi-user.target.wants"
    for unit in ("nvzramconfig.service", "nvargus-daemon.service", "jetson-sim-swap.service"):
        assert os.readlink(wants / unit) == f"/etc/systemd/system/{unit}"
    unit = (b.root / "etc/systemd/system/nvzramconfig.service").read_text()
    assert "ExecStart=/etc/systemd/nvzramconfig.sh start" in unit
    (wants / "nvzramconfig.service").unlink()  # systemctl disable on the board
    seed_board(b.profile, b.root, tmp_path / SUPER / "lower")
    assert not os.path.lexists(wants / "nvzramconfig.service")
