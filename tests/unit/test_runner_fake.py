"""pyinfra in this process over `@fake` hosts: run_deploy's per-host results, and whole rollouts.

The `@fake` connector runs nothing: every command succeeds with no output unless the host's
`fake_responses` says otherwise (a substring of the command -> stdout, stderr, success).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pyinfra.connectors.fake import FakeConnector

from jetson_ollama import plan, runner
from jetson_ollama.rollout import Options, plan_rollout, run_rollout
from jetson_ollama.runner import HostInfo, HostResult, RunnerError, inventory_hosts, run_deploy

from . import fake_fleet

REPO = Path(__file__).resolve().parents[2]

INVENTORY = """
_fast = {"fake_delay": 0, "fake_delay_jitter": 0, "jetson_cache_host": "@fake/cache"}

canaries = (["@fake/b1", "@fake/b2"], {**_fast, "ollama_context_length": 4096})
rest = (
    [
        "@fake/b3",
        ("@fake/b4", {"fake_responses": {"step-two": {"success": False,
                                                      "stderr": ["docker: pull failed",
                                                                 "jetson-ollama refused @fake/b4: 2.1 GB free"]}}}),
        "@fake/b5",
        ("@fake/b6", {"gate_problems": ["RAM 97 % used (red)"],
                      "fake_responses": {"gate-check": {"success": False, "stderr":
                                                        "jetson-ollama refused @fake/b6: health gate failed"}}}),
    ],
    {**_fast, "ollama_context_length": 8192},
)
infra = (["@fake/cache"], _fast)
"""

DEPLOY = """
from pyinfra import host
from pyinfra.api import operation
from pyinfra.operations import server

from tests.unit.fake_fleet import SEEN


@operation()
def settled():
    host.noop("nothing to change")
    return
    yield


SEEN[host.name] = {"keep": host.data.get("jetson_rollout_keep_previous"), "marker": host.data.get("marker")}
if host.data.get("explode"):
    raise RuntimeError("no plan for " + host.name)
server.shell(name="Step one", commands=["step-one"])
settled(name="Already fine")
server.shell(name="Step two", commands=["step-two"])
server.shell(name="Step three", commands=["step-three"])
"""

GATE = """
from pyinfra import host
from pyinfra.operations import server

from tests.unit.fake_fleet import RESULTS

if host.name != host.data.get("jetson_cache_host"):  # as the real gate: the cache host is no board
    problems = host.data.get("gate_problems") or []
    RESULTS[host.name] = {"ok": not problems, "problems": problems, "version": "0.6.8",
                          "models": {"qwen2.5:0.5b": "a8b0c5157701"}, "mem_percent": 40.0}
    server.shell(name="Health gate", commands=["gate-check"])
