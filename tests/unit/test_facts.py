"""Facts: pyinfra-testing fixtures (tests/unit/facts/<module>.<Fact>/<case>.json: arg, command, output,
fact), defaults, quoting of arguments, every command run for real on this machine; and deploys/facts.py
printing its line from the same fixtures."""

import inspect
import json
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from pyinfra.api import FactBase, StringCommand
from pyinfra.context import ctx_host
from pyinfra.facts.server import Arch
from pyinfra_testing.facts import make_fact_tests

from jetson_ollama.facts import cache, docker, jetson, network, ollama

from jetson_ollama.facts import native

from .registry_stub import Registry

FIXTURES = Path(__file__).parent / "facts"
MODULES = {"jetson": jetson, "docker": docker, "ollama": ollama, "cache": cache, "network": network}
BOARDS = ["orin-nano-8gb-r36.2.0", "orin-nano-super-r36.4.3", "orin-nx-16gb-r35.4.1",
          "agx-orin-64gb-r36.4.4", "x86-server"]
# arguments for facts that take one; the others take none
ARGS = {"DiskFree": {"path": "/var/lib/no/such/dir"}, "PortListener": {}, "OllamaVersion": {},
        "RegistryTag": {"lan_ref": "127.0.0.1:9/jetson-ollama/ollama:r36.2.0"}}

# the native runtime's facts (test_native.py also runs NativeInstall and StoreOwnership on real files)
MODULES["native"] = native
ARGS.update({"NativeInstall": {}, "ReleaseChecksums": {"url": "http://127.0.0.1:9/v0.6.8/sha256sum.txt"},
             "StoreOwnership": {"path": "/var/lib/no/such/dir", "user": "root", "group": "root"}})
FACTS = {
    f"{module_name}.{name}": cls
    for module_name, module in MODULES.items()
    for name, cls in inspect.getmembers(module, inspect.isclass)
    if issubclass(cls, FactBase) and cls.__module__ == module.__name__
}

for _fact_path in FACTS:
    if (FIXTURES / _fact_path).is_dir():  # a missing folder fails the test below, not the collection
        globals()[f"TestFixtures_{_fact_path.replace('.', '_')}"] = make_fact_tests(
            "jetson_ollama.facts", _fact_path, FIXTURES / _fact_path
        )


def _raw(command) -> str:
    return command.get_raw_value() if isinstance(command, StringCommand) else command


@pytest.mark.parametrize("fact_path", FACTS)
def test_every_fact_has_fixtures_and_board_facts_cover_every_board(fact_path):
    cases = {path.stem for path in (FIXTURES / fact_path).glob("*.json")}
    assert cases, f"no fixtures in tests/unit/facts/{fact_path}/"
    if fact_path.startswith(("jetson.", "docker.")) and fact_path != "jetson.DiskFree":
        assert set(BOARDS) <= cases


@pytest.mark.parametrize("fact_path", FACTS)
def test_default_is_what_no_output_means(fact_path):
    # pyinfra skips process() when a command prints nothing; process([]) must agree with it
    fact = FACTS[fact_path]()
    assert fact.process([]) == fact.default()


def test_defaults_have_the_declared_types():
    assert jetson.TegraRelease().default() is None
    assert jetson.CudaVersion().default() is None
    assert ollama.OllamaVersion().default() is None
    assert jetson.BoardModel().default() == {} and jetson.Memory().default() == {}
    assert jetson.NvidiaSmi().default() == {"present": False}
    assert jetson.DiskFree().default() == 0
    assert docker.DockerState().default() == {
        "installed": False, "version": None, "running": False, "runtimes": [], "default_runtime": None,
    }
    assert docker.DockerDaemonJson().default() == {}
    assert ollama.PortListener().default() == []
    assert cache.RegistryTag().default() == ""
    assert network.LanAddresses().default() == []
    assert network.ApiFirewall().default() == {"chain": False, "ports": [], "accept": [], "drop": False}


@pytest.mark.parametrize("fact_path", [path for path in FACTS if path.split(".")[1] not in ARGS])
def test_facts_without_arguments_have_constant_commands(fact_path):
    assert isinstance(FACTS[fact_path]().command(), str)


HOSTILE = "/tmp/x'; touch {marker}; echo '$(touch {marker})`touch {marker}`"


def test_disk_free_quotes_the_path_and_every_parent(tmp_path):
    path = HOSTILE.format(marker=tmp_path / "pwned") + "/models"
    command = _raw(jetson.DiskFree().command(path=path))
    words = shlex.split(command)
    assert path in words and str(Path(path).parent) in words
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)
    assert not (tmp_path / "pwned").exists()


def test_ollama_version_quotes_the_url(tmp_path):
    url = "http://127.0.0.1:1/" + HOSTILE.format(marker=tmp_path / "pwned")
    command = _raw(ollama.OllamaVersion().command(url=url))
    assert url.rstrip("/") + "/api/version" in shlex.split(command)
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)
    assert not (tmp_path / "pwned").exists()


def test_registry_tag_quotes_the_reference(tmp_path):
    lan_ref = "127.0.0.1:9/" + HOSTILE.format(marker=tmp_path / "pwned") + ":r36"
    command = _raw(cache.RegistryTag().command(lan_ref=lan_ref))
    assert cache.manifest_url(lan_ref) in shlex.split(command)
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)
    assert not (tmp_path / "pwned").exists()


