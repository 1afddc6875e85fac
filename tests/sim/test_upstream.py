"""The simulated upstream, used from boards exactly as a connected Jetson uses the real one.

Recorded behaviour (docs/facts.md section 4-6): no `ollama:latest`; `jetson-containers run` forces /data and a
TTY; image names per jetson-containers commit; Ollama errors inside HTTP 200; models too big fail to load.
"""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import pytest

from .conftest import board_host, board_of

pytestmark = pytest.mark.sim

NANO, SUPER = "orin-nano-8gb-r36.2.0", "orin-nano-super-r36.4.3"
JC = "/opt/jetson-containers"


def upstream(fleet):
    from jetson_sim.upstream.services import Upstream

    return Upstream(fleet)


def registry_hook(fleet, method: str, path: str, body: dict | None = None) -> dict:
    resp = httpx.request(method, upstream(fleet).ollama_registry_url + path, json=body, timeout=10)
    resp.raise_for_status()
    return resp.json()


@pytest.fixture(scope="module")
def checkout(fleet):
    """jetson-containers cloned from the simulated git server and installed on both Orin Nanos."""
    url = upstream(fleet).git_url
    for profile in (NANO, SUPER):
        host = board_host(fleet, board_of(fleet, profile))
        host.check_output(f"rm -rf {JC} && git clone -q {url} {JC} && bash {JC}/install.sh </dev/null >/dev/null 2>&1")
        assert host.file("/usr/local/bin/autotag").is_symlink
    return url


def start_ollama(host, image: str, *, name="ollama", jetpack: str | None = "6", extra: str = "") -> None:
    env = f"-e JETSON_JETPACK={jetpack}" if jetpack else ""
    host.check_output(f"docker rm -f {name} >/dev/null 2>&1; docker pull -q {image} >/dev/null && "
                      f"docker run -d --name {name} --runtime nvidia --network host {env} {extra} "
                      f"-e OLLAMA_HOST=127.0.0.1:11434 -e OLLAMA_MODELS=/models -v /opt/ollama/models:/models "
                      f"{image} ollama serve >/dev/null")
    host.check_output("for i in $(seq 100); do curl -fs http://127.0.0.1:11434/api/version && exit 0; "
                      "sleep 0.1; done; exit 1")


def api(host, path: str, body: dict | None = None) -> list[dict]:
    """POST (or GET) on the board's loopback API; every NDJSON line, parsed."""
    data = f"-d '{json.dumps(body)}'" if body is not None else ""
    out = host.check_output(f"curl -sS http://127.0.0.1:11434{path} {data}")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_docker_pulls_go_through_the_mirror(fleet):
    host = board_host(fleet, board_of(fleet, NANO))
    host.check_output("docker rmi -f dustynv/ollama:r36.2.0 >/dev/null 2>&1; true")
    assert "Downloaded newer image for dustynv/ollama:r36.2.0" in \
        host.check_output("docker pull dustynv/ollama:r36.2.0")
    # the image as recorded: models under /data, and a CMD that needs a TTY (docs/facts.md section 4)
    env = host.check_output("docker image inspect -f '{{json .Config.Env}}' dustynv/ollama:r36.2.0")
    assert "OLLAMA_MODELS=/data/models/ollama/models" in env and "OLLAMA_HOST=0.0.0.0" in env
    missing = host.run("docker pull dustynv/ollama:latest")  # there is never a `latest`
    assert missing.rc != 0 and "registry-1.docker.io" in missing.stderr  # offline: no route beyond the mirror


