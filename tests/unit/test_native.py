"""The native runtime (`jetson_runtime: native`): which archives a board gets, the pins in models.lock,
the unit and its drop-in, the plan's checks (no docker needed, the port held by our own other runtime
allowed, a foreign listener refused), and `native.installed`'s commands run for real here against the
simulated GitHub releases (jetson_sim/upstream/github_releases.py): unpacked, idempotent by its marker,
a tampered archive refused with both digests and nothing unpacked."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from pyinfra.api import StringCommand
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.util import FakeState, create_host

from jetson_ollama import lock, native, plan
from jetson_ollama.config import ConfigError, ollama_environment, settings
from jetson_ollama.facts.native import NativeInstall, OllamaService, StoreOwnership
from jetson_ollama.operations import native as native_ops
from jetson_ollama.stages.native import wait_for_api
from jetson_sim.upstream import github_releases

from .test_bundle import TAG, bundle_cli, site, upstream  # noqa: F401 - site, upstream: fixtures

DIGEST_A, DIGEST_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


# ---------------------------------------------------------------- the release a board gets

@pytest.mark.parametrize("version, jetpack, names", [
    ("0.6.8", "6.2", ["ollama-linux-arm64.tgz", "ollama-linux-arm64-jetpack6.tgz"]),
    ("0.6.8", "6.0", ["ollama-linux-arm64.tgz", "ollama-linux-arm64-jetpack6.tgz"]),
    ("0.5.7", "5.1.2", ["ollama-linux-arm64.tgz", "ollama-linux-arm64-jetpack5.tgz"]),
    ("0.13.9", 6, ["ollama-linux-arm64.tgz", "ollama-linux-arm64-jetpack6.tgz"]),
    # docs/facts.md section 5
    ("0.14.0", "6.2.1", ["ollama-linux-arm64.tar.zst", "ollama-linux-arm64-jetpack6.tar.zst"]),
    ("1.2.3", "5.1.3", ["ollama-linux-arm64.tar.zst", "ollama-linux-arm64-jetpack5.tar.zst"]),
])
def test_archives_follow_the_version_and_the_boards_jetpack(version, jetpack, names):
    assert native.archive_names(version, jetpack) == names


def test_jetpack_7_runs_the_base_archive_from_0_11_11_and_a_bad_version_is_refused():
    # ollama/ollama Dockerfile @v0.11.11: the arm64 archive carries the CUDA 13 runner (Thor) from then on
    assert native.archive_names("0.11.11", "7.0") == ["ollama-linux-arm64.tgz"]
    assert native.archive_names("0.14.0", "7.1") == ["ollama-linux-arm64.tar.zst"]
    with pytest.raises(native.NoBundle, match=r"^Ollama 0.11.10 has no GPU runner for JetPack 7.0: .*"
                                              r"set ollama_native_version: 0.11.11 or newer$"):
        native.archive_names("0.11.10", "7.0")
    with pytest.raises(native.NoBundle, match="no JetPack bundle for JetPack 8.0 .*jetson_runtime: container"):
        native.archive_names("0.14.0", "8.0")
    with pytest.raises(ValueError, match="not an Ollama release version"):
        native.archive_names("0.6", "6.2")


def test_release_urls_and_pin_keys():
    release = native.release_for("0.6.8", "https://github.com/ollama/ollama/releases/download/", "6.2")
    assert release.archive_url("ollama-linux-arm64.tgz") == \
        "https://github.com/ollama/ollama/releases/download/v0.6.8/ollama-linux-arm64.tgz"
    assert release.checksums_url == "https://github.com/ollama/ollama/releases/download/v0.6.8/sha256sum.txt"
    assert release.pin_key("ollama-linux-arm64.tgz") == "v0.6.8/ollama-linux-arm64.tgz"
    assert not release.needs_zstd and native.release_for("0.14.0", "http://x", "6").needs_zstd


def test_checksums_file_is_read_as_sha256sum_writes_it():
    lines = [f"{'a' * 64}  ./ollama-linux-arm64.tgz", f"{'b' * 64} *ollama-linux-arm64-jetpack6.tgz",
             "", "not a line", f"{'c' * 63}  ./short.tgz"]
    assert native.parse_checksums(lines) == {"ollama-linux-arm64.tgz": DIGEST_A,
                                             "ollama-linux-arm64-jetpack6.tgz": DIGEST_B}


# ---------------------------------------------------------------- settings, unit, drop-in

def test_runtime_settings_are_checked():
    cfg = settings({})
    assert (cfg.jetson_runtime, cfg.ollama_native_version) == ("container", "0.6.8")
    assert cfg.ollama_native_url == "https://github.com/ollama/ollama/releases/download"
    for key, bad in (("jetson_runtime", "docker"), ("ollama_native_version", "latest"),
                     ("ollama_native_version", "0.6"), ("ollama_native_url", "github.com/ollama")):
        with pytest.raises(ConfigError, match=f"^{key}: "):
            settings({key: bad})


def test_native_environment_points_at_the_shared_store_and_leaves_jetpack_detection_to_ollama():
    container = ollama_environment(settings({}), "6.2")
    own = ollama_environment(settings({"jetson_runtime": "native"}), "6.2")
    assert container["OLLAMA_MODELS"] == "/ollama/models" and container["JETSON_JETPACK"] == "6"
    assert own["OLLAMA_MODELS"] == "/opt/ollama/models" and "JETSON_JETPACK" not in own
    assert {k: v for k, v in own.items() if k != "OLLAMA_MODELS"} == \
        {k: v for k, v in container.items() if k not in ("OLLAMA_MODELS", "JETSON_JETPACK")}


def test_unit_is_the_upstream_one_and_the_settings_go_to_the_drop_in():
    unit = native.unit_text()
    for line in ("ExecStart=/usr/local/bin/ollama serve", "User=ollama", "Restart=always",
                 "WantedBy=default.target"):
        assert line in unit.splitlines()  # docs/facts.md section 5
    assert "OLLAMA_" not in unit
    dropin = native.dropin_text({"OLLAMA_KEEP_ALIVE": "5m", "OLLAMA_HOST": "127.0.0.1:11434"})
    assert dropin.splitlines()[1:] == ["[Service]", 'Environment="OLLAMA_HOST=127.0.0.1:11434"',
                                       'Environment="OLLAMA_KEEP_ALIVE=5m"']


def test_drop_in_quotes_what_systemd_would_read_otherwise():
    assert native.dropin_text({"X": 'a "b" \\ 100%'}).splitlines()[-1] == 'Environment="X=a \\"b\\" \\\\ 100%%"'
    with pytest.raises(ValueError):
        native.dropin_text({"X": "a\nExecStart=/bin/sh"})
    with pytest.raises(ValueError):
        native.dropin_text({"BAD NAME": "1"})


def test_drop_in_reads_back_through_systemd(tmp_path):
    analyze = subprocess.run(["sh", "-c", "command -v systemd-analyze"], capture_output=True, text=True)
    if analyze.returncode != 0:
        pytest.skip("no systemd-analyze on this machine")
    unit = tmp_path / "t.service"
    dropin = native.dropin_text({"X": 'a "b" 100%'})
    unit.write_text("[Service]\nExecStart=/bin/true\n" + dropin.split("[Service]\n")[1])
    shown = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert "Invalid" not in shown.stderr and "Failed" not in shown.stderr, shown.stderr


# ---------------------------------------------------------------- the plan

class Board:
    """A stand-in for pyinfra's host: facts by class name (and keyword arguments), host data."""

    def __init__(self, facts: dict, data: dict):
        self.name, self.facts, self.data = "nano1", facts, data

    def get_fact(self, fact, **kwargs):
        return self.facts[fact.__name__] if fact.__name__ in self.facts else fact().default()


