"""The simulated jetson-containers repository: its history, and the names its code gives at each commit.

No root, no docker: the generated repository's own code runs at each commit in a subprocess, on a fake
board made of a directory standing in for / (`JETSON_SIM_BOARD_ROOT`, the repository's documented test
hook: /etc/nv_tegra_release and /usr/local/cuda are read under it) and fake `uname`, `lsb_release` and
`nvidia-smi` commands first on PATH. It is imported as the board-side probe imports it: a bare
`jetson_containers` package module, without running its __init__.py, filled with l4t_version's names,
then `scan_packages(<checkout>/packages/llm/ollama)`.

The expected names and versions were checked against dusty-nv/jetson-containers itself at each of
these commits, run on the same fake boards (jetson_containers/l4t_version.py, packages.py and
packages/llm/ollama/config.py of each commit).
"""

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap

import pytest

from jetson_sim.upstream import jetson_containers as jc
from jetson_sim.upstream.jetson_containers import HISTORY, make_repo

KEYS = ("2262004f", "119c26f2", "55b14897", "947e2267", "c6bf3b62", "16f7cf41", "3aef85cf")

# the upstream commits: full sha, committer timestamp (%cI) and subject, as in dusty-nv/jetson-containers
UPSTREAM = {
    "2262004f": ("2262004fd4cf6305bd9cb168c0b27e7f61985e64", "2025-03-12T10:30:37+01:00", "Update config.py"),
    "119c26f2": ("119c26f258dbaefff75eb27a9b2ba6b7fa508120", "2025-05-06T00:35:08-04:00",
                 "shorten L4T tags > r36.4.0"),
    "55b14897": ("55b148975a18ae9230b21c26128619a929c5e490", "2025-05-06T02:18:07-04:00",
                 "enable CUDA and LSB tags by default"),
    "947e2267": ("947e22672940aafd615025e9170a162457eb24c7", "2025-07-13T21:32:04+02:00", "refactor"),
    "c6bf3b62": ("c6bf3b627002c7a4a2954269c8de52c087db3cfe", "2025-09-04T00:21:13+03:00",
                 "FIX LOGIC NCCL and all jetson-containers (#1380)"),
    "16f7cf41": ("16f7cf4145d9f943230b4c92bc2183853a2aeb30", "2025-10-07T22:33:16+02:00", "grand refactor (#1433)"),
    "3aef85cf": ("3aef85cf8b841f6712f263faf89a6bf58b4b21a3", "2025-10-09T13:15:21+02:00",
                 "Update build scripts and README for improved package handling and clarity"),
}

# fake boards: (L4T major, revision), host CUDA (None: no /usr/local/cuda), Ubuntu, kernel, GPU name
# (None: no nvidia-smi, as on JetPack 5)
BOARDS = {
    "36.2.0+cuda12.2": (("36", "2.0"), "12.2.140", "22.04", "5.15.122-tegra", "Orin (nvgpu)"),
    "36.3.0 no cuda": (("36", "3.0"), None, "22.04", "5.15.136-tegra", "Orin (nvgpu)"),
    "36.4.3+cuda12.6": (("36", "4.3"), "12.6.68", "22.04", "5.15.148-tegra", "Orin (nvgpu)"),
    "36.4.7 no cuda": (("36", "4.7"), None, "22.04", "5.15.148-tegra", "Orin (nvgpu)"),
    "35.4.1+cuda11.4": (("35", "4.1"), "11.4.315", "20.04", "5.10.120-tegra", None),
    "thor 38.2": (("38", "2.0"), "13.0.48", "24.04", "6.8.12-tegra", "NVIDIA Thor"),
}

# `jetson-containers build ollama` names, per commit and board
NAMES = {
    "2262004f": ["ollama:r36.2.0", "ollama:r36.3.0", "ollama:r36.4.3", "ollama:r36.4.7", "ollama:r35.4.1",
                 "ollama:r38.2.0"],
    "119c26f2": ["ollama:r36.2.0", "ollama:r36.3.0", "ollama:r36.4", "ollama:r36.4", "ollama:r35.4.1",
                 "ollama:r38.2"],
    "55b14897": ["ollama:r36.2.0-cu122-22.04", "ollama:r36.3.0-cu124-22.04", "ollama:r36.4-cu126-22.04",
                 "ollama:r36.4-cu122-22.04", "ollama:r35.4.1-cu114-20.04", "ollama:r38.2-cu129-24.04"],
    "947e2267": ["ollama:r36.2.0-cu122-22.04", "ollama:r36.3.0-cu124-22.04",
                 "ollama:r36.4.tegra-aarch64-cu126-22.04", "ollama:r36.4.tegra-aarch64-cu122-22.04",
                 "ollama:r35.4.1-cu114-20.04", "ollama:r38.2.tegra-aarch64-cu130-24.04"],
    "c6bf3b62": ["ollama:r36.2.0-cu122-22.04", "ollama:r36.3.0-cu124-22.04",
                 "ollama:r36.4.tegra-aarch64-cu126-22.04", "ollama:r36.4.tegra-aarch64-cu122-22.04",
                 "ollama:r35.4.1-cu114-20.04", "ollama:r38.2.aarch64-cu130-24.04"],
}
NAMES["16f7cf41"] = NAMES["c6bf3b62"]
NAMES["3aef85cf"] = [*NAMES["c6bf3b62"][:5], "ollama:r38.2.arm64-sbsa-cu130-24.04"]

