"""Faults a hostile user or a bad day brings, each injected on a simulated board, then a converge (run as
root from the repository root; the base image must exist).

    python benchmarks/faults.py

One Orin Nano Super (r36.4.3) with qwen2.5:0.5b converged first. Then per fault: inject it, converge
(`pyinfra inventories/sim.py deploys/full.py`), and look at what a user would: the board's Ollama answers
and generates, every blob of the model hashes to its digest, and where a refusal was due, that nothing
changed on the board (the container's id and environment as before). Then runs cut short: Ctrl-C in the
middle of the container's replacement, the board's link cut there, a second run while one holds the board;
after each, a converge must finish the change and the next one change nothing. Then bad input that must be
one line before anything changes (a shell character in a URL, lock files that cannot be, a group_data file
that does not parse). Prints one line per fault, and under it the line the user was given:

    fault  outcome  changed before refusal: N  lost: N

`changed` counts the operations pyinfra reports changed on a run that refused; `lost` counts what the board
lost (its API down, the model gone or not sound). Last line: `faults: N survived of N`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("JETSON_SIM_HOME", "/var/lib/jetson-sim-bench")

import paramiko  # noqa: E402
from jetson_sim.fleet import Fleet  # noqa: E402 - after JETSON_SIM_HOME is set

PROFILE = "orin-nano-super-r36.4.3"
MODEL = "qwen2.5:0.5b"
MANIFEST = "/opt/ollama/models/manifests/registry.ollama.ai/library/qwen2.5/0.5b"
BLOBS = "/opt/ollama/models/blobs"
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


class Board:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.board = next(iter(fleet.boards.values()))

    def sh(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "jetson_sim", "--fleet", self.fleet.name, "exec",
                               self.board.name, "--", "sh", "-c", command],
                              capture_output=True, text=True, timeout=120, env=os.environ, cwd=REPO)

    def env(self) -> dict:
        return dict(os.environ, JETSON_SIM_FLEET=self.fleet.name, PYTHONPATH=str(REPO))

    def converge(self, *extra: str) -> dict:
        cmd = [PYINFRA, "inventories/sim.py", "deploys/full.py", "-y", "--json", "--data",
               f'ollama_models=["{MODEL}"]', *extra]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, env=self.env())
        try:
            results = json.loads(proc.stdout)["results"]
        except (ValueError, KeyError):
            results = {"totals": {"success": 0}, "failed_hosts": [self.board.name], "operations": []}
        return {**results, "rc": proc.returncode, "stderr": proc.stderr}

    def start(self, *extra: str) -> subprocess.Popen:
        """A converge in the background, as in a terminal (its output as the user reads it)."""
        return subprocess.Popen([PYINFRA, "inventories/sim.py", "deploys/full.py", "-y", "--data",
                                 f'ollama_models=["{MODEL}"]', *extra], cwd=REPO, env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def ssh(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.fleet.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(self.board.ip, username="root", key_filename=str(self.fleet.key), timeout=10,
                       look_for_keys=False, allow_agent=False)
        return client

    def serving(self, timeout: float = 120) -> bool:
        """The board's Ollama answers /api/tags and the replacement of its container is over, within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tags = self.sh("curl -fsS --max-time 3 http://127.0.0.1:11434/api/tags").returncode == 0
            names = self.sh("docker ps -a --format '{{.Names}}'").stdout.split()
            if tags and "ollama" in names and "ollama-replaced" not in names:
                return True
            time.sleep(0.5)
        return False

    def busy(self) -> bool:
        return "busy" in self.sh("flock -n /run/jetson-ollama.lock true || echo busy").stdout

    def manifest(self) -> dict:
        out = self.sh(f"cat {MANIFEST}").stdout
        return json.loads(out) if out.strip() else {}

    def container(self) -> str:
        return self.sh("docker inspect -f '{{.Id}} {{.Config.Env}}' ollama").stdout.strip()

    def lost(self) -> int:
        """What the board lost: its API, the model, a sound blob of it, an answer to a prompt."""
        manifest = self.manifest()
        if not manifest:
            return 1
        lost = 0
        for layer in [manifest["config"], *manifest["layers"]]:
            hexdigest = layer["digest"].split(":")[1]
            if self.sh(f"sha256sum {BLOBS}/sha256-{hexdigest}").stdout.split()[:1] != [hexdigest]:
                lost += 1
        body = json.dumps({"model": MODEL, "prompt": "hi", "stream": False})
        if self.sh(f"curl -fsS --max-time 60 http://127.0.0.1:11434/api/generate -d '{body}'").returncode:
            lost += 1
        return lost

    def model_layer(self) -> str:
        layer = max(self.manifest()["layers"], key=lambda item: item["size"])
        return f"{BLOBS}/sha256-{layer['digest'].split(':')[1]}"


