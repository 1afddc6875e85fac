"""Offline bundles (`python -m jetson_ollama bundle`), run as a user runs them, against stdlib stand-ins
for Docker Hub (a bearer-token challenge, a multi-platform index with an arm64 entry) and an Ollama
registry: what the tar holds and how (index.json first, every member's sha256, same bytes twice), the
image archive against docker load's rules, the lock, the reader the deploy uses, the refusals, and
ollama-fetch.py copying a model out of a bundle's store on disk (file://), as the boards do."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
import yaml

from jetson_ollama import bundle as bundle_mod
from jetson_ollama.bundle import Bundle, BundleError, plan_bundle
from jetson_ollama.image_archive import check_docker_archive, write_tar

REPO = Path(__file__).parents[2]
FETCH = REPO / "jetson_ollama" / "files" / "ollama-fetch.py"
REF, TAG = "dustynv/ollama:r36.4.3", "qwen2.5:0.5b"  # docs/facts.md section 4: the r36.4.3 board's prebuilt image


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(gzip'd tar, tar) of a few files."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0), raw.getvalue()


class Upstream:
    """Docker Hub and registry.ollama.ai stand-ins on 127.0.0.1: {path: (content type, bytes)}; Docker
    Hub paths need the token its /token endpoint hands out. Records every request path."""

    def __init__(self):
        self.paths: dict[str, tuple[str, bytes]] = {}
        self.requests: list[str] = []
        self.token_required = True
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                upstream.requests.append(self.path)
                host = f"http://{self.headers['Host']}"
                if self.path.startswith("/token?"):
                    return self.answer(200, "application/json", json.dumps({"token": "t0k"}).encode())
                if (upstream.token_required and self.path.startswith("/v2/dustynv/")
                        and self.headers.get("Authorization") != "Bearer t0k"):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", f'Bearer realm="{host}/token",service="stub",'
                                                         'scope="repository:dustynv/ollama:pull"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path not in upstream.paths:
                    return self.answer(404, "text/plain", b"not found")
                return self.answer(200, *upstream.paths[self.path])

            def answer(self, code, content_type, body):
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def image(self, repository: str, tag: str, files: dict[str, bytes]) -> dict:
        """An arm64 image behind a multi-platform index (plus an amd64 one that must not be taken)."""
        gz, tar = layer(files)
        config = json.dumps({"architecture": "arm64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                             "rootfs": {"type": "layers", "diff_ids": [sha(tar)]}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                          "size": len(config), "digest": sha(config)},
                               "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                           "size": len(gz), "digest": sha(gz)}]}).encode()
        other = b'{"schemaVersion": 2, "config": {}, "layers": []}'
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(other), "size": len(other),
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": sha(manifest),
             "size": len(manifest), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]}).encode()
        base = f"/v2/{repository}"
        self.paths[f"{base}/manifests/{tag}"] = ("application/vnd.oci.image.index.v1+json", index)
        self.paths[f"{base}/manifests/{sha(manifest)}"] = ("application/vnd.docker.distribution.manifest.v2+json",
                                                            manifest)
        self.paths[f"{base}/manifests/{sha(other)}"] = ("application/vnd.oci.image.manifest.v1+json", other)
        self.paths[f"{base}/blobs/{sha(config)}"] = ("application/octet-stream", config)
        self.paths[f"{base}/blobs/{sha(gz)}"] = ("application/octet-stream", gz)
        return {"config": sha(config), "layer": sha(gz), "diff_id": sha(tar), "arm64_manifest": sha(manifest)}

    def model(self, tag: str, weights: bytes) -> dict:
        name, version = tag.split(":")
        blobs = {"application/vnd.ollama.image.model": weights,
                 "application/vnd.ollama.image.template": b"{{ .Prompt }}"}
        config = json.dumps({"model_format": "gguf"}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                          "digest": sha(config), "size": len(config)},
                               "layers": [{"mediaType": media, "digest": sha(data), "size": len(data)}
                                          for media, data in blobs.items()]}).encode()
        self.paths[f"/v2/library/{name}/manifests/{version}"] = ("application/vnd.docker.distribution.manifest.v2+json",
                                                                 manifest)
        for data in [config, *blobs.values()]:
            self.paths[f"/v2/library/{name}/blobs/{sha(data)}"] = ("application/octet-stream", data)
        return {"manifest": sha(manifest), "blobs": {sha(config), *map(sha, blobs.values())}, "weights": weights}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    stub = Upstream()
    stub.image("dustynv/ollama", "r36.4.3", {"usr/local/bin/ollama": b"#!/bin/sh\necho ollama\n"})
    stub.model(TAG, b"GGUF" + bytes(range(256)) * 64)
    yield stub
    stub.close()


@pytest.fixture
def site(tmp_path):
    """A site directory with an inventory of two boards (one 'auto'), as a user's checkout has."""
    (tmp_path / "inventory.py").write_text(
        "boards = [\n"
        f"    ('board1', {{'ollama_models': ['{TAG}']}}),\n"
        "    ('board2', {'ollama_models': 'auto'}),\n"
        "]\n")
    return tmp_path