# the ollama versions offered and the default, per commit (packages/llm/ollama/config.py)
VERSIONS = {
    "2262004f": (["main", "0.4.0", "0.5.1", "0.5.5", "0.5.7", "0.6.1"], "0.6.1"),
    "119c26f2": (["main", "0.4.0", "0.5.1", "0.5.5", "0.5.7", "0.6.7"], "main"),
    "55b14897": (["0.4.0", "0.5.1", "0.5.5", "0.5.7", "0.6.7", "0.6.8"], "0.6.8"),
    "947e2267": (["0.4.0", "0.5.1", "0.5.5", "0.5.7", "0.6.7", "0.7.0", "0.8.0", "0.9.6", "0.10.0"], "0.9.6"),
    "c6bf3b62": (["0.4.0", "0.5.1", "0.5.5", "0.11.8"], "0.11.8"),
    "16f7cf41": (["0.4.0", "0.5.1", "0.5.5", "0.11.8"], "0.11.8"),
    "3aef85cf": (["0.4.0", "0.5.1", "0.5.5", "0.11.8"], "0.11.8"),
}

# imports the checkout as the board-side probe does (no __init__.py), prints what it names
LOADER = r'''
import importlib, importlib.machinery, importlib.util, json, os, sys
sys.dont_write_bytecode = True
checkout = sys.argv[1]
jc_dir = os.path.join(checkout, "jetson_containers")
spec = importlib.machinery.ModuleSpec("jetson_containers", None, is_package=True)
spec.submodule_search_locations = [jc_dir]
module = importlib.util.module_from_spec(spec)
module.__path__ = [jc_dir]
sys.modules["jetson_containers"] = module
l4t = importlib.import_module("jetson_containers.l4t_version")
packages = importlib.import_module("jetson_containers.packages")
for name in dir(l4t):
    if not name.startswith("_"):
        setattr(module, name, getattr(l4t, name))
found = packages.scan_packages(os.path.join(checkout, "packages", "llm", "ollama"))
arch = next((str(getattr(l4t, a)) for a in ("CUDA_ARCH", "SYSTEM_ARCH_TYPE", "SYSTEM_ARCH") if hasattr(l4t, a)), None)
default = [p["name"] for p in found.values() if "ollama" in p.get("alias", [])]
container = importlib.import_module("jetson_containers.container")  # (image, stage) per build argument
names = {request: container.container_names(request) for request in ["ollama", *found]}
print(json.dumps({"l4t": str(l4t.L4T_VERSION), "cuda": str(l4t.CUDA_VERSION), "lsb": str(l4t.LSB_RELEASE),
                  "arch": arch, "names": list(found), "postfix": sorted({p["postfix"] for p in found.values()}),
                  "default": default, "found": found, "images": names}))
'''


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    base = tmp_path_factory.mktemp("jc")
    shas = make_repo(base / "jetson-containers.git")
    checkouts = {}
    for key in KEYS:  # each commit's tree, as a checkout of it has it
        archive = subprocess.run(["git", "-C", str(base / "jetson-containers.git"), "archive", shas[key]],
                                 capture_output=True, check=True).stdout
        checkouts[key] = base / key
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(checkouts[key])
    return {"bare": base / "jetson-containers.git", "shas": shas, "checkouts": checkouts}