def test_jetson_containers_build_names_per_commit(fleet, checkout):
    nano = board_host(fleet, board_of(fleet, NANO))
    out = nano.check_output(f"cd {JC} && jetson-containers build --skip-tests=all ollama 2>&1 </dev/null")
    assert "ollama:r36.2.0-cu122-22.04" in out
    assert nano.run("docker image inspect ollama:r36.2.0-cu122-22.04").rc == 0

    # each commit stands for an upstream one and names the r36.4.3 board's build as that one did
    commits = json.loads((upstream(fleet).dir / "state.json").read_text())["commits"]
    board = board_host(fleet, board_of(fleet, SUPER))
    for key, name in [("2262004f", "ollama:r36.4.3"), ("119c26f2", "ollama:r36.4"),
                      ("55b14897", "ollama:r36.4-cu126-22.04"),
                      ("pin", "ollama:r36.4.tegra-aarch64-cu126-22.04")]:
        board.check_output(f"git -C {JC} checkout -q {commits[key]}")
        board.check_output(f"cd {JC} && jetson-containers build --skip-tests=all ollama </dev/null >/dev/null 2>&1")
        assert board.run(f"docker image inspect {name}").rc == 0, f"{key}: no {name}"
        assert board.run(f"docker image inspect {name}-ollama").rc == 0  # the build stage's own tag
    # a version: the stage is <image>-ollama_<version>, and the image's Ollama reports that version
    image = "ollama:0.5.5-r36.4.tegra-aarch64-cu126-22.04"
    board.check_output(f"cd {JC} && jetson-containers build --skip-tests=all ollama:0.5.5 </dev/null >/dev/null 2>&1")
    assert board.run(f"docker image inspect {image}-ollama_0.5.5").rc == 0
    assert "OLLAMA_SIM_VERSION=0.5.5" in \
        board.check_output(f"docker image inspect -f '{{{{json .Config.Env}}}}' {image}")
    # without --skip-tests the build's test needs the internet, and fails on an offline board
    test = board.run(f"cd {JC} && jetson-containers build ollama </dev/null")
    assert test.rc != 0 and "registry.ollama.ai" in test.stdout + test.stderr


def test_jetson_containers_run_fails_as_recorded(fleet, checkout):
    host = board_host(fleet, board_of(fleet, SUPER))
    image = "ollama:r36.4.tegra-aarch64-cu126-22.04"
    notty = host.run(f"jetson-containers run {image} true </dev/null")
    assert notty.rc != 0 and "the input device is not a TTY" in notty.stdout + notty.stderr
    # under a terminal: no `latest`, and a second /data mount clashes with the forced one
    latest = host.run("script -qec 'jetson-containers run ollama true' /dev/null")
    assert latest.rc != 0 and "Unable to find image 'ollama:latest' locally" in latest.stdout
    clash = host.run(f"script -qec 'jetson-containers run -v /tmp:/data {image} true' /dev/null")
    assert clash.rc != 0 and "Duplicate mount point: /data" in clash.stdout


def test_model_pull_progress_digests_resume_and_corruption(fleet):
    board = board_of(fleet, SUPER)
    host = board_host(fleet, board)
    start_ollama(host, "dustynv/ollama:0.6.8-r36.4-cu126-22.04")
    registry_hook(fleet, "POST", "/_sim/reset")

    lines = api(host, "/api/pull", {"model": "qwen2.5:1.5b"})
    assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}
    progress = [ln for ln in lines if ln.get("total") and "completed" in ln]
    assert progress and progress[-1]["completed"] == progress[-1]["total"]
    assert {"status": "verifying sha256 digest"} in lines
    store = "/opt/ollama/models"
    manifest = host.file(f"{store}/manifests/registry.ollama.ai/library/qwen2.5/1.5b").content
    for layer in json.loads(manifest)["layers"]:  # every blob's bytes match its digest
        hexdigest = layer["digest"].split(":")[1]
        assert host.check_output(f"sha256sum {store}/blobs/sha256-{hexdigest}").split()[0] == hexdigest
    tags = {m["name"]: m for m in api(host, "/api/tags")[0]["models"]}
    assert tags["qwen2.5:1.5b"]["digest"] == hashlib.sha256(manifest).hexdigest()
    stats = registry_hook(fleet, "GET", "/_sim/stats")
    served = stats["bytes_by_client"][board.ip]
    assert served >= sum(la["size"] for la in json.loads(manifest)["layers"])

    # a link cut mid-blob: an error inside the 200 stream, a partial file, then a resumed pull
    registry_hook(fleet, "POST", "/_sim/cut", {"after_bytes": 1_000_000, "count": 1})
    cut = api(host, "/api/pull", {"model": "qwen2.5:7b"})
    assert "error" in cut[-1]
    assert host.check_output(f"ls {store}/blobs | grep -c -- -partial") == "1"
    before = registry_hook(fleet, "GET", "/_sim/stats")["bytes_by_client"][board.ip]
    assert api(host, "/api/pull", {"model": "qwen2.5:7b"})[-1] == {"status": "success"}
    resumed = registry_hook(fleet, "GET", "/_sim/stats")["bytes_by_client"][board.ip] - before
    assert resumed < 4_700_000  # the 4.7 MB (scaled) model layer was not downloaded again in full
    assert host.run(f"ls {store}/blobs | grep -- -partial").rc == 1

    # a corrupted blob is rejected and not kept
    registry_hook(fleet, "POST", "/_sim/corrupt", {"model": "qwen2.5:0.5b", "count": 1})
    bad = api(host, "/api/pull", {"model": "qwen2.5:0.5b"})
    assert "digest mismatch" in bad[-1].get("error", "")
    assert "qwen2.5:0.5b" not in {m["name"] for m in api(host, "/api/tags")[0]["models"]}
    assert api(host, "/api/pull", {"model": "qwen2.5:0.5b"})[-1] == {"status": "success"}
    # a second pull of what is there downloads no blob again
    before = registry_hook(fleet, "GET", "/_sim/stats")["bytes_by_client"][board.ip]
    assert api(host, "/api/pull", {"model": "qwen2.5:1.5b"})[-1] == {"status": "success"}
    after = registry_hook(fleet, "GET", "/_sim/stats")["bytes_by_client"][board.ip]
    assert after - before < 10_000  # the manifest only


