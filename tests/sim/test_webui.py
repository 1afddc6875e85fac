"""Open WebUI (`ollama_webui`) on a simulated board over SSH, checked from the controller as a browser would:
the CA's certificate, the key's login form and its cookie, the page and Open WebUI's view of Ollama's
models, the API still behind its bearer key; then turned off again."""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import ssl

import httpx
import pytest

from .conftest import REPO, board_host, fleet_name
from .test_board_suite import board_suite
from .test_stages import SUPER, changed, converge

pytestmark = pytest.mark.sim

MODELS = ["qwen2.5:0.5b"]
CA = REPO / ".jetson-ollama" / "ca" / "ca.crt"  # the CA of the directory the deploy runs in


@pytest.fixture(scope="module")
def webui_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("w"))
    f.up(1, [SUPER])
    try:
        yield f
    finally:
        f.down()


def site(sim_env, key: str, webui: bool) -> dict:
    data = {"ollama_models": MODELS, "ollama_tls": True, "ollama_allow_from": ["10.0.0.0/8"],  # the controller's
            "ollama_api_keys": ["sha256:" + hashlib.sha256(key.encode()).hexdigest()], "ollama_webui": webui,
            "ollama_metrics": True, "ollama_preload": "all", "ollama_keep_alive": "-1"}  # every opt-in at once
    return dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps(data))


def browser() -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(CA)), timeout=30)


