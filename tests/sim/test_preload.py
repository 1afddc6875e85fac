"""ollama_preload on a simulated board: the model is warm after the deploy, after a reboot with no request
from anyone, after a keep-alive change, and after `start-ollama`, which makes the container the deploy
recorded last; and a second deploy changes nothing."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone

import pytest

from .conftest import board_host, fleet_name, sim, unload_models
from .test_stages import NANO, changed, converge

pytestmark = pytest.mark.sim

MODEL = "qwen2.5:0.5b"
PRELOAD = ["--data", f'ollama_models=["{MODEL}"]', "--data", f'ollama_preload=["{MODEL}"]']


@pytest.fixture(scope="module")
def preload_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("p"))
    f.up(1, [NANO])
    try:
        yield f
    finally:
        f.down()


def minutes_left(host) -> dict[str, float]:
    """{model: minutes until Ollama unloads it}, from /api/ps as a user reads it."""
    models = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/ps"))["models"]
    now = datetime.now(timezone.utc)
    left = {}
    for model in models:  # RFC 3339; Ollama writes nanoseconds, which Python does not read
        expires = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", model["expires_at"]).replace("Z", "+00:00"))
        left[model["name"]] = (expires - now).total_seconds() / 60
    return left


def env_of(host) -> dict[str, str]:
    env = json.loads(host.check_output("docker inspect -f '{{json .Config.Env}}' ollama"))
    return dict(item.split("=", 1) for item in env)


def test_preloaded_model_stays_warm_across_reboot_settings_and_start_ollama(preload_fleet, sim_env):
    board = next(iter(preload_fleet.boards.values()))
    first = converge(preload_fleet, sim_env, *PRELOAD, limit=board.name)
    assert first["failed_hosts"] == [], first["stderr"][-3000:]
    host = board_host(preload_fleet, board)
    assert 4 < minutes_left(host)[MODEL] <= 5  # ollama_keep_alive's default, 5m
    assert host.service("jetson-ollama-preload.service").is_enabled
    settled = converge(preload_fleet, sim_env, *PRELOAD, limit=board.name)  # the image listed now: same record
    assert settled["failed_hosts"] == [] and settled["totals"]["success"] == 0, changed(settled)

    sim(sim_env, preload_fleet, "reboot", board.name)
    host = board_host(preload_fleet, board)  # a new session: the board rebooted
    deadline = time.monotonic() + 90
    while MODEL not in (left := (minutes_left(host) if host.run("curl -fsS http://127.0.0.1:11434/api/ps").rc == 0
                                 else {})):
        assert time.monotonic() < deadline, "the preloaded model was not loaded after the reboot"
        time.sleep(1)
    assert 4 < left[MODEL] <= 5
    assert "loaded qwen2.5:0.5b" in host.check_output("journalctl -u jetson-ollama-preload.service -b --no-pager")

    keep = ["--data", "ollama_keep_alive=30m"]
    second = converge(preload_fleet, sim_env, *PRELOAD, *keep, limit=board.name)
    assert second["failed_hosts"] == [], second["stderr"][-3000:]
    assert env_of(host)["OLLAMA_KEEP_ALIVE"] == "30m"
    assert 29 < minutes_left(host)[MODEL] <= 30  # warm again in the new container, for the new keep-alive

    unload_models(preload_fleet, board)
    assert minutes_left(host) == {}
    result = host.run("start-ollama")
    assert result.rc == 0, result.stdout + result.stderr
    assert env_of(host)["OLLAMA_KEEP_ALIVE"] == "30m"
    assert 29 < minutes_left(host)[MODEL] <= 30

    again = converge(preload_fleet, sim_env, *PRELOAD, *keep, limit=board.name)
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)
