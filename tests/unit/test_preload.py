"""ollama_preload and the recorded container: the setting's checks, the plan's refusals, the operations'
fixtures (tests/unit/operations/preload.unit, board.container_recorded), the board's preload script
against a stub of Ollama's API, and start-ollama making the container the service stage recorded."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import threading
import http.server
from pathlib import Path

import pytest
from pyinfra_testing.operations import make_operation_tests

from jetson_ollama import config
from jetson_ollama.operations import board, preload
from jetson_ollama.operations.ollama import container_spec
from jetson_ollama.resources import FILES
from jetson_ollama.stages.board_scripts import script_context

from .test_board_scripts import IMAGE, MODEL, JSONHandler, render_to, sample_plan
from .test_plan import make

FIXTURES = Path(__file__).parent / "operations"
OPERATIONS = {"preload.unit": preload.unit, "board.container_recorded": board.container_recorded}
TestFixtures_preload_unit = make_operation_tests("jetson_ollama.operations", "preload.unit",
                                                 FIXTURES / "preload.unit")
TestFixtures_board_container_recorded = make_operation_tests("jetson_ollama.operations", "board.container_recorded",
                                                             FIXTURES / "board.container_recorded")


# ---------------------------------------------------------------- the setting

@pytest.mark.parametrize("value", [[], "all", ["qwen2.5:0.5b"]])
def test_preload_takes_all_or_tags_of_the_set(value):
    data = {"ollama_models": ["qwen2.5:0.5b"], "ollama_preload": value}
    assert config.problems(data) == []
    assert config.settings(data).ollama_preload == value


def test_preload_defaults_to_none():
    assert config.DEFAULTS["ollama_preload"] == [] and config.settings({}).ollama_preload == []


@pytest.mark.parametrize(("value", "said"), [
    ("qwen2.5:0.5b", 'ollama_preload: must be "all" or a list of name:tag strings of ollama_models'),
    (["qwen2.5"], 'ollama_preload: must be a list of name:tag strings such as qwen2.5:1.5b'),
    (["qwen2.5:0.5b", "qwen2.5:0.5b"], "ollama_preload: must not repeat a tag"),
    (["qwen2.5:1.5b"], "ollama_preload: not in the board's model set (qwen2.5:0.5b): qwen2.5:1.5b"),
])
def test_a_bad_preload_is_one_line(value, said):
    found = config.problems({"ollama_models": ["qwen2.5:0.5b"], "ollama_preload": value})
    assert len(found) == 1 and found[0].startswith(said), found
    with pytest.raises(config.ConfigError, match=re.escape(said)):
        config.settings({"ollama_models": ["qwen2.5:0.5b"], "ollama_preload": value})


def test_preloading_more_than_ollama_keeps_loaded_is_refused():
    data = {"ollama_models": ["qwen2.5:0.5b", "qwen2.5:1.5b"], "ollama_preload": "all"}
    assert config.problems(data) == [
        "ollama_preload: keeps 2 models loaded at once, and ollama_max_loaded_models is 1: raise it or preload fewer "
        "(got 'all')"]
    assert config.problems({**data, "ollama_max_loaded_models": 2}) == []


# ---------------------------------------------------------------- the plan

@pytest.fixture
def lock_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the plan reads models.lock from where pyinfra runs
    return tmp_path / "models.lock"


def test_the_plan_preloads_the_auto_set(lock_file):
    made = make({"ollama_models": "auto", "ollama_preload": "all"})
    assert made.refusal is None, made.refusal
    assert made.preload == made.models and len(made.models) == 1


def test_the_plan_refuses_a_preload_outside_the_auto_set(lock_file):
    made = make({"ollama_models": "auto", "ollama_preload": ["qwen2.5:0.5b"]})
    assert made.models != ["qwen2.5:0.5b"]
    assert made.refusal == f"ollama_preload not in the board's model set ({made.models[0]}): qwen2.5:0.5b"


def test_preloaded_models_must_fit_together(lock_file):
    models = ["qwen3:4b", "qwen2.5:3b", "qwen2.5:1.5b"]  # each green alone on 8 GB, not all three at once
    data = {"ollama_models": models, "ollama_preload": "all", "ollama_max_loaded_models": 3}
    made = make(data)
    assert all(v.estimate and v.estimate.tier == "green" for v in made.verdicts)
    assert made.refusal.startswith("ollama_preload (qwen3:4b + qwen2.5:3b + qwen2.5:1.5b loaded at once) needs about")
    assert made.refusal.endswith("set ollama_memory_policy: warn to allow it")
    warned = make({**data, "ollama_memory_policy": "warn"})
    assert warned.refusal is None and [w for w in warned.warnings if w.startswith("ollama_preload (")]
    small = make({**data, "ollama_models": ["qwen2.5:0.5b", "qwen2.5:1.5b"]})
    assert small.refusal is None and small.preload == ["qwen2.5:0.5b", "qwen2.5:1.5b"]


# ---------------------------------------------------------------- the operations

@pytest.mark.parametrize("op_path", OPERATIONS)
def test_operations_have_changed_converged_and_bad_input_cases(op_path):
    cases = [json.loads(path.read_text()) for path in (FIXTURES / op_path).glob("*.json")]
    assert len(cases) >= 3
    assert any(case["commands"] and "exception" not in case for case in cases)
    assert any(not case["commands"] and case.get("noop_description") for case in cases)
    assert any("exception" in case for case in cases)
    assert all(case.get("note") for case in cases)


@pytest.mark.parametrize("op_path", OPERATIONS)
def test_docstrings_follow_pyinfra(op_path):
    doc = inspect.getdoc(OPERATIONS[op_path])
    first, _, rest = doc.partition("\n\n")
    assert "\n" not in first and first.endswith(".")
    parameters = list(inspect.signature(OPERATIONS[op_path]._inner).parameters)
    assert [line.split(":")[0][2:] for line in rest.splitlines() if line.startswith("+ ")] == parameters
    assert re.search(r"\*\*Examples?:\*\*", doc) and re.search(rf"{op_path}\(\n\s+name=", doc)


def test_the_unit_runs_after_ollama_and_loads_with_the_keep_alive():
    container = preload.unit_text(["qwen2.5:0.5b"], "http://127.0.0.1:11434", "5m")
    assert "After=docker.service\n" in container and "WantedBy=multi-user.target\n" in container
    assert ("ExecStart=/usr/bin/python3 /usr/local/lib/jetson-ollama/ollama-preload --api http://127.0.0.1:11434 "
            "--keep-alive 5m --wait 120 qwen2.5:0.5b\n") in container
    native = preload.unit_text(["a:1", "b:2"], "http://10.0.0.2:11434", 600, "ollama.service", "ollama.service", 30)
    assert "After=ollama.service\n" in native and "WantedBy=ollama.service\n" in native
    assert native.count("--keep-alive 600 --wait 30 a:1 b:2\n") == 1


# ---------------------------------------------------------------- the preload script

class _Ollama(JSONHandler):
    state: dict = {}

    def do_GET(self):
        if self.path == "/api/version":
            return self._answer(200, {"version": "0.6.8"})
        self._answer(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.state["requests"].append((self.path, body))
        if body.get("model") != MODEL:
            return self._answer(404, {"error": f"model '{body.get('model')}' not found"})
        self._answer(200, {"model": MODEL, "response": "", "done": True, "done_reason": "load"})


@pytest.fixture
def api():
    _Ollama.state = {"requests": []}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Ollama.state["requests"]
    httpd.shutdown()
    httpd.server_close()


def preload_script(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-S", str(FILES / "ollama-preload.py"), *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize(("keep_alive", "sent"), [("5m", "5m"), ("3600", 3600), ("-1", -1), ("1.5", 1.5)])
def test_the_script_loads_each_model_with_an_empty_request_and_the_keep_alive(api, keep_alive, sent):
    url, requests = api
    result = preload_script("--api", url, "--keep-alive", keep_alive, MODEL)
    assert result.returncode == 0, result.stderr
    assert requests == [("/api/generate", {"model": MODEL, "keep_alive": sent})]  # no prompt: a load only
    assert result.stdout.startswith(f"loaded {MODEL} (keep_alive {keep_alive})")


def test_the_script_says_which_model_did_not_load_and_fails(api):
    url, requests = api
    result = preload_script("--api", url, "--keep-alive", "5m", "qwen3:8b", MODEL)
    assert result.returncode == 1
    assert result.stderr == "ollama-preload: qwen3:8b did not load: model 'qwen3:8b' not found\n"
    assert [body["model"] for _, body in requests] == ["qwen3:8b", MODEL]  # the others still load


def test_the_script_waits_a_bounded_time_for_the_api():
    result = preload_script("--api", "http://127.0.0.1:9", "--keep-alive", "5m", "--wait", "1", MODEL)
    assert result.returncode == 1
    assert result.stderr == ("ollama-preload: the Ollama API at http://127.0.0.1:9 did not answer within 1 s: "
                             "nothing loaded\n")


# ---------------------------------------------------------------- start-ollama and the record

# docker as start-ollama uses it, over one state file: {name: {"label", "running", "env", "image"}}
FAKE_DOCKER = r'''
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
path = os.environ["FAKE_DOCKER_STATE"]
state = json.load(open(path))
def save():
    json.dump(state, open(path, "w"))
if args[0] == "version":
    sys.exit(0)
if args[0] == "run":
    name = args[args.index("--name") + 1]
    if name in state:
        sys.exit(f"docker: Error response from daemon: Conflict. The container name {name} is already in use.")
    env = [args[i + 1] for i, a in enumerate(args) if a == "-e"]
    label = args[args.index("--label") + 1].split("=", 1)[1]
    state[name] = {"label": label, "running": True, "env": env, "image": args[args.index("--label") + 2]}
    save()
    sys.exit(0)
name = args[1] if args[0] == "rename" else args[-1]
if name not in state:
    print(f"Error: No such object: {name}", file=sys.stderr)
    sys.exit(1)
box = state[name]
if args[0] == "inspect":
    form = args[args.index("-f") + 1] if "-f" in args else ""
    print({"{{.State.Running}}": "true" if box["running"] else "false", "{{.Config.Image}}": box["image"],
           "{{.State.Status}}": "running" if box["running"] else "exited",
           '{{index .Config.Labels "jetson-ollama.spec"}}': box["label"], "": "[{}]"}[form])
elif args[0] in ("start", "restart"):
    box["running"] = True
elif args[0] == "stop":
    box["running"] = False
elif args[0] == "rename":
    state[args[2]] = state.pop(args[1])
elif args[0] == "rm":
    del state[name]
else:
    sys.exit(f"fake docker: {args}")
save()
'''


class Board:
    """start-ollama rendered for a board whose API is the stub, the record in RECORD, docker faked."""

    def __init__(self, tmp: Path, url: str, containers: dict):
        self.tmp, self.bin = tmp, tmp / "bin"
        self.bin.mkdir()
        (self.bin / "docker").write_text(f"#!{os.path.realpath(sys.executable)} -S\n{FAKE_DOCKER}")
        (self.bin / "docker").chmod(0o755)
        (self.bin / "setsid").write_text('#!/bin/sh\n[ "$1" = --wait ] && shift\nexec "$@"\n')
        (self.bin / "setsid").chmod(0o755)
        self.state, self.log = tmp / "docker.json", tmp / "docker.log"
        self.state.write_text(json.dumps(containers))
        self.log.write_text("")
        port = int(url.rsplit(":", 1)[1])
        self.plan = sample_plan(port, [MODEL])
        render_to(tmp / "start-ollama", "start-ollama", script_context("board1", self.plan))
        self.record = tmp / "container.sh"
        self.env = {"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(tmp), "FAKE_DOCKER_LOG": str(self.log),
                    "FAKE_DOCKER_STATE": str(self.state), "JETSON_OLLAMA_CONTAINER_RECORD": str(self.record)}

    def write_record(self, keep_alive: str) -> tuple[str, list[str]]:
        """The record the service stage writes for ollama_keep_alive `keep_alive`: its label hash and env."""
        cfg = self.plan.settings
        env = {**self.plan.environment, "OLLAMA_KEEP_ALIVE": keep_alive}
        spec, spec_hash = container_spec(IMAGE, env, cfg.ollama_models_dir, cfg.ollama_container_models_dir)
        self.record.write_text(board.container_record("ollama", spec, spec_hash, spec_hash, self.plan.api_url, 5))
        return spec_hash, [f"{key}={value}" for key, value in spec["env"].items()]

    def run(self):
        return subprocess.run([str(self.tmp / "start-ollama")], env=self.env, capture_output=True, text=True,
                              timeout=30)

    def containers(self) -> dict:
        return json.loads(self.state.read_text())


@pytest.fixture
def recorded_board(tmp_path, api):
    url, _ = api
    return Board(tmp_path, url, {})


def test_start_ollama_restarts_the_recorded_container(recorded_board):
    spec_hash, env = recorded_board.write_record("30m")
    recorded_board.state.write_text(json.dumps({"ollama": {"label": spec_hash, "running": True, "env": env,
                                                           "image": IMAGE}}))
    result = recorded_board.run()
    assert result.returncode == 0, result.stderr
    assert "restart ollama" in recorded_board.log.read_text().splitlines()
    assert recorded_board.containers()["ollama"]["label"] == spec_hash


def test_start_ollama_replaces_a_container_with_old_settings_by_the_recorded_one(recorded_board):
    old_hash, old_env = recorded_board.write_record("5m")
    recorded_board.state.write_text(json.dumps({"ollama": {"label": old_hash, "running": True, "env": old_env,
                                                           "image": IMAGE}}))
    new_hash, new_env = recorded_board.write_record("30m")  # a converge with a new keep-alive recorded this
    result = recorded_board.run()
    assert result.returncode == 0, result.stderr
    assert "not the container the deploy recorded last" in result.stdout
    containers = recorded_board.containers()
    assert list(containers) == ["ollama"]  # the old one removed once the new one answered
    assert containers["ollama"]["label"] == new_hash and "OLLAMA_KEEP_ALIVE=30m" in containers["ollama"]["env"]
    assert "restart ollama" not in recorded_board.log.read_text().splitlines()  # made, not restarted


def test_start_ollama_makes_a_missing_container_from_the_record_not_the_script(recorded_board):
    new_hash, _ = recorded_board.write_record("30m")
    result = recorded_board.run()
    assert result.returncode == 0, result.stderr
    assert "making it as the deploy did last" in result.stdout
    ollama = recorded_board.containers()["ollama"]
    assert ollama["label"] == new_hash and "OLLAMA_KEEP_ALIVE=30m" in ollama["env"]
