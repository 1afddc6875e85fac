"""Reading the boards for the fleet report: `collect(hosts)` reads every board at once (one thread each,
a short connect timeout) into one `BoardRecord` per host; a board that cannot be reached is a record
`unreachable: <reason>`, never a crash. `read_board` is what one connected board answers (its facts
over SSH, remote.FactReader), `parse_bench` the last `bench` figures it keeps, `parse_history` the
runs of `bench` and `quick-test` it keeps (one JSON line each, the last 100), `parse_loaded` the
models Ollama holds in memory (/api/ps: size and size_vram, what each takes of the shared RAM).
"""

from __future__ import annotations

import json
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import paramiko

from ..catalog import tier_of
from ..config import ConfigError, settings
from ..facts.containers import OllamaContainer
from ..facts.jetson import BoardModel, Memory, TegraRelease
from ..facts.models import OllamaModels
from ..facts.ollama import OllamaVersion
from ..plan import make_plan
from ..releases import UnknownRelease, release_info
from ..remote import (
    COMMAND_TIMEOUT, CONNECT_TIMEOUT, Board, FactReader, InventoryHost, Unreachable,
    describe_error, sudo_problem,
)

BENCH_FILE = "/var/lib/jetson-ollama/bench.json"
BENCH_HISTORY = "/var/lib/jetson-ollama/bench-history.jsonl"  # templates/bench.j2 appends one line a run
QUICK_TEST_HISTORY = "/var/lib/jetson-ollama/quick-test-history.jsonl"  # templates/quick-test.j2, likewise
HISTORY_SHOWN = 10  # runs of each kind the report shows per board, the newest last
MAX_WORKERS = 32


@dataclass(frozen=True)
class BenchFigures:
    """The last `bench` run on a board: when, and decode tokens/s per model."""

    time: str
    tokens_per_s: dict[str, float]


@dataclass(frozen=True)
class QuickTestRun:
    """One `quick-test` run: when, how many checks passed, and the names of those that failed."""

    time: str
    passed: int
    failed: list[str]


@dataclass(frozen=True)
class LoadedModel:
    """A model Ollama holds in memory (/api/ps): the RAM it takes and the part of it on the GPU."""

    name: str
    size_bytes: int
    gpu_bytes: int

    @property
    def gpu_percent(self) -> float:
        return self.gpu_bytes / self.size_bytes * 100 if self.size_bytes else 0.0


@dataclass
class BoardRecord:
    """What the report knows about one inventory host."""

    name: str
    address: str
    status: str = "ok"  # ok | not a Jetson | unreachable: <reason> | error: <reason>
    l4t: str | None = None
    jetpack: str | None = None
    board_model: str | None = None
    mem_total_mb: int | None = None
    mem_used_mb: int | None = None
    image: str | None = None
    ollama_version: str | None = None
    models: list[str] = field(default_factory=list)
    tier: str | None = None
    tier_basis: str | None = None  # "qwen2.5:7b estimated at 87 %" or "RAM in use"
    estimate_percent: float | None = None  # the largest present model's estimate, when there is one
    bench: BenchFigures | None = None
    bench_history: list[BenchFigures] = field(default_factory=list)  # oldest first
    quick_tests: list[QuickTestRun] = field(default_factory=list)  # oldest first
    loaded: list[LoadedModel] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        return not self.status.startswith(("unreachable", "error"))

    @property
    def ram_used_percent(self) -> float | None:
        if not self.mem_total_mb or self.mem_used_mb is None:
            return None
        return self.mem_used_mb / self.mem_total_mb * 100


def parse_bench(text: str) -> tuple[BenchFigures | None, str | None]:
    """The figures of a bench.json (`{"board","time","results":[...],"summary":{model:{"tokens_per_s"}}}`),
    and a problem to note; (None, None) when there is no file."""
    if not text.strip():
        return None, None
    try:
        doc = json.loads(text)
        summary = doc.get("summary") or {}
        figures = {model: float(row["tokens_per_s"]) for model, row in summary.items()
                   if isinstance(row, dict) and isinstance(row.get("tokens_per_s"), (int, float))}
    except (ValueError, AttributeError, TypeError):
        return None, f"{BENCH_FILE} does not parse"
    return BenchFigures(str(doc.get("time") or "?"), figures), None


def _lines(text: str, path: str) -> tuple[list[dict], str | None]:
    """The JSON objects of a JSON-lines file, and a problem to note for lines that do not parse."""
    found, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            found.append(doc)
        else:
            bad += 1
    lines = "1 line that does not parse" if bad == 1 else f"{bad} lines that do not parse"
    return found, (f"{path}: {lines}" if bad else None)


