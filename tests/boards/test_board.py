"""What a deployed board must look like (stages 3-6), one test per board per check.

    pytest tests/boards --inventory inventories/lab.py -rs

Every expectation is worked out with the library, from the board's facts and its inventory data, as the
deploy works it out; the assertion messages say what is wrong and where to look.
"""

from __future__ import annotations

import ipaddress
import json
import posixpath
import shlex

import pytest

from jetson_ollama import lock as lockfile
from jetson_ollama import native, webui
from jetson_ollama.config import ollama_environment
from jetson_ollama.facts.native import NativeInstall, OllamaService, StoreOwnership
from jetson_ollama.facts.models import OllamaManifests, OllamaModels, registry_path
from jetson_ollama.facts.ollama import OllamaVersion
from jetson_ollama.images import compatible_with, l4t_from_tag
from jetson_ollama.operations import preload as preload_ops
from jetson_ollama.operations import proxy
from jetson_ollama.operations.metrics import EXPORTER_PORT

from jetson_ollama.stages.board_scripts import LINK_DIR, SCRIPTS
from jetson_ollama.stages.metrics import listen_address

QUICK_TEST = f"{LINK_DIR}/quick-test"


def _running_container(board) -> dict:
    if board.cfg.jetson_runtime == "native":
        pytest.skip(f"{board.name}: jetson_runtime is native: no container (the native tests check ollama.service)")
    name = board.cfg.ollama_container_name
    container = board.container
    assert container, (f"{board.name}: there is no container {name!r} (docker container inspect {name} found none, "
                       "or docker did not answer): deploys/service.py creates it")
    assert container["running"], f"{board.name}: container {name} is {container['status']}, not running"
    return container


def test_container_runs_the_resolved_image(board):
    _running_container(board)
    cfg, release, image = board.cfg, board.release, board.container["image"]
    where = f"{board.name} (L4T {release.l4t}, JetPack {release.jetpack})"
    if cfg.jetson_image_strategy == "reuse":
        if cfg.jetson_image:
            assert image == cfg.jetson_image, (f"{where}: container {cfg.ollama_container_name} runs {image}, "
                                               f"not the configured jetson_image {cfg.jetson_image}")
        else:
            assert compatible_with(l4t_from_tag(image), release.l4t), (
                f"{where}: container {cfg.ollama_container_name} runs {image}, which was not built for this "
                "L4T (jetson_image_strategy: reuse takes a local ollama image of the board's JetPack)")
        return
    plan = board.image_plan()
    needs = f", which need Ollama >= {board.min_ollama}" if board.min_ollama not in (None, "0.0.0") else ""
    assert image == plan.ref, (
        f"{where}: container {cfg.ollama_container_name} runs {image}, but the library resolves {plan.ref} "
        f"(jetson_image_strategy: {cfg.jetson_image_strategy} -> {plan.strategy}; names from "
        f"{board.build_names.source or board.build_names.problem or 'unknown'}; "
        f"models: {', '.join(board.models) or 'none'}{needs}): "
        "run deploys/image.py and deploys/service.py")


def test_container_spec(board):
    container = _running_container(board)
    name = board.cfg.ollama_container_name
    problems = []
    if container["restart_policy"] != "unless-stopped":
        problems.append(f"restart policy is {container['restart_policy'] or 'none'!r}, not 'unless-stopped' "
                        "(it would not come back after a reboot)")
    if container["runtime"] != "nvidia":
        problems.append(f"runtime is {container['runtime'] or 'runc'!r}, not 'nvidia' (Ollama would run on the CPU)")
    for mount in container["mounts"]:
        destination = posixpath.normpath(mount["destination"])
        if destination == "/data" or destination.startswith("/data/"):
            problems.append(f"{mount['source']} is mounted at {mount['destination']}, where jetson-containers "
                            "mounts its data dir (Duplicate mount point: /data)")
    assert not problems, f"{board.name}: container {name}: " + "; ".join(problems)


def test_api_answers_on_loopback(board):
    version = board.facts.get_fact(OllamaVersion, url=board.api)
    native = board.cfg.jetson_runtime == "native"
    logs = "journalctl -u ollama.service" if native else f"docker logs {board.cfg.ollama_container_name}"
    assert version, (f"{board.name}: Ollama does not answer {board.api}/api/version on the board "
                     f"({logs})")


