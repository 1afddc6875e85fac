"""A stand-in for the fleet's plain-HTTP docker registry (registry:2) on 127.0.0.1: HEAD of
/v2/<repository>/manifests/<tag> answered as registry:2 answers it."""

from __future__ import annotations

import http.server
import re
import threading

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
# what registry:2 answers a client that does not accept schema 2: a schema 1 conversion, another digest
SCHEMA1_DIGEST = "sha256:" + "51" * 32


class Registry:
    """``with Registry({"jetson-ollama/ollama:r36.2.0": "sha256:..."}) as registry:`` serves those
    tags on ``registry.address`` (``127.0.0.1:<port>``) and records ``(method, path)`` in ``requests``."""

    def __init__(self, tags: dict[str, str]):
        self.tags = tags
        self.requests: list[tuple[str, str]] = []
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                registry.requests.append(("HEAD", self.path))
                match = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", self.path)
                digest = registry.tags.get(f"{match[1]}:{match[2]}") if match else None
                if digest is None:
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
                    self.send_header("Content-Length", "96")
                    self.end_headers()
                    return
                accepted = {media.strip() for line in self.headers.get_all("Accept", []) for media in line.split(",")}
                if MANIFEST_V2 not in accepted:
                    digest = SCHEMA1_DIGEST
                self.send_response(200)
                self.send_header("Content-Type", MANIFEST_V2)
                self.send_header("Docker-Content-Digest", digest)
                self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
                self.send_header("Content-Length", "2207")
                self.end_headers()

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Registry:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
