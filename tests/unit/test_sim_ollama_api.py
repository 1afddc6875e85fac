"""The simulated Ollama as real clients see it: the official `ollama` Python client and the `openai` SDK
against every endpoint of Ollama's docs/api.md and docs/openai.md at v0.6.8 (docs/facts.md section 7):
generate and chat (streamed and not, JSON formats, tools), embeddings, the /v1 API, create, blobs and push,
CORS, and the errors' statuses and shapes.

No root, loopback only: the simulated server runs in-process on 127.0.0.1, as test_sim_ollama_versions.py
starts it, with one small model in its store; a stand-in registry on 127.0.0.1 takes pushes."""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import time

import ollama as ollama_client
import openai
import pytest

from jetson_sim.upstream.ollama import config
from jetson_sim.upstream.ollama.api import Api
from jetson_sim.upstream.ollama.pull import Puller
from jetson_sim.upstream.ollama.scheduler import Scheduler
from jetson_sim.upstream.ollama.store import Name, Store

from .stubs import JSONHandler
from .test_sim_ollama_versions import MANIFEST_V2, Sim, _serve, make_model

MODEL = "qwen2.5:0.5b"
WEATHER = {"type": "function", "function": {
    "name": "get_current_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"]}}}
ADD = {"type": "function", "function": {
    "name": "add_two_numbers", "parameters": {"type": "object", "required": ["a", "b"],
                                              "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}
PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                           "height": {"type": "number"}, "alive": {"type": "boolean"},
                                           "pets": {"type": "array", "items": {"type": "string"}}},
          "required": ["name", "age", "alive"]}
TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list}


class _PushRegistry(JSONHandler):
    """A registry that takes pushes: HEAD of a blob, POST .../blobs/uploads/ (202 and a Location), PUT of
    the blob (?digest=) and of the manifest; `store` holds what arrived."""

    protocol_version = "HTTP/1.1"
    store: dict

    def _empty(self, status: int, headers: dict | None = None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        self._empty(200 if self.path.rsplit("/", 1)[-1] in self.store else 404)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._empty(202, {"Location": self.path + "upload-1"})

    def do_PUT(self):
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "digest=" in self.path:
            self.store[self.path.split("digest=", 1)[1]] = data
        else:
            self.store[self.path] = json.loads(data)
        self._empty(201)


@pytest.fixture
def sim(monkeypatch, tmp_path):
    """start(**env) -> Sim with MODEL in its store; JETSON_SIM_STREAM_PACE 0 unless a test sets it."""
    started: list[Sim] = []
    for key in list(os.environ):
        if key.startswith(("OLLAMA_", "JETSON_")) or "proxy" in key.lower():
            monkeypatch.delenv(key)

    def start(**env) -> Sim:
        home = tmp_path / f"ollama{len(started)}"
        home.mkdir()
        settings = {"OLLAMA_MODELS": str(home / "models"), "OLLAMA_SIM_REGISTRY": "http://127.0.0.1:9",
                    "JETSON_SIM_TIME_SCALE": "0", "JETSON_SIM_STREAM_PACE": "0",
                    "JETSON_SIM_PROFILE": str(home / "none.json"), "JETSON_SIM_GPU": str(home / "no-gpu"),
                    "JETSON_SIM_MEMINFO": str(home / "no-meminfo"), "JETSON_SIM_GR3D": str(home / "no/gr3d"),
                    "JETSON_SIM_MEM_D": str(home / "no-mem.d"), **env}
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        cfg = config.Config()
        store = Store(cfg.models)
        store.ensure()
        sched = Scheduler(cfg, store)
        handler = type("BoundApi", (Api,), {"cfg": cfg, "store": store, "sched": sched,
                                            "puller": Puller(cfg, store), "_log": lambda self: None})
        s = Sim(cfg, store, sched, _serve(handler))
        s.put(MODEL, make_model("api"))
        started.append(s)
        return s

    yield start
    for s in started:
        s.server.shutdown()
        s.server.server_close()
        s.sched.unload_all()


def clients(s: Sim) -> tuple[ollama_client.Client, openai.OpenAI]:
    base = f"http://127.0.0.1:{s.port}"
    return ollama_client.Client(host=base), openai.OpenAI(base_url=f"{base}/v1", api_key="ollama", max_retries=0)


def sse(s: Sim, path: str, body: dict) -> tuple[dict, list]:
    """(headers, events) of a /v1 stream: each `data: ` line's JSON, "[DONE]" as it is."""
    status, headers, data = s.call("POST", path, body)
    assert status == 200
    events = [line[len("data: "):] for line in data.decode().split("\n\n") if line]
    assert all(line.startswith("data: ") for line in data.decode().split("\n\n") if line)
    return headers, [e if e == "[DONE]" else json.loads(e) for e in events]


# ---------------------------------------------------------------- generate and chat


def test_chat_and_generate_streamed_and_not_with_the_ollama_client(sim):
    client, _ = clients(sim())
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    whole = client.chat(model=MODEL, messages=messages)
    parts = list(client.chat(model=MODEL, messages=messages, stream=True))
    assert whole.done and whole.done_reason == "stop" and whole.message.role == "assistant"
    assert "".join(p.message.content for p in parts) == whole.message.content != ""
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].eval_count == whole.eval_count == len(parts) - 1 and whole.eval_duration > 0
    generated = client.generate(model=MODEL, prompt="Why is the sky blue?", options={"num_predict": 5})
    assert generated.done_reason == "length" and generated.eval_count == 5 and generated.context
    streamed = list(client.generate(model=MODEL, prompt="Why is the sky blue?", stream=True,
                                    options={"num_predict": 5}))
    assert "".join(p.response for p in streamed) == generated.response


