"""The simulator's side of the native runtime, without boards: the GitHub releases stand-in
(jetson_sim/upstream/github_releases.py) as curl and tar see it, and the simulated Ollama run from a
release's layout, which uses the GPU only with the matching JetPack bundle beside it and the right to
open the GPU's device nodes (the video or render group), as a real one on a Jetson."""

from __future__ import annotations

import grp
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from jetson_ollama.native import archive_names, parse_checksums
from jetson_sim.upstream import github_releases
from jetson_sim.upstream.ollama import board

ARM64, JP6, JP5 = "ollama-linux-arm64.tgz", "ollama-linux-arm64-jetpack6.tgz", "ollama-linux-arm64-jetpack5.tgz"


@pytest.fixture(scope="module")
def served():
    """The stand-in on a loopback port: (base URL, Releases)."""
    releases = github_releases.Releases()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (github_releases.Handler,), {
        "releases": releases, "log_request": lambda *a, **k: None}))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", releases
    finally:
        server.shutdown()
        server.server_close()


def curl(*args, check=True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(["curl", "-sS", *args], capture_output=True, env=env, check=check, timeout=30)


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {info.name: info for info in tar.getmembers()}


def test_release_layout_is_upstreams_with_the_version_in_the_binary(served):
    _, releases = served
    files = releases.files["0.6.8"]
    assert sorted(files) == sorted([ARM64, JP6, JP5, "sha256sum.txt"])
    base, bundle = members(files[ARM64]), members(files[JP6])
    assert {"bin/ollama", "lib/ollama/libggml-base.so"} <= set(base) and base["bin/ollama"].mode == 0o755
    assert not any("cuda_jetpack" in name for name in base)
    assert set(bundle) >= {"lib/ollama/cuda_jetpack6", "lib/ollama/cuda_jetpack6/libggml-cuda.so"}
    assert all(info.uid == 0 and info.gid == 0 for info in [*base.values(), *bundle.values()])
    with tarfile.open(fileobj=io.BytesIO(files[ARM64]), mode="r:gz") as tar:
        script = tar.extractfile("bin/ollama").read()
    assert b'\nDEFAULT_VERSION = "0.6.8"\n' in script and script.startswith(b"#!/usr/bin/env python3")
    # the names the library asks for are the names served
    assert set(archive_names("0.6.8", "6.2")) <= set(files) and set(archive_names("0.6.8", "5.1.2")) <= set(files)


def test_archives_are_reproducible_and_sha256sum_txt_lists_them(served):
    _, releases = served
    assert github_releases.build_release("0.6.8") == releases.original["0.6.8"]
    listed = parse_checksums(releases.files["0.6.8"]["sha256sum.txt"].decode().splitlines())
    assert listed == {name: entry["sha256"] for name, entry in releases.listing()["0.6.8"].items()
                      if name != "sha256sum.txt"}


@pytest.mark.skipif(not shutil.which("zstd"), reason="no zstd here: the .tar.zst releases are left out")
def test_from_0_14_the_archives_are_tar_zst_and_tar_reads_them_with_zstd(served, tmp_path):
    _, releases = served
    assert "0.14.0" in releases.versions and set(archive_names("0.14.0", "6")) <= set(releases.files["0.14.0"])
    archive = tmp_path / "a.tar.zst"
    archive.write_bytes(releases.files["0.14.0"]["ollama-linux-arm64.tar.zst"])
    listed = subprocess.run(["tar", "-I", "zstd", "-tf", str(archive)], capture_output=True, text=True, check=True)
    assert "bin/ollama" in listed.stdout.split()


def test_download_redirects_like_github_and_serves_the_bytes(served, tmp_path):
    url, releases = served
    path = f"/ollama/ollama/releases/download/v0.6.8/{ARM64}"
    head = curl("-I", url + path).stdout.decode()
    assert head.startswith("HTTP/1.0 302") and f"Location: /_cdn/v0.6.8/{ARM64}" in head
    got = tmp_path / ARM64
    curl("-fL", "-o", str(got), url + path)
    assert got.read_bytes() == releases.files["0.6.8"][ARM64]
    missing = curl("-fL", "-o", "/dev/null", "-w", "%{http_code}", url + path.replace("0.6.8", "9.9.9"), check=False)
    assert missing.returncode == 22 and missing.stdout == b"404"


def test_tamper_hook_serves_other_bytes_until_reset(served):
    url, releases = served
    before = releases.listing()["0.6.8"]

    def hook(name, body=None):
        result = curl("-f", "-X", "POST", "-d", json.dumps(body or {}), f"{url}/_sim/{name}")
        return json.loads(result.stdout)

    changed = hook("tamper", {"version": "0.6.8", "file": ARM64})
    assert changed["sha256"] != before[ARM64]["sha256"] and changed["size"] != before[ARM64]["size"]
    served_now = curl("-fL", f"{url}/ollama/ollama/releases/download/v0.6.8/{ARM64}").stdout
    assert "sha256:" + hashlib.sha256(served_now).hexdigest() == changed["sha256"]
    assert releases.files["0.6.8"]["sha256sum.txt"] == releases.original["0.6.8"]["sha256sum.txt"]
    hook("tamper", {"version": "0.6.8", "file": ARM64, "checksums": True})
    assert parse_checksums(releases.files["0.6.8"]["sha256sum.txt"].decode().splitlines())[ARM64] == changed["sha256"]
    stats = json.loads(curl("-f", f"{url}/_sim/stats").stdout)
    assert stats["gets_by_file"][f"v0.6.8/{ARM64}"] >= 1
    hook("reset")
    assert releases.listing()["0.6.8"] == before and releases.snapshot()["requests"] == 0
    assert curl("-X", "POST", "-d", "{}", "-w", "%{http_code}", "-o", "/dev/null", f"{url}/_sim/tamper",
                check=False).stdout == b"404"


# ---------------------------------------------------------------- GPU or CPU

@pytest.mark.parametrize("marker, jetpack, bundle, euid, groups, gpu", [
    (True, "6", "cuda_jetpack6", 1001, {"ollama", "video"}, True),
    (True, "6", "cuda_jetpack6", 1001, {"ollama", "render"}, True),
    (True, "6", "cuda_jetpack6", 0, {"root"}, True),
    (True, "6", "cuda_jetpack6", 1001, {"ollama"}, False),      # not allowed to open the device nodes
    (True, "6", "cuda_jetpack5", 1001, {"video"}, False),       # the other JetPack's bundle
    (True, "6", None, 1001, {"video"}, False),                  # the base archive alone
    (True, "", "cuda_jetpack6", 1001, {"video"}, False),        # JetPack unknown
    (False, "6", "cuda_jetpack6", 1001, {"video"}, False),      # not a Jetson
], ids=["video", "render", "root", "no-group", "wrong-bundle", "no-bundle", "no-jetpack", "no-gpu"])
def test_native_gpu_decision(tmp_path, marker, jetpack, bundle, euid, groups, gpu):
    libs = tmp_path / "lib" / "ollama"
    libs.mkdir(parents=True)
    if bundle:
        (libs / bundle).mkdir()
    decided, why = board.gpu_decision(marker, jetpack, libs, euid, groups)
    assert decided is gpu and bool(why) is not gpu


def test_container_gpu_decision_is_unchanged(monkeypatch):
    monkeypatch.setenv("JETSON_JETPACK", "6")
    assert board.gpu_decision(True, "6", None, 0, {"root"}) == (True, "")
    monkeypatch.delenv("JETSON_JETPACK")
    assert board.gpu_decision(True, "", None, 0, {"root"})[1].startswith("cudaSetDevice err: 35")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def unpacked(served):
    """The 0.6.8 release with its JetPack 6 bundle, unpacked as the library does, in a directory others
    may read (the server runs as another user below)."""
    _, releases = served
    root = Path(tempfile.mkdtemp(prefix="jetson-ollama-native-"))
    try:
        root.chmod(0o755)
        prefix = root / "usr-local"
        for name in (ARM64, JP6):
            with tarfile.open(fileobj=io.BytesIO(releases.files["0.6.8"][name]), mode="r:gz") as tar:
                tar.extractall(prefix, filter="tar")
        board = root / "board"
        board.mkdir()
        (board / "gpu").write_text("simulated Orin GPU\n")
        (board / "nv_tegra_release").write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic\n")
        yield prefix, board
    finally:
        shutil.rmtree(root)


def start_log(prefix: Path, board: Path, as_user: list[str] | None = None, without_bundle=False) -> str:
    """The simulated server's start-up log, run from the unpacked release."""
    if without_bundle:
        shutil.move(prefix / "lib/ollama/cuda_jetpack6", prefix / "cuda_jetpack6.away")
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "OLLAMA_HOST": f"127.0.0.1:{port}",
           "OLLAMA_MODELS": str(board / f"models-{port}"), "JETSON_SIM_GPU": str(board / "gpu"),
           "JETSON_SIM_TEGRA_RELEASE": str(board / "nv_tegra_release"), "JETSON_SIM_PROFILE": "/nonexistent",
           "JETSON_SIM_MEM_D": "/nonexistent", "JETSON_SIM_GR3D": "/nonexistent/gr3d"}
    (board / f"models-{port}").mkdir(mode=0o777)
    (board / f"models-{port}").chmod(0o777)
    argv = [*(as_user or []), sys.executable, "-I", "-S", str(prefix / "bin" / "ollama"), "serve"]
    log_file = board / f"serve-{port}.log"
    with open(log_file, "w") as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        deadline = time.monotonic() + 30
        # the GPU decision is logged after the port is bound: wait for it, not for the port
        while not any(decided in (log := log_file.read_text())
                      for decided in ('msg="inference compute"', 'msg="no compatible GPUs were discovered"')):
            assert proc.poll() is None, log
            assert time.monotonic() < deadline, log
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if without_bundle:
            shutil.move(prefix / "cuda_jetpack6.away", prefix / "lib/ollama/cuda_jetpack6")
    return log


def test_the_release_runs_on_the_gpu_with_its_bundle_and_on_the_cpu_without(unpacked):
    prefix, board = unpacked
    log = start_log(prefix, board)
    assert 'msg="inference compute"' in log and "variant=jetpack6" in log and "(version 0.6.8)" in log
    cpu = start_log(prefix, board, without_bundle=True)
    assert 'msg="no compatible GPUs were discovered"' in cpu and "the JetPack bundle is not installed" in cpu


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv to change user")
def test_the_gpu_needs_the_video_or_render_group(unpacked):
    prefix, board = unpacked
    nobody = ["setpriv", "--reuid=65534", "--regid=65534"]
    without = start_log(prefix, board, as_user=[*nobody, "--clear-groups"])
    assert "no permission to open the GPU device nodes" in without and "inference compute" not in without
    try:
        gid = grp.getgrnam("video").gr_gid
    except KeyError:
        pytest.skip("no video group on this machine")
    video = start_log(prefix, board, as_user=[*nobody, f"--groups={gid}"])
    assert 'msg="inference compute"' in video
