"""The rollout engine with a stand-in runner: waves, limits, the state file, resume, the table, the CLI."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from jetson_ollama import rollout
from jetson_ollama.__main__ import main
from jetson_ollama.rollout import Options, parse_limit, parse_waves, plan_rollout, release_of, run_rollout
from jetson_ollama.runner import HostInfo, HostResult

GATE = "gate.py"
FOUND = {"version": "0.6.8", "models": {"qwen2.5:0.5b": "a8b0c5157701"}, "mem_percent": 41.5}


# ---------------------------------------------------------------- parse_waves / parse_limit

@pytest.mark.parametrize(("text", "boards", "counts"), [
    ("1,25%,100%", 8, [1, 2, 8]),
    ("1,25%,100%", 6, [1, 2, 6]),
    ("1,25%,100%", 2, [1, 2]),        # 25% of 2 rounds onto the first wave
    ("1,25%,100%", 1, [1]),
    ("100%", 5, [5]),
    ("2,5", 5, [2, 5]),
    ("10%,50%,100%", 20, [2, 10, 20]),
    ("12.5%,100%", 8, [1, 8]),
    (" 1, 3 ,100% ", 4, [1, 3, 4]),
    ("25%,2,100%", 8, [2, 8]),         # the count 2 is what 25% already gave
    ("25%,3,100%", 8, [2, 3, 8]),
])
def test_parse_waves(text, boards, counts):
    assert parse_waves(text, boards) == counts


@pytest.mark.parametrize(("text", "boards", "words"), [
    ("", 4, "counts of boards and percentages"),
    ("1,,100%", 4, "counts of boards and percentages"),
    ("one,100%", 4, "counts of boards and percentages"),
    ("-1,100%", 4, "counts of boards and percentages"),
    ("1,50%", 4, "the last wave must be 100% or 4"),
    ("1,3", 4, "the last wave must be 100% or 4"),
    ("0,100%", 4, "at least 1"),
    ("3,2,100%", 4, "above the counts before it"),
    ("2,2,100%", 4, "above the counts before it"),
    ("50%,25%,100%", 4, "above the percentages before it"),
    ("1,150%", 4, "at most 100%"),
    ("1,10,100%", 6, "10 boards, but the inventory has 6"),
    ("50%,1,100%", 4, "not more than the 2 before it"),
    ("100%", 0, "no boards"),
])
def test_parse_waves_refuses(text, boards, words):
    with pytest.raises(ValueError) as caught:
        parse_waves(text, boards)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "size", "allowed"), [
    ("10%", 6, 0), ("10%", 10, 1), ("10%", 19, 1), ("50%", 3, 1), ("100%", 4, 4), ("0%", 5, 0),
    ("0", 5, 0), ("2", 5, 2), ("7", 3, 7),
])
def test_parse_limit_rounds_down(text, size, allowed):
    assert parse_limit(text, size) == allowed


@pytest.mark.parametrize("text", ["", "x", "-1", "150%", "1.5", "%"])
def test_parse_limit_refuses(text):
    with pytest.raises(ValueError, match="a count of boards .* or a percentage of each wave"):
        parse_limit(text, 4)


# ---------------------------------------------------------------- a stand-in fleet

class StandIn:
    """Answers run_deploy like jetson_ollama.runner, scripted per board, and records every call."""

    def __init__(self, *, deploy_errors=None, gate_problems=None, unreachable=(), events=None):
        self.deploy_errors = deploy_errors or {}    # board -> stderr line of its deploy
        self.gate_problems = gate_problems or {}    # board -> the gate's problems
        self.unreachable = set(unreachable)
        self.calls: list[tuple[str, list[str], dict | None]] = []
        self.paths: list[list[str]] = []            # the deploys of each call
        self.events = events if events is not None else []
        self.results: dict[str, dict] = {}          # as jetson_ollama.stages.gate.RESULTS

    def run_deploy(self, inventory_path, deploy_paths, limit, data=None, host_data=None):
        kind = "gate" if deploy_paths in ([GATE], [rollout.DEFAULT_GATE]) else "deploy"
        self.paths.append(list(deploy_paths))
        self.calls.append((kind, list(limit), data))
        self.events.append((kind, list(limit)))
        answers = {}
        for name in limit:
            if name in self.unreachable:
                answers[name] = HostResult(ok=False, connected=False, error="Could not connect (timed out)")
            elif kind == "deploy":
                error = self.deploy_errors.get(name)
                answers[name] = HostResult(ok=error is None, connected=True, error=error, changed=4, ops=9)
            else:
                problems = self.gate_problems.get(name, [])
                self.results[name] = {"ok": not problems, "problems": problems, **FOUND}
                error = f"jetson-ollama refused {name}: health gate failed: {'; '.join(problems)}" if problems else None
                answers[name] = HostResult(ok=not problems, connected=True, error=error, changed=1, ops=2)
        return answers

    def limits(self, kind):
        return [limit for called, limit, _ in self.calls if called == kind]

    def named(self):
        return {name for _, limit, _ in self.calls for name in limit}


def host(name, groups=("boards",), **data):
    return HostInfo(name, list(groups), {"jetson_cache_host": "cache", **data})


FLEET = [host(f"b{number}") for number in range(1, 7)]
CACHE = host("cache", groups=("infra",))


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("full.py").write_text("# converge\n")
    Path(GATE).write_text("# gate\n")
    Path("inv.py").write_text("# inventory\n")
    return tmp_path


def go(runner, hosts=(*FLEET, CACHE), **options):
    options = Options("inv.py", ["full.py"], **{"gate": GATE, **options})
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        runner.events.append(("sleep", seconds))

    outcome = run_rollout(runner, plan_rollout(list(hosts), options), findings=lambda: runner.results,
                          sleep=sleep, out=lambda line: None)
    return outcome, sleeps


def saved(path=".jetson-ollama/rollout-inv.json"):
    return json.loads(Path(path).read_text())


# ---------------------------------------------------------------- waves

def test_waves_run_in_order_each_deploy_then_soak_then_gate(site):
    runner = StandIn()
    outcome, sleeps = go(runner, waves="1,50%,100%", soak=60)
    assert outcome.code == 0
    assert outcome.waves == [["b1"], ["b2", "b3"], ["b4", "b5", "b6"]]
    assert runner.events == [
        ("deploy", ["b1", "cache"]), ("sleep", 60), ("gate", ["b1", "cache"]),
        ("deploy", ["b2", "b3", "cache"]), ("sleep", 60), ("gate", ["b2", "b3", "cache"]),
        ("deploy", ["b4", "b5", "b6", "cache"]), ("sleep", 60), ("gate", ["b4", "b5", "b6", "cache"]),
    ]
    assert all(data == {"jetson_rollout_keep_previous": True} for kind, _, data in runner.calls if kind == "deploy")
    assert outcome.summary == "6/6 boards ok in 3 waves"


def test_no_soak_does_not_sleep(site):
    outcome, sleeps = go(StandIn(), waves="100%", soak=0)
    assert outcome.code == 0 and sleeps == []


def test_canary_group_is_wave_one_whatever_the_first_count(site):
    hosts = [host("b1"), host("b2"), host("b3", groups=("boards", "canaries")), host("b4"),
             host("b5", groups=("boards", "canaries")), host("b6"), CACHE]
    runner = StandIn()
    outcome, _ = go(runner, hosts, waves="1,25%,100%", canary="canaries")
    assert outcome.waves == [["b3", "b5"], ["b1", "b2", "b4", "b6"]]  # 25% of 6 is 2: the canaries already
    assert runner.limits("deploy") == [["b3", "b5", "cache"], ["b1", "b2", "b4", "b6", "cache"]]
    outcome, _ = go(StandIn(), hosts, waves="1,50%,100%", canary="canaries", recheck=True)
    assert outcome.waves == [["b3", "b5"], ["b1"], ["b2", "b4", "b6"]]


def test_cache_hosts_are_in_every_run_and_never_listed_as_boards(site):
    # a board's plan needs its cache host in the run; the gate itself skips the cache host
    runner = StandIn()
    outcome, _ = go(runner, waves="2,4,100%")
    assert all(limit[-1] == "cache" for limit in runner.limits("deploy"))
    assert all(limit[-1] == "cache" for limit in runner.limits("gate"))
    assert "cache" not in outcome.boards and "cache" not in saved()["boards"]
    assert saved()["cache_hosts"]["cache"]["result"] == "ok"


def test_a_failure_over_the_limit_stops_and_later_waves_are_untouched(site):
    runner = StandIn(gate_problems={"b2": ["RAM 97 % used (red)"]})
    outcome, _ = go(runner, waves="1,3,100%", max_fail="10%")
    assert outcome.code == 1 and outcome.stopped_at == 2
    assert outcome.summary == "stopped at wave 2: 1 failure > 0 allowed (10% of 2); later waves untouched"
    assert runner.named() == {"b1", "b2", "b3", "cache"}
    assert {name: entry["result"] for name, entry in saved()["boards"].items()} == {
        "b1": "ok", "b2": "failed", "b3": "ok", "b4": "pending", "b5": "pending", "b6": "pending"}
    assert saved()["boards"]["b2"]["reason"] == "jetson-ollama refused b2: health gate failed: RAM 97 % used (red)"


def test_failures_within_the_limit_go_on_and_exit_1(site):
    runner = StandIn(deploy_errors={"b4": "jetson-ollama refused b4: 2.1 GB free on /var/lib/docker"})
    outcome, _ = go(runner, waves="1,3,100%", max_fail="1")
    assert outcome.code == 1 and outcome.stopped_at is None
    assert outcome.summary == "5/6 boards ok in 3 waves; 1 failed within --max-fail 1"
    assert runner.limits("gate")[-1] == ["b4", "b5", "b6", "cache"]  # a failed deploy is still gated: restored


def test_unreachable_boards_fail_and_are_not_gated(site):
    runner = StandIn(unreachable={"b5"})
    outcome, _ = go(runner, waves="100%", max_fail="50%")
    assert runner.limits("gate") == [["b1", "b2", "b3", "b4", "b6", "cache"]]
    assert outcome.boards["b5"]["result"] == "failed"
    assert outcome.boards["b5"]["reason"] == "unreachable: Could not connect (timed out)"


def test_gate_findings_fill_the_entry_and_explain_a_silent_failure(site):
    class SilentGate(StandIn):
        def run_deploy(self, inventory_path, deploy_paths, limit, data=None, host_data=None):
            answers = super().run_deploy(inventory_path, deploy_paths, limit, data, host_data)
            if deploy_paths == [GATE]:
                answers["b1"] = HostResult(ok=False, connected=True, error=None)
            return answers

    runner = SilentGate(gate_problems={"b1": ["qwen2.5:0.5b is not the locked manifest"]})
    outcome, _ = go(runner, hosts=[host("b1"), host("b2"), CACHE])
    assert outcome.boards["b1"]["reason"] == "health gate failed: qwen2.5:0.5b is not the locked manifest"
    assert outcome.boards["b2"]["version"] == "0.6.8"
    assert outcome.boards["b2"]["models"] == {"qwen2.5:0.5b": "a8b0c5157701"}


def test_findings_of_an_earlier_gate_run_are_not_read_again(site):
    class Forgetful(StandIn):  # its gate leaves no findings for b1
        def run_deploy(self, inventory_path, deploy_paths, limit, data=None, host_data=None):
            return {name: HostResult(ok=True, connected=True) for name in limit}

    runner = Forgetful()
    runner.results["b1"] = {"ok": True, "problems": [], "version": "0.1.0", "models": {}}  # an earlier run's
    outcome, _ = go(runner, hosts=[host("b1"), CACHE])
    assert outcome.boards["b1"]["result"] == "ok" and outcome.boards["b1"]["version"] is None


# ---------------------------------------------------------------- state, resume, recheck

def test_state_file_holds_each_board(site):
    go(StandIn(), waves="1,100%")
    state = saved()
    entry = state["boards"]["b1"]
    assert set(entry) == {"wave", "result", "reason", "release", "version", "models", "changed", "updated"}
    assert entry["wave"] == 1 and state["boards"]["b6"]["wave"] == 2
    assert entry["result"] == "ok" and entry["reason"] is None and entry["changed"] == 4
    assert entry["version"] == "0.6.8" and entry["models"] == {"qwen2.5:0.5b": "a8b0c5157701"}
    assert entry["release"] == release_of([b"# converge\n"], FLEET[0].data)
    assert re.fullmatch(r"[0-9a-f]{12}", entry["release"])
    assert datetime.fromisoformat(entry["updated"]).tzinfo is not None
    assert not list(Path(".jetson-ollama").glob(".*"))  # no temporary file left behind


def test_state_is_written_after_every_wave(site):
    seen = []

    class Peeking(StandIn):
        def run_deploy(self, inventory_path, deploy_paths, limit, data=None, host_data=None):
            if deploy_paths != [GATE]:
                seen.append({name: entry["result"] for name, entry in saved()["boards"].items()})
            return super().run_deploy(inventory_path, deploy_paths, limit, data, host_data)

    go(Peeking(), hosts=[host("b1"), host("b2"), CACHE], waves="1,100%")
    assert seen == [{"b1": "pending", "b2": "pending"}, {"b1": "ok", "b2": "pending"}]


def test_state_path_option(site):
    go(StandIn(), state="elsewhere/fleet.json")
    assert set(saved("elsewhere/fleet.json")["boards"]) == {f"b{number}" for number in range(1, 7)}
    assert not Path(".jetson-ollama").exists()


def test_resume_reruns_only_failed_and_pending_boards_then_continues(site):
    first = StandIn(gate_problems={"b2": ["no answer on /api/version"]})
    go(first, waves="1,3,100%")
    again = StandIn()
    outcome, _ = go(again, waves="1,3,100%")
    assert again.limits("deploy") == [["b2", "cache"], ["b4", "b5", "b6", "cache"]]
    assert again.limits("gate") == [["b2", "cache"], ["b4", "b5", "b6", "cache"]]
    assert outcome.code == 0 and outcome.summary == "6/6 boards ok in 3 waves"
    assert [saved()["boards"][f"b{number}"]["wave"] for number in range(1, 7)] == [1, 2, 2, 3, 3, 3]


def test_a_board_whose_settings_changed_is_done_again(site):
    go(StandIn())
    again = StandIn()
    hosts = [host("b1"), host("b2", ollama_models=["qwen3:4b"]), *FLEET[2:], CACHE]
    outcome, _ = go(again, hosts)
    assert again.limits("deploy") == [["b2", "cache"]]
    assert outcome.boards["b2"]["release"] != outcome.boards["b1"]["release"]


def test_a_changed_deploy_file_is_a_new_release_for_every_board(site):
    go(StandIn())
    Path("full.py").write_text("# converge, version 2\n")
    again = StandIn()
    go(again)
    assert again.limits("deploy") == [["b1", "b2", "b3", "b4", "b5", "b6", "cache"]]


def test_a_finished_rollout_reruns_nothing_unless_rechecked(site):
    go(StandIn(), waves="1,100%")
    idle = StandIn()
    outcome, _ = go(idle, waves="1,100%")
    assert idle.calls == [] and outcome.code == 0
    recheck = StandIn()
    go(recheck, waves="1,100%", recheck=True)
    assert recheck.limits("gate") == [["b1", "cache"], ["b2", "b3", "b4", "b5", "b6", "cache"]]


def test_a_state_file_that_does_not_parse_is_refused(site):
    Path(".jetson-ollama").mkdir()
    Path(".jetson-ollama/rollout-inv.json").write_text("{not json")
    with pytest.raises(ValueError, match="does not read"):
        go(StandIn())


# ---------------------------------------------------------------- the table

def test_table_lists_every_board_in_columns(site):
    runner = StandIn(gate_problems={"b2": ["RAM 97 % used (red)"]})
    outcome, _ = go(runner, waves="1,3,100%")
    lines = outcome.table.splitlines()
    assert lines[0].split() == ["board", "wave", "result", "release", "image/version", "models"]
    rows = {line.split()[0]: line.split() for line in lines[1:7]}
    assert rows["b1"][:3] == ["b1", "1", "ok"] and rows["b1"][4:] == ["0.6.8", "qwen2.5:0.5b", "a8b0c5157701"]
    assert rows["b2"][:3] == ["b2", "2", "failed"]
    assert rows["b5"][2:] == ["pending", outcome.boards["b5"]["release"], "-", "-"]
    starts = {line.index(rows[line.split()[0]][2]) for line in lines[1:7]}
    assert starts == {lines[0].index("result")}  # one column
    assert lines[7] == "b2: jetson-ollama refused b2: health gate failed: RAM 97 % used (red)"


# ---------------------------------------------------------------- command line

@pytest.fixture
def fake_inventory(site, monkeypatch):
    Path("inv.py").write_text(
        'boards = (["@fake/b1", "@fake/b2"], {"fake_delay": 0})\n'
        'canaries = (["@fake/b2"], {})\n')

    def refuse(*args, **kwargs):
        raise AssertionError("connected before the arguments were checked")

    from jetson_ollama import runner
    monkeypatch.setattr(runner, "run_deploy", refuse)
    return site


@pytest.mark.parametrize(("argv", "words"), [
    ([], "the following arguments are required"),
    (["inv.py"], "the following arguments are required"),
    (["missing.py", "full.py"], "no inventory file missing.py"),
    (["inv.py", "nothing.py"], "no deploy file nothing.py"),
    (["inv.py", "full.py", "--gate", "nogate.py"], "no deploy file nogate.py (--gate)"),
    (["inv.py", "jetson_ollama.deploys.fulll"], "no deploy jetson_ollama.deploys.fulll: jetson_ollama.deploys has no "
                                                "deploy named fulll"),
    (["inv.py", "jetson_olama.deploys.full"], "no deploy jetson_olama.deploys.full: cannot import jetson_olama"),
    (["inv.py", "full.py", "--waves", "1,50%"], "the last wave must be 100% or 2"),
    (["inv.py", "full.py", "--max-fail", "lots"], "--max-fail 'lots'"),
    (["inv.py", "full.py", "--soak", "-5"], "--soak -5"),
    (["inv.py", "full.py", "--soak", "soon"], "invalid float value"),
    (["inv.py", "full.py", "--canary", "nobody"], "--canary nobody: no board"),
])
def test_bad_arguments_one_line_exit_2_before_connecting(fake_inventory, capsys, argv, words):
    if argv and "--gate" not in argv:
        argv = [*argv, "--gate", GATE]
    try:
        code = main(["rollout", *argv])
    except SystemExit as stopped:  # argparse's own checks
        code = stopped.code
    out, err = capsys.readouterr()
    assert code == 2
    assert out == "" and len(err.strip().splitlines()) == 1 and words in err
    assert err.startswith("jetson-ollama rollout: ")


def test_a_project_without_deploy_files_rolls_out_the_package_by_name(fake_inventory, monkeypatch, capsys):
    """What `jetson-ollama init` makes has no deploys/ directory: the deploy and the default gate are the
    package's, by name, and the release moves with the package's deploy module."""
    from jetson_ollama import runner

    stand_in = StandIn()
    monkeypatch.setattr(runner, "run_deploy", stand_in.run_deploy)
    monkeypatch.setattr(rollout, "gate_findings", lambda: stand_in.results)
    monkeypatch.setattr(rollout, "_log_to_stderr", lambda: None)
    assert main(["rollout", "inv.py", "jetson_ollama.deploys.full"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2/2 boards ok in 1 wave"
    assert stand_in.paths == [["jetson_ollama.deploys.full"], ["jetson_ollama.deploys.gate"]]


def test_a_deploy_by_name_becomes_a_file_that_calls_it(tmp_path):
    from jetson_ollama import deploy_refs

    path = deploy_refs.as_file("jetson_ollama.deploys.gate", tmp_path)
    assert Path(path).read_text() == "from jetson_ollama.deploys import gate\n\ngate()\n"
    assert deploy_refs.as_file("deploys/full.py", tmp_path) == "deploys/full.py"
    assert b"jetson_ollama.deploys.full" in deploy_refs.source("jetson_ollama.deploys.full")
    assert deploy_refs.source("jetson_ollama.deploys.full") != deploy_refs.source("jetson_ollama.deploys.models")


def test_the_report_command_is_still_there(site, capsys):
    assert main(["report", "missing.py"]) == 2
    assert "no inventory file missing.py" in capsys.readouterr().out


def test_cli_exit_codes_and_output(fake_inventory, monkeypatch, capsys):
    from jetson_ollama import runner

    stand_in = StandIn(gate_problems={"@fake/b2": ["no answer on /api/version"]})
    monkeypatch.setattr(runner, "run_deploy", stand_in.run_deploy)
    monkeypatch.setattr(rollout, "gate_findings", lambda: stand_in.results)
    monkeypatch.setattr(rollout, "_log_to_stderr", lambda: None)
    assert main(["rollout", "inv.py", "full.py", "--gate", GATE, "--waves", "1,100%"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "stopped at wave 2: 1 failure > 0 allowed (--max-fail 0)"
    assert "@fake/b1  1     ok" in "\n".join(out)
    stand_in.gate_problems.clear()
    assert main(["rollout", "inv.py", "full.py", "--gate", GATE, "--waves", "1,100%"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2/2 boards ok in 2 waves"
