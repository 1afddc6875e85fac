#!/usr/bin/env python3
"""SIMULATED Open WebUI, what the simulated `open-webui/open-webui` image runs. Not Open WebUI.

Standard library only (the image's own layer over the board base). It answers what a user of the real
one checks first (open-webui/open-webui, docs/facts.md section 9):

- `GET /health`: {"status": true} (the image's HEALTHCHECK reads `.status == true`);
- `GET /`: an HTML page;
- `GET /api/version`: {"version": VERSION};
- `GET /ollama/api/tags`: the Ollama API's /api/tags at OLLAMA_BASE_URL, passed through. Unverified as
  modelled: the real one asks for an Open WebUI login first (WEBUI_AUTH), which this one does not;
- a websocket handshake on `/ws/socket.io/` (101), closed at once: no socket.io protocol after it.

bound to HOST:PORT (start.sh: defaults 0.0.0.0 and 8080), with WEBUI_SECRET_KEY required as start.sh
leaves it (from the environment, or a `.webui_secret_key` it makes in the working directory), and a file
written under DATA_DIR so that the data directory's persistence shows. No memory is registered with the
simulated board: the container runs without the nvidia runtime, which is what mounts the board's
memory bookkeeping into a container (jetson_sim/board/simtools.py GPU_MOUNTS).
"""

import base64
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "0.6.32"
SOCKET_PATH = "/ws/socket.io"  # socketio_path of backend/open_webui/socket/main.py
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Open WebUI</title></head>
<body><div id="app">Open WebUI (simulated)</div><script src="/_app/immutable/entry/start.js"></script></body></html>
"""


def secret_key():
    key = os.environ.get("WEBUI_SECRET_KEY") or os.environ.get("WEBUI_JWT_SECRET_KEY") or ""
    if key:
        return key
    path = ".webui_secret_key"  # start.sh's KEY_FILE, in its working directory
    if not os.path.exists(path):
        with open(path, "w") as out:
            out.write(os.urandom(12).hex() + "\n")
    with open(path) as keyfile:
        return keyfile.read().strip()


class Handler(BaseHTTPRequestHandler):
    server_version = "uvicorn"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # as uvicorn answers; every answer says its length

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _upgrade(self):
        """A websocket handshake on the socket.io path (RFC 6455 section 4.2.2), then closed: enough to show
        that a proxy in front passes the upgrade; no socket.io protocol after it."""
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.close_connection = True

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.rstrip("/") == SOCKET_PATH:
            upgrade = self.headers.get("Upgrade", "").lower() == "websocket" and "upgrade" in self.headers.get(
                "Connection", "").lower()
            if upgrade:
                return self._upgrade()
            return self._json(400, {"code": 3, "message": "Bad request"})  # only websocket (the real one also polls)
        if path == "/health":
            return self._json(200, {"status": True})
        if path == "/api/version":
            return self._json(200, {"version": VERSION})
        if path.startswith("/ollama/"):
            base = os.environ.get("OLLAMA_BASE_URL", "/ollama").rstrip("/")
            try:
                with urllib.request.urlopen(base + path[len("/ollama"):], timeout=10) as answer:
                    return self._json(answer.status, json.loads(answer.read() or b"{}"))
            except (urllib.error.URLError, ValueError, OSError) as exc:
                return self._json(500, {"detail": f"Ollama: {exc}"})
        if path == "/" or not path.startswith(("/api/", "/ws/")):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            return self.wfile.write(PAGE)
        return self._json(404, {"detail": "Not Found"})

    def log_message(self, format, *args):
        pass


def main():
    if os.environ.get("WEBUI_AUTH", "True").lower() == "true" and not secret_key():
        print("Required environment variable not found. Terminating now.", file=sys.stderr)
        return 1
    data_dir = os.environ.get("DATA_DIR", "/app/backend/data")
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, "webui.db"), "a"):
        pass
    host, port = os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print(f"Uvicorn running on http://{host}:{port} (simulated Open WebUI {VERSION})", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
