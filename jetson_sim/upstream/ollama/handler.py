"""HTTP plumbing in gin's manner: routing by the handler's ROUTES, JSON request bodies, JSON, text and
empty answers, NDJSON over chunked encoding (errors in-stream after the 200), one log line per request.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from .pull import PullError


class Handler(BaseHTTPRequestHandler):
    """The plumbing of Api: ROUTES maps a method and a path to the name of the method that answers."""

    protocol_version = "HTTP/1.1"
    server_version = "ollama-sim"
    disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms delayed-ACK stall
    ROUTES: dict[str, dict[str, str]] = {}

    # -- routing

    def do_HEAD(self):
        self._route()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD

    def _route(self) -> None:
        self.started, self.status = time.monotonic(), 0
        path = urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"
        name = self.ROUTES.get(self.command, {}).get(path)
        try:
            self.body = self._read_body()
            if name is not None:
                getattr(self, name)()
            elif any(path in routes for routes in self.ROUTES.values()):
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
