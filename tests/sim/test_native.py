"""`jetson_runtime: native` on simulated boards over SSH (issue 8): the official release from the
simulated github.com, each archive checked against its pin in models.lock before it is unpacked;
ollama.service as the `ollama` user in video and render; converge, quick-test, the tests/boards suite,
a second run with zero changes; a tampered archive refused with its figures; a board switched
container -> native -> container keeping its models, with no model byte downloaded again.

Runs in file order on one fleet: the first test pins the release the tamper test relies on.
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from .conftest import REPO, board_host, board_of, fleet_name
from .test_stages import NX, SUPER, changed, converge

pytestmark = pytest.mark.sim

MODEL = "qwen2.5:0.5b"
SITE = {"ollama_models": [MODEL]}
NATIVE = ("--data", "jetson_runtime=native")
BASE, JP5, JP6 = "ollama-linux-arm64.tgz", "ollama-linux-arm64-jetpack5.tgz", "ollama-linux-arm64-jetpack6.tgz"


@pytest.fixture(scope="module")
def site_env(sim_env):
    return dict(sim_env, JETSON_SIM_HOST_DATA=json.dumps(SITE))


@pytest.fixture(scope="module")
def native_fleet(site_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("n"))
    f.up(2, [SUPER, NX])
    try:
        yield f
    finally:
        f.down()


def upstream(fleet):
    from jetson_sim.upstream.services import Upstream

    return Upstream(fleet)


def releases(fleet, hook: str, body: dict | None = None) -> dict:
    url = f"{upstream(fleet).releases_hooks_url}/_sim/{hook}"
    answer = httpx.post(url, json=body or {}, timeout=10) if body is not None or hook in ("tamper", "reset") \
        else httpx.get(url, timeout=10)
    answer.raise_for_status()
    return answer.json()


def pins(fleet) -> dict:
    from jetson_ollama import lock

    return lock.load_pins(fleet.dir / "models.lock").get("ollama-native", {})


def model_bytes(fleet, board) -> int:
    return upstream(fleet).model_stats()["bytes_by_client"].get(board.ip, 0)


def quick_test(host) -> dict[str, str]:
    result = host.run("quick-test")
    found = {line.split()[1].rstrip(":"): line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert result.rc == 0, result.stdout + result.stderr
    return found


def api_answers(host) -> None:
    host.check_output("for i in $(seq 120); do curl -fs http://127.0.0.1:11434/api/version >/dev/null && exit 0; "
                      "sleep 0.5; done; exit 1")


def test_native_board_converges_passes_its_checks_and_then_has_nothing_to_do(native_fleet, site_env):
    board = board_of(native_fleet, SUPER)
    host = board_host(native_fleet, board)
    first = converge(native_fleet, site_env, *NATIVE, limit=board.name)
    assert first["failed_hosts"] == [], first["stderr"][-3000:]

    # no docker in the way: no image pulled, no container; the release as the pins say
    assert host.run("docker inspect ollama").rc != 0
    assert host.check_output("systemctl is-active ollama.service") == "active"
    assert host.check_output("systemctl is-enabled ollama.service") == "enabled"
    assert set(host.check_output("id -nG ollama").split()) >= {"video", "render"}
    assert host.check_output("ps -o user= -p $(systemctl show -p MainPID --value ollama.service)") == "ollama"
    served = releases(native_fleet, "releases")["0.6.8"]
    assert pins(native_fleet) == {f"v0.6.8/{BASE}": served[BASE]["sha256"], f"v0.6.8/{JP6}": served[JP6]["sha256"]}
    assert host.file("/usr/local/lib/ollama/cuda_jetpack6").is_directory
    assert json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/version")) == {"version": "0.6.8"}
    dropin = host.file("/etc/systemd/system/ollama.service.d/jetson-ollama.conf").content_string
    assert 'Environment="OLLAMA_MODELS=/opt/ollama/models"' in dropin and "JETSON_JETPACK" not in dropin
    assert host.socket("tcp://127.0.0.1:11434").is_listening and not host.socket("tcp://0.0.0.0:11434").is_listening

    # the log's checks: all on the GPU (the bundle is there and ollama may open the device nodes)
    assert quick_test(host) == {"service": "OK", "api": "OK", "gpu": "OK", "inference": "OK", "resources": "OK"}

    second = converge(native_fleet, site_env, *NATIVE, limit=board.name)
    assert second["failed_hosts"] == [] and second["totals"]["success"] == 0, changed(second)

    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/boards", "--inventory", "inventories/sim.py", "-q", "-p",
         "no:cacheprovider", "-k", board.name, "-rs"],
        cwd=REPO, capture_output=True, text=True, timeout=900,
        env=dict(site_env, JETSON_SIM_FLEET=native_fleet.name,
                 JETSON_SIM_HOST_DATA=json.dumps({**SITE, "jetson_runtime": "native"})))
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    assert "failed" not in suite.stdout.splitlines()[-1]
    assert "no native ollama.service expected" not in suite.stdout  # the native checks ran, not skipped


def test_tampered_archive_is_refused_with_the_figures_and_nothing_is_unpacked(native_fleet, site_env):
    board = board_of(native_fleet, NX)
    host = board_host(native_fleet, board)
    pinned = pins(native_fleet)[f"v0.6.8/{BASE}"]  # from the first test's download
    # the release is replaced as a whole: the archive and its sha256sum.txt; only the pin tells
    tampered = releases(native_fleet, "tamper", {"version": "0.6.8", "file": BASE, "checksums": True})
    try:
        run = converge(native_fleet, site_env, *NATIVE, limit=board.name)
        reason = run["stderr"]
        assert board.name in run["failed_hosts"], reason[-3000:]
    finally:
        releases(native_fleet, "reset")
    line = next(ln for ln in reason.splitlines() if "does not match its pinned sha256" in ln)
    assert f"{BASE} of Ollama 0.6.8 does not match its pinned sha256: expected {pinned}, got {tampered['sha256']} " \
           f"({tampered['size']} bytes from " in line and line.rstrip().endswith("nothing was unpacked")
    assert pins(native_fleet)[f"v0.6.8/{BASE}"] == pinned  # the lock is not rewritten
    assert not host.file("/usr/local/bin/ollama").exists and not host.file("/usr/local/lib/ollama").exists
    assert host.run("systemctl is-active ollama.service").stdout.strip() != "active"


def test_switching_runtimes_keeps_the_models_and_downloads_none(native_fleet, site_env):
    board = board_of(native_fleet, NX)
    host = board_host(native_fleet, board)
    container = converge(native_fleet, site_env, limit=board.name)
    assert container["failed_hosts"] == [], container["stderr"][-3000:]
    assert host.check_output("docker inspect -f '{{.State.Running}}' ollama") == "true"
    listed = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/tags"))["models"]
    digests = {m["name"]: m["digest"] for m in listed}
    assert MODEL in digests
    downloaded = model_bytes(native_fleet, board)
    assert downloaded > 0

    # container -> native: the container goes first (same port), the store is handed to ollama
    to_native = converge(native_fleet, site_env, *NATIVE, limit=board.name)
    assert to_native["failed_hosts"] == [], to_native["stderr"][-3000:]
    assert host.run("docker inspect ollama").rc != 0
    assert host.check_output("systemctl is-active ollama.service") == "active"
    assert host.file("/usr/local/lib/ollama/cuda_jetpack5").is_directory  # JetPack 5's bundle (docs/facts.md section 5)
    assert host.check_output("find /opt/ollama/models ! -user ollama | wc -l") == "0"
    listed = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/tags"))["models"]
    assert {m["name"]: m["digest"] for m in listed} == digests
    assert quick_test(host)["gpu"] == "OK"
    again = converge(native_fleet, site_env, *NATIVE, limit=board.name)
    assert again["failed_hosts"] == [] and again["totals"]["success"] == 0, changed(again)
    assert model_bytes(native_fleet, board) == downloaded

    # native -> container: ollama.service stopped and disabled first, the same store mounted again
    back = converge(native_fleet, site_env, limit=board.name)
    assert back["failed_hosts"] == [], back["stderr"][-3000:]
    assert host.run("systemctl is-active ollama.service").stdout.strip() == "inactive"
    assert host.run("systemctl is-enabled ollama.service").stdout.strip() == "disabled"
    assert host.check_output("docker inspect -f '{{.State.Running}}' ollama") == "true"
    api_answers(host)
    listed = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/tags"))["models"]
    assert {m["name"]: m["digest"] for m in listed} == digests
    assert quick_test(host)["image"] == "OK"
    assert converge(native_fleet, site_env, limit=board.name)["totals"]["success"] == 0
    assert model_bytes(native_fleet, board) == downloaded  # the Ollama registry served no byte more
