"""The board scripts (templates/*.j2, stage 6): rendered with the context the stage builds, under
StrictUndefined as pyinfra renders them, then run here as a board runs them, against fakes: a stdlib
stub of Ollama's API on 127.0.0.1 (/api/version, /api/ps, /api/generate; docs/facts.md section 5), a fake
`docker` and a fake `tegrastats` printing the recorded line format (docs/facts.md section 2), and a fake
/proc/meminfo (JETSON_OLLAMA_MEMINFO)."""

from __future__ import annotations

import csv
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
from pyinfra.api import StringCommand
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.util import FakeState, create_host

from jetson_ollama.config import ConfigError, ollama_environment, settings
from jetson_ollama.images import ImagePlan
from jetson_ollama.operations import ollama
from jetson_ollama.plan import BoardPlan, ContainerRuntime
from jetson_ollama.stages.board_scripts import SCRIPTS, TEMPLATES, THRESHOLDS, docker_run_line, script_context

from .stubs import JSONHandler

BASH_SCRIPTS = ("start-ollama", "quick-test")
PYTHON_SCRIPTS = ("monitor", "bench")
IMAGE = "dustynv/ollama:r36.2.0"
MODEL = "qwen2.5:1.5b"
MODEL_SIZE = 1_986_234_368  # bytes /api/ps reports for the loaded model
TOKENS_PER_S = 9.6  # the stub's decode speed (the log's board: 9.1-9.7 tok/s for qwen2.5:7b, docs/facts.md section 6)
TOTAL_MB = 7620  # Orin Nano 8GB MemTotal (docs/facts.md section 1)
# docs/facts.md section 2, Orin Nano JetPack 6, with one missing sensor (-256C) as tegrastats prints it
NANO_TAIL = ("CPU [1%@729,2%@729,0%@729,0%@729,1%@729,0%@729] GR3D_FREQ 37% cpu@44.156C "
             "soc2@43.5C gpu@45.968C cv0@-256C tj@46.5C VDD_IN 5263mW/5263mW VDD_CPU_GPU_CV 717mW/717mW "
             "VDD_SOC 1794mW/1794mW")
# AGX Orin has no VDD_IN rail (docs/facts.md section 2; the other rails' names are unverified)
AGX_TAIL = ("CPU [1%@1190,0%@1190] GR3D_FREQ 5% cpu@41.1C gpu@40.2C tj@42.0C VDD_GPU_SOC 3193mW/3193mW "
            "VDD_CPU_CV 810mW/810mW VIN_SYS_5V0 4420mW/4420mW VDDQ_VDD2_1V8AO 655mW/655mW")


# ---------------------------------------------------------------- a stub of Ollama's API