def test_models_present_and_locked(board):
    models = board.models
    if not models:
        pytest.skip(f"{board.name} has no models in its set (ollama_models: {board.cfg.ollama_models!r})")
    listed = board.facts.get_fact(OllamaModels, url=board.api)
    missing = [tag for tag in models if tag not in listed]
    assert not missing, (f"{board.name}: {', '.join(missing)} not listed by {board.api}/api/tags "
                         f"(it lists {', '.join(sorted(listed)) or 'nothing'}): run deploys/models.py")
    try:
        lock = lockfile.load(board.lock_path)
    except lockfile.LockError as exc:
        pytest.fail(f"{board.name}: {exc}", pytrace=False)
    on_disk = board.facts.get_fact(OllamaManifests, models_dir=board.cfg.ollama_models_dir)
    problems = []
    for tag in models:
        if tag not in lock:
            problems.append(f"{board.lock_path} has no entry for {tag} (the deploy writes it on the first pull)")
        elif tag not in on_disk:
            problems.append(f"no readable manifest of {tag} under {board.cfg.ollama_models_dir}/manifests")
        elif problem := lockfile.check_blobs(lock, tag, on_disk[tag]["blobs"], lock_name=str(board.lock_path)):
            problems.append(problem)
    assert not problems, f"{board.name}: " + "; ".join(problems)


def test_model_blobs_have_their_manifest_sizes(board):
    # sizes only: a blob cut short or deleted under a listed model (the digests are the models stage's check)
    models = board.models
    if not models:
        pytest.skip(f"{board.name} has no models in its set (ollama_models: {board.cfg.ollama_models!r})")
    store = board.cfg.ollama_models_dir
    problems = []
    with board.host.sudo():  # the store is root's (or the native ollama user's)
        for tag in models:
            namespace, name, _, version = registry_path(tag).split("/")
            manifest_file = board.host.file(posixpath.join(store, "manifests", "registry.ollama.ai", namespace, name,
                                                           version))
            if not manifest_file.is_file:
                problems.append(f"{tag}: no manifest {manifest_file.path}")
                continue
            try:
                manifest = json.loads(manifest_file.content_string)
                blobs = [(entry["digest"], int(entry["size"])) for entry in [manifest["config"], *manifest["layers"]]]
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(f"{tag}: {manifest_file.path} is no Docker v2 manifest ({exc})")
                continue
            for digest, size in blobs:
                blob = board.host.file(posixpath.join(store, "blobs", digest.replace(":", "-", 1)))
                if not blob.is_file:
                    problems.append(f"{tag}: blob {digest} is missing ({blob.path})")
                elif blob.size != size:
                    problems.append(f"{tag}: blob {digest} is {blob.size} bytes, the manifest says {size}")
    assert not problems, (f"{board.name}: " + "; ".join(problems)
                          + " (remove the model, then run deploys/models.py to pull it again)")


def test_model_loads_fully_on_gpu(board):
    if not board.models:
        pytest.skip(f"{board.name} has no models in its set (ollama_models: {board.cfg.ollama_models!r})")
    model = board.models[0]
    board.api_call("/api/generate", {"model": model, "prompt": "", "keep_alive": "1m"}, max_time=600)
    loaded = board.api_call("/api/ps").get("models") or []
    entry = next((m for m in loaded if model in (m.get("name"), m.get("model"))), None)
    assert entry, (f"{board.name}: {model} is not in /api/ps right after loading it "
                   f"(loaded: {', '.join(m.get('name', '?') for m in loaded) or 'nothing'})")
    size, vram = entry.get("size", 0), entry.get("size_vram", 0)
    assert vram == size, (
        f"{board.name}: {model} is not fully on the GPU: {vram / 2**20:.0f} of {size / 2**20:.0f} MiB in GPU memory "
        "(Ollama fell back to the CPU; the container needs --runtime nvidia and JETSON_JETPACK, "
        "docs/facts.md section 5; "
        "natively, the JetPack bundle in /usr/local/lib/ollama and the ollama user in video and render)")