NANO_TEGRA = {"l4t": "36.4.3", "major": 36}
# what the registry answers for a model the board lacks (the recorded fact of tests/unit/facts)
REGISTRY_MANIFEST = json.loads((Path(__file__).parent / "facts" / "models.RegistryManifest" / "fetched.json")
                               .read_text())["fact"]
LISTENER = [{"address": "127.0.0.1", "port": 11434, "process": "ollama"}]
# the release's sha256sum.txt, as the board reads it (the ReleaseChecksums fact)
PUBLISHED = {"ollama-linux-arm64.tgz": DIGEST_A, "ollama-linux-arm64-jetpack6.tgz": DIGEST_B,
             "ollama-linux-arm64-jetpack5.tgz": "sha256:" + "c" * 64}


def board_facts(**changes) -> dict:
    facts = {
        "Arch": "aarch64", "TegraRelease": NANO_TEGRA, "Memory": {"mem_total_mb": 7620},
        "DefaultTarget": "multi-user.target", "DockerState": {}, "OllamaContainer": {}, "OllamaService": {},
        "PortListener": [], "DockerImages": [], "JetsonContainersCheckout": {}, "DiskFree": 100_000,
        "LanAddresses": [], "PowerModes": {"modes": []}, "SwapFile": {}, "OllamaModels": {}, "OllamaManifests": {},
        "RegistryManifest": REGISTRY_MANIFEST, "ReleaseChecksums": PUBLISHED,
    }
    return {**facts, **changes}