def test_a_stream_comes_at_the_speed_it_reports(sim):
    """A client that times the tokens of a stream measures the eval_count / eval_duration speed."""
    client, _ = clients(sim(JETSON_SIM_STREAM_PACE="1"))
    client.generate(model=MODEL, prompt="")  # load first: the load is not decode
    arrivals, last = [], None
    for part in client.generate(model=MODEL, prompt="Tell me a story", stream=True, options={"num_predict": 24}):
        arrivals.append(time.monotonic())
        last = part
    reported = last.eval_count / last.eval_duration * 1e9
    measured = (len(arrivals) - 2) / (arrivals[-2] - arrivals[0])  # between the first and last token
    assert 0.75 * reported < measured < 1.25 * reported, (measured, reported)


def test_json_mode_and_a_schema_answer_valid_json_streamed_or_not(sim):
    s = sim()
    client, _ = clients(s)
    messages = [{"role": "user", "content": "Describe a person"}]
    assert isinstance(json.loads(client.chat(model=MODEL, messages=messages, format="json").message.content), dict)
    assert isinstance(json.loads(client.generate(model=MODEL, prompt="a person", format="json").response), dict)
    person = json.loads(client.chat(model=MODEL, messages=messages, format=PERSON).message.content)
    for key in PERSON["required"]:
        assert isinstance(person[key], TYPES[PERSON["properties"][key]["type"]]), (key, person)
    assert not isinstance(person["age"], bool) and isinstance(person["pets"], list)
    parts = list(client.chat(model=MODEL, messages=messages, format=PERSON, stream=True))
    assert len(parts) > 2 and json.loads("".join(p.message.content for p in parts)) == person
    # the client refuses a bad format itself: sent as curl sends it
    bad = s.json("POST", "/api/chat", {"model": MODEL, "messages": messages, "format": "xml", "stream": False})
    assert bad == (500, {"error": 'invalid format: "\\"xml\\""; expected "json" or a valid JSON Schema object'})


def test_tools_are_called_when_the_prompt_asks_for_what_one_does(sim):
    client, _ = clients(sim())
    ask = [{"role": "user", "content": "What is the weather in Paris today?"}]
    answer = client.chat(model=MODEL, messages=ask, tools=[ADD, WEATHER])
    assert answer.message.content == "" and len(answer.message.tool_calls) == 1
    call = answer.message.tool_calls[0].function
    assert call.name == "get_current_weather" and dict(call.arguments) == {"city": "Paris", "unit": "celsius"}
    added = client.chat(model=MODEL, messages=[{"role": "user", "content": "Please add 3 and 4"}], tools=[WEATHER, ADD])
    assert dict(added.message.tool_calls[0].function.arguments) == {"a": 3, "b": 4}
    streamed = list(client.chat(model=MODEL, messages=ask, tools=[WEATHER], stream=True))
    assert [p.message.tool_calls[0].function.name for p in streamed if p.message.tool_calls] == ["get_current_weather"]
    assert streamed[-1].done
    # no tool fits, or the last message is the tool's result: a text answer
    unrelated = client.chat(model=MODEL, messages=[{"role": "user", "content": "Tell me a joke"}], tools=[WEATHER])
    assert unrelated.message.content and not unrelated.message.tool_calls
    result = [*ask, {"role": "assistant", "content": "", "tool_calls": [answer.message.tool_calls[0]]},
              {"role": "tool", "content": "22 degrees"}]
    final = client.chat(model=MODEL, messages=result, tools=[WEATHER])
    assert final.message.content and not final.message.tool_calls