def _scripts_installed(board):
    if not board.host.file(QUICK_TEST).exists:
        pytest.skip(f"{board.name}: {QUICK_TEST} does not exist yet (the board scripts stage is not deployed)")


def test_board_scripts_are_links(board):
    _scripts_installed(board)
    problems = []
    for script in SCRIPTS:
        link = board.host.file(f"{LINK_DIR}/{script}")
        if not link.is_symlink:
            problems.append(f"{link.path} is {'not a link' if link.exists else 'missing'}")
            continue
        target = board.host.file(link.linked_to)
        if not (target.is_file and target.mode & 0o111):
            problems.append(f"{link.path} -> {link.linked_to}, which is not an executable file")
    assert not problems, f"{board.name}: " + "; ".join(problems)


def test_quick_test_passes(board):
    _scripts_installed(board)
    result = board.host.run(f"timeout 600 {QUICK_TEST}")
    exit_status, output = result.rc, (result.stdout + result.stderr).strip()
    assert exit_status == 0, f"{board.name}: quick-test exited {exit_status}:\n{output}"


def test_api_listens_only_where_the_settings_say(board):
    # 127.0.0.1 unless ollama_allow_from lists networks; then the board's LAN address (ollama_bind_address)
    address, port = board.cfg.api_address, str(board.cfg.api_port)
    address = {"localhost": "127.0.0.1", "[::1]": "::1"}.get(address, address)
    listening = sorted(spec for spec in board.host.socket.get_listening_sockets()
                       if spec.startswith("tcp://") and spec.rsplit(":", 1)[1] == port)
    assert listening == [f"tcp://{address}:{port}"], (
        f"{board.name}: port {port} is listened on at {', '.join(listening) or 'nothing'}; the settings "
        f"(ollama_host {board.cfg.ollama_host}, ollama_allow_from {board.cfg.ollama_allow_from}) say {address} only")


def test_firewall_admits_only_ollama_allow_from(board):
    with board.host.sudo():
        chain = board.host.run("iptables -S JETSON-OLLAMA")
        jumps = board.host.run("iptables -S INPUT").stdout.splitlines()
    ours = [line for line in jumps if line.endswith("-j JETSON-OLLAMA")]
    if not board.cfg.ollama_allow_from:
        assert chain.rc != 0 and not ours, f"{board.name}: an API firewall is left though ollama_allow_from is empty"
        return
    rules = [line.split() for line in chain.stdout.splitlines() if line.startswith("-A ")]
    admitted = [rule[3] for rule in rules if rule[-2:] == ["-j", "ACCEPT"]]
    wanted = ["lo", *(str(ipaddress.IPv4Network(net)) for net in board.cfg.ollama_allow_from)]
    assert admitted == wanted and rules[-1][2:] == ["-j", "DROP"], (
        f"{board.name}: the API port admits {admitted}, then {' '.join(rules[-1][2:]) if rules else 'nothing'}; "
        f"ollama_allow_from says {board.cfg.ollama_allow_from}")
    wanted_jumps = [f"-A INPUT -p tcp -m tcp --dport {each} -j JETSON-OLLAMA" for each in board.plan.firewall_ports]
    assert sorted(ours) == sorted(wanted_jumps), f"{board.name}: INPUT has {ours}, the plan says {wanted_jumps}"


# ---------------------------------------------------------------- jetson_runtime: native


def _native(board):
    if board.cfg.jetson_runtime != "native":
        pytest.skip(f"{board.name}: jetson_runtime is {board.cfg.jetson_runtime}: no native ollama.service expected")


