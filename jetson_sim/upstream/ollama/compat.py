"""The OpenAI-compatible API (docs/facts.md section 7): /v1/chat/completions, /v1/completions,
/v1/embeddings, /v1/models and /v1/models/{model}, as ollama/ollama openai/openai.go @6a74bba7 (v0.6.8)
builds them: a middleware turns the OpenAI request into Ollama's and hands it to the same handler
(ChatHandler, GenerateHandler, EmbedHandler, ListHandler, ShowHandler), and a writer turns each answer
back (`OpenAI`, part of the API handler, and the writers here). Errors: the middleware's own a 400
`invalid_request_error`; the handler's keep their status and become `api_error` (BaseWriter.writeError
encodes them as NewError(500, ...)).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import string
import time

from .handler import Handler
from .structured import as_dict
from .store import try_name


def openai_error(status: int, message: str) -> dict:
    """openai.NewError: the type by status (400 invalid_request_error, 404 not_found_error, else api_error)."""
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def unix_time(text: str | None) -> int:
    """An RFC 3339 time (created_at, modified_at) -> Unix seconds; now when there is none."""
    try:
        return int(dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return int(time.time())


def tool_call_id() -> str:
    """openai.toolCallId: call_ and 8 random lower-case letters and digits."""
    return "call_" + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def openai_tool_calls(calls: list | None) -> list[dict]:
    """openai.toToolCalls: the arguments as a JSON string, an id per call."""
    return [{"id": tool_call_id(), "index": call["function"].get("index", 0), "type": "function",
             "function": {"name": call["function"]["name"],
                          "arguments": json.dumps(call["function"].get("arguments") or {})}}
            for call in calls or []]


def usage(doc: dict) -> dict:
    prompt, completion = doc.get("prompt_eval_count", 0), doc.get("eval_count", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class Writer:
    """BaseWriter: a non-200 answer becomes the OpenAI error shape, keeping its status."""

    def answer(self, h: Handler, status: int, doc) -> None:
        if status != 200:
            message = doc.get("error", "") if isinstance(doc, dict) else str(doc)
            return h._send_json(status, openai_error(500, message))
        h._send_json(200, self.convert(doc))

    def convert(self, doc: dict) -> dict:
        raise NotImplementedError

    def stream(self, h: Handler, items) -> None:
        raise NotImplementedError


class ChatWriter(Writer):
    """openai.ChatWriter: chat.completion, or chat.completion.chunk events and `data: [DONE]`."""

    def __init__(self, model: str, stream: bool, include_usage: bool):
        self.id = f"chatcmpl-{random.randrange(999)}"
        self.model, self.is_stream, self.include_usage = model, stream, include_usage

    def convert(self, doc: dict) -> dict:
        message = doc.get("message") or {}
        calls = openai_tool_calls(message.get("tool_calls"))
        reason = "tool_calls" if calls else doc.get("done_reason") or None
        out = {"role": message.get("role", "assistant"), "content": message.get("content", "")}
        if calls:
            out["tool_calls"] = calls
        return {"id": self.id, "object": "chat.completion", "created": unix_time(doc.get("created_at")),
                "model": doc.get("model", self.model), "system_fingerprint": "fp_ollama",
                "choices": [{"index": 0, "message": out, "finish_reason": reason}], "usage": usage(doc)}

    def stream(self, h: Handler, items) -> None:
        h._sse(self.events(items))

    def events(self, items):
        sent_call = False
        for doc in items:
            if "error" in doc:  # an error after the 200: in the stream, in the error shape
                yield openai_error(500, doc["error"])
                break
            message = doc.get("message") or {}
            calls = openai_tool_calls(message.get("tool_calls"))
            reason = doc.get("done_reason") or None
            delta = {"role": "assistant", "content": message.get("content", "")}
            if calls:
                delta["tool_calls"] = calls
            chunk = {"id": self.id, "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": doc.get("model", self.model), "system_fingerprint": "fp_ollama",
                     "choices": [{"index": 0, "delta": delta,
                                  "finish_reason": "tool_calls" if reason and sent_call else reason}]}
            sent_call = sent_call or bool(calls)
            yield chunk
            if doc.get("done"):
                if self.include_usage:
                    yield {**chunk, "choices": [], "usage": usage(doc)}
                yield "[DONE]"


class CompleteWriter(Writer):
    """openai.CompleteWriter: text_completion, streamed or not."""

    def __init__(self, model: str, stream: bool, include_usage: bool):
        self.id = f"cmpl-{random.randrange(999)}"
        self.model, self.is_stream, self.include_usage = model, stream, include_usage

    def _choice(self, doc: dict) -> list[dict]:
        return [{"text": doc.get("response", ""), "index": 0, "finish_reason": doc.get("done_reason") or None}]

    def convert(self, doc: dict) -> dict:
        return {"id": self.id, "object": "text_completion", "created": unix_time(doc.get("created_at")),
                "model": doc.get("model", self.model), "system_fingerprint": "fp_ollama",
                "choices": self._choice(doc), "usage": usage(doc)}

    def stream(self, h: Handler, items) -> None:
        h._sse(self.events(items))

    def events(self, items):
        for doc in items:
            if "error" in doc:
                yield openai_error(500, doc["error"])
                break
            chunk = {"id": self.id, "object": "text_completion", "created": int(time.time()),
                     "choices": self._choice(doc), "model": doc.get("model", self.model),
                     "system_fingerprint": "fp_ollama"}
            if self.include_usage:  # every chunk carries a zero usage, the last one the counts
                chunk["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            yield chunk
            if doc.get("done"):
                if self.include_usage:
                    yield {**chunk, "choices": [], "usage": usage(doc)}
                yield "[DONE]"


def owned_by(name: str) -> str:
    """model.ParseName(name).Namespace: `library` for the library's models."""
    parsed = try_name(name)
    return parsed.namespace if parsed else ""


