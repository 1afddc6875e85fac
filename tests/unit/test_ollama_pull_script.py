"""files/ollama-pull.py, the board-side pull: run as the board runs it (python3, its CLI) against a
stdlib stub of Ollama's API on 127.0.0.1 that streams NDJSON as Ollama does (docs/facts.md section 5):
chunked, with errors inside the HTTP 200 stream, cut streams, stalls and 404 on delete."""

import ast
import http.server
import importlib.util
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .stubs import JSONHandler

SCRIPT = Path(__file__).parents[2] / "jetson_ollama" / "files" / "ollama-pull.py"

BLOB_A = "sha256:1a6d87918cd7" + "0" * 52
BLOB_B = "sha256:832dd9e00a68" + "1" * 52
CONFIG = "sha256:2f15b3218f05" + "2" * 52
GB = 1_000_000_000


def _progress(digest, total, completed=0):
    event = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total}
    if completed:  # Go omits a zero `completed`
        event["completed"] = completed
    return event


# what each model streams after the 200
STREAMS = {
    "good:1b": [
        {"status": "pulling manifest"},
        _progress(BLOB_A, int(1.2 * GB)),
        _progress(BLOB_A, int(1.2 * GB), int(0.54 * GB)),
        _progress(BLOB_A, int(1.2 * GB), int(1.2 * GB)),
        _progress(BLOB_B, 11343),
        _progress(BLOB_B, 11343, 11343),
        _progress(CONFIG, 487, 487),
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ],
    "missing:1b": [
        {"status": "pulling manifest"},
        {"error": "pull model manifest: file does not exist"},
    ],
    "late-error:1b": [
        {"status": "pulling manifest"},
        _progress(BLOB_A, 4_700_000_000, 2_100_000_000),
        {"error": "digest mismatch, file must be downloaded again: want " + BLOB_A + ", got sha256:00"},
        {"status": "success"},  # never read: the error ends the pull
    ],
    "short:1b": [
        {"status": "pulling manifest"},
        _progress(BLOB_A, 4_700_000_000, 1_000_000),
    ],
}


class _Ollama(JSONHandler):
    protocol_version = "HTTP/1.1"
    requests: list = []

    def _body(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw or b"{}")
        self.requests.append((self.command, self.path, body))
        return body

    def _chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_POST(self):
        model = self._body().get("model", "")
        if self.path != "/api/pull":
            return self._answer(404, {"error": "404 page not found"})
        if model == "refused:1b":
            return self._answer(400, {"error": "invalid model name"})
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if model == "slow:1b":  # 100 MB in 30 events over 1.5 s, as Ollama's 60 ms ticker would send
            for step in range(1, 31):
                self._chunk(json.dumps(_progress(BLOB_A, 100_000_000, step * 100_000_000 // 30)).encode() + b"\n")
                time.sleep(0.05)
            for event in ({"status": "verifying sha256 digest"}, {"status": "success"}):
                self._chunk(json.dumps(event).encode() + b"\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if model in ("cut:1b", "stall:1b"):
            self._chunk(json.dumps(_progress(BLOB_A, 4_700_000_000, 1_000_000)).encode() + b"\n")
            if model == "stall:1b":
                time.sleep(3)
            else:  # a chunk that promises more than comes, then the connection drops
                self.wfile.write(b"400\r\n{\"status\":\"pul")
                self.wfile.flush()
            self.close_connection = True
            return
        for event in STREAMS[model]:
            self._chunk(json.dumps(event).encode() + b"\n")
        self.wfile.write(b"0\r\n\r\n")

    def do_DELETE(self):
        model = self._body().get("model", "")
        if model == "there:1b":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif model == "broken:1b":
            self._answer(500, {"error": "remove /root/.ollama/models/manifests: read-only file system"})
        else:
            self._answer(404, {"error": f"model '{model}' not found"})



@pytest.fixture
def ollama():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    server.daemon_threads = True
    _Ollama.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=30)


def _store(models_dir: Path, model: str, blobs: list[str]) -> None:
    """The manifest Ollama writes at the end of a pull (docs/facts.md section 5)."""
    name, _, tag = model.partition(":")
    path = models_dir / "manifests" / "registry.ollama.ai" / "library" / name / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": blobs[0], "size": 487},
        "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": blob, "size": 1}
                   for blob in blobs[1:]],
    }, separators=(",", ":")))


