"""Facts of jetson_ollama.facts.containers: pyinfra-testing fixtures (tests/unit/facts/containers.<Fact>/),
defaults, quoting, and each command run for real on this machine: against git checkouts made here and a
fake `docker` that answers as docker does."""

import inspect
import json
import shlex
import subprocess
from pathlib import Path

import pytest
from pyinfra.api import FactBase, StringCommand
from pyinfra_testing.facts import make_fact_tests

from jetson_ollama.facts import containers

FIXTURES = Path(__file__).parent / "facts"
FACTS = {
    f"containers.{name}": cls
    for name, cls in inspect.getmembers(containers, inspect.isclass)
    if issubclass(cls, FactBase) and cls.__module__ == containers.__name__
}
ARGS = {"JetsonContainersCheckout": {"path": "/var/lib/no/such/dir"}, "OllamaContainer": {"container": "ollama"},
        "CheckoutNaming": {"path": "/var/lib/no/such/dir"}, "ImageOllamaVersion": {"ref": "no-such/image:tag"}}

for _fact_path in FACTS:
    if (FIXTURES / _fact_path).is_dir():  # a missing folder fails the test below, not the collection
        globals()[f"TestFixtures_{_fact_path.replace('.', '_')}"] = make_fact_tests(
            "jetson_ollama.facts", _fact_path, FIXTURES / _fact_path
        )


def _command(fact_path, **args):
    command = FACTS[fact_path]().command(**(args or ARGS.get(fact_path.split(".")[1], {})))
    return command.get_raw_value() if isinstance(command, StringCommand) else command


def _sh(command, **kwargs):
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30, **kwargs)


def test_the_facts_are_the_expected_ones():
    assert set(FACTS) == {"containers.JetsonContainersCheckout", "containers.DockerImages",
                          "containers.OllamaContainer", "containers.CheckoutNaming", "containers.ImageOllamaVersion"}


@pytest.mark.parametrize("fact_path", FACTS)
def test_every_fact_has_fixtures_including_nothing_there(fact_path):
    cases = [json.loads(path.read_text()) for path in (FIXTURES / fact_path).glob("*.json")]
    assert len(cases) >= 3 and all(case.get("note") for case in cases)
    # the "absent" value is empty, never None: pyinfra-testing cannot hand a None fact to an operation
    assert any(case["output"] == [] and case["fact"] == FACTS[fact_path]().default() for case in cases)


def test_defaults_are_empty_values_of_the_declared_types():
    assert containers.JetsonContainersCheckout().default() == {}
    assert containers.DockerImages().default() == []
    assert containers.OllamaContainer().default() == {}


@pytest.mark.parametrize("fact_path", FACTS)
def test_default_is_what_no_output_means(fact_path):
    # pyinfra skips process() when a command prints nothing; process([]) must agree with it
    fact = FACTS[fact_path]()
    assert fact.process([]) == fact.default()


@pytest.mark.parametrize("fact_path", FACTS)
def test_command_succeeds_and_parses_on_this_machine(fact_path):
    """Commands cannot fail: each runs under sh (dash here) with exit 0, whatever this host lacks."""
    result = _sh(_command(fact_path))
    assert result.returncode == 0, result.stderr
    fact = FACTS[fact_path]()
    assert type(fact.process(result.stdout.splitlines())) is type(fact.default())  # images, if docker runs here


HOSTILE = "/tmp/x'; touch {marker}; echo '$(touch {marker})`touch {marker}`"


@pytest.mark.parametrize("fact_path", ["containers.JetsonContainersCheckout", "containers.OllamaContainer"])
def test_arguments_are_quoted(fact_path, tmp_path):
    value = HOSTILE.format(marker=tmp_path / "pwned")
    argument = next(iter(ARGS[fact_path.split(".")[1]]))
    command = _command(fact_path, **{argument: value})
    assert value in shlex.split(command)
    assert _sh(command).returncode == 0
    assert not (tmp_path / "pwned").exists()


