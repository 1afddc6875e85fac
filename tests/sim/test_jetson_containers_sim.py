"""The simulated jetson-containers repository: its history, image names and tools (no root, no docker).

Each tool runs from a clone checked out at the commit standing for an upstream commit, on a fake
board: a directory standing in for / (`JETSON_SIM_BOARD_ROOT`, the repository's documented test hook)
with /etc/nv_tegra_release and /usr/local/cuda, fake `uname`, `lsb_release` and `nvidia-smi` first on
PATH, and a fake `docker` that prints its argv. The names are those dusty-nv/jetson-containers gives
at these commits (tests/unit/test_sim_jc_repo.py checks them on more boards).
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from jetson_sim.upstream.jetson_containers import KEYS, make_repo

PIN = "16f7cf41"
# fake boards: (L4T major, revision), host CUDA (None: none), Ubuntu, GPU name (None: no nvidia-smi)
BOARDS = {
    "36.2.0": (("36", "2.0"), "12.2.140", "22.04", "Orin (nvgpu)"),
    "36.4.3": (("36", "4.3"), "12.6.68", "22.04", "Orin (nvgpu)"),
    "36.4.4": (("36", "4.4"), "12.6.68", "22.04", "Orin (nvgpu)"),
    "35.4.1": (("35", "4.1"), "11.4.315", "20.04", None),
    "38.2.0": (("38", "2.0"), "13.0.48", "24.04", "NVIDIA Thor"),
}
NAMES = {  # `jetson-containers build ollama` on 36.2.0 / 36.4.3 / 35.4.1
    "2262004f": ("ollama:r36.2.0", "ollama:r36.4.3", "ollama:r35.4.1"),
    "119c26f2": ("ollama:r36.2.0", "ollama:r36.4", "ollama:r35.4.1"),
    "55b14897": ("ollama:r36.2.0-cu122-22.04", "ollama:r36.4-cu126-22.04", "ollama:r35.4.1-cu114-20.04"),
    "947e2267": ("ollama:r36.2.0-cu122-22.04", "ollama:r36.4.tegra-aarch64-cu126-22.04", "ollama:r35.4.1-cu114-20.04"),
}
NAMES["c6bf3b62"] = NAMES["16f7cf41"] = NAMES["3aef85cf"] = NAMES["947e2267"]
DEFAULT = {"2262004f": "0.6.1", "119c26f2": "main", "55b14897": "0.6.8", "947e2267": "0.9.6",
           "c6bf3b62": "0.11.8", "16f7cf41": "0.11.8", "3aef85cf": "0.11.8"}
FAKE_DOCKER = """#!/usr/bin/env python3
import json, os, sys
if sys.argv[1:2] == ["images"]:
    sys.stdout.write(os.environ.get("FAKE_DOCKER_IMAGES", ""))
