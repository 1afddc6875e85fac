"""The rollout's health gate: the OllamaHealth fact (pyinfra-testing fixtures in
tests/unit/facts/health.OllamaHealth/, and its program run for real against a stdlib stub of Ollama's
API with a fake /proc/meminfo), gate.evaluate()/summary() for every problem, the rollback operations
(fixtures in tests/unit/operations/rollback.<op>/, and their commands run against a fake docker), and
the stage's wiring: restore then refuse on a failing board, drop the previous container on a passing one."""

from __future__ import annotations

import http.server
import json
import shlex
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyinfra.api import StringCommand
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.facts import make_fact_tests
from pyinfra_testing.util import FakeState, create_host

from jetson_ollama import gate
from jetson_ollama.facts.containers import OllamaContainer
from jetson_ollama.facts.health import MEMINFO, OllamaHealth
from jetson_ollama.images import ImagePlan
from jetson_ollama.operations import rollback
from jetson_ollama.plan import BoardPlan, ContainerRuntime
from jetson_ollama.stages import gate as gate_stage
from jetson_ollama.stages import preflight

from . import test_operation_conventions as conventions
from .stubs import JSONHandler

REPO = Path(__file__).parents[2]
FACT_FIXTURES = Path(__file__).parent / "facts" / "health.OllamaHealth"
OP_FIXTURES = Path(__file__).parent / "operations"
ROLLBACK_OPS = {"rollback.previous_restored": rollback.previous_restored,
                "rollback.previous_removed": rollback.previous_removed}

TestFixtures_health_OllamaHealth = make_fact_tests("jetson_ollama.facts", "health.OllamaHealth", FACT_FIXTURES)

MODEL = "qwen2.5:1.5b"
SIZE = 1_986_234_368
DIGEST = "65ec06548149b5be2e4cbb6b5e8e4a3d2d2bbf2e1d14c3d1c8aa5f0e3b3c9d11"
OTHER_DIGEST = "a8b0c51577010a279d933d14c2a8ab4b268079d44c5c8830c0a93900f1827c67"
TOTAL_KB = 7_803_064  # Orin Nano 8GB MemTotal (docs/facts.md section 1)


def _raw(command) -> str:
    return command.get_raw_value() if isinstance(command, StringCommand) else command


def _sh(command, **kwargs):
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60, **kwargs)


# ---------------------------------------------------------------- the fact

def test_fixtures_cover_the_answering_and_not_answering_board():
    facts = {path.stem: json.loads(path.read_text())["fact"] for path in FACT_FIXTURES.glob("*.json")}
    assert facts["healthy"]["version"] and facts["healthy"]["error"] is None
    assert facts["not-answering"]["version"] is None and "Connection refused" in facts["not-answering"]["error"]
    assert all(json.loads(path.read_text()).get("note") for path in FACT_FIXTURES.glob("*.json"))


def test_default_is_what_no_output_means():
    assert OllamaHealth().default() == {} == OllamaHealth().process([])


def test_command_quotes_url_and_model(tmp_path):
    hostile = "x'; touch {m}; echo '$(touch {m})`touch {m}`".format(m=tmp_path / "pwned")
    command = _raw(OllamaHealth().command(url="http://127.0.0.1:9/" + hostile, model=hostile))
    assert hostile in shlex.split(command)
    assert _sh(command).returncode == 0
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("bad", [{"num_predict": 0}, {"num_predict": "4; reboot"}, {"timeout": -1}])
def test_command_takes_only_positive_numbers(bad):
    with pytest.raises(ValueError):
        OllamaHealth().command(url="http://127.0.0.1:11434", model=MODEL, **bad)


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening, then closed: nothing answers there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_command_succeeds_and_reports_the_refused_connection_on_this_machine():
    port = _closed_port()
    command = _raw(OllamaHealth().command(url=f"http://127.0.0.1:{port}", model=MODEL))
    result = _sh(command)
    assert result.returncode == 0
    fact = OllamaHealth().process(result.stdout.splitlines())
    assert fact["version"] is None and "Connection refused" in fact["error"]
    assert fact["generate"] is None and fact["tags"] == {} and fact["ps"] == []
    assert fact["mem"]["total_kb"] > 0  # this machine's /proc/meminfo