# ---- JetsonContainersCheckout against real checkouts

def _git(*args, cwd):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "GIT_AUTHOR_DATE": "2025-05-14T10:00:00Z", "GIT_COMMITTER_DATE": "2025-05-14T10:00:00Z",
           "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def _checkout(path):
    result = _sh(_command("containers.JetsonContainersCheckout", path=str(path)))
    assert result.returncode == 0, result.stderr
    return containers.JetsonContainersCheckout().process(result.stdout.splitlines())


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "jetson containers"
    root.mkdir()
    _git("init", "-q", cwd=root)
    (root / ".gitignore").write_text(".env\ndata/\n")  # as upstream's
    (root / "install.sh").write_text("echo install\n")
    (root / "packages").mkdir()
    _git("add", ".", cwd=root)
    _git("commit", "-qm", "first", cwd=root)
    return root


def test_checkout_reports_commit_date_and_a_clean_tree(checkout):
    fact = _checkout(checkout)
    assert fact["commit"] == _git("rev-parse", "HEAD", cwd=checkout)
    assert fact["date"] == "2025-05-14"
    assert fact["dirty"] is False and fact["env_file"] is False
    assert fact["autotag"] == fact["jetson_containers"] == ""  # no install.sh links on this machine


def test_checkout_dirty_means_tracked_changes_only(checkout):
    (checkout / "notes.txt").write_text("untracked\n")
    (checkout / ".env").write_text("ignored, made by install.sh\n")
    fact = _checkout(checkout)
    assert fact["dirty"] is False and fact["env_file"] is True
    (checkout / "install.sh").write_text("edited\n")
    assert _checkout(checkout)["dirty"] is True


@pytest.mark.parametrize("where", ["packages", "not-there", "parent"])
def test_checkout_is_empty_inside_outside_or_without_one(checkout, where):
    path = checkout.parent if where == "parent" else checkout / where
    assert _checkout(path) == {}


def test_checkout_without_any_commit_is_empty(tmp_path):
    _git("init", "-q", cwd=tmp_path)
    assert _checkout(tmp_path) == {}


# ---- docker facts against a fake docker that answers as docker does

FAKE_DOCKER = """#!/bin/sh
# prints the fixture's output; "[]" plus an error and exit 1 for an absent container, as docker does
[ -n "$FAKE_STDERR" ] && echo "$FAKE_STDERR" >&2
[ -n "$FAKE_STDOUT" ] && printf '%s\\n' "$FAKE_STDOUT"
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def fake_docker(tmp_path):
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    (fakebin / "docker").write_text(FAKE_DOCKER)
    (fakebin / "docker").chmod(0o755)

    def run(fact_path, stdout="", stderr="", exit_code=0):
        env = {"PATH": f"{fakebin}:/usr/bin:/bin", "FAKE_STDOUT": stdout, "FAKE_STDERR": stderr,
               "FAKE_EXIT": str(exit_code)}
        result = _sh(_command(fact_path), env=env)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # docker's complaints are not the fact's
        return FACTS[fact_path]().process(result.stdout.splitlines())

    return run


@pytest.mark.parametrize("case", ["running", "absent"])
def test_ollama_container_command_with_docker_answers(fake_docker, case):
    fixture = json.loads((FIXTURES / "containers.OllamaContainer" / f"{case}.json").read_text())
    stderr, exit_code = ("Error: No such container: ollama", 1) if case == "absent" else ("", 0)
    assert fake_docker("containers.OllamaContainer", "\n".join(fixture["output"]), stderr, exit_code) == fixture["fact"]


def test_docker_images_command_with_a_daemon_down(fake_docker):
    error = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    assert fake_docker("containers.DockerImages", "", error, 1) == []


def test_docker_images_command_with_images(fake_docker):
    fixture = json.loads((FIXTURES / "containers.DockerImages" / "built-and-prebuilt.json").read_text())
    assert fake_docker("containers.DockerImages", "\n".join(fixture["output"])) == fixture["fact"]
