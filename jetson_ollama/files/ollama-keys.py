#!/usr/bin/env python3
"""jetson-ollama's API key check, behind nginx's auth_request (installed by the deploy with ollama_tls).

Listens on 127.0.0.1 only. nginx asks it about every request to the HTTPS API, passing the request's
Authorization header and its method (X-Original-Method): 204 when the header is "Bearer <key>" and
sha256(<key>) is one of the hashes in the keys file, else 401. A CORS preflight (OPTIONS) carries no
credentials and is answered by Ollama itself under OLLAMA_ORIGINS, so it passes (204).

The keys file holds one sha256:<hex> per line (# comments and blank lines ignored). It is read again
whenever it changes (inode, size or mtime), so new keys work at once without a restart of anything.
Every hash is compared, in constant time (hmac.compare_digest). Python 3.8+, standard library only.

    ollama-keys.py --listen 127.0.0.1:11436 --keys /etc/jetson-ollama/api-keys
"""

import argparse
import hashlib
import hmac
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HASH = re.compile(r"sha256:([0-9a-f]{64})")


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
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        found = False
        for known in self.current():
            found |= hmac.compare_digest(digest, known)
        return found


def bearer(header):
    """The token of an Authorization header "Bearer <token>" (the scheme in any case), or None."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def handler_for(keys):
    class Check(BaseHTTPRequestHandler):
        server_version = "ollama-keys"
        sys_version = ""

        def _answer(self):
            method = self.headers.get("X-Original-Method", "")
            token = bearer(self.headers.get("Authorization"))
            ok = method.upper() == "OPTIONS" or (token is not None and keys.admits(token))
            self.send_response(204 if ok else 401)
            if not ok:
                self.send_header("WWW-Authenticate", 'Bearer realm="ollama"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD = do_POST = _answer

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