def test_native_service_runs_the_pinned_release(board):
    _native(board)
    cfg, unit = board.cfg, native.SERVICE
    shown = dict(line.partition("=")[::2] for line in board.host.check_output(
        f"systemctl show {unit} -p ActiveState -p UnitFileState -p User -p ExecStart").splitlines())
    problems = []
    if shown.get("ActiveState") != "active" or shown.get("UnitFileState") != "enabled":
        problems.append(f"{unit} is {shown.get('ActiveState')} and {shown.get('UnitFileState') or 'not installed'}, "
                        "not active and enabled (journalctl -u ollama.service)")
    if shown.get("User") != native.USER or f"path={native.BINARY} " not in shown.get("ExecStart", ""):
        problems.append(f"{unit} runs {shown.get('ExecStart')!r} as {shown.get('User')!r}, not {native.BINARY} serve "
                        f"as {native.USER} (the unit install.sh writes, docs/facts.md section 5)")
    installed = board.facts.get_fact(NativeInstall)
    if installed.get("version") != cfg.ollama_native_version:
        problems.append(f"{native.PREFIX} holds Ollama {installed.get('version') or 'not unpacked by jetson-ollama'}, "
                        f"ollama_native_version is {cfg.ollama_native_version}")
    elif installed.get("binary") != installed.get("binary_at_install"):
        problems.append(f"{native.BINARY} is not the binary the release unpacked (replaced since)")
    try:
        pins = lockfile.load_pins(board.lock_path).get(native.PIN_SECTION, {})
    except lockfile.LockError as exc:
        pytest.fail(f"{board.name}: {exc}", pytrace=False)
    release = native.release_for(cfg.ollama_native_version, cfg.ollama_native_url, board.release.jetpack)
    locked = {archive: pins.get(release.pin_key(archive)) for archive in release.archives}
    if installed.get("archives") != locked:
        problems.append(f"the archives unpacked ({installed.get('archives')}) are not the ones {board.lock_path} "
                        f"pins ({locked})")
    assert not problems, f"{board.name}: " + "; ".join(problems)


def test_native_settings_are_in_the_drop_in(board):
    _native(board)
    wanted = native.dropin_text(ollama_environment(board.cfg, board.release.jetpack))
    found = board.host.file(native.DROPIN_PATH)
    assert found.exists and found.content_string == wanted, (
        f"{board.name}: {native.DROPIN_PATH} is {'not what the settings make' if found.exists else 'missing'}:\n"
        f"{found.content_string if found.exists else ''}\nwanted:\n{wanted}")


def test_native_user_may_use_the_gpu_and_owns_the_store(board):
    _native(board)
    groups = set(board.host.check_output(f"id -nG {native.USER}").split())
    missing = [group for group in native.GPU_GROUPS if group not in groups]
    assert not missing, (f"{board.name}: user {native.USER} is not in {', '.join(missing)}: Ollama cannot open the "
                         f"GPU's device nodes and runs on the CPU")
    store = board.facts.get_fact(StoreOwnership, path=board.cfg.ollama_models_dir, user=native.USER,
                                 group=native.GROUP)
    assert store.get("exists") and not store.get("foreign"), (
        f"{board.name}: {board.cfg.ollama_models_dir} is not all {native.USER}'s "
        f"({', '.join(store.get('foreign') or []) or 'missing'}): ollama.service cannot write its models")


def test_one_runtime_only(board):
    # both listen on the same port (docs/facts.md section 5): the other runtime must be stopped
    name = board.cfg.ollama_container_name
    service = board.facts.get_fact(OllamaService)
    if board.cfg.jetson_runtime == "native":
        assert not board.container.get("running"), (
            f"{board.name}: container {name} runs beside the native {native.SERVICE} (run the deploy)")
    else:
        assert not service.get("active"), (
            f"{board.name}: {native.SERVICE} is active beside container {name}: one of them cannot have port "
            f"{board.cfg.api_port}")


# ---------------------------------------------------------------- opt-ins: HTTPS API, warm models, metrics, web UI


def _code(board, url: str, *curl: str) -> str:
    """The HTTP status the board itself gets for `url` (curl -k: the certificate is the client's to trust)."""
    return board.host.check_output(" ".join(["curl -sk -o /dev/null --max-time 10 -w '%{http_code}'", *curl,
                                             shlex.quote(url)]))


