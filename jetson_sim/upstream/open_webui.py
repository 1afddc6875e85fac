#!/usr/bin/env python3
"""SIMULATED Open WebUI, what the simulated `open-webui/open-webui` image runs. Not Open WebUI.

Standard library only (the image's own layer over the board base). It answers what a user of the real
one checks first (open-webui/open-webui, docs/facts.md section 9):

- `GET /health`: {"status": true} (the image's HEALTHCHECK reads `.status == true`);
- `GET /`: an HTML page;
- `GET /api/version`: {"version": VERSION};
- `POST /api/v1/auths/signup` and `/api/v1/auths/signin` ({name, email, password}): the first account is
  the admin and sign-up closes after it (403 then); the answer holds a token (`token_type` "Bearer") and
  sets the `token` cookie (backend/open_webui/routers/auths.py @00248c92); a wrong password is 400;
- `GET /ollama/api/tags`: the Ollama API's /api/tags at OLLAMA_BASE_URL, passed through, for a signed-in
  user only: the token as `Authorization: Bearer` or the `token` cookie; none is 403 "Not authenticated",
  a token not signed with WEBUI_SECRET_KEY 401 (get_current_user, backend/open_webui/utils/auth.py
  @00d20f64); the token here is an HS256 JWT as there; users are kept in DATA_DIR/users.json;
- a websocket handshake on `/ws/socket.io/` (101), closed at once: no socket.io protocol after it.

bound to HOST:PORT (start.sh: defaults 0.0.0.0 and 8080), with WEBUI_SECRET_KEY required as start.sh
leaves it (from the environment, or a `.webui_secret_key` it makes in the working directory), and a file
written under DATA_DIR so that the data directory's persistence shows. No memory is registered with the
simulated board: the container runs without the nvidia runtime, which is what mounts the board's
memory bookkeeping into a container (jetson_sim/board/simtools.py GPU_MOUNTS).
"""

import base64
import hashlib
import hmac
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


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(user_id):
    """An HS256 JWT {"id": user_id} signed with the secret key, as create_token makes it (no expiry:
    JWT_EXPIRES_IN's default "-1")."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps({"id": user_id}, separators=(",", ":")).encode())
    mac = hmac.new(secret_key().encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def token_user(token):
    """The user id of a token signed with our secret key, else None."""
    try:
        head, body, mac = token.split(".")
        want = _b64(hmac.new(secret_key().encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, want):
            return None
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["id"]
    except (ValueError, KeyError, TypeError):
        return None


def _users_path():
    return os.path.join(os.environ.get("DATA_DIR", "/app/backend/data"), "users.json")


def load_users():
    try:
        with open(_users_path()) as users:
            return json.load(users)
    except (OSError, ValueError):
        return []


def save_users(users):
    path = _users_path()
    with open(path + ".tmp", "w") as out:
        json.dump(users, out)
    os.replace(path + ".tmp", path)


def _password_hash(password, salt):
    return hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), 1000).hex()  # not bcrypt


class Handler(BaseHTTPRequestHandler):
    server_version = "uvicorn"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # as uvicorn answers; every answer says its length

    def _json(self, status, body, cookie=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if cookie:
            self.send_header("Set-Cookie", f"token={cookie}; HttpOnly; Path=/; SameSite=lax")
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
            auth = self.headers.get("Authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
            if token is None:
                cookies = dict(part.strip().partition("=")[::2] for part in self.headers.get("Cookie", "").split(";"))
                token = cookies.get("token") or None
            if token is None:
                return self._json(403, {"detail": "Not authenticated"})
            if token_user(token) not in {user["id"] for user in load_users()}:
                return self._json(401, {"detail": "Your session has expired or the token is invalid. "
                                                  "Please sign in again."})  # ERROR_MESSAGES.INVALID_TOKEN, unverified
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

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        if path not in ("/api/v1/auths/signup", "/api/v1/auths/signin"):
            return self._json(404, {"detail": "Not Found"})
        try:
            form = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            email, password = str(form["email"]).lower(), str(form["password"])
        except (ValueError, KeyError, TypeError):
            return self._json(422, {"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required"}]})
        users = load_users()
        if path.endswith("signup"):
            if users:  # ENABLE_SIGNUP turns False after the first account
                return self._json(403, {"detail": "You do not have permission to access this resource. Please "
                                                  "contact your administrator for assistance."})
            salt = os.urandom(8).hex()
            user = {"id": os.urandom(8).hex(), "email": email, "name": str(form.get("name") or email),
                    "role": "admin", "salt": salt, "hash": _password_hash(password, salt)}
            save_users([user])
        else:
            found = next((u for u in users if u["email"] == email
                         and hmac.compare_digest(u["hash"], _password_hash(password, u["salt"]))), None)
            if found is None:
                return self._json(400, {"detail": "The email or password provided is incorrect. Please check for "
                                                  "typos and try logging in again."})  # INVALID_CRED, unverified
            user = found
        token = make_token(user["id"])
        return self._json(200, {"token": token, "token_type": "Bearer", "expires_at": None, "id": user["id"],
                                "email": user["email"], "name": user["name"], "role": user["role"],
                                "profile_image_url": "/user.png"}, cookie=token)

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