def make_plan(facts: dict, **data) -> plan.BoardPlan:
    return plan._make_plan(Board(facts, {"jetson_runtime": "native", "ollama_models": ["qwen2.5:0.5b"], **data}))


def test_native_plan_needs_no_docker():
    made = make_plan(board_facts())
    assert made.refusal is None, made.refusal
    assert made.image is None and made.native.archives == ("ollama-linux-arm64.tgz", "ollama-linux-arm64-jetpack6.tgz")
    assert made.environment["OLLAMA_MODELS"] == "/opt/ollama/models" and made.models == ["qwen2.5:0.5b"]
    container = plan._make_plan(Board(board_facts(), {"ollama_models": ["qwen2.5:0.5b"]}))
    assert container.refusal.startswith("docker is not installed")


@pytest.mark.parametrize("holder, data, refused", [
    ({"OllamaService": {"active": True, "ours": True, "loaded": True}}, {}, False),  # native -> native
    ({"OllamaService": {"active": True, "ours": True}}, {"jetson_runtime": "container"}, False),  # the switch back
    ({"OllamaContainer": {"running": True}}, {}, False),  # container -> native: the stage removes it
    ({"OllamaService": {"active": True, "ours": False, "loaded": True}}, {}, True),  # install.sh's own
    ({"OllamaService": {"active": False, "ours": True}}, {}, True),  # ours, stopped, but someone listens
    ({}, {}, True),
], ids=["our-service", "our-service-for-container", "our-container", "foreign-service", "someone-else", "unknown"])
def test_port_held_by_our_other_runtime_is_allowed_and_a_foreign_one_refused(holder, data, refused):
    docker = {"installed": True, "running": True, "runtimes": ["nvidia", "runc"]}
    made = make_plan(board_facts(PortListener=LISTENER, DockerState=docker, **holder), **data)
    if refused:
        assert made.refusal == "port 11434 is already taken by ollama on 127.0.0.1 (a native ollama.service?)"
    else:
        assert made.refusal is None, made.refusal


def test_native_plan_on_thor_and_a_release_too_old_for_the_models():
    thor = make_plan(board_facts(TegraRelease={"l4t": "38.2", "major": 38}))
    assert thor.refusal.startswith("Ollama 0.6.8 has no GPU runner for JetPack 7.0")
    thor = make_plan(board_facts(TegraRelease={"l4t": "38.2", "major": 38},
                                 ReleaseChecksums={"ollama-linux-arm64.tar.zst": DIGEST_A}),
                     ollama_native_version="0.14.0")
    assert thor.refusal is None and thor.native.archives == ("ollama-linux-arm64.tar.zst",)
    old = make_plan(board_facts(), ollama_models=["qwen3:0.6b"], ollama_native_version="0.5.7")
    assert old.refusal == "the model set needs Ollama 0.6.6 or newer, ollama_native_version is 0.5.7"


def test_the_plan_pins_the_release_checksums_on_first_use_then_the_pin_rules(tmp_path):
    lock_file = str(tmp_path / "models.lock")
    first = make_plan(board_facts(), ollama_lock_file=lock_file)
    assert first.refusal is None, first.refusal
    assert first.runtime.archives == {"ollama-linux-arm64.tgz": DIGEST_A, "ollama-linux-arm64-jetpack6.tgz": DIGEST_B}
    assert first.runtime.files is None  # the board downloads them
    assert first.pins == [("ollama-native", "v0.6.8/ollama-linux-arm64.tgz", DIGEST_A),
                          ("ollama-native", "v0.6.8/ollama-linux-arm64-jetpack6.tgz", DIGEST_B)]
    for section, key, value in first.pins:  # what plan_for does with them
        lock.pin(lock_file, section, key, value)
    # later runs: the pin, whatever the release says now; the board's sha256sum.txt is not read
    changed = {name: "sha256:" + "d" * 64 for name in PUBLISHED}
    later = make_plan(board_facts(ReleaseChecksums=changed), ollama_lock_file=lock_file)
    assert later.refusal is None and later.pins == [] and later.runtime.archives == first.runtime.archives


