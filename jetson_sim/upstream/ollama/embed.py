"""Embeddings (docs/facts.md section 7): /api/embed (normalized, several inputs) and the older
/api/embeddings (one prompt, the raw vector), as `Embedding`, part of the API handler. The vectors are
deterministic: seeded by the model and the text, of a fixed dimension per model.
"""

from __future__ import annotations

import hashlib
import math
import random

from .config import Config, request_keep_alive
from .handler import Handler
from .structured import as_dict
from .scheduler import LoadError, Scheduler
from .store import Name, try_name


# a model's embedding length when its config blob's jetson_sim object does not give one: the hidden size of
# the catalog's families at that parameter count (qwen2.5:0.5b 896, 1.5b 1536, 3b 2048, 7b 3584; llama3.1:8b
# 4096), approximated by size (unverified for any model not named here)
EMBEDDING_LENGTHS = ((0.7e9, 896), (2e9, 1536), (4e9, 2048), (7.9e9, 3584), (20e9, 4096), (float("inf"), 5120))


def embedding_length(config: dict) -> int:
    sim = config.get("jetson_sim") or {}
    if sim.get("embedding_length"):
        return int(sim["embedding_length"])
    text = str(config.get("model_type") or "")
    try:
        count = float(text.rstrip("BMK")) * {"B": 1e9, "M": 1e6, "K": 1e3}.get(text[-1:], 1)
    except ValueError:
        count = 0.5e9
    return next(length for limit, length in EMBEDDING_LENGTHS if count < limit)


def raw_embedding(model: str, text: str, dim: int) -> list[float]:
    """The model's vector for `text`: Gaussian values seeded by sha256(model, text), not normalized (what
    the runner returns and /api/embeddings answers)."""
    rng = random.Random(hashlib.sha256(f"{model}\n{text}".encode()).digest())
    return [round(rng.gauss(0, 0.5), 6) for _ in range(dim)]


def normalize(vector: list[float]) -> list[float]:
    """ollama/ollama server/routes.go normalize @6a74bba7: divided by its L2 norm (all zeros stay zeros)."""
    total = sum(v * v for v in vector)
    norm = 1.0 / math.sqrt(total) if total > 0 else 0.0
    return [v * norm for v in vector]


def text_tokens(text: str) -> int:
    return (len(text) + 3) // 4  # ~4 characters a token, no template (unverified)


class Embedding(Handler):
    """/api/embed and /api/embeddings, a part of Api: it uses Api's cfg, sched and _local."""

    cfg: Config
    sched: Scheduler

    def _local(self, text) -> tuple[Name, bytes, dict] | None:
        raise NotImplementedError

    def _embed_runner(self, req: dict, found):
        """Loads the model for an embedding request: (runner, load seconds) or None after answering."""
        try:
            keep_alive = request_keep_alive(req.get("keep_alive"), self.cfg.keep_alive,
                                            self.cfg.since("exact_keep_alive"))
        except ValueError as err:
            return self._json(400, {"error": str(err)})
        name, raw, manifest = found
        options = as_dict(req.get("options"))
        try:
            return self.sched.load(name, raw, manifest, options.get("num_ctx"), keep_alive)
        except LoadError as err:
            return self._json(err.status, {"error": str(err)})
        except (OSError, ValueError, KeyError) as err:
            return self._json(500, {"error": f"unable to load model: {err}"})

    def embed(self):
        """ollama/ollama server/routes.go EmbedHandler @6a74bba7: `input` a string or a list of strings
        (else 400 "invalid input type"), an absent model 404 `model 'x' not found`, no input an empty list;
        an input longer than the context is cut unless `truncate` is false (400 "input length exceeds
        maximum context length"); each vector normalized."""
        req = self._request()
        if req is None:
            return
        value = req.get("input")
        if isinstance(value, str):
            inputs = [value] if value else []
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            inputs = list(value)
        elif value is None:
            inputs = []
        else:
            return self._json(400, {"error": "invalid input type"})
        text = req.get("model") if isinstance(req.get("model"), str) else ""
        found = self._local(text)
        if not found:
            return self._json(404, {"error": f"model '{text}' not found"})
        loaded = self._embed_runner(req, found)
        if loaded is None:
            return
        runner, load_s = loaded
        try:
            if not inputs:
                return self._json(200, {"model": text, "embeddings": []})
            count = 0
            for i, item in enumerate(inputs):
                tokens = text_tokens(item)
                if tokens > runner.ctx:
                    if req.get("truncate") is False:
                        return self._json(400, {"error": "input length exceeds maximum context length"})
                    inputs[i], tokens = item[: runner.ctx * 4], runner.ctx
                count += tokens
            dim = embedding_length(runner.config)
            vectors = [normalize(raw_embedding(runner.key, item, dim)) for item in inputs]
            eval_s = count / (runner.tps * 20)  # a prompt-eval pass per input (unverified)
            self.cfg.sleep(eval_s)
            self._json(200, {"model": text, "embeddings": vectors, "total_duration": int((load_s + eval_s) * 1e9),
                             "load_duration": int(load_s * 1e9), "prompt_eval_count": count})
        finally:
            self.sched.release(runner)

    def embeddings(self):
        """ollama/ollama server/routes.go EmbeddingsHandler @6a74bba7: an invalid name 400 "model is
        required", an absent model 404 `model "x" not found, try pulling it first` (handleScheduleError), an
        empty prompt loads the model and answers an empty vector; else the raw vector."""
        req = self._request()
        if req is None:
            return
        text = req.get("model") if isinstance(req.get("model"), str) else ""
        if try_name(text) is None:
            return self._json(400, {"error": "model is required"})
        found = self._local(text)
        if not found:
            return self._json(404, {"error": f'model "{text}" not found, try pulling it first'})
        loaded = self._embed_runner(req, found)
        if loaded is None:
            return
        runner, _ = loaded
        try:
            prompt = req.get("prompt") if isinstance(req.get("prompt"), str) else ""
            if not prompt:
                return self._json(200, {"embedding": []})
            self._json(200, {"embedding": raw_embedding(runner.key, prompt, embedding_length(runner.config))})
        finally:
            self.sched.release(runner)