def _load_script():
    spec = importlib.util.spec_from_file_location("ollama_pull", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- pulls


def test_a_quick_pull_prints_only_its_summary(ollama):
    result = run("--url", ollama, "--model", "good:1b")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # the whole stream comes within the first 4 s: no progress line is due yet
    assert len(lines) == 1
    assert lines[0].startswith("good:1b pulled: 1.2 GB in ") and lines[0].endswith(" s (3 blobs)")
    assert result.stderr == ""
    assert _Ollama.requests == [("POST", "/api/pull", {"model": "good:1b", "name": "good:1b", "stream": True})]


def test_a_slow_pull_prints_the_whole_model_every_interval(ollama, capsys):
    script = _load_script()
    script.PROGRESS_EVERY = 0.3
    started = time.monotonic()
    assert script.main(["--url", ollama, "--model", "slow:1b"]) == 0
    took = time.monotonic() - started
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("slow:1b pulled: 100.0 MB in ")
    progress = lines[:-1]
    # about one line per interval over the 1.5 s stream, never one per event (30 of them)
    assert took / 0.3 - 3 <= len(progress) <= took / 0.3 + 1, progress
    assert progress[0].startswith("slow:1b  pulling  ") and progress[0].split("  ")[2].endswith("/100.0 MB")
    done = [float(line.split("  ")[2].split("/")[0]) for line in progress]
    assert done == sorted(done) and 0 < done[-1] <= 100  # bytes done of the whole model, rising
    assert all(" MB/s  ETA " in line for line in progress[1:] if "100%" not in line), progress


def test_a_stalled_pull_says_for_how_long_nothing_came(ollama, capsys):
    script = _load_script()
    script.PROGRESS_EVERY = 0.25
    assert script.main(["--url", ollama, "--model", "stall:1b"]) == 1  # the stub closes after 3 s
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("stall:1b  pulling  0.0/4.7 GB  0%") for line in lines), lines
    assert lines[-1].split("  ")[-1].startswith("no data for ") and lines[-1].endswith(" s")
    assert len(lines) >= 8  # still a line every interval while nothing comes


def test_a_base_url_path_and_trailing_slash_are_kept_apart(ollama):
    result = run("--url", ollama + "/", "--model", "good:1b")
    assert result.returncode == 0, result.stderr
    assert _Ollama.requests[0][1] == "/api/pull"


@pytest.mark.parametrize("model, message", [
    ("missing:1b", "pull missing:1b failed: pull model manifest: file does not exist"),
    ("late-error:1b", "pull late-error:1b failed: digest mismatch, file must be downloaded again: want "
                      + BLOB_A + ", got sha256:00"),
    ("refused:1b", "pull refused:1b failed: HTTP 400: invalid model name"),
])
def test_an_error_in_the_stream_or_the_answer_fails_with_one_line(ollama, model, message):
    result = run("--url", ollama, "--model", model)
    assert result.returncode == 1
    assert result.stderr == message + "\n"
    assert "pulled" not in result.stdout


@pytest.mark.parametrize("model, why", [
    ("short:1b", "the stream ended before success"),
    ("cut:1b", "the connection broke"),
])
def test_a_stream_that_ends_before_success_fails_and_says_the_next_run_resumes(ollama, model, why):
    result = run("--url", ollama, "--model", model)
    assert result.returncode == 1
    assert result.stderr.startswith(f"pull {model} failed: {why}")
    assert result.stderr.endswith("run again to resume (Ollama keeps the partial blobs)\n")
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""  # it broke within the first interval


def test_a_stream_without_data_for_the_read_timeout_fails(ollama, capsys):
    script = _load_script()
    script.READ_TIMEOUT = 0.5
    started = time.monotonic()
    assert script.main(["--url", ollama, "--model", "stall:1b"]) == 1
    assert time.monotonic() - started < 2.5
    assert capsys.readouterr().err == (
        "pull stall:1b failed: no data from Ollama for 0.5 s; run again to resume (Ollama keeps the partial blobs)\n"
    )


