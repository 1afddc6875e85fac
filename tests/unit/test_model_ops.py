"""Models: the facts of jetson_ollama.facts.models and the operations of jetson_ollama.operations.models.
pyinfra-testing fixtures (tests/unit/facts/models.<Fact>/, tests/unit/operations/models.<operation>/;
``{repo}`` in an operation fixture stands for this checkout, where the pull script is uploaded from),
defaults, quoting, each fact command run for real against a store and stub servers made here, and the
operations' commands run against a stub Ollama."""

import hashlib
import http.server
import inspect
import json
import os
import shlex
import subprocess
import threading
from pathlib import Path
from unittest.mock import patch

import pytest
from pyinfra.api import FactBase, OperationError, StringCommand
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.facts import make_fact_tests
from pyinfra_testing.operations import make_operation_tests, parse_commands
from pyinfra_testing.util import FakeState, create_host

from jetson_ollama.facts import models as model_facts
from jetson_ollama.operations import models
from jetson_ollama.operations.models import PULL_SCRIPT, PULL_SCRIPT_DEST, model_name

REPO = Path(__file__).parents[2]
FACT_FIXTURES = Path(__file__).parent / "facts"
OP_FIXTURES = Path(__file__).parent / "operations"

FACTS = {
    f"models.{name}": cls
    for name, cls in inspect.getmembers(model_facts, inspect.isclass)
    if issubclass(cls, FactBase) and cls.__module__ == model_facts.__name__
}
ARGS = {"OllamaModels": {}, "OllamaManifests": {"models_dir": "/var/lib/no/such/dir"},
        "RegistryManifest": {"model": "qwen2.5:7b", "registry": "http://127.0.0.1:9"},
        "OllamaBlobs": {"models_dir": "/var/lib/no/such/dir", "memo": "/var/lib/no/such/dir/memo.json"}}
OPERATIONS = {
    f"models.{name}": function
    for name, function in inspect.getmembers(models, inspect.isfunction)
    if hasattr(function, "_inner") and function.__module__ == models.__name__
}


def _with_repo(value):
    if isinstance(value, str):
        return value.replace("{repo}", str(REPO))
    if isinstance(value, list):
        return [_with_repo(item) for item in value]
    if isinstance(value, dict):
        return {_with_repo(key): _with_repo(item) for key, item in value.items()}
    return value


for _fact_path in FACTS:
    if (FACT_FIXTURES / _fact_path).is_dir():  # a missing folder fails the test below, not the collection
        globals()[f"TestFixtures_{_fact_path.replace('.', '_')}"] = make_fact_tests(
            "jetson_ollama.facts", _fact_path, FACT_FIXTURES / _fact_path
        )

def _with_local_files(test):
    """Runs a fixture with ``{repo}`` filled in and pathlib's ``is_file`` answered from its
    ``local_files``: pyinfra-testing fakes local files through ``os.path`` and ``os.stat``, but
    ``files.put`` asks pathlib, whose ``os.stat(path, follow_symlinks=...)`` the fake refuses."""

    def run(self, name, data):
        # pyinfra caches file digests by file name: keep the fake file's out of the other tests
        with patch("pathlib.Path.is_file", lambda path: os.path.isfile(str(path))), \
                patch.dict("pyinfra.api.util.FILE_SHAS"):  # os.path.isfile: faked in the test
            test(self, name, _with_repo(data))

    return run


for _op_path in OPERATIONS:
    if (OP_FIXTURES / _op_path).is_dir():
        _tests = make_operation_tests("jetson_ollama.operations", _op_path, OP_FIXTURES / _op_path)
        _tests._test = _with_local_files(_tests._test)
        globals()[f"TestFixtures_{_op_path.replace('.', '_')}"] = _tests
        del _tests  # a TestCase under any name is collected


def _command(fact_path, **args):
    command = FACTS[fact_path]().command(**(args or ARGS[fact_path.split(".")[1]]))
    return command.get_raw_value() if isinstance(command, StringCommand) else command


def _sh(command, **kwargs):
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60, **kwargs)


def _fact(fact_path, **args):
    result = _sh(_command(fact_path, **args))
    assert result.returncode == 0, result.stderr
    return FACTS[fact_path]().process(result.stdout.splitlines())


def _op_fixtures(op_path):
    return {path.stem: json.loads(path.read_text()) for path in (OP_FIXTURES / op_path).glob("*.json")}