"""


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    """A temporary inventory and deploys in the current directory; records what each host is asked."""
    monkeypatch.chdir(tmp_path)
    Path("fleet.py").write_text(textwrap.dedent(INVENTORY))
    Path("full.py").write_text(DEPLOY)
    Path("gate.py").write_text(GATE)
    fake_fleet.RESULTS.clear()
    fake_fleet.SEEN.clear()
    asked: list[tuple[str, str]] = []
    connected: list[str] = []
    run_shell_command = FakeConnector.run_shell_command

    def recording_run(self, command, *args, **kwargs):
        asked.append((self.host.name, str(command)))
        return run_shell_command(self, command, *args, **kwargs)

    def recording_connect(self):
        connected.append(self.host.name)

    monkeypatch.setattr(FakeConnector, "run_shell_command", recording_run)
    monkeypatch.setattr(FakeConnector, "connect", recording_connect)
    return {"asked": asked, "connected": connected}


def boards(*numbers):
    return [f"@fake/b{number}" for number in numbers]


# ---------------------------------------------------------------- inventory_hosts

def test_inventory_hosts_in_order_with_groups_and_data_without_connecting(fleet):
    hosts = inventory_hosts("fleet.py")
    assert [host.name for host in hosts] == [*boards(1, 2, 3, 4, 5, 6), "@fake/cache"]
    first, fourth = hosts[0], hosts[3]
    assert "canaries" in first.groups and "rest" not in first.groups
    assert len(first.groups) == len(set(first.groups))
    assert first.data["ollama_context_length"] == 4096 and fourth.data["ollama_context_length"] == 8192
    assert "step-two" in fourth.data["fake_responses"]
    assert fleet["connected"] == [] and fleet["asked"] == []


def test_inventory_hosts_refuses_a_missing_or_broken_inventory(fleet):
    with pytest.raises(RunnerError, match="no inventory file nowhere.py"):
        inventory_hosts("nowhere.py")
    Path("broken.py").write_text("boards = [\n")
    with pytest.raises(RunnerError, match="pyinfra could not read broken.py"):
        inventory_hosts("broken.py")


def _inventory_in_a_subprocess(path: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jetson_ollama.runner", "inventory", path], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_the_inventory_read_in_a_subprocess_is_what_inventory_hosts_reads(fleet):
    """`python -m jetson_ollama.runner inventory PATH`, for processes gevent must not patch (remote.py)."""
    proc = _inventory_in_a_subprocess("fleet.py")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [HostInfo(row["name"], row["groups"], row["data"]) for row in rows] == inventory_hosts("fleet.py")
    assert rows[3]["data"]["fake_responses"]["step-two"]["success"] is False


def test_the_subprocess_reader_refuses_in_one_line_on_stderr(fleet):
    Path("broken.py").write_text("boards = [\n")
    Path("exits.py").write_text("raise SystemExit('no fleet here')\n")
    for path, line in (("nowhere.py", "no inventory file nowhere.py"),
                       ("broken.py", "pyinfra could not read broken.py: "),
                       ("exits.py", "pyinfra could not read exits.py: no fleet here")):
        proc = _inventory_in_a_subprocess(path)
        assert (proc.returncode, proc.stdout) == (2, ""), path
        assert proc.stderr.startswith(line) and proc.stderr.count("\n") == 1, proc.stderr


# ---------------------------------------------------------------- run_deploy

def test_run_deploy_results_per_host(fleet):
    results = run_deploy("fleet.py", ["full.py"], boards(1, 4))
    assert results == {
        "@fake/b1": HostResult(ok=True, connected=True, error=None, changed=3, ops=4),
        # step one changed; step two failed with this last stderr line; step three never ran
        "@fake/b4": HostResult(ok=False, connected=True, error="jetson-ollama refused @fake/b4: 2.1 GB free",
                               changed=1, ops=3),
    }


def test_a_deploy_by_name_runs_as_its_file_does(fleet, monkeypatch):
    """A deploy of a module by name (as `jetson_ollama.deploys.full`): the same operations, in the same order,
    with the same results per host as the deploy file."""
    Path("site_deploys.py").write_text("def converge():\n" + textwrap.indent(DEPLOY, "    "))
    monkeypatch.syspath_prepend(str(Path.cwd()))

    def per_host():  # the commands each host was asked, in order
        asked = {name: [command for who, command in fleet["asked"] if who == name] for name in boards(1, 4)}
        fleet["asked"].clear()
        return asked

    by_file = run_deploy("fleet.py", ["full.py"], boards(1, 4))
    asked_by_file = per_host()
    assert run_deploy("fleet.py", ["site_deploys.converge"], boards(1, 4)) == by_file
    assert per_host() == asked_by_file
    assert asked_by_file["@fake/b1"][-1] == "step-three"


def test_run_deploy_contacts_only_the_limit(fleet):
    run_deploy("fleet.py", ["full.py"], boards(2, 5))
    assert sorted(fleet["connected"]) == boards(2, 5)
    assert {name for name, _ in fleet["asked"]} == set(boards(2, 5))
    assert set(fake_fleet.SEEN) == set(boards(2, 5))


def test_run_deploy_data_and_host_data_override(fleet):
    run_deploy("fleet.py", ["full.py"], boards(1, 2), data={"jetson_rollout_keep_previous": True, "marker": "all"},
               host_data={"@fake/b2": {"marker": "mine"}})
    assert fake_fleet.SEEN == {"@fake/b1": {"keep": True, "marker": "all"},
                               "@fake/b2": {"keep": True, "marker": "mine"}}
    run_deploy("fleet.py", ["full.py"], boards(1))
    assert fake_fleet.SEEN["@fake/b1"] == {"keep": None, "marker": None}  # nothing carried over


def test_an_exception_in_deploy_code_fails_only_its_host(fleet):
    results = run_deploy("fleet.py", ["full.py"], boards(1, 2), host_data={"@fake/b2": {"explode": True}})
    assert results["@fake/b1"].ok
    assert results["@fake/b2"] == HostResult(ok=False, connected=True,
                                             error="RuntimeError in full.py: no plan for @fake/b2", changed=0, ops=0)
    assert "@fake/b2" not in {name for name, _ in fleet["asked"]}


def test_every_host_failing_still_answers_each(fleet):
    results = run_deploy("fleet.py", ["full.py"], boards(4), host_data={})
    assert results["@fake/b4"].error == "jetson-ollama refused @fake/b4: 2.1 GB free"
    results = run_deploy("fleet.py", ["full.py"], boards(1, 2), host_data={name: {"explode": True}
                                                                          for name in boards(1, 2)})
    assert [result.ok for result in results.values()] == [False, False]


def test_an_unreachable_host_is_not_connected_with_its_error(fleet):
    with socket.socket() as probe:  # a local port that nothing listens on: refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    Path("mixed.py").write_text(
        f'boards = (["@fake/b1", ("gone", {{"ssh_hostname": "127.0.0.1", "ssh_port": {port}}})], '
        '{"fake_delay": 0})\n')
    results = run_deploy("mixed.py", ["full.py"], ["@fake/b1", "gone"])
    assert results["@fake/b1"].ok
    gone = results["gone"]
    assert (gone.ok, gone.connected, gone.ops) == (False, False, 0)
    assert "Could not connect" in gone.error and str(port) in gone.error


def test_run_deploy_refuses_names_not_in_the_inventory(fleet):
    with pytest.raises(RunnerError, match="not in fleet.py: @fake/b9"):
        run_deploy("fleet.py", ["full.py"], ["@fake/b1", "@fake/b9"])
    assert fleet["connected"] == []


def test_board_plans_do_not_leak_between_runs(fleet):
    plan._plans["@fake/b1"] = plan.BoardPlan(refusal="a plan from an earlier run")
    run_deploy("fleet.py", ["full.py"], boards(1))
    assert "@fake/b1" not in plan._plans


def test_a_rewritten_deploy_file_is_read_again(fleet):
    run_deploy("fleet.py", ["full.py"], boards(1))
    Path("full.py").write_text(DEPLOY.replace('"step-three"', '"step-four"'))
    fleet["asked"].clear()
    run_deploy("fleet.py", ["full.py"], boards(1))
    assert ("@fake/b1", "step-four") in fleet["asked"]


# ---------------------------------------------------------------- whole rollouts

def roll(**options):
    settings = Options("fleet.py", ["full.py"], **{"gate": "gate.py", **options})
    lines: list[str] = []
    outcome = run_rollout(runner, plan_rollout(inventory_hosts("fleet.py"), settings),
                          findings=lambda: fake_fleet.RESULTS, out=lines.append)
    return outcome, lines


def test_a_rollout_end_to_end(fleet):
    outcome, lines = roll(waves="1,50%,100%", canary="canaries", max_fail="2")
    assert outcome.waves == [boards(1, 2), boards(3), boards(4, 5, 6)]
    assert outcome.code == 1 and outcome.stopped_at is None
    assert {name: entry["result"] for name, entry in outcome.boards.items()} == {
        **dict.fromkeys(boards(1, 2, 3, 5), "ok"), "@fake/b4": "failed", "@fake/b6": "failed"}
    assert outcome.boards["@fake/b4"]["reason"] == "jetson-ollama refused @fake/b4: 2.1 GB free"
    assert outcome.boards["@fake/b6"]["reason"] == "jetson-ollama refused @fake/b6: health gate failed"
    assert outcome.boards["@fake/b5"]["version"] == "0.6.8"
    assert outcome.boards["@fake/b5"]["changed"] == 3
    gate_hosts = {name for name, command in fleet["asked"] if command == "gate-check"}
    assert gate_hosts == set(boards(1, 2, 3, 4, 5, 6))  # the failed deploy of b4 is gated (restored) too
    cache_commands = [command for name, command in fleet["asked"] if name == "@fake/cache"]
    assert cache_commands.count("step-one") == 3 and "gate-check" not in cache_commands
    assert outcome.summary == "4/6 boards ok in 3 waves; 2 failed within --max-fail 2"
    assert lines[0] == "wave 1/3: @fake/b1, @fake/b2"


def test_a_failing_canary_stops_the_rollout_before_the_others_are_contacted(fleet):
    Path("fleet.py").write_text(textwrap.dedent(INVENTORY) + 'risky = (["@fake/b1", "@fake/b4"], {})\n')
    outcome, _ = roll(waves="1,50%,100%", canary="risky", max_fail="10%")
    assert outcome.stopped_at == 1 and outcome.code == 1
    assert outcome.summary == "stopped at wave 1: 1 failure > 0 allowed (10% of 2); later waves untouched"
    assert set(fleet["connected"]) == {"@fake/b1", "@fake/b4", "@fake/cache"}
    assert {name for name, _ in fleet["asked"]} == {"@fake/b1", "@fake/b4", "@fake/cache"}
    assert [outcome.boards[name]["result"] for name in boards(2, 3, 5, 6)] == ["pending"] * 4

    # fixed: the re-run retries the canary only, then goes on with the other waves
    fixed = textwrap.dedent(INVENTORY).replace('"step-two": {"success": False', '"step-nine": {"success": False')
    fixed = fixed.replace('"gate-check": {"success": False', '"gate-nine": {"success": False')
    fixed = fixed.replace('"gate_problems": ["RAM 97 % used (red)"]', '"gate_problems": []')
    Path("fleet.py").write_text(fixed + 'risky = (["@fake/b1", "@fake/b4"], {})\n')
    fleet["connected"].clear()
    outcome, lines = roll(waves="1,50%,100%", canary="risky", max_fail="10%")
    assert lines[0] == "wave 1/3: @fake/b4 (1 already ok)"
    assert "@fake/b1" not in fleet["connected"]
    assert outcome.code == 0 and outcome.summary == "6/6 boards ok in 3 waves"
