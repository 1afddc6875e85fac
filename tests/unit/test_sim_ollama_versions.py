"""The simulated Ollama behaves as the release it says it is: each rule of versions.VERSION_RULES at a
release before it and one after it, the load of a corrupt model, and the prebuilt dustynv/ollama images
of images.PREBUILT with the versions they report.

No root, loopback only: the simulated server runs in-process on 127.0.0.1 (its Api handler bound to a
Config read from the environment, as `serve` binds it) with JETSON_SIM_TIME_SCALE=0; pulls come from a
small stand-in registry on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from jetson_sim.upstream import images
from jetson_sim.upstream.ollama import build, config, store, versions
from jetson_sim.upstream.ollama.api import Api
from jetson_sim.upstream.ollama.pull import Puller
from jetson_sim.upstream.ollama.scheduler import Scheduler
from jetson_sim.upstream.ollama.store import Name, Store, go_manifest_bytes

from .stubs import JSONHandler

SERVER = build.script_path()  # the one-file server, as an image runs it
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG = {"model_format": "gguf", "model_family": "qwen2", "model_families": ["qwen2"], "model_type": "494.03M",
          "file_type": "Q4_K_M", "jetson_sim": {"size": 397_000_000, "kv_bytes_per_token": 12288,
                                                "context_length": 32768}}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_model(seed: str, weights: bytes | None = None, template: bytes = b"{{ .Prompt }}") -> dict:
    """A model: its manifest and blobs (a GGUF-looking model layer, a template, the config)."""
    weights = weights if weights is not None else b"GGUF" + hashlib.sha256(seed.encode()).digest() * 100
    config = json.dumps({**CONFIG, "seed": seed}).encode()
    entry = lambda media, data: {"mediaType": media, "digest": _digest(data), "size": len(data)}  # noqa: E731
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_V2,
                "config": entry("application/vnd.docker.container.image.v1+json", config),
                "layers": [entry("application/vnd.ollama.image.model", weights),
                           entry("application/vnd.ollama.image.template", template)]}
    return {"manifest": manifest, "blobs": {_digest(d): d for d in (config, weights, template)}}


class _Registry(JSONHandler):
    """/v2/<ns>/<model>/manifests/<tag> and /v2/<ns>/<model>/blobs/<digest> from `models` {"ns/model:tag": model}."""

    protocol_version = "HTTP/1.1"
    models: dict

    def do_GET(self):
        parts = self.path.split("/")
        if len(parts) == 6 and parts[1] == "v2" and parts[4] == "manifests":
            model = self.models.get(f"{parts[2]}/{parts[3]}:{parts[5]}")
            if model:
                return self._bytes(json.dumps(model["manifest"]).encode(), MANIFEST_V2)
            return self._answer(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        if len(parts) == 6 and parts[1] == "v2" and parts[4] == "blobs":
            for model in self.models.values():
                if parts[5] in model["blobs"]:
                    return self._bytes(model["blobs"][parts[5]], "application/octet-stream")
        self._answer(404, {"errors": [{"code": "BLOB_UNKNOWN"}]})

    def _bytes(self, data: bytes, content_type: str):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _serve(handler) -> ThreadingHTTPServer:
    server = type("S", (ThreadingHTTPServer,), {"daemon_threads": True})(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def registry():
    """The stand-in registry: (base URL, its models dict to fill)."""
    models: dict = {}
    server = _serve(type("R", (_Registry,), {"models": models}))
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", models
    finally:
        server.shutdown()
        server.server_close()


class Sim:
    """One simulated server in this process."""

    def __init__(self, cfg, store: Store, sched: Scheduler, server: ThreadingHTTPServer):
        self.cfg, self.store, self.sched, self.server = cfg, store, sched, server
        self.port = server.server_address[1]

    def call(self, method: str, path: str, body=None, raw: bytes | None = None):
        """(status, headers, body bytes) of one request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        response = conn.getresponse()
        result = response.status, dict(response.getheaders()), response.read()
        conn.close()
        return result

    def json(self, method: str, path: str, body=None):
        status, _, data = self.call(method, path, body)
        return status, json.loads(data)

    def lines(self, path: str, body: dict) -> tuple[int, list]:
        status, _, data = self.call("POST", path, body)
        return status, [json.loads(line) for line in data.splitlines() if line.strip()]

    def put(self, name: str, model: dict) -> None:
        """A model straight into the store, as a finished pull leaves it."""
        for digest, data in model["blobs"].items():
            self.store.blob(digest).write_bytes(data)
        self.store.write_manifest(Name(name), go_manifest_bytes(model["manifest"]))

    def model_blob(self, name: str) -> Path:
        manifest = self.store.read(Name(name))[1]
        return self.store.blob(manifest["layers"][0]["digest"])


