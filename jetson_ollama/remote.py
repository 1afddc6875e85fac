"""Reaching the boards of a pyinfra inventory from outside pyinfra: the board tests and the fleet report.

The inventory is read by the rollout's reader (`python -m jetson_ollama.runner inventory INVENTORY`) in a
subprocess, because importing `pyinfra_cli` runs gevent's `monkey.patch_all()` in the importing process. A
board is reached over paramiko with the SSH settings of its host data (`ssh_hostname`, `ssh_port`,
`ssh_user`, `ssh_key`, `ssh_known_hosts_file`) and strict host key checking: a key that is not in the
known_hosts file, or differs from it, refuses the connection. Commands run under `sudo -n` when the host
data says `_sudo`, as pyinfra runs them. Facts are the deploy's own (`jetson_ollama.facts`):
`FactReader(board).get_fact(...)` runs a fact's command over this connection and parses it with the fact's
`process`.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import paramiko
from pyinfra.api import StringCommand

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"  # pyinfra's default for ssh_known_hosts_file
CONNECT_TIMEOUT = 5.0  # seconds
COMMAND_TIMEOUT = 60.0  # seconds without output before a command counts as hung

__all__ = [
    "InventoryError", "Unreachable", "InventoryHost", "SSHTarget", "CommandResult", "Board", "FactReader",
    "load_inventory", "ssh_target", "connect", "sudo_command", "sudo_problem", "describe_error",
]


class InventoryError(RuntimeError):
    """pyinfra could not read the inventory (the message carries pyinfra's last error line)."""


class Unreachable(ConnectionError):
    """No SSH session to a board; the message says why in a few words (`connection refused on port 22`)."""


@dataclass(frozen=True)
class InventoryHost:
    name: str
    groups: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return str(self.data.get("ssh_hostname") or self.name)


def load_inventory(inventory: str | os.PathLike, *, cwd: str | os.PathLike | None = None,
                   timeout: float = 120) -> list[InventoryHost]:
    """The hosts of a pyinfra inventory file with their merged data (host, group and `group_data/`),
    in inventory order, exactly as `pyinfra INVENTORY ...` would see them when run in `cwd` (default:
    the current directory; pyinfra reads `group_data/` next to the inventory and in `cwd`): the
    rollout's own reader, `jetson_ollama.runner.inventory_hosts`, run as
    `python -m jetson_ollama.runner inventory INVENTORY` in a subprocess.
    Connects to nothing. Raises InventoryError (a missing file included: pyinfra would read it as a host name)."""
    command = [sys.executable, "-m", "jetson_ollama.runner", "inventory", str(inventory)]
    # this package, wherever `cwd` is: the subprocess imports it from the same tree as this process
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    try:
        proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        raise InventoryError(f"pyinfra did not read {inventory} within {timeout:g} s") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        raise InventoryError(lines[-1] if lines else f"pyinfra could not read {inventory}: exit {proc.returncode}")
    try:
        rows = json.loads(proc.stdout)
    except ValueError:
        raise InventoryError(f"jetson_ollama.runner printed no JSON for {inventory}") from None
    return [InventoryHost(row["name"], row["groups"], row["data"]) for row in rows]


# ---------------------------------------------------------------- SSH

@dataclass(frozen=True)
class SSHTarget:
    """How to reach one host: pyinfra's `ssh_*` host data, with pyinfra's defaults."""

    name: str
    hostname: str
    port: int
    user: str | None
    key_filename: str | None
    key_password: str | None = field(repr=False)
    password: str | None = field(repr=False)
    known_hosts: str
    look_for_keys: bool
    allow_agent: bool
    sudo: bool  # `_sudo` and not already root: wrap every command in `sudo -n`
    sudo_user: str | None

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.hostname}:{self.port}"


def _path(value: str | None) -> str | None:
    return os.path.abspath(os.path.expanduser(value)) if value else None


def ssh_target(host: InventoryHost) -> SSHTarget:
    data = host.data
    user = data.get("ssh_user")
    key = _path(data.get("ssh_key"))
    sudo = bool(data.get("_sudo")) and (user != "root" or bool(data.get("_sudo_user")))
    return SSHTarget(
        name=host.name,
        hostname=host.address,
        port=int(data.get("ssh_port") or 22),
        user=user,
        key_filename=key,
        key_password=data.get("ssh_key_password"),
        password=data.get("ssh_password"),
        known_hosts=os.path.abspath(os.path.expanduser(data.get("ssh_known_hosts_file") or DEFAULT_KNOWN_HOSTS)),
        # as pyinfra's connector: with ssh_key only that key, else agent and ~/.ssh keys unless disabled
        look_for_keys=key is None and data.get("ssh_look_for_keys", True) is not False,
        allow_agent=key is None and data.get("ssh_allow_agent", True) is not False,
        sudo=sudo,
        sudo_user=data.get("_sudo_user"),
    )


