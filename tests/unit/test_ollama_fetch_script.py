"""files/ollama-fetch.py, the verified model copier: run as a board runs it (python3, its CLI) against
stdlib stand-ins on 127.0.0.1: an Ollama registry (/v2 paths, blobs redirected to a "CDN" as the real
one does) that can corrupt, shorten or cut a blob, and a static server of a models dir (docs/facts.md section 5)."""

from __future__ import annotations

import ast
import functools
import hashlib
import http.server
import importlib.util
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from jetson_sim.upstream.ollama.build import script_path

from .stubs import JSONHandler

REPO = Path(__file__).parents[2]
SCRIPT = REPO / "jetson_ollama" / "files" / "ollama-fetch.py"
SIM_OLLAMA = script_path()
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _model(seed: str, weights_size: int) -> dict:
    """A model as the registry holds it: its blobs and the exact manifest bytes naming them."""
    config = json.dumps({"model_format": "gguf", "model_family": "qwen2", "model_type": "494.03M",
                         "file_type": "Q4_K_M", "seed": seed}).encode()
    weights = (hashlib.sha256(seed.encode()).digest() * (weights_size // 32 + 1))[:weights_size]
    template = f"{{{{ .Prompt }}}} {seed}".encode()
    entry = lambda media, data: {"mediaType": media, "digest": _digest(data), "size": len(data)}  # noqa: E731
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_V2,
        "config": entry("application/vnd.docker.container.image.v1+json", config),
        "layers": [entry("application/vnd.ollama.image.model", weights),
                   entry("application/vnd.ollama.image.template", template)],
    }, separators=(",", ":")).encode()
    return {"manifest": manifest, "blobs": {_digest(d): d for d in (config, weights, template)},
            "order": [_digest(config), _digest(weights), _digest(template)]}


TINY = _model("tiny", 300_000)  # library/tiny:1b
SMALL = _model("small", 5_000)  # someone/small:latest
MODELS = {("library", "tiny", "1b"): TINY, ("someone", "small", "latest"): SMALL}
CONFIG, WEIGHTS, TEMPLATE = TINY["order"]


