"""Runs that meet or are cut: the board's run lock (board_lock.py: its shell protocol run here with sh and
flock, as a board runs it) and Ctrl-C (links.interrupted_runs_fail)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jetson_ollama import board_lock


def start(tmp_path, who: str) -> subprocess.Popen:
    command = board_lock.lock_command(who, lock_file=str(tmp_path / "lock"), holder_file=str(tmp_path / "holder"))
    return subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_one_run_holds_the_lock_until_its_session_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(board_lock, "WAIT", 0)
    first = start(tmp_path, "laptop pid 11 since 2026-12-03T07:00:00Z")
    try:
        assert first.stdout.readline() == "locked\n"
        second = start(tmp_path, "other pid 22 since 2026-12-03T07:00:01Z")
        line = second.stdout.readline()
        assert second.wait(timeout=10) == 0
        assert board_lock.parse_answer(line) == (False, "board busy: held by laptop pid 11 since 2026-12-03T07:00:00Z")
    finally:
        first.stdin.close()  # the SSH channel closes: the waiting cat ends and the lock with it
        assert first.wait(timeout=10) == 0
    third = start(tmp_path, "other pid 22 since 2026-12-03T07:00:02Z")
    assert third.stdout.readline() == "locked\n"
    third.stdin.close()
    third.wait(timeout=10)


@pytest.mark.parametrize("line, answer", [
    ("locked", (True, None)),
    ("busy", (False, "board busy: held by another run")),
    ("no flock", (False, None)),  # the run goes on without a lock, with a warning
    ("", (False, None)),
])
def test_answers(line, answer):
    assert board_lock.parse_answer(line) == answer


def test_the_holder_names_this_controller_and_process():
    who = board_lock.holder()
    assert f" pid {__import__('os').getpid()} since 20" in who
    assert board_lock.lock_command(who, sudo=True).startswith("sudo -n sh -c ")


def test_hosts_without_an_ssh_session_take_no_lock():
    class Host:
        name, data, connector = "@fake/b1", {}, object()

    assert board_lock.hold(Host()) is None


def test_ctrl_c_makes_the_pyinfra_command_exit_non_zero(monkeypatch):
    import signal

    import pyinfra

    from jetson_ollama import links

    before = signal.getsignal(signal.SIGINT)
    try:
        monkeypatch.setattr(pyinfra, "is_cli", True)
        monkeypatch.setattr("sys.argv", ["/usr/bin/pytest"])
        links.interrupted_runs_fail()
        assert signal.getsignal(signal.SIGINT) is before  # not the pyinfra command: left alone
        monkeypatch.setattr("sys.argv", ["/venv/bin/pyinfra", "inventories/lab.py", "deploys/full.py"])
        links.interrupted_runs_fail()
        handler = signal.getsignal(signal.SIGINT)
        with pytest.raises(SystemExit) as exited:
            handler(signal.SIGINT, None)
        assert exited.value.code == 130
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_run_of_this_controller_that_is_gone_leaves_no_lock_behind(tmp_path, monkeypatch):
    # its link was cut: the board's sshd keeps its session, and the holder with it, for ever
    monkeypatch.setattr(board_lock, "WAIT", 1)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid of this machine that no process has now
    who = f"{__import__('socket').gethostname()} pid {gone.pid} since 2026-12-03T07:00:00Z"
    orphan = start(tmp_path, who)
    try:
        assert orphan.stdout.readline() == "locked\n"
        line = start(tmp_path, board_lock.holder()).stdout.readline()
        assert line.startswith(f"busy {who} board-pid ")
        board_pid = board_lock.gone_holder(line)  # the process on the board that holds the lock's file
        assert board_pid is not None and Path(f"/proc/{board_pid}").exists()
        command = board_lock.lock_command(board_lock.holder(), lock_file=str(tmp_path / "lock"),
                                          holder_file=str(tmp_path / "holder"), release=board_pid)
        taker = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert taker.stdout.readline() == "locked\n"
        taker.stdin.close()
        taker.wait(timeout=10)
    finally:
        orphan.kill()
        orphan.wait(timeout=10)
    assert board_lock.gone_holder(f"busy {board_lock.holder()} board-pid 1") is None  # this process lives
    assert board_lock.gone_holder("busy elsewhere pid 1 since 2026-12-03T07:00:00Z board-pid 7") is None


class _Transport:
    """A paramiko transport as its thread leaves it: active, or ended by the socket's error."""

    def __init__(self) -> None:
        self.active, self.saved_exception = True, None
        self.sock = __import__("socket").socket()  # not connected: the peer's address comes from the host data

    def is_active(self) -> bool:
        return self.active

    def open_session(self):
        raise EOFError  # what paramiko raises once the transport is gone

    def cut(self, error: BaseException) -> None:
        self.saved_exception, self.active = error, False