# ---- facts: fixtures, defaults, commands that cannot fail, quoting


def test_the_facts_are_the_expected_ones():
    assert set(FACTS) == {"models.OllamaModels", "models.OllamaManifests", "models.RegistryManifest",
                          "models.OllamaBlobs"}


@pytest.mark.parametrize("fact_path", FACTS)
def test_every_fact_has_fixtures_including_nothing_there(fact_path):
    cases = [json.loads(path.read_text()) for path in (FACT_FIXTURES / fact_path).glob("*.json")]
    assert len(cases) >= 3 and all(case.get("note") for case in cases)
    # the "absent" value is empty, never None: pyinfra-testing cannot hand a None fact to an operation
    assert any(case["output"] == [] and case["fact"] == {} for case in cases)


@pytest.mark.parametrize("fact_path", FACTS)
def test_default_is_an_empty_dict_and_what_no_output_means(fact_path):
    fact = FACTS[fact_path]()
    assert fact.default() == {} and fact.process([]) == {}


@pytest.mark.parametrize("fact_path", FACTS)
def test_command_succeeds_and_parses_on_this_machine(fact_path):
    """Commands cannot fail: each runs under sh (dash here) with exit 0, whatever this host lacks."""
    assert isinstance(_fact(fact_path), dict)


HOSTILE = "/tmp/x'; touch {marker}; echo '$(touch {marker})`touch {marker}`"


@pytest.mark.parametrize("fact_path, argument", [
    ("models.OllamaModels", "url"), ("models.OllamaManifests", "models_dir"), ("models.RegistryManifest", "registry"),
    ("models.OllamaBlobs", "models_dir"), ("models.OllamaBlobs", "memo"),
])
def test_arguments_are_quoted(fact_path, argument, tmp_path):
    value = "http://127.0.0.1:9" + HOSTILE.format(marker=tmp_path / "pwned")
    args = {**ARGS[fact_path.split(".")[1]], argument: value}
    command = _command(fact_path, **args)
    assert any(value in word for word in shlex.split(command))
    assert _sh(command).returncode == 0
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("model, path", [
    ("qwen2.5:7b", "library/qwen2.5/manifests/7b"),
    ("qwen2.5", "library/qwen2.5/manifests/latest"),
    ("someone/tiny:q4_K_M", "someone/tiny/manifests/q4_K_M"),
])
def test_registry_paths(model, path):
    assert model_facts.registry_path(model) == path


@pytest.mark.parametrize("model", ["", "a/b/c:1", "qwen2.5:7b/../../x", "qwen 2.5", "-x:1", "qwen:", "$(reboot)"])
def test_registry_manifest_refuses_names_that_are_no_model(model):
    with pytest.raises(ValueError):
        model_facts.RegistryManifest().command(model=model)


def test_ollama_manifests_reads_a_store_as_ollama_writes_it(tmp_path):
    """The fixture's store, for real: only library models, dot files skipped, sha256 of the bytes."""
    fixture = json.loads((FACT_FIXTURES / "models.OllamaManifests" / "two-models.json").read_text())
    for line in fixture["output"]:
        row = json.loads(line)
        model, _, tag = row["name"].partition(":")
        path = tmp_path / "manifests" / "registry.ollama.ai" / "library" / model / tag
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row["manifest"], separators=(",", ":")))
    (tmp_path / "manifests" / "registry.ollama.ai" / "library" / "qwen2.5" / ".7b.tmp-1").write_text("{")
    other = tmp_path / "manifests" / "registry.ollama.ai" / "someone" / "tiny" / "latest"
    other.parent.mkdir(parents=True)
    other.write_text("{}")
    fact = _fact("models.OllamaManifests", models_dir=str(tmp_path))
    assert {name: entry["blobs"] for name, entry in fact.items()} == \
        {name: entry["blobs"] for name, entry in fixture["fact"].items()}
    qwen = tmp_path / "manifests" / "registry.ollama.ai" / "library" / "qwen2.5" / "7b"
    assert fact["qwen2.5:7b"]["manifest_sha256"] == hashlib.sha256(qwen.read_bytes()).hexdigest()


