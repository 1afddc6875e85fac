"""The board's metrics collector (jetson_ollama/files/jetson-metrics.py), run as the timer runs it: a fake
/proc/meminfo, a fake tegrastats that prints one line a second, a stub of Ollama's /api/ps over real HTTP
on 127.0.0.1, the bench and quick-test records; the .prom file it leaves is read as Prometheus would."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from jetson_ollama.resources import FILES

SCRIPT = FILES / "jetson-metrics.py"
# docs/facts.md section 2, Orin Nano JetPack 6, with one missing sensor (-256C) as tegrastats prints it
LINE = ("05-05-2025 06:05:39 RAM 2639/7620MB (lfb 9x4MB) SWAP 0/3810MB (cached 0MB) "
        "CPU [1%@729,2%@729,0%@729,0%@729,1%@729,0%@729] GR3D_FREQ 37% cpu@44.156C soc2@43.5C gpu@45.968C "
        "cv0@-256C tj@46.5C VDD_IN 5263mW/5263mW VDD_CPU_GPU_CV 717mW/717mW VDD_SOC 1794mW/1794mW")
MEMINFO = """MemTotal:        7802848 kB
MemFree:          412340 kB
MemAvailable:    5100000 kB
Buffers:           41236 kB
SwapTotal:       3901424 kB
SwapFree:        3801424 kB
"""
PS = {"models": [
    {"name": "qwen2.5:0.5b", "model": "qwen2.5:0.5b", "size": 1_986_234_368, "size_vram": 1_986_234_368},
    {"name": 'odd"name\\x', "model": "x", "size": 4_000, "size_vram": 1_000},
]}
SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """The samples of a .prom file, (name, ((label, value), ...)) -> value; HELP and TYPE checked."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        name, labels, value = SAMPLE.match(line).groups()  # type: ignore[union-attr]
        assert name in typed, f"{name} has no # TYPE line"
        pairs = tuple(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or ""))
        samples[(name, pairs)] = float(value)
    return samples


@pytest.fixture(scope="module")
def collector():
    spec = importlib.util.spec_from_file_location("jetson_metrics", SCRIPT)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


