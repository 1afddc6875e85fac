"""The opt-in metrics on a simulated board: converged with ollama_metrics and a small model loaded, the
node exporter serves the board's figures on 127.0.0.1:9100 (nothing reaches it from the LAN without
ollama_allow_from), they agree with the board's own /proc/meminfo and /api/ps, and a second converge
changes nothing."""

from __future__ import annotations

import json
import re
import socket

import httpx
import pytest

from .conftest import board_host, board_of, fleet_name
from .test_stages import NANO, changed, converge

pytestmark = pytest.mark.sim

MODEL = "qwen2.5:0.5b"
DATA = {"ollama_models": [MODEL], "ollama_metrics": True}
SAMPLE = re.compile(r'^(jetson_ollama_[a-z_]+)(?:\{(.*)\})? (\S+)$', re.M)


@pytest.fixture(scope="module")
def metrics_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("me"))
    f.up(1, [NANO])
    try:
        yield f
    finally:
        f.down()


def samples(text: str) -> dict[tuple[str, str], float]:
    return {(name, labels or ""): float(value) for name, labels, value in SAMPLE.findall(text)}


def test_metrics_agree_with_the_board_then_nothing_to_do(metrics_fleet, sim_env):
    env = dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps(DATA))
    first = converge(metrics_fleet, env)
    assert first["failed_hosts"] == [], first["stderr"][-3000:]
    board = board_of(metrics_fleet, NANO)
    host = board_host(metrics_fleet, board)
    assert host.service("prometheus-node-exporter").is_running
    assert host.service("jetson-ollama-metrics.timer").is_enabled

    body = json.dumps({"model": MODEL, "prompt": "", "keep_alive": "10m"})
    host.check_output(f"curl -fsS http://127.0.0.1:11434/api/generate -d '{body}' >/dev/null")
    host.check_output("systemctl start jetson-ollama-metrics.service")  # one sample now, not at the next tick
    scraped = host.check_output("curl -fsS http://127.0.0.1:9100/metrics")
    meminfo = {key: int(kb) * 1024 for key, kb in
               re.findall(r"^(\w+): +(\d+) kB$", host.file("/proc/meminfo").content_string, re.M)}
    loaded = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/ps"))["models"]

    assert "node_textfile_scrape_error 0" in scraped  # the exporter read our file
    m = samples(scraped)
    assert m[("jetson_ollama_memory_total_bytes", "")] == meminfo["MemTotal"]
    used = meminfo["MemTotal"] - meminfo["MemAvailable"]
    assert m[("jetson_ollama_memory_used_bytes", "")] == pytest.approx(used, rel=0.05)  # moves between reads
    assert m[("jetson_ollama_swap_total_bytes", "")] == meminfo["SwapTotal"]
    assert m[("jetson_ollama_tegrastats_up", "")] == 1 and 0 <= m[("jetson_ollama_gpu_load_ratio", "")] <= 1
    assert 20 < m[("jetson_ollama_temperature_celsius", 'sensor="tj"')] < 110
    assert m[("jetson_ollama_api_up", "")] == 1
    assert [entry["name"] for entry in loaded] == [MODEL]
    label = f'model="{MODEL}"'
    assert m[("jetson_ollama_model_size_bytes", label)] == loaded[0]["size"]
    assert m[("jetson_ollama_model_gpu_bytes", label)] == loaded[0]["size_vram"]
    assert m[("jetson_ollama_model_gpu_ratio", label)] == pytest.approx(loaded[0]["size_vram"] / loaded[0]["size"])

    with pytest.raises(OSError):  # bound to 127.0.0.1 without ollama_allow_from: not on the LAN address
        socket.create_connection((board.ip, 9100), timeout=3).close()

    again = converge(metrics_fleet, env)
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)


def test_metrics_on_the_lan_reach_the_allowed_networks_only(metrics_fleet, sim_env):
    board = board_of(metrics_fleet, NANO)
    host = board_host(metrics_fleet, board)
    allowed = dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps({**DATA, "ollama_allow_from": ["10.0.0.0/8"]}))
    run = converge(metrics_fleet, allowed)  # the controller is on 10.231.x.x
    assert run["failed_hosts"] == [], run["stderr"][-3000:]
    scraped = httpx.get(f"http://{board.ip}:9100/metrics", timeout=10)
    assert scraped.status_code == 200 and "jetson_ollama_memory_total_bytes" in scraped.text
    jumps = sorted(line for line in host.check_output("iptables -S INPUT").splitlines() if "JETSON-OLLAMA" in line)
    assert jumps == [f"-A INPUT -p tcp -m tcp --dport {port} -j JETSON-OLLAMA" for port in (11434, 9100)]

    others = dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps({**DATA, "ollama_allow_from": ["192.168.0.0/16"]}))
    run = converge(metrics_fleet, others)
    assert run["failed_hosts"] == [], run["stderr"][-3000:]
    with pytest.raises(httpx.TimeoutException):  # dropped: the controller's network is not listed
        httpx.get(f"http://{board.ip}:9100/metrics", timeout=3)
    assert "jetson_ollama_memory_total_bytes" in host.check_output(f"curl -fsS http://{board.ip}:9100/metrics")
    again = converge(metrics_fleet, others)  # the board itself still reads it ^
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)


def test_metrics_turned_off_stop_the_exporter_then_nothing_to_do(metrics_fleet, sim_env):
    env = dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps({**DATA, "ollama_metrics": False}))
    board = board_of(metrics_fleet, NANO)
    host = board_host(metrics_fleet, board)
    if not host.file("/etc/systemd/system/jetson-ollama-metrics.timer").exists:  # run alone: turn them on first
        assert converge(metrics_fleet, dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps(DATA)))["failed_hosts"] == []
    off = converge(metrics_fleet, env)
    assert off["failed_hosts"] == [], off["stderr"][-3000:]
    assert not host.service("prometheus-node-exporter").is_running
    assert not host.file("/etc/systemd/system/jetson-ollama-metrics.timer").exists
    assert host.run("curl -fsS --max-time 3 http://127.0.0.1:9100/metrics").rc != 0  # nothing serves metrics
    again = converge(metrics_fleet, env)
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)
