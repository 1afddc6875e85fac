"""Reading the boards for the fleet report: `collect(hosts)` reads every board at once (one thread each,
a short connect timeout) into one `BoardRecord` per host; a board that cannot be reached is a record
`unreachable: <reason>`, never a crash. `read_board` is what one connected board answers (its facts
over SSH, remote.FactReader), `parse_bench` the last `bench` figures it keeps.
"""

from __future__ import annotations

import json
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
MAX_WORKERS = 32


@dataclass(frozen=True)
class BenchFigures:
    """The last `bench` run on a board: when, and decode tokens/s per model."""

    time: str
    tokens_per_s: dict[str, float]


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