def flip(board: Board) -> None:
    board.sh(f"printf '\\377\\377\\377\\377' | dd of={board.model_layer()} bs=1 seek=64 conv=notrunc status=none")


def truncate(board: Board) -> None:
    board.sh(f"truncate -s 100 {board.model_layer()}")


def delete(board: Board) -> None:
    board.sh(f"rm {board.model_layer()}")


def corrupt_and_forget(board: Board) -> None:
    flip(board)
    board.sh(f"rm {MANIFEST}")


class Renames:
    """The board's docker events for renamed containers, over an SSH session of its own: the swap's first step
    renames the running container `ollama-replaced` (operations/ollama.swap_script)."""

    def __init__(self, board: Board, timeout: float = 300) -> None:
        self.client = board.ssh()
        transport = self.client.get_transport()
        assert transport is not None  # connected
        channel = transport.open_session()
        channel.settimeout(timeout)
        channel.exec_command("docker events --filter event=rename --format '{{.Actor.Attributes.name}}'")
        self.lines = channel.makefile("r")

    def next(self) -> str:
        try:
            return self.lines.readline().strip()
        except TimeoutError:
            return ""

    def close(self) -> None:
        self.client.close()


def finished(board: Board, *extra: str) -> tuple[bool, int]:
    """A converge finishes what was cut short, then the next one: (both succeeded, what the second changed)."""
    finish = board.converge(*extra)
    again = board.converge(*extra)
    return not finish["failed_hosts"] and not again["failed_hosts"], again["totals"].get("success", 0)


def cut_short(board: Board, setting: str, cut: Callable[[subprocess.Popen], None],
              mend: Callable[[], None] = lambda: None) -> tuple[str, bool, int, str]:
    """A converge that changes `setting` (a new container spec: a swap), cut by `cut` the moment the board's
    container is renamed for its replacement; then the board must serve, and converges finish the change."""
    renames = Renames(board)
    run = board.start("--data", setting)
    try:
        hit = renames.next() == "ollama-replaced"
        if hit:
            cut(run)
        output, _ = run.communicate(timeout=300)
    finally:
        mend()
        renames.close()
        if run.poll() is None:
            run.kill()
            run.wait()
    serves = board.serving()
    done, again = finished(board, "--data", setting)
    value = setting.split("=", 1)[1]
    has = f"OLLAMA_KEEP_ALIVE={value}" in board.container()
    board.converge()  # back to the site's settings for the faults after this one
    ok = hit and run.returncode != 0 and serves and done and has and again == 0
    outcome = (f"exit {run.returncode}, served, {'finished' if done and has else 'NOT finished'}"
               if hit else "swap never seen")
    return outcome, ok, 0, output


def last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def ctrl_c_mid_swap(board: Board) -> tuple[str, bool, int, str]:
    outcome, ok, changed, output = cut_short(board, "ollama_keep_alive=17m",
                                             lambda run: run.send_signal(signal.SIGINT))
    said = [line.strip() for line in output.splitlines() if "Exiting upon user request" in line]
    return outcome, ok, changed, said[-1] if said else last_line(output)


