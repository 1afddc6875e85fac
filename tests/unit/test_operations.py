"""Operations: pyinfra-testing fixtures (tests/unit/operations/<module>.<operation>/<case>.json: args,
kwargs, facts, commands, noop_description, exception), the pure `container_spec`, and the commands they
yield run for real: git against a local repository, the API wait against a local HTTP server, the pull
from the fleet's registry against a stand-in registry and a fake docker."""

import http.server
import hashlib
import inspect
import json
import shlex
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from pyinfra.api import OperationError, StringCommand
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.operations import make_operation_tests
from pyinfra_testing.util import FakeState, create_host

from jetson_ollama.facts.containers import JetsonContainersCheckout
from jetson_ollama.operations import cache, firewall, jetson_containers, ollama, rollback, tuning
from jetson_ollama.operations.ollama import container_spec

from jetson_ollama.operations import native

from .registry_stub import Registry

FIXTURES = Path(__file__).parent / "operations"
MODULES = {"jetson_containers": jetson_containers, "ollama": ollama, "rollback": rollback, "cache": cache,
           "tuning": tuning, "firewall": firewall}
MODULES["native"] = native  # its commands run for real in test_native.py
OPERATIONS = {
    f"{module_name}.{name}": function
    for module_name, module in MODULES.items()
    for name, function in inspect.getmembers(module, inspect.isfunction)
    if hasattr(function, "_inner") and function.__module__ == module.__name__
}

for _op_path in OPERATIONS:
    if (FIXTURES / _op_path).is_dir():  # a missing folder fails the test below, not the collection
        globals()[f"TestFixtures_{_op_path.replace('.', '_')}"] = make_operation_tests(
            "jetson_ollama.operations", _op_path, FIXTURES / _op_path
        )


def _fixtures(op_path):
    return {path.stem: json.loads(path.read_text()) for path in (FIXTURES / op_path).glob("*.json")}


# ---- container_spec: what the label hash covers

BASE = dict(image="ollama:r36.2.0-cu122-22.04", env={"JETSON_JETPACK": "6", "OLLAMA_KEEP_ALIVE": "5m"},
            models_dir="/var/lib/ollama/models", container_models_dir="/data/models/ollama/models",
            image_id="sha256:" + "5c" * 32)


def spec_hash(**changes):
    return container_spec(**{**BASE, **changes})[1]


@pytest.mark.parametrize("changes", [
    {"env": {"JETSON_JETPACK": "5", "OLLAMA_KEEP_ALIVE": "5m"}},
    {"env": {"JETSON_JETPACK": "6"}},
    {"env": {"JETSON_JETPACK": "6", "OLLAMA_KEEP_ALIVE": "5m", "OLLAMA_NUM_PARALLEL": "2"}},
    {"image_id": "sha256:" + "7a" * 32},
    {"image_id": ""},
    {"image": "dustynv/ollama:r36.2.0"},
    {"models_dir": "/mnt/nvme/ollama/models"},
    {"container_models_dir": "/models", "env": {"JETSON_JETPACK": "6", "OLLAMA_KEEP_ALIVE": "5m"}},
    {"runtime": "runc"},
    {"restart": "always"},
    {"command": ["ollama", "serve", "--verbose"]},
], ids=lambda changes: ",".join(changes))
def test_spec_hash_changes_with_every_part(changes):
    assert spec_hash(**changes) != spec_hash()


def test_spec_hash_ignores_order_and_spelling_of_the_same_spec():
    reordered = {"OLLAMA_KEEP_ALIVE": "5m", "JETSON_JETPACK": "6"}
    assert list(reordered) != list(BASE["env"])
    assert spec_hash(env=reordered) == spec_hash()
    assert spec_hash(env={"JETSON_JETPACK": 6, "OLLAMA_KEEP_ALIVE": "5m"}) == spec_hash()  # values are strings
    assert spec_hash(models_dir="/var/lib/ollama/models/") == spec_hash()
    assert spec_hash(command=("ollama", "serve")) == spec_hash(command=["ollama", "serve"])
    explicit = {**BASE["env"], "OLLAMA_MODELS": BASE["container_models_dir"]}
    assert spec_hash(env=explicit) == spec_hash()


def test_spec_is_the_documented_one():
    spec, digest = container_spec(**BASE)
    assert spec == {
        "image": "ollama:r36.2.0-cu122-22.04",
        "image_id": "sha256:" + "5c" * 32,
        "env": {"JETSON_JETPACK": "6", "OLLAMA_KEEP_ALIVE": "5m", "OLLAMA_MODELS": "/data/models/ollama/models"},
        "mounts": [{"source": "/var/lib/ollama/models", "destination": "/data/models/ollama/models"}],
        "runtime": "nvidia",
        "restart": "unless-stopped",
        "network": "host",
        "command": ["ollama", "serve"],
    }
    assert digest == hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    # a changed hash recreates every Ollama container of the fleet: change this value only on purpose
    assert digest == "74bc0095902d98cb0db0d25f795661ff8396d2e7018b6735685862234f013b81"