class _Registry(JSONHandler):
    """GET /v2/<ns>/<name>/manifests/<tag>; GET /v2/<ns>/<name>/blobs/<digest> redirects to /cdn/<digest>.
    ``faults`` per digest: corrupt (same size, other bytes), short (10 bytes fewer, honest length),
    cut (the full Content-Length, half the bytes, then the connection closes), stall (headers, then nothing)."""

    protocol_version = "HTTP/1.1"
    requests: list
    faults: dict
    redirect = 307

    def do_GET(self):
        self.requests.append((self.path, self.headers.get("Accept")))
        parts = self.path.split("/")
        if parts[:2] == ["", "cdn"] and len(parts) == 3:
            return self._blob(parts[2])
        if len(parts) == 6 and parts[:2] == ["", "v2"] and parts[4] == "blobs":
            self.send_response(self.redirect)
            self.send_header("Location", f"/cdn/{parts[5]}")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        model = MODELS.get((parts[2], parts[3], parts[5])) if len(parts) == 6 and parts[4] == "manifests" else None
        if not model:
            return self._answer(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        self._bytes(model["manifest"], MANIFEST_V2)

    def _blob(self, digest):
        data = next((m["blobs"][digest] for m in MODELS.values() if digest in m["blobs"]), None)
        if data is None:
            return self._answer(404, {"errors": [{"code": "BLOB_UNKNOWN"}]})
        fault = self.faults.get(digest)
        if fault == "corrupt":
            data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
        elif fault == "short":
            data = data[:-10]
        elif fault == "slow":  # 300 KB in 10 pieces over 2 s
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for start in range(0, len(data), 30_000):
                self.wfile.write(data[start:start + 30_000])
                self.wfile.flush()
                time.sleep(0.2)
            return
        elif fault in ("cut", "stall"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if fault == "cut" else b"")
            self.wfile.flush()
            if fault == "stall":
                time.sleep(3)
            self.close_connection = True
            return
        self._bytes(data, "application/octet-stream")

    def _bytes(self, data, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _StaticStore(http.server.SimpleHTTPRequestHandler):
    requests: list

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()


def _serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def registry():
    handler = type("Registry", (_Registry,), {"requests": [], "faults": {}})
    server = _serve(handler)
    server.handler = handler
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def serve_store():
    servers = []

    def start(directory: Path):
        handler = type("Store", (_StaticStore,), {"requests": []})
        server = _serve(functools.partial(handler, directory=str(directory)))
        server.handler, server.url = handler, f"http://127.0.0.1:{server.server_port}"
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env=env,
                          cwd=cwd)


def fetch(source: str, url: str, models_dir: Path, *extra, model="tiny:1b"):
    return run("--model", model, "--models-dir", str(models_dir), f"--{source}", url, *extra)


def summary(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def manifest_file(models_dir: Path, path="library/tiny/1b", host="registry.ollama.ai") -> Path:
    return models_dir / "manifests" / host / path


def blob_file(models_dir: Path, digest: str) -> Path:
    return models_dir / "blobs" / digest.replace(":", "-")


def tree(models_dir: Path) -> dict:
    """Every file of the store (blobs and manifests) and its bytes."""
    return {str(p.relative_to(models_dir)): p.read_bytes()
            for p in sorted(models_dir.rglob("*")) if p.is_file() and p.name != ".ollama-fetch.lock"}


def complete_store(models_dir: Path, model=TINY, path="library/tiny/1b") -> None:
    for digest, data in model["blobs"].items():
        blob_file(models_dir, digest).parent.mkdir(parents=True, exist_ok=True)
        blob_file(models_dir, digest).write_bytes(data)
    manifest_file(models_dir, path).parent.mkdir(parents=True, exist_ok=True)
    manifest_file(models_dir, path).write_bytes(model["manifest"])


def _load_script():
    spec = importlib.util.spec_from_file_location("ollama_fetch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- fetching


def test_a_registry_fetch_then_a_store_copy_give_the_same_store(registry, serve_store, tmp_path):
    cache, board = tmp_path / "cache", tmp_path / "board"
    result = fetch("registry", registry.url, cache)
    assert summary(result) == {"model": "tiny:1b", "manifest": _digest(TINY["manifest"]), "fetched": TINY["order"],
                               "present": [], "bytes_fetched": sum(map(len, TINY["blobs"].values())), "changed": True}
    assert result.stderr == ""
    assert manifest_file(cache).read_bytes() == TINY["manifest"]  # the exact bytes the registry served
    for digest, data in TINY["blobs"].items():
        assert blob_file(cache, digest).read_bytes() == data
        assert stat.S_IMODE(blob_file(cache, digest).stat().st_mode) == 0o644
    assert stat.S_IMODE(manifest_file(cache).stat().st_mode) == 0o644
    assert stat.S_IMODE(manifest_file(cache).parent.stat().st_mode) == 0o755
    assert registry.handler.requests[0] == ("/v2/library/tiny/manifests/1b", MANIFEST_V2)
    assert [path for path, _ in registry.handler.requests[1:]] == [
        path for digest in TINY["order"] for path in (f"/v2/library/tiny/blobs/{digest}", f"/cdn/{digest}")]

    store = serve_store(cache)
    assert summary(fetch("store", store.url + "/", board))["fetched"] == TINY["order"]
    assert tree(board) == tree(cache) and len(tree(board)) == 4
    assert store.handler.requests == ["/manifests/registry.ollama.ai/library/tiny/1b"] + [
        "/blobs/" + digest.replace(":", "-") for digest in TINY["order"]]


def test_a_namespaced_model_without_a_tag_and_another_registry_host(registry, serve_store, tmp_path):
    cache, board = tmp_path / "cache", tmp_path / "board"
    args = ("--registry-host", "models.lan:5000")
    result = summary(fetch("registry", registry.url, cache, *args, model="someone/small"))
    assert result["model"] == "someone/small:latest"
    assert registry.handler.requests[0][0] == "/v2/someone/small/manifests/latest"
    assert manifest_file(cache, "someone/small/latest", "models.lan:5000").read_bytes() == SMALL["manifest"]
    store = serve_store(cache)
    assert summary(fetch("store", store.url, board, *args, model="someone/small:latest"))["changed"] is True
    assert store.handler.requests[0] == "/manifests/models.lan:5000/someone/small/latest"
    assert tree(board) == tree(cache)


def test_a_second_run_fetches_nothing_and_leaves_the_manifest_alone(registry, tmp_path):
    summary(fetch("registry", registry.url, tmp_path))
    written = manifest_file(tmp_path).stat().st_mtime_ns
    registry.handler.requests.clear()
    assert summary(fetch("registry", registry.url, tmp_path)) == {
        "model": "tiny:1b", "manifest": _digest(TINY["manifest"]), "fetched": [], "present": TINY["order"],
        "bytes_fetched": 0, "changed": False}
    assert [path for path, _ in registry.handler.requests] == ["/v2/library/tiny/manifests/1b"]
    assert manifest_file(tmp_path).stat().st_mtime_ns == written


def test_a_blob_present_with_its_size_is_not_requested_and_a_wrong_size_is_fetched_again(registry, tmp_path):
    blob_file(tmp_path, WEIGHTS).parent.mkdir(parents=True)
    blob_file(tmp_path, WEIGHTS).write_bytes(TINY["blobs"][WEIGHTS])
    blob_file(tmp_path, TEMPLATE).write_bytes(b"left by something else")
    result = summary(fetch("registry", registry.url, tmp_path))
    assert (result["fetched"], result["present"]) == ([CONFIG, TEMPLATE], [WEIGHTS])
    assert result["bytes_fetched"] == len(TINY["blobs"][CONFIG]) + len(TINY["blobs"][TEMPLATE])
    assert not any(WEIGHTS in path for path, _ in registry.handler.requests)
    assert blob_file(tmp_path, TEMPLATE).read_bytes() == TINY["blobs"][TEMPLATE]


def test_a_changed_manifest_upstream_replaces_the_stored_one(registry, tmp_path):
    complete_store(tmp_path)
    manifest_file(tmp_path).write_bytes(TINY["manifest"].replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
    result = summary(fetch("registry", registry.url, tmp_path))
    assert (result["fetched"], result["changed"]) == ([], True)
    assert manifest_file(tmp_path).read_bytes() == TINY["manifest"]
    assert [p.name for p in manifest_file(tmp_path).parent.iterdir()] == ["1b"]  # no temporary file left


def test_a_temporary_file_of_a_killed_run_is_replaced(registry, tmp_path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    stale = blobs / (WEIGHTS.replace(":", "-") + "-fetch-99999")
    stale.write_bytes(TINY["blobs"][WEIGHTS][:1000] + b"junk")
    assert summary(fetch("registry", registry.url, tmp_path))["fetched"] == TINY["order"]
    assert sorted(p.name for p in blobs.iterdir()) == sorted(d.replace(":", "-") for d in TINY["order"])
    assert blob_file(tmp_path, WEIGHTS).read_bytes() == TINY["blobs"][WEIGHTS]


def test_a_relative_models_dir_is_created_under_the_working_directory(registry, tmp_path):
    result = run("--model", "tiny:1b", "--models-dir", "models", "--registry", registry.url, cwd=tmp_path)
    assert summary(result)["fetched"] == TINY["order"]
    assert manifest_file(tmp_path / "models").read_bytes() == TINY["manifest"]
    assert run("--check", "--model", "tiny:1b", "--models-dir", "models", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("code", [301, 302, 308])
def test_other_redirects_are_followed(registry, tmp_path, code):
    registry.handler.redirect = code
    assert summary(fetch("registry", registry.url, tmp_path))["fetched"] == TINY["order"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_run_as_root_new_files_belong_to_the_owner_of_the_models_dir(registry, tmp_path):
    os.chown(tmp_path, 4321, 4321)
    summary(fetch("registry", registry.url, tmp_path))
    for path in [*tmp_path.rglob("*")]:
        assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4321), path


# ---- verification


def _nothing_installed(models_dir: Path) -> None:
    assert not manifest_file(models_dir).exists()
    assert not blob_file(models_dir, WEIGHTS).exists()
    assert not [p for p in (models_dir / "blobs").iterdir() if "-fetch-" in p.name]


def test_a_corrupted_blob_exits_3_with_both_digests_and_installs_nothing(registry, tmp_path):
    registry.handler.faults[WEIGHTS] = "corrupt"
    result = fetch("registry", registry.url, tmp_path)
    data = TINY["blobs"][WEIGHTS]
    served = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
    assert result.returncode == 3
    assert result.stderr == (f"blob {WEIGHTS} of tiny:1b from {registry.url}/v2/library/tiny/blobs/{WEIGHTS}:"
                             f" got {_digest(served)}, {len(data)} bytes; expected {len(data)} bytes\n")
    _nothing_installed(tmp_path)
    assert not result.stdout.strip().endswith("}")


def test_a_short_blob_exits_3_naming_both_sizes(registry, tmp_path):
    registry.handler.faults[WEIGHTS] = "short"
    result = fetch("registry", registry.url, tmp_path)
    assert result.returncode == 3
    assert result.stderr.endswith(f", {300_000 - 10} bytes; expected 300000 bytes\n")
    _nothing_installed(tmp_path)


def test_a_cut_transfer_is_a_network_error_and_installs_nothing(registry, tmp_path):
    registry.handler.faults[WEIGHTS] = "cut"
    result = fetch("registry", registry.url, tmp_path)
    assert result.returncode == 1
    assert result.stderr == (f"fetch tiny:1b failed: GET {registry.url}/v2/library/tiny/blobs/{WEIGHTS}:"
                             " the connection closed after 150000 of 300000 bytes\n")
    _nothing_installed(tmp_path)


def test_a_transfer_without_data_for_the_read_timeout_fails(registry, tmp_path, capsys):
    registry.handler.faults[WEIGHTS] = "stall"
    script = _load_script()
    script.READ_TIMEOUT = 0.5
    started = time.monotonic()
    assert script.main(["--model", "tiny:1b", "--models-dir", str(tmp_path), "--registry", registry.url]) == 1
    assert time.monotonic() - started < 2.5
    assert capsys.readouterr().err.endswith(f"/blobs/{WEIGHTS}: no data for 0.5 s\n")
    _nothing_installed(tmp_path)


def test_a_slow_fetch_prints_the_whole_model_every_interval_then_its_summary(registry, tmp_path, capsys):
    registry.handler.faults[WEIGHTS] = "slow"
    script = _load_script()
    script.PROGRESS_EVERY = 0.4
    assert script.main(["--model", "tiny:1b", "--models-dir", str(tmp_path / "m"), "--registry", registry.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    total = sum(map(len, TINY["blobs"].values()))
    assert json.loads(lines[-1])["bytes_fetched"] == total
    assert lines[-2].startswith(f"tiny:1b fetched: {total / 1000:.1f} KB in ")
    assert lines[-2].endswith(" s (3 of 3 blobs)")
    progress = lines[:-2]
    assert 3 <= len(progress) <= 6, progress  # about 2 s at one line per 0.4 s
    assert all(line.startswith("tiny:1b  fetching  ") and line.split("  ")[2].endswith(f"/{total / 1000:.1f} KB")
               for line in progress), progress
    assert any(" KB/s  ETA " in line for line in progress), progress


def test_the_default_timeout_is_30_seconds():
    assert _load_script().READ_TIMEOUT == 30


def test_another_manifest_than_expected_exits_2_and_writes_nothing(registry, tmp_path):
    other = "sha256:" + "e" * 64
    result = fetch("registry", registry.url, tmp_path / "models", "--expect-manifest", other)
    assert result.returncode == 2
    assert result.stderr == (f"manifest of tiny:1b from {registry.url}/v2/library/tiny/manifests/1b:"
                             f" got {_digest(TINY['manifest'])}, expected {other}\n")
    assert not (tmp_path / "models").exists()
    assert len(registry.handler.requests) == 1


def test_other_blobs_than_expected_exit_2_and_write_nothing(registry, tmp_path):
    other = "sha256:" + "e" * 64
    result = fetch("registry", registry.url, tmp_path / "models", "--expect-blobs", f"{CONFIG},{other},{TEMPLATE}")
    assert result.returncode == 2
    assert result.stderr.startswith("manifest of tiny:1b from ")
    assert WEIGHTS in result.stderr and other in result.stderr
    assert not (tmp_path / "models").exists()


def test_the_expected_manifest_and_blobs_in_any_order_pass(registry, tmp_path):
    result = fetch("registry", registry.url, tmp_path, "--expect-manifest", _digest(TINY["manifest"]),
                   "--expect-blobs", f"{TEMPLATE},{CONFIG},{WEIGHTS}")
    assert summary(result)["changed"] is True


# ---- --check


def test_check_says_complete_for_a_fetched_model(registry, tmp_path):
    summary(fetch("registry", registry.url, tmp_path))
    before = tree(tmp_path)
    result = run("--check", "--model", "tiny:1b", "--models-dir", str(tmp_path),
                 "--expect-manifest", _digest(TINY["manifest"]), "--expect-blobs", ",".join(TINY["order"]))
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith(f"tiny:1b complete in {tmp_path}: manifest {_digest(TINY['manifest'])}, 3 blobs")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("damage, extra, why", [
    ("no manifest", [], "tiny:1b is not in {dir}: no manifest {dir}/manifests/registry.ollama.ai/library/tiny/1b"),
    ("none", ["--expect-manifest", "sha256:" + "e" * 64],
     "tiny:1b in {dir} has manifest " + _digest(TINY["manifest"]) + ", expected sha256:" + "e" * 64),
    ("none", ["--expect-blobs", CONFIG], "tiny:1b in {dir}: its manifest names other blobs than --expect-blobs"),
    ("no weights", [], "tiny:1b in {dir} is incomplete: blob " + WEIGHTS + " missing"),
    ("short weights", [], "tiny:1b in {dir} is incomplete: blob " + WEIGHTS + " 299999 bytes, expected 300000"),
])
def test_check_says_why_a_model_is_not_complete_and_writes_nothing(tmp_path, damage, extra, why):
    complete_store(tmp_path)
    if damage == "no manifest":
        manifest_file(tmp_path).unlink()
    elif damage == "no weights":
        blob_file(tmp_path, WEIGHTS).unlink()
    elif damage == "short weights":
        blob_file(tmp_path, WEIGHTS).write_bytes(TINY["blobs"][WEIGHTS][:-1])
    before = tree(tmp_path)
    result = run("--check", "--model", "tiny:1b", "--models-dir", str(tmp_path), *extra)
    assert result.returncode == 1
    assert result.stdout.startswith(why.format(dir=tmp_path))
    assert len(result.stdout.splitlines()) == 1
    assert tree(tmp_path) == before and not (tmp_path / ".ollama-fetch.lock").exists()


def test_check_of_a_models_dir_that_does_not_exist_creates_nothing(tmp_path):
    result = run("--check", "--model", "tiny:1b", "--models-dir", str(tmp_path / "none"), "--store", "http://x:1")
    assert result.returncode == 1
    assert not (tmp_path / "none").exists()


# ---- network errors and usage


def test_an_unknown_model_exits_1_naming_the_url(registry, tmp_path):
    result = fetch("registry", registry.url, tmp_path, model="nothing:1b")
    assert result.returncode == 1
    url = f"{registry.url}/v2/library/nothing/manifests/1b"
    assert result.stderr == f"fetch nothing:1b failed: GET {url}: 404 Not Found\n"
    assert not list(tmp_path.iterdir())


def test_a_blob_missing_from_the_store_source_exits_1_naming_the_url(serve_store, tmp_path):
    cache = tmp_path / "cache"
    complete_store(cache)
    blob_file(cache, WEIGHTS).unlink()
    store = serve_store(cache)
    result = fetch("store", store.url, tmp_path / "board")
    assert result.returncode == 1
    url = f"{store.url}/blobs/{WEIGHTS.replace(':', '-')}"
    assert result.stderr == f"fetch tiny:1b failed: GET {url}: 404 File not found\n"
    assert not manifest_file(tmp_path / "board").exists()


def test_nothing_listening_exits_1_with_one_line(tmp_path):
    result = fetch("store", "http://127.0.0.1:9", tmp_path)
    assert result.returncode == 1
    url = "http://127.0.0.1:9/manifests/registry.ollama.ai/library/tiny/1b"
    assert result.stderr.startswith(f"fetch tiny:1b failed: GET {url}: ")
    assert len(result.stderr.splitlines()) == 1


def test_a_models_dir_that_cannot_be_written_exits_1_with_one_line(registry, tmp_path):
    (tmp_path / "file").write_text("not a directory")
    result = fetch("registry", registry.url, tmp_path / "file" / "models")
    assert result.returncode == 1
    assert result.stderr.startswith(f"fetch tiny:1b failed: cannot write {tmp_path}/file/models: ")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("args", [
    [],
    ["--model", "tiny:1b", "--models-dir", "/m"],
    ["--model", "tiny:1b", "--models-dir", "/m", "--registry", "http://a", "--store", "http://b"],
    ["--model", "tiny:1b", "--models-dir", "/m", "--registry", "registry.ollama.ai"],
    ["--model", "../../etc:1b", "--models-dir", "/m", "--registry", "http://a"],
    ["--model", "a/b/c:1b", "--models-dir", "/m", "--registry", "http://a"],
    ["--model", "tiny:1b", "--models-dir", "/m", "--registry", "http://a", "--expect-manifest", "sha256:abc"],
    ["--model", "tiny:1b", "--models-dir", "/m", "--registry", "http://a", "--expect-blobs", "md5:00"],
    ["--model", "tiny:1b", "--models-dir", "/m", "--registry", "http://a", "--registry-host", "a/b"],
])
def test_bad_usage_exits_64_not_2(args):
    result = run(*args)
    assert result.returncode == 64, result.stderr
    assert result.stderr


def test_the_script_is_executable_stdlib_only_and_compiles_for_old_pythons():
    assert os.access(SCRIPT, os.X_OK)
    text = SCRIPT.read_text()
    imports = {line.split()[1].split(".")[0] for line in text.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "argparse", "fcntl", "hashlib", "http", "json", "os", "re", "signal",
                       "socket", "sys", "threading", "time", "urllib"}
    ast.parse(text, str(SCRIPT), feature_version=(3, 8))  # JetPack 5 boards run Ubuntu 20.04


# ---- the simulated Ollama sees a copied model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_simulated_ollama_lists_a_model_copied_while_it_runs(registry, tmp_path):
    models, port = tmp_path / "models", _free_port()
    env = {**{k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
           "OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_MODELS": str(models),
           "JETSON_SIM_PROFILE": str(tmp_path / "no-profile.json"), "JETSON_SIM_GPU": str(tmp_path / "no-gpu"),
           "JETSON_SIM_GR3D": str(tmp_path / "no-dir" / "gr3d"), "JETSON_SIM_MEM_D": str(tmp_path / "no-mem.d")}
    server = subprocess.Popen([sys.executable, str(SIM_OLLAMA), "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/tags", timeout=2) as response:
                    assert json.load(response) == {"models": []}
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the simulated ollama did not start"
                time.sleep(0.1)
        summary(fetch("registry", registry.url, models))
        with urllib.request.urlopen(f"{base}/api/tags", timeout=5) as response:
            listed = json.load(response)["models"]
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert [(m["name"], m["digest"], m["size"]) for m in listed] == [
        ("tiny:1b", hashlib.sha256(TINY["manifest"]).hexdigest(), sum(map(len, TINY["blobs"].values())))]