def bundle_cli(site: Path, upstream: Upstream, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jetson_ollama", "bundle", "inventory.py", "-o", "site.tar",
                           "--registry", upstream.url, "--ollama-registry", upstream.url, *args],
                          cwd=site, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=120)


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_a_bundle_holds_what_the_inventory_needs_each_member_checked(site, upstream):
    run = bundle_cli(site, upstream, "--l4t", "36.4.3", "--models", TAG)
    assert run.returncode == 0, run.stderr
    # the summary: the image for the release, the model, and the bundle's own figures
    assert f"image   {REF}" in run.stdout and "(L4T 36.4.3)" in run.stdout
    assert f"model   {TAG}" in run.stdout
    assert run.stdout.splitlines()[-1].startswith("bundle  site.tar")
    with tarfile.open(site / "site.tar") as tar:
        files = [m.name for m in tar.getmembers() if m.isfile()]
        assert files[0] == "index.json" and files[1:] == sorted(files[1:])
        assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in tar.getmembers())
    content = members(site / "site.tar")
    index = json.loads(content["index.json"])
    assert set(index["members"]) == set(content) - {"index.json"}
    for name, data in content.items():
        if name != "index.json":
            assert index["members"][name] == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}, name
    assert index["hosts"]["board1"] == {"images": [REF], "models": [TAG], "native": []}
    assert index["hosts"]["board2"]["models"] == [TAG]  # auto: what --models named
    assert set(index["images"]) == {REF} and index["images"][REF]["archive"] == "images/dustynv_ollama_r36.4.3.tar"


def test_the_image_archive_is_what_docker_load_reads(site, upstream, tmp_path):
    digests = upstream.image("dustynv/ollama", "r36.4.3", {"usr/local/bin/ollama": b"#!/bin/sh\necho ollama\n"})
    assert bundle_cli(site, upstream, "--l4t", "36.4.3", "--models", TAG).returncode == 0
    archive = tmp_path / "image.tar"
    archive.write_bytes(members(site / "site.tar")["images/dustynv_ollama_r36.4.3.tar"])
    assert check_docker_archive(archive) == []
    inner = members(archive)
    [entry] = json.loads(inner["manifest.json"])
    assert entry == {"Config": "blobs/sha256/" + digests["config"][7:], "RepoTags": [REF],
                     "Layers": ["blobs/sha256/" + digests["layer"][7:]]}  # the arm64 image, not the amd64 one
    assert sha(inner[entry["Config"]]) == digests["config"]  # the image id docker shows after the load
    index = json.loads(members(site / "site.tar")["index.json"])
    assert index["images"][REF]["image_id"] == digests["config"]
    assert any(path.startswith("/token?") for path in upstream.requests)  # Docker Hub's anonymous token