def parse_history(bench_text: str, quick_text: str) -> tuple[list[BenchFigures], list[QuickTestRun], list[str]]:
    """The last HISTORY_SHOWN runs of bench (decode tokens/s per model) and of quick-test (passed, failed
    checks), oldest first, from the boards' history files; and the problems to note."""
    problems = []
    bench_docs, problem = _lines(bench_text, BENCH_HISTORY)
    problems += [problem] if problem else []
    bench = []
    for doc in bench_docs:
        summary = doc.get("summary")
        rows = summary if isinstance(summary, dict) else {}
        figures = {model: float(row["tokens_per_s"]) for model, row in rows.items()
                   if isinstance(row, dict) and isinstance(row.get("tokens_per_s"), (int, float))}
        bench.append(BenchFigures(str(doc.get("time") or "?"), figures))
    quick_docs, problem = _lines(quick_text, QUICK_TEST_HISTORY)
    problems += [problem] if problem else []
    quick = []
    for doc in quick_docs:
        listed = doc.get("checks")
        checks = [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
        quick.append(QuickTestRun(str(doc.get("time") or "?"), sum(1 for c in checks if c.get("ok") is True),
                                  [str(c.get("check")) for c in checks if c.get("ok") is not True]))
    return bench[-HISTORY_SHOWN:], quick[-HISTORY_SHOWN:], problems


def parse_loaded(text: str) -> list[LoadedModel]:
    """The models of an /api/ps answer (`{"models": [{"name", "size", "size_vram"}]}`), largest first;
    [] for no answer."""
    try:
        models = json.loads(text).get("models") or []
    except (ValueError, AttributeError):
        return []

    def number(value) -> int:
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

    if not isinstance(models, list):
        return []
    loaded = [LoadedModel(str(m.get("name") or m.get("model") or "?"), number(m.get("size")),
                          number(m.get("size_vram"))) for m in models if isinstance(m, dict)]
    return sorted(loaded, key=lambda model: (-model.size_bytes, model.name))


def read_board(runner, host: InventoryHost) -> BoardRecord:
    """The record of a connected board; `runner` runs a shell command on it (`Board`, testinfra's Host)."""
    record = BoardRecord(host.name, host.address)
    reader = FactReader(runner, host.data, host.name)
    try:
        cfg = settings(host.data)
    except ConfigError as exc:
        record.notes.append(f"host data: {exc}; shown with the defaults")
        cfg = settings()

    tegra = reader.get_fact(TegraRelease)
    if tegra:
        record.l4t = tegra["l4t"]
        try:
            record.jetpack = release_info(tegra["l4t"]).jetpack
        except UnknownRelease:
            record.notes.append(f"L4T {tegra['l4t']} is not in data/l4t_releases.yaml")
    else:
        record.status = "not a Jetson"
    record.board_model = reader.get_fact(BoardModel).get("model")
    memory = reader.get_fact(Memory)
    if memory.get("mem_total_mb"):
        record.mem_total_mb = memory["mem_total_mb"]
        if "mem_available_mb" in memory:
            record.mem_used_mb = memory["mem_total_mb"] - memory["mem_available_mb"]

    container = reader.get_fact(OllamaContainer, container=cfg.ollama_container_name)
    if container:
        record.image = container.get("image") or None
        if not container.get("running"):
            record.notes.append(f"container {cfg.ollama_container_name} is {container.get('status') or 'not running'}")
    elif tegra:
        record.notes.append(f"no container {cfg.ollama_container_name}")
    api = cfg.api_url
    record.ollama_version = reader.get_fact(OllamaVersion, url=api)
    if record.ollama_version is None and container.get("running"):
        record.notes.append(f"{api}/api/version does not answer")
    record.models = sorted(reader.get_fact(OllamaModels, url=api)) if record.ollama_version else []

    plan = make_plan(reader, cfg) if tegra else None  # the tier of the board's model set, as the deploy judges it
    if plan and plan.refusal:
        record.notes.append(f"the deploy refuses this board: {plan.refusal}")
    if plan and (largest := plan.largest) and (fit := largest.estimate):
        record.tier, record.estimate_percent = fit.tier, fit.percent
        record.tier_basis = f"{largest.tag} estimated at {fit.percent:.0f} %"
    elif record.ram_used_percent is not None:
        record.tier, record.tier_basis = tier_of(record.ram_used_percent), "RAM in use"

    record.bench, problem = parse_bench(runner.run(f"cat {BENCH_FILE} 2>/dev/null || true").stdout)
    if problem:
        record.notes.append(problem)
    record.bench_history, record.quick_tests, problems = parse_history(
        runner.run(f"tail -n {HISTORY_SHOWN} {BENCH_HISTORY} 2>/dev/null || true").stdout,
        runner.run(f"tail -n {HISTORY_SHOWN} {QUICK_TEST_HISTORY} 2>/dev/null || true").stdout)
    record.notes += problems
    if record.ollama_version:
        record.loaded = parse_loaded(runner.run(f"curl -fsS --max-time 5 {shlex.quote(api + '/api/ps')} 2>/dev/null "
                                                "|| true").stdout)
    return record


def gather(host: InventoryHost, *, timeout: float = CONNECT_TIMEOUT) -> BoardRecord:
    """One board's record; `unreachable: <reason>` when it cannot be reached, never an exception."""
    try:
        board = Board.open(host, timeout=timeout)
    except Unreachable as exc:
        return BoardRecord(host.name, host.address, status=f"unreachable: {exc}")
    try:
        if problem := sudo_problem(board, board.target):
            return BoardRecord(host.name, host.address, status=f"error: {problem}")
        return read_board(board, host)
    except (paramiko.SSHException, OSError, EOFError) as exc:  # the session died half-way
        return BoardRecord(host.name, host.address, status=f"unreachable: {describe_error(exc, COMMAND_TIMEOUT)}")
    except Exception as exc:  # noqa: BLE001 - one odd board must not cost the others their rows
        return BoardRecord(host.name, host.address, status=f"error: {type(exc).__name__}: {exc}")
    finally:
        board.close()


def collect(hosts: list[InventoryHost], *, timeout: float = CONNECT_TIMEOUT) -> list[BoardRecord]:
    """The records of all hosts, read in parallel, in inventory order."""
    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(hosts)), thread_name_prefix="report") as pool:
        return list(pool.map(lambda host: gather(host, timeout=timeout), hosts))
