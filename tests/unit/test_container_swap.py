"""Replacing the Ollama container (operations.ollama.swap_script) run here with sh against a stand-in
docker: the board keeps a serving container whatever happens, the swap finishing on its own when the
controller's session is cut."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from jetson_ollama.operations.ollama import swap_script

FAKE_DOCKER = r'''
import json, os, sys, time
args = sys.argv[1:]
path = os.environ["FAKE_DOCKER_STATE"]
state = json.load(open(path))
boxes = state["containers"]
def save():
    json.dump(state, open(path + ".tmp", "w")); os.replace(path + ".tmp", path)
def need(name):
    if name not in boxes:
        sys.exit(f"Error: No such container: {name}")
if args[0] == "rm":
    boxes.pop(args[-1], None)
elif args[0] == "stop":
    need(args[-1]); boxes[args[-1]]["running"] = False
elif args[0] == "start":
    need(args[-1]); boxes[args[-1]]["running"] = True
elif args[0] == "rename":
    need(args[1]); boxes[args[2]] = boxes.pop(args[1])
elif args[0] == "run":
    time.sleep(state.get("run_seconds", 0))
    if state.get("run_fails"):
        sys.exit("docker: Error response from daemon: failed to create task")
    boxes[args[args.index("--name") + 1]] = {"running": True, "image": args[-1]}
else:
    sys.exit(f"fake docker: {args}")
save()
'''

RUN = ["docker", "run", "-d", "--name", "ollama", "--network", "host", "ollama:new"]


@pytest.fixture
def board(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    (bin_dir / "docker").chmod(0o755)
    state = tmp_path / "docker.json"
    state.write_text(json.dumps({"containers": {"ollama": {"running": True, "image": "ollama:old"}}}))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DOCKER_STATE": str(state)}

    class Board:
        def set(self, **values):
            state.write_text(json.dumps({**json.loads(state.read_text()), **values}))

        def containers(self) -> dict:
            return json.loads(state.read_text())["containers"]

        def swap(self, **kwargs) -> subprocess.CompletedProcess:
            return subprocess.run(["setsid", "--wait", "sh", "-c", swap_script("ollama", RUN, **kwargs)], env=env,
                                  capture_output=True, text=True, timeout=30)

        def start_swap(self, **kwargs) -> subprocess.Popen:
            return subprocess.Popen(["setsid", "--wait", "sh", "-c", swap_script("ollama", RUN, **kwargs)], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    return Board()


def test_the_new_container_replaces_the_old_one(board):
    result = board.swap()
    assert result.returncode == 0, result.stderr
    assert board.containers() == {"ollama": {"running": True, "image": "ollama:new"}}


def test_with_keep_previous_the_old_one_waits_stopped_for_the_gate(board):
    board.set(containers={"ollama": {"running": True, "image": "ollama:old"},
                          "ollama-previous": {"running": False, "image": "ollama:older"}})
    assert board.swap(keep_previous=True).returncode == 0
    assert board.containers() == {"ollama": {"running": True, "image": "ollama:new"},
                                  "ollama-previous": {"running": False, "image": "ollama:old"}}


def test_a_new_container_that_fails_puts_the_old_one_back(board):
    board.set(run_fails=True)
    result = board.swap()
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "the new ollama container did not start or answer: the one before serves again")
    assert board.containers() == {"ollama": {"running": True, "image": "ollama:old"}}


def test_a_new_container_whose_api_never_answers_puts_the_old_one_back(board):
    result = board.swap(api_url="http://127.0.0.1:9", api_timeout=1)  # port 9: nothing answers there
    assert result.returncode == 1
    assert "did not start or answer at http://127.0.0.1:9 within 1 s" in result.stderr
    assert board.containers() == {"ollama": {"running": True, "image": "ollama:old"}}


def test_a_cut_session_does_not_stop_the_swap_half_way(board):
    # as Ctrl-C or a lost link does to the controller: the session's processes get SIGHUP (here SIGKILL,
    # harsher) right after the old container stopped; the swap, in a session of its own, goes on
    board.set(run_seconds=1.0)
    swap = board.start_swap()
    deadline = time.monotonic() + 10
    while "ollama-replaced" not in board.containers() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "ollama-replaced" in board.containers()  # in the middle: the old one stopped, the new one not yet run
    os.killpg(swap.pid, signal.SIGKILL)
    swap.wait(timeout=5)
    while board.containers() != {"ollama": {"running": True, "image": "ollama:new"}} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert board.containers() == {"ollama": {"running": True, "image": "ollama:new"}}
