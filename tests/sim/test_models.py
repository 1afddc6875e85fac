"""Stage 5 on simulated boards: model sets that fit, the log's qwen3:8b trap, resumed pulls, the lock.

Byte counts come from the simulated registry's counters; figures from the facts file (section 6).
"""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import board_host, board_of, fleet_name
from .test_stages import AGX, NANO, NX, SUPER, changed, converge, refusal

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def model_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("m"))
    f.up(4, [NANO, SUPER, NX, AGX])
    try:
        yield f
    finally:
        f.down()


def registry(fleet, method="GET", path="/_sim/stats", body=None) -> dict:
    from jetson_sim.upstream.services import Upstream

    resp = httpx.request(method, Upstream(fleet).ollama_registry_url + path, json=body, timeout=10)
    resp.raise_for_status()
    return resp.json()


def store(host, tag: str) -> set[str]:
    """The digests of a model's manifest on the board's disk (the store the container mounts)."""
    name, version = tag.split(":")
    manifest = json.loads(host.file(f"/opt/ollama/models/manifests/registry.ollama.ai/library/{name}/{version}")
                          .content_string)
    return {manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])}


def locked(fleet, tag: str) -> set[str]:
    import yaml

    entry = yaml.safe_load((fleet.dir / "models.lock").read_text())[tag]
    return {blob["digest"] for blob in entry["blobs"]}


def test_every_profile_converges_with_the_models_that_fit(model_fleet, sim_env):
    run = converge(model_fleet, sim_env, "--data", "ollama_models=auto")
    assert run["failed_hosts"] == [], run["stderr"][-3000:]
    # auto = the largest green model of the preference list (qwen3:32b, ..., qwen3:8b, qwen2.5:7b, qwen3:4b, ...):
    # on 7620 MB with the desktop, qwen3:8b is black (~98 %) and qwen2.5:7b red (~87 %), qwen3:4b green
    # (~63 %); the headless 15388 MB NX fits qwen2.5:14b (~69 %), the 62841 MB AGX qwen3:32b (~36 %)
    expected = {NANO: "qwen3:4b", SUPER: "qwen3:4b", NX: "qwen2.5:14b", AGX: "qwen3:32b"}
    for profile, tag in expected.items():
        host = board_host(model_fleet, board_of(model_fleet, profile))
        tags = json.loads(host.check_output("curl -fsS http://127.0.0.1:11434/api/tags"))
        assert [m["name"] for m in tags["models"]] == [tag], profile
        assert store(host, tag) == locked(model_fleet, tag)
    # qwen3 needs a 2025 Ollama: the r36.2.0 and r35.4.1 prebuilt images are too old, so auto built one
    nano = board_host(model_fleet, board_of(model_fleet, NANO))
    assert nano.check_output("docker inspect -f '{{.Config.Image}}' ollama") == "ollama:r36.2.0-cu122-22.04"

    before = registry(model_fleet)["bytes_total"]
    again = converge(model_fleet, sim_env, "--data", "ollama_models=auto")
    assert again["totals"]["success"] == 0, changed(again)
    assert registry(model_fleet)["bytes_total"] == before  # nothing downloaded on the second run


def test_qwen3_8b_on_the_8gb_board_is_refused_warned_or_accepted(model_fleet, sim_env):
    nano, agx = board_of(model_fleet, NANO), board_of(model_fleet, AGX)
    want = ["--data", 'ollama_models=["qwen3:8b"]']
    strict = converge(model_fleet, sim_env, *want, limit=nano.name)
    reason = refusal(strict, nano)
    # the log: qwen3:8b took an Orin Nano 8GB to 96 % of RAM with 158 MiB free
    assert reason.startswith("qwen3:8b needs about 7.") and "of 7.4 GB RAM" in reason and "black" in reason
    assert "ollama_memory_policy: warn" in reason
    host = board_host(model_fleet, nano)
    assert "qwen3:8b" not in host.check_output("curl -fsS http://127.0.0.1:11434/api/tags")

    warned = converge(model_fleet, sim_env, *want, "--data", "ollama_memory_policy=warn", limit=nano.name)
    assert warned["failed_hosts"] == [] and "qwen3:8b needs about" in warned["stderr"]
    assert "qwen3:8b" in host.check_output("curl -fsS http://127.0.0.1:11434/api/tags")

    accepted = converge(model_fleet, sim_env, *want, limit=agx.name)
    assert accepted["failed_hosts"] == [] and "needs about" not in accepted["stderr"]