def test_spec_never_mounts_data_and_restarts_unless_stopped():
    spec, _ = container_spec(**{k: v for k, v in BASE.items() if k != "image_id"})
    assert spec["restart"] == "unless-stopped" and spec["runtime"] == "nvidia" and spec["network"] == "host"
    assert all(mount["destination"] != "/data" for mount in spec["mounts"])
    with pytest.raises(OperationError):
        container_spec(**{**BASE, "container_models_dir": "/data/"})
    for case in _fixtures("ollama.container").values():
        for command in case["commands"]:
            if command.startswith("docker run "):
                words = shlex.split(command)
                assert words[words.index("--restart") + 1] in ("unless-stopped", "always")
                assert not [word for word in words if word.endswith(":/data")]
                assert "-it" not in words and "--rm" not in words  # docs/facts.md section 4
                assert words[-2:] == ["ollama", "serve"]


@pytest.mark.parametrize("bad", [
    {"env": {"bad-name": "1"}}, {"env": {"X": None}}, {"env": {"X": ["a"]}}, {"models_dir": "/a:b"},
    {"container_models_dir": "models"}, {"command": "ollama serve"}, {"command": []},
    {"runtime": "nvidia --privileged"},
])
def test_spec_refuses_what_docker_would_refuse_or_misread(bad):
    with pytest.raises(OperationError):
        container_spec(**{**BASE, **bad})


# ---- the commands, run for real


def _run_op(op, facts, *args, **kwargs):
    """The commands (as shell strings) and the noop description of one operation call."""
    state = FakeState()
    host = create_host(state, facts=facts)
    with ctx_state.use(state), ctx_host.use(host):
        commands = list(op._inner(*args, **kwargs))
    return [command.get_raw_value() if isinstance(command, StringCommand) else command for command in commands], \
        host.noop_description


def _sh(command, **kwargs):
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60, **kwargs)


def _git(*args, cwd=None):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_COMMITTER_DATE": "2025-05-14T10:00:00Z", "HOME": "/nonexistent",
           "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def _checkout_fact(path):
    result = _sh(JetsonContainersCheckout().command(path=path).get_raw_value())
    return JetsonContainersCheckout().process(result.stdout.splitlines())


def test_installed_clones_then_moves_to_a_new_pin_for_real(tmp_path):
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    _git("init", "-q", "-b", "main", cwd=upstream)
    (upstream / "install.sh").write_text("echo install\n")
    _git("add", ".", cwd=upstream)
    _git("commit", "-qm", "one", cwd=upstream)
    first = _git("rev-parse", "HEAD", cwd=upstream)
    path = str(tmp_path / "jetson containers")

    def converge(commit):
        facts = {"containers.JetsonContainersCheckout": {f"path={path}": _checkout_fact(path)}}
        commands, noop = _run_op(jetson_containers.installed, facts, repo=str(upstream), commit=commit, path=path)
        for command in commands:
            if "install.sh" not in command:  # install.sh links into /usr/local/bin: not on this machine
                assert _sh(command).returncode == 0, command
        return commands, noop

    commands, _ = converge(first[:12])
    assert commands[0].startswith("git clone --quiet ") and " checkout --quiet --detach " in commands[1]
    assert commands[2].endswith("&& bash install.sh </dev/null") and len(commands) == 3
    assert _checkout_fact(path)["commit"] == first and not _checkout_fact(path)["dirty"]

    (upstream / "install.sh").write_text("echo install v2\n")
    _git("commit", "-qam", "two", cwd=upstream)
    second = _git("rev-parse", "HEAD", cwd=upstream)
    commands, _ = converge(second)
    assert "fetch --quiet origin" in commands[0]
    assert _checkout_fact(path)["commit"] == second

    # the links install.sh makes are not on this machine, so it would run again: take them as made
    fact = {**_checkout_fact(path), "autotag": f"{path}/autotag", "jetson_containers": f"{path}/jetson-containers",
            "env_file": True}
    commands, noop = _run_op(jetson_containers.installed,
                             {"containers.JetsonContainersCheckout": {f"path={path}": fact}},
                             repo=str(upstream), commit=second, path=path)
    assert commands == [] and noop == f"jetson-containers at {second[:7]}"

    (Path(path) / "install.sh").write_text("edited\n")
    with pytest.raises(OperationError, match="has local changes"):
        _run_op(jetson_containers.installed,
                {"containers.JetsonContainersCheckout": {f"path={path}": _checkout_fact(path)}},
                repo=str(upstream), commit=first, path=path)


