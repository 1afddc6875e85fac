"""The installed package is the product: what the wheel holds, what it depends on, its deploy functions
and `jetson-ollama init`'s starter project."""

from __future__ import annotations

import ast
import fnmatch
import re
import sys
from pathlib import Path

import pytest
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_state

from jetson_ollama import deploys, lock
from jetson_ollama.__main__ import main
from jetson_ollama.defaults import DEFAULTS
from jetson_ollama.hostdata import HostDataError
from jetson_ollama.runner import inventory_hosts

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the unit lane runs on 3.11 and 3.13

REPO = Path(__file__).parents[2]
PACKAGE = REPO / "jetson_ollama"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# import name -> distribution, where they differ; pyinfra_cli ships with pyinfra
DISTRIBUTIONS = {"yaml": "pyyaml", "typing_extensions": "typing-extensions", "pyinfra_cli": "pyinfra"}


def runtime_imports() -> set[str]:
    """The top-level modules jetson_ollama imports, outside the standard library (files/ runs on the board)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name in ("files", "starter", "group_data"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in ("jetson_ollama",
                                                                                            "__future__")}


def test_the_dependencies_are_what_the_package_imports():
    declared = {re.split(r"[<>=!~; ]", requirement, maxsplit=1)[0].lower()
                for requirement in PYPROJECT["project"]["dependencies"]}
    imported = {DISTRIBUTIONS.get(name, name) for name in runtime_imports()}
    assert declared == imported


def test_python_310_is_the_oldest_and_the_tools_check_for_it():
    assert PYPROJECT["project"]["requires-python"] == ">=3.10"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py310"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == "3.10"


def test_the_wheel_is_the_library_with_all_its_data():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["jetson_ollama*"]  # not jetson_sim: the repository's
    patterns = setuptools["package-data"]["jetson_ollama"]
    packages = {path.parent for path in PACKAGE.rglob("__init__.py")}
    data = [path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
            and not (path.suffix == ".py" and path.parent in packages)]
    assert data, "no package data found"
    missing = [name for name in data if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]
    assert missing == []
    for name in ("data/models.yaml", "files/ollama-pull.py", "templates/start-ollama.j2", "starter/inventory.py",
                 "starter/group_data/all.py", "starter/README.md"):
        assert name in data


def test_each_deploy_file_calls_its_package_deploy():
    for path in sorted((REPO / "deploys").glob("*.py")):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), path
        imports = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
        assert [(node.module, [alias.name for alias in node.names]) for node in imports] == [
            ("jetson_ollama.deploys", [path.stem])], path
        assert callable(getattr(deploys, path.stem))
    assert set(deploys.__all__) == {path.stem for path in (REPO / "deploys").glob("*.py")} | {"access"}


def test_full_runs_every_stage_in_the_order_of_the_deployment_log(monkeypatch):
    order = []
    for name in ("_preflight", "board_tuning", "fleet_cache", "install_jetson_containers", "ollama_image",
                 "api_access", "ollama_service", "ollama_models", "_board_scripts", "board_metrics", "open_webui"):
        monkeypatch.setattr(deploys, name, lambda name=name: order.append(name))

    class Run:  # a run's state, as far as the host data check reads it: one board, fine
        inventory = [type("Host", (), {"name": "nano-01", "data": {"ollama_models": "auto"}})()]
        current_stage = StateStage.Prepare

    with ctx_state.use(Run()):
        deploys.full()
        assert order == ["_preflight", "board_tuning", "fleet_cache", "install_jetson_containers", "ollama_image",
                         "api_access", "ollama_service", "ollama_models", "_board_scripts", "board_metrics",
                         "open_webui"]
        order.clear()
        deploys.tuning()
        assert order == ["_preflight", "board_tuning"]
    bad = Run()
    bad.inventory = [type("Host", (), {"name": "nano-01", "data": {"ollama_num_parallel": 0}})()]
    order.clear()
    with ctx_state.use(bad), pytest.raises(HostDataError):
        deploys.full()
    assert order == []  # refused before the first stage


# ---------------------------------------------------------------- jetson-ollama init

def test_init_writes_a_starter_project_that_checks_clean(tmp_path, capsys):
    project = tmp_path / "fleet"
    assert main(["init", str(project)]) == 0
    out = capsys.readouterr().out
    assert sorted(path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()) == [
        "README.md", "group_data/all.py", "inventory.py", "models.lock"]
    assert "pyinfra inventory.py jetson_ollama.deploys.full" in out
    readme = (project / "README.md").read_text().splitlines()
    assert len(readme) == 3 and any("pyinfra inventory.py jetson_ollama.deploys.full" in line for line in readme)
    assert lock.load(project / "models.lock") == {} and lock.load_pins(project / "models.lock") == {}
    # the user puts a board in: it gets the starter's settings, which are fine
    inventory = project / "inventory.py"
    inventory.write_text(inventory.read_text().replace('# ("nano-01",', '("nano-01",', 1))
    hosts = inventory_hosts(str(inventory))
    assert [(host.name, host.groups[0]) for host in hosts] == [("nano-01", "orin_nano_8gb")]
    assert hosts[0].data["ollama_models"] == "auto" and hosts[0].data["ssh_hostname"] == "192.168.55.101"
    assert main(["check", str(inventory)]) == 0
    assert capsys.readouterr().out == "1 host: host data ok\n"


def test_the_starter_settings_are_commented_at_their_defaults():
    text = (PACKAGE / "starter" / "group_data" / "all.py").read_text()
    commented = dict(re.findall(r"^# ([a-z_]+) = (.+)$", text, re.M))
    assert len(commented) >= 20
    for key, value in commented.items():
        assert ast.literal_eval(value) == DEFAULTS[key], key
    values: dict = {}
    exec(compile(text, "all.py", "exec"), values)  # our own starter file, as pyinfra reads group data
    assert {key: value for key, value in values.items() if not key.startswith("__")} == {"ollama_models": "auto"}


def test_init_refuses_a_directory_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine\n")
    assert main(["init", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"jetson-ollama init: {tmp_path} is not empty: init writes into an empty or new "
                            f"directory (--force to write the starter files over it)\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    assert main(["init", str(tmp_path / "notes.txt")]) == 2
    assert capsys.readouterr().err == f"jetson-ollama init: {tmp_path / 'notes.txt'} is not a directory\n"


def test_init_force_keeps_the_user_s_files_and_a_lock_with_entries(tmp_path, capsys):
    entry = lock.LockEntry("sha256:" + "a" * 64, (lock.Blob("sha256:" + "b" * 64, 10, "application/x"),))
    (tmp_path / "notes.txt").write_text("mine\n")
    lock.record(tmp_path / "models.lock", "qwen3:4b", entry)
    assert main(["init", "--force", str(tmp_path)]) == 0
    capsys.readouterr()
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
    assert lock.load(tmp_path / "models.lock") == {"qwen3:4b": entry}
    assert (tmp_path / "inventory.py").exists()