class _Ollama(JSONHandler):
    state: dict = {}


    def do_GET(self):
        if self.path == "/api/version":
            return self._answer(200, {"version": "0.6.8"})
        if self.path == "/api/ps":
            share = self.state["gpu_share"]
            return self._answer(200, {"models": [
                {"name": name, "model": name, "size": MODEL_SIZE, "size_vram": int(MODEL_SIZE * share),
                 "expires_at": "2025-05-05T06:10:39.000000000Z"}
                for name in self.state["loaded"]]})
        self._answer(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.state["requests"].append((self.path, body))
        if self.path != "/api/generate":
            return self._answer(404, {"error": "not found"})
        model = body.get("model")
        if model not in ("qwen2.5:1.5b", "qwen2.5:0.5b"):
            return self._answer(404, {"error": f"model '{model}' not found"})
        cold = model not in self.state["loaded"]
        self.state["loaded"][model] = True
        if not body.get("prompt"):  # an empty prompt only loads the model
            return self._answer(200, {"model": model, "response": "", "done": True, "done_reason": "load"})
        count = (body.get("options") or {}).get("num_predict", 32)
        self._answer(200, {
            "model": model, "response": "hello " * count, "done": True, "done_reason": "length",
            "total_duration": 4_000_000_000, "load_duration": 2_500_000_000 if cold else 50_000_000,
            "prompt_eval_count": len(body["prompt"].split()) + 10, "prompt_eval_duration": 123_000_000,
            "eval_count": count, "eval_duration": int(count / TOKENS_PER_S * 1e9),
        })


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def api(server):
    _Ollama.state = {"gpu_share": 1.0, "loaded": {}, "requests": []}
    return _Ollama.state


# ---------------------------------------------------------------- fakes: docker, tegrastats, meminfo

FAKE_DOCKER = r'''
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
path = os.environ["FAKE_DOCKER_STATE"]
with open(path) as f:
    state = json.load(f)
name = args[-1] if args else ""
if args[:1] == ["run"]:  # what start-ollama may run: the deploy's recorded line makes the container
    state.update(exists=True, running=True, image=args[args.index("--label") + 2])
    with open(path, "w") as f:
        json.dump(state, f)
    print("0123456789ab")
    sys.exit(0)
if args[:1] == ["version"]:
    print("Client: Docker Engine - Community\n Version: 26.1.5")
    sys.exit(0)
if not state["exists"]:
    if args[0] == "inspect":
        print()  # as docker does: a blank line on stdout, then the error
    print(f"Error: No such object: {name}" if args[0] == "inspect" else f"Error: No such container: {name}",
          file=sys.stderr)
    sys.exit(1)
if args[0] == "inspect":
    print({"{{.Config.Image}}": state["image"], "{{.State.Running}}": "true" if state["running"] else "false",
           "{{.State.Status}}": "running" if state["running"] else "exited"}[args[args.index("-f") + 1]])
elif args[0] == "stats":
    print("0.52% 1.21GiB / 7.441GiB")
elif args[0] in ("start", "restart"):
    state["running"] = True
    with open(path, "w") as f:
        json.dump(state, f)
    print(name)
else:
    sys.exit(f"fake docker: {args}")
'''

# prints the recorded line (RAM and SWAP from the meminfo it is given, as the real one reads the board's)
FAKE_TEGRASTATS = r'''
import os, sys, time
interval = int(sys.argv[sys.argv.index("--interval") + 1]) / 1000 if "--interval" in sys.argv else 1
while True:
    kb = {}
    for line in open(os.environ.get("JETSON_OLLAMA_MEMINFO", "/proc/meminfo")):
        key, _, rest = line.partition(":")
        kb[key] = int(rest.split()[0])
    used = (kb["MemTotal"] - kb["MemAvailable"]) // 1024
    swap = (kb["SwapTotal"] - kb["SwapFree"]) // 1024
    print(time.strftime("%m-%d-%Y %H:%M:%S"), f"RAM {used}/{kb['MemTotal'] // 1024}MB (lfb 9x4MB)",
          f"SWAP {swap}/{kb['SwapTotal'] // 1024}MB (cached 0MB)", os.environ["FAKE_TEGRASTATS_TAIL"], flush=True)
    time.sleep(interval)
'''

FAKE_NVIDIA_SMI = r'''
import os, sys
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write("nvidia-smi " + " ".join(sys.argv[1:]) + "\n")
print("[N/A]" if any("memory" in a for a in sys.argv) else "Orin (nvgpu)")
'''


def write_meminfo(path: Path, available_mb: int, total_mb: int = TOTAL_MB, swap_used_mb: int = 0):
    kb = 1024
    partial = path.with_name(path.name + ".new")  # replaced at once: a script never reads half of it
    partial.write_text(
        f"MemTotal:       {total_mb * kb:>8} kB\n"
        f"MemFree:        {available_mb * kb * 2 // 3:>8} kB\n"
        f"MemAvailable:   {available_mb * kb:>8} kB\n"
        f"Buffers:        {20 * kb:>8} kB\n"
        f"Cached:         {available_mb * kb // 4:>8} kB\n"
        f"SwapCached:            0 kB\n"
        f"SwapTotal:      {3810 * kb:>8} kB\n"
        f"SwapFree:       {(3810 - swap_used_mb) * kb:>8} kB\n"
    )
    partial.replace(path)


class Board:
    """The scripts rendered for a board whose API is the stub, with fakes first on PATH."""

    def __init__(self, tmp: Path, port: int, models: list[str], tegrastats: bool = True):
        self.tmp = tmp
        self.bin, self.scripts = tmp / "fakebin", tmp / "scripts"
        self.bin.mkdir()
        self.scripts.mkdir()
        # stdlib only, as on a board: no site-packages (-S), which also keeps each start-up short
        python = f"{os.path.realpath(sys.executable)} -S"
        (self.bin / "python3").write_text(f'#!/bin/sh\nexec {python} "$@"\n')
        (self.bin / "python3").chmod(0o755)
        fakes = {"docker": FAKE_DOCKER, "nvidia-smi": FAKE_NVIDIA_SMI}
        if tegrastats:
            fakes["tegrastats"] = FAKE_TEGRASTATS
        for name, source in fakes.items():
            (self.bin / name).write_text(f"#!{python}\n{source}")
            (self.bin / name).chmod(0o755)
        self.meminfo, self.docker_log = tmp / "meminfo", tmp / "docker.log"
        self.docker_state = tmp / "docker.json"
        self.docker_log.write_text("")
        self.set_docker(exists=True, running=True, image=IMAGE)
        write_meminfo(self.meminfo, available_mb=5000)
        self.plan = sample_plan(port, models, models_dir=str(tmp))
        self.context = script_context("board1", self.plan)
        for script in SCRIPTS:
            render_to(self.scripts / script, script, self.context)
        self.bench_file = tmp / "state" / "bench.json"
        self.env = {
            "PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(tmp), "LC_ALL": "C.UTF-8",
            "JETSON_OLLAMA_MEMINFO": str(self.meminfo), "JETSON_OLLAMA_BENCH_FILE": str(self.bench_file),
            "JETSON_OLLAMA_STATE_DIR": str(self.bench_file.parent),
            "FAKE_DOCKER_LOG": str(self.docker_log), "FAKE_DOCKER_STATE": str(self.docker_state),
            "FAKE_TEGRASTATS_TAIL": NANO_TAIL,
        }

    def set_docker(self, **state):
        self.docker_state.write_text(json.dumps(state))

    def docker_calls(self) -> list[str]:
        return self.docker_log.read_text().splitlines()

    def run(self, script, *args, timeout=15, **env):
        return subprocess.run([str(self.scripts / script), *args], env={**self.env, **env}, capture_output=True,
                              text=True, timeout=timeout)


def sample_plan(port: int, models: list[str], models_dir: str = "/opt/ollama/models") -> BoardPlan:
    cfg = settings({"ollama_host": f"127.0.0.1:{port}", "ollama_models": models, "ollama_models_dir": models_dir})
    return BoardPlan(settings=cfg, runtime=ContainerRuntime(ImagePlan("prebuilt", IMAGE, None, None),
                                                            ollama_environment(cfg, 6)), models=list(models))


def environment() -> jinja2.Environment:
    # as pyinfra's files.template renders (pyinfra.api.util.get_template)
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render(script: str, context: dict) -> str:
    return environment().from_string((TEMPLATES / f"{script}.j2").read_text()).render(**context)


def render_to(path: Path, script: str, context: dict):
    path.write_text(render(script, context))
    path.chmod(0o755)


@pytest.fixture
def board(tmp_path, server, api):
    return Board(tmp_path, server.server_address[1], [MODEL])


def lines(output: str) -> dict[str, tuple[str, str]]:
    """quick-test's lines as {check: (OK|FAIL, detail)}."""
    found = {}
    for line in output.splitlines():
        verdict, _, rest = line.partition(" ")
        check, _, detail = rest.strip().partition(": ")
        found[check] = (verdict, detail)
    return found


# ---------------------------------------------------------------- rendering

@pytest.mark.parametrize("script", SCRIPTS)
def test_renders_with_the_stage_context_and_parses(script, tmp_path):
    text = render(script, script_context("nano-01", sample_plan(11434, [MODEL])))
    first, second = text.splitlines()[:2]
    assert first in ("#!/usr/bin/env bash", "#!/usr/bin/env python3")
    assert second.startswith("# installed by jetson-ollama for nano-01; do not edit")
    assert "{%" not in text and "endraw" not in text and text.endswith("\n") and not text.endswith("\n\n")
    path = tmp_path / script
    path.write_text(text)
    if script in BASH_SCRIPTS:
        assert first.endswith("bash")
        check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    else:
        assert first.endswith("python3")
        compile(text, script, "exec")


def test_every_context_key_is_used_and_nothing_else_is_needed():
    context = script_context("nano-01", sample_plan(11434, [MODEL]))
    env = environment()
    needed = {script: jinja2.meta.find_undeclared_variables(env.parse((TEMPLATES / f"{script}.j2").read_text()))
              for script in SCRIPTS}
    assert set().union(*needed.values()) == set(context)
    assert context["thresholds"] == {"ram_warn_pct": 80, "ram_critical_pct": 90, "available_emergency_mb": 200}
    assert THRESHOLDS == context["thresholds"]
    for script, names in needed.items():  # StrictUndefined: a missing key fails the render
        with pytest.raises(jinja2.UndefinedError):
            render(script, {key: value for key, value in context.items() if key != sorted(names)[0]})


def test_context_follows_the_plan():
    plan = sample_plan(11500, ["qwen2.5:1.5b", "qwen2.5:0.5b"])
    context = script_context("agx-01", plan)
    assert (context["board"], context["image"], context["container"]) == ("agx-01", IMAGE, "ollama")
    assert context["api"] == "http://127.0.0.1:11500"
    assert (context["models"], context["test_model"]) == (["qwen2.5:1.5b", "qwen2.5:0.5b"], "qwen2.5:1.5b")
    assert context["bench_num_predict"] == 64 and len(context["bench_prompts"]) == 3
    assert script_context("agx-01", sample_plan(11500, []))["test_model"] == ""
    lan = BoardPlan(settings=settings({"ollama_allow_from": ["10.0.0.0/8"], "ssh_hostname": "10.0.0.21"}),
                    runtime=plan.runtime)
    assert script_context("agx-01", lan)["api"] == "http://10.0.0.21:11434"  # where the API binds with allow_from


def test_docker_run_line_is_the_command_the_service_stage_runs():
    plan = sample_plan(11434, [MODEL])
    cfg = plan.settings
    state = FakeState()
    host = create_host(state, facts={"containers.DockerImages": [],
                                     "containers.OllamaContainer": {"container=ollama": {}}})
    with ctx_state.use(state), ctx_host.use(host):
        commands = list(ollama.container._inner(
            container=cfg.ollama_container_name, image=plan.image.ref, env=plan.environment,
            models_dir=cfg.ollama_models_dir, container_models_dir=cfg.ollama_container_models_dir))
    runs = [c.get_raw_value() for c in commands if isinstance(c, StringCommand) and "docker run" in c.get_raw_value()]
    assert runs == [docker_run_line(plan)]
    assert "--runtime nvidia" in runs[0] and "-e JETSON_JETPACK=6" in runs[0]


def test_values_are_shell_quoted(tmp_path):
    context = {**script_context("nano-01", sample_plan(11434, [MODEL])), "docker_run": "docker run -e 'A=it'\\''s' x"}
    path = tmp_path / "start-ollama"
    render_to(path, "start-ollama", context)
    shown = subprocess.run(["bash", "-c", f'eval "$(grep "^DOCKER_RUN=" {path})"; printf %s "$DOCKER_RUN"'],
                           capture_output=True, text=True)
    assert shown.stdout == context["docker_run"]


# ---------------------------------------------------------------- start-ollama

def test_start_ollama_starts_a_stopped_container_and_waits_for_the_api(board):
    board.set_docker(exists=True, running=False, image=IMAGE)
    result = board.run("start-ollama")
    assert result.returncode == 0, result.stderr
    assert "start ollama" in board.docker_calls()
    assert result.stdout.splitlines()[-1] == f"Ollama 0.6.8 answers at {board.context['api']}"


def test_start_ollama_restarts_a_running_container(board):
    result = board.run("start-ollama")
    assert result.returncode == 0, result.stderr
    assert "restart ollama" in board.docker_calls() and "start ollama" not in board.docker_calls()


def test_start_ollama_makes_a_missing_container_as_the_deploy_did_last(board):
    # the deploy recorded its docker run line (spec label included) in the script: a board left without
    # its container (removed by hand, a replacement cut short) gets it back from there
    board.set_docker(exists=False, running=False, image="")
    result = board.run("start-ollama")
    assert result.returncode == 0, result.stderr
    assert "making it as the deploy did last" in result.stdout
    runs = [call for call in board.docker_calls() if call.split()[0] == "run"]
    assert runs == [board.context["docker_run"].removeprefix("docker ")]
    assert "--label jetson-ollama.spec=" in runs[0]


def test_start_ollama_fails_with_one_line_when_the_api_stays_down(tmp_path, api):
    closed = Board(tmp_path, 9, [MODEL])  # port 9 (discard): nothing listens on it here
    started = time.monotonic()
    result = closed.run("start-ollama", START_OLLAMA_WAIT="1")
    assert result.returncode == 1 and time.monotonic() - started < 10
    assert result.stderr.strip().endswith("docker logs --tail 20 ollama)")
    assert "did not answer within 1 s" in result.stderr


# ---------------------------------------------------------------- quick-test

def test_quick_test_passes_all_six_when_the_model_is_on_the_gpu(board):
    result = board.run("quick-test")
    found = lines(result.stdout)
    assert list(found) == ["image", "service", "api", "gpu", "inference", "resources"]
    assert all(verdict == "OK" for verdict, _ in found.values()), result.stdout
    assert result.returncode == 0
    assert found["api"][1] == f"Ollama 0.6.8 at {board.context['api']}"
    assert found["inference"][1] == f"{MODEL}: 16 tokens at {TOKENS_PER_S:.1f} tokens/s"
    assert found["resources"][1].startswith(f"RAM {TOTAL_MB - 5000}/{TOTAL_MB} MB used (34.4 %), 5000 MB available")
    loads = [body for path, body in _Ollama.state["requests"] if not body.get("prompt")]
    assert loads == [{"model": MODEL, "prompt": "", "stream": False, "keep_alive": "5m"}]
    assert not [call for call in board.docker_calls() if call.startswith("nvidia-smi")]


@pytest.mark.parametrize("share, detail", [
    (0.0, f"{MODEL} runs on CPU (size_vram 0 of {MODEL_SIZE})"),
    (0.5, f"{MODEL} only partly on the GPU (size_vram {MODEL_SIZE // 2} of {MODEL_SIZE} = 50 %)"),
])
def test_quick_test_fails_exactly_the_gpu_line_when_the_model_is_not_all_on_the_gpu(board, share, detail):
    _Ollama.state["gpu_share"] = share
    result = board.run("quick-test")
    found = lines(result.stdout)
    assert {check for check, (verdict, _) in found.items() if verdict == "FAIL"} == {"gpu"}, result.stdout
    assert found["gpu"][1] == detail
    assert result.returncode == 1


def test_quick_test_exit_status_counts_the_fails(board):
    board.set_docker(exists=True, running=True, image="dustynv/ollama:r36.2.0-old")
    write_meminfo(board.meminfo, available_mb=150)  # the log's qwen3:8b moment: about 158 MiB free
    result = board.run("quick-test")
    found = lines(result.stdout)
    assert found["image"] == ("FAIL", f"ollama runs dustynv/ollama:r36.2.0-old, the deploy wants {IMAGE} "
                                      "(run the deploy)")
    assert found["resources"][0] == "FAIL"
    assert "RAM over 90 %" in found["resources"][1] and "under 200 MB available" in found["resources"][1]
    assert result.returncode == 2


def test_quick_test_without_a_container_or_a_model(tmp_path, server, api):
    empty = Board(tmp_path, server.server_address[1], [])
    empty.set_docker(exists=False, running=False, image="")
    result = empty.run("quick-test")
    found = lines(result.stdout)
    assert found["image"] == ("FAIL", "no container ollama (Error: No such object: ollama)")
    assert found["service"][0] == "FAIL"
    assert found["gpu"] == ("FAIL", "no model to load: the board's model set is empty (ollama_models)")
    assert found["inference"][0] == "FAIL"
    assert (found["api"][0], found["resources"][0]) == ("OK", "OK")
    assert result.returncode == 4


def test_quick_test_when_the_api_does_not_answer(tmp_path, api):
    down = Board(tmp_path, 9, [MODEL])
    found = lines(down.run("quick-test").stdout)
    assert [check for check, (verdict, _) in found.items() if verdict == "FAIL"] == ["api", "gpu", "inference"]
    assert found["gpu"][1].startswith(f"loading {MODEL}: no answer from http://127.0.0.1:9")



def write_store(models_dir: Path, model: str, sizes: list[int]) -> list[Path]:
    """A library manifest of `model` (config, then layers, of these sizes) and its blobs; the blob paths."""
    name, _, tag = model.partition(":")
    entries = [{"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{index:x}{model.encode().hex()}",
                "size": size} for index, size in enumerate(sizes)]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": entries[0], "layers": entries[1:]}
    path = models_dir / "manifests" / "registry.ollama.ai" / "library" / name / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))
    (models_dir / "blobs").mkdir(exist_ok=True)
    blobs = []
    for entry in entries:
        blob = models_dir / "blobs" / entry["digest"].replace(":", "-")
        blob.write_bytes(b"x" * entry["size"])
        blobs.append(blob)
    return blobs


