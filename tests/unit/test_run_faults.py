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
