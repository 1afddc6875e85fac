"""models.lock: entries from registry manifests, checks against retags and installed copies, atomic merges."""

import hashlib
import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from jetson_ollama import lock as lockfile
from jetson_ollama.lock import (
    HEADER, Blob, LockEntry, LockError, LockMismatch, check, check_blobs, entry_from_manifest, load, record,
    update,
)

CONFIG_MEDIA = "application/vnd.docker.container.image.v1+json"
MODEL_MEDIA = "application/vnd.ollama.image.model"


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def manifest(seed: str, layers=("model", "template", "license", "params")) -> bytes:
    """A registry manifest as Ollama's registry serves it (docs/facts.md section 5): config + layers."""
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": CONFIG_MEDIA, "digest": digest(seed + "config"), "size": 487},
        "layers": [{"mediaType": f"application/vnd.ollama.image.{kind}", "digest": digest(seed + kind),
                    "size": 397000000 if kind == "model" else 100 + i} for i, kind in enumerate(layers)],
    }).encode()


@pytest.fixture
def path(tmp_path):
    return tmp_path / "models.lock"


# ---------------------------------------------------------------- manifests

def test_entry_from_manifest():
    raw = manifest("a")
    entry = entry_from_manifest(raw)
    assert entry.manifest == "sha256:" + hashlib.sha256(raw).hexdigest()  # the digest /api/tags shows
    assert entry.blobs[0] == Blob(digest("aconfig"), 487, CONFIG_MEDIA)
    assert entry.blobs[1] == Blob(digest("amodel"), 397000000, MODEL_MEDIA)
    assert [blob.media_type for blob in entry.blobs[2:]] == [
        f"application/vnd.ollama.image.{kind}" for kind in ("template", "license", "params")]
    assert entry.blob_digests == [blob.digest for blob in entry.blobs]


def test_the_manifest_digest_is_of_the_bytes_as_served():
    # the same JSON with other whitespace is another manifest: the lock pins bytes
    raw = manifest("a")
    respaced = json.dumps(json.loads(raw), indent=2).encode()
    assert entry_from_manifest(raw).blobs == entry_from_manifest(respaced).blobs
    assert entry_from_manifest(raw).manifest != entry_from_manifest(respaced).manifest


@pytest.mark.parametrize("raw, message", [
    (b"not json", "not JSON"),
    (b"[]", "not a Docker v2 manifest"),
    (b'{"config": {}}', "not a Docker v2 manifest"),
    (json.dumps({"config": {"mediaType": CONFIG_MEDIA, "digest": "sha256:abc", "size": 1}, "layers": []}).encode(),
     "sha256:<64 hex>"),
    (json.dumps({"config": {"mediaType": CONFIG_MEDIA, "digest": digest("c"), "size": -1}, "layers": []}).encode(),
     "size must be an integer"),
])
def test_bad_manifests(raw, message):
    with pytest.raises(LockError, match=message):
        entry_from_manifest(raw)


# ---------------------------------------------------------------- file format and round trip

def test_a_missing_or_empty_lock_is_empty(path):
    assert load(path) == {}
    path.write_text(HEADER)
    assert load(path) == {}


def test_round_trip_and_format(path):
    small, large = entry_from_manifest(manifest("a", ["model"])), entry_from_manifest(manifest("b"))
    assert record(path, "qwen3:8b", large) is True
    assert record(path, "qwen2.5:0.5b", small) is True
    assert load(path) == {"qwen2.5:0.5b": small, "qwen3:8b": large}
    text = path.read_text()
    assert text.splitlines()[:6] == [
        "# models.lock: written by jetson-ollama on a model's first pull; commit it. Later pulls must match.",
        "qwen2.5:0.5b:",  # keys sorted
        f"  manifest: {small.manifest}",
        "  blobs:",
        f"    - {{digest: {digest('aconfig')}, size: 487, media_type: {CONFIG_MEDIA}}}",
        f"    - {{digest: {digest('amodel')}, size: 397000000, media_type: {MODEL_MEDIA}}}",
    ]
    assert text.splitlines()[6] == "qwen3:8b:"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_record_is_idempotent_and_refuses_a_retag(path):
    first, retagged = entry_from_manifest(manifest("a")), entry_from_manifest(manifest("b"))
    record(path, "qwen2.5:0.5b", first)
    before = path.read_text()
    assert record(path, "qwen2.5:0.5b", first) is False
    with pytest.raises(LockMismatch, match="^upstream retagged qwen2.5:0.5b: models.lock has manifest"):
        record(path, "qwen2.5:0.5b", retagged)
    assert path.read_text() == before