class _Api(http.server.BaseHTTPRequestHandler):
    answer: dict = PS

    def do_GET(self):
        body = json.dumps(self.answer).encode() if self.path == "/api/ps" else b"{}"
        self.send_response(200 if self.path == "/api/ps" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def board(tmp_path):
    """A fake meminfo, a tegrastats that prints LINE every second until stopped, empty state and textfile dirs."""
    (tmp_path / "meminfo").write_text(MEMINFO)
    tegrastats = tmp_path / "bin" / "tegrastats"
    tegrastats.parent.mkdir()
    tegrastats.write_text(f"#!/bin/sh\nwhile true; do echo '{LINE}'; sleep 1; done\n")
    tegrastats.chmod(0o755)
    for name in ("state", "textfile"):
        (tmp_path / name).mkdir()
    return tmp_path


def run(board: Path, api: str, tegrastats: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, JETSON_OLLAMA_MEMINFO=str(board / "meminfo"),
               JETSON_OLLAMA_TEGRASTATS=tegrastats or str(board / "bin" / "tegrastats") + " --interval 1000")
    return subprocess.run([sys.executable, str(SCRIPT), "--api", api, "--textfile-dir", str(board / "textfile"),
                           "--state-dir", str(board / "state")], env=env, capture_output=True, text=True, timeout=30)


def test_one_sample_has_memory_gpu_and_the_loaded_models(board, api):
    proc = run(board, api)
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(board / "textfile") == ["jetson_ollama.prom"]  # renamed into place, no temporary left
    assert (board / "textfile" / "jetson_ollama.prom").stat().st_mode & 0o644 == 0o644  # the exporter's user reads it
    m = parse((board / "textfile" / "jetson_ollama.prom").read_text())
    assert m[("jetson_ollama_memory_total_bytes", ())] == 7802848 * 1024
    assert m[("jetson_ollama_memory_available_bytes", ())] == 5100000 * 1024
    assert m[("jetson_ollama_memory_used_bytes", ())] == (7802848 - 5100000) * 1024
    assert m[("jetson_ollama_swap_total_bytes", ())] == 3901424 * 1024
    assert m[("jetson_ollama_swap_used_bytes", ())] == 100000 * 1024
    assert m[("jetson_ollama_tegrastats_up", ())] == 1
    assert m[("jetson_ollama_gpu_load_ratio", ())] == 0.37
    assert m[("jetson_ollama_temperature_celsius", (("sensor", "tj"),))] == 46.5
    assert ("jetson_ollama_temperature_celsius", (("sensor", "cv0"),)) not in m  # -256C: no sensor
    assert m[("jetson_ollama_power_watts", (("rail", "VDD_IN"),))] == 5.263
    assert m[("jetson_ollama_api_up", ())] == 1 and m[("jetson_ollama_models_loaded", ())] == 2
    qwen = (("model", "qwen2.5:0.5b"),)
    assert m[("jetson_ollama_model_size_bytes", qwen)] == 1_986_234_368
    assert m[("jetson_ollama_model_gpu_bytes", qwen)] == 1_986_234_368
    assert m[("jetson_ollama_model_gpu_ratio", qwen)] == 1
    odd = (("model", 'odd\\"name\\\\x'),)  # quote and backslash escaped as the text format wants
    assert m[("jetson_ollama_model_gpu_ratio", odd)] == 0.25
    assert not any(name.startswith(("jetson_ollama_bench", "jetson_ollama_quick")) for name, _ in m)  # none run yet


def test_bench_and_quick_test_records_become_metrics(board, api):
    (board / "state" / "bench.json").write_text(json.dumps({
        "time": "2026-01-02T03:04:05Z", "summary": {"qwen2.5:0.5b": {
            "tokens_per_s": 41.5, "prompt_tokens_per_s": 300.25, "ttft_s": 0.4, "load_s": 2.5, "runs": 3,
            "errors": 0}}}))
    (board / "state" / "quick-test.json").write_text(json.dumps({
        "time": "2026-01-02T03:05:00Z", "passed": 5, "failed": 1,
        "checks": [{"check": "api", "ok": True, "detail": "Ollama 0.6.8"},
                   {"check": "gpu", "ok": False, "detail": "runs on CPU"}]}))
    assert run(board, api).returncode == 0
    m = parse((board / "textfile" / "jetson_ollama.prom").read_text())
    qwen = (("model", "qwen2.5:0.5b"),)
    assert m[("jetson_ollama_bench_tokens_per_second", qwen)] == 41.5
    assert m[("jetson_ollama_bench_prompt_tokens_per_second", qwen)] == 300.25
    assert m[("jetson_ollama_bench_ttft_seconds", qwen)] == 0.4
    assert m[("jetson_ollama_bench_timestamp_seconds", ())] == 1767323045  # 2026-01-02T03:04:05Z
    assert m[("jetson_ollama_quick_test_passed", (("check", "api"),))] == 1
    assert m[("jetson_ollama_quick_test_passed", (("check", "gpu"),))] == 0
    assert m[("jetson_ollama_quick_test_failures", ())] == 1


def test_what_cannot_be_read_is_left_out_and_said(board):
    (board / "state" / "bench.json").write_text("{half a file")
    proc = run(board, "http://127.0.0.1:9", tegrastats="no-such-tegrastats")
    assert proc.returncode == 0, proc.stderr
    m = parse((board / "textfile" / "jetson_ollama.prom").read_text())
    assert m[("jetson_ollama_api_up", ())] == 0 and m[("jetson_ollama_tegrastats_up", ())] == 0
    assert not any(name.startswith(("jetson_ollama_model", "jetson_ollama_gpu", "jetson_ollama_bench"))
                   for name, _ in m)
    assert m[("jetson_ollama_memory_total_bytes", ())] == 7802848 * 1024


def test_a_directory_it_cannot_write_is_one_line_and_status_1(board, api):
    (board / "textfile").rmdir()
    proc = run(board, api)
    assert proc.returncode == 1
    assert proc.stderr.startswith("jetson-metrics: cannot write ") and len(proc.stderr.splitlines()) == 1


def test_a_tegrastats_line_parses_as_the_monitor_reads_it(collector):
    sample = collector.parse_tegrastats(LINE)
    assert sample["gpu_load"] == 0.37
    assert sample["temps"] == {"cpu": 44.156, "soc2": 43.5, "gpu": 45.968, "tj": 46.5}
    assert sample["rails"] == {"VDD_IN": 5.263, "VDD_CPU_GPU_CV": 0.717, "VDD_SOC": 1.794}  # not RAM or SWAP
    assert collector.parse_tegrastats("") == {"gpu_load": None, "temps": {}, "rails": {}}


def test_the_simulators_tegrastats_line_parses_too(collector):
    from jetson_sim.board import simtools

    profile = {"arch": "aarch64", "jetson": {"cpus": 6, "tegrastats_rails": ["VDD_IN", "VDD_SOC"]}}
    line = simtools.tegrastats_line(profile, {}, 0)
    sample = collector.parse_tegrastats(line)
    assert sample["gpu_load"] is not None and set(sample["rails"]) == {"VDD_IN", "VDD_SOC"}
    assert "tj" in sample["temps"]
