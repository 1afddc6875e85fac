"""A run that loses a link or is interrupted says so: a board whose link is lost fails alone and soon,
instead of stalling the run; Ctrl-C exits non-zero."""

from __future__ import annotations

import socket

from paramiko import SSHException


def detect_dead_links(host, seconds: int = 20) -> None:
    """A board whose link dies under an open SSH session would stall its next command (and the
    run's report) until TCP gives up, many minutes later: let the kernel probe the link and drop
    it after `seconds` of silence, so only that board fails."""
    client = getattr(getattr(host, "connector", None), "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if not isinstance(sock, socket.socket):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 3), ("TCP_KEEPCNT", 3),
                          ("TCP_USER_TIMEOUT", seconds * 1000)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    _dead_link_fails_the_host(host, transport)


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