def test_update_accepts_a_retag(path):
    first, retagged, other = (entry_from_manifest(manifest(seed)) for seed in "abc")
    record(path, "qwen2.5:0.5b", first)
    record(path, "qwen3:4b", other)
    assert update(path, "qwen2.5:0.5b", retagged) is True
    assert update(path, "qwen2.5:0.5b", retagged) is False
    assert load(path) == {"qwen2.5:0.5b": retagged, "qwen3:4b": other}
    assert update(path, "smollm2:135m", first) is True  # update also adds


def test_the_users_header_and_the_files_mode_are_kept(path):
    path.write_text("# our fleet's models: reviewed by Ana\n# do not edit by hand\n")
    path.chmod(0o664)
    record(path, "qwen3:4b", entry_from_manifest(manifest("a")))
    assert path.read_text().startswith("# our fleet's models: reviewed by Ana\n# do not edit by hand\nqwen3:4b:\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


def test_tags_yaml_would_misread_are_quoted(path):
    # YAML 1.1 reads 1:20 as the number 80: such a key is written quoted and reads back as the tag
    entry = entry_from_manifest(manifest("a"))
    record(path, "1:20", entry)
    assert '"1:20":' in path.read_text()
    assert load(path) == {"1:20": entry}


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "must map model tags"),
    ("qwen3:\n  manifest: x\n", "is not a name:tag"),
    ("qwen3:8b: {manifest: sha256:abc, blobs: []}\n", "manifest must be sha256"),
    ("qwen3:8b: {manifest: " + digest("m") + "}\n", "needs manifest and blobs"),
    ("qwen3:8b: [\n", "not YAML"),
])
def test_a_malformed_lock_names_the_file(path, text, message):
    path.write_text(text)
    with pytest.raises(LockError, match=message) as err:
        load(path)
    assert str(err.value).startswith(str(path))
    assert "\n" not in str(err.value)


def test_record_refuses_a_bare_name(path):
    with pytest.raises(LockError, match="name:tag"):
        record(path, "qwen3", entry_from_manifest(manifest("a")))


# ---------------------------------------------------------------- checks

def test_check():
    locked, served = entry_from_manifest(manifest("a")), entry_from_manifest(manifest("b"))
    lock = {"qwen2.5:0.5b": locked}
    assert check(lock, "qwen2.5:0.5b", locked) is None
    assert check(lock, "qwen3:4b", served) is None  # not locked yet: the first pull records it
    assert check(lock, "qwen2.5:0.5b", served) == (
        f"upstream retagged qwen2.5:0.5b: models.lock has manifest {locked.manifest[:19]}..., "
        f"the registry serves {served.manifest[:19]}... (set ollama_update_lock: true to accept it)")
    assert check(lock, "qwen2.5:0.5b", served, lock_name="fleet.lock").startswith(
        "upstream retagged qwen2.5:0.5b: fleet.lock has manifest sha256:")


def test_check_blobs():
    entry = entry_from_manifest(manifest("a", ["model", "params"]))
    lock = {"qwen2.5:0.5b": entry}
    installed = {digest("aconfig"), digest("amodel"), digest("aparams")}
    assert check_blobs(lock, "qwen2.5:0.5b", installed) is None
    assert check_blobs(lock, "qwen2.5:0.5b", list(reversed(entry.blob_digests))) is None  # any order
    assert check_blobs(lock, "qwen3:4b", set()) is None
    swapped = installed - {digest("amodel")} | {digest("bmodel")}
    assert check_blobs(lock, "qwen2.5:0.5b", swapped) == (
        f"qwen2.5:0.5b on the board differs from models.lock (missing {digest('amodel')[:19]}...; "
        f"not in the lock {digest('bmodel')[:19]}...): delete it to pull the locked one")
    assert "(missing nothing; not in the lock sha256:" in check_blobs(lock, "qwen2.5:0.5b", installed | {digest("x")})


# ---------------------------------------------------------------- concurrency and atomicity

def test_records_from_many_threads_all_land(path):
    # pyinfra prepares hosts concurrently; each host may record its first pull at the same moment
    tags = [f"model{i}:{i}b" for i in range(24)]
    entries = {tag: entry_from_manifest(manifest(tag)) for tag in tags}
    start = threading.Barrier(len(tags))
    errors = []

    def write(tag):
        try:
            start.wait()
            record(path, tag, entries[tag])
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(tag,)) for tag in tags]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert load(path) == entries
    assert list(load(path)) == sorted(tags)
    assert os.listdir(path.parent) == ["models.lock"]  # no temporary file left behind


