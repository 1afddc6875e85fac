"""A converged board's Ollama as its users' programs reach it: the official `ollama` Python client and the
`openai` SDK from the controller, with the API opened to the controller's network (`ollama_allow_from`)."""

from __future__ import annotations

import json
import time

import httpx
import ollama
import openai
import pytest

from .conftest import fleet_name
from .test_stages import SUPER, converge

pytestmark = pytest.mark.sim

MODEL = "qwen2.5:0.5b"


@pytest.fixture(scope="module")
def api_url(sim_env):
    """The API of one converged board, open to 10.0.0.0/8 (the controller's network)."""
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("cl"))
    f.up(1, [SUPER])
    try:
        env = dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps({"ollama_models": [MODEL],
                                                             "ollama_allow_from": ["10.0.0.0/8"]}))
        run = converge(f, env)
        assert run["failed_hosts"] == [], run["stderr"][-2000:]
        yield f"http://{next(iter(f.boards.values())).ip}:11434"
    finally:
        f.down()


def test_the_ollama_client_chats_streams_and_embeds(api_url):
    client = ollama.Client(host=api_url, timeout=60)
    assert MODEL in [m.model for m in client.list().models]
    answer = client.chat(model=MODEL, messages=[{"role": "user", "content": "Why is the sky blue?"}])
    assert answer.done and answer.message.content
    arrivals, last = [], None
    for part in client.generate(model=MODEL, prompt="Tell me a story", stream=True, options={"num_predict": 48}):
        arrivals.append(time.monotonic())
        last = part
    reported = last.eval_count / last.eval_duration * 1e9
    measured = (len(arrivals) - 2) / (arrivals[-2] - arrivals[0])
    assert 0.6 * reported < measured < 1.4 * reported, (measured, reported)  # the speed it says is the speed it has
    vectors = client.embed(model=MODEL, input=["a", "b"]).embeddings
    assert len(vectors) == 2 and abs(sum(x * x for x in vectors[0]) - 1) < 1e-6


def test_the_openai_sdk_completes_streams_lists_and_calls_tools(api_url):
    client = openai.OpenAI(base_url=f"{api_url}/v1", api_key="ollama", max_retries=0, timeout=60)
    assert [m.id for m in client.models.list()] == [MODEL]
    done = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello"}])
    assert done.choices[0].finish_reason == "stop" and done.choices[0].message.content
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello"}],
                                                 stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == done.choices[0].message.content
    weather = {"type": "function", "function": {"name": "get_current_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    called = client.chat.completions.create(model=MODEL, tools=[weather],
                                            messages=[{"role": "user", "content": "Weather in Oslo?"}])
    assert called.choices[0].finish_reason == "tool_calls"
    assert json.loads(called.choices[0].message.tool_calls[0].function.arguments) == {"city": "Oslo"}
    assert len(client.embeddings.create(model=MODEL, input="x").data[0].embedding) > 0
    preflight = httpx.options(f"{api_url}/v1/chat/completions", timeout=10,
                              headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
