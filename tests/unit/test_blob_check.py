"""The board-side blob check of `OllamaBlobs`, run as a board runs it (python3, the fact's own command) on
stores on disk: what a user damages by hand (a flipped byte, a cut file, a deleted blob) is found, and a
sound store costs one hash per blob once, then only a stat per blob."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from jetson_ollama.facts.models import OllamaBlobs


def _store(root: Path, blobs: dict[str, bytes]) -> dict[str, str]:
    """A store of one model, qwen2.5:0.5b, whose manifest names `blobs` (config first); returns name -> digest."""
    digests = {}
    (root / "blobs").mkdir(parents=True)
    for name, data in blobs.items():
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (root / "blobs" / digest.replace(":", "-")).write_bytes(data)
        digests[name] = digest
    layer = lambda name: {"mediaType": "x", "digest": digests[name], "size": len(blobs[name])}  # noqa: E731
    names = list(blobs)
    manifest = {"schemaVersion": 2, "config": layer(names[0]), "layers": [layer(n) for n in names[1:]]}
    folder = root / "manifests" / "registry.ollama.ai" / "library" / "qwen2.5"
    folder.mkdir(parents=True)
    (folder / "0.5b").write_text(json.dumps(manifest))
    return digests


def _check(root: Path, memo: Path, full: bool = False) -> dict:
    fact = OllamaBlobs()
    command = fact.command(models_dir=str(root), memo=str(memo), full=full).get_raw_value()
    run = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    return fact.process(run.stdout.splitlines())


@pytest.fixture
def store(tmp_path: Path):
    root = tmp_path / "models"
    digests = _store(root, {"config": b'{"model_format": "gguf"}', "model": os.urandom(4096), "params": b"{}"})
    return root, tmp_path / "memo" / "verified.json", digests


def _path(root: Path, digest: str) -> Path:
    return root / "blobs" / digest.replace(":", "-")


def test_a_sound_store_is_hashed_once_then_only_looked_at(store):
    root, memo, _ = store
    first = _check(root, memo)
    assert first["damaged"] == {} and first["checked"] == 3 and first["hashed_bytes"] > 4096
    again = _check(root, memo)
    assert again["damaged"] == {} and again["checked"] == 3 and again["hashed_bytes"] == 0


def test_a_flipped_byte_is_found_once_the_file_changed(store):
    root, memo, digests = store
    _check(root, memo)
    path = _path(root, digests["model"])
    data = bytearray(path.read_bytes())
    data[100:104] = bytes(b ^ 0xFF for b in data[100:104])
    path.write_bytes(bytes(data))  # same size, new mtime
    assert _check(root, memo)["damaged"] == {digests["model"]: "its sha256 is not its digest"}


def test_a_flip_that_kept_its_mtime_takes_the_full_check(store):
    root, memo, digests = store
    _check(root, memo)
    path = _path(root, digests["model"])
    stat = path.stat()
    with path.open("r+b") as f:  # in place: same inode and size
        f.seek(10)
        f.write(b"\x00\x01\x02\x03")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _check(root, memo)["damaged"] == {}  # the limit of the cheap check, said in docs/facts.md section 5
    assert _check(root, memo, full=True)["damaged"] == {digests["model"]: "its sha256 is not its digest"}


def test_a_truncated_and_a_deleted_blob_are_named(store):
    root, memo, digests = store
    _path(root, digests["model"]).write_bytes(b"cut")
    _path(root, digests["params"]).unlink()
    assert _check(root, memo)["damaged"] == {digests["model"]: "3 bytes, the manifest says 4096",
                                             digests["params"]: "missing"}


def test_a_corrupt_blob_no_manifest_names_is_found(store):
    root, memo, digests = store
    (root / "manifests" / "registry.ollama.ai" / "library" / "qwen2.5" / "0.5b").unlink()
    _path(root, digests["model"]).write_bytes(os.urandom(4096))
    assert _check(root, memo)["damaged"] == {digests["model"]: "its sha256 is not its digest"}


def test_no_store_and_an_unwritable_memo_are_no_failure(tmp_path: Path):
    assert _check(tmp_path / "none", Path("/proc/no/such/memo.json")) == {"damaged": {}, "checked": 0,
                                                                          "hashed_bytes": 0}
