"""HTTP plumbing in gin's manner: routing by the handler's ROUTES (and PARAM_ROUTES, a path with one
parameter), CORS as Ollama configures it, JSON request bodies, JSON, text and empty answers, NDJSON over
chunked encoding (errors in-stream after the 200), Server-Sent Events for /v1, one log line per request.
An answer goes through the request's `writer` when one is set: the OpenAI layer's translation.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from typing import Any
from http.server import BaseHTTPRequestHandler

from .config import env
from .pull import PullError


# CORS (docs/facts.md section 7): ollama/ollama server/routes.go GenerateRoutes @6a74bba7 (v0.6.8) configures
# gin-contrib/cors v1.7.2 (go.mod) from cors.DefaultConfig() with AllowWildcard, AllowBrowserExtensions, these
# AllowHeaders and AllowOrigins = envconfig.AllowedOrigins() (envconfig/config.go): OLLAMA_ORIGINS (comma
# separated) then http(s)://localhost, 127.0.0.1, 0.0.0.0 with any port and app://, file://, tauri://,
# vscode-webview://, vscode-file:// (all *). The library's side (DefaultConfig's methods, 12 h max age, 204 to
# a preflight, 403 to an origin not allowed, a same-host origin not CORS, "*" allowing all) is as gin-contrib/cors
# v1.7.2 behaves, read from its documentation, not its code (unverified in detail).
CORS_ALLOW_HEADERS = ("Authorization", "Content-Type", "User-Agent", "Accept", "X-Requested-With", "OpenAI-Beta",
                      "x-stainless-arch", "x-stainless-async", "x-stainless-custom-poll-interval",
                      "x-stainless-helper-method", "x-stainless-lang", "x-stainless-os",
                      "x-stainless-package-version", "x-stainless-poll-helper", "x-stainless-retry-count",
                      "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-timeout")
CORS_ALLOW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
CORS_MAX_AGE_S = 12 * 3600


def allowed_origins() -> list[str]:
    """envconfig.AllowedOrigins @6a74bba7."""
    origins = [o for o in env("OLLAMA_ORIGINS").split(",") if o] if env("OLLAMA_ORIGINS") else []
    for host in ("localhost", "127.0.0.1", "0.0.0.0"):
        origins += [f"http://{host}", f"https://{host}", f"http://{host}:*", f"https://{host}:*"]
    return origins + ["app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"]


def origin_allowed(origin: str, origins: list[str]) -> bool:
    """An exact entry, or a wildcard one: the parts before and after its `*` are the origin's prefix and suffix."""
    for allowed in origins:
        if allowed == "*" or allowed == origin:
            return True
        if "*" in allowed:
            head, _, tail = allowed.partition("*")
            if origin.startswith(head) and origin.endswith(tail) and len(origin) >= len(head) + len(tail):
                return True
    return False


