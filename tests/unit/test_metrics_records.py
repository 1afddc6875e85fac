"""What quick-test and bench keep on the board for the metrics and the report's history: the last run
(quick-test.json, bench.json) and one line per run in <name>-history.jsonl, the oldest dropped past 100."""

from __future__ import annotations

import json

from . import test_board_scripts as scripts
from .test_board_scripts import MODEL, _Ollama, lines

server, api, board = scripts.server, scripts.api, scripts.board  # the rendered scripts against the API stub


def _history(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_quick_test_keeps_its_results_and_a_line_of_history_per_run(board):
    state = board.bench_file.parent
    first = board.run("quick-test")
    _Ollama.state["gpu_share"] = 0.0  # the model on the CPU: the gpu line fails
    second = board.run("quick-test")
    assert (first.returncode, second.returncode) == (0, 1), second.stdout
    last = json.loads((state / "quick-test.json").read_text())
    assert last["board"] == "board1" and last["time"].endswith("Z")
    assert (last["passed"], last["failed"]) == (5, 1)
    assert [(c["check"], c["ok"]) for c in last["checks"]] == [
        (check, verdict == "OK") for check, (verdict, _) in lines(second.stdout).items()]
    assert last["checks"][3]["detail"] == lines(second.stdout)["gpu"][1]
    history = _history(state / "quick-test-history.jsonl")
    assert [(h["passed"], h["failed"]) for h in history] == [(6, 0), (5, 1)]
    assert history[-1] == last


def test_the_history_keeps_the_last_100_runs(board):
    history = board.bench_file.parent / "quick-test-history.jsonl"
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_text("".join(json.dumps({"time": f"old-{i}"}) + "\n" for i in range(100)))
    board.run("quick-test")
    kept = _history(history)
    assert len(kept) == 100 and kept[0] == {"time": "old-1"} and kept[-1]["passed"] == 6


def test_quick_test_that_cannot_save_says_so_and_keeps_its_status(board, tmp_path):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    result = board.run("quick-test", JETSON_OLLAMA_STATE_DIR=str(blocked / "state"))
    assert result.returncode == 0
    assert result.stderr.strip().startswith("quick-test: could not save the results in ")


def test_bench_appends_its_summary_to_the_history(board):
    for _ in range(2):
        assert board.run("bench").returncode == 0
    history = _history(board.bench_file.parent / "bench-history.jsonl")
    last = json.loads(board.bench_file.read_text())
    assert len(history) == 2
    assert history[-1] == {key: last[key] for key in ("board", "time", "image", "summary")}
    assert history[0]["summary"][MODEL]["runs"] == 3
