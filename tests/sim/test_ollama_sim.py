"""The simulated Ollama registry and the simulated `ollama`, used as a board's user would use them.

No root, loopback only: each test starts the registry and the server as subprocesses on free
127.0.0.1 ports with temp dirs, and JETSON_SIM_TIME_SCALE=0 so nothing sleeps. Expected behaviour is
that of docs/facts.md sections 4-6.
"""

import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from jetson_sim.upstream.ollama.build import script_path
from jetson_sim.upstream.ollama_registry import CATALOG, load_catalog, parse_catalog

UPSTREAM = Path(__file__).resolve().parents[2] / "jetson_sim" / "upstream"
SERVER = script_path()
# Both services are stdlib-only, as on a board: run them without site-packages (-I -S also starts faster).
PYTHON = [sys.executable, "-I", "-S"]
GIB = 1 << 30
TOO_OLD = "pull model manifest: 412: The model you are attempting to pull requires a newer version of Ollama."
MANIFESTS = Path("manifests/registry.ollama.ai/library")
HTTP = httpx.Client(timeout=30)  # one client: a new one per call costs ~0.1 s (it loads the CA bundle)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Service:
    """A subprocess on a loopback port, stderr to a file; stopped by its PID at teardown."""

    def __init__(self, argv, env, log: Path, url: str):
        self.url, self.log = url, log
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 10
        while True:  # readiness: poll until it answers, bounded
            if self.proc.poll() is not None:
                pytest.fail(f"{argv} exited {self.proc.returncode}:\n{log.read_text()}")
            try:
                if HTTP.get(url + self.ready_path, timeout=1).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{argv} not ready after 10 s:\n{log.read_text()}")
            time.sleep(0.02)

    ready_path = "/"

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Registry(Service):
    ready_path = "/v2/"

    def __init__(self, data: Path, log: Path):
        port = free_port()
        argv = [*PYTHON, str(UPSTREAM / "ollama_registry.py"), "--listen", f"127.0.0.1:{port}", "--data", str(data)]
        super().__init__(argv, clean_env(), log, f"http://127.0.0.1:{port}")

    def stats(self) -> dict:
        return HTTP.get(self.url + "/_sim/stats").json()

    def hook(self, name: str, body: dict | None = None) -> dict:
        response = HTTP.post(f"{self.url}/_sim/{name}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def manifest(self, model: str) -> dict:
        return HTTP.get(self.url + "/_sim/models").json()[model]


class Ollama(Service):
    def __init__(self, tmp: Path, registry: Registry, env: dict, models: Path | None = None):
        self.models = models or tmp / "models"
        port = free_port()
        self.env = {**clean_env(), "HOME": str(tmp), "PATH": f"{tmp / 'bin'}:/usr/bin:/bin",
                    "OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_MODELS": str(self.models),
                    "OLLAMA_SIM_REGISTRY": registry.url, "JETSON_SIM_TIME_SCALE": "0", **env}
        super().__init__([*PYTHON, str(SERVER), "serve"], self.env, tmp / f"ollama-{port}.log",
                         f"http://127.0.0.1:{port}")
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def stream(self, path: str, body: dict) -> list[dict]:
        with self.http.stream("POST", path, json=body) as response:
            assert response.status_code == 200, response.read()
            return [json.loads(line) for line in response.iter_lines() if line.strip()]

    def pull(self, model: str, ok: bool = True) -> list[dict]:
        lines = self.stream("/api/pull", {"model": model})
        assert not ok or lines[-1] == {"status": "success"}, lines[-3:]
        return lines

    def generate(self, model: str, prompt: str = "Why is the sky blue?", **body) -> httpx.Response:
        return self.http.post("/api/generate", json={"model": model, "prompt": prompt, "stream": False, **body})

    def ps(self) -> list[dict]:
        return self.http.get("/api/ps").json()["models"]

    def tags(self) -> list[dict]:
        return self.http.get("/api/tags").json()["models"]

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([*PYTHON, str(SERVER), *args], env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=10)


def clean_env() -> dict:
    # nothing of the host's own Ollama or simulator settings leaks into the services under test
    return {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "JETSON_"))}