def test_cut_pull_resumes_on_the_next_run(model_fleet, sim_env):
    board = board_of(model_fleet, AGX)
    host = board_host(model_fleet, board)
    want = ["--data", 'ollama_models=["qwen2.5:7b"]']
    registry(model_fleet, "POST", "/_sim/cut", {"after_bytes": 1_500_000, "count": 1})
    cut = converge(model_fleet, sim_env, *want, limit=board.name)
    assert board.name in cut["failed_hosts"], cut["stderr"][-3000:]
    assert "pull qwen2.5:7b failed: unexpected EOF" in cut["stderr"]  # the error Ollama streams inside its 200
    assert host.run("ls /opt/ollama/models/blobs | grep -q -- -partial").rc == 0
    served = registry(model_fleet)["bytes_by_client"][board.ip]

    resumed = converge(model_fleet, sim_env, *want, limit=board.name)
    assert resumed["failed_hosts"] == [], resumed["stderr"][-2000:]
    assert registry(model_fleet)["bytes_by_client"][board.ip] - served < 4_700_000  # not the whole layer again
    assert host.run("ls /opt/ollama/models/blobs | grep -q -- -partial").rc == 1
    for digest in store(host, "qwen2.5:7b"):  # every blob verified against its name
        hexdigest = digest.split(":")[1]
        assert host.check_output(f"sha256sum /opt/ollama/models/blobs/sha256-{hexdigest}").split()[0] == hexdigest
    assert store(host, "qwen2.5:7b") == locked(model_fleet, "qwen2.5:7b")


def test_upstream_retag_stops_the_board_with_a_clear_error(model_fleet, sim_env):
    first, second = board_of(model_fleet, SUPER), board_of(model_fleet, NX)
    want = ["--data", 'ollama_models=["qwen2.5:0.5b"]']
    assert converge(model_fleet, sim_env, *want, limit=first.name)["failed_hosts"] == []
    registry(model_fleet, "POST", "/_sim/retag", {"model": "qwen2.5:0.5b"})
    run = converge(model_fleet, sim_env, *want, limit=second.name)
    reason = refusal(run, second)
    assert reason.startswith("upstream retagged qwen2.5:0.5b") and "ollama_update_lock" in reason
    assert "qwen2.5:0.5b" not in board_host(model_fleet, second).check_output(
        "curl -fsS http://127.0.0.1:11434/api/tags")
    accepted = converge(model_fleet, sim_env, *want, "--data", "ollama_update_lock=true", limit=second.name)
    assert accepted["failed_hosts"] == []
    assert store(board_host(model_fleet, second), "qwen2.5:0.5b") == locked(model_fleet, "qwen2.5:0.5b")


def _blob(host, digest: str) -> str:
    return f"/opt/ollama/models/blobs/sha256-{digest.split(':')[1]}"


def _sound(host, tag: str) -> bool:
    return all(host.check_output(f"sha256sum {_blob(host, d)}").split()[0] == d.split(":")[1] for d in store(host, tag))


def test_damaged_blobs_are_found_and_fetched_again(model_fleet, sim_env):
    """Flipped bytes in the model layer and a deleted config blob: quick-test fails (the simulated Ollama will
    not load a blob that is not its digest), the next converge fetches them again, then nothing is left to do.
    Then the harder case: the manifest deleted as well, so the model is gone from the list and a plain pull
    would keep the corrupt blob it finds."""
    board = board_of(model_fleet, AGX)
    host = board_host(model_fleet, board)
    want = ["--data", 'ollama_models=["qwen2.5:7b"]']
    assert converge(model_fleet, sim_env, *want, limit=board.name)["failed_hosts"] == []
    manifest = json.loads(host.file("/opt/ollama/models/manifests/registry.ollama.ai/library/qwen2.5/7b")
                          .content_string)
    layer = max(manifest["layers"], key=lambda item: item["size"])["digest"]
    flip = f"printf '\\377\\377\\377\\377' | dd of={_blob(host, layer)} bs=1 seek=100 conv=notrunc status=none"
    host.check_output(f"sudo sh -c {json.dumps(flip)}")
    host.check_output(f"sudo rm {_blob(host, manifest['config']['digest'])}")
    assert host.run("sudo quick-test").rc != 0

    repaired = converge(model_fleet, sim_env, *want, limit=board.name)
    assert repaired["failed_hosts"] == [], repaired["stderr"][-3000:]
    assert "fetched again" in repaired["stderr"]
    assert _sound(host, "qwen2.5:7b") and store(host, "qwen2.5:7b") == locked(model_fleet, "qwen2.5:7b")
    quick = host.run("sudo quick-test")
    assert quick.rc == 0, quick.stdout
    again = converge(model_fleet, sim_env, *want, limit=board.name)
    assert again["totals"]["success"] == 0, changed(again)

    host.check_output(f"sudo sh -c {json.dumps(flip)}")
    host.check_output("sudo rm /opt/ollama/models/manifests/registry.ollama.ai/library/qwen2.5/7b")
    refetched = converge(model_fleet, sim_env, *want, limit=board.name)
    assert refetched["failed_hosts"] == [], refetched["stderr"][-3000:]
    assert _sound(host, "qwen2.5:7b")
    generated = host.run("curl -fsS http://127.0.0.1:11434/api/generate -d "
                         "'{\"model\": \"qwen2.5:7b\", \"prompt\": \"hi\", \"stream\": false}'")
    assert generated.rc == 0, generated.stderr