def test_registry_tag_reads_the_digest_a_registry_serves_for_real():
    digest = "sha256:" + "e3" * 32
    with Registry({"jetson-ollama/ollama:r36.2.0-cu122-22.04": digest}) as registry:
        def tag(lan_ref):
            result = subprocess.run(["sh", "-c", _raw(cache.RegistryTag().command(lan_ref=lan_ref))],
                                    capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, result.stderr
            return cache.RegistryTag().process(result.stdout.splitlines())

        # the schema 2 digest docker pushed, not the stand-in's answer to a client that does not ask for it
        assert tag(f"{registry.address}/jetson-ollama/ollama:r36.2.0-cu122-22.04") == digest
        assert tag(f"{registry.address}/jetson-ollama/ollama:r35.4.1-cu114-20.04") == ""
    assert registry.requests == [("HEAD", "/v2/jetson-ollama/ollama/manifests/r36.2.0-cu122-22.04"),
                                 ("HEAD", "/v2/jetson-ollama/ollama/manifests/r35.4.1-cu114-20.04")]


def test_port_listener_takes_only_an_integer_port():
    assert shlex.split(_raw(ollama.PortListener().command(port="8080")))[2] == "sport = :8080"
    with pytest.raises(ValueError):
        ollama.PortListener().command(port="11434; reboot")


def test_board_model_command_reads_nul_terminated_devicetree_files(tmp_path):
    """The shell side of the fixtures: the devicetree of the Super fixture, written as the kernel
    exposes it (docs/facts.md section 1), read through the fallback path."""
    fixture = json.loads((FIXTURES / "jetson.BoardModel" / "orin-nano-super-r36.4.3.json").read_text())
    (tmp_path / "model").write_text(fixture["fact"]["model"] + "\0")
    (tmp_path / "compatible").write_text("".join(entry + "\0" for entry in fixture["fact"]["compatible"]))
    command = jetson.BoardModel().command().replace("/proc/device-tree", str(tmp_path / "absent"))
    command = command.replace("/sys/firmware/devicetree/base", str(tmp_path))
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == fixture["output"]


@pytest.mark.parametrize("fact_path", FACTS)
def test_command_succeeds_and_parses_on_this_machine(fact_path):
    """Commands cannot fail: each runs under sh (dash here) with exit 0, whatever this host lacks."""
    fact = FACTS[fact_path]()
    command = _raw(fact.command(**ARGS.get(fact_path.split(".")[1], {})))
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    fact.process(result.stdout.splitlines())


# ---- deploys/facts.py: one line per host, from the same fixtures, and no operation

REPO = Path(__file__).parents[2]


class FixtureBoard:
    """Stands in for pyinfra's `host`: answers get_fact from one board's fixtures."""

    def __init__(self, board):
        self.name = board

    def get_fact(self, fact_cls, *args, **kwargs):
        if fact_cls is Arch:
            return "x86_64" if self.name == "x86-server" else "aarch64"
        fixture = FIXTURES / f"{fact_cls.__module__.rsplit('.', 1)[1]}.{fact_cls.__name__}" / f"{self.name}.json"
        return json.loads(fixture.read_text())["fact"]


_DOCKER = "docker 20.10.24+dfsg1, runtimes nvidia,runc"
_SMI_JP6 = "nvidia-smi: Orin (nvgpu), memory Not Supported"
SUMMARIES = {
    "orin-nano-8gb-r36.2.0": "aarch64 L4T 36.2.0 (JetPack 6.0, CUDA 12.2, Ubuntu 22.04)"
    f" | NVIDIA Jetson Orin Nano Developer Kit | RAM 7620 MB (6289 available) | CUDA 12.2.140 | {_SMI_JP6}"
    f" | {_DOCKER} (default runc)",
    "orin-nano-super-r36.4.3": "aarch64 L4T 36.4.3 (JetPack 6.2, CUDA 12.6, Ubuntu 22.04)"
    " | NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super | RAM 7620 MB (6289 available)"
    f" | CUDA 12.6.68 | {_SMI_JP6} | {_DOCKER} (default runc)",
    "orin-nx-16gb-r35.4.1": "aarch64 L4T 35.4.1 (JetPack 5.1.2, CUDA 11.4, Ubuntu 20.04)"
    " | NVIDIA Orin NX Developer Kit | RAM 15388 MB (14608 available) | CUDA 11.4.315"
    f" | nvidia-smi absent (JetPack 5) | {_DOCKER} (default nvidia)",
    "agx-orin-64gb-r36.4.4": "aarch64 L4T 36.4.4 (JetPack 6.2.1, CUDA 12.6, Ubuntu 22.04)"
    " | NVIDIA Jetson AGX Orin Developer Kit | RAM 62841 MB (60691 available) | CUDA 12.6.68"
    f" | {_SMI_JP6} | {_DOCKER} (default runc)",
    "x86-server": "x86_64 not a Jetson | RAM 32041 MB (31141 available)"
    " | docker 20.10.24+dfsg1, runtimes runc (default runc)",
}


@pytest.mark.parametrize("board", BOARDS)
def test_facts_deploy_prints_one_line_per_board(board, capsys):
    with ctx_host.use(FixtureBoard(board)):
        runpy.run_path(str(REPO / "deploys" / "facts.py"))
    assert capsys.readouterr().err == f"{board}: {SUMMARIES[board]}\n"  # stderr: stdout is for --json


def test_facts_deploy_runs_on_this_machine_without_any_operation():
    result = subprocess.run([Path(sys.executable).parent / "pyinfra", "@local", "deploys/facts.py", "-y"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "@local: x86_64 not a Jetson" in result.stderr
    assert re.search(r"Grand total(\s+-){4}\s*$", result.stderr, re.M), result.stderr  # no operation ran


def test_full_deploy_refuses_this_machine_with_one_line():
    result = subprocess.run([Path(sys.executable).parent / "pyinfra", "@local", "deploys/full.py", "-y"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "jetson-ollama refused @local: not a Jetson (x86_64, no /etc/nv_tegra_release)" in result.stderr
