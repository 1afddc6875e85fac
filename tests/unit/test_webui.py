"""ollama_webui on the controller: its settings' checks (one line each, off by default), the plan's
decisions and refusals (the image and its pin, the ports, the memory it adds to each model's fit), the
nginx server it adds to the proxy, the firewall's ports and the --dry lines."""

from __future__ import annotations

import hashlib

import pytest

from jetson_ollama import explain, lock, webui
from jetson_ollama.config import problems, settings
from jetson_ollama.operations import proxy

from .test_plan import DOCKER, make

HASH = "sha256:" + hashlib.sha256(b"alpha-key").hexdigest()
IMAGE = "ghcr.io/open-webui/open-webui:0.6.32"
DIGEST = "sha256:" + "ab" * 32
ON = {"ollama_models": ["qwen2.5:0.5b"], "ollama_tls": True, "ollama_api_keys": [HASH],
      "ollama_allow_from": ["10.0.0.0/8"], "ssh_hostname": "10.0.0.5", "ollama_webui": True}
FACTS = {"LanAddresses": ["10.0.0.5"], "NginxBuild": {"version": "1.18.0", "ssl": True, "auth_request": True,
                                                      "packaged_service": "masked"}}


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the CA of the working directory, and models.lock
    return tmp_path


# ---- settings

def test_the_web_ui_is_off_by_default_and_pinned_to_a_version():
    cfg = settings({})
    assert (cfg.ollama_webui, cfg.ollama_webui_port, cfg.ollama_webui_image) == (False, 11445, IMAGE)
    assert problems({"ollama_webui": False}) == []


@pytest.mark.parametrize("data, line", [
    ({"ollama_webui": True}, "ollama_webui: needs ollama_tls"),
    ({**ON, "ollama_webui_port": 11443}, "ollama_webui_port: is ollama_tls_port: choose another"),
    ({**ON, "ollama_webui_port": 11434}, "ollama_webui_port: is the API's own port (ollama_host)"),
    ({**ON, "ollama_webui_port": 11446}, "ollama_webui_port: is Open WebUI's own port on 127.0.0.1"),
    ({**ON, "ollama_webui_port": 11436}, "ollama_webui_port: is the key verifier's port"),
    ({**ON, "ollama_webui_image": "ghcr.io/open-webui/open-webui:main"}, "ollama_webui_image: must name a version"),
    ({**ON, "ollama_webui_image": "ghcr.io/open-webui/open-webui"}, "ollama_webui_image: must be an image reference"),
    ({**ON, "ollama_webui": "yes"}, "ollama_webui: must be True or False"),
])
def test_bad_web_ui_settings_are_one_line_each(data, line):
    found = problems(data)
    assert len(found) == 1 and found[0].startswith(line), found


# ---- the plan

def test_the_plan_holds_the_container_its_port_and_its_memory(workdir):
    made = make(ON, **FACTS)
    assert made.refusal is None, made.refusal
    ui = made.webui
    assert (ui.image, ui.digest, ui.present, ui.listen) == (IMAGE, None, False, "10.0.0.5:11445")
    assert ui.env == {"HOST": "127.0.0.1", "PORT": "11446", "OLLAMA_BASE_URL": "http://127.0.0.1:11434",
                      "WEBUI_AUTH": "True", "DATA_DIR": "/app/backend/data"}
    assert made.firewall_ports == [11443, 11445, 11434]
    off = make({**ON, "ollama_webui": False}, **FACTS)
    assert off.webui is None and off.firewall_ports == [11443, 11434]
    # the web UI's memory is in the model's estimate, over the OS baseline
    with_ui, without = made.verdicts[0].estimate, off.verdicts[0].estimate
    assert with_ui.total_bytes - without.total_bytes == ui.memory_mb * 1024 * 1024 == webui.memory_bytes()


def test_a_model_that_fits_alone_is_refused_with_the_web_ui_before_any_change(workdir):
    data = {**ON, "ollama_models": ["qwen2.5:7b"], "ollama_context_length": 4096}
    alone = make({**data, "ollama_webui": False}, **FACTS)
    assert alone.refusal is None and alone.verdicts[0].estimate.tier == "yellow"
    made = make(data, **FACTS)
    assert made.refusal and made.refusal.startswith(
        f"qwen2.5:7b with Open WebUI ({webui.figures()['memory_mb']} MB) needs about "), made.refusal
    assert "red" in made.refusal and not (workdir / "models.lock").exists()


def test_a_pinned_image_the_board_holds_as_another_digest_is_refused(workdir):
    lock.pin("models.lock", "images", IMAGE, DIGEST)
    present = [{"ref": IMAGE, "id": "sha256:" + "11" * 32, "digest": "sha256:" + "cd" * 32}]
    made = make(ON, **FACTS, DockerImages=present)
    assert made.refusal == f"{IMAGE} on the board is sha256:cdcdcdcdcdcd, models.lock pins sha256:abababababab " \
                           "(the tag moved?)"
    same = make(ON, **FACTS, DockerImages=[{**present[0], "digest": DIGEST}])
    assert same.refusal is None and same.webui.present and same.webui.digest == DIGEST and same.pins == []


