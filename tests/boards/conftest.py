"""Checks of deployed boards, real or simulated, listed in a pyinfra inventory:

    pytest tests/boards --inventory inventories/lab.py
    JETSON_OLLAMA_INVENTORY=inventories/sim.py pytest tests/boards

Without an inventory every check is skipped, so the normal test run stays green. The inventory is read
by `python -m jetson_ollama.runner inventory INVENTORY` (`remote.load_inventory`) in a subprocess run in
the directory pytest runs in (as a deploy started there would see it); each board is reached over SSH
with its host data and strict host key checking (`jetson_ollama.boards`), also when testinfra
reconnects. One test per board per check; hosts without `/etc/nv_tegra_release` are skipped, a board
that cannot be reached fails.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
from pathlib import Path

import pytest
import testinfra.host
from testinfra.backend.paramiko import ParamikoBackend

from jetson_ollama import remote
from jetson_ollama.config import ConfigError, settings
from jetson_ollama.facts.containers import OllamaContainer
from jetson_ollama.facts.jetson import Memory, TegraRelease
from jetson_ollama.images import BuildNames, ImagePlan
from jetson_ollama.plan import BoardPlan, make_plan
from jetson_ollama.releases import ReleaseInfo, UnknownRelease, release_info

INVENTORY_ENV = "JETSON_OLLAMA_INVENTORY"
NO_INVENTORY = (f"no board inventory: run `pytest tests/boards --inventory inventories/lab.py` "
                f"or set {INVENTORY_ENV}")
_HOSTS = pytest.StashKey[list]()
_BOARDS = pytest.StashKey[dict]()


def pytest_addoption(parser):
    parser.addoption("--inventory", default=os.environ.get(INVENTORY_ENV) or None, metavar="FILE",
                     help=f"pyinfra inventory of the boards tests/boards checks (default: ${INVENTORY_ENV})")


def _inventory(config) -> list[remote.InventoryHost] | None:
    if _HOSTS not in config.stash:
        path = config.getoption("inventory", default=None) or os.environ.get(INVENTORY_ENV)
        if not path:
            return None
        try:
            hosts = remote.load_inventory(path, cwd=config.invocation_params.dir)
        except remote.InventoryError as exc:
            raise pytest.UsageError(str(exc)) from None
        if not hosts:
            raise pytest.UsageError(f"the inventory {path} lists no hosts")
        config.stash[_HOSTS] = hosts
    return config.stash[_HOSTS]


def pytest_generate_tests(metafunc):
    if "board" not in metafunc.fixturenames:
        return
    hosts = _inventory(metafunc.config)
    if hosts is None:
        metafunc.parametrize("board", [pytest.param(None, marks=pytest.mark.skip(reason=NO_INVENTORY))],
                             ids=["no-inventory"], indirect=True)
    else:
        metafunc.parametrize("board", [host.name for host in hosts], ids=[host.name for host in hosts],
                             indirect=True)


class StrictParamikoBackend(ParamikoBackend):
    """testinfra's paramiko backend, connecting (and reconnecting) through `remote.connect`: the host's
    own known_hosts with RejectPolicy, where testinfra alone would warn and go on. Commands run under
    `sudo -n` when the host data says `_sudo`, as pyinfra runs them."""

    def __init__(self, inventory_host: remote.InventoryHost, timeout: float = remote.CONNECT_TIMEOUT):
        target = remote.ssh_target(inventory_host)
        super().__init__(f"paramiko://{inventory_host.name}", timeout=max(int(timeout), 1), sudo=target.sudo,
                         sudo_user=target.sudo_user)
        self.target = target
        self.connect_timeout = timeout

    @functools.cached_property
    def client(self):
        return remote.connect(self.target, timeout=self.connect_timeout)

    def get_sudo_command(self, command, sudo_user):
        return remote.sudo_command(command, sudo_user)


class Board:
    """One board under test: its inventory data and settings, a testinfra host, and what the library
    makes of them (each read once per session)."""

    def __init__(self, inventory_host: remote.InventoryHost, host: testinfra.host.Host, run_dir: Path):
        self.name = inventory_host.name
        self.data = inventory_host.data
        self.host = host
        self.facts = remote.FactReader(host, self.data, self.name)
        self.cfg = settings(self.data)
        self.run_dir = run_dir

    # ------------------------------------------------------------ what the board says

    @functools.cached_property
    def release(self) -> ReleaseInfo:
        tegra = self.facts.get_fact(TegraRelease)
        if not tegra:
            pytest.fail(f"{self.name}: /etc/nv_tegra_release names no L4T release", pytrace=False)
        try:
            return release_info(tegra["l4t"])
        except UnknownRelease as exc:
            pytest.fail(f"{self.name}: {exc}", pytrace=False)

    @functools.cached_property
    def mem_total_mb(self) -> int:
        return self.facts.get_fact(Memory).get("mem_total_mb", 0)

    @functools.cached_property
    def plan(self) -> BoardPlan:
        """The board's plan, made by the library's own `make_plan` from the board's facts and host data
        (as the deploy makes it), read over this SSH session; lock and pins relative to the run directory."""
        cwd = os.getcwd()
        try:
            os.chdir(self.run_dir)
            return make_plan(self.facts, self.cfg)
        finally:
            os.chdir(cwd)

    def _planned(self) -> BoardPlan:
        if self.plan.refusal:
            pytest.fail(f"{self.name}: the library refuses this board: {self.plan.refusal}", pytrace=False)
        return self.plan

    @property
    def models(self) -> list[str]:
        """The board's model set, as its plan has it."""
        return self._planned().models

    @functools.cached_property
    def container(self) -> dict:
        return self.facts.get_fact(OllamaContainer, container=self.cfg.ollama_container_name)

    @property
    def api(self) -> str:
        return self.cfg.api_url

    @property
    def lock_path(self) -> Path:
        """ollama_lock_file, relative to the directory pytest runs in (as to the one pyinfra runs in)."""
        path = Path(os.path.expanduser(self.cfg.ollama_lock_file))
        return path if path.is_absolute() else self.run_dir / path

    # ------------------------------------------------------------ what the library makes of it: the plan

    @property
    def min_ollama(self) -> str | None:
        return self._planned().min_ollama

    @property
    def build_names(self) -> BuildNames:
        """What the pinned jetson-containers builds on this board, as the plan read it."""
        return self._planned().build_names or BuildNames(images={}, problem="no build names in the plan")

    def image_plan(self) -> ImagePlan:
        """The image the plan chose for this board."""
        image = self._planned().image
        if image is None:
            pytest.fail(f"{self.name}: the plan has no image (jetson_runtime: {self.cfg.jetson_runtime})",
                        pytrace=False)
        return image

    # ------------------------------------------------------------ the API, through curl on the board

    def api_call(self, path: str, payload: dict | None = None, *, max_time: int = 30) -> dict:
        """The JSON the board's Ollama answers (the last line of a stream); fails the test on an HTTP
        error, an `error` in the answer or no answer at all."""
        words = ["curl", "-sS", "--max-time", str(max_time), "-w", r"\n%{http_code}"]
        if payload is not None:
            words += ["-H", "Content-Type: application/json", "-d", json.dumps(payload)]
        words.append(f"{self.api}{path}")
        result = self.host.run(" ".join(shlex.quote(word) for word in words))
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        what = f"{'POST' if payload is not None else 'GET'} {self.api}{path} on {self.name}"
        if result.rc != 0 or not lines:
            pytest.fail(f"{what}: no answer ({(result.stderr or '').strip() or f'curl exit {result.rc}'})",
                        pytrace=False)
        status, body = lines[-1], lines[-2] if len(lines) > 1 else ""
        try:
            answer = json.loads(body) if body else {}
        except ValueError:
            answer = {"error": body[:200]}
        if not status.startswith("2") or "error" in answer:
            pytest.fail(f"{what}: HTTP {status}: {answer.get('error') or body[:200]}", pytrace=False)
        return answer