def test_a_release_whose_sha256_is_known_nowhere_is_refused_by_the_plan(tmp_path):
    made = make_plan(board_facts(ReleaseChecksums={}), ollama_lock_file=str(tmp_path / "models.lock"))
    assert made.refusal == (f"no sha256 for ollama-linux-arm64.tgz, ollama-linux-arm64-jetpack6.tgz: not pinned in "
                            f"{tmp_path / 'models.lock'} (ollama-native) and not in "
                            "https://github.com/ollama/ollama/releases/download/v0.6.8/sha256sum.txt")
    assert made.pins == [] and not (tmp_path / "models.lock").exists()
    half = make_plan(board_facts(ReleaseChecksums={"ollama-linux-arm64.tgz": DIGEST_A}),
                     ollama_lock_file=str(tmp_path / "models.lock"))
    assert half.refusal.startswith("no sha256 for ollama-linux-arm64-jetpack6.tgz: ") and half.pins == []


@pytest.fixture
def container_bundle(site, upstream):  # noqa: F811 - the fixtures
    """A bundle of an image and a model, for container boards: no native release in it."""
    made = bundle_cli(site, upstream, "--l4t", "36.4.3", "--models", TAG)
    assert made.returncode == 0, made.stderr
    return site / "site.tar"


def test_a_bundle_without_the_native_release_is_refused_by_the_plan(container_bundle, tmp_path):
    made = container_bundle
    lock_file = str(tmp_path / "models.lock")
    for archive, digest in (("ollama-linux-arm64.tgz", DIGEST_A), ("ollama-linux-arm64-jetpack6.tgz", DIGEST_B)):
        lock.pin(lock_file, "ollama-native", f"v0.6.8/{archive}", digest)  # as a bundle's models.lock pins them
    refused = make_plan(board_facts(ReleaseChecksums={}), ollama_lock_file=lock_file, jetson_bundle=str(made))
    assert refused.refusal == f"the bundle {made} has no native Ollama 0.6.8 ollama-linux-arm64.tgz"


# ---------------------------------------------------------------- native.installed, run for real

def run_op(op, facts, **kwargs):
    state = FakeState()
    host = create_host(state, facts=facts)
    with ctx_state.use(state), ctx_host.use(host):
        commands = list(op._inner(**kwargs))
    return [c.get_raw_value() if isinstance(c, StringCommand) else c for c in commands], host.noop_description


@pytest.fixture
def releases():
    """The simulated GitHub releases on a loopback port: (base URL, Releases)."""
    served = github_releases.Releases(versions=("0.6.8",))
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (github_releases.Handler,), {
        "releases": served, "log_request": lambda *a, **k: None}))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ollama/ollama/releases/download", served
    finally:
        server.shutdown()
        server.server_close()


def install_fact(prefix: Path) -> dict:
    command = NativeInstall().command(prefix=str(prefix)).get_raw_value()
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    return NativeInstall().process(result.stdout.splitlines())


def install(url: str, prefix: Path, archives: dict, current: dict) -> subprocess.CompletedProcess | None:
    commands, noop = run_op(native_ops.installed, {"native.NativeInstall": {f"prefix={prefix}": current}},
                            version="0.6.8", archives=archives, url=url, prefix=str(prefix))
    if noop:
        assert commands == []
        return None
    env = dict(os.environ, TMPDIR=str(prefix.parent))
    return subprocess.run(["sh", "-c", " && ".join(f"( {c} )" for c in commands)], capture_output=True, text=True,
                          env=env, timeout=60)


def test_installed_unpacks_the_checked_release_then_has_nothing_to_do(releases, tmp_path, monkeypatch):
    url, served = releases
    monkeypatch.setattr(native_ops, "STAGING", str(tmp_path / "staging"))
    listing = served.listing()["0.6.8"]
    archives = {name: listing[name]["sha256"] for name in ("ollama-linux-arm64.tgz", "ollama-linux-arm64-jetpack6.tgz")}
    prefix = tmp_path / "usr-local"
    (prefix / "lib" / "ollama" / "cuda_v11").mkdir(parents=True)  # an older release's: install.sh removes it
    result = install(url, prefix, archives, {})
    assert result.returncode == 0, result.stderr
    assert (prefix / "bin" / "ollama").stat().st_mode & 0o111
    assert 'DEFAULT_VERSION = "0.6.8"' in (prefix / "bin" / "ollama").read_text()
    assert sorted(p.name for p in (prefix / "lib" / "ollama").iterdir()) == [
        ".jetson-ollama.json", "cuda_jetpack6", "libggml-base.so", "libggml-cpu.so"]
    assert not (tmp_path / "staging" / "0.6.8").exists()
    found = install_fact(prefix)
    assert found["version"] == "0.6.8" and found["archives"] == archives
    assert found["binary"] == found["binary_at_install"] and found["binary"].startswith("sha256:")
    assert install(url, prefix, archives, found) is None  # converged: the marker matches

    (prefix / "bin" / "ollama").write_text("#!/bin/sh\necho replaced by hand\n")  # e.g. install.sh ran since
    replaced = install_fact(prefix)
    assert replaced["binary"] != replaced["binary_at_install"]
    assert install(url, prefix, archives, replaced).returncode == 0
    assert install_fact(prefix) == found


