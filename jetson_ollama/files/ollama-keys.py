#!/usr/bin/env python3
"""jetson-ollama's API key check, behind nginx's auth_request (installed by the deploy with ollama_tls).

Listens on 127.0.0.1 only. nginx asks it about every request to the HTTPS API, passing the request's
Authorization header and its method (X-Original-Method): 204 when the header is "Bearer <key>" and
sha256(<key>) is one of the hashes in the keys file, else 401. A CORS preflight (OPTIONS) carries no
credentials and is answered by Ollama itself under OLLAMA_ORIGINS, so it passes (204).

The keys file holds one sha256:<hex> per line (# comments and blank lines ignored). It is read again
whenever it changes (inode, size or mtime), so new keys work at once without a restart of anything.
Every hash is compared, in constant time (hmac.compare_digest). Python 3.8+, standard library only.

The web UI (ollama_webui): a browser cannot send a bearer header, so nginx asks /webui, where a session
cookie also passes, and serves /login from here: a form that takes a key, checks it against the same
hashes and sets the cookie (HttpOnly, Secure, SameSite=Strict). The cookie holds no key: an expiry, a
nonce and an HMAC of both and the key's hash under a secret this process draws at start, so a forged or
altered cookie fails, a rotated-out key's cookies fail at once, and a restart signs every browser out.

    ollama-keys.py --listen 127.0.0.1:11436 --keys /etc/jetson-ollama/api-keys
"""

import argparse
import hashlib
import hmac
import html
import os
import re
import secrets
import sys
import threading
import time
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

HASH = re.compile(r"sha256:([0-9a-f]{64})")
COOKIE = "jetson_ollama_session"
SESSION_SECONDS = 12 * 3600
LOGIN_PATH = "/_jetson_ollama/login"  # as nginx passes it on (the web UI's server block)
MAX_FORM = 4096


class Keys:
    """The hashes of the keys file, read again when the file changes; none while it is missing or unreadable."""

    def __init__(self, path):
        self.path = path
        self.stamp = None
        self.digests = []
        self.lock = threading.Lock()

    def current(self):
        try:
            info = os.stat(self.path)
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        except OSError:
            stamp = None
        with self.lock:
            if stamp != self.stamp:
                self.digests = self._read() if stamp else []
                self.stamp = stamp
            return self.digests

    def _read(self):
        try:
            with open(self.path, encoding="ascii") as keys:
                lines = keys.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"ollama-keys: cannot read {self.path}: {exc}; refusing every key", file=sys.stderr, flush=True)
            return []
        digests = []
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = HASH.fullmatch(line)
            if match:
                digests.append(bytes.fromhex(match.group(1)))
            else:
                print(f"ollama-keys: {self.path}: a line that is not sha256:<hex> is ignored", file=sys.stderr,
                      flush=True)
        return digests

    def admits(self, key):
        """Whether sha256(key) is one of the hashes: every one compared, in constant time."""
        return self.matching(key) is not None

    def matching(self, key):
        """The hash of the keys file that sha256(key) is, or None; every one compared, in constant time."""
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        found = None
        for known in self.current():
            if hmac.compare_digest(digest, known):
                found = known
        return found


class Sessions:
    """Session cookies for the web UI: "<expiry>.<nonce>.<mac>", mac = HMAC-SHA256(secret, hash|expiry|nonce)
    for the hash of the key that logged in; `secret` is drawn at start and never written anywhere."""

    def __init__(self, keys, seconds=SESSION_SECONDS, secret=None):
        self.keys = keys
        self.seconds = seconds
        self.secret = secret or secrets.token_bytes(32)

    def _mac(self, digest, expiry, nonce):
        return hmac.new(self.secret, digest + f"|{expiry}|{nonce}".encode(), hashlib.sha256).hexdigest()

    def issue(self, key, now=None):
        """A cookie value for `key`, or None when the key is not one of the hashes."""
        digest = self.keys.matching(key)
        if digest is None:
            return None
        expiry = int(now if now is not None else time.time()) + self.seconds
        nonce = secrets.token_hex(8)
        return f"{expiry}.{nonce}.{self._mac(digest, expiry, nonce)}"

    def valid(self, value, now=None):
        """Whether a cookie value is one of ours, not expired, for a key still in the keys file."""
        parts = (value or "").split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not re.fullmatch(r"[0-9a-f]{16}", parts[1]):
            return False
        expiry, nonce, mac = int(parts[0]), parts[1], parts[2]
        if expiry < (now if now is not None else time.time()):
            return False
        found = False
        for digest in self.keys.current():
            found |= hmac.compare_digest(self._mac(digest, expiry, nonce), mac)
        return found