def fake_board(path, board):
    """A directory standing in for the board's / and a bin directory with its uname, lsb_release and
    (when it has one) nvidia-smi."""
    (major, revision), cuda, ubuntu, kernel, gpu = BOARDS[board]
    root, bin_dir = path / "root", path / "bin"
    (root / "etc").mkdir(parents=True)
    bin_dir.mkdir()
    (root / "etc/nv_tegra_release").write_text(
        f"# R{major} (release), REVISION: {revision}, GCID: 38968081, BOARD: generic, EABI: aarch64, "
        "DATE: Wed Jan  8 01:49:37 UTC 2025\n# KERNEL_VARIANT: oot\n")
    if cuda:
        lib = root / "usr/local/cuda/targets/aarch64-linux/lib"
        lib.mkdir(parents=True)
        (lib / f"libcudart.so.{cuda}").write_text("")
        (root / "usr/local/cuda/version.json").write_text(json.dumps({"cuda_nvcc": {"version": cuda}}))
    codename = {"20.04": "focal", "22.04": "jammy", "24.04": "noble"}[ubuntu]
    tools = {
        "uname": f"""case "$1" in -m) echo aarch64;; -r) echo {kernel};;
                     -a) echo "Linux board {kernel} #1 SMP PREEMPT aarch64 aarch64 aarch64 GNU/Linux";;
                     *) echo Linux;; esac""",
        "lsb_release": f'case "$1" in -rs) echo {ubuntu};; -cs) echo {codename};; *) exit 2;; esac',
    }
    if gpu:
        tools["nvidia-smi"] = f'[ "$1" = --query-gpu=name ] && echo "{gpu}"'
    for name, body in tools.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + textwrap.dedent(body) + "\n")
        (bin_dir / name).chmod(0o755)
    return root, bin_dir