def test_old_image_is_refused_new_models(fleet):
    host = board_host(fleet, board_of(fleet, NANO))
    start_ollama(host, "dustynv/ollama:r36.2.0")
    # built from a shallow clone before jetson-containers stamped 0.0.0: a bare git hash, no release
    from jetson_sim.upstream.images import PREBUILT_OLLAMA

    assert api(host, "/api/version")[0]["version"] == PREBUILT_OLLAMA["r36.2.0"]
    error = api(host, "/api/pull", {"model": "qwen3:1.7b"})[-1]["error"]
    assert "412" in error and "requires a newer version of Ollama" in error


def test_generate_speed_memory_and_gpu(fleet):
    nano = board_host(fleet, board_of(fleet, NANO))
    start_ollama(nano, "dustynv/ollama:r36.2.0")
    assert api(nano, "/api/pull", {"model": "qwen2.5:7b"})[-1] == {"status": "success"}
    idle = int(nano.check_output("awk '/MemAvailable/ {print $2}' /proc/meminfo"))
    final = api(nano, "/api/generate", {"model": "qwen2.5:7b", "prompt": "Why is the sky blue?",
                                        "stream": False, "options": {"num_predict": 64}})[0]
    tokens_per_s = final["eval_count"] / final["eval_duration"] * 1e9
    assert 9.1 <= tokens_per_s <= 9.7  # docs/facts.md section 6: qwen2.5:7b through Ollama on an Orin Nano
    loaded = api(nano, "/api/ps")[0]["models"][0]
    assert loaded["size_vram"] == loaded["size"] > 4_700_000_000  # fully on the GPU
    available = int(nano.check_output("awk '/MemAvailable/ {print $2}' /proc/meminfo"))
    assert idle - available > 4_500_000  # kB: the board's RAM holds the model (shared memory)

    # a model larger than what is left does not load: out of memory
    big = board_host(fleet, board_of(fleet, SUPER))
    start_ollama(big, "dustynv/ollama:0.6.8-r36.4-cu126-22.04")
    assert api(big, "/api/pull", {"model": "qwen3:14b"})[-1] == {"status": "success"}
    oom = api(big, "/api/generate", {"model": "qwen3:14b", "prompt": "hi", "stream": False})[0]
    assert "requires more system memory" in oom["error"]

    # without JETSON_JETPACK the container's Ollama runs on the CPU (docs/facts.md section 5)
    start_ollama(big, "dustynv/ollama:0.6.8-r36.4-cu126-22.04", jetpack=None)
    assert api(big, "/api/pull", {"model": "qwen2.5:0.5b"})[-1] == {"status": "success"}
    api(big, "/api/generate", {"model": "qwen2.5:0.5b", "prompt": "hi", "stream": False})
    cpu = api(big, "/api/ps")[0]["models"][0]
    assert cpu["size_vram"] == 0 and cpu["size"] > 0
    for host in (nano, big):
        host.check_output("docker rm -f ollama >/dev/null")
    deadline = time.monotonic() + 10  # the board's memory is given back when the server goes away
    while int(nano.check_output("awk '/MemAvailable/ {print $2}' /proc/meminfo")) < idle - 50_000:
        assert time.monotonic() < deadline, "RAM of the stopped container's model was not released"
        time.sleep(0.2)


def test_apt_install_works_through_the_proxy(fleet):
    host = board_host(fleet, board_of(fleet, "agx-orin-64gb-r36.4.4"))
    assert host.run("command -v jq").rc != 0
    host.check_output("apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive "
                      "apt-get install -y -q --no-install-recommends jq >/dev/null")
    assert host.check_output("echo '{\"board\": 1}' | jq .board") == "1"
    host.check_output("apt-get purge -y -q jq libjq1 libonig5 >/dev/null")