def test_command_without_python3_gives_an_error_field(tmp_path):
    (tmp_path / "sh").symlink_to("/bin/sh")
    command = _raw(OllamaHealth().command(url="http://127.0.0.1:11434", model=MODEL))
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, env={"PATH": str(tmp_path)})
    assert result.returncode == 0
    fact = OllamaHealth().process(result.stdout.splitlines())
    assert list(fact) == ["error"] and "python3" in fact["error"]


# ---------------------------------------------------------------- the program against a stub of Ollama's API

def write_meminfo(path: Path, available_kb: int, total_kb: int = TOTAL_KB):
    path.write_text(f"MemTotal:       {total_kb} kB\nMemFree:         123456 kB\n"
                    f"MemAvailable:   {available_kb} kB\nSwapTotal:      3901532 kB\n")


class _Ollama(JSONHandler):
    state: dict = {}

    def do_GET(self):
        state = self.state
        if state["not_ollama"]:
            return self._answer(404, {"error": "not found"})
        if self.path == "/api/version":
            return self._answer(200, {"version": "0.6.8"})
        if self.path == "/api/tags":
            return self._answer(200, {"models": [
                {"name": name, "model": name, "size": SIZE, "digest": digest, "details": {"format": "gguf"}}
                for name, digest in state["tags"].items()]})
        if self.path == "/api/ps":
            return self._answer(200, {"models": [
                {"name": name, "model": name, "size": SIZE, "size_vram": int(SIZE * state["gpu_share"]),
                 "expires_at": "2025-05-05T06:10:39Z"} for name in state["loaded"]]})
        self._answer(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.state["requests"].append((self.path, body))
        model = body.get("model")
        if self.path != "/api/generate" or model not in self.state["tags"]:
            return self._answer(404, {"error": f"model '{model}' not found"})
        self.state["loaded"].append(model)
        write_meminfo(self.state["meminfo"], self.state["available_kb_loaded"])  # loading takes RAM
        count = 0 if self.state["no_tokens"] else body["options"]["num_predict"]
        self._answer(200, {"model": model, "response": "hi " * count, "done": True, "eval_count": count,
                           "eval_duration": 400_000_000})


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def board(server, tmp_path):
    """The stub's state, and `health(model, **kwargs)`: the fact's command run as the board runs it,
    with the meminfo argument pointing at a file here."""
    meminfo = tmp_path / "meminfo"
    write_meminfo(meminfo, 6_400_000)
    _Ollama.state = {"not_ollama": False, "tags": {MODEL: DIGEST}, "loaded": [], "gpu_share": 1.0,
                     "no_tokens": False, "requests": [], "meminfo": meminfo, "available_kb_loaded": 4_000_000}

    def health(model=MODEL, **kwargs):
        url = f"http://127.0.0.1:{server.server_address[1]}"
        words = shlex.split(_raw(OllamaHealth().command(url=url, model=model, **kwargs)))
        assert words[-4:] == [MEMINFO, "2>&1", "||", "true"]
        command = shlex.join(words[:-4] + [str(meminfo)]) + " 2>&1 || true"
        result = _sh(command, env={"PATH": "/usr/bin:/bin", "http_proxy": "http://127.0.0.1:9"})
        assert result.returncode == 0
        return OllamaHealth().process(result.stdout.splitlines())

    _Ollama.state["health"] = health
    return _Ollama.state


def test_program_reports_a_healthy_board(board):
    fact = board["health"](num_predict=6)
    assert fact == {
        "version": "0.6.8", "error": None, "tags": {MODEL: DIGEST},
        "generate": {"model": MODEL, "ok": True, "error": None, "eval_count": 6},
        "ps": [{"name": MODEL, "size": SIZE, "size_vram": SIZE}],
        "mem": {"total_kb": TOTAL_KB, "available_kb": 4_000_000},  # read after the generation loaded the model
    }
    (path, body), = board["requests"]
    assert path == "/api/generate" and body["stream"] is False and body["options"] == {"num_predict": 6}
    assert gate.evaluate(fact, gate.Expected("0.6.8", {MODEL: "sha256:" + DIGEST})) == []


def test_program_reports_a_model_partly_on_the_gpu(board):
    board["gpu_share"] = 0.5
    fact = board["health"]()
    assert fact["ps"] == [{"name": MODEL, "size": SIZE, "size_vram": SIZE // 2}]
    assert gate.evaluate(fact, gate.Expected(None, {MODEL: None})) == [
        f"{MODEL} not all on the GPU: 0.92 of 1.85 GiB in VRAM"]


def test_program_keeps_ollamas_error_for_a_missing_model(board):
    board["tags"] = {"qwen2.5:0.5b": OTHER_DIGEST}
    fact = board["health"]()
    assert fact["generate"] == {"model": MODEL, "ok": False, "eval_count": None,
                                "error": f"HTTP 404 from /api/generate: model '{MODEL}' not found"}
    assert fact["ps"] == [] and fact["mem"]["available_kb"] == 6_400_000


def test_program_counts_a_generation_without_tokens_as_failed(board):
    board["no_tokens"] = True
    assert board["health"]()["generate"] == {"model": MODEL, "ok": False, "error": "generated no tokens",
                                             "eval_count": None}


def test_program_without_a_model_generates_nothing(board):
    fact = board["health"](model=None)
    assert fact["generate"] is None and board["requests"] == [] and fact["tags"] == {MODEL: DIGEST}


def test_program_on_a_server_that_is_not_ollama(board):
    board["not_ollama"] = True
    fact = board["health"]()
    assert fact["version"] is None and fact["error"] == "HTTP 404 from /api/version: not found"
    assert board["requests"] == []  # no generation against something that is not Ollama


def test_program_without_meminfo_has_no_mem(board):
    board["meminfo"].unlink()
    board["tags"] = {}
    assert board["health"]()["mem"] is None


# ---------------------------------------------------------------- evaluate() and summary()

def healthy(**changes):
    report = {"version": "0.6.8", "error": None, "tags": {MODEL: DIGEST, "qwen2.5:0.5b": OTHER_DIGEST},
              "generate": {"model": MODEL, "ok": True, "error": None, "eval_count": 4},
              "ps": [{"name": MODEL, "size": SIZE, "size_vram": SIZE}],
              "mem": {"total_kb": 8_000_000, "available_kb": 4_000_000}}
    return {**report, **changes}


EXPECTED = gate.Expected(version="0.6.8", models={MODEL: "sha256:" + DIGEST, "qwen2.5:0.5b": None})


def test_all_green_has_no_problem():
    assert gate.evaluate(healthy(), EXPECTED) == []
    assert gate.evaluate(healthy(), gate.Expected(None, {})) == []


def test_red_percent_is_where_the_models_red_tier_begins():
    from jetson_ollama.catalog import tier_of
    assert tier_of(gate.RED_PERCENT) == "red" and tier_of(gate.RED_PERCENT - 1) == "yellow"
    assert EXPECTED.red_percent == gate.RED_PERCENT


@pytest.mark.parametrize("health, problem", [
    ({"version": None, "error": "http://127.0.0.1:11434/api/version: [Errno 111] Connection refused",
      "tags": {}, "generate": None, "ps": [], "mem": None},
     "Ollama API not answering: http://127.0.0.1:11434/api/version: [Errno 111] Connection refused"),
    ({}, "Ollama API not answering: no health report from the board"),
    ({"error": "no health report from the board: sh: 1: python3: not found"},
     "Ollama API not answering: no health report from the board: sh: 1: python3: not found"),
    (healthy(version="0.5.7"), "Ollama 0.5.7 answers, 0.6.8 expected"),
    (healthy(tags={MODEL: DIGEST}), "qwen2.5:0.5b missing from /api/tags"),
    (healthy(tags={MODEL: OTHER_DIGEST, "qwen2.5:0.5b": OTHER_DIGEST}),
     f"{MODEL} has manifest {OTHER_DIGEST[:12]}, models.lock {DIGEST[:12]}"),
    (healthy(generate={"model": MODEL, "ok": False, "error": "HTTP 500 from /api/generate: out of memory",
                       "eval_count": None}, ps=[]),
     f"generating with {MODEL} failed: HTTP 500 from /api/generate: out of memory"),
    (healthy(generate=None), f"generating with {MODEL} failed: no generation ran"),
    (healthy(ps=[{"name": MODEL, "size": SIZE, "size_vram": 0}]),
     f"{MODEL} not all on the GPU: 0.00 of 1.85 GiB in VRAM"),
    (healthy(ps=[{"name": "qwen2.5:0.5b", "size": 1, "size_vram": 1}]), f"{MODEL} not in /api/ps after generating"),
    (healthy(mem={"total_kb": 8_000_000, "available_kb": 1_200_000}),
     "RAM 85.0 % used after generating (red from 85 %)"),
], ids=["refused", "no-report", "no-python", "version", "missing", "digest", "generate", "no-generate", "cpu",
        "not-loaded", "red"])
def test_each_problem_is_one_line(health, problem):
    assert gate.evaluate(health, EXPECTED) == [problem]


def test_problems_add_up_and_an_api_down_skips_the_model_checks():
    health = healthy(version="0.5.7", tags={}, mem={"total_kb": 100, "available_kb": 1})
    assert gate.evaluate(health, EXPECTED) == [
        "Ollama 0.5.7 answers, 0.6.8 expected", f"{MODEL} missing from /api/tags",
        "qwen2.5:0.5b missing from /api/tags", "RAM 99.0 % used after generating (red from 85 %)"]
    down = {"version": None, "error": "refused", "mem": {"total_kb": 100, "available_kb": 50}}
    assert gate.evaluate(down, EXPECTED) == ["Ollama API not answering: refused"]


def test_just_below_red_passes_and_an_unknown_version_is_not_checked():
    assert gate.evaluate(healthy(mem={"total_kb": 8_000_000, "available_kb": 1_200_001}), EXPECTED) == []
    assert gate.evaluate(healthy(version="0.9.0"), gate.Expected(None, {MODEL: None})) == []


def test_summary_is_what_the_final_table_shows():
    assert gate.summary(healthy()) == {"version": "0.6.8", "mem_percent": 50.0,
                                       "models": {MODEL: DIGEST[:12], "qwen2.5:0.5b": OTHER_DIGEST[:12]}}
    assert gate.summary({}) == {"version": None, "models": {}, "mem_percent": None}


# ---------------------------------------------------------------- the rollback operations

@pytest.mark.parametrize("op_path", ROLLBACK_OPS)
def test_rollback_operations_follow_the_conventions(op_path, monkeypatch):
    monkeypatch.setitem(conventions.OPERATIONS, op_path, ROLLBACK_OPS[op_path])
    conventions.test_every_operation_has_absent_converged_changed_and_bad_input_cases(op_path)
    conventions.test_docstrings_follow_pyinfra(op_path)


# a docker that keeps containers in a JSON file: inspect (exact names), rm -f, rename, start
FAKE_DOCKER = r'''
import json, os, sys
path = os.environ["FAKE_DOCKER_STATE"]
with open(path) as f:
    containers = json.load(f)
args = sys.argv[1:]
with open(path + ".log", "a") as log:
    log.write(" ".join(args) + "\n")
if args[:2] == ["container", "inspect"]:
    if args[2] not in containers:
        print("[]")
        sys.exit("Error: No such container: " + args[2])
    print(json.dumps([{"Name": "/" + args[2], "Image": containers[args[2]]["image"],
                       "State": {"Running": containers[args[2]]["running"], "Status": "running"},
                       "Config": {"Image": containers[args[2]]["image"], "Labels": {}}}]))
    sys.exit()
if args[:2] == ["rm", "-f"]:
    containers.pop(args[2], None)
elif args[0] == "rename":
    if args[1] not in containers or args[2] in containers:
        sys.exit("Error: cannot rename " + args[1])
    containers[args[2]] = containers.pop(args[1])
elif args[0] == "start":
    containers[args[1]]["running"] = True
else:
    sys.exit("fake docker: unexpected " + " ".join(args))
with open(path, "w") as f:
    json.dump(containers, f)
'''


@pytest.fixture
def docker(tmp_path):
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    (fakebin / "docker").write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    (fakebin / "docker").chmod(0o755)
    state = tmp_path / "containers.json"
    env = {"PATH": f"{fakebin}:/usr/bin:/bin", "FAKE_DOCKER_STATE": str(state)}

    def converge(op, containers=None):
        """Runs `op` the way pyinfra would: facts from the fake docker, then its commands."""
        if containers is not None:
            state.write_text(json.dumps(containers))
        facts = {}
        for name in ("ollama", "ollama-previous"):
            result = _sh(_raw(OllamaContainer().command(container=name)), env=env)
            assert result.returncode == 0
            facts[f"container={name}"] = OllamaContainer().process(result.stdout.splitlines())
        fake_state = FakeState()
        host = create_host(fake_state, facts={"containers.OllamaContainer": facts})
        with ctx_state.use(fake_state), ctx_host.use(host):
            commands = [_raw(command) for command in op._inner(container="ollama")]
        for command in commands:
            result = _sh(command, env=env)
            assert result.returncode == 0, result.stderr
        return commands, host.noop_description, json.loads(state.read_text())

    return converge


def test_restore_brings_the_previous_container_back_running_then_does_nothing(docker):
    commands, _, containers = docker(rollback.previous_restored, {
        "ollama": {"image": "ollama:0.9.0-r36.4", "running": True},
        "ollama-previous": {"image": "dustynv/ollama:r36.2.0", "running": False}})
    assert commands == ["docker rm -f ollama", "docker rename ollama-previous ollama", "docker start ollama",
                        "rm -f /var/lib/jetson-ollama/container.sh"]
    assert containers == {"ollama": {"image": "dustynv/ollama:r36.2.0", "running": True}}
    commands, noop, _ = docker(rollback.previous_restored)
    assert commands == [] and noop == "no previous ollama to restore"


def test_restore_without_a_current_container_renames_and_starts(docker):
    commands, _, containers = docker(rollback.previous_restored, {
        "ollama-previous": {"image": "dustynv/ollama:r36.2.0", "running": False}})
    assert commands == ["docker rename ollama-previous ollama", "docker start ollama",
                        "rm -f /var/lib/jetson-ollama/container.sh"]
    assert containers == {"ollama": {"image": "dustynv/ollama:r36.2.0", "running": True}}


def test_remove_drops_only_the_previous_container_then_does_nothing(docker):
    current = {"image": "ollama:0.9.0-r36.4", "running": True}
    commands, _, containers = docker(rollback.previous_removed, {
        "ollama": current, "ollama-previous": {"image": "dustynv/ollama:r36.2.0", "running": False}})
    assert commands == ["docker rm -f ollama-previous"] and containers == {"ollama": current}
    commands, noop, containers = docker(rollback.previous_removed)
    assert commands == [] and noop == "no previous ollama kept" and containers == {"ollama": current}


# ---------------------------------------------------------------- the stage

class _Board:
    """Stands in for pyinfra's `host` in the stage: answers OllamaHealth, records the fact's arguments."""

    def __init__(self, name, health):
        self.name, self.health, self.asked = name, health, []

    def get_fact(self, fact_cls, **kwargs):
        assert fact_cls is OllamaHealth
        self.asked.append(kwargs)
        return self.health

    def noop(self, description):
        self.noop_description = description


@pytest.fixture
def stage(monkeypatch, tmp_path):
    """Runs the stage's function for one board with its operations recorded, not run."""
    calls = []
    monkeypatch.setattr(gate_stage.rollback, "previous_restored", lambda **kw: calls.append(("restored", kw)))
    monkeypatch.setattr(gate_stage.rollback, "previous_removed", lambda **kw: calls.append(("removed", kw)))
    monkeypatch.setattr(gate_stage, "refused", lambda **kw: calls.append(("refused", kw)))
    monkeypatch.setattr(preflight, "refused", lambda **kw: calls.append(("refused", kw)))  # stop_if_refused's
    lock_file = tmp_path / "models.lock"
    lock_file.write_text(f"{MODEL}:\n  manifest: sha256:{DIGEST}\n  blobs:\n"
                         f"    - {{digest: sha256:{OTHER_DIGEST}, size: 1,"
                         " media_type: application/vnd.ollama.image.model}\n")

    def run(health, models=(MODEL, "qwen2.5:0.5b"), image_version="0.6.8", refusal=None, lock_text=None,
            ollama_version=None):
        if lock_text is not None:
            lock_file.write_text(lock_text)
        cfg = SimpleNamespace(ollama_lock_file=str(lock_file), ollama_version=ollama_version,
                              ollama_container_name="ollama", api_url="http://127.0.0.1:11434")
        plan = BoardPlan(settings=cfg, refusal=refusal, models=list(models),
                         runtime=ContainerRuntime(
                             ImagePlan("prebuilt", "dustynv/ollama:r36.2.0", None, image_version), {}))
        monkeypatch.setattr(gate_stage, "plan_for", lambda host: plan)
        board = _Board("nano-1", health)
        gate_stage.RESULTS.clear()
        with ctx_host.use(board):
            gate_stage.health_gate._inner()
        return calls, board

    return run


def test_stage_drops_the_previous_container_of_a_healthy_board(stage):
    calls, board = stage(healthy())
    assert calls == [("removed", {"name": "Drop the previous ollama container", "container": "ollama"})]
    assert board.asked == [{"url": "http://127.0.0.1:11434", "model": MODEL, "timeout": gate_stage.LOAD_TIMEOUT}]
    assert gate_stage.RESULTS == {"nano-1": {"ok": True, "problems": [], **gate.summary(healthy())}}
    assert board.noop_description == (f"health gate passed: Ollama 0.6.8, qwen2.5:0.5b {OTHER_DIGEST[:12]}, "
                                      f"{MODEL} {DIGEST[:12]}, RAM 50.0 % used")


def test_stage_restores_then_refuses_a_failing_board_with_one_line(stage):
    calls, _ = stage(healthy(version="0.5.7", tags={MODEL: OTHER_DIGEST, "qwen2.5:0.5b": OTHER_DIGEST}))
    assert [call[0] for call in calls] == ["restored", "refused"]
    assert calls[1][1] == {"name": "Health gate", "reason": (
        f"health gate failed: Ollama 0.5.7 answers, 0.6.8 expected; "
        f"{MODEL} has manifest {OTHER_DIGEST[:12]}, models.lock {DIGEST[:12]}")}
    assert gate_stage.RESULTS["nano-1"]["ok"] is False and len(gate_stage.RESULTS["nano-1"]["problems"]) == 2


def test_stage_expects_the_configured_version_when_the_image_names_none(stage):
    calls, _ = stage(healthy(), image_version=None, ollama_version="0.9.0")
    assert calls[-1][1]["reason"] == "health gate failed: Ollama 0.6.8 answers, 0.9.0 expected"


def test_stage_with_an_empty_model_set_generates_nothing(stage):
    calls, board = stage(healthy(tags={}, generate=None, ps=[]), models=(), image_version=None)
    assert board.asked[0]["model"] is None and [call[0] for call in calls] == ["removed"]


def test_stage_records_a_refused_board_without_asking_it(stage):
    calls, board = stage(healthy(), refusal="not a Jetson (x86_64, no /etc/nv_tegra_release)")
    assert board.asked == [] and [call[0] for call in calls] == ["refused"]  # the preflight's refusal, once
    assert gate_stage.RESULTS["nano-1"]["problems"] == ["not a Jetson (x86_64, no /etc/nv_tegra_release)"]


def test_stage_refuses_without_restoring_when_the_lock_cannot_be_read(stage):
    calls, board = stage(healthy(), lock_text="qwen2.5:1.5b: [not, an, entry]\n")
    assert board.asked == [] and [call[0] for call in calls] == ["refused"]
    reason = calls[0][1]["reason"]
    assert reason.startswith("health gate cannot read the lock: ") and "needs manifest" in reason


def test_gate_deploy_refuses_this_machine_with_one_line():
    result = subprocess.run([Path(sys.executable).parent / "pyinfra", "@local", "deploys/gate.py", "-y"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "jetson-ollama refused @local: not a Jetson (x86_64, no /etc/nv_tegra_release)" in result.stderr
