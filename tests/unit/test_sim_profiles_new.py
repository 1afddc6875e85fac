"""The newer simulated boards: an Orin Nano without the host CUDA toolkit, a Thor-like AGX Thor on
JetPack 7, an AGX Xavier on JetPack 5.1.4, and the profile keys they brought (cuda: null,
cuda_runtime, nvidia_smi.gpu_name / driver_version, power_models[].cores_online).

No root needed: each test seeds a board into a tmp dir with seed.py's seed_board and runs
jetson_sim/board/simtools.py under JETSON_SIM_ROOT, as tests/unit/test_tuning_sim.py does.
"""

import copy
import json
import os
import re
import subprocess
import sys

import pytest

from jetson_sim.profiles import list_profiles, load_profile, validate
from jetson_sim.seed import SIMTOOLS_SRC, _nvpmodel_conf, seed_board

NOCUDA = "orin-nano-8gb-r36.3.0-nocuda"
THOR = "agx-thor-128gb-r38.2.0"
XAVIER = "agx-xavier-32gb-r35.6.0"
ORIN = "orin-nano-super-r36.4.3"
NEW = [NOCUDA, THOR, XAVIER]
TOOLS = ("nvidia-smi", "nvcc", "tegrastats", "nvpmodel", "lsb_release", "uname", "jetson-sim-meminfo")


class Board:
    def __init__(self, tmp, name, profile=None):
        self.profile = profile or load_profile(name)
        lower, self.root, self.bin = tmp / "lower", tmp / "upper", tmp / "bin"
        (lower / "usr/bin").mkdir(parents=True)
        (lower / "usr/lib").mkdir()
        (lower / "bin").symlink_to("usr/bin")
        (lower / "lib").symlink_to("usr/lib")
        seed_board(self.profile, self.root, lower)
        (self.root / "proc").mkdir()
        (self.root / "proc/meminfo").symlink_to(self.root / "var/lib/jetson-sim/meminfo")
        self.bin.mkdir()
        for tool in TOOLS:
            (self.bin / tool).symlink_to(SIMTOOLS_SRC)

    def run(self, tool, *args, check=True):
        result = subprocess.run([sys.executable, "-I", "-S", str(self.bin / tool), *args], capture_output=True,
                                text=True, timeout=10, env={**os.environ, "JETSON_SIM_ROOT": str(self.root),
                                                            "JETSON_SIM_TEGRASTATS_COUNT": "1"})
        assert not check or result.returncode == 0, result.stderr
        return result

    def path(self, board_path):
        return self.root / board_path.lstrip("/")


@pytest.fixture
def board(tmp_path):
    return lambda name, profile=None: Board(tmp_path / name, name, profile)


def test_the_new_profiles_are_shipped_and_validate():
    assert set(NEW) <= set(list_profiles())
    for name in NEW:
        profile = load_profile(name)
        validate(profile)
        assert profile["name"] == name and profile["arch"] == "aarch64"
        l4t = profile["jetson"]["l4t"]
        assert f"-r{l4t['major']}.{l4t['revision']}" in name
        assert profile["jetson"]["l4t_core_version"].startswith(f"{l4t['major']}.{l4t['revision']}-")


def test_what_each_new_profile_says():
    nocuda, thor, xavier = (load_profile(name)["jetson"] for name in NEW)
    assert (nocuda["cuda"], nocuda["jetpack"], nocuda["ubuntu"]) == (None, "6.0", "22.04")
    assert nocuda["l4t"]["revision"] == "3.0"
    assert nocuda["nvidia_smi"]["gpu_name"] == "Orin (nvgpu)"  # the driver side stays
    assert (thor["l4t"]["major"], thor["jetpack"], thor["ubuntu"]) == (38, "7.0", "24.04")
    assert thor["cuda"]["release"] == "13.0"
    assert thor["compatible"][-1] == "nvidia,tegra264" and thor["model"] == "NVIDIA Jetson AGX Thor Developer Kit"
    assert load_profile(THOR)["kernel_release"].endswith("-tegra")
    assert thor["nvidia_smi"]["gpu_name"] == "NVIDIA Thor" and "nvgpu" not in thor["nvidia_smi"]["gpu_name"]
    assert load_profile(THOR)["memory"]["mem_total_mb"] > 120 * 1000
    assert (xavier["l4t"]["major"], xavier["l4t"]["board"]) == (35, "t186ref")
    assert (xavier["jetpack"], xavier["ubuntu"]) == ("5.1.4", "20.04")
    assert xavier["compatible"][-1] == "nvidia,tegra194" and xavier["cuda"]["release"] == "11.4"
    assert xavier["nvidia_smi"] is None
    assert xavier["tegrastats_rails"] == ["GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"]
    modes = {mode["id"]: mode["name"] for mode in xavier["power_models"]}
    assert modes[0] == "MAXN" and modes[3] == "MODE_30W_ALL" and {"MODE_10W", "MODE_15W"} <= set(modes.values())
    assert 30 * 1000 < load_profile(XAVIER)["memory"]["mem_total_mb"] < 32 * 1024


