"""The board's plan (plan.py): every refusal a stage could reach, decided before any change; each model's
verdict; the runtime and the source as the one object the stages call. Facts come from the recorded
fixtures of tests/unit/facts (an Orin Nano 8GB on L4T 36.4.3, docker with the NVIDIA runtime)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jetson_ollama import catalog, lock, plan
from jetson_ollama.cache import Cache
from jetson_ollama.config import settings
from jetson_ollama.sources import Bundle, FleetCache, Upstream, source_for

FACTS = Path(__file__).parent / "facts"


def recorded(fact: str, case: str):
    return json.loads((FACTS / fact / f"{case}.json").read_text())["fact"]


MANIFEST = recorded("models.RegistryManifest", "fetched")  # what the registry answers for a missing model
DOCKER = {"installed": True, "running": True, "runtimes": ["nvidia", "runc"]}


class Board:
    """A stand-in for a pyinfra host or remote.FactReader: facts by class name, host data; records what it is asked."""

    def __init__(self, data: dict, **facts):
        self.name, self.data = "nano1", data
        self.facts = {
            "Arch": "aarch64", "TegraRelease": {"l4t": "36.4.3", "major": 36}, "Memory": {"mem_total_mb": 7620},
            "DefaultTarget": "multi-user.target", "DockerState": DOCKER, "OllamaContainer": {}, "OllamaService": {},
            "PortListener": [], "DockerImages": [], "JetsonContainersCheckout": {}, "DiskFree": 100_000,
            "LanAddresses": [], "OllamaModels": {}, "OllamaManifests": {}, "RegistryManifest": MANIFEST,
            **facts,
        }
        self.asked: list[str] = []

    def get_fact(self, fact, **kwargs):
        self.asked.append(fact.__name__)
        found = self.facts[fact.__name__] if fact.__name__ in self.facts else fact().default()
        return found(**kwargs) if callable(found) else found  # a function of the fact's arguments


@pytest.fixture
def lock_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path / "models.lock"


def make(data: dict, **facts) -> plan.BoardPlan:
    board = Board(data, **facts)
    return plan.make_plan(board, settings(data))


def test_a_model_too_big_for_the_board_refuses_it_in_the_plan(lock_file):
    # the hostile input of the field: a context no 8 GB board holds. The plan refuses, so the service
    # stage never recreates the container with it (every stage stops at stop_if_refused)
    made = make({"ollama_models": ["qwen2.5:0.5b"], "ollama_context_length": 1_000_000_000})
    assert made.refusal.startswith("qwen2.5:0.5b needs about ") and "black" in made.refusal
    assert "set ollama_memory_policy: warn to allow it" in made.refusal
    assert made.verdicts[0].estimate.tier == "black" and made.largest is made.verdicts[0]
    assert not lock_file.exists()  # nothing pinned for a refused board


def test_warn_lets_it_through_with_one_warning(lock_file):
    made = make({"ollama_models": ["qwen3:8b"], "ollama_memory_policy": "warn", "ollama_desktop": True})
    assert made.refusal is None, made.refusal
    assert [w for w in made.warnings if "qwen3:8b needs about" in w and "(ollama_memory_policy: warn)" in w]


def test_a_model_newer_than_the_image_is_refused_before_any_download(lock_file):
    # qwen3 needs Ollama 0.6.6; a board running a reused image that says 0.5.1 cannot load it
    running = {"running": True, "image": "dustynv/ollama:r36.4.0"}
    made = make({"ollama_models": ["qwen3:8b"], "jetson_image_strategy": "reuse",
                 "jetson_image": "dustynv/ollama:r36.4.0"},
                OllamaContainer=running, PortListener=[{"address": "*", "port": 11434, "process": "ollama"}],
                DockerImages=[{"ref": "dustynv/ollama:r36.4.0", "id": "sha256:1", "digest": ""}],
                OllamaVersion="0.5.1")
    assert made.refusal == ("qwen3:8b needs Ollama 0.6.6 or newer, this board's image dustynv/ollama:r36.4.0 has "
                            "0.5.1 (use jetson_image_strategy: build, or another image or ollama_version)")


def test_a_missing_model_gets_the_registry_manifest_and_a_first_pin(lock_file):
    made = make({"ollama_models": ["qwen2.5:7b"], "ollama_context_length": 4096})
    assert made.refusal is None, made.refusal
    (verdict,) = made.verdicts
    assert (verdict.present, verdict.lock_action) == (False, "record")
    assert verdict.entry == lock.entry_from_parsed(MANIFEST["sha256"], MANIFEST["manifest"])


def test_a_present_model_that_is_not_the_locked_one_refuses_the_board(lock_file):
    entry = lock.entry_from_parsed(MANIFEST["sha256"], MANIFEST["manifest"])
    lock.record(lock_file, "qwen2.5:7b", entry)
    other = {"qwen2.5:7b": {"blobs": ["sha256:" + "9" * 64], "manifest_sha256": "0" * 64}}
    data = {"ollama_models": ["qwen2.5:7b"], "ollama_context_length": 4096}
    made = make(data, OllamaModels={"qwen2.5:7b": {}}, OllamaManifests=other)
    assert made.refusal and "qwen2.5:7b" in made.refusal and made.verdicts[0].present
    accepted = make({**data, "ollama_update_lock": True}, OllamaModels={"qwen2.5:7b": {}}, OllamaManifests=other)
    assert accepted.refusal is None, accepted.refusal


def test_an_unknown_model_is_sized_from_its_manifest_with_the_catalogs_largest_kv(lock_file):
    # the recorded manifest's layers (4.7 GB) fit a 16 GB board
    made = make({"ollama_models": ["someone/tiny:latest"], "ollama_allow_unknown_models": True},
                Memory={"mem_total_mb": 15388})
    assert made.refusal is None, made.refusal
    assert made.verdicts[0].estimate.weights_bytes == sum(layer["size"] for layer in MANIFEST["manifest"]["layers"])
    biggest = max(info.kv_bytes_per_token for info in catalog.catalog().values())
    assert plan.UNKNOWN_KV_BYTES_PER_TOKEN == biggest
    refused = make({"ollama_models": ["someone/tiny:latest"]})
    assert "not in the catalog" in refused.refusal


def test_the_plan_reads_no_manifest_for_a_model_on_the_board(lock_file):
    board = Board({"ollama_models": ["qwen2.5:0.5b"]}, OllamaModels={"qwen2.5:0.5b": {}})
    made = plan.make_plan(board, settings(board.data))
    assert made.refusal is None and made.verdicts[0].present and made.verdicts[0].entry is None
    assert "RegistryManifest" not in board.asked


def test_make_plan_writes_nothing_plan_for_writes_the_pins(lock_file):
    # a prebuilt image no table names a version for, on the board already: the plan reads its version;
    # make_plan (the report, the board tests) must not touch models.lock, plan_for (a deploy) pins it
    images = [{"ref": "dustynv/ollama:r36.4.0", "id": "sha256:1", "digest": ""}]
    made = make({"ollama_models": ["qwen2.5:0.5b"], "jetson_image_strategy": "prebuilt"},
                DockerImages=images, ImageOllamaVersion="0.6.8")
    assert ("ollama", "dustynv/ollama:r36.4.0", "0.6.8") in made.pins
    assert not lock_file.exists()


@pytest.mark.parametrize("data, kind", [
    ({}, "upstream"),
    ({"jetson_bundle": "/srv/site.tar"}, "bundle"),
])
def test_the_source_is_one_object(data, kind):
    source = source_for(settings(data), None)
    assert source.kind == kind
    assert isinstance(source, {"upstream": Upstream, "bundle": Bundle}[kind])


def test_the_fleet_cache_is_a_source_that_needs_a_checkout_only_to_build():
    cache = Cache("cache1", "10.0.0.5", 5000, 5001)
    source = source_for(settings({}), cache)
    assert isinstance(source, FleetCache) and source.describe() == "the fleet's cache cache1"
    assert source.needs_checkout and source.copies_files
    assert not Bundle("/srv/site.tar").needs_checkout and not Upstream("https://registry.ollama.ai").copies_files


NATIVE_SUMS = {"ollama-linux-arm64.tgz": "sha256:" + "a" * 64, "ollama-linux-arm64-jetpack6.tgz": "sha256:" + "b" * 64}


def test_native_runtime_and_the_api_address_are_in_the_plan(lock_file):
    made = make({"jetson_runtime": "native", "ollama_models": ["qwen2.5:0.5b"], "ollama_host": "127.0.0.1:11500"},
                DockerState={}, ReleaseChecksums=NATIVE_SUMS)
    assert made.refusal is None, made.refusal
    assert made.runtime.archives == NATIVE_SUMS  # what the service stage installs, each checked against its digest
    assert made.image is None and made.native.version == made.ollama_version == made.runtime.ollama_version
    assert (made.api_url, made.api_port) == ("http://127.0.0.1:11500", 11500)
    assert made.describe().startswith("L4T 36.4.3 (JetPack 6.2") and "native Ollama" in made.describe()


def test_the_model_store_must_hold_the_missing_blobs_and_a_margin(lock_file):
    blobs = [MANIFEST["manifest"]["config"], *MANIFEST["manifest"]["layers"]]
    need_mb = sum(blob["size"] for blob in blobs) / 1e6
    data = {"ollama_models": ["qwen2.5:7b"], "ollama_context_length": 4096}

    def store_free(mb):  # the docker root has room; the model store has `mb`
        return lambda path: mb if path == "/opt/ollama/models" else 100_000

    tight = int(need_mb + plan.MODELS_MARGIN_MB) - 10
    assert make(data, DiskFree=store_free(tight)).refusal == (
        f"{tight / 1000:.1f} GB free on /opt/ollama/models, the models to pull need {need_mb / 1000:.1f} GB "
        "and 1 GB to spare")
    assert make(data, DiskFree=store_free(tight + 20)).refusal is None
    assert make(data, DiskFree=store_free(0)).refusal is None  # df could not say: the pull itself will tell
    # blobs the store holds already (another model's, or a half-done pull's) are not counted again
    held = {"other:tag": {"blobs": [blob["digest"] for blob in blobs], "manifest_sha256": ""}}
    assert make(data, DiskFree=store_free(plan.MODELS_MARGIN_MB + 10), OllamaManifests=held).refusal is None


def test_a_damaged_model_on_the_board_is_fetched_again_as_locked(lock_file):
    entry = lock.entry_from_parsed(MANIFEST["sha256"], MANIFEST["manifest"])
    lock.record(lock_file, "qwen2.5:7b", entry)
    digests = sorted(entry.blob_digests)
    stored = {"qwen2.5:7b": {"blobs": digests, "manifest_sha256": MANIFEST["sha256"]}}
    cut = {"damaged": {digests[0]: "120 bytes, the manifest says 400"}, "checked": len(digests), "hashed_bytes": 0}
    data = {"ollama_models": ["qwen2.5:7b"], "ollama_context_length": 4096}
    board = Board(data, OllamaModels={"qwen2.5:7b": {}}, OllamaManifests=stored, OllamaBlobs=cut)
    made = plan.make_plan(board, settings(data))
    assert made.refusal is None, made.refusal
    (verdict,) = made.verdicts
    assert (verdict.present, verdict.entry, verdict.damaged) == (False, entry, (digests[0],))
    assert any("120 bytes, the manifest says 400: fetched again" in warning for warning in made.warnings)
    # its damaged blob is not counted as held: the store needs room for it again
    assert plan._model_disk_problem(board, made) is None
    sound = make(data, OllamaModels={"qwen2.5:7b": {}}, OllamaManifests=stored)
    assert sound.verdicts[0].present and sound.verdicts[0].damaged == ()


def test_a_corrupt_blob_left_by_a_deleted_manifest_is_replaced_by_the_fetch(lock_file):
    digests = sorted(lock.entry_from_parsed(MANIFEST["sha256"], MANIFEST["manifest"]).blob_digests)
    orphan = {"damaged": {digests[-1]: "its sha256 is not its digest"}, "checked": 1, "hashed_bytes": 10}
    made = make({"ollama_models": ["qwen2.5:7b"], "ollama_context_length": 4096}, OllamaBlobs=orphan)
    assert made.verdicts[0].damaged == (digests[-1],) and made.verdicts[0].entry is not None


def test_full_verification_asks_for_every_blob_to_be_hashed(lock_file):
    asked = []
    data = {"ollama_models": ["qwen2.5:7b"], "ollama_verify_models": "full", "ollama_context_length": 4096}
    make(data, OllamaBlobs=lambda **kwargs: asked.append(kwargs) or {})
    assert asked and all(kwargs["full"] for kwargs in asked)


def test_the_native_release_is_read_once_pinned_and_then_not_read_again(lock_file):
    data = {"jetson_runtime": "native", "ollama_models": ["qwen2.5:0.5b"]}
    first = Board(data, DockerState={}, ReleaseChecksums=NATIVE_SUMS)
    made = plan.make_plan(first, settings(data))
    assert made.refusal is None and "ReleaseChecksums" in first.asked
    for section, key, value in made.pins:  # as plan_for writes them
        lock.pin(lock_file, section, key, value)
    later = Board(data, DockerState={}, ReleaseChecksums={})  # the release's list is gone: the pins suffice
    again = plan.make_plan(later, settings(data))
    assert again.refusal is None and again.runtime.archives == NATIVE_SUMS and "ReleaseChecksums" not in later.asked
    unknown = make({**data, "ollama_native_version": "0.6.9"}, DockerState={})  # nothing pinned, nothing published
    assert unknown.refusal.startswith("no sha256 for ollama-linux-arm64.tgz, ollama-linux-arm64-jetpack6.tgz: not "
                                      "pinned in models.lock (ollama-native)")