@pytest.fixture(scope="session")
def shared_registry(tmp_path_factory):
    """One registry for the session (its data takes ~0.3 s to generate); tests reset its stats."""
    tmp = tmp_path_factory.mktemp("registry")
    service = Registry(tmp / "data", tmp / "registry.log")
    yield service
    service.stop()


@pytest.fixture
def registry(shared_registry):
    shared_registry.hook("reset")  # zero the stats, drop faults a failed test left pending
    return shared_registry


@pytest.fixture
def services():
    started = []

    def start(service):
        started.append(service)
        return service

    yield start
    for service in reversed(started):
        service.stop()


@pytest.fixture
def ollama(services, registry, tmp_path):
    """Start a simulated ollama: ollama(version=..., jetpack=..., gpu=..., bandwidth=..., mem_available=...)."""
    count = iter(range(100))

    def start(version="0.6.8", jetpack=True, gpu=True, bandwidth=68, mem_available=None, models=None,
              reg=None, **env):
        home = tmp_path / f"ollama{next(count)}"
        (home / "bin").mkdir(parents=True)
        (home / "run").mkdir()
        if gpu:
            (home / "run/gpu").touch()
        profile = {"memory": {"bandwidth_gbps": bandwidth, "mem_total_mb": 7620}}
        (home / "profile.json").write_text(json.dumps(profile))
        meminfo = home / "meminfo"
        available_kb = (mem_available or 64 * GIB) // 1024
        meminfo.write_text(f"MemTotal:        7802880 kB\nMemFree:         {available_kb} kB\n"
                           f"MemAvailable:    {available_kb} kB\n")
        env = {"OLLAMA_SIM_VERSION": version, "JETSON_SIM_PROFILE": str(home / "profile.json"),
               "JETSON_SIM_GPU": str(home / "run/gpu"), "JETSON_SIM_GR3D": str(home / "run/gr3d"),
               "JETSON_SIM_MEMINFO": str(meminfo), **({"JETSON_JETPACK": "6"} if jetpack else {}), **env}
        return services(Ollama(home, reg or registry, env, models))

    return start


def model_layer(manifest: dict) -> dict:
    (layer,) = [entry for entry in manifest["layers"] if entry["mediaType"] == "application/vnd.ollama.image.model"]
    return layer


# ---------------------------------------------------------------- the catalog

FACTS_6 = {  # tag: (download bytes, KV KiB per token), docs/facts.md section 6
    "qwen2.5:0.5b": (397e6, 12), "qwen2.5:1.5b": (986e6, 28), "qwen2.5:3b": (1.9e9, 36), "qwen2.5:7b": (4.7e9, 56),
    "qwen3:0.6b": (523e6, 112), "qwen3:1.7b": (1.4e9, 112), "qwen3:4b": (2.5e9, 144), "qwen3:8b": (5.2e9, 144),
    "qwen3:14b": (9.3e9, 160), "deepseek-r1:1.5b": (1.1e9, 28), "deepseek-r1:7b": (4.7e9, 56),
    "deepseek-r1:8b": (4.9e9, 128), "smollm2:135m": (270e6, 22.5),
}


def test_catalog_parses_like_yaml_and_carries_the_facts_figures():
    text = CATALOG.read_text()
    assert parse_catalog(text) == yaml.safe_load(text)
    catalog = load_catalog()
    for tag, (size, kv_kib) in FACTS_6.items():
        assert catalog[tag]["size"] == int(size), tag
        assert catalog[tag]["kv_bytes_per_token"] == int(kv_kib * 1024), tag
        want = "0.6.6" if tag.startswith("qwen3") else None
        assert want is None or catalog[tag]["min_ollama"] == want
    with pytest.raises(ValueError, match="models.yaml:2"):
        parse_catalog('"a:b":\n size: 1\n')


