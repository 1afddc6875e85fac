"""Text generation: /api/generate and /api/chat (`Generation`, part of the API handler), their NDJSON
streams and timings, and the deterministic lorem-like words they answer with; JSON under `format`, tool
calls under `tools` (structured.py), streamed at the speed the answer reports (docs/facts.md section 7).
"""

from __future__ import annotations

import hashlib
import json
import random

from .config import Config, request_keep_alive, rfc3339
from .handler import Handler
from .scheduler import JITTER, LoadError, PROMPT_SPEEDUP, REQUEST_OVERHEAD_S, Runner, Scheduler
from .store import Name, try_name
from .structured import FormatError, formatted_text, json_pieces, parse_format, tool_call


LOREM = ("the model runs on a small board with shared memory and every token is read from it once "
         "so speed follows bandwidth while the cache grows with context and parallel requests").split()


def words_for(seed_text: str, count: int) -> list[str]:
    """Deterministic lorem-like tokens, one word per token."""
    seed = int(hashlib.sha256(seed_text.encode()).hexdigest()[:8], 16)
    return [("" if i == 0 else " ") + LOREM[(seed + i * 7) % len(LOREM)] for i in range(count)]


def prompt_tokens(prompt: str) -> int:
    return (len(prompt) + 3) // 4 + 10  # ~4 characters a token plus the chat template (unverified)