def session_cookie(header):
    """Our cookie's value in a Cookie header, or None."""
    try:
        jar = SimpleCookie(header or "")
    except CookieError:
        return None
    return jar[COOKIE].value if COOKIE in jar else None


def safe_next(target):
    """Where the form sends the browser after a login: a path of this site only (never //host or a URL)."""
    target = target or "/"
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


LOGIN_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Open WebUI: API key</title></head>
<body style="font-family: sans-serif; max-width: 28em; margin: 4em auto">
<h1>API key</h1>
<p>This board's web UI takes the same API keys as its HTTPS API.</p>{error}
<form method="post" action="{action}">
<input type="hidden" name="next" value="{next}">
<input type="password" name="key" autocomplete="current-password" autofocus required style="width: 100%">
<p><button type="submit">Continue</button></p>
</form></body></html>
"""


def bearer(header):
    """The token of an Authorization header "Bearer <token>" (the scheme in any case), or None."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def handler_for(keys, sessions=None):
    sessions = sessions or Sessions(keys)

    class Check(BaseHTTPRequestHandler):
        server_version = "ollama-keys"
        sys_version = ""

        def _path(self):
            return urlsplit(self.path).path

        def _answer(self):
            if self._path().startswith(LOGIN_PATH):
                return self._login_form()
            token = bearer(self.headers.get("Authorization"))
            if self._path() == "/webui":  # the web UI: a key as bearer, or our session cookie
                ok = (token is not None and keys.admits(token)) or sessions.valid(
                    session_cookie(self.headers.get("Cookie")))
            else:  # the API: a bearer key; a CORS preflight carries none and goes to Ollama
                method = self.headers.get("X-Original-Method", "")
                ok = method.upper() == "OPTIONS" or (token is not None and keys.admits(token))
            self.send_response(204 if ok else 401)
            if not ok:
                self.send_header("WWW-Authenticate", 'Bearer realm="ollama"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _page(self, status, error="", target="/"):
            body = LOGIN_FORM.format(error=f"\n<p><strong>{html.escape(error)}</strong></p>" if error else "",
                                     action=LOGIN_PATH, next=html.escape(target, quote=True)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _login_form(self):
            query = urlsplit(self.path).query  # nginx sends ?next=$request_uri, itself unencoded
            self._page(200, target=safe_next(unquote(query[len("next="):]) if query.startswith("next=") else "/"))

        def do_POST(self):
            if not self._path().startswith(LOGIN_PATH):
                return self._answer()
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_FORM:
                return self._page(413, "That form is too large.")
            form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            target = safe_next((form.get("next") or ["/"])[0])
            cookie = sessions.issue((form.get("key") or [""])[0].strip())
            if cookie is None:
                return self._page(401, "That key is not one of this board's API keys.", target)
            self.send_response(303)
            self.send_header("Location", target)
            self.send_header("Set-Cookie", f"{COOKIE}={cookie}; Path=/; Max-Age={sessions.seconds}; HttpOnly; "
                                           "Secure; SameSite=Strict")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD = _answer

        def log_message(self, format, *args):
            pass  # no log of requests (nginx has the access log); errors still go to stderr

    return Check


def serve(listen, keys_path):
    """A threading server on listen ("127.0.0.1:PORT"); the caller runs serve_forever()."""
    address, _, port = listen.rpartition(":")
    server = ThreadingHTTPServer((address, int(port)), handler_for(Keys(keys_path)))
    server.daemon_threads = True
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description="API key check for nginx auth_request")
    parser.add_argument("--listen", default="127.0.0.1:11436")
    parser.add_argument("--keys", default="/etc/jetson-ollama/api-keys")
    args = parser.parse_args(argv)
    server = serve(args.listen, args.keys)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
