"""Faults a hostile user or a bad day brings, each injected on a simulated board, then a converge (run as
root from the repository root; the base image must exist).

    python benchmarks/faults.py

One Orin Nano Super (r36.4.3) with qwen2.5:0.5b converged first. Then per fault: inject it, converge
(`pyinfra inventories/sim.py deploys/full.py`), and look at what a user would: the board's Ollama answers
and generates, every blob of the model hashes to its digest, and where a refusal was due, that nothing
changed on the board (the container's id and environment as before). Prints one line per fault:

    fault  outcome  changed before refusal: N  lost: N

`changed` counts the operations pyinfra reports changed on a run that refused; `lost` counts what the board
lost (its API down, the model gone or not sound). Last line: `faults: N survived of N`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("JETSON_SIM_HOME", "/var/lib/jetson-sim-bench")

from jetson_sim.fleet import Fleet  # noqa: E402 - after JETSON_SIM_HOME is set

PROFILE = "orin-nano-super-r36.4.3"
MODEL = "qwen2.5:0.5b"
MANIFEST = "/opt/ollama/models/manifests/registry.ollama.ai/library/qwen2.5/0.5b"
BLOBS = "/opt/ollama/models/blobs"


class Board:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.board = next(iter(fleet.boards.values()))

    def sh(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "jetson_sim", "--fleet", self.fleet.name, "exec",
                               self.board.name, "--", "sh", "-c", command],
                              capture_output=True, text=True, timeout=120, env=os.environ, cwd=REPO)

    def converge(self, *extra: str) -> dict:
        cmd = [str(Path(sys.executable).with_name("pyinfra")), "inventories/sim.py", "deploys/full.py", "-y",
               "--json", "--data", f'ollama_models=["{MODEL}"]', *extra]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900,
                              env=dict(os.environ, JETSON_SIM_FLEET=self.fleet.name, PYTHONPATH=str(REPO)))
        try:
            results = json.loads(proc.stdout)["results"]
        except (ValueError, KeyError):
            results = {"totals": {"success": 0}, "failed_hosts": [self.board.name], "operations": []}
        return {**results, "rc": proc.returncode, "stderr": proc.stderr}

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
    finally:
        fleet.down()
    print(f"faults: {survived} survived of {len(FAULTS)}")
    return 0 if survived == len(FAULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