@pytest.fixture
def ollama(monkeypatch, tmp_path, registry):
    """start(version, behaves_as=None, **env) -> Sim; the stand-in registry is its registry.ollama.ai."""
    started: list[Sim] = []
    for key in list(os.environ):
        if key.startswith(("OLLAMA_", "JETSON_")) or "proxy" in key.lower():
            monkeypatch.delenv(key)

    def start(version: str, behaves_as: str | None = None, models: Path | None = None, **env) -> Sim:
        home = tmp_path / f"ollama{len(started)}"
        home.mkdir()
        settings = {"OLLAMA_SIM_VERSION": version, "OLLAMA_MODELS": str(models or home / "models"),
                    "OLLAMA_SIM_REGISTRY": registry[0], "JETSON_SIM_TIME_SCALE": "0",
                    "JETSON_SIM_PROFILE": str(home / "none.json"), "JETSON_SIM_GPU": str(home / "no-gpu"),
                    "JETSON_SIM_MEMINFO": str(home / "no-meminfo"), "JETSON_SIM_GR3D": str(home / "no/gr3d"),
                    "JETSON_SIM_MEM_D": str(home / "no-mem.d"), **env}
        if behaves_as:
            settings["OLLAMA_SIM_BEHAVES_AS"] = behaves_as
        for key in ("OLLAMA_SIM_BEHAVES_AS", "OLLAMA_NOPRUNE"):
            monkeypatch.delenv(key, raising=False)
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        cfg = config.Config()
        store = Store(cfg.models)
        store.ensure()
        sched = Scheduler(cfg, store)
        handler = type("BoundApi", (Api,), {"cfg": cfg, "store": store, "sched": sched,
                                            "puller": Puller(cfg, store), "_log": lambda self: None})
        sim = Sim(cfg, store, sched, _serve(handler))
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.server.shutdown()
        sim.server.server_close()
        sim.sched.unload_all()