def test_the_web_ui_takes_the_api_keys_through_a_cookie_and_goes_away_when_turned_off(webui_fleet, sim_env):
    board = next(iter(webui_fleet.boards.values()))
    key = secrets.token_urlsafe(24)
    run = converge(webui_fleet, site(sim_env, key, True))
    assert run["failed_hosts"] == [], run["stderr"][-3000:]
    ui, api = f"https://{board.ip}:11445", f"https://{board.ip}:11443"

    with browser() as http:
        refused = http.get(f"{ui}/")  # no key: sent to the form
        assert refused.status_code == 302, refused.text
        assert "/_jetson_ollama/login?next=/" in refused.headers["location"]
        assert http.get(f"{ui}/ollama/api/tags").status_code == 302
        form = http.get(f"{ui}/_jetson_ollama/login?next=/")
        assert form.status_code == 200 and 'name="key"' in form.text
        wrong = http.post(f"{ui}/_jetson_ollama/login", data={"key": "not-" + key, "next": "/"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        login = http.post(f"{ui}/_jetson_ollama/login", data={"key": key, "next": "/"})
        assert login.status_code == 303 and login.headers["location"] == "/"
        cookie = login.headers["set-cookie"]
        assert all(flag in cookie for flag in ("HttpOnly", "Secure", "SameSite=Strict")) and key not in cookie
        page = http.get(f"{ui}/")
        assert page.status_code == 200 and "Open WebUI" in page.text
        assert http.get(f"{ui}/health").json() == {"status": True}
        assert http.get(f"{ui}/ollama/api/tags").status_code == 403  # past the proxy, Open WebUI's own sign-in
        account = {"name": "Lab", "email": "lab@example.com", "password": secrets.token_urlsafe(12)}
        signed_up = http.post(f"{ui}/api/v1/auths/signup", json=account)
        assert signed_up.status_code == 200 and signed_up.json()["role"] == "admin", signed_up.text
        token = signed_up.json()["token"]
        tags = http.get(f"{ui}/ollama/api/tags", headers={"Authorization": f"Bearer {token}"})  # as its page asks
        assert [m["name"] for m in tags.json()["models"]] == MODELS
        assert http.post(f"{ui}/api/v1/auths/signup", json={**account, "email": "x@example.com"}).status_code == 403
        assert http.get(f"{api}/api/tags").status_code == 401  # the cookie is the web UI's, not the API's
    with browser() as http:  # Open WebUI's token alone does not pass the proxy: the key's cookie is needed too
        assert http.get(f"{ui}/ollama/api/tags", headers={"Authorization": f"Bearer {token}"}).status_code == 302
    name, _, value = cookie.split(";")[0].partition("=")
    with browser() as http:
        http.cookies.set(name, value[:-1] + ("1" if value.endswith("0") else "0"))  # one digit of the MAC changed
        assert http.get(f"{ui}/").status_code == 302
    with browser() as http:
        assert http.get(f"{ui}/", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert http.get(f"{api}/api/tags", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    assert websocket(board.ip, cookie.split(";")[0]).startswith("HTTP/1.1 101 ")  # socket.io's upgrade passes
    assert " 302 " in websocket(board.ip, None).splitlines()[0]  # not without the cookie
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in websocket(board.ip, cookie.split(";")[0])

    host = board_host(webui_fleet, board)
    listening = [line.split()[3] for line in host.check_output("ss -Hltn sport = :11446").splitlines()]
    assert listening == ["127.0.0.1:11446"]  # Open WebUI itself only on loopback
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{board.ip}:11446/health", timeout=5)
    assert key not in host.check_output("docker inspect open-webui")
    assert host.file("/var/lib/jetson-ollama/open-webui.env").mode == 0o600
    jumps = sorted(line for line in host.check_output("iptables -S INPUT").splitlines() if "JETSON-OLLAMA" in line)
    assert jumps == sorted(f"-A INPUT -p tcp -m tcp --dport {port} -j JETSON-OLLAMA"
                           for port in (11434, 11443, 11445, 9100))  # 9100: ollama_metrics
    pulled = host.check_output("docker image inspect --format '{{index .RepoDigests 0}}' "
                               "$(docker ps --filter name=^open-webui$ --format '{{.Image}}')")
    lock = (webui_fleet.dir / "models.lock").read_text()
    digest = pulled.rpartition("@")[2]
    assert digest.startswith("sha256:") and digest in lock  # its digest pinned at the first pull
    assert "open-webui/open-webui:0.6.32" in lock

    suite = board_suite(webui_fleet, site(sim_env, key, True))  # what a user runs against their boards
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    passed = {line.split()[1].split("::")[1].split("[")[0] for line in suite.stdout.splitlines()
              if line.startswith("PASSED ")}
    assert {"test_https_api_takes_only_the_listed_keys", "test_preloaded_models_were_loaded_at_the_last_start",
            "test_metrics_exporter_serves_the_boards_figures", "test_web_ui_answers_behind_the_proxy_only"} <= passed
    scraped = httpx.get(f"http://{board.ip}:9100/metrics", timeout=10)  # metrics on the LAN address with TLS on
    assert scraped.status_code == 200 and "jetson_ollama_memory_total_bytes" in scraped.text
    board_host(webui_fleet, board).check_output("systemctl stop prometheus-node-exporter && "
                                                "docker stop open-webui >/dev/null")  # the suite must name both
    broken = board_suite(webui_fleet, site(sim_env, key, True))
    failed = {line.split()[1].split("::")[1].split("[")[0] for line in broken.stdout.splitlines()
              if line.startswith("FAILED ")}
    assert failed == {"test_metrics_exporter_serves_the_boards_figures", "test_web_ui_answers_behind_the_proxy_only"}, \
        broken.stdout[-3000:]
    repaired = converge(webui_fleet, site(sim_env, key, True))
    assert repaired["failed_hosts"] == [] and changed(repaired), repaired["stderr"][-3000:]

    again = converge(webui_fleet, site(sim_env, key, True))
    assert again["failed_hosts"] == [] and changed(again) == {}, changed(again)

    off = converge(webui_fleet, site(sim_env, key, False))
    assert off["failed_hosts"] == [], off["stderr"][-3000:]
    assert host.run("docker container inspect open-webui").rc != 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{ui}/", verify=False, timeout=5)
    assert host.file("/var/lib/jetson-ollama/open-webui/webui.db").exists  # its data is kept
    assert "lab@example.com" in host.file("/var/lib/jetson-ollama/open-webui/users.json").content_string
    with browser() as http:
        assert http.get(f"{api}/api/tags", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    settled = converge(webui_fleet, site(sim_env, key, False))
    assert settled["failed_hosts"] == [] and changed(settled) == {}, changed(settled)


def websocket(address: str, cookie: str | None) -> str:
    """The head of the answer to a websocket handshake on Open WebUI's socket.io path (RFC 6455's sample key)."""
    lines = ["GET /ws/socket.io/?EIO=4&transport=websocket HTTP/1.1", f"Host: {address}:11445",
             "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13", *([f"Cookie: {cookie}"] if cookie else [])]
    context = ssl.create_default_context(cafile=str(CA))
    with socket.create_connection((address, 11445), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=address) as tls:
        tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = tls.recv(4096)
            if not chunk:
                break
            head += chunk
    return head.split(b"\r\n\r\n")[0].decode(errors="replace").replace("\r\n", "\n")