@pytest.mark.parametrize("mutate, message", [
    (lambda j: j.update(cuda={"version": "12.2.140"}), "jetson.cuda.release: missing"),
    (lambda j: j.update(cuda_runtime="12.2.140"), "jetson.cuda_runtime: only for a board without the toolkit"),
    (lambda j: j.update(cuda=None, cuda_runtime="12.2"), "jetson.cuda_runtime: expected X.Y.Z"),
    (lambda j: j["nvidia_smi"].update(gpu_name=7), "jetson.nvidia_smi.gpu_name: expected str"),
    (lambda j: j["nvidia_smi"].update(colour="green"), "jetson.nvidia_smi.colour: unknown key"),
    (lambda j: j["power_models"][0].update(cores_online=99), "jetson.power_models[].cores_online: 99 is not in 1..6"),
])
def test_validate_names_the_new_keys(mutate, message):
    profile = copy.deepcopy(load_profile(ORIN))
    mutate(profile["jetson"])
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        validate(profile)


def test_no_cuda_board_has_no_toolkit_and_nvcc_is_not_found(board):
    b = board(NOCUDA)
    assert not os.path.lexists(b.path("/usr/local/cuda"))
    local = b.path("/usr/local")
    assert not [p.name for p in (local.iterdir() if local.exists() else ()) if p.name.startswith("cuda")]
    nvcc = b.run("nvcc", "--version", check=False)
    assert nvcc.returncode == 127 and nvcc.stdout == "" and "command not found" in nvcc.stderr
    # the L4T and driver side stays: release line, l4t-core, nvidia-smi
    assert b.path("/etc/nv_tegra_release").read_text().startswith("# R36 (release), REVISION: 3.0, GCID: ")
    assert os.readlink(b.path("/usr/bin/nvidia-smi")) == "/usr/lib/jetson-sim/simtools.py"
    assert b.run("nvidia-smi", "--query-gpu=name", "--format=csv,noheader").stdout == "Orin (nvgpu)\n"


def test_a_board_with_only_the_cuda_runtime(board):
    profile = copy.deepcopy(load_profile(NOCUDA))
    profile["jetson"]["cuda_runtime"] = "12.2.140"
    validate(profile)
    b = board(NOCUDA, profile)
    lib = b.path("/usr/local/cuda-12.2/targets/aarch64-linux/lib")
    assert os.readlink(b.path("/usr/local/cuda")) == "cuda-12.2"
    assert (lib / "libcudart.so.12.2.140").is_file()
    assert os.readlink(lib / "libcudart.so.12") == "libcudart.so.12.2.140"
    assert os.readlink(lib / "libcudart.so") == "libcudart.so.12"
    assert not os.path.lexists(b.path("/usr/local/cuda/version.json"))
    assert not os.path.lexists(b.path("/usr/local/cuda/bin/nvcc"))
    assert b.run("nvcc", "--version", check=False).returncode == 127


def test_a_full_toolkit_also_has_the_runtime_library(board):
    b = board(THOR)
    cuda = b.profile["jetson"]["cuda"]
    assert os.readlink(b.path("/usr/local/cuda")) == "cuda-13.0"
    assert json.loads(b.path("/usr/local/cuda/version.json").read_text())["cuda_nvcc"]["version"] == cuda["version"]
    assert b.path(f"/usr/local/cuda-13.0/targets/aarch64-linux/lib/libcudart.so.{cuda['version']}").is_file()
    assert b.run("nvcc", "--version").stdout.splitlines()[3] == "Cuda compilation tools, release 13.0, V13.0.48"


def test_thor_nvidia_smi_names_the_gpu_nvidia_thor(board):
    b = board(THOR)
    assert b.run("nvidia-smi", "--query-gpu=name", "--format=csv,noheader").stdout == "NVIDIA Thor\n"
    assert b.run("nvidia-smi", "--query-gpu=name,driver_version,memory.used", "--format=csv,noheader").stdout == \
        "NVIDIA Thor, 580.00, [N/A]\n"
    table = b.run("nvidia-smi").stdout
    assert "NVIDIA Thor" in table and "nvgpu" not in table
    assert re.search(r"Driver Version: 580\.00 +CUDA Version: 13\.0 ", table)
    assert re.match(r"GPU 0: NVIDIA Thor \(UUID: GPU-", b.run("nvidia-smi", "-L").stdout)


