"""The key verifier's web UI side (files/ollama-keys.py, ollama_webui): the login form, the session cookie
it sets for a listed key only, that cookie passing /webui (and never the API), and a cookie altered,
expired, or of a key rotated out failing. A real server on 127.0.0.1, asked over HTTP as nginx asks it."""

from __future__ import annotations

import http.client
import os
import threading
import urllib.parse

import pytest

from .test_tls_verifier import _module, digest

MODULE = _module()


@pytest.fixture
def verifier(tmp_path):
    keys = tmp_path / "api-keys"
    keys.write_text(f"{digest('alpha-key')}\n{digest('beta-key')}\n")
    server = MODULE.serve("127.0.0.1:0", str(keys))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], keys
    finally:
        server.shutdown()
        server.server_close()


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read().decode()
    finally:
        conn.close()


def login(port, key, target="/"):
    form = urllib.parse.urlencode({"key": key, "next": target})
    return request(port, "POST", MODULE.LOGIN_PATH, form, {"Content-Type": "application/x-www-form-urlencoded"})


def cookie_of(headers) -> str:
    return headers["set-cookie"].split(";")[0]


def test_the_form_is_served_with_where_to_go_after(verifier):
    port, _ = verifier
    status, headers, body = request(port, "GET", f"{MODULE.LOGIN_PATH}?next=/c/123?x=1&y=2")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert 'name="key"' in body and 'value="/c/123?x=1&amp;y=2"' in body


def test_the_right_key_sets_a_secure_cookie_that_holds_no_key(verifier):
    port, _ = verifier
    status, headers, _ = login(port, "alpha-key", "/c/123")
    assert status == 303 and headers["location"] == "/c/123"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"{MODULE.COOKIE}=")
    for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/", f"Max-Age={MODULE.SESSION_SECONDS}"):
        assert flag in cookie
    assert "alpha-key" not in cookie and digest("alpha-key")[7:] not in cookie


def test_a_wrong_key_sets_no_cookie(verifier):
    port, _ = verifier
    for key in ("wrong-key", "", digest("alpha-key")):
        status, headers, body = login(port, key)
        assert status == 401 and "set-cookie" not in headers and "not one of this board" in body


def test_the_cookie_passes_the_web_ui_and_not_the_api(verifier):
    port, _ = verifier
    cookie = cookie_of(login(port, "beta-key")[1])
    assert request(port, "GET", "/webui", headers={"Cookie": f"token=abc; {cookie}"})[0] == 204
    assert request(port, "GET", "/webui")[0] == 401
    assert request(port, "GET", "/", headers={"Cookie": cookie})[0] == 401  # the API takes bearer keys only
    assert request(port, "GET", "/webui", headers={"Authorization": "Bearer alpha-key"})[0] == 204


def test_a_tampered_forged_or_expired_cookie_fails(verifier):
    port, _ = verifier
    cookie = cookie_of(login(port, "alpha-key")[1])
    name, _, value = cookie.partition("=")
    expiry, nonce, mac = value.split(".")
    for bad in (f"{expiry}.{nonce}.{mac[:-1]}{'0' if mac[-1] != '0' else '1'}",  # the MAC altered
                f"{int(expiry) + 3600}.{nonce}.{mac}",  # a later expiry, same MAC
                f"{expiry}.{'0' * 16}.{mac}", "garbage", f"{expiry}.{nonce}"):
        assert request(port, "GET", "/webui", headers={"Cookie": f"{name}={bad}"})[0] == 401, bad
    sessions = MODULE.Sessions(MODULE.Keys(os.devnull), seconds=60)
    assert not sessions.valid(sessions.issue("x") or "")  # no keys: no cookie at all
    keys = MODULE.Keys(str(verifier[1]))
    old = MODULE.Sessions(keys, seconds=60)
    issued = old.issue("alpha-key", now=1_000)
    assert old.valid(issued, now=1_059) and not old.valid(issued, now=1_061)
    assert not MODULE.Sessions(keys, seconds=60).valid(issued, now=1_000)  # another process's secret


def test_a_key_rotated_out_ends_its_sessions(verifier):
    port, keys = verifier
    cookie = cookie_of(login(port, "alpha-key")[1])
    assert request(port, "GET", "/webui", headers={"Cookie": cookie})[0] == 204
    new = keys.with_name("api-keys.new")
    new.write_text(f"{digest('beta-key')}\n")
    os.replace(new, keys)
    assert request(port, "GET", "/webui", headers={"Cookie": cookie})[0] == 401


@pytest.mark.parametrize("target, sent", [
    ("/c/1", "/c/1"), ("//evil.example/", "/"), ("https://evil.example/", "/"), ("evil", "/"), ("/\\evil", "/"),
])
def test_after_the_login_the_browser_stays_on_this_site(verifier, target, sent):
    port, _ = verifier
    assert login(port, "alpha-key", target)[1]["location"] == sent