# ---------------------------------------------------------------- the registry protocol

def test_registry_speaks_the_manifest_and_blob_protocol(registry):
    ua = {"User-Agent": "ollama/0.6.8 (amd64 linux) Go/go1.24.0"}
    response = HTTP.get(registry.url + "/v2/library/qwen2.5/manifests/0.5b", headers=ua)
    assert response.status_code == 200
    manifest = response.json()
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert [entry["mediaType"].rsplit(".", 1)[1] for entry in manifest["layers"]] == \
        ["model", "template", "license", "params"]
    layer = model_layer(manifest)
    assert layer["size"] == 397_000  # 397 MB at the default scale of 1/1000

    blob_url = f"{registry.url}/v2/library/qwen2.5/blobs/{layer['digest']}"
    assert int(HTTP.head(blob_url).headers["Content-Length"]) == layer["size"]
    body = HTTP.get(blob_url).content
    assert "sha256:" + hashlib.sha256(body).hexdigest() == layer["digest"] and body[:4] == b"GGUF"
    tail = HTTP.get(blob_url, headers={"Range": "bytes=300000-"})
    assert tail.status_code == 206 and tail.headers["Content-Range"] == "bytes 300000-396999/397000"
    assert tail.content == body[300000:]

    config = HTTP.get(f"{registry.url}/v2/library/qwen2.5/blobs/{manifest['config']['digest']}").json()
    assert config["model_format"] == "gguf" and config["model_family"] == "qwen2"
    assert config["jetson_sim"]["size"] == 397_000_000 and config["jetson_sim"]["kv_bytes_per_token"] == 12288

    old = HTTP.get(registry.url + "/v2/library/qwen3/manifests/1.7b", headers={"User-Agent": "ollama/0.1.17"})
    assert old.status_code == 412 and "requires a newer version of Ollama" in old.text
    missing = HTTP.get(registry.url + "/v2/library/nope/manifests/1b")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    stats = registry.stats()
    assert stats["requests"]["range"] == 1 and stats["requests"]["too_old"] == 1
    assert stats["bytes_by_digest"][layer["digest"]] == 397_000 + 97_000


# ---------------------------------------------------------------- pull

def test_pull_streams_progress_and_writes_the_real_store_layout(ollama):
    o = ollama()
    lines = o.pull("qwen2.5:0.5b")
    assert lines[0] == {"status": "pulling manifest"}
    assert [line["status"] for line in lines[-3:]] == ["verifying sha256 digest", "writing manifest", "success"]

    raw = (o.models / MANIFESTS / "qwen2.5/0.5b").read_bytes()
    manifest = json.loads(raw)
    layer = model_layer(manifest)
    progress = [line for line in lines if line.get("digest") == layer["digest"]]
    assert progress[0]["status"] == "pulling " + layer["digest"][7:19]
    assert len(progress) >= 3 and {line["total"] for line in progress} == {layer["size"]}
    completed = [line.get("completed", 0) for line in progress]
    assert completed == sorted(completed) and completed[-1] == layer["size"]

    blobs = o.models / "blobs"
    for item in [manifest["config"], *manifest["layers"]]:
        blob = blobs / item["digest"].replace(":", "-")
        assert sha256(blob) == item["digest"][7:] and blob.stat().st_size == item["size"]
    assert len(list(blobs.iterdir())) == 5  # config + 4 layers, no -partial left

    (tag,) = o.tags()
    assert tag["name"] == tag["model"] == "qwen2.5:0.5b"
    assert tag["digest"] == hashlib.sha256(raw).hexdigest()  # docs/facts.md section 5
    assert tag["size"] == sum(item["size"] for item in [manifest["config"], *manifest["layers"]])
    assert tag["details"] == {"parent_model": "", "format": "gguf", "family": "qwen2", "families": ["qwen2"],
                              "parameter_size": "494.03M", "quantization_level": "Q4_K_M"}