# ---------------------------------------------------------------- embeddings


def test_embed_is_normalized_deterministic_and_of_the_models_dimension(sim):
    s = sim()
    client, _ = clients(s)
    first = client.embed(model=MODEL, input=["the sky is blue", "grass is green"])
    again = client.embed(model=MODEL, input="the sky is blue")
    assert len(first.embeddings) == 2 and {len(v) for v in first.embeddings} == {896}  # qwen2.5:0.5b's size
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-6 for v in first.embeddings)
    assert again.embeddings[0] == first.embeddings[0] != first.embeddings[1]
    assert first.prompt_eval_count > 0 and first.model == MODEL
    raw = client.embeddings(model=MODEL, prompt="the sky is blue").embedding
    norm = math.sqrt(sum(x * x for x in raw))
    assert abs(norm - 1) > 0.01 and all(abs(x / norm - y) < 1e-6 for x, y in zip(raw, first.embeddings[0], strict=True))
    show = s.json("POST", "/api/show", {"model": MODEL})[1]
    assert show["model_info"]["qwen2.embedding_length"] == 896
    assert s.json("POST", "/api/embed", {"model": MODEL, "input": [1, 2]}) == (400, {"error": "invalid input type"})
    assert s.json("POST", "/api/embed", {"model": MODEL, "input": "x" * 20000, "truncate": False}) == \
        (400, {"error": "input length exceeds maximum context length"})
    assert s.json("POST", "/api/embed", {"model": MODEL})[1] == {"model": MODEL, "embeddings": []}
    assert s.json("POST", "/api/embeddings", {"model": MODEL}) == (200, {"embedding": []})
    assert s.json("POST", "/api/embed", {"model": "nope", "input": "x"}) == (404, {"error": "model 'nope' not found"})
    assert s.json("POST", "/api/embeddings", {"model": "nope", "prompt": "x"}) == \
        (404, {"error": 'model "nope" not found, try pulling it first'})
    assert s.json("POST", "/api/embeddings", {"model": "", "prompt": "x"}) == (400, {"error": "model is required"})


# ---------------------------------------------------------------- the OpenAI-compatible API


def test_v1_chat_completions_streamed_and_not_with_the_openai_sdk(sim):
    s = sim()
    _, client = clients(s)
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    whole = client.chat.completions.create(model=MODEL, messages=messages)
    assert whole.object == "chat.completion" and whole.id.startswith("chatcmpl-")
    assert whole.system_fingerprint == "fp_ollama" and whole.choices[0].finish_reason == "stop"
    assert whole.usage.completion_tokens == 32 and whole.usage.total_tokens > 32
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content for c in chunks if c.choices) == whole.choices[0].message.content
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 32
    headers, events = sse(s, "/v1/chat/completions", {"model": MODEL, "messages": messages, "stream": True})
    assert headers["Content-Type"] == "text/event-stream" and events[-1] == "[DONE]"
    assert all(e["object"] == "chat.completion.chunk" for e in events[:-1]) and "usage" not in events[-2]
    short = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=3)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 3