def describe_error(exc: BaseException, timeout: float = CONNECT_TIMEOUT) -> str:
    """A few words on why a board cannot be reached, for a report row or a test failure."""
    if isinstance(exc, Unreachable):
        return str(exc)
    if isinstance(exc, paramiko.BadHostKeyException):
        return (f"host key of {exc.hostname} ({exc.key.fingerprint}) does not match known_hosts: "
                "a reinstalled board? check its fingerprint, then update known_hosts")
    if isinstance(exc, paramiko.AuthenticationException):
        return f"authentication failed ({exc})"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        errors = list(exc.errors.values())
        first = errors[0] if errors else exc
        return describe_error(first, timeout) if isinstance(first, OSError) and first is not exc else str(exc)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"unknown host name ({exc.strerror or exc})"
    if isinstance(exc, paramiko.SSHException):
        return str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return f"{type(exc).__name__}: {exc}"


def connect(host: InventoryHost | SSHTarget, *, timeout: float = CONNECT_TIMEOUT) -> paramiko.SSHClient:
    """An SSH client to the host that trusts exactly the keys of its known_hosts file (RejectPolicy).
    Raises Unreachable with describe_error's reason, after `timeout` seconds at most per step."""
    target = host if isinstance(host, SSHTarget) else ssh_target(host)
    if not os.path.exists(target.known_hosts):
        raise Unreachable(f"known_hosts file {target.known_hosts} does not exist (ssh_known_hosts_file)")
    client = paramiko.SSHClient()
    try:
        client.load_system_host_keys(target.known_hosts)  # read-only: nothing is ever written back
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            target.hostname, port=target.port, username=target.user, key_filename=target.key_filename,
            passphrase=target.key_password, password=target.password, timeout=timeout, banner_timeout=timeout,
            auth_timeout=timeout, channel_timeout=timeout, look_for_keys=target.look_for_keys,
            allow_agent=target.allow_agent,
        )
    except Exception as exc:  # every failure to connect is a reason, never a crash
        client.close()
        if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
            reason = (f"host key of {target.hostname}:{target.port} is not in {target.known_hosts} (strict host "
                      "key checking: add it after checking the board's fingerprint)")
        else:
            reason = describe_error(exc, timeout)
            if isinstance(exc, OSError) and target.port != 22:  # refused, timed out, no route: say where
                reason += f" (port {target.port})"
        raise Unreachable(reason) from exc
    return client


def sudo_command(command: str, sudo_user: str | None = None) -> str:
    """COMMAND under non-interactive sudo (a password prompt fails at once instead of hanging)."""
    user = f"-u {shlex.quote(sudo_user)} " if sudo_user else ""
    return f"sudo -n {user}sh -c {shlex.quote(command)}"


def sudo_problem(runner: Runner, target: SSHTarget) -> str | None:
    """None when commands can run as pyinfra would run them (`_sudo`: sudo without a password), else why
    not, so a board whose facts would all come back empty is not mistaken for an empty board."""
    if not target.sudo:
        return None
    result = runner.run("true")
    if result.rc == 0:
        return None
    lines = (result.stderr or "").strip().splitlines()
    return (f"sudo -n as {target.user or 'the SSH user'} failed ({lines[-1] if lines else f'exit {result.rc}'}): "
            "_sudo needs NOPASSWD sudo for this user")


@dataclass(frozen=True)
class CommandResult:
    """What a command printed; the same attribute names as testinfra's CommandResult."""

    rc: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.rc == 0


class Board:
    """One SSH session to an inventory host: `run(command)` as pyinfra would run it (sudo per host data).

        with Board.open(host) as board:
            board.run("uname -m").stdout
    """

    def __init__(self, host: InventoryHost, client: paramiko.SSHClient, target: SSHTarget | None = None):
        self.host = host
        self.client = client
        self.target = target or ssh_target(host)

    @classmethod
    def open(cls, host: InventoryHost, *, timeout: float = CONNECT_TIMEOUT) -> Board:
        target = ssh_target(host)
        return cls(host, connect(target, timeout=timeout), target)

    @property
    def name(self) -> str:
        return self.host.name

    def run(self, command: str, *, timeout: float = COMMAND_TIMEOUT) -> CommandResult:
        if self.target.sudo:
            command = sudo_command(command, self.target.sudo_user)
        _, stdout, stderr = self.client.exec_command(command, timeout=timeout)
        out = stdout.read()
        err = stderr.read()
        rc = stdout.channel.recv_exit_status()
        return CommandResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- facts

class Runner(Protocol):
    def run(self, command: str) -> Any: ...  # a result with .rc and .stdout (Board, testinfra's Host)


class FactReader:
    """`get_fact(FactClass, **kwargs)` like pyinfra's `host.get_fact`, over a Board or a testinfra Host:
    the fact's command, then its `process` on the output lines (its `default()` when it printed
    nothing or failed). Lets the library's own plan (`plan.make_plan`) read a board."""

    def __init__(self, runner: Runner, data: dict[str, Any] | None = None, name: str = ""):
        self.runner = runner
        self.data = data or {}
        self.name = name

    def get_fact(self, fact_class: type, **kwargs: Any) -> Any:
        fact = fact_class()
        command = fact.command(**kwargs) if callable(fact.command) else fact.command
        if isinstance(command, StringCommand):
            command = command.get_raw_value()
        result = self.runner.run(command)
        lines = result.stdout.splitlines()
        return fact.process(lines) if result.rc == 0 and lines else fact.default()