def test_second_pull_downloads_no_blob_bytes(ollama, registry):
    o = ollama()
    o.pull("qwen2.5:0.5b")
    registry.hook("reset")
    lines = o.pull("qwen2.5:0.5b")
    assert all(line["completed"] == line["total"] for line in lines if "digest" in line)
    stats = registry.stats()
    assert stats["requests"]["blob_get"] == 0 and stats["bytes_by_digest"] == {}
    assert stats["requests"]["manifest"] == 1


def test_cut_link_leaves_a_partial_and_the_next_pull_resumes(ollama, registry):
    o = ollama()
    digest = model_layer(registry.manifest("qwen2.5:0.5b"))["digest"]
    registry.hook("cut", {"after_bytes": 100_000, "count": 1})
    lines = o.pull("qwen2.5:0.5b", ok=False)
    assert lines[-1] == {"error": "unexpected EOF"}
    partial = o.models / "blobs" / f"{digest.replace(':', '-')}-partial"
    assert partial.stat().st_size == 100_000
    assert not (o.models / MANIFESTS / "qwen2.5/0.5b").exists()

    o.pull("qwen2.5:0.5b")
    assert not partial.exists() and sha256(o.models / "blobs" / digest.replace(":", "-")) == digest[7:]
    stats = registry.stats()
    ranges = [(e["range"], e["status"]) for e in stats["log"] if e["range"]]
    assert ranges == [("bytes=100000-", 206)]
    assert stats["bytes_by_digest"][digest] == 397_000  # 100000 + the rest: resumed, not fetched twice


def test_corrupted_blob_is_rejected_and_deleted(ollama, registry):
    o = ollama()
    digest = model_layer(registry.manifest("qwen2.5:0.5b"))["digest"]
    registry.hook("corrupt", {"model": "qwen2.5:0.5b", "count": 1})
    error = o.pull("qwen2.5:0.5b", ok=False)[-1]["error"]
    assert re.fullmatch(f"digest mismatch, file must be downloaded again: want {digest}, got sha256:[0-9a-f]{{64}}",
                        error), error
    stem = digest.replace(":", "-")
    assert not (o.models / "blobs" / stem).exists() and not (o.models / "blobs" / f"{stem}-partial").exists()
    assert o.tags() == []
    o.pull("qwen2.5:0.5b")  # the fault was for one response only


def test_old_ollama_gets_412_for_qwen3_but_pulls_qwen25(ollama):
    o = ollama(version="0.1.17")
    assert o.http.get("/api/version").json() == {"version": "0.1.17"}
    assert o.pull("qwen3:1.7b", ok=False)[-1] == {"error": TOO_OLD}  # docs/facts.md section 4
    response = o.http.post("/api/pull", json={"model": "qwen3:1.7b", "stream": False})
    assert response.status_code == 500 and response.json() == {"error": TOO_OLD}
    o.pull("qwen2.5:0.5b")
    assert [m["name"] for m in o.tags()] == ["qwen2.5:0.5b"]


def test_unknown_model_pull_reports_file_does_not_exist(ollama):
    o = ollama()
    assert o.pull("nope:1b", ok=False)[-1] == {"error": "pull model manifest: file does not exist"}
    assert o.http.post("/api/pull", json={"model": "qwen2.5:0.5b", "stream": False}).json() == {"status": "success"}


