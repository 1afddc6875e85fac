"""One run at a time on a board: a lock on the board, held for as long as this run's SSH session lives.

Two converges of one board at once interleave (one fails on docker's "removal of container ... is
already in progress", both build). The first thing a run does on a board (plan.plan_for) is to open a
channel of its own on the board's SSH session that takes `flock` on LOCK_FILE under /run and then
waits on its stdin: when the run ends, is interrupted or loses its link, sshd closes the channel, the
waiting `cat` ends and the lock goes with it; a reboot empties /run. A second run finds the lock taken
and gets one line, `board busy: held by <controller> pid <n> since <time>`, as its plan's refusal. A run
of this controller whose process is gone (its link was cut, and the board's sshd may keep that session
for ever) no longer counts: its board-side holder is stopped and the lock taken.
Connectors without an SSH session (`@local`, `@fake`, docker) take no lock.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import time
from datetime import datetime, timezone
from typing import Any

from pyinfra import logger
from pyinfra.api import QuoteString, StringCommand

LOCK_FILE = "/run/jetson-ollama.lock"
HOLDER_FILE = "/run/jetson-ollama.holder"
WAIT = 5  # seconds a run waits for the lock before it says busy
ANSWER_TIMEOUT = 15.0  # seconds for the board to say locked or busy

_channels: dict[str, Any] = {}  # host name -> the channel that holds its lock, kept open for the run


def holder() -> str:
    """Who takes the lock: this controller, this process, now."""
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{socket.gethostname()} pid {os.getpid()} since {since}"


def lock_command(who: str, sudo: bool = False, lock_file: str = LOCK_FILE, holder_file: str = HOLDER_FILE,
                 release: int | None = None) -> str:
    """The shell line that takes the lock (prints `locked`, then holds it until its stdin ends) or, when
    another run holds it for WAIT seconds more, prints `busy <holder> board-pid <pid>` and exits. (The
    wait covers the moment an earlier run of this process takes to let its lock go.) `release`: the
    board-side holder of a run known to be gone, stopped first."""
    lock, held_by = shlex.quote(lock_file), shlex.quote(holder_file)
    script = (f"command -v flock >/dev/null || {{ echo no flock; exit 0; }}; exec 9>>{lock}; "
              + (f"kill {int(release)} 2>/dev/null; " if release else "")
              + f"if flock -w {WAIT} 9; then printf '%s board-pid %s\\n' \"$1\" \"$$\" > {held_by}; echo locked; "
              f"exec cat >/dev/null; else echo \"busy $(cat {held_by} 2>/dev/null)\"; fi")
    # a channel of its own (paramiko's exec_command takes a string): pyinfra's quoting, rendered
    command = StringCommand(*(["sudo", "-n"] if sudo else []), "sh", "-c", QuoteString(script), "jetson-ollama-lock",
                            QuoteString(who))
    return command.get_raw_value()


def parse_answer(line: str) -> tuple[bool, str | None]:
    """(the lock is ours, the refusal line when another run holds it). Neither: the board could not take
    it (no flock, sudo wants a password): the run goes on without the lock, and says so."""
    line = line.strip()
    if line == "locked":
        return True, None
    if line.startswith("busy"):
        who = line.removeprefix("busy").split(" board-pid ")[0].strip()
        return False, f"board busy: held by {who or 'another run'}"
    return False, None


def gone_holder(line: str) -> int | None:
    """The board-side pid holding the lock for a run of this controller whose process is gone (its link
    was cut: the board's sshd may keep that session for ever); None when the holder may still be running."""
    match = re.fullmatch(r"busy (\S+) pid (\d+) since \S+ board-pid (\d+)", line.strip())
    if not match or match[1] != socket.gethostname():
        return None
    try:
        os.kill(int(match[2]), 0)
    except ProcessLookupError:
        return int(match[3])
    except PermissionError:
        return None
    return None


def hold(host: Any) -> str | None:
    """Take `host`'s run lock for the rest of this run; the refusal line when another run holds it."""
    client = getattr(getattr(host, "connector", None), "client", None)
    transport = client.get_transport() if client is not None else None
    if transport is None or not transport.is_active():
        return None
    held = _channels.get(host.name)
    if held is not None and not held.closed and held.get_transport().is_active():
        return None  # an earlier run of this process (a rollout's deploy, then its gate) holds it still
    data = host.data
    if data.get("_sudo_password"):  # sudo reads the password from stdin, which the lock holds: no lock
        return None
    sudo = bool(data.get("_sudo")) and (data.get("ssh_user") not in (None, "root") or bool(data.get("_sudo_user")))
    channel, line = _ask(transport, lock_command(holder(), sudo=sudo))
    if (gone := gone_holder(line)) is not None:  # this controller's earlier run, gone with its link
        channel.close()
        channel, line = _ask(transport, lock_command(holder(), sudo=sudo, release=gone))
    ours, problem = parse_answer(line)
    if ours:
        _channels[host.name] = channel
        return None
    channel.close()
    if problem and problem.startswith(f"board busy: held by {socket.gethostname()} pid {os.getpid()} "):
        return None  # this process's earlier run, whose session is closing: runs of one process never overlap
    if problem is None:
        logger.warning(f"{host.name}: no run lock on {LOCK_FILE} ({line.strip() or 'no answer'}): "
                       "a second run at the same time would not be stopped")
    return problem


def _ask(transport: Any, command: str) -> tuple[Any, str]:
    """A channel running `command`, and the first line it prints (within ANSWER_TIMEOUT)."""
    channel = transport.open_session()
    channel.exec_command(command)
    answer, deadline = b"", time.monotonic() + ANSWER_TIMEOUT
    while b"\n" not in answer and time.monotonic() < deadline and not channel.exit_status_ready():
        if channel.recv_ready():
            answer += channel.recv(1024)
        else:
            time.sleep(0.02)
    while channel.recv_ready() and b"\n" not in answer:
        answer += channel.recv(1024)
    return channel, answer.decode(errors="replace").split("\n", 1)[0]