@pytest.mark.parametrize("checksums", [False, True], ids=["archive-swapped", "release-rewritten"])
def test_installed_refuses_a_tampered_archive_with_the_figures_and_unpacks_nothing(releases, tmp_path, monkeypatch,
                                                                                    checksums):
    url, served = releases
    monkeypatch.setattr(native_ops, "STAGING", str(tmp_path / "staging"))
    listing = served.listing()["0.6.8"]
    archives = {name: listing[name]["sha256"] for name in ("ollama-linux-arm64.tgz", "ollama-linux-arm64-jetpack6.tgz")}
    prefix = tmp_path / "usr-local"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "ollama").write_text("the release installed before\n")
    tampered = served.tamper("0.6.8", "ollama-linux-arm64-jetpack6.tgz", checksums)
    result = install(url, prefix, archives, {})
    assert result.returncode == 1
    expected = archives["ollama-linux-arm64-jetpack6.tgz"]
    assert result.stderr == (
        f"ollama-linux-arm64-jetpack6.tgz of Ollama 0.6.8 does not match its pinned sha256: expected {expected}, "
        f"got {tampered['sha256']} ({tampered['size']} bytes from {url}/v0.6.8/ollama-linux-arm64-jetpack6.tgz); "
        "nothing was unpacked\n")
    assert (prefix / "bin" / "ollama").read_text() == "the release installed before\n"
    assert not (prefix / "lib").exists() and not (tmp_path / "staging" / "0.6.8").exists()


def test_installed_refuses_bad_input():
    for kwargs, message in (
        ({"version": "latest", "archives": {"a.tgz": DIGEST_A}}, "version must be a release version"),
        ({"version": "0.6.8", "archives": {}}, "archives must map at least one"),
        ({"version": "0.6.8", "archives": {"../a.tgz": DIGEST_A}}, "archive must be a file name"),
        ({"version": "0.6.8", "archives": {"a.zip": DIGEST_A}}, "archive must be a file name"),
        ({"version": "0.6.8", "archives": {"a.tgz": "a" * 64}}, "the sha256 of a.tgz must be"),
        ({"version": "0.6.8", "archives": {"a.tgz": DIGEST_A}, "prefix": "usr/local"}, "prefix must be"),
    ):
        with pytest.raises(Exception, match=message):
            run_op(native_ops.installed, {}, **kwargs)


def test_store_ownership_fact_reads_a_real_directory(tmp_path):
    store = tmp_path / "models"
    (store / "blobs").mkdir(parents=True)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()

    def read(path, owner=user, owner_group=group):
        command = StoreOwnership().command(path=str(path), user=owner, group=owner_group).get_raw_value()
        return StoreOwnership().process(subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                                                       check=True).stdout.splitlines())

    assert read(store) == {"exists": True, "owner_known": True, "foreign": []}
    assert read(tmp_path / "absent") == {"exists": False, "owner_known": True, "foreign": []}
    assert read(store, owner="no-such-user-jo") == {"exists": True, "owner_known": False, "foreign": []}
    if os.geteuid() == 0:
        os.chown(store / "blobs", 65534, 65534)
        assert read(store)["foreign"] == [str(store / "blobs")]


def test_wait_for_api_says_what_did_not_answer():
    command = wait_for_api("http://127.0.0.1:9", 0.5).get_raw_value()
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr == "Ollama API at http://127.0.0.1:9 did not answer within 0.5 s after the change\n"


def test_service_fact_tells_ours_from_a_foreign_unit():
    fact = OllamaService()
    shown = ["LoadState=loaded", "ActiveState=active", "UnitFileState=enabled", "User=ollama"]
    assert fact.process(shown + ["Ours=yes"]) == {"loaded": True, "active": True, "enabled": True, "user": "ollama",
                                                  "ours": True}
    assert fact.process(shown)["ours"] is False
    assert fact.process(["LoadState=not-found", "ActiveState=inactive", "UnitFileState=", "User="]) == {
        "loaded": False, "active": False, "enabled": False, "user": "", "ours": False}
    assert json.dumps(fact.process([])) == "{}"
