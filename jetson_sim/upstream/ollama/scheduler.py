"""Loaded models: what a model costs in memory and how fast it decodes (docs/facts.md section 6: decode
is bound by memory bandwidth), loading and unloading with keep-alive and the least recently used
evicted, the board's simulated meminfo and the GPU load tegrastats reads.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

from .board import bandwidth_bytes_per_s, gpu_available, mem_available
from .config import Config, env, human_bytes2, log
from .store import MODEL_MEDIA, Name, Store, cached_sha256


# Speed model (docs/facts.md section 6: decode is bound by memory bandwidth, tok/s <= bandwidth / model bytes).
# 0.65 is calibrated on the recorded anchor: qwen2.5:7b (4.7 GB) through Ollama on an Orin Nano
# (68 GB/s) ran 9.1-9.7 tok/s, and 0.65 * 68e9 / 4.7e9 = 9.40; the +-3% jitter stays inside 9.1-9.7.
GPU_EFFICIENCY = 0.65
# CPU fallback: the recorded 3.4-4.3 tok/s for a 7b on a server CPU (docs/facts.md section 6); the factor is the
# brief's choice and matches that anchor for a ~100 GB/s server (unverified for any given board).
CPU_EFFICIENCY = 0.18
JITTER = 0.03
REQUEST_OVERHEAD_S = 0.003  # tokenizing, sampling setup: a few ms per request (unverified)
PROMPT_SPEEDUP = 20  # prompt eval runs ~20x faster than decode (unverified)
# Load time: docs/facts.md section 6 records that models switch in 10-20 s on an Orin Nano; runner start-up plus
# reading weights at 0.4 GB/s puts the 7-8B models of the log at 14-15 s (both figures unverified).
LOAD_FIXED_S = 2.0
LOAD_BYTES_PER_S = 0.4e9
# Memory beyond weights + KV cache: compute graph and CUDA context (unverified). With it qwen3:8b at a
# 4096 context loads at 6.6 GB and qwen2.5:7b brings an Orin Nano 8GB to ~90% (docs/facts.md section 6: 6.5 GB, ~90%).
OVERHEAD_FIXED = 256 << 20
OVERHEAD_FRACTION = 0.10
KV_TYPE_FACTOR = {"f16": 1.0, "q8_0": 0.5, "q4_0": 0.25}  # q8_0/q4_0 need flash attention (docs/facts.md section 5)


class LoadError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(eq=False)  # a runner is one load: compared by identity
class Runner:
    """One loaded model: what Scheduler.plan costed it at, and its state while loaded."""

    key: str  # the model's display name
    name: Name
    digest: str  # sha256 of the manifest it was loaded from
    manifest: dict
    parallel: int  # OLLAMA_NUM_PARALLEL when loaded: request slots
    keep_alive: float | None  # seconds after the last request; None: forever
    weights: int
    ctx: int
    size: int  # bytes: weights, KV cache and overhead
    size_vram: int
    tps: float  # tokens per second
    config: dict  # the model's config blob
    expires_at: float | None = None  # wall-clock unload time once idle; None while busy or kept forever
    registered: bool = False  # the board's meminfo counts it (Scheduler._meminfo)
    active: int = 0  # requests in progress
    slots: threading.BoundedSemaphore = field(init=False)
    loaded_at: float = field(init=False)
    last_used: float = field(init=False)

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.parallel)
        self.loaded_at = self.last_used = time.monotonic()


class Scheduler:
    def __init__(self, cfg: Config, store: Store):
        self.cfg, self.store = cfg, store
        self.loaded: dict[str, Runner] = {}
        self.lock = threading.RLock()  # guards `loaded`; held briefly
        self.load_lock = threading.Lock()  # one load at a time, like Ollama's scheduler
        self.gpu, self.cpu_reason = gpu_available(cfg)
        self.gpu_busy = 0
        threading.Thread(target=self._reaper, daemon=True, name="keep-alive").start()

    # -- what a model costs

    def plan(self, name: Name, manifest: dict, num_ctx: int | None) -> dict:  # noqa: ARG002 - load's arguments
        config = json.loads(self.store.blob(manifest["config"]["digest"]).read_bytes())
        sim = config.get("jetson_sim") or {}
        model_layers = [layer for layer in manifest["layers"] if layer["mediaType"] == MODEL_MEDIA]
        weights = int(sim.get("size") or sum(layer["size"] for layer in model_layers))
        # the context is capped at what the model was trained for (Ollama clamps num_ctx the same way)
        ctx = min(num_ctx or self.cfg.context_length, int(sim.get("context_length") or 1 << 30))
        kv_factor = KV_TYPE_FACTOR.get(self.cfg.kv_cache_type, 1.0) if self.cfg.flash_attention else 1.0
        # docs/facts.md section 6: KV bytes = context x parallel x per-token figure
        kv = int(int(sim.get("kv_bytes_per_token") or 0) * ctx * self.cfg.num_parallel * kv_factor)
        size = weights + kv + OVERHEAD_FIXED + int(weights * OVERHEAD_FRACTION) + self.cfg.gpu_overhead
        efficiency = GPU_EFFICIENCY if self.gpu else CPU_EFFICIENCY
        return {"weights": weights, "ctx": ctx, "size": size, "size_vram": size if self.gpu else 0,
                "tps": efficiency * bandwidth_bytes_per_s(self.cfg) / weights,
                "load_s": LOAD_FIXED_S + weights / LOAD_BYTES_PER_S, "config": config}

    # -- load / unload

    def load(self, name: Name, raw: bytes, manifest: dict, num_ctx: int | None,
             keep_alive: float | None) -> tuple[Runner, float]:
        """The runner for `name`, loading it if needed; (runner, simulated load seconds)."""
        key, digest = name.display, hashlib.sha256(raw).hexdigest()
        plan = self.plan(name, manifest, num_ctx)
        with self.load_lock:
            with self.lock:
                runner = self.loaded.get(key)
                if runner and runner.digest == digest and runner.ctx == plan["ctx"]:
                    runner.last_used = time.monotonic()
                    runner.expires_at = None  # busy from now on; set again when the request ends
                    runner.keep_alive = keep_alive
                    return runner, 0.002  # already loaded: a couple of ms (unverified)
            if runner:  # another digest or context size: reload
                self.unload(key)
            while len(self.loaded) >= self.cfg.max_loaded and self.unload(self._oldest()):
                pass  # OLLAMA_MAX_LOADED_MODELS: the least recently used goes
            while True:
                available = self.available()
                if available is None or plan["size"] <= available or not self.unload(self._oldest()):
                    break  # fits, or nothing left to evict (Ollama evicts idle models to make room)
            if available is not None and plan["size"] > available:
                raise LoadError(500, f"model requires more system memory ({human_bytes2(plan['size'])}) "
                                     f"than is available ({human_bytes2(available)})")
            self.check_model(manifest)  # after the memory check, as NewLlamaServer orders them
            self.cfg.sleep(plan["load_s"])
            runner = Runner(key=key, name=name, digest=digest, manifest=manifest, parallel=self.cfg.num_parallel,
                            keep_alive=keep_alive, weights=plan["weights"], ctx=plan["ctx"], size=plan["size"],
                            size_vram=plan["size_vram"], tps=plan["tps"], config=plan["config"])
            runner.registered = self._meminfo("alloc", key, plan["size"])
            with self.lock:
                self.loaded[key] = runner
            log("INFO", "llama runner started", model=key, size=plan["size"], size_vram=plan["size_vram"],
                num_ctx=plan["ctx"], parallel=self.cfg.num_parallel,
                processor="100% GPU" if self.gpu else "100% CPU")
            return runner, plan["load_s"]

    def check_model(self, manifest: dict) -> None:
        """A corrupt model is not served: the model blob must have its manifest size and digest.

        Real Ollama never hashes a blob at load; llama.cpp refuses a damaged GGUF (a truncated one: "tensor
        '...' data is not within the file bounds, model is corrupted or incomplete"; a broken header:
        "llama_model_loader: failed to load model from <path>"). The simulator's blobs are small synthetic
        files, so any mismatch stands for that damage (a flipped byte in tensor data would load in the real
        one). The answer is the real error (500) for where the model is opened (VERSION_RULES
        server_opens_model): from 0.6.0 the server opens it itself (llama.LoadModelFromFile, vocab only:
        "unable to load model: <path>", ollama/ollama llm/server.go, llama/llama.go @v0.11.8 and @v0.6.8, for
        the architectures the llama.cpp runner serves, all of the catalog's; gemma3 and the like differ);
        before, the runner did and died, and WaitUntilRunning answered "llama runner process has terminated:
        " + the last error line of its stderr (llm/status.go, llm/server.go @v0.5.7). The tensor named for a
        truncated file is illustrative. A missing blob fails to open (ggml decode in the scheduler)."""
        for layer in manifest["layers"]:
            if layer.get("mediaType") != MODEL_MEDIA:
                continue
            path = self.store.blob(layer["digest"])
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise LoadError(500, f"open {path}: no such file or directory") from None
            if size == layer["size"] and f"sha256:{cached_sha256(path)}" == layer["digest"]:
                continue
            log("ERROR", "model blob does not match its digest or size", blob=str(path), size=size,
                want_size=layer["size"])
            if self.cfg.since("server_opens_model"):
                raise LoadError(500, f"unable to load model: {path}")
            reason = ("tensor 'output.weight' data is not within the file bounds, model is corrupted or incomplete"
                      if size < layer["size"] else f"llama_model_loader: failed to load model from {path}")
            raise LoadError(500, f"llama runner process has terminated: error loading model: {reason}")

    def expire(self, key: str) -> None:
        """An unload request (expireRunner): now when idle, else when its last request ends."""
        with self.lock:
            runner = self.loaded.get(key)
            if runner is None:
                return
            runner.keep_alive = 0
            busy = runner.active > 0
        if not busy:
            self.unload(key)

    def available(self) -> int | None:
        """MemAvailable, minus models loaded here that the board's meminfo does not know about yet."""
        free = mem_available(self.cfg)
        if free is None:
            return None
        with self.lock:
            return free - sum(r.size for r in self.loaded.values() if not r.registered)

    def _oldest(self) -> str | None:
        with self.lock:
            idle = [r for r in self.loaded.values() if r.active == 0] or list(self.loaded.values())
            return min(idle, key=lambda r: r.last_used).key if idle else None

    def unload(self, key: str | None) -> bool:
        """Unloads the model loaded as `key`; False when there is none (None: nothing left to evict)."""
        if key is None:
            return False
        with self.lock:
            runner = self.loaded.pop(key, None)
        if runner is None:
            return False
        if runner.registered:
            self._meminfo("free", key)
        log("INFO", "model unloaded", model=key)
        return True

    def release(self, runner: Runner) -> None:
        """A request is done with `runner`: start its keep-alive clock, or unload at once for 0."""
        with self.lock:
            runner.last_used = time.monotonic()
            if runner.active:
                return
            if runner.keep_alive == 0:
                expire_now = True
            else:
                expire_now = False
                runner.expires_at = None if runner.keep_alive is None else time.time() + runner.keep_alive
        if expire_now:
            self.unload(runner.key)

    def _reaper(self) -> None:
        while True:
            time.sleep(0.05)
            now = time.time()
            with self.lock:
                expired = [r.key for r in self.loaded.values()
                           if r.active == 0 and r.expires_at is not None and r.expires_at <= now]
            for key in expired:
                self.unload(key)

    def unload_all(self) -> None:
        for key in list(self.loaded):
            self.unload(key)

    _leases: dict[str, int] = {}

    @classmethod
    def _meminfo(cls, action: str, key: str, size: int | None = None) -> bool:
        """Tell the simulated board what is loaded, so its /proc/meminfo and tegrastats follow.

        The allocation is a lease: a file in the board's mem.d that this process keeps locked, so
        the board gives the memory back when the process dies (`docker rm -f`, a crash), as RAM is.
        """
        tool = shutil.which("jetson-sim-meminfo")
        mem_d = os.environ.get("JETSON_SIM_MEM_D", "/run/jetson-sim/mem.d")
        if not tool or not os.path.isdir(mem_d):
            return False
        label = "ollama-" + re.sub(r"[^A-Za-z0-9_.:@+-]", "_", key)
        path = os.path.join(mem_d, label + ".lease")
        old = cls._leases.pop(label, None)
        if old is not None:
            os.close(old)
        written = time.time()
        try:
            if action == "alloc":
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, f"{size}\n".encode())
                cls._leases[label] = fd
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except PermissionError:  # another user's lease of the same name, not yet reaped
            return False
        try:
            if subprocess.run([tool], capture_output=True, timeout=10).returncode == 0:
                return True
        except (OSError, subprocess.SubprocessError):
            return False
        # not root (ollama.service runs as ollama): the tool may not rewrite the board's meminfo, but the
        # board's bookkeeping (jetson-sim-memd, every second) takes the lease up; wait for its next write
        meminfo = env("JETSON_SIM_MEMINFO", "/proc/meminfo")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                if os.stat(meminfo).st_mtime > written:
                    return action == "alloc"
            except OSError:
                return False
            time.sleep(0.1)
        return False

    # -- GPU load for tegrastats

    def gpu_load(self, busy: bool) -> None:
        if not self.gpu:
            return
        with self.lock:
            self.gpu_busy += 1 if busy else -1
            value = random.randint(96, 99) if self.gpu_busy > 0 else 0  # decode keeps the GPU near 99% (unverified)
        self.write_gr3d(value)

    def write_gr3d(self, value: int) -> None:
        if os.path.isdir(os.path.dirname(self.cfg.gr3d) or "."):
            try:
                with open(self.cfg.gr3d, "w") as f:
                    f.write(f"{value}\n")
            except OSError:
                pass