def test_orin_nvidia_smi_keeps_the_nvgpu_name(board):
    b = board(ORIN)
    assert b.run("nvidia-smi", "--query-gpu=name", "--format=csv,noheader").stdout == "Orin (nvgpu)\n"
    assert "Driver Version: N/A " in b.run("nvidia-smi").stdout
    # a profile without gpu_name gets the JetPack 6 Orin's name
    profile = copy.deepcopy(load_profile(ORIN))
    del profile["jetson"]["nvidia_smi"]["gpu_name"]
    bare = board("orin-bare", profile)
    assert bare.run("nvidia-smi", "--query-gpu=gpu_name", "--format=csv").stdout == "name\nOrin (nvgpu)\n"


def test_xavier_has_no_nvidia_smi_and_its_own_rails_and_modes(board):
    b = board(XAVIER)
    assert not os.path.lexists(b.path("/usr/bin/nvidia-smi"))
    smi = b.run("nvidia-smi", check=False)  # what the stand-in answers if called anyway
    assert smi.returncode == 127 and "command not found" in smi.stderr
    first = b.path("/etc/nv_tegra_release").read_text().splitlines()[0]
    assert re.match(r"# R35 \(release\), REVISION: 6\.0, GCID: \d+, BOARD: t186ref, EABI: aarch64, DATE: ", first)
    assert b.path("/var/lib/jetson-sim/devicetree/base/compatible").read_bytes().endswith(b"\0nvidia,tegra194\0")
    assert b.path("/var/lib/jetson-sim/devicetree/base/model").read_bytes() == b"Jetson-AGX\0"
    line = b.run("tegrastats").stdout
    assert re.findall(r" (\w+) \d+mW/\d+mW", line) == ["GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"]
    assert b.run("nvpmodel", "-q").stdout == "NV Power Mode: MODE_15W_DESKTOP\n7\n"
    conf = _nvpmodel_conf(b.profile["jetson"])
    block = conf.split("< POWER_MODEL ID=1 NAME=MODE_10W >")[1].split("< POWER_MODEL")[0]
    assert block.count("CPU_ONLINE CORE_") == 8 and block.count(" 1\n") == 2  # cores_online: 2 of 8
    assert b.run("uname", "-r").stdout == "5.10.216-tegra\n"


@pytest.mark.parametrize("name, release, codename", [(NOCUDA, "22.04", "jammy"), (THOR, "24.04", "noble"),
                                                     (XAVIER, "20.04", "focal")])
def test_lsb_release_answers_the_profiles_ubuntu(board, name, release, codename):
    b = board(name)
    assert b.run("lsb_release", "-rs").stdout == f"{release}\n"
    assert b.run("lsb_release", "-c", "-s").stdout == f"{codename}\n"
    everything = b.run("lsb_release", "-a")
    assert everything.stdout == (f"Distributor ID:\tUbuntu\nDescription:\tUbuntu {release} LTS\n"
                                 f"Release:\t{release}\nCodename:\t{codename}\n")
    assert everything.stderr == "No LSB modules are available.\n"
    assert b.run("lsb_release", "-x", check=False).returncode == 2


def test_thor_uname_and_devicetree(board):
    b = board(THOR)
    assert b.run("uname", "-mr").stdout == "6.8.12-tegra aarch64\n"
    dt = b.path("/var/lib/jetson-sim/devicetree/base")
    assert (dt / "model").read_bytes() == b"NVIDIA Jetson AGX Thor Developer Kit\0"
    assert (dt / "compatible").read_bytes().split(b"\0")[:-1][-1] == b"nvidia,tegra264"
    first = b.path("/etc/nv_tegra_release").read_text().splitlines()[0]
    assert first == ("# R38 (release), REVISION: 2.0, GCID: 41844464, BOARD: generic, EABI: aarch64, "
                     "DATE: Fri Aug 22 00:55:42 UTC 2025")
    assert b.run("nvpmodel", "-q").stdout == "NV Power Mode: 120W\n1\n"
    rails = re.findall(r" (\w+) \d+mW/\d+mW", b.run("tegrastats").stdout)
    assert rails == ["VDD_GPU", "VDD_CPU_SOC_MSS", "VIN_SYS_5V0"]


@pytest.mark.parametrize("name", NEW)
def test_seeding_a_new_profile_twice_changes_nothing(tmp_path, name):
    def snapshot(root):
        return {str(p.relative_to(root)): os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else None
                for p in sorted(root.rglob("*"))}
    lower = tmp_path / "lower"
    (lower / "usr/bin").mkdir(parents=True)
    (lower / "bin").symlink_to("usr/bin")
    seed_board(load_profile(name), tmp_path / "upper", lower)
    first = snapshot(tmp_path / "upper")
    seed_board(load_profile(name), tmp_path / "upper", lower)
    assert snapshot(tmp_path / "upper") == first