def dead_link_mid_run(board: Board) -> tuple[str, bool, int, str]:
    fleet, target = board.fleet, board.board
    outcome, ok, changed, output = cut_short(board, "ollama_keep_alive=23m",
                                             lambda run: fleet.partition(target, True),
                                             lambda: fleet.partition(target, False))
    said = [line.strip() for line in output.splitlines() if "lost the link" in line]
    one = len(said) == 1 and said[0].startswith(f"[{target.name}] lost the link to {target.name} ({target.ip}): ")
    if not one:
        outcome = f"{outcome}, {len(said)} lost-link lines"
    return outcome, ok and one, changed, said[0] if said else last_line(output)


def two_runs_at_once(board: Board) -> tuple[str, bool, int, str]:
    first = board.start("--data", "ollama_keep_alive=31m")
    try:
        deadline = time.monotonic() + 120
        while not board.busy() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        held = board.busy()
        first.send_signal(signal.SIGSTOP)  # the first run holds the board for as long as the second one takes
        try:
            second = board.converge("--data", "ollama_keep_alive=32m")
        finally:
            first.send_signal(signal.SIGCONT)
        output, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # the refusal's line (`jetson-ollama refused board1: board busy: held by ...`; the plan's narration of it
    # while the run is prepared, `board1: refused before any change: ...`, is not counted)
    said = [line.strip() for line in second["stderr"].splitlines()
            if "board busy:" in line and "jetson-ollama refused" in line]
    changed = second["totals"].get("success", 0)
    env = board.container()
    ok = held and bool(second["failed_hosts"]) and len(said) == 1 and changed == 0 and first.returncode == 0 \
        and "OLLAMA_KEEP_ALIVE=31m" in env and "OLLAMA_KEEP_ALIVE=32m" not in env
    board.converge()
    outcome = "second refused, first done" if ok else f"held {held}, first exit {first.returncode}"
    return outcome, ok, changed, said[0] if said else ""


def refused_with_one_line(needle: str, *extra: str, check: Callable[[Board], bool] = lambda board: True):
    """A converge with bad input: refused with one line that names `needle`, the board's container as before
    and `check(board)` true."""
    def scenario(board: Board) -> tuple[str, bool, int, str]:
        before = board.container()
        run = board.converge(*extra)
        refused = bool(run["failed_hosts"]) or run["rc"] != 0
        said = [line.strip() for line in run["stderr"].splitlines() if needle in line]
        changed = run["totals"].get("success", 0) if refused else 0
        unchanged = board.container() == before and check(board)
        # a traceback, or pyinfra's own report of an exception it did not expect, is not one line
        traceback = any(text in run["stderr"] for text in ("Traceback (most recent call last)",
                                                           "consider submitting a bug report"))
        ok = refused and unchanged and changed == 0 and len(said) == 1 and not traceback
        outcome = ("refused, board untouched" if ok else
                   "NOT refused cleanly" if not (refused and unchanged) else
                   "refused, as an exception" if traceback else f"refused, {len(said)} lines")
        shown = said[0] if said else last_line(run["stderr"])
        if last_line(run["stderr"]) != shown:  # where the message does not end the output, its end too
            shown = f"{shown} ... {last_line(run['stderr'])}"
        return outcome, ok, changed, shown
    return scenario


WORK = Path(tempfile.mkdtemp(prefix="faults-"))
NOT_A_LOCK = WORK / "notes.txt"
NOT_A_LOCK.write_text("shopping: [milk\n")
BROKEN_GROUP_DATA = WORK / "group_data"
BROKEN_GROUP_DATA.mkdir()
(BROKEN_GROUP_DATA / "all.py").write_text('ollama_models = ["qwen2.5:0.5b"\nollama_keep_alive = "5m"\n')