class _Connector:
    def __init__(self, transport: _Transport) -> None:
        self.transport, self.calls = transport, []
        self.client = type("Client", (), {"get_transport": lambda _: transport})()

    def run_shell_command(self, command, **kwargs):
        from pyinfra.connectors.util import CommandOutput, OutputLine

        self.calls.append(command)
        if command == "cut":  # the link dies under the command: the channel ends with exit status -1
            self.transport.cut(TimeoutError(110, "Connection timed out"))
            return False, CommandOutput([])
        if command == "after":  # the next command opens a session on the dead transport
            self.transport.open_session()
        return command != "false", CommandOutput([OutputLine("stdout", "ok")])

    def put_file(self, *args, **kwargs):
        self.transport.open_session()


class _Host:
    def __init__(self, name: str, address: str) -> None:
        self.name, self.print_prefix, self.data = name, f"[{name}] ", {"ssh_hostname": address}
        self.connector = _Connector(_Transport())


def lost_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if "lost the link" in record.getMessage()]


def test_a_cut_link_is_one_line_for_its_host_once(caplog):
    from jetson_ollama import links

    board1, board2 = _Host("board1", "10.0.0.2"), _Host("board2", "10.0.0.3")
    for host in (board1, board2):
        links.detect_dead_links(host)
    with caplog.at_level("ERROR", logger="pyinfra"):
        assert board1.connector.run_shell_command("true")[0] is True
        assert board1.connector.run_shell_command("false")[0] is False  # a command that fails: no lost link
        assert lost_lines(caplog) == [] and links.lost_link("board1") is None
        assert board1.connector.run_shell_command("cut")[0] is False
        assert board1.connector.run_shell_command("after")[0] is False  # fails at once, says nothing more
        assert board1.connector.put_file("src", "/etc/x") is False
        assert board2.connector.run_shell_command("true")[0] is True  # the other board goes on
    assert lost_lines(caplog) == ["[board1] lost the link to board1 (10.0.0.2): connection timed out"]
    assert board1.connector.calls == ["true", "false", "cut"]  # nothing more was tried on the dead link
    assert links.lost_link("board1") == "lost the link to board1 (10.0.0.2): connection timed out"
    assert links.lost_link("board2") is None


def test_a_link_that_ended_between_two_commands_says_so(caplog):
    from jetson_ollama import links

    host = _Host("board3", "10.0.0.4")
    links.detect_dead_links(host)
    host.connector.transport.cut(EOFError())  # the transport's thread saw the end of the stream
    with caplog.at_level("ERROR", logger="pyinfra"):
        assert host.connector.run_shell_command("after")[0] is False
    assert lost_lines(caplog) == ["[board3] lost the link to board3 (10.0.0.4): the SSH connection ended (the board "
                                  "was cut off, rebooted or closed it)"]
    links.detect_dead_links(host)  # the next run's session: the lost link was this run's
    assert links.lost_link("board3") is None


def test_a_link_lost_while_the_plan_reads_the_facts_refuses_the_board_without_a_second_line(monkeypatch, caplog):
    from jetson_ollama import board_lock, plan

    host = _Host("board4", "10.0.0.5")
    host.data = {"ssh_hostname": "10.0.0.5", "ollama_models": ["qwen2.5:0.5b"]}

    def facts_cut_short(board, cfg):  # the link goes while facts are read: each later fact is its default
        board.connector.run_shell_command("cut")
        return plan.BoardPlan(settings=cfg, refusal="not a Jetson (unknown architecture, no /etc/nv_tegra_release)")

    monkeypatch.setattr(board_lock, "hold", lambda host: None)
    monkeypatch.setattr(plan, "make_plan", facts_cut_short)
    plan.reset_plans()
    with caplog.at_level("WARNING", logger="pyinfra"):
        made = plan.plan_for(host)
    plan.reset_plans()
    assert made.refusal == "lost the link to board4 (10.0.0.5): connection timed out"
    assert made.refused_once  # the host failed on its fact already: no refusal operation, no second line
    assert lost_lines(caplog) == ["[board4] lost the link to board4 (10.0.0.5): connection timed out"]