def test_the_one_file_server_is_the_package_built_and_runs_with_nothing_beside_it(tmp_path):
    """The one file an image copies (script_path) is the modules of jetson_sim/upstream/ollama/ as build.py
    joins them, written once per content; with no site packages and nothing beside it, it runs."""
    alone = build.script_path()
    assert alone.read_text() == build.script() and alone.stat().st_mode & 0o111
    assert build.script_path() == alone and not (alone.parents[1] / "lib").exists()
    out = subprocess.run([sys.executable, "-I", "-S", str(alone), "--help"], capture_output=True, text=True,
                         timeout=30, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("Usage:\n  ollama [flags]"), out.stderr


def test_the_version_rules_are_keyed_on_the_release_the_server_behaves_as(ollama):
    assert ollama("0.6.8").cfg.behaves_as == (0, 6, 8)
    assert ollama("0.1.46-0-gcb42e60").cfg.behaves_as == (0, 1, 46)  # git describe of a tagged head
    hashed = ollama("5f7b4a5", behaves_as="0.3.9")  # a source build stamped with a bare hash
    assert hashed.cfg.behaves_as == (0, 3, 9) and hashed.json("GET", "/api/version") == (200, {"version": "5f7b4a5"})
    assert ollama("0.0.0").cfg.behaves_as == (0, 6, 8)  # a dev stamp without OLLAMA_SIM_BEHAVES_AS: the default
    for rule, (first, where) in versions.VERSION_RULES.items():
        assert versions.parse_version(first) and where.startswith("ollama/ollama "), rule
        assert "@v" in where and "(" in where, rule  # the tag read, and the commit


# ---------------------------------------------------------------- 1. /api/ps context_length and order

@pytest.mark.parametrize("version, has_context", [("0.9.6", False), ("0.10.0", True), ("0.11.8", True)])
def test_ps_has_context_length_from_0_10_and_lists_the_longest_time_left_first(ollama, version, has_context):
    o = ollama(version)
    o.put("short:1b", make_model("short"))
    o.put("long:1b", make_model("long"))
    o.put("forever:1b", make_model("forever"))
    for name, keep_alive in (("short:1b", "1m"), ("forever:1b", -1), ("long:1b", "2h")):
        body = {"model": name, "prompt": "", "keep_alive": keep_alive, "options": {"num_ctx": 2048}}
        assert o.json("POST", "/api/generate", body)[1]["done_reason"] == "load"
    status, ps = o.json("GET", "/api/ps")
    assert status == 200 and [m["name"] for m in ps["models"]] == ["forever:1b", "long:1b", "short:1b"]
    for entry in ps["models"]:
        assert ("context_length" in entry) is has_context
        assert entry.get("context_length", 2048) == 2048  # one slot's context, the request's num_ctx
        assert set(entry) - {"context_length"} == {"name", "model", "size", "digest", "details", "expires_at",
                                                   "size_vram"}


def test_cli_ps_has_a_context_column_from_0_10(ollama, tmp_path):
    for version, header in (("0.6.8", ["NAME", "ID", "SIZE", "PROCESSOR", "UNTIL"]),
                            ("0.11.8", ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"])):
        o = ollama(version)
        o.put("tiny:1b", make_model("tiny"))
        o.json("POST", "/api/generate", {"model": "tiny:1b", "prompt": ""})
        env = {"PATH": "/usr/bin:/bin", "OLLAMA_HOST": f"127.0.0.1:{o.port}", "OLLAMA_SIM_VERSION": version}
        out = subprocess.run([sys.executable, "-I", "-S", str(SERVER), "ps"], env=env, capture_output=True,
                             text=True, timeout=30).stdout.splitlines()
        assert out[0].split() == header
        assert ("4096" in out[1].split()) is ("CONTEXT" in header)


# ---------------------------------------------------------------- 2. a pull that replaces a manifest

def pull_statuses(o: Sim, name: str) -> list[str]:
    status, lines = o.lines("/api/pull", {"model": name})
    assert status == 200 and lines[-1] == {"status": "success"}, lines
    return [line["status"] for line in lines if "digest" not in line]


@pytest.mark.parametrize("version", ["0.6.8", "0.11.8"])
def test_a_pull_that_leaves_layers_unused_says_so_and_removes_the_blobs_no_manifest_lists(ollama, registry, version):
    _, models = registry
    o = ollama(version)
    models["library/tiny:1b"] = first = make_model("first")
    assert "removing unused layers" not in pull_statuses(o, "tiny:1b")  # nothing replaced
    assert "removing unused layers" not in pull_statuses(o, "tiny:1b")  # the same manifest again
    old_weights = o.model_blob("tiny:1b")
    models["library/tiny:1b"] = make_model("second")  # upstream retag: other weights and config
    statuses = pull_statuses(o, "tiny:1b")
    assert statuses[-3:] == ["writing manifest", "removing unused layers", "success"]
    assert not old_weights.exists() and o.model_blob("tiny:1b").exists()
    template = o.store.blob(first["manifest"]["layers"][1]["digest"])
    assert template.exists()  # the template layer is in the new manifest too

    # the status comes whenever the old manifest had layers the new one lacks, even if another keeps them
    o.put("keep:1b", models["library/tiny:1b"])
    models["library/tiny:1b"] = first
    assert "removing unused layers" in pull_statuses(o, "tiny:1b")
    assert o.model_blob("keep:1b").exists()  # still listed by keep:1b


@pytest.mark.parametrize("version", ["0.6.8", "0.11.8"])
def test_with_noprune_a_pull_keeps_the_replaced_layers_and_says_nothing(ollama, registry, version):
    _, models = registry
    o = ollama(version, OLLAMA_NOPRUNE="1")
    models["library/tiny:1b"] = make_model("first")
    pull_statuses(o, "tiny:1b")
    old_weights = o.model_blob("tiny:1b")
    models["library/tiny:1b"] = make_model("second")
    assert "removing unused layers" not in pull_statuses(o, "tiny:1b")
    assert old_weights.exists()


def test_before_0_3_7_every_pull_says_removing_any_unused_layers(ollama, registry):
    _, models = registry
    models["library/tiny:1b"] = make_model("first")
    old = ollama("0.3.6")
    assert pull_statuses(old, "tiny:1b")[-3:] == ["writing manifest", "removing any unused layers", "success"]
    new = ollama("0.3.7")
    assert pull_statuses(new, "tiny:1b")[-2:] == ["writing manifest", "success"]


# ---------------------------------------------------------------- 3. invalid names, stream false

INVALID = ["", "a/b/c/d", "bad name", "-lead:1b", "ns.dotted/m:1b", "m:ta/g", "x" * 81]


@pytest.mark.parametrize("version", ["0.6.8", "0.11.8"])
def test_an_invalid_name_is_a_400_before_any_stream(ollama, version):
    o = ollama(version)
    for name in INVALID:
        for body in ({"model": name}, {"model": name, "stream": False}, {"name": name}):
            status, headers, data = o.call("POST", "/api/pull", body)
            assert status == 400 and json.loads(data) == {"error": "invalid model name"}, (name, data)
            assert headers["Content-Type"].startswith("application/json")
        status, doc = o.json("DELETE", "/api/delete", {"model": name})
        assert status == 400 and doc == {"error": f'name "{name}" is invalid'}
    assert o.json("POST", "/api/show", {"model": "a/b/c/d"}) == (500, {"error": "invalid model path"})
    assert o.json("POST", "/api/show", {}) == (400, {"error": "model is required"})
    assert o.json("POST", "/api/show", {"model": "nope:1b"}) == (404, {"error": "model 'nope:1b' not found"})


def test_before_0_1_40_a_bad_name_failed_inside_the_stream(ollama):
    o = ollama("0.1.38")
    assert o.json("POST", "/api/pull", {"model": ""}) == (400, {"error": "model is required"})
    status, lines = o.lines("/api/pull", {"model": "a/b/c/d"})
    assert status == 200 and lines == [{"error": "invalid model name"}]


@pytest.mark.parametrize("version", ["0.6.8", "0.11.8"])
def test_stream_false_answers_the_last_progress_or_a_500_with_the_error(ollama, registry, version):
    _, models = registry
    models["library/tiny:1b"] = make_model("tiny")
    o = ollama(version)
    status, headers, data = o.call("POST", "/api/pull", {"model": "nope:1b", "stream": False})
    assert status == 500 and json.loads(data) == {"error": "pull model manifest: file does not exist"}
    assert headers["Content-Type"].startswith("application/json")
    assert o.json("POST", "/api/pull", {"model": "tiny:1b", "stream": False}) == (200, {"status": "success"})


# ---------------------------------------------------------------- 4. /api/delete

@pytest.mark.parametrize("version, body", [("0.1.38", b"null"), ("0.1.40", b""), ("0.6.8", b""), ("0.11.8", b"")])
def test_delete_answers_200_with_an_empty_body(ollama, version, body):
    o = ollama(version)
    o.put("tiny:1b", make_model("tiny"))
    status, headers, data = o.call("DELETE", "/api/delete", {"model": "tiny:1b"})
    assert status == 200 and data == body
    assert ("Content-Type" in headers) is bool(body)
    assert list(o.store.blobs.iterdir()) == []
    assert o.json("DELETE", "/api/delete", {"model": "tiny:1b"}) == (404, {"error": "model 'tiny:1b' not found"})


# ---------------------------------------------------------------- 5. load and unload requests

GENERATE_KEYS = ["model", "created_at", "response", "done", "done_reason"]
CHAT_KEYS = ["model", "created_at", "message", "done_reason", "done"]


@pytest.mark.parametrize("version", ["0.6.8", "0.11.8"])
def test_load_and_unload_answer_one_json_object_even_when_streaming(ollama, version):
    o = ollama(version)
    o.put("tiny:1b", make_model("tiny"))
    for path, empty, keys in (("/api/generate", {"prompt": ""}, GENERATE_KEYS),
                              ("/api/chat", {"messages": []}, CHAT_KEYS)):
        for stream in ({}, {"stream": True}, {"stream": False}):
            for keep_alive, reason, loaded in (({}, "load", True), ({"keep_alive": 0}, "unload", False)):
                status, headers, data = o.call("POST", path, {"model": "tiny:1b", **empty, **stream, **keep_alive})
                assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
                assert "Transfer-Encoding" not in headers and data.count(b"\n") == 0
                doc = json.loads(data)
                assert list(doc) == keys and doc["done"] is True and doc["done_reason"] == reason
                assert doc["model"] == "tiny:1b" and doc["created_at"].endswith("Z")
                assert doc.get("response", "") == "" and doc.get("message", {"role": "assistant", "content": ""}) \
                    == {"role": "assistant", "content": ""}
                assert bool(o.json("GET", "/api/ps")[1]["models"]) is loaded


def test_before_0_3_11_keep_alive_0_loads_and_answers_load(ollama):
    old, new = ollama("0.3.10"), ollama("0.3.11")
    for o in (old, new):
        o.put("tiny:1b", make_model("tiny"))
    assert old.json("POST", "/api/generate", {"model": "tiny:1b", "keep_alive": 0})[1]["done_reason"] == "load"
    assert old.json("GET", "/api/ps")[1]["models"] == []  # loaded for keep_alive 0: gone at once
    assert old.json("POST", "/api/chat", {"model": "tiny:1b", "keep_alive": 0})[1]["done_reason"] == "load"
    assert new.json("POST", "/api/generate", {"model": "tiny:1b", "keep_alive": 0})[1]["done_reason"] == "unload"
    older = ollama("0.1.34")
    older.put("tiny:1b", make_model("tiny"))
    assert list(older.json("POST", "/api/generate", {"model": "tiny:1b"})[1]) == ["model", "created_at", "response",
                                                                                  "done"]


def test_before_0_11_8_any_keep_alive_under_a_second_unloads(ollama):
    for version, reason, seconds in (("0.6.8", "unload", 2.0), ("0.11.8", "load", 2.5)):
        o = ollama(version)
        o.put("tiny:1b", make_model("tiny"))
        for path, empty in (("/api/generate", {"prompt": ""}), ("/api/chat", {"messages": []})):
            for keep_alive in ("500ms", 0.5):
                o.json("POST", path, {"model": "tiny:1b", **empty, "keep_alive": "1h"})
                status, doc = o.json("POST", path, {"model": "tiny:1b", **empty, "keep_alive": keep_alive})
                assert status == 200 and doc["done_reason"] == reason, (version, path, keep_alive)
        # a number keeps its fraction only from 0.11.8
        o.json("POST", "/api/generate", {"model": "tiny:1b", "prompt": "", "keep_alive": 2.5})
        assert o.sched.loaded["tiny:1b"].keep_alive == seconds


@pytest.mark.parametrize("version", ["0.6.8", "0.11.8"])
def test_keep_alive_is_read_as_go_reads_a_duration(ollama, version):
    o = ollama(version)
    o.put("tiny:1b", make_model("tiny"))
    for value, error in (("30", 'time: missing unit in duration "30"'), ("abc", 'time: invalid duration "abc"'),
                         ("5x", 'time: unknown unit "x" in duration "5x"'), ("", 'time: invalid duration ""'),
                         (True, "Unsupported type: 'bool'")):
        assert o.json("POST", "/api/generate", {"model": "tiny:1b", "keep_alive": value}) == (400, {"error": error})
    assert o.json("POST", "/api/generate", {"model": "tiny:1b", "prompt": "", "keep_alive": "1h30m"})[0] == 200
    assert o.sched.loaded["tiny:1b"].keep_alive == 5400


# ---------------------------------------------------------------- 6. the rest of the endpoints

@pytest.mark.parametrize("version", ["0.6.8", "0.11.8"])
def test_model_errors_of_generate_and_chat_are_ollamas(ollama, version):
    o = ollama(version)
    assert o.json("POST", "/api/generate", {"model": "nope:1b", "prompt": "hi"}) == \
        (404, {"error": "model 'nope:1b' not found"})
    assert o.json("POST", "/api/generate", {"prompt": "hi"}) == (404, {"error": "model '' not found"})
    assert o.json("POST", "/api/generate", {"model": "a/b/c/d"}) == (404, {"error": "model 'a/b/c/d' not found"})
    assert o.json("POST", "/api/chat", {"model": "nope:1b", "messages": [{"role": "user", "content": "hi"}]}) == \
        (404, {"error": 'model "nope:1b" not found, try pulling it first'})
    assert o.json("POST", "/api/chat", {"model": "nope:1b"}) == \
        (404, {"error": 'model "nope:1b" not found, try pulling it first'})
    assert o.json("POST", "/api/chat", {"model": "nope:1b", "keep_alive": 0}) == \
        (404, {"error": "model 'nope:1b' not found"})
    assert o.json("POST", "/api/chat", {"messages": []}) == (400, {"error": "model is required"})
    assert o.json("POST", "/api/generate", None) == (400, {"error": "missing request body"})


@pytest.mark.parametrize("version", ["0.6.8", "0.11.8"])
def test_routes_methods_and_tags_as_gin_serves_them(ollama, version):
    o = ollama(version)
    o.put("tiny:1b", make_model("tiny"))
    status, headers, data = o.call("HEAD", "/api/tags")
    assert status == 200 and data == b"" and headers["Content-Type"].startswith("application/json")
    assert o.call("GET", "/api/pull")[0] == 405 and o.call("GET", "/api/pull")[2] == b"405 method not allowed"
    assert o.call("POST", "/api/tags")[0] == 405 and o.call("GET", "/api/nothing")[0] == 404
    assert o.json("GET", "/api/version") == (200, {"version": version})
    assert o.json("POST", "/api/copy", {"source": "a/b/c/d", "destination": "x:1"}) == \
        (400, {"error": 'source "a/b/c/d" is invalid'})
    assert o.json("POST", "/api/copy", {"source": "tiny:1b", "destination": ""}) == \
        (400, {"error": 'destination "" is invalid'})
    assert o.json("POST", "/api/copy", {"source": "nope:1b", "destination": "x:1"}) == \
        (404, {"error": 'model "nope:1b" not found'})
    assert o.call("POST", "/api/copy", {"source": "tiny:1b", "destination": "copy:1b"})[::2] == (200, b"")
    o.call("DELETE", "/api/delete", {"model": "copy:1b"})
    # a model whose config blob cannot be read is not listed
    o.put("broken:1b", make_model("broken"))
    o.store.blob(o.store.read(Name("broken:1b"))[1]["config"]["digest"]).unlink()
    assert [m["name"] for m in o.json("GET", "/api/tags")[1]["models"]] == ["tiny:1b"]


def test_chat_final_chunk_orders_done_reason_before_done(ollama):
    o = ollama("0.11.8")
    o.put("tiny:1b", make_model("tiny"))
    status, chunks = o.lines("/api/chat", {"model": "tiny:1b", "messages": [{"role": "user", "content": "hi"}],
                                           "options": {"num_predict": 2}})
    assert status == 200 and list(chunks[-1])[:5] == CHAT_KEYS
    status, chunks = o.lines("/api/generate", {"model": "tiny:1b", "prompt": "hi", "options": {"num_predict": 2}})
    assert list(chunks[-1])[:5] == GENERATE_KEYS and chunks[-1]["done_reason"] == "length"


# ---------------------------------------------------------------- 7. a corrupt model is not served

@pytest.mark.parametrize("version, truncated, flipped", [
    ("0.5.7", "llama runner process has terminated: error loading model: tensor 'output.weight' data is not "
              "within the file bounds, model is corrupted or incomplete",
     "llama runner process has terminated: error loading model: llama_model_loader: failed to load model from {path}"),
    ("0.6.8", "unable to load model: {path}", "unable to load model: {path}"),
    ("0.11.8", "unable to load model: {path}", "unable to load model: {path}"),
])
def test_a_model_blob_that_does_not_match_its_digest_or_size_fails_to_load(ollama, version, truncated, flipped):
    o = ollama(version)
    o.put("tiny:1b", make_model("tiny"))
    blob = o.model_blob("tiny:1b")
    good = blob.read_bytes()
    ok = {"model": "tiny:1b", "prompt": "hi", "stream": False}
    assert o.json("POST", "/api/generate", ok)[0] == 200
    o.sched.unload_all()

    blob.write_bytes(good[:-10])  # a short copy
    for path, body in (("/api/generate", ok), ("/api/generate", {"model": "tiny:1b"}),
                       ("/api/chat", {"model": "tiny:1b", "messages": [{"role": "user", "content": "hi"}]})):
        assert o.json("POST", path, body) == (500, {"error": truncated.format(path=blob)})
    assert o.json("GET", "/api/ps")[1]["models"] == []

    blob.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size, other bytes
    assert o.json("POST", "/api/generate", ok) == (500, {"error": flipped.format(path=blob)})
    blob.write_bytes(good)  # mended: hashed again (its mtime changed) and served
    assert o.json("POST", "/api/generate", ok)[0] == 200
    blob.unlink()
    o.sched.unload_all()
    assert o.json("POST", "/api/generate", ok) == (500, {"error": f"open {blob}: no such file or directory"})


def test_the_blob_hash_is_cached_by_size_mtime_and_inode(ollama, monkeypatch):
    o = ollama("0.11.8")
    o.put("tiny:1b", make_model("tiny"))
    calls = []
    real = store.file_sha256
    monkeypatch.setattr(store, "file_sha256", lambda path: calls.append(path) or real(path))
    for _ in range(3):
        assert o.json("POST", "/api/generate", {"model": "tiny:1b", "prompt": ""})[0] == 200
        o.sched.unload_all()
    assert len(calls) == 1


# ---------------------------------------------------------------- the prebuilt images (images.py)

README_16F7CF41 = {  # tag: push date, dusty-nv/jetson-containers packages/llm/ollama/README.md @16f7cf41
    "0.4.0-r36.4.0": "2024-11-09", "0.5.1-r36.4.0": "2024-12-12", "0.5.7-r36.4.0": "2025-01-30",
    "0.6.3-r36.4.0": "2025-03-31", "0.6.8-r36.4": "2025-05-06", "0.6.8-r36.4-cu126-22.04": "2025-05-06",
    "main-r36.4.0": "2025-03-31", "r35.4.1": "2024-06-25", "r36.2.0": "2024-09-02", "r36.3.0": "2024-09-30",
    "r36.4.0": "2025-04-09", "r36.4.0-cu128-24.04": "2025-04-09", "r36.4.3": "2025-03-11",
}


def test_the_mirror_preloads_exactly_the_real_prebuilt_tags():
    assert {tag: image.pushed for tag, image in images.PREBUILT.items()} == README_16F7CF41
    assert images.PREBUILT_OLLAMA == {tag: image.version for tag, image in images.PREBUILT.items()}
    for tag, image in images.PREBUILT.items():
        assert versions.parse_version(image.behaves_as), tag
        assert image.why and (image.verified or "Unverified" in image.why), tag
        named = tag.split("-")[0]
        if image.version not in ("0.0.0",) and versions.parse_version(named):
            assert image.version == named, tag  # a release the tag names is the one the image reports...
        if versions.parse_version(named):
            assert image.behaves_as == named, tag  # ...or at least the one it runs (0.0.0-stamped builds)
    # source builds stamped from git or with 0.0.0, then the official installer's newest release
    assert images.PREBUILT_OLLAMA["r35.4.1"] == "0.1.46-0-gcb42e60"
    assert images.PREBUILT_OLLAMA["r36.2.0"] == "5f7b4a5"
    assert [images.PREBUILT_OLLAMA[t] for t in ("r36.3.0", "0.4.0-r36.4.0", "0.5.1-r36.4.0")] == ["0.0.0"] * 3
    assert images.PREBUILT_OLLAMA["r36.4.3"] == "0.5.13"  # before Ollama 0.6.0 was out


def test_the_preload_cache_key_follows_the_image_list(monkeypatch):
    key = images.preload_key()
    monkeypatch.setitem(images.PREBUILT, "r36.4.3", images.Prebuilt("0.6.0", "0.6.0", "2025-03-11", False, "x"))
    assert images.preload_key() != key
    monkeypatch.setattr(images, "PRELOAD_VERSION", images.PRELOAD_VERSION + 1)
    assert images.preload_key() != key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("tag", sorted(images.PREBUILT))
def test_each_image_answers_version_in_a_throwaway_container_as_its_server_does(ollama, tag):
    """`docker run --rm --entrypoint ollama IMAGE --version`: no server in the container, so the client
    prints its own version; with the image's server running, /api/version and the CLI agree."""
    sim_env = dict(item.split("=", 1) for item in images.ollama_sim_env(tag))
    version = images.PREBUILT[tag].version
    env = {"PATH": "/usr/bin:/bin", "OLLAMA_HOST": f"127.0.0.1:{_free_port()}", **sim_env}
    alone = subprocess.run([sys.executable, "-I", "-S", str(SERVER), "--version"], env=env, capture_output=True,
                           text=True, timeout=30)
    assert alone.returncode == 0
    assert alone.stdout == f"Warning: could not connect to a running Ollama instance\n" \
                           f"Warning: client version is {version}\n"
    o = ollama(sim_env["OLLAMA_SIM_VERSION"], behaves_as=sim_env["OLLAMA_SIM_BEHAVES_AS"])
    assert o.json("GET", "/api/version") == (200, {"version": version})
    assert o.cfg.behaves_as == versions.parse_version(images.PREBUILT[tag].behaves_as)
    served = subprocess.run([sys.executable, "-I", "-S", str(SERVER), "--version"], capture_output=True, text=True,
                            env={**env, "OLLAMA_HOST": f"127.0.0.1:{o.port}"}, timeout=30)
    assert served.stdout == f"ollama version is {version}\n"
