"""Host data checked before anything connects: config.problems, hostdata.check_inventory, and the three
ways users run us (the pyinfra command from the repository root, `python -m jetson_ollama rollout` and
`python -m jetson_ollama check`), each against boards that count every TCP connection they get."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from jetson_ollama import checks, defaults
from jetson_ollama.__main__ import main
from jetson_ollama.config import ConfigError, problems, settings
from jetson_ollama.hostdata import check_inventory

REPO = Path(__file__).parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")


class Listener:
    """A TCP port on 127.0.0.1 that counts the connections it accepts (and closes them at once)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.fixture(scope="module")
def boards():
    listener = Listener()
    yield listener
    listener.sock.close()


def write_inventory(path: Path, port: int, hosts: dict[str, dict]) -> Path:
    """A pyinfra inventory file: host i is ssh to 127.0.0.<i>:port plus its data (one address per board: two
    names for one board are refused); the first host is 127.0.0.1, where the listener is."""
    ssh = {"ssh_port": port, "ssh_connect_retries": 0}
    items = ",\n    ".join(f"({name!r}, {{**_ssh, 'ssh_hostname': '127.0.0.{number}', **{data!r}}})"
                            for number, (name, data) in enumerate(hosts.items(), start=1))
    path.write_text(f"_ssh = {ssh!r}\n\nboards = [\n    {items},\n]\n")
    return path


