"""The board scripts of a `jetson_runtime: native` board (templates/*.j2): rendered with the context the
monitoring stage builds from a native plan, run against the stub Ollama API of test_board_scripts.py,
with a fake `systemctl` standing in for ollama.service (and a `docker` that must not be called)."""

from __future__ import annotations

import json
import subprocess

import pytest

from jetson_ollama.config import ollama_environment, settings
from jetson_ollama.native import release_for
from jetson_ollama.plan import BoardPlan, NativeRuntime
from jetson_ollama.stages.board_scripts import SCRIPTS, script_context

from .test_board_scripts import MODEL, Board, api, lines, render, render_to, server  # noqa: F401 - fixtures

FAKE_SYSTEMCTL = r'''
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write("systemctl " + " ".join(args) + "\n")
path = os.environ["FAKE_SYSTEMCTL_STATE"]
with open(path) as f:
    state = json.load(f)
if args[:1] == ["show"]:
    prop = args[args.index("-p") + 1]
    print({"LoadState": "loaded" if state["loaded"] else "not-found",
           "MainPID": "4242" if state["active"] else "0"}[prop])
elif args[:1] == ["is-active"]:
    if "--quiet" not in args:
        print("active" if state["active"] else "inactive")
    sys.exit(0 if state["active"] else 3)
elif args[:1] in (["start"], ["restart"]):
    state["active"] = True
    with open(path, "w") as f:
        json.dump(state, f)
else:
    sys.exit(f"fake systemctl: {args}")
'''


def native_plan(port: int, models: list[str], version: str = "0.6.8") -> BoardPlan:
    cfg = settings({"jetson_runtime": "native", "ollama_host": f"127.0.0.1:{port}", "ollama_models": models,
                    "ollama_native_version": version})
    return BoardPlan(settings=cfg, runtime=NativeRuntime(release_for(version, cfg.ollama_native_url, "6.2"),
                                                         ollama_environment(cfg, 6)), models=list(models))


class NativeBoard(Board):
    def __init__(self, tmp, port, models, version="0.6.8"):
        super().__init__(tmp, port, models)
        self.plan = native_plan(port, models, version)
        self.context = script_context("nano-01", self.plan)
        for script in SCRIPTS:
            render_to(self.scripts / script, script, self.context)
        python = (self.bin / "python3").read_text().split("exec ", 1)[1].split(' "$@"')[0]
        (self.bin / "systemctl").write_text(f"#!{python}\n{FAKE_SYSTEMCTL}")
        (self.bin / "systemctl").chmod(0o755)
        (self.bin / "docker").write_text("#!/bin/sh\necho \"docker $*\" >> \"$FAKE_DOCKER_LOG\"; exit 1\n")
        self.unit_state = tmp / "systemctl.json"
        self.set_unit(loaded=True, active=True)
        self.env["FAKE_SYSTEMCTL_STATE"] = str(self.unit_state)

    def set_unit(self, **state):
        self.unit_state.write_text(json.dumps(state))


@pytest.fixture
def board(tmp_path, server, api):  # noqa: F811 - the fixtures imported above
    return NativeBoard(tmp_path, server.server_address[1], [MODEL])


def test_context_of_a_native_board():
    context = script_context("nano-01", native_plan(11434, [MODEL]))
    assert (context["runtime"], context["native_version"], context["unit"]) == ("native", "0.6.8", "ollama.service")
    assert context["image"] == "" and context["docker_run"] == ""
    for script in SCRIPTS:  # every template renders without a container (StrictUndefined)
        assert render(script, context).startswith("#!/usr/bin/env ")


def test_quick_test_checks_the_service_and_the_pinned_version_instead_of_an_image(board):
    result = board.run("quick-test")
    found = lines(result.stdout)
    assert list(found) == ["service", "api", "gpu", "inference", "resources"], result.stdout
    assert result.returncode == 0, result.stdout
    assert found["service"] == ("OK", "ollama.service active")
    assert found["api"] == ("OK", f"Ollama 0.6.8 at {board.context['api']}")
    assert not [call for call in board.docker_calls() if call.startswith("docker")]


def test_quick_test_names_a_stopped_or_missing_service_and_another_version(tmp_path, server, api):  # noqa: F811
    other = NativeBoard(tmp_path, server.server_address[1], [MODEL], version="0.7.0")  # the stub answers 0.6.8
    other.set_unit(loaded=True, active=False)
    found = lines(other.run("quick-test").stdout)
    assert found["service"] == ("FAIL", "ollama.service is inactive (start-ollama; journalctl -u ollama.service)")
    assert found["api"] == ("FAIL", f"Ollama 0.6.8 at {other.context['api']}, the deploy pins 0.7.0 (run the deploy)")
    other.set_unit(loaded=False, active=False)
    result = other.run("quick-test")
    assert lines(result.stdout)["service"] == ("FAIL", "there is no ollama.service (run the deploy)")
    assert result.returncode == 2


def test_start_ollama_restarts_or_starts_the_service_and_waits(board):
    result = board.run("start-ollama")
    assert result.returncode == 0, result.stderr
    assert "systemctl restart ollama.service" in board.docker_calls()
    assert result.stdout.splitlines() == ["restarting ollama.service",
                                          f"Ollama 0.6.8 answers at {board.context['api']}"]
    board.set_unit(loaded=True, active=False)
    assert board.run("start-ollama").stdout.splitlines()[0] == "starting ollama.service"
    board.set_unit(loaded=False, active=False)
    missing = board.run("start-ollama")
    assert missing.returncode == 1
    assert missing.stderr == ("start-ollama: there is no ollama.service: run the deploy (pyinfra INVENTORY "
                              "deploys/service.py) to install it\n")


def test_start_ollama_says_which_unit_when_the_api_stays_down(tmp_path, api):  # noqa: F811
    down = NativeBoard(tmp_path, 9, [MODEL])
    result = down.run("start-ollama", START_OLLAMA_WAIT="1")
    assert result.returncode == 1
    assert result.stderr.strip().endswith("(ollama.service is active; journalctl -u ollama.service -n 20)")


def test_monitor_shows_the_service_process_instead_of_the_container(board):
    (board.bin / "ps").write_text("#!/bin/sh\necho ' 3.5 831488'\n")
    (board.bin / "ps").chmod(0o755)
    result = board.run("monitor", "1", MONITOR_COUNT="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].endswith("|  ollama.service CPU 3.5 % MEM 812MiB")
    assert not [call for call in board.docker_calls() if call.startswith("docker")]


def test_bench_runs_the_same_on_a_native_board(board):
    result = board.run("bench", MODEL, timeout=30)
    assert result.returncode == 0, result.stderr
    assert subprocess.run(["grep", "-c", "docker", str(board.scripts / "bench")], capture_output=True,
                          text=True).stdout.strip() == "0"
