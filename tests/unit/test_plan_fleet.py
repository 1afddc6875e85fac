"""The whole deploy (deploys/full.py) in this process over `@fake` boards: a board whose plan refuses it
gets no changing operation at all, in any stage, while a good board of the same run goes on.

The `@fake` connector answers every command with success and no output unless the board's
`fake_responses` names a substring of it; here those answers are the recorded fact outputs of an Orin
Nano 8GB (tests/unit/facts), so the real facts parse real outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pyinfra.connectors.fake import FakeConnector

from jetson_ollama.runner import run_deploy

REPO = Path(__file__).resolve().parents[2]
FACTS = Path(__file__).parent / "facts"


def output(fact: str, case: str) -> list[str]:
    return json.loads((FACTS / fact / f"{case}.json").read_text())["output"]


NANO = {  # command substring -> the board's answer
    "uname -m": {"stdout": ["aarch64"]},
    "nv_tegra_release": {"stdout": output("jetson.TegraRelease", "orin-nano-8gb-r36.2.0")},
    "/proc/meminfo": {"stdout": output("jetson.Memory", "orin-nano-8gb-r36.2.0")},
    "docker info": {"stdout": output("docker.DockerState", "orin-nano-8gb-r36.2.0")},
    "df -Pk": {"stdout": output("jetson.DiskFree", "existing-path")},
    "registry.ollama.ai": {"stdout": output("models.RegistryManifest", "fetched")},
    "jetson-ollama refused": {"success": False},  # the refusal's own command fails the board, as on a board
}
CHANGING = ("docker run", "docker rm", "docker pull", "docker stop", "git clone", "install.sh", "iptables -A")


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("fleet.py").write_text(textwrap.dedent(f"""
        _nano = {{"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": {NANO!r},
                 "ollama_models": ["qwen2.5:0.5b"], "jetson_image_strategy": "prebuilt"}}
        boards = (["@fake/good", ("@fake/greedy", {{"ollama_context_length": 1000000000}})], _nano)
    """))
    asked: list[tuple[str, str]] = []
    run_shell_command = FakeConnector.run_shell_command

    def recording_run(self, command, *args, **kwargs):
        asked.append((self.host.name, str(command)))
        return run_shell_command(self, command, *args, **kwargs)

    monkeypatch.setattr(FakeConnector, "run_shell_command", recording_run)
    return asked


def test_a_memory_refusal_comes_before_any_change_of_the_board(fleet):
    results = run_deploy("fleet.py", [str(REPO / "deploys" / "full.py")], ["@fake/good", "@fake/greedy"])
    greedy, good = results["@fake/greedy"], results["@fake/good"]
    assert not greedy.ok and greedy.ops == 1  # the one refusal, in the first stage ("Check the board")
    said = [cmd for host, cmd in fleet if host == "@fake/greedy" and "jetson-ollama refused" in cmd]
    assert len(said) == 1 and "qwen2.5:0.5b needs about" in said[0] and "black" in said[0]
    assert not [cmd for host, cmd in fleet if host == "@fake/greedy" and any(word in cmd for word in CHANGING)]
    # the good board of the same run is deployed: its image pulled, its container started
    assert good.ok, good.error
    commands = [cmd for host, cmd in fleet if host == "@fake/good"]
    assert any("docker pull" in cmd for cmd in commands) and any("docker run" in cmd for cmd in commands)


def test_dry_says_the_refusal(fleet):
    # pyinfra --dry prepares the run (facts, the plan) and changes nothing: the refusal is said then
    proc = subprocess.run([sys.executable, "-m", "pyinfra", "fleet.py", str(REPO / "deploys" / "full.py"), "--dry"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    said = [line for line in (proc.stdout + proc.stderr).splitlines() if "refused before any change" in line]
    assert len(said) == 1 and "@fake/greedy" in said[0] and "qwen2.5:0.5b needs about" in said[0], proc.stderr[-2000:]