class ListWriter(Writer):
    """openai.toListCompletion: the local models; `data` is null when there are none (Go's nil slice)."""

    def convert(self, doc: dict) -> dict:
        data = [{"id": m["name"], "object": "model", "created": unix_time(m.get("modified_at")),
                 "owned_by": owned_by(m["name"])} for m in doc.get("models") or []]
        return {"object": "list", "data": data or None}


class RetrieveWriter(Writer):
    """openai.toModel: one model, by the name in the path."""

    def __init__(self, model: str):
        self.model = model

    def convert(self, doc: dict) -> dict:
        return {"id": self.model, "object": "model", "created": unix_time(doc.get("modified_at")),
                "owned_by": owned_by(self.model)}


class EmbedWriter(Writer):
    """openai.toEmbeddingList: one `embedding` object per input, usage from prompt_eval_count."""

    def __init__(self, model: str):
        self.model = model

    def convert(self, doc: dict) -> dict:
        if doc.get("embeddings") is None:
            return {"object": "", "data": None, "model": "", "usage": {"prompt_tokens": 0, "total_tokens": 0}}
        data = [{"object": "embedding", "embedding": e, "index": i} for i, e in enumerate(doc["embeddings"])]
        count = doc.get("prompt_eval_count", 0)
        return {"object": "list", "data": data or None, "model": self.model,
                "usage": {"prompt_tokens": count, "total_tokens": count}}


def chat_messages(messages: list) -> list[dict]:
    """openai.fromChatRequest's messages: text parts become messages of their own, image parts (data:
    URLs of jpeg/png) images, assistant tool calls Ollama's; ValueError with upstream's message."""
    out: list[dict] = []
    for msg in messages:
        if not isinstance(msg, dict):
            raise ValueError("invalid message format")
        role, content = msg.get("role", ""), msg.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    raise ValueError("invalid message format")
                if part.get("type") == "text":
                    if not isinstance(part.get("text"), str):
                        raise ValueError("invalid message format")
                    out.append({"role": role, "content": part["text"]})
                elif part.get("type") == "image_url":
                    url = part.get("image_url")
                    url = url.get("url") if isinstance(url, dict) else url
                    prefix = next((p for p in ("data:image/jpeg;base64,", "data:image/jpg;base64,",
                                               "data:image/png;base64,") if str(url).startswith(p)), None)
                    if prefix is None:
                        raise ValueError("invalid image input")
                    out.append({"role": role, "content": "", "images": [str(url)[len(prefix):]]})
                else:
                    raise ValueError("invalid message format")
        elif msg.get("tool_calls"):
            calls = []
            for call in msg["tool_calls"]:
                try:
                    arguments = json.loads((call.get("function") or {}).get("arguments") or "")
                except ValueError:
                    raise ValueError("invalid tool call arguments") from None
                calls.append({"function": {"name": (call.get("function") or {}).get("name", ""),
                                           "arguments": arguments}})
            out.append({"role": role, "content": "", "tool_calls": calls})
        else:
            kind = {type(None): "<nil>", int: "float64", float: "float64", bool: "bool",
                    dict: "map[string]interface {}"}
            raise ValueError(f"invalid message content type: {kind.get(type(content), '?')}")
    return out