# (fault, scenario): scenario(board) -> (outcome, survived, changed before refusal, the line the user read)
RUNS: list[tuple[str, Callable[[Board], tuple[str, bool, int, str]]]] = [
    ("Ctrl-C during the container swap", ctrl_c_mid_swap),
    ("link cut during the container swap", dead_link_mid_run),
    ("two runs at once on one board", two_runs_at_once),
    ("jetson_containers_repo with ;", refused_with_one_line(
        "jetson_containers_repo", "--data",
        "jetson_containers_repo=https://github.com/dusty-nv/jetson-containers;touch /tmp/pwned",
        check=lambda board: board.sh("test -e /tmp/pwned").returncode != 0)),
    ("ollama_lock_file: a file that is not a lock", refused_with_one_line(
        "ollama_lock_file", "--data", f"ollama_lock_file={NOT_A_LOCK}",
        check=lambda board: NOT_A_LOCK.read_text() == "shopping: [milk\n")),
    ("ollama_lock_file in a missing directory", refused_with_one_line(
        "ollama_lock_file", "--data", f"ollama_lock_file={WORK}/missing/models.lock",
        check=lambda board: not (WORK / "missing").exists())),
    ("ollama_lock_file=../../x", refused_with_one_line("ollama_lock_file", "--data", "ollama_lock_file=../../x")),
    ("group_data file with a syntax error", refused_with_one_line("all.py", "--group-data", str(BROKEN_GROUP_DATA))),
]


# (fault, inject, converge arguments, a refusal is due)
FAULTS: list[tuple[str, Callable[[Board], None], list[str], bool]] = [
    ("4 bytes flipped in the model blob", flip, [], False),
    ("model blob truncated", truncate, [], False),
    ("model blob deleted, manifest kept", delete, [], False),
    ("blob corrupted and its manifest deleted", corrupt_and_forget, [], False),
    ("ollama_context_length=1000000000", lambda board: None, ["--data", "ollama_context_length=1000000000"], True),
    ("ollama_num_parallel=1000", lambda board: None, ["--data", "ollama_num_parallel=1000"], True),
    ("qwen3:14b on an 8 GB board", lambda board: None, ["--data", 'ollama_models=["qwen3:14b"]'], True),
    ('ollama_allow_from=["0.0.0.0/0"]', lambda board: None, ["--data", 'ollama_allow_from=["0.0.0.0/0"]'], True),
]


def main() -> int:
    fleet = Fleet.load(f"faults{os.getpid()}")
    fleet.up(1, [PROFILE])
    survived = 0
    try:
        board = Board(fleet)
        first = board.converge()
        if first["failed_hosts"]:
            print(f"the first converge failed: {first['stderr'][-2000:]}")
            return 1
        for fault, inject, extra, refusal_due in FAULTS:
            before = board.container()
            inject(board)
            run = board.converge(*extra)
            refused = bool(run["failed_hosts"]) or run["rc"] != 0
            changed = run["totals"].get("success", 0) if refused else 0
            if refusal_due:
                unchanged = board.container() == before
                outcome = "refused, board untouched" if refused and unchanged else "NOT refused cleanly"
                ok = refused and unchanged and changed == 0
            else:
                outcome = "repaired" if not refused else "converge failed"
                ok = not refused
            lost = board.lost()
            ok = ok and lost == 0
            survived += ok
            print(f"{fault:45}  {outcome:26}  changed before refusal: {changed}  lost: {lost}", flush=True)
        for fault, scenario in RUNS:
            outcome, ok, changed, said = scenario(board)
            lost = board.lost()
            survived += ok and lost == 0
            print(f"{fault:45}  {outcome:26}  changed before refusal: {changed}  lost: {lost}", flush=True)
            print(f"    {said[:400]}", flush=True)
    finally:
        fleet.down()
        shutil.rmtree(WORK, ignore_errors=True)
    total = len(FAULTS) + len(RUNS)
    print(f"faults: {survived} survived of {total}")
    return 0 if survived == total else 1


if __name__ == "__main__":
    sys.exit(main())