def run_pyinfra(inventory: Path) -> subprocess.CompletedProcess:
    """`pyinfra INVENTORY deploys/full.py -y` as a user runs it: from the repository root."""
    return subprocess.run([str(PYINFRA), str(inventory), "deploys/full.py", "-y"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


BAD = {
    "nano-01": {"ollama_keep_alive": "5 minutes", "ollama_num_parallel": 0},
    "nano-02": {"ollama_modles": ["qwen3:4b"], "jetson_cache_host": "cache-1"},
    "nano-03": {"ollama_models": ["qwen3:4b", "qwen9:99b"]},
}
BAD_LINES = [
    "jetson-ollama: host nano-01: ollama_keep_alive: must be a duration such as 5m, 1h30m, -1 or a number of "
    "seconds (got '5 minutes')",
    "jetson-ollama: host nano-01: ollama_num_parallel: must be an integer >= 1 (got 0)",
    "jetson-ollama: host nano-02: ollama_modles: unknown key; did you mean ollama_models? (got ['qwen3:4b'])",
    "jetson-ollama: host nano-02: jetson_cache_host: not a host of the inventory (got 'cache-1')",
    "jetson-ollama: host nano-03: ollama_models: not in the catalog (data/models.yaml): qwen9:99b; set "
    "ollama_allow_unknown_models: true to size them from the registry (got ['qwen3:4b', 'qwen9:99b'])",
]


# ---------------------------------------------------------------- config.problems and the checks

def test_problems_lists_every_bad_key_where_settings_raises_on_the_first():
    data = {"ollama_num_parallel": 0, "jetson_scripts_dir": "bin", "ollama_host": "127.0.0.1"}
    assert problems(data) == [
        "jetson_scripts_dir: must be an absolute path (got 'bin')",
        "ollama_host: must be host:port with a port 1-65535 (got '127.0.0.1')",
        "ollama_num_parallel: must be an integer >= 1 (got 0)",
    ]
    with pytest.raises(ConfigError) as err:
        settings(data)
    assert str(err.value) == problems(data)[0]
    assert problems({}) == problems(None) == []


def test_unknown_keys_get_the_nearest_setting_and_other_keys_are_not_ours():
    assert problems({"ollama_keepalive": "10m", "jetson_zzz": 1, "ssh_user": "jetson", "sim_profile": "x"}) == [
        "ollama_keepalive: unknown key; did you mean ollama_keep_alive? (got '10m')",
        "jetson_zzz: unknown key; not a setting (jetson_ollama/defaults.py) (got 1)",
    ]


def test_model_tags_outside_the_catalog_need_allow_unknown():
    line = ("ollama_models: not in the catalog (data/models.yaml): qwen9:99b; set ollama_allow_unknown_models: "
            "true to size them from the registry (got ['qwen2.5:0.5b', 'qwen9:99b'])")
    assert problems({"ollama_models": ["qwen2.5:0.5b", "qwen9:99b"]}) == [line]
    assert problems({"ollama_models": ["qwen9:99b"], "ollama_allow_unknown_models": True}) == []


def test_a_check_that_cannot_read_a_value_makes_it_a_problem_not_a_crash(monkeypatch):
    monkeypatch.setitem(defaults.CHECKS, "ollama_keep_alive", lambda value: value.upper() and None)
    assert problems({"ollama_keep_alive": 300}) == [
        "ollama_keep_alive: is not a kind of value this key takes (got 300)"]


@pytest.mark.parametrize("value, problem", [
    ("/opt/ollama models", "must be an absolute path of letters, digits and . _ - + @ / only (has ' ')"),
    ("/opt/ollama\nExecStartPre=/bin/sh",
     "must be an absolute path of letters, digits and . _ - + @ / only (has '\\n')"),
    ("/opt/$HOME", "must be an absolute path of letters, digits and . _ - + @ / only (has '$')"),
    ("/opt/%h", "must be an absolute path of letters, digits and . _ - + @ / only (has '%')"),
    ("/opt/a:/data", "must be an absolute path of letters, digits and . _ - + @ / only (has ':')"),
    ("/opt/a\x00", "must be an absolute path of letters, digits and . _ - + @ / only (has '\\x00')"),
    ("/opt/../etc", "must be a normalized absolute path (no .., ., // or trailing /)"),
    ("/opt/./x", "must be a normalized absolute path (no .., ., // or trailing /)"),
    ("//opt", "must be a normalized absolute path (no .., ., // or trailing /)"),
    ("/opt/", "must be a normalized absolute path (no .., ., // or trailing /)"),
    ("opt/x", "must be an absolute path"),
    (17, "must be an absolute path"),
])
def test_paths_refuse_what_would_break_a_shell_or_unit_line(value, problem):
    assert checks.absolute_path(value) == problem


@pytest.mark.parametrize("value", ["/opt/ollama/models", "/srv/jetson-ollama/models_2.0", "/var/lib/a+b@c"])
def test_plain_paths_pass(value):
    assert checks.absolute_path(value) is None


@pytest.mark.parametrize("value, problem", [
    ("10.0.0.0/8", 'must be a list of networks such as ["192.168.55.0/24", "fd00::/64"]'),
    (["10.0.0.0/8", 24], 'must be a list of networks such as ["192.168.55.0/24", "fd00::/64"]'),
    (["192.168.55.0/33"], "must list IPv4 or IPv6 networks such as 192.168.55.0/24; not one: '192.168.55.0/33'"),
    (["lan"], "must list IPv4 or IPv6 networks such as 192.168.55.0/24; not one: 'lan'"),
    (["192.168.55.7/24"], "must list networks without host bits: 192.168.55.7/24 is inside 192.168.55.0/24"),
])
def test_cidrs(value, problem):
    assert checks.cidrs(value) == problem


def test_good_cidrs_and_sizes():
    assert checks.cidrs([]) is None
    assert checks.cidrs(["192.168.55.0/24", "10.1.2.3", "fd00::/64"]) is None
    assert [checks.size(size) for size in ("512M", "8G", "1T", "64K")] == [None] * 4
    assert {checks.size(size) for size in ("8", "8GB", "0G", "1.5G", "8 G", 8, "-1G")} == {
        "must be a size such as 512M or 8G (a whole number and K, M, G or T)"}


# ---------------------------------------------------------------- hostdata.check_inventory

def test_each_line_names_the_host_and_hosts_keep_inventory_order():
    hosts = [("b2", {"ollama_num_parallel": 0}), ("b1", {}), ("a0", {"jetson_scripts_dir": "bin"})]
    assert check_inventory(hosts) == [
        "jetson-ollama: host b2: ollama_num_parallel: must be an integer >= 1 (got 0)",
        "jetson-ollama: host a0: jetson_scripts_dir: must be an absolute path (got 'bin')",
    ]
    assert check_inventory([("b1", {}), ("b2", None)]) == []


def test_the_cache_host_must_be_in_the_inventory_and_name_itself():
    assert check_inventory([("cache-01", {}), ("nano-01", {"jetson_cache_host": "cache-1"})]) == [
        "jetson-ollama: host nano-01: jetson_cache_host: not a host of the inventory; did you mean cache-01? "
        "(got 'cache-1')"]
    assert check_inventory([("cache-01", {}), ("nano-01", {"jetson_cache_host": "cache-01"}),
                            ("nano-02", {"jetson_cache_host": "cache-01"})]) == [
        "jetson-ollama: host cache-01: jetson_cache_host: must be cache-01 itself, the cache host of nano-01, "
        "nano-02; otherwise it is deployed as a board (got None)"]
    fleet = {"jetson_cache_host": "cache-01"}
    assert check_inventory([("cache-01", fleet), ("nano-01", fleet), ("nano-02", {})]) == []


def test_boards_share_the_registry_and_lock_of_their_cache_host():
    fleet = {"jetson_cache_host": "cache-01"}
    hosts = [("cache-01", {**fleet, "ollama_lock_file": "fleet.lock"}),
             ("nano-01", {**fleet, "ollama_lock_file": "fleet.lock"}),
             ("nano-02", {**fleet, "ollama_registry": "http://10.0.0.9:11500"})]
    assert check_inventory(hosts) == [
        "jetson-ollama: host nano-02: ollama_registry: must be the same as on its cache host cache-01 "
        "('https://registry.ollama.ai'), which downloads this host's models (got 'http://10.0.0.9:11500')",
        "jetson-ollama: host nano-02: ollama_lock_file: must be the same as on its cache host cache-01 "
        "('fleet.lock'), which downloads this host's models (got 'models.lock')",
    ]


def test_two_names_for_one_board_are_refused_before_connecting():
    # two converges of one board at once interleave: the second name of an address is refused
    hosts = [("nano-01", {"ssh_hostname": "192.168.55.101"}), ("nano-1", {"ssh_hostname": "192.168.55.101"}),
             ("192.168.55.102", {}), ("nano-02", {"ssh_hostname": "192.168.55.102"}),
             ("nano-03", {"ssh_hostname": "192.168.55.101", "ssh_port": 2222})]
    assert check_inventory(hosts) == [
        "jetson-ollama: host nano-1: ssh_hostname: 192.168.55.101:22 is also the board nano-01; one board, one "
        "inventory name (got '192.168.55.101')",
        "jetson-ollama: host nano-02: ssh_hostname: 192.168.55.102:22 is also the board 192.168.55.102; one board, "
        "one inventory name (got '192.168.55.102')",
    ]
    assert check_inventory([("@fake/a", {}), ("@fake/b", {})]) == []


def test_the_example_inventory_is_fine():
    from jetson_ollama.runner import inventory_hosts

    hosts = inventory_hosts(str(REPO / "inventories" / "lab.py"))
    assert [host.name for host in hosts] == ["nano-01", "nano-02", "nx-01", "agx-01"]
    assert check_inventory((host.name, host.data) for host in hosts) == []


# ---------------------------------------------------------------- before any connection, in every way we run

def test_pyinfra_from_the_repo_root_stops_before_connecting_with_every_problem(tmp_path, boards):
    before = boards.accepted
    run = run_pyinfra(write_inventory(tmp_path / "inventory.py", boards.port, BAD))
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "3 hosts: 5 host data problems; no host was contacted" in output
    for line in BAD_LINES:
        assert line in output
    assert boards.accepted == before


def test_pyinfra_with_good_data_does_connect(tmp_path, boards):
    # the listener sees a run that gets past the check: pyinfra's ssh reaches it (and fails there)
    before = boards.accepted
    run = run_pyinfra(write_inventory(tmp_path / "inventory.py", boards.port, {"nano-01": {}}))
    assert run.returncode != 0
    assert "host data" not in run.stdout + run.stderr
    assert boards.accepted > before


def test_check_command(tmp_path, boards, capsys):
    before = boards.accepted
    bad = write_inventory(tmp_path / "bad.py", boards.port, BAD)
    assert main(["check", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "3 hosts: 5 host data problems; no host was contacted"
    assert out[1:] == BAD_LINES
    good = write_inventory(tmp_path / "good.py", boards.port, {"nano-01": {}, "nano-02": {"ollama_models": "auto"}})
    assert main(["check", str(good)]) == 0
    assert capsys.readouterr().out == "2 hosts: host data ok\n"
    assert main(["check", str(tmp_path / "missing.py")]) == 2
    assert capsys.readouterr().err == f"jetson-ollama check: no inventory file {tmp_path / 'missing.py'}\n"
    assert boards.accepted == before


def test_rollout_refuses_before_any_run(tmp_path, boards, capsys, monkeypatch):
    from jetson_ollama import runner

    monkeypatch.setattr(runner, "run_deploy", lambda *args, **kwargs: pytest.fail("a deploy ran"))
    before = boards.accepted
    inventory = write_inventory(tmp_path / "bad.py", boards.port, BAD)
    state = tmp_path / "state.json"
    code = main(["rollout", str(inventory), str(REPO / "deploys" / "full.py"), "--state", str(state)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("jetson-ollama rollout: 3 hosts: 5 host data problems; no host was contacted\n")
    for line in BAD_LINES:
        assert f"\n{line}\n" in err
    assert not state.exists() and boards.accepted == before


# ---------------------------------------------------------------- run from any directory, as an installed package is

def run_elsewhere(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The pyinfra command run in `cwd`, where no config.py is; jetson_ollama importable as if installed."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "PYTHONPATH": str(REPO)}
    return subprocess.run([str(PYINFRA), *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def test_the_deploy_module_checks_before_connecting_without_config_py(tmp_path, boards):
    before = boards.accepted
    inventory = write_inventory(tmp_path / "inventory.py", boards.port, BAD)
    run = run_elsewhere(tmp_path, "inventory.py", "jetson_ollama.deploys.full", "-y")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "3 hosts: 5 host data problems; no host was contacted" in output
    for line in BAD_LINES:
        assert line in output
    assert boards.accepted == before
    # with good data the same command gets past the check and reaches the board
    write_inventory(inventory, boards.port, {"nano-01": {}})
    run = run_elsewhere(tmp_path, "inventory.py", "jetson_ollama.deploys.preflight", "-y")
    assert run.returncode != 0 and "host data" not in run.stdout + run.stderr
    assert boards.accepted > before


def test_a_deploy_file_read_after_connecting_stops_before_any_operation(tmp_path):
    # @local connects without a network; the deploy file is read after that, so its first deploy function checks
    (tmp_path / "inventory.py").write_text('hosts = [("@local", {"ollama_num_parallel": 0})]\n')
    run = run_elsewhere(tmp_path, "inventory.py", str(REPO / "deploys" / "full.py"), "-y")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert ("1 host: 1 host data problem; no operation ran\n"
            "jetson-ollama: host @local: ollama_num_parallel: must be an integer >= 1 (got 0)") in output
    assert "Starting operation" not in output and "Verify the board" not in output


def test_the_check_is_installed_once_and_answers_once_per_run(monkeypatch):
    from pyinfra.api import State
    from pyinfra.api.state import StateStage

    from jetson_ollama import hostdata

    hostdata.install()
    wrapped = State.set_stage
    hostdata.install()
    assert State.set_stage is wrapped
    calls = []
    monkeypatch.setattr(hostdata, "check_inventory", lambda hosts: calls.append(list(hosts)) or ["a problem"])

    class FakeState:
        inventory = [type("H", (), {"name": "nano-01", "data": {}})()]
        current_stage = StateStage.Prepare

    state = FakeState()
    for _ in range(2):
        with pytest.raises(hostdata.HostDataError) as err:
            hostdata.check_state(state)
        assert str(err.value) == "1 host: 1 host data problem; no operation ran\na problem"
    assert len(calls) == 1


GROUP_DATA_SYNTAX = 'ollama_models = ["qwen3:4b"\nollama_keep_alive = "10m"\n'


@pytest.fixture
def broken_group_data(tmp_path, boards):
    write_inventory(tmp_path / "inventory.py", boards.port, {"nano-01": {}})
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(GROUP_DATA_SYNTAX)
    return tmp_path


def _syntax_line(where: Path) -> str:
    try:
        compile(GROUP_DATA_SYNTAX, "all.py", "exec")
    except SyntaxError as exc:
        return f"{where / 'group_data' / 'all.py'}, line 1: SyntaxError: {exc.msg}"
    raise AssertionError("the group data compiles")


def test_a_syntax_error_in_group_data_is_one_line_in_every_pyinfra_run(broken_group_data, boards):
    before = boards.accepted
    line = _syntax_line(broken_group_data)
    runs = [run_elsewhere(broken_group_data, "inventory.py", "jetson_ollama.deploys.full", "-y"),
            subprocess.run([str(PYINFRA), str(broken_group_data / "inventory.py"), "deploys/full.py", "-y"], cwd=REPO,
                           capture_output=True, text=True, timeout=120)]
    for run in runs:
        output = run.stdout + run.stderr
        assert run.returncode != 0
        assert f"--> pyinfra error: {line}\n" in output
        assert "Traceback" not in output and "internal exception" not in output
    assert boards.accepted == before


def test_a_syntax_error_in_group_data_is_one_line_in_check(broken_group_data, capsys):
    assert main(["check", str(broken_group_data / "inventory.py")]) == 2
    assert capsys.readouterr().err == f"jetson-ollama check: {_syntax_line(broken_group_data)}\n"
