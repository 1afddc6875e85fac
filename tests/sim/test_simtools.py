"""The simulated hardware tools, run as a user on the board would run them.

No root needed: each test seeds a board into a tmp dir and points JETSON_SIM_ROOT at it; a tmp bin
dir holds symlinks named like each tool to jetson_sim/board/simtools.py.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jetson_sim.profiles import list_profiles, load_profile
from jetson_sim.seed import SIMTOOLS_SRC, _simtools, seed_board

TOOLS = ("nvidia-smi", "tegrastats", "nvpmodel", "nvcc", "uname", "arch", "jetson-sim-meminfo")
JETSONS = [name for name in list_profiles() if "jetson" in load_profile(name)]
LOWER_STATUS = "Package: less\nStatus: install ok installed\nVersion: 590-2.1\n\n"
# the line format of docs/facts.md section 2
TEGRASTATS = re.compile(
    r"^\d\d-\d\d-\d{4} \d\d:\d\d:\d\d RAM (\d+)/(\d+)MB \(lfb \d+x4MB\) SWAP (\d+)/(\d+)MB \(cached \d+MB\) "
    r"CPU \[(\d+%@\d+,)*\d+%@\d+\] GR3D_FREQ (\d+)% cpu@[\d.]+C soc2@[\d.]+C gpu@[\d.]+C tj@[\d.]+C"
    r"( \w+ \d+mW/\d+mW)+$")


def make_lower(path):
    """A tiny merged-/usr Debian lower: /bin and /lib are symlinks, as in bookworm."""
    (path / "usr/bin").mkdir(parents=True)
    (path / "usr/lib").mkdir()
    (path / "bin").symlink_to("usr/bin")
    (path / "lib").symlink_to("usr/lib")
    (path / "var/lib/dpkg").mkdir(parents=True)
    (path / "var/lib/dpkg/status").write_text(LOWER_STATUS)
    return path


class Board:
    def __init__(self, tmp, name, profile=None):
        self.profile = profile or load_profile(name)
        self.lower, self.root, self.bin = make_lower(tmp / "lower"), tmp / "upper", tmp / "bin"
        seed_board(self.profile, self.root, self.lower)
        # stands in for the board's bind mount of the simulated meminfo over /proc/meminfo
        (self.root / "proc").mkdir()
        (self.root / "proc/meminfo").symlink_to(self.root / "var/lib/jetson-sim/meminfo")
        self.bin.mkdir()
        for tool in TOOLS:
            (self.bin / tool).symlink_to(SIMTOOLS_SRC)

    def run(self, tool, *args, check=True, **env):
        result = subprocess.run(
            [sys.executable, "-I", "-S", str(self.bin / tool), *args], capture_output=True, text=True, timeout=10,
            env={**os.environ, "JETSON_SIM_ROOT": str(self.root), "JETSON_SIM_TEGRASTATS_COUNT": "1", **env},
        )
        assert not check or result.returncode == 0, result.stderr
        return result

    def ram_used_mb(self):
        match = TEGRASTATS.match(self.run("tegrastats", "--interval", "10").stdout.strip())
        assert match
        return int(match.group(1))


@pytest.fixture
def board(tmp_path):
    return lambda name, profile=None: Board(tmp_path, name, profile)


@pytest.mark.parametrize("name", JETSONS)
def test_tegra_release_and_dpkg_name_the_l4t(board, name):
    b = board(name)
    first = (b.root / "etc/nv_tegra_release").read_text().splitlines()[0]
    # how jetson-containers' l4t_version.py reads it (docs/facts.md section 1)
    match = re.match(r"# R(\d+) \(release\), REVISION: ([\d.]+), GCID: \d+, BOARD: (\w+), EABI: aarch64, DATE: ", first)
    assert match and f"{match[1]}.{match[2]}" == name.rsplit("-r", 1)[1].split("-")[0]
    assert match[3] == b.profile["jetson"]["l4t"]["board"]
    status = (b.root / "var/lib/dpkg/status").read_text()
    assert status.startswith(LOWER_STATUS)  # the lower's packages are kept
    if shutil.which("dpkg-query"):
        version = subprocess.run(
            ["dpkg-query", f"--admindir={b.root}/var/lib/dpkg", "--showformat=${Version}", "--show", "nvidia-l4t-core"],
            capture_output=True, text=True, check=True).stdout
    else:
        version = re.search(r"Package: nvidia-l4t-core\n(?:.+\n)*?Version: (\S+)", status)[1]
    assert version == b.profile["jetson"]["l4t_core_version"]
    dt = b.root / "var/lib/jetson-sim/devicetree/base"
    assert (dt / "model").read_bytes() == b.profile["jetson"]["model"].encode() + b"\0"
    soc = b.profile["jetson"]["compatible"][-1]  # the SoC last: nvidia,tegra194 / tegra234 / tegra264
    assert re.fullmatch(r"nvidia,tegra(194|234|264)", soc)
    assert (dt / "compatible").read_bytes().endswith(b"\0" + soc.encode() + b"\0")


@pytest.mark.parametrize("name", JETSONS)
def test_nvidia_smi_on_jetpack6_only(board, name):
    b = board(name)
    smi = b.profile["jetson"]["nvidia_smi"]
    if smi is None:  # JetPack 5: command not found (docs/facts.md section 2)
        assert not os.path.lexists(b.root / "usr/bin/nvidia-smi")
        return
    assert os.readlink(b.root / "usr/bin/nvidia-smi") == "/usr/lib/jetson-sim/simtools.py"
    table = b.run("nvidia-smi").stdout
    gpu = smi.get("gpu_name", "Orin (nvgpu)")
    assert gpu in table and "No running processes found" in table
    # jetson-containers tells Tegra from SBSA by this name (dusty-nv/jetson-containers l4t_version.py @16f7cf41)
    assert b.run("nvidia-smi", "--query-gpu=name", "--format=csv,noheader").stdout == gpu + "\n"
    if "nvgpu" in gpu:  # an Orin's nvidia-smi: memory "Not Supported", only the name is known
        assert "Not Supported" in table
        assert re.search(rf"Driver Version: N/A +CUDA Version: {re.escape(smi['cuda'])} ", table)
        query = "--query-gpu=name,driver_version,memory.used,memory.total"
        assert b.run("nvidia-smi", query, "--format=csv,noheader,nounits").stdout == f"{gpu}, [N/A], [N/A], [N/A]\n"


def test_nvidia_smi_csv_header_and_gpu_list(board):
    b = board("orin-nano-super-r36.4.3")
    query = "--query-gpu=name,driver_version,memory.used,memory.total"
    assert b.run("nvidia-smi", query, "--format=csv").stdout == \
        "name, driver_version, memory.used [MiB], memory.total [MiB]\nOrin (nvgpu), [N/A], [N/A], [N/A]\n"
    assert re.fullmatch(r"GPU 0: Orin \(nvgpu\) \(UUID: GPU-[0-9a-f-]{36}\)\n", b.run("nvidia-smi", "-L").stdout)


@pytest.mark.parametrize("name", JETSONS)
def test_nvcc_version_and_cuda_home(board, name):
    b = board(name)
    cuda = b.profile["jetson"]["cuda"]
    if cuda is None:  # JetPack flashed without nvidia-jetpack: no toolkit at all
        assert not os.path.lexists(b.root / "usr/local/cuda/version.json")
        assert not os.path.lexists(b.root / "usr/local/cuda/bin/nvcc")
        return
    lines = b.run("nvcc", "--version").stdout.splitlines()
    assert lines[0] == "nvcc: NVIDIA (R) Cuda compiler driver" and len(lines) == 5
    assert lines[3] == f"Cuda compilation tools, release {cuda['release']}, V{cuda['version']}"
    assert os.readlink(b.root / "usr/local/cuda") == f"cuda-{cuda['release']}"
    version = json.loads((b.root / "usr/local/cuda/version.json").read_text())
    assert version["cuda_nvcc"]["version"] == cuda["version"]
    assert os.path.islink(b.root / "usr/local/cuda/bin/nvcc")


@pytest.mark.parametrize("name", list_profiles())
def test_uname_reports_the_profile(board, name):
    b = board(name)
    # coreutils order whatever the flag order: release before machine
    assert b.run("uname", "-mr").stdout == f"{b.profile['kernel_release']} {b.profile['arch']}\n"


def test_uname_flags_like_coreutils(board):
    b = board("orin-nano-8gb-r36.2.0")
    assert b.run("uname").stdout == "Linux\n"
    assert b.run("arch").stdout == "aarch64\n"
    assert b.run("uname", "-sm").stdout == b.run("uname", "-m", "--kernel-name").stdout == "Linux aarch64\n"
    everything = b.run("uname", "--all").stdout
    assert everything.startswith(f"Linux {os.uname().nodename} 5.15.122-tegra ")
    assert everything.endswith(" aarch64 aarch64 aarch64 GNU/Linux\n")
    bad = b.run("uname", "-x", check=False)
    assert bad.returncode == 1 and "invalid option -- 'x'" in bad.stderr


def test_meminfo_and_tegrastats_follow_allocations(board):
    b = board("orin-nano-8gb-r36.2.0")
    meminfo = (b.root / "proc/meminfo").read_text()
    assert re.search(r"^MemTotal: +7802880 kB$", meminfo, re.M)  # 7620 MB * 1024
    assert b.ram_used_mb() == 1331  # the log's idle baseline
    inode = (b.root / "var/lib/jetson-sim/meminfo").stat().st_ino
    b.run("jetson-sim-meminfo", "alloc", "model", "2000000000")
    assert abs(b.ram_used_mb() - (1331 + 2_000_000_000 // 2**20)) <= 2
    # rewritten in place: the board bind-mounts this very inode over /proc/meminfo
    assert (b.root / "var/lib/jetson-sim/meminfo").stat().st_ino == inode
    b.run("jetson-sim-meminfo", "free", "model")
    assert b.ram_used_mb() == 1331


def test_tegrastats_format_and_gpu_load(board):
    b = board("agx-orin-64gb-r36.4.4")
    idle = b.run("tegrastats").stdout
    (b.root / "run/jetson-sim").mkdir(parents=True)
    (b.root / "run/jetson-sim/gr3d").write_text("80\n")
    busy = b.run("tegrastats", "--interval", "10", JETSON_SIM_TEGRASTATS_COUNT="2").stdout.splitlines()
    assert len(busy) == 2
    for line in [idle.strip(), *busy]:
        assert TEGRASTATS.match(line), line
    assert " RAM 2150/62841MB " in idle and " SWAP 0/31420MB " in idle
    assert "GR3D_FREQ 80%" in busy[0]
    rails = lambda line: {r: int(mw) for r, mw in re.findall(r"(\w+) (\d+)mW/", line)}  # noqa: E731
    assert list(rails(idle)) == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"]
    assert rails(busy[0])["VDD_GPU_SOC"] > rails(idle)["VDD_GPU_SOC"] + 3000
    log = b.root / "tegrastats.log"
    b.run("tegrastats", "--logfile", str(log))
    assert TEGRASTATS.match(log.read_text().strip())


def test_memory_overflow_spills_into_swap():
    profile = load_profile("orin-nano-8gb-r36.2.0")
    text = _simtools().render_meminfo(profile, 10 * 2**30)
    values = {k: int(v) for k, v in re.findall(r"^(\w+): +(\d+)", text, re.M)}
    assert values["MemTotal"] == 7620 * 1024
    assert values["MemAvailable"] < 16 * 1024
    assert values["SwapFree"] < values["SwapTotal"] == 3810 * 1024


def test_nvpmodel_round_trip_on_orin_nano_super(board):
    b = board("orin-nano-super-r36.4.3")
    assert b.run("nvpmodel", "-q").stdout == "NV Power Mode: MAXN_SUPER\n2\n"  # docs/facts.md section 3
    b.run("nvpmodel", "-m", "0")
    assert b.run("nvpmodel", "-q").stdout == "NV Power Mode: 15W\n0\n"
    assert (b.root / "var/lib/nvpmodel/status").read_text() == "pmode:0000\n"
    bad = b.run("nvpmodel", "-m", "9", check=False)
    assert bad.returncode == 1 and "2=MAXN_SUPER" in bad.stderr
    assert "ID=3 NAME=7W" in b.run("nvpmodel", "-p", "--verbose").stdout
    # the board's choice survives re-seeding, as a power mode survives a reboot
    seed_board(b.profile, b.root, b.lower)
    assert b.run("nvpmodel", "-q").stdout.endswith("\n0\n")


def test_docker_runtime_config(board, tmp_path):
    nano = board("orin-nano-8gb-r36.2.0")
    daemon = json.loads((nano.root / "etc/docker/daemon.json").read_text())
    assert daemon == {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}}
    assert os.readlink(nano.root / "etc/systemd/system/multi-user.target.wants/docker.service") == \
        "/lib/systemd/system/docker.service"
    nx = Board(tmp_path / "nx", "orin-nx-16gb-r35.4.1")
    assert json.loads((nx.root / "etc/docker/daemon.json").read_text())["default-runtime"] == "nvidia"
    x86 = Board(tmp_path / "x86", "x86-server")
    assert not (x86.root / "etc/docker/daemon.json").exists()
    assert not (x86.root / "etc/nv_tegra_release").exists()


def snapshot(root):
    tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            content = (os.readlink(path) if stat.S_ISLNK(st.st_mode) else
                       Path(path).read_bytes() if stat.S_ISREG(st.st_mode) else st.st_rdev)
            tree[os.path.relpath(path, root)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), content)
    return tree


@pytest.mark.parametrize("name", list_profiles())
def test_seeding_twice_is_idempotent(tmp_path, name):
    lower, upper = make_lower(tmp_path / "lower"), tmp_path / "upper"
    seed_board(load_profile(name), upper, lower)
    first = snapshot(upper)
    seed_board(load_profile(name), upper, lower)
    assert snapshot(upper) == first
    # merged-/usr: writing under /bin or /lib must not shadow the lower's symlinks
    assert not os.path.lexists(upper / "bin") and not os.path.lexists(upper / "lib")


def test_docker_hidden_by_whiteouts_when_not_installed(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("overlayfs whiteouts are character devices: mknod needs root")
    lower, upper = make_lower(tmp_path / "lower"), tmp_path / "upper"
    (lower / "usr/bin/docker").write_text("")
    (lower / "usr/lib/systemd/system").mkdir(parents=True)
    (lower / "usr/lib/systemd/system/docker.service").write_text("")
    profile = load_profile("x86-server")
    profile["docker"]["installed"] = False
    seed_board(profile, upper, lower)
    first = snapshot(upper)
    seed_board(profile, upper, lower)
    assert snapshot(upper) == first
    for path in ("usr/bin/docker", "usr/lib/systemd/system/docker.service"):
        st = os.lstat(upper / path)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert not os.path.lexists(upper / "usr/sbin/dockerd")  # absent from the lower: nothing to hide
    assert not os.path.lexists(upper / "lib")