def _open(config, inventory_host: remote.InventoryHost, run_dir: Path) -> Board | str:
    """A Board, or why there is none: "skip: ..." for a host that is no Jetson, else a failure line."""
    backend = StrictParamikoBackend(inventory_host)
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    try:
        backend.client  # noqa: B018 - connect now, so an unreachable board fails once, with the reason
    except remote.Unreachable as exc:
        return f"{inventory_host.name} ({backend.target}) is unreachable: {exc}"
    # the session's last word; the client of a reconnect included
    config.add_cleanup(lambda: backend.__dict__["client"].close() if "client" in backend.__dict__ else None)
    if problem := remote.sudo_problem(host, backend.target):
        return f"{inventory_host.name}: {problem}"
    if not host.file("/etc/nv_tegra_release").exists:
        return f"skip: {inventory_host.name} is not a Jetson: /etc/nv_tegra_release is absent"
    try:
        return Board(inventory_host, host, run_dir)
    except ConfigError as exc:
        return f"{inventory_host.name}: bad host data: {exc}"


@pytest.fixture
def board(request) -> Board:
    boards_by_name = request.config.stash.setdefault(_BOARDS, {})
    name = request.param
    if name not in boards_by_name:
        hosts = {host.name: host for host in _inventory(request.config)}
        boards_by_name[name] = _open(request.config, hosts[name], Path(request.config.invocation_params.dir))
    opened = boards_by_name[name]
    if isinstance(opened, str):
        if opened.startswith("skip: "):
            pytest.skip(opened.removeprefix("skip: "))
        pytest.fail(opened, pytrace=False)
    return opened