def canonical_header(name: str) -> str:
    """Go's http.CanonicalHeaderKey: `x-stainless-os` -> `X-Stainless-Os`, `OpenAI-Beta` -> `Openai-Beta`."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class Handler(BaseHTTPRequestHandler):
    """The plumbing of Api: ROUTES maps a method and a path to the name of the method that answers."""

    protocol_version = "HTTP/1.1"
    server_version = "ollama-sim"
    disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms delayed-ACK stall
    ROUTES: dict[str, dict[str, str]] = {}
    PARAM_ROUTES: dict[str, dict[str, str]] = {}  # method -> {"/api/blobs/": name}: one path segment after it
    writer: Any = None  # the OpenAI layer's translation of this request's answers (compat.py), else None
    cors_headers: list[tuple[str, str]] = []
    param = ""  # the path parameter of a PARAM_ROUTES route
    raw_body = b""

    # -- routing

    def do_HEAD(self):
        self._route()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = do_HEAD

    def _has_route(self, name: str) -> bool:  # noqa: ARG002 - Api's override reads it
        """Does this build serve the route answered by `name`? (Api keys it on the release.)"""
        return True

    def _match(self, method: str, path: str) -> tuple[str | None, str]:
        """(the answering method's name, the path parameter) for a method and path; (None, "") when none."""
        name = self.ROUTES.get(method, {}).get(path)
        if name is not None:
            return (name, "") if self._has_route(name) else (None, "")
        for prefix, name in self.PARAM_ROUTES.get(method, {}).items():
            rest = path[len(prefix):] if path.startswith(prefix) else ""
            if rest and "/" not in rest and self._has_route(name):
                return name, urllib.parse.unquote(rest)
        return None, ""

    def _cors(self) -> bool:
        """CORS before the route, as the middleware runs first: True when it answered (a preflight's 204, a
        403 for an origin not allowed); else the headers an allowed origin's answer carries are set."""
        self.cors_headers = []
        origin = self.headers.get("Origin") or ""
        host = self.headers.get("Host") or ""
        if not origin or origin in (f"http://{host}", f"https://{host}"):
            return False  # not a CORS request
        origins = allowed_origins()
        if not origin_allowed(origin, origins):
            self._empty(403)
            return True
        every = "*" in origins
        if self.command == "OPTIONS":
            self.cors_headers = [("Access-Control-Allow-Methods", ",".join(CORS_ALLOW_METHODS)),
                                 ("Access-Control-Allow-Headers", ",".join(canonical_header(h)
                                                                           for h in CORS_ALLOW_HEADERS)),
                                 ("Access-Control-Max-Age", str(CORS_MAX_AGE_S))]
            if not every:
                self.cors_headers += [("Vary", "Origin"), ("Vary", "Access-Control-Request-Method"),
                                      ("Vary", "Access-Control-Request-Headers")]
        elif not every:
            self.cors_headers = [("Vary", "Origin")]
        self.cors_headers.append(("Access-Control-Allow-Origin", "*" if every else origin))
        if self.command == "OPTIONS":
            self._empty(204)
            return True
        return False

    def end_headers(self) -> None:
        for key, value in self.cors_headers:
            self.send_header(key, value)
        super().end_headers()

    def _route(self) -> None:
        self.started, self.status = time.monotonic(), 0
        self.writer = None  # one handler serves a keep-alive connection's requests: none carries over
        path = urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"
        name, self.param = self._match(self.command, path)
        try:
            self.body = self._read_body()
            if self._cors():
                pass
            elif name is not None:
                getattr(self, name)()
            elif any(self._match(m, path)[0] for m in {*self.ROUTES, *self.PARAM_ROUTES}):
                self._text(405, "405 method not allowed")  # gin with HandleMethodNotAllowed, as Ollama sets it
            else:
                self._text(404, "404 page not found")  # gin's answer for an unknown route
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._log()

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.raw_body = raw
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as err:
            return err

    def _request(self) -> dict | None:
        """The JSON body, or None after answering 400 (gin's messages, roughly)."""
        if self.body is None:
            self._json(400, {"error": "missing request body"})
            return None
        if isinstance(self.body, ValueError) or not isinstance(self.body, dict):
            self._json(400, {"error": "invalid character in request body"})
            return None
        return self.body

    # -- responses

    def _json(self, status: int, doc) -> None:
        if self.writer is not None:
            return self.writer.answer(self, status, doc)
        self._send(status, json.dumps(doc).encode(), "application/json; charset=utf-8")

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _empty(self, status: int = 200) -> None:
        """What gin sends when a handler writes nothing: the status, no body, no Content-Type."""
        self._send(status, b"", None)

    def _send(self, status: int, body: bytes, content_type: str | None) -> None:
        self.status = status
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _stream(self, items) -> None:
        """NDJSON over chunked encoding. An error after the 200 goes in-stream as {"error": ...}
        (docs/facts.md section 5)."""
        if self.writer is not None:
            return self.writer.stream(self, items)
        self.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for item in items:
                self._chunk(json.dumps(item).encode() + b"\n")
        except PullError as err:
            self._chunk(json.dumps({"error": str(err)}).encode() + b"\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _sse(self, events) -> None:
        """Server-Sent Events over chunked encoding: each JSON doc as `data: {...}` and a blank line, a
        str as it is (`[DONE]`): what the OpenAI layer writes (openai/openai.go @6a74bba7)."""
        self.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            text = event if isinstance(event, str) else json.dumps(event)
            self._chunk(f"data: {text}\n\n".encode())
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, doc) -> None:
        """JSON as it is, past the writer (json.Encoder's trailing newline, as the OpenAI layer writes)."""
        self._send(status, json.dumps(doc).encode() + b"\n", "application/json")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def log_request(self, code="-", size="-"):
        pass  # _log writes one gin-style line per request instead

    def _log(self) -> None:
        elapsed = (time.monotonic() - self.started) * 1000
        sys.stderr.write(f"[GIN] {time.strftime('%Y/%m/%d - %H:%M:%S')} | {self.status:3d} | {elapsed:10.3f}ms |"
                         f" {self.client_address[0]:>15} | {self.command:<7} \"{self.path}\"\n")
        sys.stderr.flush()