class _Registry(http.server.BaseHTTPRequestHandler):
    body = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + "2f" * 32, "size": 487},
                       "layers": [{"digest": "sha256:" + "2b" * 32, "size": 4683073184}]}, indent=3).encode()
    seen: list = []

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Accept")))
        if self.path.startswith("/v2/") and self.path.endswith("/manifests/7b"):
            body, status = self.body, 200
        elif self.path == "/v2/library/html/manifests/latest":
            body, status = b"<html>captive portal</html>", 200
        elif self.path == "/v2/library/qwen2.5/manifests/500":
            body, status = b"oops", 500
        else:
            body, status = b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # Ollama's API, for OllamaModels
    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(handler):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_registry_manifest_hashes_the_exact_bytes_it_fetched(serve):
    _Registry.seen = []
    registry = serve(_Registry)
    fact = _fact("models.RegistryManifest", model="someone/tiny:7b", registry=registry + "/")
    assert fact == {"sha256": hashlib.sha256(_Registry.body).hexdigest(), "manifest": json.loads(_Registry.body),
                    "error": ""}
    assert _Registry.seen == [("/v2/someone/tiny/manifests/7b", model_facts.MANIFEST_V2)]


@pytest.mark.parametrize("model, error", [
    ("qwen2.5:99b", "curl: (22) The requested URL returned error: 404"),
    ("qwen2.5:500", "curl: (22) The requested URL returned error: 500"),
    ("html", "the registry answered with something other than a manifest"),
])
def test_registry_manifest_reports_failures_as_an_error(serve, model, error):
    fact = _fact("models.RegistryManifest", model=model, registry=serve(_Registry))
    assert fact == {"error": error}


def test_registry_manifest_without_a_registry_reports_curls_error():
    fact = _fact("models.RegistryManifest", model="qwen2.5:7b", registry="http://127.0.0.1:9")
    assert fact["error"].startswith("curl: (7) Failed to connect to 127.0.0.1 port 9")


