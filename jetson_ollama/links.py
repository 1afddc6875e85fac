"""SSH links that die: a board whose link is lost fails alone and soon, instead of stalling the run."""

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