def test_quick_test_passes_a_sound_model_store(board):
    write_store(board.tmp, MODEL, [480, 4000, 120])
    write_store(board.tmp, "qwen2.5:0.5b", [400, 3000])
    (board.tmp / "manifests" / "registry.ollama.ai" / "library" / "qwen2.5" / ".7b-partial").write_text("{")
    result = board.run("quick-test")
    found = lines(result.stdout)
    assert all(verdict == "OK" for verdict, _ in found.values()), result.stdout
    assert result.returncode == 0


@pytest.mark.parametrize("damage, said", [
    (lambda blob: blob.write_bytes(b"x" * 120), "is 120 bytes, the manifest says 3000"),
    (lambda blob: blob.unlink(), "is missing"),
])
def test_quick_test_fails_the_resources_line_for_a_truncated_or_missing_blob(board, damage, said):
    write_store(board.tmp, MODEL, [480, 4000])
    config, layer = write_store(board.tmp, "qwen2.5:0.5b", [400, 3000])
    damage(layer)
    result = board.run("quick-test")
    found = lines(result.stdout)
    assert list(found) == ["image", "service", "api", "gpu", "inference", "resources"]
    assert {check for check, (verdict, _) in found.items() if verdict == "FAIL"} == {"resources"}, result.stdout
    digest = layer.name.replace("-", ":")
    assert found["resources"][1].endswith(f" - qwen2.5:0.5b: blob {digest[:15]}\u2026 {said}")
    assert MODEL not in found["resources"][1]
    assert result.returncode == 1


