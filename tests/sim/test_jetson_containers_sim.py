"""The simulated jetson-containers repository: its history, image names and tools (no root, no docker).

Each tool runs from a clone, with upstream's L4T_VERSION / CUDA_VERSION overrides (or a fake
/etc/nv_tegra_release) standing in for the board and a fake `docker` that prints its argv. Expected
names are those of /work/shared/reference/jetson-ollama-facts.md section 4.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from jetson_sim.upstream.jetson_containers import make_repo

ERAS = ("2025-03", "2025-05", "2025-07")
BOARDS = {"36.2.0": "12.2", "36.4.3": "12.6", "35.4.1": "11.4"}  # L4T -> CUDA (facts section 1)
NAMES = {  # facts section 4 table; r35 follows the same rules (22.04 -> 20.04, facts section 1)
    "2025-03": {"36.2.0": "ollama:r36.2.0", "36.4.3": "ollama:r36.4.3", "35.4.1": "ollama:r35.4.1"},
    "2025-05": {"36.2.0": "ollama:r36.2.0-cu122-22.04", "36.4.3": "ollama:r36.4-cu126-22.04",
                "35.4.1": "ollama:r35.4.1-cu114-20.04"},
    "2025-07": {"36.2.0": "ollama:r36.2.0-cu122-22.04", "36.4.3": "ollama:r36.4.tegra-aarch64-cu126-22.04",
                "35.4.1": "ollama:r35.4.1-cu114-20.04"},
}
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
    for era in ERAS:
        clones[era] = base / era
        subprocess.run(["git", "clone", "--quiet", "--branch", era, str(bare), str(clones[era])], check=True,
                       capture_output=True)
    fakebin = base / "bin"
    fakebin.mkdir()
    (fakebin / "docker").write_text(FAKE_DOCKER)
    (fakebin / "docker").chmod(0o755)
    return {"bare": bare, "shas": shas, "clones": clones, "bin": fakebin, "base": base}


def tool(repo, era, *args, l4t="36.2.0", timeout=10, popen=False, **kwargs):
    """Run a repo tool (`jetson-containers`, `autotag`) of ERA on a board with L4T, fake docker first."""
    env = {key: value for key, value in os.environ.items() if key not in ("CUDA_VERSION", "LSB_RELEASE")}
    env.update(PATH=f"{repo['bin']}{os.pathsep}{env['PATH']}", DOCKER_HOST="unix:///nonexistent",
               JETSON_SIM_TEST_REGISTRY="http://127.0.0.1:9", L4T_VERSION=l4t, CUDA_VERSION=BOARDS.get(l4t, "12.6"))
    env.update(kwargs.pop("env", {}))
    root = repo["clones"][era]
    if popen:
        return subprocess.Popen([str(root / args[0]), *args[1:]], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **kwargs)
    return subprocess.run([str(root / args[0]), *args[1:]], env=env, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def docker_calls(stdout):
    return [json.loads(line[len("DOCKER "):]) for line in stdout.splitlines() if line.startswith("DOCKER ")]


def test_make_repo_is_deterministic_and_idempotent(repo, tmp_path):
    assert set(repo["shas"]) == {*ERAS, "head"}
    assert repo["shas"]["head"] == repo["shas"]["2025-07"]
    assert len(set(repo["shas"].values())) == 3
    assert make_repo(repo["bare"]) == repo["shas"]              # again in place: nothing changes
    assert make_repo(tmp_path / "other.git") == repo["shas"]    # elsewhere: the same commit ids
    log = subprocess.run(["git", "-C", str(repo["bare"]), "log", "--format=%H %an %ad", "--date=short", "main"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    assert [line.split()[0] for line in log if line] == [repo["shas"][era] for era in reversed(ERAS)]


def test_make_repo_commits_the_ollama_server(repo, tmp_path):
    server = tmp_path / "ollama_server.py"
    server.write_text("#!/usr/bin/env python3\nprint('simulated ollama')\n")
    shas = make_repo(tmp_path / "with-server.git", ollama_server=server)
    assert shas["2025-03"] != repo["shas"]["2025-03"]
    show = subprocess.run(["git", "-C", str(tmp_path / "with-server.git"), "show", "2025-05:packages/llm/ollama/ollama"],
                          capture_output=True, text=True, check=True)
    assert show.stdout == server.read_text()
    tree = subprocess.run(["git", "-C", str(tmp_path / "with-server.git"), "ls-tree", "-r", "main"],
                          capture_output=True, text=True, check=True).stdout
    assert "100755 blob" in next(line for line in tree.splitlines() if line.endswith("packages/llm/ollama/ollama"))
    assert "100755 blob" in next(line for line in tree.splitlines() if line.endswith("\tinstall.sh"))


@pytest.mark.parametrize("era", ERAS)
def test_show_gives_the_recorded_names(repo, era):
    for l4t, name in NAMES[era].items():
        out = tool(repo, era, "jetson-containers", "show", "ollama", l4t=l4t)
        assert out.returncode == 0, out.stderr
        assert f"  image:       {name}\n" in out.stdout
        assert f"  stage:       {name}-ollama\n" in out.stdout
    pinned = tool(repo, era, "jetson-containers", "show", "ollama:0.6.8").stdout
    assert f"image:       ollama:0.6.8-{NAMES[era]['36.2.0'].split(':')[1]}\n" in pinned
    if era != "2025-03":
        assert "image:       ollama:0.6.8-r36.2.0-cu122-22.04\n" in pinned


def test_show_reads_nv_tegra_release(repo, tmp_path):
    release = tmp_path / "nv_tegra_release"
    release.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
                       "DATE: Wed Jan  8 01:49:37 UTC 2025\n")  # facts section 1
    out = tool(repo, "2025-07", "jetson-containers", "show", "ollama", l4t="36.4.3",
               env={"L4T_VERSION": "", "JETSON_CONTAINERS_TEGRA_RELEASE": str(release)})
    assert "L4T_VERSION=36.4.3  JETPACK_VERSION=6.2  CUDA_VERSION=12.6" in out.stdout
    assert "image:       ollama:r36.4.tegra-aarch64-cu126-22.04\n" in out.stdout


def test_run_always_adds_its_defaults(repo):
    out = tool(repo, "2025-07", "jetson-containers", "run", "-v", "/srv/models:/data", "ollama:r36.2.0", "ollama", "serve")
    [argv] = docker_calls(out.stdout)
    root = repo["clones"]["2025-07"]
    assert argv[:2] == ["run", "--runtime"] and argv[2] == "nvidia"
    assert {"--rm", "-it", "--shm-size=8g"} <= set(argv)
    assert ["--network", "host"] == argv[argv.index("--network"):argv.index("--network") + 2]
    # the repo's data mount comes before the user's: docker then refuses the duplicate /data
    assert argv.index(f"{root}/data:/data") < argv.index("/srv/models:/data")
    assert argv[-3:] == ["ollama:r36.2.0", "ollama", "serve"]


@pytest.mark.parametrize("l4t, image", [("36.2.0", "dustynv/ollama:r36.2.0"), ("36.4.3", "dustynv/ollama:r36.4.3"),
                                        ("35.4.1", "dustynv/ollama:r35.4.1"),
                                        ("36.4.4", "dustynv/ollama:0.4.0-r36.4.0")])
def test_autotag_quiet_picks_a_compatible_registry_image(repo, l4t, image):
    # exact L4T match first, else the first compatible tag in the recorded registry order
    out = tool(repo, "2025-07", "autotag", "ollama", "-q", l4t=l4t)
    assert (out.returncode, out.stdout) == (0, image + "\n"), out.stderr
    assert "-- Finding compatible container image for ['ollama']" in out.stderr


def test_autotag_prefers_any_local_image(repo):
    # local images match by name only, no L4T check (facts section 4): a JetPack 6.0 image on r36.4
    local = "ollama:r36.2.0-cu122-22.04\nollama:r36.4.tegra-aarch64-cu126-22.04\nubuntu:22.04\n"
    out = tool(repo, "2025-07", "autotag", "-q", "ollama", l4t="36.4.3", env={"FAKE_DOCKER_IMAGES": local})
    assert out.stdout == "ollama:r36.2.0-cu122-22.04\n"


def test_autotag_without_a_match_exits_127(repo):
    out = tool(repo, "2025-07", "autotag", "-q", "ollama", l4t="38.2")
    assert (out.returncode, out.stdout) == (127, "")


def test_autotag_prompts_and_waits(repo):
    # stdin open but silent, as over non-interactive SSH: it waits for an answer
    waiting = tool(repo, "2025-07", "autotag", "ollama", popen=True, stdin=subprocess.PIPE)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=1)
    finally:
        waiting.kill()
        waiting.communicate()
    # stdin closed: the prompt, then upstream's EOFError
    out = tool(repo, "2025-07", "autotag", "ollama", stdin=subprocess.DEVNULL)
    assert "Found compatible container dustynv/ollama:r36.2.0" in out.stderr
    assert "would you like to pull it? [Y/n]" in out.stderr
    assert out.returncode == 1 and out.stdout == ""
    answered = tool(repo, "2025-07", "autotag", "ollama", input="y\n")
    assert answered.stdout == "dustynv/ollama:r36.2.0\n"


def test_build_tags_stage_and_image(repo):
    out = tool(repo, "2025-05", "jetson-containers", "build", "--skip-tests=all", "ollama:0.6.8")
    assert out.returncode == 0, out.stderr
    build, tag = [call for call in docker_calls(out.stdout) if call[0] != "info"]
    assert build[build.index("--tag") + 1] == "ollama:0.6.8-r36.2.0-cu122-22.04-ollama"
    assert "BASE_IMAGE=ubuntu:22.04" in build and "OLLAMA_VERSION=0.6.8" in build
    assert build[-1] == str(repo["clones"]["2025-05"] / "packages/llm/ollama")
    assert tag == ["tag", "ollama:0.6.8-r36.2.0-cu122-22.04-ollama", "ollama:0.6.8-r36.2.0-cu122-22.04"]


def test_build_test_needs_the_internet(repo):
    out = tool(repo, "2025-07", "jetson-containers", "build", "ollama", l4t="36.4.3")
    assert out.returncode != 0
    calls = [call[0] for call in docker_calls(out.stdout)]
    assert calls == ["build"]  # built, tested, never tagged with the final name
    assert 'Error: pull model manifest: Get "http://127.0.0.1:9/v2/library/smollm2/manifests/135m-instruct-q2_K"' \
        in out.stderr
    assert "-- Testing container ollama:r36.4.tegra-aarch64-cu126-22.04-ollama" in out.stdout


def test_build_without_docker(repo, tmp_path):
    for command in ("bash", "dirname", "readlink"):  # a PATH with all the launcher needs but docker
        (tmp_path / command).symlink_to(shutil.which(command))
    (tmp_path / "python3").symlink_to(os.path.realpath(sys.executable))
    out = tool(repo, "2025-07", "jetson-containers", "build", "ollama", env={"PATH": str(tmp_path)})
    assert out.returncode == 1
    assert "the `docker` command was not found" in out.stderr


@pytest.mark.skipif(os.geteuid() != 0 and shutil.which("sudo") is not None, reason="install.sh would sudo")
def test_install_links_the_tools(repo, tmp_path):
    clone = repo["clones"]["2025-03"]
    env = {**os.environ, "INSTALL_PREFIX": str(tmp_path)}
    subprocess.run(["bash", str(clone / "install.sh")], env=env, check=True, capture_output=True)
    assert os.readlink(tmp_path / "autotag") == str(clone / "autotag")
    assert os.readlink(tmp_path / "jetson-containers") == str(clone / "jetson-containers")
    assert (clone / ".env").read_text() == (clone / ".env.default").read_text()
    status = subprocess.run(["git", "-C", str(clone), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""  # .env, data/ and caches are ignored, as upstream