def test_the_disk_must_hold_both_images_when_both_are_pulled():
    made = make(ON, **FACTS, DiskFree=7_000)  # the Ollama image's pull alone would fit
    alone = make({**ON, "ollama_webui": False}, **FACTS, DiskFree=7_000)
    assert alone.refusal is None, alone.refusal
    need = settings({}).jetson_pull_min_free_gb + webui.figures()["image_gb"]
    assert made.refusal and made.refusal.startswith("7.0 GB free on /var/lib/docker, the prebuilt of ") and \
        made.refusal.endswith(f" and the pull of {IMAGE} needs {need:g} GB"), made.refusal


def test_an_image_present_but_not_pinned_is_pinned_by_the_plan(workdir):
    made = make(ON, **FACTS, DockerImages=[{"ref": IMAGE, "id": "sha256:" + "11" * 32, "digest": DIGEST}])
    assert made.refusal is None and ("images", IMAGE, DIGEST) in made.pins


@pytest.mark.parametrize("facts, refusal", [
    ({"PortListener": lambda port=11434: [{"address": "*", "port": port, "process": "caddy"}] if port == 11445
      else []}, "ollama_webui_port 11445 is already taken by caddy on *"),
    ({"PortListener": lambda port=11434: [{"address": "127.0.0.1", "port": port, "process": "python3"}]
      if port == 11446 else []}, "port 11446, Open WebUI's own on 127.0.0.1, is taken by another process"),
    ({"DiskFree": 3000}, f"3.0 GB free on /var/lib/docker, the pull of {IMAGE} needs 5 GB"),
    ({"DockerState": {**DOCKER, "running": False}}, "the docker daemon does not answer"),
])
def test_what_the_web_ui_cannot_have_is_refused_in_the_plan(facts, refusal):
    made = make(ON, **{**FACTS, **facts})
    assert made.refusal and made.refusal.startswith(refusal), made.refusal
    assert made.webui is None


def test_the_native_runtime_without_docker_is_refused_for_the_web_ui():
    from jetson_ollama.plan import _webui_problem

    class NoDocker:
        def get_fact(self, fact, **kwargs):
            return {"installed": False, "running": False}
    assert _webui_problem(NoDocker(), settings(ON), make(ON, **FACTS)).startswith(
        "ollama_webui runs Open WebUI in a container: docker is not installed")


def test_an_offline_bundle_is_refused_for_the_web_ui():
    from jetson_ollama.plan import _webui_problem

    from .test_plan import Board

    cfg = settings({**ON, "jetson_bundle": "/srv/site.tar"})
    assert _webui_problem(Board(ON, **FACTS), cfg, make(ON, **FACTS)) == (
        "ollama_webui: an offline bundle (jetson_bundle) does not carry the Open WebUI image")


# ---- the proxy and --dry

def test_the_proxy_adds_a_second_server_with_the_cookie_check_and_the_websocket():
    api_only = proxy.proxy_conf("10.0.0.5:11443", "127.0.0.1:11434")
    assert "11445" not in api_only and "webui" not in api_only and "Upgrade" not in api_only
    conf = proxy.proxy_conf("10.0.0.5:11443", "127.0.0.1:11434", webui_listen="10.0.0.5:11445",
                            webui_upstream="127.0.0.1:11446")
    server = conf[conf.index("listen 10.0.0.5:11445 ssl;"):]
    assert server.count("auth_request /_jetson_ollama_webui_keys;") == 2  # / and /ws/socket.io
    assert "proxy_pass http://127.0.0.1:11436/webui;" in server and "proxy_set_header Cookie $http_cookie;" in server
    assert "error_page 401 = @jetson_ollama_login;" in server
    assert "return 302 /_jetson_ollama/login?next=$request_uri;" in server
    assert "location /ws/socket.io {" in server and "proxy_set_header Upgrade $http_upgrade;" in server
    assert "proxy_pass http://127.0.0.1:11446;" in server
    api = conf[:conf.index("listen 10.0.0.5:11445 ssl;")]
    assert 'proxy_set_header Authorization "";' in api and "Cookie" not in api  # the API: bearer keys only


def test_dry_says_the_image_the_container_and_the_memory(workdir):
    made = make(ON, **FACTS)
    lines = explain.narrate(made, explain.Current()).lines
    assert f"Open WebUI image {IMAGE}: pull about 5 GB on disk, its digest pinned at the first pull" in lines
    assert [line for line in lines if line.startswith("container open-webui: run, served at https://10.0.0.5:11445")
            and "1000 MB counted in each model's fit, unverified" in line], lines
    assert "Open WebUI container run" in lines[-1]
    assert not [line for line in explain.narrate(make({**ON, "ollama_webui": False}, **FACTS),
                                                 explain.Current()).lines if "Open WebUI" in line]