def test_quick_test_names_a_manifest_it_cannot_read(board):
    write_store(board.tmp, MODEL, [480, 4000])
    path = board.tmp / "manifests" / "registry.ollama.ai" / "library" / "qwen2.5" / "1.5b"
    path.write_text("{not json")
    found = lines(board.run("quick-test").stdout)
    assert found["resources"][0] == "FAIL" and f"{MODEL}: unreadable manifest {path}" in found["resources"][1]


# ---------------------------------------------------------------- monitor

def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_monitor_csv_follows_the_memory_as_it_changes(board):
    board.run("bench")  # loads the model, so /api/ps lists it
    proc = subprocess.Popen([str(board.scripts / "monitor"), "1", "--csv"], env={**board.env, "MONITOR_COUNT": "2"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    header, first = proc.stdout.readline(), proc.stdout.readline()
    write_meminfo(board.meminfo, available_mb=500, swap_used_mb=120)  # between the two samples
    rest, errors = proc.communicate(timeout=15)
    assert proc.returncode == 0, errors
    rows = read_csv(header + first + rest)
    assert header.strip() == ("time,ram_used_mb,ram_total_mb,ram_pct,swap_used_mb,gr3d_pct,temp_c,power_mw,"
                              "models,gpu_share,level")
    assert len(rows) == 2
    assert [(r["ram_used_mb"], r["ram_pct"], r["swap_used_mb"], r["level"]) for r in rows] == [
        (str(TOTAL_MB - 5000), "34.4", "0", "OK"), (str(TOTAL_MB - 500), "93.4", "120", "CRITICAL")]
    assert {r["ram_total_mb"] for r in rows} == {str(TOTAL_MB)}
    # one tegrastats line: GR3D_FREQ, tj (not the -256C sensor), VDD_IN
    assert [(r["gr3d_pct"], r["temp_c"], r["power_mw"]) for r in rows] == [("37", "46.5", "5263")] * 2
    assert [(r["models"], r["gpu_share"]) for r in rows] == [(MODEL, "100.0")] * 2
    assert "!! CRITICAL: RAM 93.4 % used, 500 MB available" in errors  # alerts on stderr in CSV mode
    assert not [call for call in board.docker_calls() if call.startswith("nvidia-smi")]


@pytest.mark.parametrize("available_mb, level", [(1400, "WARN"), (700, "CRITICAL"), (150, "EMERGENCY")])
def test_monitor_warns_at_the_thresholds(board, available_mb, level):
    write_meminfo(board.meminfo, available_mb=available_mb)
    result = board.run("monitor", MONITOR_COUNT="1")
    assert result.returncode == 0, result.stderr
    header, sample, alert = result.stdout.splitlines()
    assert header == "monitor: board1, every 2 s"
    assert f"RAM {TOTAL_MB - available_mb}/{TOTAL_MB} MB" in sample
    assert "GPU 37 %" in sample and "temp 46.5 C" in sample and "power 5263 mW" in sample
    assert "no model loaded" in sample and "ollama CPU 0.52 % MEM 1.21GiB / 7.441GiB" in sample
    assert alert.startswith(f"!! {level}: ")


def test_monitor_shows_the_cpu_gpu_split_and_sums_rails_without_vdd_in(board):
    _Ollama.state.update(gpu_share=0.62, loaded={MODEL: True})
    result = board.run("monitor", "--csv", MONITOR_COUNT="1", FAKE_TEGRASTATS_TAIL=AGX_TAIL)
    (row,) = read_csv(result.stdout)
    assert (row["gr3d_pct"], row["temp_c"], row["power_mw"], row["gpu_share"]) == ("5", "42.0", "9078", "62.0")
    text = board.run("monitor", MONITOR_COUNT="1").stdout
    assert f"{MODEL} 62 % GPU / 38 % CPU" in text


def test_monitor_without_tegrastats_reads_meminfo_and_says_na(tmp_path, server, api):
    if shutil.which("tegrastats", path="/usr/bin:/bin"):
        pytest.skip("this machine has a tegrastats of its own")
    bare = Board(tmp_path, server.server_address[1], [MODEL], tegrastats=False)
    result = bare.run("monitor", "--csv", MONITOR_COUNT="1")
    (row,) = read_csv(result.stdout)
    assert (row["ram_used_mb"], row["gr3d_pct"], row["temp_c"], row["power_mw"]) == (str(TOTAL_MB - 5000), "", "", "")
    assert "GPU n/a" in bare.run("monitor", MONITOR_COUNT="1").stdout


def test_monitor_when_the_api_is_down(tmp_path, api):
    down = Board(tmp_path, 9, [MODEL])
    result = down.run("monitor", "--csv", MONITOR_COUNT="1")
    (row,) = read_csv(result.stdout)
    assert (row["models"], row["gpu_share"], row["level"]) == ("", "", "OK")
    assert "Ollama API not answering" in down.run("monitor", MONITOR_COUNT="1").stdout


def test_monitor_refuses_bad_arguments(board):
    assert board.run("monitor", "fast").returncode == 64
    assert board.run("monitor", "0").returncode == 64
    assert "MONITOR_COUNT=N" in board.run("monitor", "--help").stdout


# ---------------------------------------------------------------- bench

def test_bench_prints_and_saves_the_figures_of_every_prompt(board):
    result = board.run("bench")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["board"], document["image"], document["num_predict"]) == ("board1", IMAGE, 64)
    assert document["time"].endswith("Z")
    assert [(r["model"], r["prompt_index"]) for r in document["results"]] == [(MODEL, 0), (MODEL, 1), (MODEL, 2)]
    eval_duration = int(64 / TOKENS_PER_S * 1e9)
    for r in document["results"]:
        assert r["eval_count"] == 64
        assert r["tokens_per_s"] == pytest.approx(64 / eval_duration * 1e9, abs=1e-3)
        prompt = board.context["bench_prompts"][r["prompt_index"]]
        assert r["prompt_tokens_per_s"] == pytest.approx((len(prompt.split()) + 10) / 0.123, abs=1e-3)
    assert [(r["load_s"], r["ttft_s"]) for r in document["results"]] == [(2.5, 2.623), (0.05, 0.173), (0.05, 0.173)]
    summary = document["summary"][MODEL]
    assert summary["tokens_per_s"] == pytest.approx(64 / eval_duration * 1e9, abs=1e-3)
    assert (summary["load_s"], summary["runs"], summary["errors"]) == (2.5, 3, 0)
    assert json.loads(board.bench_file.read_text()) == document
    sent = [body for path, body in _Ollama.state["requests"]]
    assert [body["prompt"] for body in sent] == board.context["bench_prompts"]
    assert all(body["stream"] is False and body["keep_alive"] == "5m" and body["options"]["num_predict"] == 64
               for body in sent)


def test_bench_one_model_and_errors(board):
    result = board.run("bench", "qwen2.5:0.5b")
    assert result.returncode == 0, result.stderr
    assert {r["model"] for r in json.loads(result.stdout)["results"]} == {"qwen2.5:0.5b"}
    missing = board.run("bench", "nope:1b")
    assert missing.returncode == 1
    document = json.loads(missing.stdout)
    assert document["results"][0]["error"] == "HTTP 404: model 'nope:1b' not found"
    assert document["summary"]["nope:1b"]["errors"] == 3


def test_bench_without_models_or_a_writable_file(tmp_path, server, api):
    empty = Board(tmp_path, server.server_address[1], [])
    assert empty.run("bench").returncode == 64
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a directory")
    result = empty.run("bench", MODEL, JETSON_OLLAMA_BENCH_FILE=str(blocked / "bench.json"))
    assert result.returncode == 1 and json.loads(result.stdout)["summary"][MODEL]["runs"] == 3
    assert "could not save" in result.stderr


# ---------------------------------------------------------------- settings

def test_script_settings_defaults_and_checks():
    cfg = settings({})
    assert cfg.jetson_scripts_dir == "/opt/jetson-ollama/bin"
    assert cfg.jetson_bench_num_predict == 64 and len(cfg.jetson_bench_prompts) == 3
    for key, value in [("jetson_scripts_dir", "opt/bin"), ("jetson_bench_prompts", []),
                       ("jetson_bench_prompts", ["ok", " "]), ("jetson_bench_prompts", "hi"),
                       ("jetson_bench_num_predict", 0), ("jetson_bench_num_predict", "64")]:
        with pytest.raises(ConfigError, match=rf"^{key}: "):
            settings({key: value})