def test_a_reader_never_sees_a_partial_file(path):
    # readers take no lock: every read must parse, and entries only ever grow
    tags = [f"model{i}:latest" for i in range(40)]
    done = threading.Event()
    seen, errors = [], []

    def read():
        while not done.is_set():
            try:
                seen.append(len(load(path)))
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            time.sleep(0.001)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for tag in tags:
            record(path, tag, entry_from_manifest(manifest(tag)))
    finally:
        done.set()
        reader.join()
    assert errors == []
    assert seen == sorted(seen) and len(set(seen)) > 1 and len(load(path)) == len(tags)


def test_the_write_goes_through_a_temporary_file_and_a_rename(path, monkeypatch):
    record(path, "qwen2.5:0.5b", entry_from_manifest(manifest("a")))
    before = path.read_text()
    renames = []
    real_replace = os.replace

    def replace(source, target):
        # at the moment of the rename the lock still holds the old, complete text
        renames.append((Path(source), Path(target), Path(target).read_text(), Path(source).read_text()))
        real_replace(source, target)

    monkeypatch.setattr(lockfile.os, "replace", replace)
    record(path, "qwen3:4b", entry_from_manifest(manifest("b")))
    [(source, target, old_text, new_text)] = renames
    assert target == path.absolute()
    assert source.parent == path.parent and source.name.startswith(".models.lock.") and source.suffix == ".tmp"
    assert old_text == before
    assert new_text == path.read_text() and "qwen3:4b:" in new_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(path, monkeypatch):
    record(path, "qwen2.5:0.5b", entry_from_manifest(manifest("a")))
    before = path.read_text()

    def replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(lockfile.os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        record(path, "qwen3:4b", entry_from_manifest(manifest("b")))
    assert path.read_text() == before
    assert os.listdir(path.parent) == ["models.lock"]


def test_a_writer_waits_for_the_lock(path, monkeypatch):
    monkeypatch.setattr(lockfile, "_LOCK_TIMEOUT", 0.05)
    with lockfile._exclusive(path.absolute()):
        with pytest.raises(LockError, match="another writer held the lock"):
            record(path, "qwen3:4b", entry_from_manifest(manifest("a")))
    assert record(path, "qwen3:4b", entry_from_manifest(manifest("a"))) is True


def test_lock_entries_are_frozen():
    entry = entry_from_manifest(manifest("a"))
    with pytest.raises(AttributeError):
        entry.manifest = "sha256:" + "0" * 64
    assert isinstance(entry, LockEntry) and isinstance(entry.blobs, tuple)


# ---- pins: what else a site pins beside the models (native archives, images, commit, version)

def test_pins_live_beside_the_models_and_survive_model_writes(tmp_path):
    path = tmp_path / "models.lock"
    entry = lockfile.entry_from_manifest(json.dumps(
        {"config": {"digest": "sha256:" + "1" * 64, "size": 2, "mediaType": "application/vnd.ollama.image.params"},
         "layers": []}).encode())
    assert lockfile.pin(path, "ollama-native", "ollama-linux-arm64.tgz", "sha256:" + "a" * 64)
    assert lockfile.record(path, "qwen2.5:0.5b", entry)
    assert not lockfile.pin(path, "ollama-native", "ollama-linux-arm64.tgz", "sha256:" + "a" * 64)  # already
    assert lockfile.load_pins(path) == {"ollama-native": {"ollama-linux-arm64.tgz": "sha256:" + "a" * 64}}
    assert lockfile.load(path) == {"qwen2.5:0.5b": entry}
    with pytest.raises(lockfile.LockMismatch, match="pins ollama-native ollama-linux-arm64.tgz to sha256:a+, this run "
                                                "found sha256:b+"):
        lockfile.pin(path, "ollama-native", "ollama-linux-arm64.tgz", "sha256:" + "b" * 64)
    assert lockfile.pin(path, "ollama-native", "ollama-linux-arm64.tgz", "sha256:" + "b" * 64, overwrite=True)
    assert lockfile.load_pins(path)["ollama-native"]["ollama-linux-arm64.tgz"] == "sha256:" + "b" * 64


@pytest.mark.parametrize("section,key,value", [("ollama native", "a", "b"), ("s", "", "b"), ("s", "k", "x\ny")])
def test_a_pin_must_be_plain_words(tmp_path, section, key, value):
    with pytest.raises(lockfile.LockError, match="must be a plain word"):
        lockfile.pin(tmp_path / "models.lock", section, key, value)


def test_malformed_pins_are_refused(tmp_path):
    path = tmp_path / "models.lock"
    path.write_text("pins:\n  images: [1, 2]\n")
    with pytest.raises(lockfile.LockError, match="pins must map sections"):
        lockfile.load_pins(path)
