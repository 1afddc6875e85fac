"""A run that loses a link or is interrupted says so: a board whose link is lost fails alone and soon, with one
line that says why (`[board1] lost the link to board1 (10.0.0.2): connection timed out`), instead of stalling
the run or only pyinfra's `Error: executed 0 commands`; Ctrl-C exits non-zero."""

from __future__ import annotations

import socket
from typing import Any

from paramiko import ChannelException, SSHException
from pyinfra import logger
from pyinfra.connectors.util import CommandOutput

_lost: dict[str, str] = {}  # host name -> the line that said its link was lost, in this run


def detect_dead_links(host, seconds: int = 20) -> None:
    """A board whose link dies under an open SSH session would stall its next command (and the
    run's report) until TCP gives up, many minutes later: let the kernel probe the link and drop
    it after `seconds` of silence, so only that board fails, and say once why it failed."""
    _lost.pop(host.name, None)
    client = getattr(getattr(host, "connector", None), "client", None)
    transport = client.get_transport() if client is not None else None
    if transport is None:
        return
    sock = getattr(transport, "sock", None)
    address = str(host.data.get("ssh_hostname") or host.name)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 3), ("TCP_KEEPCNT", 3),
                              ("TCP_USER_TIMEOUT", seconds * 1000)):
            if hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        try:
            address = sock.getpeername()[0]
        except OSError:
            pass
    _dead_link_fails_the_host(host, transport)
    _lost_link_is_one_line(host, transport, address)


def lost_link(name: str) -> str | None:
    """The line that said the link to host `name` was lost in this run (without the host's prefix), if it was."""
    return _lost.get(name)


def _dead_link_fails_the_host(host, transport) -> None:
    """When the dropped link is noticed between two commands, paramiko's next `open_session` raises
    the transport's EOFError, which pyinfra does not catch around a command (it catches OSError and
    SSHException) and which stops the whole run: give it as an SSHException, so only this host fails."""
    open_session = transport.open_session

    def open_session_or_fail(*args, **kwargs):
        try:
            return open_session(*args, **kwargs)
        except EOFError as exc:
            raise SSHException(f"the SSH link to {host.name} is gone") from exc

    transport.open_session = open_session_or_fail


def _link_gone(transport) -> bool:
    """The session's transport ended (or its thread saw the socket fail: it says so before it closes the
    channels, so a command's exit status of -1 is never taken for a command that failed)."""
    saved = getattr(transport, "saved_exception", None)
    return not transport.is_active() or (saved is not None and not isinstance(saved, ChannelException))


def _reason(transport, exc: BaseException | None) -> str:
    """Why the link ended, as the transport's thread saw it: the socket's error, or the board's end of it."""
    cause = getattr(transport, "saved_exception", None) or exc
    while isinstance(cause, SSHException) and isinstance(cause.__cause__, (OSError, EOFError)):
        cause = cause.__cause__
    if cause is None or isinstance(cause, EOFError):  # paramiko's end of stream: a close, or a write that failed
        return "the SSH connection ended (the board was cut off, rebooted or closed it)"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror[0].lower() + cause.strerror[1:]
    return str(cause) or type(cause).__name__


def _lost_link_is_one_line(host, transport, address: str) -> None:
    """The connector's commands and file copies on a link that is gone fail with one line for the host, said
    once (`[board1] lost the link to board1 (10.0.0.2): <reason>`); later ones fail at once and say nothing."""
    connector = host.connector

    def say(exc: BaseException | None) -> None:
        if host.name not in _lost:
            _lost[host.name] = f"lost the link to {host.name} ({address}): {_reason(transport, exc)}"
            logger.error(f"{host.print_prefix}{_lost[host.name]}")

    def guarded(call, failed):
        def guarded_call(*args: Any, **kwargs: Any) -> Any:
            if host.name in _lost:
                return failed()
            try:
                answer = call(*args, **kwargs)
            except (OSError, SSHException, EOFError) as exc:
                if not _link_gone(transport):
                    raise
                say(exc)
                return failed()
            ok = answer[0] if isinstance(answer, tuple) else answer
            if not ok and _link_gone(transport):
                say(None)
            return answer

        return guarded_call

    connector.run_shell_command = guarded(connector.run_shell_command, lambda: (False, CommandOutput([])))
    for name in ("put_file", "get_file"):
        if hasattr(connector, name):
            setattr(connector, name, guarded(getattr(connector, name), lambda: False))


def interrupted_runs_fail() -> None:
    """Ctrl-C makes the pyinfra command exit 130, not 0: its own handler says "Exiting upon user request!"
    and exits 0, so a script or CI that runs the deploy would take an interrupted run for a good one.
    Installed once, by the first board plan of a run of the pyinfra command (nothing else is touched)."""
    import os
    import signal
    import sys

    import pyinfra

    # the pyinfra command (bin/pyinfra, or python -m pyinfra: pyinfra/__main__.py) only, not a test
    # process or the in-process rollout
    command = os.path.normpath(sys.argv[0]).split(os.sep)[-2:] if sys.argv and sys.argv[0] else []
    if not pyinfra.is_cli or "pyinfra" not in command:
        return
    if getattr(signal.getsignal(signal.SIGINT), "_jetson_ollama", False):
        return

    def exit_interrupted(signum, frame):  # noqa: ARG001 - the signal handler's signature
        print("Exiting upon user request! (interrupted: exit 130)", file=sys.stderr)
        sys.exit(130)

    exit_interrupted._jetson_ollama = True  # type: ignore[attr-defined]
    signal.signal(signal.SIGINT, exit_interrupted)