def test_ollama_models_from_a_stub_api(serve):
    fixture = json.loads((FACT_FIXTURES / "models.OllamaModels" / "listed.json").read_text())

    class Tags(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = fixture["output"][0].encode() if self.path == "/api/tags" else b"404 page not found"
            self.send_response(200 if self.path == "/api/tags" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    assert _fact("models.OllamaModels", url=serve(Tags)) == fixture["fact"]
    assert _fact("models.OllamaModels", url="http://127.0.0.1:9") == {}


# ---- operations: fixtures, docstrings, names


def test_the_script_is_uploaded_from_this_checkout():
    assert PULL_SCRIPT == REPO / "jetson_ollama" / "files" / "ollama-pull.py" and PULL_SCRIPT.is_file()
    assert PULL_SCRIPT_DEST == "/usr/local/lib/jetson-ollama/ollama-pull.py"


@pytest.mark.parametrize("model, name", [
    ("qwen2.5", "qwen2.5:latest"), ("qwen2.5:7b", "qwen2.5:7b"), ("library/qwen2.5:7b", "qwen2.5:7b"),
    ("registry.ollama.ai/library/qwen2.5:7b", "qwen2.5:7b"), ("registry.ollama.ai/someone/tiny", "someone/tiny:latest"),
    ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"),
])
def test_model_names_are_the_ones_api_tags_lists(model, name):
    assert model_name(model) == name


@pytest.mark.parametrize("model", ["", "qwen2.5:", ":7b", "-qwen", "a b", "a/b/c/d", "qwen;reboot", "a:1:2", 7, None])
def test_model_names_ollama_would_refuse(model):
    with pytest.raises(OperationError, match="model must be an Ollama model name"):
        model_name(model)


def _run_op(op, facts, *args, **kwargs):
    """The commands (as pyinfra-testing writes them) and the noop description of one operation call,
    with the real files on this machine (no pyinfra-testing file patches)."""
    state = FakeState()
    host = create_host(state, facts=facts)
    with ctx_state.use(state), ctx_host.use(host), patch.dict("pyinfra.api.util.FILE_SHAS", clear=True):
        commands = parse_commands(list(op._inner(*args, **kwargs)))
    return commands, host.noop_description


SCRIPT_FACTS = {
    "files.File": {f"path={PULL_SCRIPT_DEST}": {"mode": 644, "user": "root", "group": "root", "size": 1}},
    "files.Directory": {"path=/usr/local/lib/jetson-ollama": {"mode": 755, "user": "root", "group": "root"}},
}


def test_a_script_already_on_the_board_is_not_uploaded_again():
    sha1 = hashlib.sha1(PULL_SCRIPT.read_bytes()).hexdigest()
    facts = {"models.OllamaModels": {"url=http://127.0.0.1:11434": {}}, **SCRIPT_FACTS,
             "files.Sha1File": {f"path={PULL_SCRIPT_DEST}": sha1}}
    commands, _ = _run_op(models.present, facts, "qwen2.5:7b")
    assert commands == [f"python3 {PULL_SCRIPT_DEST} --url http://127.0.0.1:11434 --model qwen2.5:7b"
                        " --models-dir /opt/ollama/models"]

    facts["files.Sha1File"] = {f"path={PULL_SCRIPT_DEST}": "0" * 40}  # an older script
    commands, _ = _run_op(models.present, facts, "qwen2.5:7b")
    assert commands[0] == ["upload", str(PULL_SCRIPT), PULL_SCRIPT_DEST]


def test_present_stops_before_any_change_when_the_board_differs_from_the_lock():
    case = _op_fixtures("models.present")["differs"]
    with pytest.raises(OperationError, match="differs from models.lock"):
        _run_op(models.present, case["facts"], *case["args"], **case["kwargs"])


# ---- the operations' commands against a stub Ollama


class _Ollama(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests: list = []

    def _respond(self, status, lines):
        body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("POST", self.path, body["model"]))
        self._respond(200, [{"status": "pulling manifest"}, {"status": "success"}])

    def do_DELETE(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("DELETE", self.path, body["model"]))
        self._respond(200 if body["model"] != "someone/tiny:latest" else 404, [])

    def log_message(self, *args):
        pass


def _run_on_this_machine(commands):
    for command in commands:
        if isinstance(command, str):  # the upload is pyinfra's; run the checkout's script in its place
            result = _sh(command.replace(PULL_SCRIPT_DEST, shlex.quote(str(PULL_SCRIPT))))
            assert result.returncode == 0, (command, result.stderr)


def test_the_commands_work_with_the_script(serve, tmp_path):
    _Ollama.requests = []
    url = serve(_Ollama)
    blobs = ["sha256:" + "2f" * 32, "sha256:" + "2b" * 32]
    manifest = tmp_path / "manifests" / "registry.ollama.ai" / "library" / "qwen2.5" / "7b"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"config": {"digest": blobs[0]}, "layers": [{"digest": blobs[1]}]}))

    listed = {"llama3.2:1b": {"digest": "", "size": 1}, "someone/tiny:latest": {"digest": "", "size": 1}}
    facts = {"models.OllamaModels": {f"url={url}": listed}, **SCRIPT_FACTS,
             "models.OllamaManifests": {f"models_dir={tmp_path}": {}},
             "files.Sha1File": {f"path={PULL_SCRIPT_DEST}": "0" * 40}}
    commands, _ = _run_op(models.present, facts, "qwen2.5:7b", url=url, models_dir=str(tmp_path), expect_blobs=blobs)
    _run_on_this_machine(commands)
    commands, _ = _run_op(models.absent, facts, "llama3.2:1b", url=url)
    _run_on_this_machine(commands)
    commands, _ = _run_op(models.pruned, facts, ["qwen2.5:7b"], url=url)
    _run_on_this_machine(commands)
    assert _Ollama.requests == [
        ("POST", "/api/pull", "qwen2.5:7b"),
        ("DELETE", "/api/delete", "llama3.2:1b"),
        ("DELETE", "/api/delete", "llama3.2:1b"), ("DELETE", "/api/delete", "someone/tiny:latest"),
    ]


@pytest.mark.parametrize("name, manifest", [
    ("qwen2.5:0.5b", "registry.ollama.ai/library/qwen2.5/0.5b"),
    ("someone/tiny", "registry.ollama.ai/someone/tiny/latest"),
    ("hf.co/user/model:q4", "hf.co/user/model/q4"),
])
def test_damaged_blobs_and_the_manifest_are_removed_where_the_store_keeps_them(name, manifest):
    digest = "sha256:" + "b" * 64
    command = models.damaged_removed("/opt/ollama/models", name, [digest]).get_raw_value()
    assert command == f"rm -f /opt/ollama/models/blobs/sha256-{'b' * 64} /opt/ollama/models/manifests/{manifest}"
    with pytest.raises(OperationError, match="damaged must be"):
        models.damaged_removed("/opt/ollama/models", name, ["sha256:short"])
