"""The HTTPS API with keys (`ollama_tls`) on a simulated board over SSH, checked from the controller as a
client would: the CA's certificate, a bearer key (httpx, the `openai` SDK and the `ollama` client), the plain
API shut, CORS as Ollama decides it, a network not allowed dropped, and a key rotated while a model stays
loaded."""

from __future__ import annotations

import hashlib
import json
import secrets
import ssl

import httpx
import ollama
import openai
import pytest

from .conftest import REPO, board_host, fleet_name
from .test_stages import SUPER, changed, converge

pytestmark = pytest.mark.sim

MODELS = ["qwen2.5:0.5b"]
CA = REPO / ".jetson-ollama" / "ca" / "ca.crt"  # the CA of the directory the deploy runs in


@pytest.fixture(scope="module")
def tls_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("s"))
    f.up(1, [SUPER])
    try:
        yield f
    finally:
        f.down()


def site(sim_env, *keys: str) -> dict:
    data = {"ollama_models": MODELS, "ollama_tls": True, "ollama_allow_from": ["10.0.0.0/8"],  # the controller's
            "ollama_api_keys": ["sha256:" + hashlib.sha256(key.encode()).hexdigest() for key in keys]}
    return dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps(data))


def client(key: str | None = None, timeout: float = 30) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(verify=ssl.create_default_context(cafile=str(CA)), headers=headers, timeout=timeout)


def status(url: str, key: str | None = None, timeout: float = 30) -> int:
    with client(key, timeout) as http:
        return http.get(url).status_code


def test_the_https_api_takes_listed_keys_only_and_a_rotation_keeps_the_loaded_model(tls_fleet, sim_env):
    board = next(iter(tls_fleet.boards.values()))
    old, new = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    run = converge(tls_fleet, site(sim_env, old))
    assert run["failed_hosts"] == [], run["stderr"][-3000:]
    api = f"https://{board.ip}:11443"

    assert status(f"{api}/api/tags", old) == 200
    with client(old) as http:
        assert [m["name"] for m in http.get(f"{api}/api/tags").json()["models"]] == MODELS
    assert status(f"{api}/api/tags") == 401
    assert status(f"{api}/api/tags", "not-" + old) == 401
    with pytest.raises(httpx.ConnectError):  # the plain API is on 127.0.0.1 only
        httpx.get(f"http://{board.ip}:11434/api/version", timeout=5)
    trust = ssl.create_default_context(cafile=str(CA))
    sdk = openai.OpenAI(base_url=f"{api}/v1", api_key=old, max_retries=0, timeout=60,
                        http_client=httpx.Client(verify=trust))  # the key goes as the SDK's bearer token
    assert [m.id for m in sdk.models.list()] == MODELS
    chat = sdk.chat.completions.create(model=MODELS[0], messages=[{"role": "user", "content": "Hello"}])
    assert chat.choices[0].finish_reason == "stop" and chat.choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{api}/v1", api_key="not-" + old, max_retries=0, timeout=30,
                      http_client=httpx.Client(verify=trust)).models.list()
    native = ollama.Client(host=api, headers={"Authorization": f"Bearer {old}"}, verify=trust, timeout=60)
    assert [m.model for m in native.list().models] == MODELS
    parts = list(native.generate(model=MODELS[0], prompt="Hi", stream=True, options={"num_predict": 8}))
    assert parts[-1].done and "".join(part.response for part in parts)
    with pytest.raises(ollama.ResponseError) as refused:
        ollama.Client(host=api, verify=trust, timeout=30).list()
    assert refused.value.status_code == 401
    with client() as http:  # a browser's CORS preflight carries no key: Ollama's own rules answer it
        preflight = http.options(f"{api}/v1/chat/completions", headers={
            "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
        foreign = http.options(f"{api}/v1/chat/completions", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert foreign.status_code == 403  # an origin OLLAMA_ORIGINS does not list
    host = board_host(tls_fleet, board)
    assert [line.split()[3] for line in host.check_output("ss -Hltn sport = :11434").splitlines()] == \
        ["127.0.0.1:11434"]
    assert old not in host.check_output("cat /etc/jetson-ollama/api-keys")  # the board keeps hashes only
    jumps = sorted(line for line in host.check_output("iptables -S INPUT").splitlines() if "JETSON-OLLAMA" in line)
    assert jumps == [f"-A INPUT -p tcp -m tcp --dport {port} -j JETSON-OLLAMA" for port in (11434, 11443)]

    with client(old) as http:  # a model loaded for minutes before the rotation
        loaded = http.post(f"{api}/api/generate", json={"model": MODELS[0], "prompt": "", "keep_alive": "10m"})
        assert loaded.status_code == 200, loaded.text
        assert [m["name"] for m in http.get(f"{api}/api/ps").json()["models"]] == MODELS

    rotated = converge(tls_fleet, site(sim_env, new))
    assert rotated["failed_hosts"] == [], rotated["stderr"][-3000:]
    assert [name for name in changed(rotated) if "API keys" in name] and not [
        name for name in changed(rotated) if "container" in name.lower() or "Ollama" in name], changed(rotated)
    assert status(f"{api}/api/tags", old) == 401
    assert status(f"{api}/api/tags", new) == 200
    with client(new) as http:
        assert [m["name"] for m in http.get(f"{api}/api/ps").json()["models"]] == MODELS  # still loaded

    again = converge(tls_fleet, site(sim_env, new))
    assert again["failed_hosts"] == [] and changed(again) == {}

    elsewhere = dict(site(sim_env, new), JETSON_SIM_HOST_DATA=json.dumps(
        {**json.loads(site(sim_env, new)["JETSON_SIM_HOST_DATA"]), "ollama_allow_from": ["192.168.0.0/16"]}))
    moved = converge(tls_fleet, elsewhere)  # the controller's network (10.231.x.x) is no longer listed
    assert moved["failed_hosts"] == [], moved["stderr"][-3000:]
    with pytest.raises(httpx.TimeoutException):  # dropped by the firewall, with the right key too
        status(f"{api}/api/tags", new, timeout=3)
    on_board = host.check_output(f"curl -sk --max-time 5 -o /dev/null -w '%{{http_code}}' "
                                 f"-H 'Authorization: Bearer {new}' {api}/api/tags")
    assert on_board == "200"  # the board itself is still admitted (-k: the CA's file stays on the controller)


def test_back_without_tls_removes_the_proxy_and_its_keys(tls_fleet, sim_env):
    board = next(iter(tls_fleet.boards.values()))
    env = dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps({"ollama_models": MODELS}))
    run = converge(tls_fleet, env)
    assert run["failed_hosts"] == [], run["stderr"][-3000:]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://{board.ip}:11443/api/tags", verify=False, timeout=5)
    host = board_host(tls_fleet, board)
    for path in ("/etc/jetson-ollama/api-keys", "/etc/jetson-ollama/proxy/proxy.key",
                 "/etc/systemd/system/jetson-ollama-proxy.service", "/etc/systemd/system/jetson-ollama-keys.service"):
        assert not host.file(path).exists, path
    assert host.run("iptables -S JETSON-OLLAMA").rc != 0  # no firewall either: the API is on 127.0.0.1
    again = converge(tls_fleet, env)
    assert again["failed_hosts"] == [] and changed(again) == {}