def test_retag_upstream_changes_the_manifest_digest(services, ollama, tmp_path):
    own = services(Registry(tmp_path / "own-registry", tmp_path / "own-registry.log"))  # retags persist
    o = ollama(reg=own)
    o.pull("qwen2.5:0.5b")
    (before,) = o.tags()
    old_layer = model_layer(own.manifest("qwen2.5:0.5b"))["digest"]
    own.hook("retag", {"model": "qwen2.5:0.5b"})
    own.hook("reset")
    statuses = [line["status"] for line in o.pull("qwen2.5:0.5b") if "digest" not in line]
    assert statuses[-3:] == ["writing manifest", "removing unused layers", "success"]
    (after,) = o.tags()
    assert after["digest"] != before["digest"]
    manifest = own.manifest("qwen2.5:0.5b")
    new_layer = model_layer(manifest)["digest"]
    assert new_layer != old_layer
    # only what changed travels: the model layer and the config that lists it
    assert set(own.stats()["bytes_by_digest"]) == {new_layer, manifest["config"]["digest"]}
    assert not (o.models / "blobs" / old_layer.replace(":", "-")).exists()  # the old layer is pruned


# ---------------------------------------------------------------- generate, memory, GPU

def test_generate_on_gpu_matches_the_orin_nano_anchor(ollama):
    o = ollama(bandwidth=68, jetpack=True, gpu=True)
    o.pull("qwen2.5:7b")
    for _ in range(5):
        response = o.generate("qwen2.5:7b", options={"num_predict": 64})
        assert response.status_code == 200, response.text
        final = response.json()
        rate = final["eval_count"] / final["eval_duration"] * 1e9
        assert 9.1 <= rate <= 9.7, rate  # docs/facts.md section 6: 9.1-9.7 tok/s on an Orin Nano
    assert final["eval_count"] == 64 and len(final["response"].split()) == 64
    assert final["done_reason"] == "length" and final["load_duration"] > 0
    assert final["total_duration"] >= final["load_duration"] + final["eval_duration"]

    chunks = o.stream("/api/generate", {"model": "qwen2.5:7b", "prompt": "hi", "options": {"num_predict": 5}})
    assert [c["done"] for c in chunks] == [False] * 5 + [True]
    assert {"context", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"} <= set(chunks[-1])

    (loaded,) = o.ps()
    assert loaded["name"] == "qwen2.5:7b" and loaded["size_vram"] == loaded["size"]  # fully on GPU
    # weights 4.7 GB + KV 56 KiB x 4096 + overhead: what brings an 8 GB Orin Nano to ~90% (docs/facts.md section 6)
    assert 5.5e9 < loaded["size"] < 5.9e9
    assert (o.models.parent / "run/gr3d").read_text().strip() == "0"  # GPU load back to idle


def test_without_jetson_jetpack_the_model_runs_on_cpu(ollama):
    o = ollama(jetpack=False, gpu=True)
    o.pull("qwen2.5:0.5b")
    final = o.generate("qwen2.5:0.5b").json()
    rate = final["eval_count"] / final["eval_duration"] * 1e9
    assert 0.97 * 0.18 * 68e9 / 397e6 <= rate <= 1.03 * 0.18 * 68e9 / 397e6
    (loaded,) = o.ps()
    assert loaded["size_vram"] == 0 and loaded["size"] > 397e6
    assert not (o.models.parent / "run/gr3d").exists()  # a CPU run leaves the GPU load alone


def test_loading_more_than_mem_available_fails_with_ollamas_message(ollama):
    o = ollama(mem_available=3 * 10**9)
    o.pull("qwen2.5:7b")
    o.pull("qwen2.5:0.5b")
    response = o.generate("qwen2.5:7b")
    assert response.status_code == 500
    assert re.fullmatch(r"model requires more system memory \(5\.3 GiB\) than is available \(2\.8 GiB\)",
                        response.json()["error"]), response.text
    assert o.ps() == []
    loaded = o.generate("qwen2.5:0.5b", prompt="").json()
    assert loaded["done"] is True and loaded["done_reason"] == "load"
    assert [m["name"] for m in o.ps()] == ["qwen2.5:0.5b"]


def test_generate_unknown_model_is_404(ollama):
    response = ollama().generate("nope:1b")
    assert response.status_code == 404 and response.json() == {"error": "model 'nope:1b' not found"}


def test_keep_alive_unloads_and_the_board_is_told(ollama, tmp_path):
    calls, mem_d = tmp_path / "meminfo-calls", tmp_path / "mem.d"
    mem_d.mkdir()
    o = ollama(JETSON_SIM_MEM_D=str(mem_d))
    tool = o.models.parent / "bin/jetson-sim-meminfo"  # stands in for the board's tool: logs its calls
    tool.write_text(f"#!/bin/sh\necho refresh >> {calls}\n")
    tool.chmod(0o755)
    o.pull("qwen2.5:0.5b")
    # 1s: before Ollama 0.11.8 a keep_alive under a second with an empty prompt is an unload request
    assert o.generate("qwen2.5:0.5b", prompt="", keep_alive="1s").json()["done_reason"] == "load"
    (loaded,) = o.ps()
    lease = mem_d / "ollama-qwen2.5:0.5b.lease"
    assert lease.read_text() == f"{loaded['size']}\n"
    with open(lease) as f:  # held by the server while loaded: the board counts it only then
        with pytest.raises(BlockingIOError):
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
    deadline = time.monotonic() + 3
    while o.ps() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert o.ps() == [] and not lease.exists()
    assert calls.read_text().splitlines() == ["refresh", "refresh"]

    o.generate("qwen2.5:0.5b", prompt="", keep_alive=-1)
    (forever,) = o.ps()
    assert forever["expires_at"] > "2300"
    unload = o.generate("qwen2.5:0.5b", prompt="", keep_alive=0).json()
    assert unload["done_reason"] == "unload" and o.ps() == []


def test_max_loaded_models_evicts_the_oldest(ollama):
    o = ollama(OLLAMA_MAX_LOADED_MODELS="1")
    o.pull("qwen2.5:0.5b")
    o.pull("smollm2:135m")
    o.generate("qwen2.5:0.5b", prompt="")
    o.generate("smollm2:135m", prompt="")
    assert [m["name"] for m in o.ps()] == ["smollm2:135m"]


# ---------------------------------------------------------------- the rest of the API

def test_delete_show_copy_and_chat(ollama):
    o = ollama()
    o.pull("qwen2.5:0.5b")
    info = o.http.post("/api/show", json={"model": "qwen2.5:0.5b"}).json()
    assert info["model_info"]["qwen2.context_length"] == 32768
    assert info["model_info"]["general.parameter_count"] > 4e8 and "<|im_start|>" in info["template"]
    assert o.http.post("/api/copy", json={"source": "qwen2.5:0.5b", "destination": "mine:v1"}).status_code == 200
    assert sorted(m["name"] for m in o.tags()) == ["mine:v1", "qwen2.5:0.5b"]
    assert len({m["digest"] for m in o.tags()}) == 1

    chunks = o.stream("/api/chat", {"model": "mine:v1", "messages": [{"role": "user", "content": "hi"}],
                                     "options": {"num_predict": 3}})
    assert [c["message"]["role"] for c in chunks] == ["assistant"] * 4 and chunks[-1]["done"] is True

    for name in ("mine:v1", "qwen2.5:0.5b"):
        assert o.http.request("DELETE", "/api/delete", json={"model": name}).status_code == 200
    assert o.tags() == [] and list((o.models / "blobs").iterdir()) == []
    again = o.http.request("DELETE", "/api/delete", json={"model": "qwen2.5:0.5b"})
    assert again.status_code == 404 and again.json() == {"error": "model 'qwen2.5:0.5b' not found"}
    assert o.http.get("/").text == "Ollama is running"
    assert o.http.get("/api/nothing").status_code == 404


def test_start_up_prunes_unreferenced_blobs_unless_noprune(ollama, tmp_path):
    models = tmp_path / "shared-models"
    first = ollama(models=models)
    first.pull("qwen2.5:0.5b")
    first.stop()
    orphans = [models / "blobs" / ("sha256-" + "ab" * 32), models / "blobs" / ("sha256-" + "cd" * 32 + "-partial")]
    for orphan in orphans:
        orphan.write_bytes(b"left over")
    ollama(models=models, OLLAMA_NOPRUNE="1").stop()
    assert all(orphan.exists() for orphan in orphans)
    ollama(models=models)  # docs/facts.md section 5: unreferenced blobs are pruned at start-up
    assert not any(orphan.exists() for orphan in orphans)
    assert len(list((models / "blobs").iterdir())) == 5


def test_cli_pull_list_rm(ollama):
    o = ollama()
    failed = o.cli("pull", "nope:1b")
    assert failed.returncode == 1 and failed.stderr.endswith("Error: pull model manifest: file does not exist\n")
    pulled = o.cli("pull", "qwen2.5:0.5b")
    assert pulled.returncode == 0 and pulled.stderr.splitlines()[-1] == "success"
    listing = o.cli("list").stdout.splitlines()
    assert listing[0].split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert listing[1].split()[:4] == ["qwen2.5:0.5b", o.tags()[0]["digest"][:12], "397", "KB"]
    assert o.cli("rm", "qwen2.5:0.5b").stdout == "deleted 'qwen2.5:0.5b'\n"
    gone = o.cli("rm", "qwen2.5:0.5b")
    assert gone.returncode == 1 and gone.stderr == "Error: model 'qwen2.5:0.5b' not found\n"


def test_cli_version_run_ps(ollama):
    o = ollama()
    assert o.cli("--version").stdout == "ollama version is 0.6.8\n"
    run = o.cli("run", "qwen2.5:0.5b", "Why", "is", "the", "sky", "blue?")  # pulls the missing model first
    assert run.returncode == 0 and len(run.stdout.split()) == 32 and "success" in run.stderr
    ps = o.cli("ps").stdout.splitlines()
    assert ps[0].split() == ["NAME", "ID", "SIZE", "PROCESSOR", "UNTIL"]
    assert ps[1].split()[0] == "qwen2.5:0.5b" and "100% GPU" in ps[1] and "minutes from now" in ps[1]


def test_the_one_file_server_answers_the_clients_endpoints(ollama):
    """The script the images run (not only the package in-process) serves embeddings, the /v1 API with its
    event stream, JSON formats, tools and CORS (docs/facts.md section 7)."""
    o = ollama(JETSON_SIM_STREAM_PACE="0")
    o.pull("qwen2.5:0.5b")
    embed = o.http.post("/api/embed", json={"model": "qwen2.5:0.5b", "input": ["a", "b"]}).json()
    assert len(embed["embeddings"]) == 2 and abs(sum(x * x for x in embed["embeddings"][0]) - 1) < 1e-6
    with o.http.stream("POST", "/v1/chat/completions", json={
            "model": "qwen2.5:0.5b", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]" and json.loads(events[-2][6:])["choices"][0]["finish_reason"] == "stop"
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    chat = o.http.post("/api/chat", json={"model": "qwen2.5:0.5b", "stream": False, "format": schema,
                                          "messages": [{"role": "user", "content": "a number"}]}).json()
    assert isinstance(json.loads(chat["message"]["content"])["n"], int)
    tool = {"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}}
    called = o.http.post("/api/chat", json={"model": "qwen2.5:0.5b", "stream": False, "tools": [tool],
                                            "messages": [{"role": "user", "content": "What time is it in UTC?"}]})
    assert called.json()["message"]["tool_calls"] == [{"function": {"name": "get_time", "arguments": {"zone": "UTC"}}}]
    preflight = o.http.options("/api/chat", headers={"Origin": "http://localhost:3000",
                                                     "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert o.http.options("/api/chat", headers={"Origin": "https://elsewhere.example"}).status_code == 403