else:
    print("DOCKER " + json.dumps(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    base = tmp_path_factory.mktemp("jc")
    bare = base / "jetson-containers.git"
    shas = make_repo(bare)
    clones = {}
    for key in KEYS:
        clones[key] = base / key
        subprocess.run(["git", "clone", "--quiet", str(bare), str(clones[key])], check=True, capture_output=True)
        subprocess.run(["git", "-C", str(clones[key]), "checkout", "--quiet", shas[key]], check=True,
                       capture_output=True)
    boards = {}
    for l4t, ((major, revision), cuda, ubuntu, gpu) in BOARDS.items():
        root, bin_dir = base / "boards" / l4t / "root", base / "boards" / l4t / "bin"
        (root / "etc").mkdir(parents=True)
        bin_dir.mkdir()
        (root / "etc/nv_tegra_release").write_text(
            f"# R{major} (release), REVISION: {revision}, GCID: 38968081, BOARD: generic, EABI: aarch64, "
            "DATE: Wed Jan  8 01:49:37 UTC 2025\n")
        (root / "usr/local/cuda").mkdir(parents=True)
        (root / "usr/local/cuda/version.json").write_text(json.dumps({"cuda_nvcc": {"version": cuda}}))
        tools = {"uname": 'case "$1" in -m) echo aarch64;; *) echo "Linux board 5.15.148-tegra aarch64";; esac',
                 "lsb_release": f'case "$1" in -rs) echo {ubuntu};; -cs) echo codename;; esac',
                 "docker": None}
        if gpu:
            tools["nvidia-smi"] = f'echo "{gpu}"'
        for name, body in tools.items():
            (bin_dir / name).write_text(FAKE_DOCKER if body is None else "#!/bin/sh\n" + textwrap.dedent(body) + "\n")
            (bin_dir / name).chmod(0o755)
        boards[l4t] = (root, bin_dir)
    return {"bare": bare, "shas": shas, "clones": clones, "boards": boards, "base": base}


def tool(repo, key, *args, board="36.2.0", timeout=20, popen=False, **kwargs):
    """Run a repo tool (`jetson-containers`, `autotag`) of commit KEY on the fake BOARD."""
    root, bin_dir = repo["boards"][board]
    env = {k: v for k, v in os.environ.items()
           if k not in ("L4T_VERSION", "CUDA_VERSION", "LSB_RELEASE", "CUDA_ARCH", "SYSTEM_ARCH", "PYTHON_VERSION")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", DOCKER_HOST="unix:///nonexistent",
               JETSON_SIM_TEST_REGISTRY="http://127.0.0.1:9", JETSON_SIM_BOARD_ROOT=str(root))
    env.update(kwargs.pop("env", {}))
    command = [str(repo["clones"][key] / args[0]), *args[1:]]
    if popen:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)


def docker_calls(stdout):
    return [json.loads(line[len("DOCKER "):]) for line in stdout.splitlines() if line.startswith("DOCKER ")]


def built(repo, key, package="ollama", board="36.2.0"):
    """(build stage, image) that `build --skip-tests=all PACKAGE` tags, from the docker calls"""
    out = tool(repo, key, "jetson-containers", "build", "--skip-tests=all", package, board=board)
    assert out.returncode == 0, out.stderr
    build, tag = [call for call in docker_calls(out.stdout) if call[0] != "info"]
    assert tag[0] == "tag" and tag[1] == build[build.index("--tag") + 1]
    return tag[1], tag[2], build


def test_make_repo_is_deterministic_and_idempotent(repo, tmp_path):
    assert set(repo["shas"]) == {*KEYS, "pin", "head"}
    assert repo["shas"]["pin"] == repo["shas"][PIN] and repo["shas"]["head"] == repo["shas"]["3aef85cf"]
    assert len(set(repo["shas"].values())) == len(KEYS)
    assert make_repo(repo["bare"]) == repo["shas"]              # again in place: nothing changes
    assert make_repo(tmp_path / "other.git") == repo["shas"]    # elsewhere: the same commit ids
    log = subprocess.run(["git", "-C", str(repo["bare"]), "log", "--format=%H", "main"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert log == [repo["shas"][key] for key in reversed(KEYS)]


def test_make_repo_commits_the_ollama_server(repo, tmp_path):
    server = tmp_path / "ollama_server.py"
    server.write_text("#!/usr/bin/env python3\nprint('simulated ollama')\n")
    shas = make_repo(tmp_path / "with-server.git", ollama_server=server)
    assert shas["2262004f"] != repo["shas"]["2262004f"]
    show = subprocess.run(["git", "-C", str(tmp_path / "with-server.git"), "show",
                           f"{shas['pin']}:packages/llm/ollama/ollama"], capture_output=True, text=True, check=True)
    assert show.stdout == server.read_text()
    tree = subprocess.run(["git", "-C", str(tmp_path / "with-server.git"), "ls-tree", "-r", "main"],
                          capture_output=True, text=True, check=True).stdout
    assert "100755 blob" in next(line for line in tree.splitlines() if line.endswith("packages/llm/ollama/ollama"))
    assert "100755 blob" in next(line for line in tree.splitlines() if line.endswith("\tinstall.sh"))


@pytest.mark.parametrize("key", KEYS)
def test_build_names_per_commit(repo, key):
    for board, name in zip(("36.2.0", "36.4.3", "35.4.1"), NAMES[key], strict=True):
        stage, image, build = built(repo, key, board=board)
        assert (stage, image) == (f"{name}-ollama", name)
        base = "ubuntu:20.04" if board == "35.4.1" else "ubuntu:22.04"  # the mirror has Ubuntu only
        assert f"BASE_IMAGE={base}" in build
    # a version: the postfix after '-', the stage named `<image>-ollama_<version>`
    version = DEFAULT[key]
    stage, image, build = built(repo, key, f"ollama:{version}")
    assert image == f"ollama:{version}-{NAMES[key][0].split(':')[1]}"
    assert stage == f"{image}-ollama_{version}"


def test_thor_names(repo):
    assert built(repo, PIN, board="38.2.0")[1] == "ollama:r38.2.aarch64-cu130-24.04"
    assert built(repo, "3aef85cf", board="38.2.0")[1] == "ollama:r38.2.arm64-sbsa-cu130-24.04"
    assert built(repo, "947e2267", board="38.2.0")[1] == "ollama:r38.2.tegra-aarch64-cu130-24.04"


def test_build_passes_the_version_to_the_image(repo):
    stage, image, build = built(repo, PIN, "ollama:0.5.5")
    assert "OLLAMA_VERSION=0.5.5" in build and "--shm-size=8g" in build
    assert build[-1] == str(repo["clones"][PIN] / "packages/llm/ollama")
    dockerfile = (repo["clones"][PIN] / "packages/llm/ollama/Dockerfile").read_text()
    assert "OLLAMA_SIM_VERSION=${OLLAMA_VERSION}" in dockerfile  # what the simulated server reports
    # 2262004f built from a branch name (and upstream's Dockerfile installed the newest Ollama)
    build = built(repo, "2262004f", "ollama:0.4.0")[2]
    assert "OLLAMA_BRANCH=v0.4.0" in build and not any(a.startswith("OLLAMA_VERSION=") for a in build)


def test_versions_offered(repo):
    out = tool(repo, PIN, "jetson-containers", "list")
    assert out.stdout.split() == ["ollama:0.11.8", "ollama:0.4.0", "ollama:0.5.1", "ollama:0.5.5"]
    missing = tool(repo, PIN, "jetson-containers", "build", "--skip-tests=all", "ollama:0.6.8")
    assert missing.returncode == 1
    assert "-- Error:  couldn't find package:  ollama:0.6.8" in missing.stderr
    assert docker_calls(missing.stdout) == []
    assert tool(repo, "55b14897", "jetson-containers", "list").stdout.split()[-1] == "ollama:0.6.8"


def test_show_reads_the_board(repo):
    out = tool(repo, PIN, "jetson-containers", "show", "ollama", board="36.4.3")
    assert out.returncode == 0, out.stderr
    assert "L4T_VERSION=36.4.3  JETPACK_VERSION=6.2  CUDA_VERSION=12.6  LSB_RELEASE=22.04" in out.stdout
    assert "> ollama:0.11.8" in out.stdout
    assert "'postfix': 'r36.4.tegra-aarch64-cu126-22.04'" in out.stdout
    # upstream's L4T_VERSION override still wins over the board's file
    out = tool(repo, PIN, "jetson-containers", "show", "ollama", board="36.4.3", env={"L4T_VERSION": "36.2.0"})
    assert "'postfix': 'r36.2.0-cu126-22.04'" in out.stdout


def test_run_always_adds_its_defaults(repo):
    out = tool(repo, PIN, "jetson-containers", "run", "-v", "/srv/models:/data", "ollama:r36.2.0", "ollama", "serve")
    [argv] = docker_calls(out.stdout)
    root = repo["clones"][PIN]
    assert argv[:2] == ["run", "--runtime"] and argv[2] == "nvidia"
    assert {"--rm", "-it", "--shm-size=8g"} <= set(argv)
    assert ["--network", "host"] == argv[argv.index("--network"):argv.index("--network") + 2]
    # the repo's data mount comes before the user's: docker then refuses the duplicate /data
    assert argv.index(f"{root}/data:/data") < argv.index("/srv/models:/data")
    assert argv[-3:] == ["ollama:r36.2.0", "ollama", "serve"]


@pytest.mark.parametrize("board, image", [("36.2.0", "dustynv/ollama:r36.2.0"), ("36.4.3", "dustynv/ollama:r36.4.3"),
                                          ("35.4.1", "dustynv/ollama:r35.4.1"),
                                          ("36.4.4", "dustynv/ollama:0.4.0-r36.4.0"),
                                          # JetPack 7 "runs any container" (l4t_version_compatible)
                                          ("38.2.0", "dustynv/ollama:r35.4.1")])
def test_autotag_quiet_picks_a_compatible_registry_image(repo, board, image):
    # exact L4T match first, else the first compatible tag in the recorded registry order
    out = tool(repo, PIN, "autotag", "ollama", "-q", board=board)
    assert (out.returncode, out.stdout) == (0, image + "\n"), out.stderr
    assert "-- Finding compatible container image for ['ollama']" in out.stderr


def test_autotag_prefers_any_local_image(repo):
    # local images match by name only, no L4T check: a JetPack 6.0 image on r36.4
    local = "ollama:r36.2.0-cu122-22.04\nollama:r36.4.tegra-aarch64-cu126-22.04\nubuntu:22.04\n"
    out = tool(repo, PIN, "autotag", "-q", "ollama", board="36.4.3", env={"FAKE_DOCKER_IMAGES": local})
    assert out.stdout == "ollama:r36.2.0-cu122-22.04\n"


def test_autotag_without_a_match_exits_127(repo):
    out = tool(repo, PIN, "autotag", "-q", "ollama:0.11.8", board="36.4.3")
    assert (out.returncode, out.stdout) == (127, "")
    out = tool(repo, PIN, "autotag", "-q", "-d", "registry", "ollama")  # no local image; -q never builds
    assert (out.returncode, out.stdout) == (127, "")
    assert "-- Error:  couldn't find a compatible container image for 'ollama'" in out.stderr


def test_autotag_prompts_and_waits(repo):
    # stdin open but silent, as over non-interactive SSH: it waits for an answer
    waiting = tool(repo, PIN, "autotag", "ollama", popen=True, stdin=subprocess.PIPE)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=1)
    finally:
        waiting.kill()
        waiting.communicate()
    # stdin closed: the prompt, then upstream's EOFError
    out = tool(repo, PIN, "autotag", "ollama", stdin=subprocess.DEVNULL)
    assert "Found compatible container dustynv/ollama:r36.2.0" in out.stderr
    assert "would you like to pull it? [Y/n]" in out.stderr
    assert out.returncode == 1 and out.stdout == ""
    answered = tool(repo, PIN, "autotag", "ollama", input="y\n")
    assert answered.stdout == "dustynv/ollama:r36.2.0\n"


def test_build_test_needs_the_internet(repo):
    out = tool(repo, PIN, "jetson-containers", "build", "ollama", board="36.4.3")
    assert out.returncode != 0
    assert [call[0] for call in docker_calls(out.stdout)] == ["build"]  # built, tested, never tagged
    assert 'Error: pull model manifest: Get "http://127.0.0.1:9/v2/library/smollm2/manifests/135m-instruct-q2_K"' \
        in out.stderr
    assert "-- Testing container ollama:r36.4.tegra-aarch64-cu126-22.04-ollama" in out.stdout
    # at 2262004f and 119c26f2 the ollama tests were disabled upstream (test.py.disabled): no test
    early = tool(repo, "2262004f", "jetson-containers", "build", "ollama", board="36.4.3")
    assert early.returncode == 0 and [c[0] for c in docker_calls(early.stdout)] == ["build", "tag"]


def test_build_without_docker(repo, tmp_path):
    for command in ("bash", "dirname", "readlink"):  # a PATH with all the launcher needs but docker
        (tmp_path / command).symlink_to(shutil.which(command))
    (tmp_path / "python3").symlink_to(os.path.realpath(sys.executable))
    root, bin_dir = repo["boards"]["36.2.0"]
    for command in ("uname", "lsb_release", "nvidia-smi"):
        (tmp_path / command).symlink_to(bin_dir / command)
    out = tool(repo, PIN, "jetson-containers", "build", "ollama", env={"PATH": str(tmp_path)})
    assert out.returncode == 1
    assert "the `docker` command was not found" in out.stderr


@pytest.mark.skipif(os.geteuid() != 0 and shutil.which("sudo") is not None, reason="install.sh would sudo")
def test_install_links_the_tools(repo, tmp_path):
    clone = repo["clones"]["2262004f"]
    env = {**os.environ, "INSTALL_PREFIX": str(tmp_path)}
    subprocess.run(["bash", str(clone / "install.sh")], env=env, check=True, capture_output=True)
    assert os.readlink(tmp_path / "autotag") == str(clone / "autotag")
    assert os.readlink(tmp_path / "jetson-containers") == str(clone / "jetson-containers")
    assert (clone / ".env").read_text() == (clone / ".env.default").read_text()
    status = subprocess.run(["git", "-C", str(clone), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""  # .env, data/, caches and the nv_tegra_release copy are ignored, as upstream