def test_image_built_check_fails_with_one_line_when_the_build_named_the_image_otherwise(tmp_path):
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    (fakebin / "docker").write_text("#!/bin/sh\necho 'Error: No such image' >&2\nexit 1\n")
    (fakebin / "docker").chmod(0o755)
    commands, _ = _run_op(ollama.image_built, {"containers.DockerImages": []}, package="ollama",
                          expected_ref="ollama:r36.4-cu126-22.04")
    result = _sh(commands[-1], env={"PATH": f"{fakebin}:/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr == "jetson-containers built no image named ollama:r36.4-cu126-22.04\n"


class _VersionHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"version":"0.6.8"}' if self.path == "/api/version" else b"404"
        self.send_response(200 if self.path == "/api/version" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_api_ready_waits_for_a_server_that_comes_up():
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    commands, noop = _run_op(ollama.api_ready, {"ollama.OllamaVersion": {f"url={url}": None}}, url=url, timeout=10)
    assert noop is None
    waiting = subprocess.Popen(["sh", "-c", commands[0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    servers = []

    def serve_later():  # the port stays closed for a second, as while a container starts
        servers.append(http.server.HTTPServer(("127.0.0.1", port), _VersionHandler))
        servers[0].serve_forever()

    threading.Timer(1.0, serve_later).start()
    try:
        assert waiting.wait(timeout=15) == 0, waiting.stderr.read()
        assert servers, "answered before the server was up"
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_api_ready_fails_with_one_line_when_nothing_answers():
    url = f"http://127.0.0.1:{_free_port()}"
    commands, _ = _run_op(ollama.api_ready, {"ollama.OllamaVersion": {f"url={url}": None}}, url=url, timeout=1)
    result = _sh(commands[0])
    assert result.returncode == 1
    assert result.stderr == f"Ollama API at {url} did not answer within 1 s\n"


IMAGE = "ollama:r36.2.0-cu122-22.04"


def _fake_docker(tmp_path):
    """A `docker` first in PATH that records each call's arguments (one line, tab-separated) and succeeds."""
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    calls = tmp_path / "docker-calls"
    (fakebin / "docker").write_text(f"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\t' \"$a\"; done >> '{calls}'\n"
                                    f"echo >> '{calls}'\n")
    (fakebin / "docker").chmod(0o755)
    return {"PATH": f"{fakebin}:/usr/bin:/bin"}, calls


def _docker_calls(calls):
    return [line.rstrip("\t").split("\t") for line in calls.read_text().splitlines()] if calls.exists() else []


def _bash(command, **kwargs):
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, **kwargs)


def test_image_from_registry_pulls_the_digest_the_registry_serves_then_tags_it(tmp_path):
    env, calls = _fake_docker(tmp_path)
    digest = "sha256:" + "e3" * 32
    with Registry({"jetson-ollama/ollama:r36.2.0-cu122-22.04": digest}) as registry:
        lan_ref = f"{registry.address}/jetson-ollama/ollama:r36.2.0-cu122-22.04"
        commands, noop = _run_op(cache.image_from_registry, {"containers.DockerImages": []}, IMAGE, lan_ref)
        assert noop is None and len(commands) == 1
        result = _bash(commands[0], env=env)
    assert result.returncode == 0, result.stderr
    # the schema 2 digest (the stand-in answers a client that does not ask for it with another one)
    pinned = f"{registry.address}/jetson-ollama/ollama@{digest}"
    assert _docker_calls(calls) == [["pull", pinned], ["tag", pinned, IMAGE]]
    assert registry.requests == [("HEAD", "/v2/jetson-ollama/ollama/manifests/r36.2.0-cu122-22.04")]


@pytest.mark.parametrize("registry_up", [True, False], ids=["tag-missing", "registry-down"])
def test_image_from_registry_fails_with_one_line_and_no_docker_call_without_the_tag(tmp_path, registry_up):
    env, calls = _fake_docker(tmp_path)
    with Registry({"jetson-ollama/ollama:r36.2.0-cu122-22.04-other": "sha256:" + "e3" * 32}) as registry:
        address = registry.address if registry_up else f"127.0.0.1:{_free_port()}"
        lan_ref = f"{address}/jetson-ollama/ollama:r36.2.0-cu122-22.04"
        commands, _ = _run_op(cache.image_from_registry, {"containers.DockerImages": []}, IMAGE, lan_ref)
        result = _bash(commands[0], env=env)
    assert result.returncode == 1
    assert result.stderr == f"the fleet's registry has no {lan_ref} (did its builder fail?)\n"
    assert _docker_calls(calls) == [] and not calls.exists()
    assert len(registry.requests) == (1 if registry_up else 0)