def board_env(root, bin_dir, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("L4T_VERSION", "CUDA_VERSION", "LSB_RELEASE", "CUDA_ARCH", "SYSTEM_ARCH", "PYTHON_VERSION",
                        "JETPACK_VERSION")}
    env.update(PATH=f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", JETSON_SIM_BOARD_ROOT=str(root), **extra)
    return env


def names_at(repo, key, board, tmp_path, **env):
    root, bin_dir = fake_board(tmp_path / key, board)
    out = subprocess.run([sys.executable, "-B", "-c", LOADER, str(repo["checkouts"][key])],
                         env=board_env(root, bin_dir, **env), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    result["printed"] = out.stdout
    return result


def test_history_stands_for_the_upstream_commits(repo):
    shas = repo["shas"]
    assert set(shas) == {*KEYS, "pin", "head"}
    assert shas["pin"] == shas["16f7cf41"] and shas["head"] == shas["3aef85cf"]
    log = subprocess.run(["git", "-C", str(repo["bare"]), "log", "--reverse", "--format=%H%x09%cI%x09%B%x00", "main"],
                         capture_output=True, text=True, check=True).stdout
    commits = [entry.strip("\n").split("\t", 2) for entry in log.split("\0") if entry.strip()]
    assert [sha for sha, _, _ in commits] == [shas[key] for key in KEYS]
    for (_, committed, message), key in zip(commits, KEYS, strict=True):
        upstream_sha, upstream_date, subject = UPSTREAM[key]
        assert committed == upstream_date
        assert f"dusty-nv/jetson-containers@{key}" in message.splitlines()[0]
        assert upstream_sha in message and subject in message
    assert [c.key for c in HISTORY] == list(KEYS)


def test_make_repo_is_deterministic_and_idempotent(repo, tmp_path):
    assert make_repo(repo["bare"]) == repo["shas"]
    assert make_repo(tmp_path / "other.git") == repo["shas"]
    refs = subprocess.run(["git", "-C", str(repo["bare"]), "for-each-ref", "--format=%(refname)"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert refs == ["refs/heads/main"]


@pytest.mark.parametrize("key", KEYS)
def test_names_per_commit_and_board(repo, key, tmp_path):
    for board, expected in zip(BOARDS, NAMES[key], strict=True):
        got = names_at(repo, key, board, tmp_path / board.replace(" ", "_"))
        postfix = expected.split(":", 1)[1]
        assert got["postfix"] == [postfix], (key, board)
        default = f"ollama:{VERSIONS[key][1]}"
        assert got["default"] == [default]
        # container.py's rule: the tag goes after ':' for `ollama`, after '-' for `ollama:<version>`;
        # the build stage is <image>-<package with ':' as '_'>
        assert got["images"]["ollama"] == [expected, f"{expected}-ollama"]
        assert got["images"][default] == [f"{default}-{postfix}", f"{default}-{postfix}-{default.replace(':', '_')}"]
        warned = "### [Warn] Unknown L4T_VERSION: 36.4.7" in got["printed"]
        assert warned == (board == "36.4.7 no cuda"), (key, board)


@pytest.mark.parametrize("key", KEYS)
def test_versions_offered(repo, key, tmp_path):
    got = names_at(repo, key, "36.4.3+cuda12.6", tmp_path)
    versions, default = VERSIONS[key]
    assert got["names"] == [f"ollama:{v}" for v in versions]
    for name, package in got["found"].items():
        assert package["name"] == name and package["path"].endswith("packages/llm/ollama")
        assert package.get("alias", []) == (["ollama"] if name == f"ollama:{default}" else [])  # as upstream
        args = package["build_args"]
        if key in ("2262004f", "119c26f2"):  # built from a git branch then
            assert args["OLLAMA_BRANCH"] == ("main" if name == "ollama:main" else
                                             "v0.5.5-rc0" if name == "ollama:0.5.5" else "v" + name.split(":")[1])
        else:
            assert args["OLLAMA_VERSION"] == name.split(":")[1]


@pytest.mark.parametrize("key, board, l4t, cuda, lsb, arch", [
    ("16f7cf41", "36.3.0 no cuda", "36.3.0", "12.4", "22.04", "tegra-aarch64"),
    ("16f7cf41", "35.4.1+cuda11.4", "35.4.1", "11.4", "20.04", "tegra-aarch64"),  # no nvidia-smi: tegra
    ("16f7cf41", "thor 38.2", "38.2.0", "13.0", "24.04", "aarch64"),  # "NVIDIA Thor": SBSA, L4T pinned
    ("947e2267", "thor 38.2", "38.2.0", "13.0", "24.04", "tegra-aarch64"),  # uname's tegra kernel
    ("119c26f2", "36.4.3+cuda12.6", "36.4.3", "12.6", "22.04", "tegra-aarch64"),  # SYSTEM_ARCH_TYPE
    ("2262004f", "36.4.3+cuda12.6", "36.4.3", "12.6", "22.04", "aarch64"),  # SYSTEM_ARCH only
])
def test_module_level_names(repo, key, board, l4t, cuda, lsb, arch, tmp_path):
    got = names_at(repo, key, board, tmp_path)
    assert (got["l4t"], got["cuda"], got["lsb"], got["arch"]) == (l4t, cuda, lsb, arch)


def test_upstream_overrides(repo, tmp_path):
    # upstream's environment overrides: L4T_VERSION, CUDA_VERSION; at 2262004f they add -cu<XY>
    got = names_at(repo, "16f7cf41", "36.2.0+cuda12.2", tmp_path / "a", L4T_VERSION="r36.4.4", CUDA_VERSION="12.9")
    assert got["postfix"] == ["r36.4.tegra-aarch64-cu129-22.04"]
    got = names_at(repo, "2262004f", "36.2.0+cuda12.2", tmp_path / "b", CUDA_VERSION="12.6")
    assert got["postfix"] == ["r36.2.0-cu126"]
    got = names_at(repo, "16f7cf41", "thor 38.2", tmp_path / "c", CUDA_ARCH="tegra-aarch64")
    assert got["postfix"] == ["r38.2.tegra-aarch64-cu130-24.04"]


def test_cuda_runtime_only(repo, tmp_path):
    # no version.json, only libcudart.so.X.Y.Z: its version (before the L4T table)
    root, bin_dir = fake_board(tmp_path, "36.4.7 no cuda")
    lib = root / "usr/local/cuda/targets/aarch64-linux/lib"
    lib.mkdir(parents=True)
    (lib / "libcudart.so.12.6.77").write_text("")
    out = subprocess.run([sys.executable, "-B", "-c", LOADER, str(repo["checkouts"]["16f7cf41"])],
                         env=board_env(root, bin_dir), capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["cuda"] == "12.6" and got["postfix"] == ["r36.4.tegra-aarch64-cu126-22.04"]


def test_checkout_stays_clean(repo, tmp_path):
    # the config.py copies nv_tegra_release into the package dir: ignored, as upstream's .gitignore does
    checkout = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo["bare"]), str(checkout)], check=True)
    root, bin_dir = fake_board(tmp_path, "36.2.0+cuda12.2")
    subprocess.run([sys.executable, "-B", "-c", LOADER, str(checkout)], env=board_env(root, bin_dir),
                   capture_output=True, check=True)
    assert (checkout / "packages/llm/ollama/nv_tegra_release").exists()
    status = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""


def test_render_directives():
    text = "a\n#@ since 947e2267\nb\n#@ else\nc\n#@ end\n  #@ only 2262004f 3aef85cf\nd\n  #@ end\n"
    assert jc.render(text, "2262004f") == "a\nc\nd\n"
    assert jc.render(text, "947e2267") == "a\nb\n"
    assert jc.render(text, "3aef85cf") == "a\nb\nd\n"
    with pytest.raises(ValueError):
        jc.render("#@ since nothere\n#@ end\n", "2262004f")
    with pytest.raises(ValueError):
        jc.render("#@ since 947e2267\n", "2262004f")