def test_v1_json_response_format_and_tool_calls(sim):
    _, client = clients(sim())
    ask = [{"role": "user", "content": "What is the weather in Berlin?"}]
    answer = client.chat.completions.create(model=MODEL, messages=ask, tools=[WEATHER])
    call = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls" and call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_current_weather"
    assert json.loads(call.function.arguments) == {"city": "Berlin", "unit": "celsius"}
    chunks = list(client.chat.completions.create(model=MODEL, messages=ask, tools=[WEATHER], stream=True))
    assert [c.choices[0].delta.tool_calls[0].function.name for c in chunks if c.choices[0].delta.tool_calls] == \
        ["get_current_weather"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    schema = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
    person = json.loads(client.chat.completions.create(model=MODEL, messages=ask, response_format=schema)
                        .choices[0].message.content)
    assert set(PERSON["required"]) <= set(person)
    mode = client.chat.completions.create(model=MODEL, messages=ask, response_format={"type": "json_object"})
    assert isinstance(json.loads(mode.choices[0].message.content), dict)


def test_v1_completions_models_and_embeddings(sim):
    s = sim()
    _, client = clients(s)
    done = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=4)
    assert done.object == "text_completion" and done.id.startswith("cmpl-")
    assert done.choices[0].finish_reason == "length"
    assert len(done.choices[0].text.split()) == 4 and done.usage.completion_tokens == 4
    streamed = list(client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=4, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == done.choices[0].text
    assert [m.id for m in client.models.list()] == [MODEL]
    model = client.models.retrieve(MODEL)
    assert (model.id, model.object, model.owned_by) == (MODEL, "model", "library") and model.created > 0
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("nope")
    assert err.value.body == {"message": "model 'nope' not found", "type": "api_error", "param": None, "code": None}
    vectors = client.embeddings.create(model=MODEL, input=["the sky is blue", "grass"])
    native = s.json("POST", "/api/embed", {"model": MODEL, "input": "the sky is blue"})[1]["embeddings"][0]
    assert [d.index for d in vectors.data] == [0, 1] and vectors.usage.prompt_tokens > 0
    assert all(abs(a - b) < 1e-6 for a, b in zip(vectors.data[0].embedding, native, strict=True))
    s.call("DELETE", "/api/delete", {"model": MODEL})
    assert s.json("GET", "/v1/models") == (200, {"object": "list", "data": None})  # Go's nil slice


# ---------------------------------------------------------------- create, blobs, push


def test_blobs_create_from_files_and_from_a_model(sim):
    s = sim()
    client, _ = clients(s)
    weights = b"GGUF" + b"\x01" * 4000
    digest = "sha256:" + hashlib.sha256(weights).hexdigest()
    assert s.call("HEAD", f"/api/blobs/{digest}")[0] == 404
    assert s.call("POST", f"/api/blobs/{digest}", raw=b"other bytes")[0] == 400
    assert s.call("POST", f"/api/blobs/{digest}", raw=weights)[0] == 201
    assert s.call("HEAD", f"/api/blobs/{digest}")[0] == 200
    assert s.call("HEAD", "/api/blobs/sha256:12")[0] == 400
    statuses = [p.status for p in client.create(model="fromfile", files={"model.gguf": digest}, stream=True)]
    assert statuses == ["parsing GGUF", f"using existing layer {digest}", "writing manifest", "success"]
    done = client.create(model="brief", from_=MODEL, system="Answer briefly.", parameters={"temperature": 0.2})
    assert done.status == "success"
    show = client.show("brief")
    assert "temperature" in show.parameters and {m.model for m in client.list().models} >= {"brief:latest", MODEL}
    assert client.chat(model="brief", messages=[{"role": "user", "content": "hi"}]).message.content
    assert s.lines("/api/create", {"model": "x"}) == (200, [{"error": "neither 'from' or 'files' was specified"}])
    assert s.json("POST", "/api/create", {"model": "x", "stream": False}) == \
        (400, {"error": "neither 'from' or 'files' was specified"})
    assert s.json("POST", "/api/create", {"model": "a/b/c/d", "from": MODEL}) == (400, {"error": "invalid model name"})


def test_push_uploads_the_missing_blobs_and_the_manifest(sim):
    received: dict = {}
    registry = _serve(type("R", (_PushRegistry,), {"store": received}))
    try:
        s = sim(OLLAMA_SIM_REGISTRY=f"http://127.0.0.1:{registry.server_address[1]}")
        client, _ = clients(s)
        client.copy(MODEL, "me/mine:1")
        manifest = s.store.read(Name("me/mine:1"))[1]
        present = manifest["layers"][1]["digest"]
        received[present] = b"already there"
        parts = list(client.push("me/mine:1", stream=True))
        assert parts[0].status == "retrieving manifest" and [p.status for p in parts[-2:]] == ["pushing manifest",
                                                                                                "success"]
        assert {p.digest for p in parts if p.digest} == {layer["digest"] for layer in
                                                          [*manifest["layers"], manifest["config"]]}
        assert all(p.completed == p.total for p in parts if p.digest == present)
        assert received["/v2/me/mine/manifests/1"]["mediaType"] == MANIFEST_V2
        uploaded = {d for d in received if d.startswith("sha256:")} - {present}
        assert uploaded == {manifest["config"]["digest"], manifest["layers"][0]["digest"]}
        assert received[manifest["layers"][0]["digest"]] == s.model_blob("me/mine:1").read_bytes()
        assert s.json("POST", "/api/push", {"model": "nothere:1", "stream": False})[0] == 500
        assert s.json("POST", "/api/push", {}) == (400, {"error": "model is required"})
    finally:
        registry.shutdown()
        registry.server_close()


# ---------------------------------------------------------------- CORS and errors


def test_cors_allows_the_origins_ollama_allows(sim):
    s = sim(OLLAMA_ORIGINS="https://app.example.com,https://*.lab.example")

    def ask(method: str, origin: str | None, path: str = "/api/chat"):
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        headers = {"Origin": origin, "Access-Control-Request-Method": "POST"} if origin else {}
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status, response.headers

    for origin in ("http://localhost:3000", "http://127.0.0.1", "https://app.example.com", "https://a.lab.example",
                   "vscode-webview://abc", "app://ollama"):
        status, headers = ask("OPTIONS", origin)
        assert status == 204 and headers["Access-Control-Allow-Origin"] == origin, origin
        assert "POST" in headers["Access-Control-Allow-Methods"].split(",")
        assert {"Authorization", "Content-Type", "X-Stainless-Os"} <= set(headers["Access-Control-Allow-Headers"]
                                                                         .split(","))
    assert ask("OPTIONS", "https://evil.example")[0] == 403
    assert ask("GET", "https://evil.example", "/api/tags")[0] == 403
    status, headers = ask("GET", "http://localhost:8080", "/api/tags")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    status, headers = ask("GET", None, "/api/tags")
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    assert ask("OPTIONS", None)[0] == 405  # no Origin: not CORS, and no OPTIONS route
    assert ask("OPTIONS", f"http://127.0.0.1:{s.port}")[0] == 405  # the server's own origin: not CORS either
    every = sim(OLLAMA_ORIGINS="*")
    conn = http.client.HTTPConnection("127.0.0.1", every.port, timeout=10)
    conn.request("GET", "/api/tags", headers={"Origin": "https://anywhere.example"})
    assert conn.getresponse().headers["Access-Control-Allow-Origin"] == "*"
    conn.close()


def test_errors_have_ollamas_statuses_and_shapes(sim):
    s = sim()
    client, oai = clients(s)
    with pytest.raises(ollama_client.ResponseError) as err:
        client.generate(model="nope", prompt="hi")
    assert (err.value.status_code, err.value.error) == (404, "model 'nope' not found")
    assert s.json("POST", "/api/chat", None) == (400, {"error": "missing request body"})
    with pytest.raises(openai.NotFoundError) as not_found:
        oai.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert not_found.value.body["message"] == 'model "nope" not found, try pulling it first'
    with pytest.raises(openai.BadRequestError) as bad:
        oai.chat.completions.create(model=MODEL, messages=[])
    assert bad.value.body == {"message": "[] is too short - 'messages'", "type": "invalid_request_error",
                              "param": None, "code": None}
    with pytest.raises(openai.BadRequestError) as bad:
        oai.embeddings.create(model=MODEL, input=[])
    assert bad.value.body["message"] == "invalid input"
    assert s.json("POST", "/v1/completions", {"model": MODEL, "prompt": "x", "stop": [1]}) == \
        (400, {"error": {"message": "invalid type for 'stop' field: float64", "type": "invalid_request_error",
                         "param": None, "code": None}})
    assert s.call("GET", "/v1/chat/completions")[0] == 405
    assert s.call("GET", "/v1/nothing")[:1] == (404,)


@pytest.mark.parametrize("version, absent", [
    ("0.1.23", ["/v1/chat/completions", "/v1/completions", "/v1/models", "/api/embed", "/v1/embeddings"]),
    ("0.1.48", ["/v1/completions", "/v1/models", "/api/embed", "/v1/embeddings"]),
    ("0.2.5", ["/api/embed", "/v1/embeddings"]),
    ("0.2.6", []),
])
def test_an_older_release_lacks_the_routes_it_did_not_have_yet(sim, version, absent):
    """VERSION_RULES route_*: a route before its release is gin's 404; tools before 0.2.6 are no field (a text
    answer), and a schema `format` before 0.5.0 a 400."""
    s = sim(OLLAMA_SIM_VERSION=version)
    for path in ["/v1/chat/completions", "/v1/completions", "/api/embed", "/v1/embeddings"]:
        status, _, body = s.call("POST", path, {"model": MODEL, "prompt": "hi", "input": "hi",
                                                "messages": [{"role": "user", "content": "hi"}]})
        assert (status == 404 and body == b"404 page not found") == (path in absent), (path, status)
    assert (s.call("GET", "/v1/models")[0] == 404) == ("/v1/models" in absent)
    ask = {"model": MODEL, "stream": False, "messages": [{"role": "user", "content": "Weather in Rome?"}]}
    called = s.json("POST", "/api/chat", {**ask, "tools": [WEATHER]})[1]["message"]
    assert ("tool_calls" in called) == (version == "0.2.6")
    assert s.json("POST", "/api/chat", {**ask, "format": PERSON}) == (400, {
        "error": "json: cannot unmarshal object into Go struct field ChatRequest.format of type string"})
    assert isinstance(json.loads(s.json("POST", "/api/chat", {**ask, "format": "json"})[1]["message"]["content"]),
                      dict)