def test_https_api_takes_only_the_listed_keys(board):
    tls = board.plan.tls
    if tls is None:
        pytest.skip(f"{board.name}: ollama_tls is off: no HTTPS API")
    for unit in (proxy.PROXY_UNIT_NAME, proxy.VERIFIER_UNIT_NAME):
        assert board.host.service(unit).is_running, f"{board.name}: {unit} is not running (systemctl status {unit})"
    url = f"https://{board.cfg.exposed_address}:{board.cfg.ollama_tls_port}/api/tags"
    for header in ([], ["-H", shlex.quote("Authorization: Bearer not-a-listed-key")]):
        assert _code(board, url, *header) == "401", f"{board.name}: {url} answers without a listed key"
    with board.host.sudo():
        stored = [line for line in board.host.file(proxy.KEYS).content_string.splitlines() if not line.startswith("#")]
    assert sorted(stored) == sorted(tls.hashes), (
        f"{board.name}: {proxy.KEYS} holds {len(stored)} key hashes, ollama_api_keys gives {len(tls.hashes)}")
    listening = [spec for spec in board.host.socket.get_listening_sockets()
                 if spec.startswith("tcp://") and spec.rsplit(":", 1)[1] == str(board.cfg.api_port)]
    assert listening == [f"tcp://127.0.0.1:{board.cfg.api_port}"], (
        f"{board.name}: with ollama_tls the plain API must be on 127.0.0.1 only, it is on {listening}")


def test_preloaded_models_were_loaded_at_the_last_start(board):
    preload = board.plan.preload
    if not preload:
        pytest.skip(f"{board.name}: ollama_preload is empty: no model kept warm")
    shown = board.host.check_output(f"systemctl show {preload_ops.UNIT} -p Result -p ExecMainStatus")
    assert sorted(shown.splitlines()) == ["ExecMainStatus=0", "Result=success"], (
        f"{board.name}: the last run of {preload_ops.UNIT} did not load every model ({shown.split()}): "
        f"journalctl -u {preload_ops.UNIT}")
    if str(board.cfg.ollama_keep_alive).startswith("-"):  # kept loaded forever: they must be loaded now
        loaded = json.loads(board.host.check_output(f"curl -fsS --max-time 10 {board.plan.api_url}/api/ps"))
        missing = sorted(set(preload) - {entry["name"] for entry in loaded["models"]})
        assert not missing, f"{board.name}: {', '.join(missing)} not loaded though ollama_keep_alive keeps them"


def test_metrics_exporter_serves_the_boards_figures(board):
    if not board.cfg.ollama_metrics:
        pytest.skip(f"{board.name}: ollama_metrics is off: no exporter")
    address = listen_address(board.plan)
    scraped = board.host.run(f"curl -fsS --max-time 10 http://{address}:{EXPORTER_PORT}/metrics")
    assert scraped.rc == 0, f"{board.name}: nothing serves metrics on {address}:{EXPORTER_PORT} ({scraped.stderr})"
    for family in ("jetson_ollama_memory_total_bytes", "jetson_ollama_api_up 1", "node_textfile_scrape_error 0"):
        assert family in scraped.stdout, f"{board.name}: the exporter's page has no {family!r}"


def test_web_ui_answers_behind_the_proxy_only(board):
    plan = board.plan.webui
    if plan is None:
        pytest.skip(f"{board.name}: ollama_webui is off: no web UI")
    with board.host.sudo():
        image = board.host.run("docker inspect --format '{{.Config.Image}} {{.State.Running}}' " + webui.CONTAINER)
    assert image.stdout.split() == [plan.image, "true"], (
        f"{board.name}: container {webui.CONTAINER} is {image.stdout.strip() or 'missing'}, the plan runs {plan.image}")
    health = board.host.check_output(f"curl -fsS --max-time 10 http://127.0.0.1:{webui.LOOPBACK_PORT}/health")
    assert json.loads(health) == {"status": True}, f"{board.name}: Open WebUI's /health says {health}"
    ui = f"https://{board.cfg.exposed_address}:{board.cfg.ollama_webui_port}/"
    assert _code(board, ui) == "302", f"{board.name}: {ui} is served without a key (the proxy's form is skipped)"
    listening = [spec for spec in board.host.socket.get_listening_sockets()
                 if spec.startswith("tcp://") and spec.rsplit(":", 1)[1] == str(webui.LOOPBACK_PORT)]
    assert listening == [f"tcp://127.0.0.1:{webui.LOOPBACK_PORT}"], f"{board.name}: Open WebUI listens on {listening}"