class Generation(Handler):
    """/api/generate and /api/chat, a part of Api: it uses Api's cfg, sched and _local, and answers with
    Handler's plumbing."""

    cfg: Config
    sched: Scheduler

    def _local(self, text) -> tuple[Name, bytes, dict] | None:
        """The name, raw manifest and manifest of a local model (Api's)."""
        raise NotImplementedError

    def generate(self):
        self._complete(chat=False)

    def chat(self):
        self._complete(chat=True)

    def _complete(self, chat: bool):
        """generate and chat, as ollama/ollama server/routes.go GenerateHandler and ChatHandler @v0.11.8 answer
        (alike @v0.6.8 but for VERSION_RULES exact_keep_alive). Errors: generate answers an invalid or absent
        name with 404 `model 'x' not found`; chat an invalid name with 400 "model is required" and an absent
        model with 404 `model "x" not found, try pulling it first` (handleScheduleError), but its unload
        request with 404 `model 'x' not found`. An empty prompt (no messages) loads the model, and with
        keep_alive 0 unloads it: one JSON object either way, also when streaming (c.JSON there)."""
        req = self._request()
        if req is None:
            return
        text = req.get("model") if isinstance(req.get("model"), str) else ""
        exact = self.cfg.since("exact_keep_alive")
        try:  # ShouldBindJSON reads keep_alive first: a bad one is a 400 before the name is looked at
            keep_alive = request_keep_alive(req.get("keep_alive"), self.cfg.keep_alive, exact)
        except ValueError as err:
            return self._json(400, {"error": str(err)})
        if isinstance(req.get("format"), dict) and not self.cfg.since("format_schema"):  # format was a string
            kind = "ChatRequest" if chat else "GenerateRequest"
            return self._json(400, {"error": f"json: cannot unmarshal object into Go struct field {kind}.format "
                                             "of type string"})
        messages = req.get("messages") or [] if chat else []
        if chat:
            prompt = "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
            empty = not messages
        else:
            prompt = str(req.get("prompt") or "")
            empty = prompt == ""
        # keep_alive 0 asks to unload: before 0.11.8 anything under a second (int(seconds) == 0) did
        unload = empty and req.get("keep_alive") is not None and keep_alive is not None \
            and (keep_alive == 0 if exact else int(keep_alive) == 0)
        found = self._local(text)
        if not found and (not chat or unload):
            return self._json(404, {"error": f"model '{text}' not found"})
        if not found:
            if try_name(text) is None:
                return self._json(400, {"error": "model is required"})
            return self._json(404, {"error": f'model "{text}" not found, try pulling it first'})
        name, raw, manifest = found
        stream = req.get("stream", True) is not False
        base = {"model": text}  # echoed as the request spelled it

        def reply(done_reason: str):
            """The answer to a load or unload request: one object, as c.JSON writes it, whatever `stream` says."""
            doc = {**base, "created_at": rfc3339(utc=True)}
            if chat:
                doc["message"] = {"role": "assistant", "content": ""}
            else:
                doc["response"] = ""
            if self.cfg.since("done_reason"):
                doc["done_reason"] = done_reason
            doc["done"] = True
            if not chat:  # GenerateResponse lists done before done_reason, ChatResponse after
                doc = {k: doc[k] for k in ("model", "created_at", "response", "done", "done_reason") if k in doc}
            return self._json(200, doc)

        if unload and self.cfg.since("unload_request"):  # VERSION_RULES unload_request: expire, load nothing
            self.sched.expire(name.display)
            return reply("unload")
        options = req.get("options") or {}
        try:
            runner, load_s = self.sched.load(name, raw, manifest, options.get("num_ctx"), keep_alive)
        except LoadError as err:
            return self._json(err.status, {"error": str(err)})
        except (OSError, ValueError, KeyError) as err:
            return self._json(500, {"error": f"unable to load model: {err}"})
        if empty:  # before 0.3.11 an unload request lands here too: loaded for keep_alive 0, gone at once
            self.sched.release(runner)
            return reply("load")

        with self.sched.lock:
            runner.active += 1
        runner.slots.acquire()  # OLLAMA_NUM_PARALLEL requests at a time, the rest queue
        try:
            try:  # checked by the runner's Completion, after the load (llm/server.go @6a74bba7)
                fmt = parse_format(req.get("format"))
            except FormatError as err:
                if stream:
                    return self._stream(iter([{"error": str(err)}]))
                return self._json(500, {"error": str(err)})
            call = tool_call(req.get("tools"), messages) if chat and self.cfg.since("tools") else None
            self._decode(runner, load_s, prompt, options, chat, stream, base, fmt, call)
        finally:
            runner.slots.release()
            with self.sched.lock:
                runner.active -= 1
            self.sched.release(runner)

    def _decode(self, runner: Runner, load_s: float, prompt: str, options: dict, chat: bool, stream: bool, base: dict,
                fmt: dict | str | None = None, call: dict | None = None):
        """The answer: `count` tokens of words, of JSON under `fmt`, or a tool call (one chunk with
        message.tool_calls, then the final one: ollama/ollama server/routes.go ChatHandler @6a74bba7 sends a
        parsed tool call as its own chunk, content empty). Streamed tokens are paced at 1/tps (cfg.pace), the
        speed eval_count/eval_duration report."""
        predict = options.get("num_predict")
        count = 32 if predict is None else (128 if int(predict) < 0 else int(predict))
        words = words_for(f"{runner.key}\n{prompt}", count)
        if fmt is not None:  # the whole JSON value, whatever num_predict says (a cut one would not parse)
            text = formatted_text(fmt, words_for(f"{runner.key}\n{prompt}", 12))
            words = json_pieces(text, max(8, len(text) // 4))
            count, predict = len(words), None
        elif call is not None:  # the call's JSON is what the model generates: ~4 characters a token
            count, words, predict = max(1, len(json.dumps(call)) // 4), [], None
        tps = runner.tps * random.uniform(1 - JITTER, 1 + JITTER)
        n_prompt = prompt_tokens(prompt)
        prompt_s = n_prompt / (tps * PROMPT_SPEEDUP)
        eval_s = count / tps

        def chunks():
            self.sched.gpu_load(True)
            wait = self.cfg.pace if stream else self.cfg.sleep
            try:
                self.cfg.sleep(prompt_s)
                for word in words:
                    wait(1 / tps)
                    yield {**base, "created_at": rfc3339(utc=True),
                           **({"message": {"role": "assistant", "content": word}} if chat else {"response": word}),
                           "done": False}
                if call is not None:
                    wait(count / tps)
                    yield {**base, "created_at": rfc3339(utc=True),
                           "message": {"role": "assistant", "content": "", "tool_calls": [call]}, "done": False}
            finally:
                self.sched.gpu_load(False)
            ns = lambda s: int(s * 1e9)  # noqa: E731
            reason = "stop" if predict is None else "length"
            if chat:  # ChatResponse's order: done_reason before done
                final = {**base, "created_at": rfc3339(utc=True), "message": {"role": "assistant", "content": ""},
                         "done_reason": reason, "done": True}
            else:
                final = {**base, "created_at": rfc3339(utc=True), "response": "", "done": True, "done_reason": reason}
            if not chat:
                seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:6], 16)
                final["context"] = [(seed + i * 7919) % 151000 for i in range(n_prompt + count)]
            final.update({
                "total_duration": ns(load_s + prompt_s + eval_s + REQUEST_OVERHEAD_S), "load_duration": ns(load_s),
                "prompt_eval_count": n_prompt, "prompt_eval_duration": ns(prompt_s),
                # docs/facts.md section 5: tok/s = count / duration * 1e9
                "eval_count": count, "eval_duration": ns(eval_s),
            })
            yield final

        if stream:
            return self._stream(chunks())
        items = list(chunks())
        final = items[-1]
        text = "".join(i["message"]["content"] if chat else i["response"] for i in items[:-1])
        if chat:
            final["message"]["content"] = text
            if call is not None:
                final["message"]["tool_calls"] = [call]
        else:
            final["response"] = text
        self._json(200, final)
