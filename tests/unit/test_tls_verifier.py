"""The API key verifier (files/ollama-keys.py) as nginx's auth_request meets it: a real server on
127.0.0.1, asked over HTTP, with its keys file rewritten under it."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "jetson_ollama" / "files" / "ollama-keys.py"


def _module():
    spec = importlib.util.spec_from_file_location("ollama_keys", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture
def verifier(tmp_path):
    keys = tmp_path / "api-keys"
    keys.write_text(f"# comment\n\n{digest('alpha-key')}\n{digest('beta-key')}\n")
    server = _module().serve("127.0.0.1:0", str(keys))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", keys
    finally:
        server.shutdown()
        server.server_close()


def ask(url: str, authorization: str | None = None, method: str = "GET") -> tuple[int, dict]:
    headers = {"X-Original-Method": method}
    if authorization is not None:
        headers["Authorization"] = authorization
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as answer:
            return answer.status, dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_a_listed_key_passes_and_others_get_401_with_a_bearer_challenge(verifier):
    url, _ = verifier
    assert ask(url, "Bearer alpha-key")[0] == 204
    assert ask(url, "bearer   beta-key ")[0] == 204  # the scheme in any case, spaces around the token
    for header in (None, "", "Bearer", "Bearer wrong-key", "Basic YWxwaGEta2V5", "alpha-key",
                   f"Bearer {digest('alpha-key')}"):  # the hash itself is not a key
        status, headers = ask(url, header)
        assert status == 401, header
        assert headers.get("WWW-Authenticate") == 'Bearer realm="ollama"'


def test_a_cors_preflight_passes_without_a_key(verifier):
    url, _ = verifier
    assert ask(url, None, method="OPTIONS")[0] == 204
    assert ask(url, None, method="POST")[0] == 401


def test_a_rewritten_keys_file_is_read_again_without_a_restart(verifier):
    url, keys = verifier
    assert ask(url, "Bearer alpha-key")[0] == 204
    new = keys.with_name("api-keys.new")
    new.write_text(f"{digest('gamma-key')}\n")
    os.replace(new, keys)  # as a file put does: a new inode
    assert ask(url, "Bearer alpha-key")[0] == 401
    assert ask(url, "Bearer gamma-key")[0] == 204
    stat = keys.stat()
    keys.write_text(f"{digest('delta-key')}\n")  # rewritten in place, same size, same inode
    os.utime(keys, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert ask(url, "Bearer delta-key")[0] == 204 and ask(url, "Bearer gamma-key")[0] == 401


def test_no_keys_file_or_a_bad_line_admits_nobody_else(verifier):
    url, keys = verifier
    keys.write_text(f"not-a-hash\n{digest('alpha-key')}\n")
    assert ask(url, "Bearer alpha-key")[0] == 204
    assert ask(url, "Bearer not-a-hash")[0] == 401
    keys.unlink()
    assert ask(url, "Bearer alpha-key")[0] == 401


def test_the_script_runs_as_installed_with_its_listen_and_keys_arguments(tmp_path):
    keys = tmp_path / "api-keys"
    keys.write_text(digest("alpha-key") + "\n")
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--listen", f"127.0.0.1:{port}", "--keys", str(keys)],
                            stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                status = ask(url, "Bearer alpha-key")[0]
                break
            except urllib.error.URLError:
                time.sleep(0.05)
        assert status == 204
        assert ask(url, "Bearer beta-key")[0] == 401
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_the_script_is_python_3_8_syntax():
    import ast

    ast.parse(SCRIPT.read_text(), feature_version=(3, 8))