def test_docker_load_rules_catch_a_layer_that_is_not_its_diff_id(tmp_path):
    gz, _ = layer({"a": b"1"})
    config = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(b"other")]}}).encode()
    manifest = json.dumps([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l.tar"]}]).encode()
    write_tar(tmp_path / "bad.tar", [("manifest.json", manifest), ("c.json", config), ("l.tar", gz)])
    assert check_docker_archive(tmp_path / "bad.tar") == [
        f"invalid diffID for layer 0: expected {sha(b'other')}, got {sha(layer({'a': b'1'})[1])}"]
    write_tar(tmp_path / "short.tar", [("manifest.json", manifest.replace(b'"l.tar"', b'"l.tar", "m.tar"')),
                                       ("c.json", config), ("l.tar", gz)])
    assert check_docker_archive(tmp_path / "short.tar", layers=False) == [
        "invalid manifest, layers length mismatch: expected 2, got 1"]


def test_the_same_inputs_give_the_same_bytes_and_the_lock_pins_the_model(site, upstream):
    assert bundle_cli(site, upstream, "--l4t", "36.4.3", "--models", TAG).returncode == 0
    first = (site / "site.tar").read_bytes()
    locked = yaml.safe_load((site / "models.lock").read_text())
    model = json.loads(members(site / "site.tar")["index.json"])["models"][TAG]
    assert locked[TAG]["manifest"] == model["manifest"]  # the first download pinned it
    assert members(site / "site.tar")["models.lock"] == (site / "models.lock").read_bytes()
    fetched = len(upstream.requests)
    assert bundle_cli(site, upstream, "--l4t", "36.4.3", "--models", TAG).returncode == 0
    assert (site / "site.tar").read_bytes() == first
    assert not [path for path in upstream.requests[fetched:] if "/blobs/" in path]  # the work dir is a cache


def test_a_retag_upstream_of_a_locked_model_fails_the_bundle(site, upstream):
    assert bundle_cli(site, upstream, "--l4t", "36.4.3", "--models", TAG).returncode == 0
    upstream.model(TAG, b"GGUF other bytes")
    run = bundle_cli(site, upstream, "--l4t", "36.4.3", "--models", TAG, "--work", "other-work")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith(f"jetson-ollama bundle: manifest of {TAG} from ")
    assert "models.lock pins it" in run.stderr


def test_refusals_are_one_line_with_the_way_out(site, upstream):
    auto = bundle_cli(site, upstream, "--l4t", "36.4.3")
    assert auto.returncode == 2 and auto.stderr == (
        "jetson-ollama bundle: board2: ollama_models is auto, which the board picks by its RAM: name the models "
        "to bundle for such hosts with --models TAG,... (e.g. --models qwen2.5:7b)\n")
    no_l4t = bundle_cli(site, upstream, "--models", TAG)
    assert no_l4t.returncode == 2 and "give the boards' L4T releases with --l4t" in no_l4t.stderr
    missing = bundle_cli(site, upstream, "--l4t", "36.4.3", "--models", "qwen3:4b")  # not served upstream
    assert missing.returncode == 1 and "404" in missing.stderr.splitlines()[-1]
    assert not (site / "site.tar").exists()


def test_a_release_whose_settings_build_is_skipped_with_a_note():
    class Host:
        def __init__(self, name, data):
            self.name, self.data = name, data

    # qwen3 needs a 2025 Ollama: no prebuilt image for r36.2.0 has one (docs/facts.md section 4), so "auto" builds
    plan = plan_bundle([Host("nano", {"ollama_models": ["qwen3:4b"]})], ["36.2.0", "36.4.4"])
    assert plan.images == {"dustynv/ollama:0.6.8-r36.4-cu126-22.04": ["36.4.4"]}
    assert plan.notes == ["nano: L4T 36.2.0 skipped: no prebuilt image fits its settings, and a build needs the "
                          "internet (the deploy refuses such a board)"]
    with pytest.raises(BundleError, match="^nano: no prebuilt image for any of the L4T releases 36.2.0: "):
        plan_bundle([Host("nano", {"ollama_models": ["qwen3:4b"]})], ["36.2.0"])
    reuse = plan_bundle([Host("old", {"ollama_models": [TAG], "jetson_image_strategy": "reuse"})], [])
    assert reuse.images == {} and reuse.models == [TAG]


def test_native_hosts_get_their_release_archives_checked_and_pinned(tmp_path, monkeypatch):
    class Host:
        def __init__(self, name, data):
            self.name, self.data = name, data

    archives = {"ollama-linux-arm64.tgz": b"base", "ollama-linux-arm64-jetpack6.tgz": b"jp6"}
    stub = Upstream()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  ./{name}\n" for name, data in archives.items())
    stub.paths["/v0.6.8/sha256sum.txt"] = ("text/plain", sums.encode())
    for name, data in archives.items():
        stub.paths[f"/v0.6.8/{name}"] = ("application/octet-stream", data)
    monkeypatch.chdir(tmp_path)
    try:
        plan = plan_bundle([Host("n1", {"ollama_models": [], "jetson_runtime": "native",
                                        "jetson_image_strategy": "reuse", "ollama_native_version": "0.6.8",
                                        "ollama_native_url": stub.url})], ["36.4.3"])
        written = bundle_mod.build_bundle(plan, tmp_path / "n.tar", work=tmp_path / "work", registry=stub.url)
    finally:
        stub.close()
    content = members(tmp_path / "n.tar")
    assert {name: content[f"native/v0.6.8/{name}"] for name in archives} == archives
    assert written.index["hosts"]["n1"]["native"] == ["v0.6.8/ollama-linux-arm64-jetpack6.tgz",
                                                      "v0.6.8/ollama-linux-arm64.tgz"]
    pins = yaml.safe_load(content["models.lock"])["pins"]["ollama-native"]
    assert pins == {f"v0.6.8/{name}": sha(data) for name, data in archives.items()}
    stream, digest = Bundle(tmp_path / "n.tar").native_file("0.6.8", "ollama-linux-arm64.tgz")
    assert stream.read() == b"base" and digest == hashlib.sha256(b"base").hexdigest()


# ---- the reader the deploy uses, and the boards' copy out of the bundle's store


@pytest.fixture
def made(site, upstream):
    assert bundle_cli(site, upstream, "--l4t", "36.4.3", "--models", TAG).returncode == 0
    return site / "site.tar"


def test_the_reader_hands_out_members_and_the_manifest_as_the_registry_served_it(made, upstream):
    bundle = Bundle(made)
    manifest = bundle.registry_manifest(TAG)
    served = upstream.paths["/v2/library/qwen2.5/manifests/0.5b"][1]
    assert manifest == {"sha256": hashlib.sha256(served).hexdigest(), "manifest": json.loads(served), "error": ""}
    assert bundle.registry_manifest("qwen3:8b")["error"].startswith(f"qwen3:8b is not in the bundle {made} ({TAG})")
    parsed = json.loads(served)
    digests = [parsed["config"]["digest"], *(layer["digest"] for layer in parsed["layers"])]
    assert set(bundle.model_files(TAG)) == {"manifests/registry.ollama.ai/library/qwen2.5/0.5b",
                                            *("blobs/" + digest.replace(":", "-") for digest in digests)}
    first, second = bundle.open(bundle.models[TAG]["path"]), bundle.open(bundle.models[TAG]["path"])
    assert first.read(10) == served[:10] and second.read() == served and first.read() == served[10:]
    assert bundle.image_problem(REF, "36.4.3") is None
    assert bundle.image_problem("dustynv/ollama:r36.2.0", "36.2.0") == (
        f"the bundle {made} has no image dustynv/ollama:r36.2.0, which this board (L4T 36.2.0) needs; it has "
        f"{REF} (L4T 36.4.3): bundle again with --l4t 36.2.0")


def test_a_bundle_whose_files_differ_from_its_index_is_refused(made, tmp_path):
    content = members(made)
    write_tar(tmp_path / "extra.tar", [*content.items(), ("zz-extra", b"x")])
    with pytest.raises(BundleError, match=r"its files and its index.json differ \(zz-extra\)"):
        Bundle(tmp_path / "extra.tar")
    write_tar(tmp_path / "noindex.tar", [(name, data) for name, data in content.items() if name != "index.json"])
    with pytest.raises(BundleError, match="is not a jetson-ollama bundle: index.json is not its first file"):
        Bundle(tmp_path / "noindex.tar")
    tampered = dict(content)
    path = Bundle(made).models[TAG]["path"]
    tampered[path] = tampered[path].replace(b"2", b"3", 1)  # same size, other bytes
    write_tar(tmp_path / "tampered.tar", tampered.items())
    with pytest.raises(BundleError, match="does not match its sha256 in index.json"):
        Bundle(tmp_path / "tampered.tar").registry_manifest(TAG)


def test_ollama_fetch_copies_a_model_out_of_a_store_on_disk(made, upstream, tmp_path):
    bundle = Bundle(made)
    staged = tmp_path / "staged"
    for path, stream in bundle.model_files(TAG).items():
        (staged / path).parent.mkdir(parents=True, exist_ok=True)
        (staged / path).write_bytes(stream.read())
    digest = bundle.models[TAG]["manifest"]

    def fetch(store: Path, models: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(FETCH), "--model", TAG, "--models-dir", str(models),
                               "--store", f"file://{store}", "--expect-manifest", digest],
                              capture_output=True, text=True, timeout=60)

    ok = fetch(staged, tmp_path / "models")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[-1])["manifest"] == digest
    assert (tmp_path / "models/manifests/registry.ollama.ai/library/qwen2.5/0.5b").read_bytes() == \
        bundle.read(bundle.models[TAG]["path"])
    assert {p.name: p.read_bytes() for p in (tmp_path / "models/blobs").iterdir()} == \
        {p.name: p.read_bytes() for p in (staged / "blobs").iterdir()}
    # bit rot in the staged copy: same size, other bytes -> exit 3, nothing installed
    blob = next(p for p in (staged / "blobs").iterdir() if p.stat().st_size > 1000)
    blob.write_bytes(b"X" + blob.read_bytes()[1:])
    rotten = fetch(staged, tmp_path / "other-models")
    assert rotten.returncode == 3 and "got sha256:" in rotten.stderr
    assert not (tmp_path / "other-models/manifests").exists()
