"""The board's run lock (board_lock.py): its shell protocol run here with sh and flock, as a board runs it."""

from __future__ import annotations

import subprocess

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