def common_options(req: dict) -> dict:
    """The sampling options both middlewares map: stop, max_tokens -> num_predict, temperature and top_p
    (1.0 when absent), seed, the penalties."""
    options: dict = {}
    stop = req.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list):
        options["stop"] = [s for s in stop if isinstance(s, str)]
    if req.get("max_tokens") is not None:
        options["num_predict"] = req["max_tokens"]
    options["temperature"] = req.get("temperature") if req.get("temperature") is not None else 1.0
    options["top_p"] = req.get("top_p") or 1.0
    for key in ("seed", "frequency_penalty", "presence_penalty"):
        if req.get(key) is not None:
            options[key] = req[key]
    return options


class OpenAI(Handler):
    """The /v1 routes, a part of Api: each rewrites the request, sets the writer and calls Ollama's handler."""

    def generate(self):
        raise NotImplementedError

    def chat(self):
        raise NotImplementedError

    def embed(self):
        raise NotImplementedError

    def tags(self):
        raise NotImplementedError

    def show(self):
        raise NotImplementedError

    def _openai_request(self) -> dict | None:
        """The body, or None after a 400 in the OpenAI shape (ShouldBindJSON's failure)."""
        if self.body is None or isinstance(self.body, ValueError) or not isinstance(self.body, dict):
            self._send_json(400, openai_error(400, "EOF" if self.body is None else "invalid character in request body"))
            return None
        if not isinstance(self.body.get("model", ""), str):
            self._send_json(400, openai_error(400, "json: cannot unmarshal number into Go struct field .model of "
                                                   "type string"))
            return None
        return self.body

    def v1_chat(self):
        """openai.ChatMiddleware: no messages is a 400 "[] is too short - 'messages'"; response_format
        json_object -> format "json", json_schema -> its schema; `stream` false unless given."""
        req = self._openai_request()
        if req is None:
            return
        if not req.get("messages"):
            return self._send_json(400, openai_error(400, "[] is too short - 'messages'"))
        try:
            messages = chat_messages(req["messages"] if isinstance(req["messages"], list) else [req["messages"]])
        except ValueError as err:
            return self._send_json(400, openai_error(400, str(err)))
        fmt = None
        response_format = as_dict(req.get("response_format"))
        kind = str(response_format.get("type") or "").strip().lower()
        if kind == "json_object":
            fmt = "json"
        elif kind == "json_schema" and isinstance(response_format.get("json_schema"), dict):
            fmt = response_format["json_schema"].get("schema")
        stream = req.get("stream") is True
        self.body = {"model": req.get("model", ""), "messages": messages, "format": fmt,
                     "options": common_options(req), "stream": stream, "tools": req.get("tools")}
        include = bool((req.get("stream_options") or {}).get("include_usage"))
        self.writer = ChatWriter(req.get("model", ""), stream, include)
        self.chat()

    def v1_completions(self):
        """openai.CompletionsMiddleware: `prompt` a string; a `stop` list with a non-string is a 400."""
        req = self._openai_request()
        if req is None:
            return
        stop = req.get("stop")
        if isinstance(stop, list) and not all(isinstance(s, str) for s in stop):
            bad = next(s for s in stop if not isinstance(s, str))
            kind = {int: "float64", float: "float64", bool: "bool"}.get(type(bad), "<nil>")
            return self._send_json(400, openai_error(400, f"invalid type for 'stop' field: {kind}"))
        if not isinstance(req.get("prompt", ""), str):
            return self._send_json(400, openai_error(400, "json: cannot unmarshal array into Go struct field "
                                                          "CompletionRequest.prompt of type string"))
        stream = req.get("stream") is True
        self.body = {"model": req.get("model", ""), "prompt": req.get("prompt", ""), "options": common_options(req),
                     "stream": stream, "suffix": req.get("suffix", "")}
        include = bool((req.get("stream_options") or {}).get("include_usage"))
        self.writer = CompleteWriter(req.get("model", ""), stream, include)
        self.generate()

    def v1_embeddings(self):
        """openai.EmbeddingsMiddleware: "" is [""], no input or an empty list a 400 "invalid input"."""
        req = self._openai_request()
        if req is None:
            return
        value = req.get("input")
        if value == "":
            value = [""]
        if value is None or value == []:
            return self._send_json(400, openai_error(400, "invalid input"))
        self.body = {"model": req.get("model", ""), "input": value}
        self.writer = EmbedWriter(req.get("model", ""))
        self.embed()

    def v1_models(self):
        self.writer = ListWriter()
        self.tags()

    def v1_model(self):
        """openai.RetrieveMiddleware: the path's model, as /api/show answers it (404 when absent)."""
        self.body = {"name": self.param}
        self.writer = RetrieveWriter(self.param)
        self.show()