def test_the_defaults_wait_long_for_data_and_briefly_for_a_connection():
    script = _load_script()
    assert (script.CONNECT_TIMEOUT, script.READ_TIMEOUT, script.PROGRESS_EVERY) == (5, 300, 4.0)


def test_nothing_listening_fails_with_one_line():
    result = run("--url", "http://127.0.0.1:9", "--model", "good:1b")
    assert result.returncode == 1
    assert result.stderr.startswith("cannot reach Ollama at http://127.0.0.1:9: ")
    assert len(result.stderr.splitlines()) == 1


# ---- the lock


def test_expected_blobs_in_any_order_pass(ollama, tmp_path):
    _store(tmp_path, "good:1b", [CONFIG, BLOB_A, BLOB_B])
    result = run("--url", ollama, "--model", "good:1b", "--expect-blobs", f"{BLOB_B},{CONFIG},{BLOB_A}",
                 "--models-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("good:1b pulled: ")


def test_other_blobs_after_the_pull_exit_2_with_one_line(ollama, tmp_path):
    retagged = "sha256:9e9e9e9e9e9e" + "3" * 52
    _store(tmp_path, "good:1b", [CONFIG, retagged, BLOB_B])
    result = run("--url", ollama, "--model", "good:1b", "--expect-blobs", f"{CONFIG},{BLOB_A},{BLOB_B}",
                 "--models-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == ("upstream retagged good:1b: the pulled manifest differs from models.lock"
                             " (missing sha256:1a6d87918cd7; new sha256:9e9e9e9e9e9e)\n")


def test_a_manifest_that_cannot_be_read_after_the_pull_fails(ollama, tmp_path):
    result = run("--url", ollama, "--model", "good:1b", "--expect-blobs", CONFIG, "--models-dir", str(tmp_path))
    assert result.returncode == 1
    manifest = tmp_path / "manifests" / "registry.ollama.ai" / "library" / "good" / "1b"
    assert result.stderr.startswith(f"pulled good:1b, but cannot read its manifest {manifest}")


def test_manifest_paths_follow_the_store_layout():
    script = _load_script()
    assert script.manifest_path("/m", "qwen2.5") == "/m/manifests/registry.ollama.ai/library/qwen2.5/latest"
    assert script.manifest_path("/m", "someone/tiny:q4") == "/m/manifests/registry.ollama.ai/someone/tiny/q4"
    assert script.manifest_path("/m", "hf.co/u/m:Q4_K_M") == "/m/manifests/hf.co/u/m/Q4_K_M"


# ---- deletes


@pytest.mark.parametrize("model, code, out, err", [
    ("there:1b", 0, "there:1b deleted\n", ""),
    ("gone:1b", 0, "gone:1b already absent\n", ""),
    ("broken:1b", 1, "",
     "delete broken:1b failed: HTTP 500: remove /root/.ollama/models/manifests: read-only file system\n"),
])
def test_delete(ollama, model, code, out, err):
    result = run("--url", ollama, "--delete", model)
    assert (result.returncode, result.stdout, result.stderr) == (code, out, err)
    assert _Ollama.requests == [("DELETE", "/api/delete", {"model": model, "name": model})]


# ---- usage


@pytest.mark.parametrize("args", [
    [],
    ["--model", "a:1", "--delete", "b:1"],
    ["--model", "a:1", "--expect-blobs", CONFIG],
    ["--delete", "a:1", "--expect-blobs", CONFIG, "--models-dir", "/m"],
    ["--url", "127.0.0.1:11434", "--model", "a:1"],
])
def test_bad_usage_exits_64_not_2(args):
    result = run(*args)
    assert result.returncode == 64, result.stderr
    assert result.stderr


def test_the_script_is_stdlib_only_and_compiles_for_old_pythons():
    text = SCRIPT.read_text()
    imports = {line.split()[1].split(".")[0] for line in text.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "argparse", "http", "json", "os", "socket", "sys", "threading", "time",
                       "urllib"}
    ast.parse(text, str(SCRIPT), feature_version=(3, 8))  # JetPack 5 boards run Ubuntu 20.04
