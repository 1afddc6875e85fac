"""What a run says it will change on a board (explain.py), from the board's plan and its facts: pure cases
with plans made from recorded facts (an Orin Nano 8GB on L4T 36.4.3), then the whole deploy in this process
over an `@fake` board, prepared only (as `--dry`) and run, saying the same lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml
from pyinfra.connectors.fake import FakeConnector

from jetson_ollama import explain, images, plan, runner
from jetson_ollama.config import settings
from jetson_ollama.environment import ollama_environment
from jetson_ollama.explain import Current, narrate
from jetson_ollama.native import dropin_text
from jetson_ollama.operations.ollama import container_spec

REPO = Path(__file__).resolve().parents[2]
FACTS = Path(__file__).parent / "facts"
COSTS = yaml.safe_load((REPO / "jetson_ollama" / "data" / "image_costs.yaml").read_text())


def recorded(fact: str, case: str, key: str = "fact"):
    return json.loads((FACTS / fact / f"{case}.json").read_text())[key]


MANIFEST = recorded("models.RegistryManifest", "fetched")  # what the registry answers for a missing model
MANIFEST_BYTES = sum(blob["size"] for blob in [MANIFEST["manifest"]["config"], *MANIFEST["manifest"]["layers"]])
MODELS = {"ollama_models": ["qwen2.5:0.5b"]}


class Board:
    """A stand-in for a pyinfra host: facts by class name (else the fact's default), host data."""

    def __init__(self, **facts):
        self.name, self.data = "nano1", {}
        self.facts = {
            "Arch": "aarch64", "TegraRelease": {"l4t": "36.4.3", "major": 36}, "Memory": {"mem_total_mb": 7620},
            "DefaultTarget": "multi-user.target", "DiskFree": 100_000, "RegistryManifest": MANIFEST,
            "DockerState": {"installed": True, "running": True, "runtimes": ["nvidia", "runc"]},
            # the native release's sha256sum.txt, as the plan reads it for archives not pinned yet
            "ReleaseChecksums": {"ollama-linux-arm64.tgz": "sha256:" + "a" * 64,
                                 "ollama-linux-arm64-jetpack6.tgz": "sha256:" + "b" * 64},
            **facts,
        }

    def get_fact(self, fact, **kwargs):
        return self.facts[fact.__name__] if fact.__name__ in self.facts else fact().default()


@pytest.fixture(autouse=True)
def lock_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # models.lock of these plans
    return tmp_path / "models.lock"


def make(data: dict, **facts) -> plan.BoardPlan:
    made = plan.make_plan(Board(**facts), settings({**MODELS, **data}))
    return made


def deployed(data: dict, *, running: bool = True, image_id: str = "", image: str | None = None, without: str = "",
             models_dir: str | None = None, **spec_words) -> dict:
    """The OllamaContainer fact of the container the service stage makes with these settings (or with
    another image, a variable less, another models dir, runtime, restart or command): the spec
    operations.ollama.container runs and labels with its hash, plus the image's own ENV."""
    made = make(data)
    cfg = made.settings
    env = {key: value for key, value in made.environment.items() if key != without}
    spec, spec_hash = container_spec(image or made.image_ref, env, models_dir or cfg.ollama_models_dir,
                                     cfg.ollama_container_models_dir, image_id=image_id, **spec_words)
    return {"running": running, "status": "running" if running else "exited", "image": spec["image"],
            "image_id": image_id or "sha256:" + "5c" * 32, "labels": {"jetson-ollama.spec": spec_hash},
            "restart_policy": spec["restart"], "runtime": spec["runtime"], "network_mode": "host",
            "env": {"PATH": "/usr/local/bin:/usr/bin:/bin", **spec["env"]}, "mounts": spec["mounts"],
            "cmd": spec["command"], "restart_count": 0}


def said(data: dict, current: Current | None = None, **facts) -> list[str]:
    return narrate(make(data, **facts), current or Current()).lines


# ---------------------------------------------------------------- the container

def test_no_container_on_the_board_is_a_new_one_and_a_pull():
    lines = said({})
    assert "container ollama: new container from dustynv/ollama:r36.4.3" in lines
    assert lines[0].startswith("image dustynv/ollama:r36.4.3: pull prebuilt, about 5.0 GB")
    assert lines[-1] == f"to change: image pulled, new container, 1 model pulled ({MANIFEST_BYTES / 1e9:.1f} GB)"


def test_the_same_spec_is_up_to_date_and_nothing_changes():
    here = [{"ref": "dustynv/ollama:r36.4.3", "id": "sha256:" + "a1" * 32, "digest": ""}]
    container = deployed({}, image_id=here[0]["id"])
    result = narrate(make({}, DockerImages=here, OllamaModels={"qwen2.5:0.5b": {}}), Current(container=container))
    assert "container ollama: up to date" in result.lines
    assert result.lines[0] == "image dustynv/ollama:r36.4.3: prebuilt, on the board already " \
                              "(its Ollama version read once it is on the board)"
    assert result.changes == [] and result.lines[-1] == "nothing to change in the Ollama image, service or models"


def test_a_stopped_container_of_the_same_spec_is_started():
    lines = said({}, Current(container=deployed({}, running=False)))
    assert "container ollama: up to date, exited: started" in lines


def test_a_changed_setting_is_the_one_line_of_the_diff():
    lines = said({"ollama_keep_alive": "30m"}, Current(container=deployed({"ollama_keep_alive": "5m"})))
    diff = [line for line in lines if line.startswith("container ")]
    assert diff == ["container ollama: OLLAMA_KEEP_ALIVE 5m -> 30m"]
    assert "container recreated" in lines[-1]


def test_a_changed_image_and_a_variable_the_board_lacks():
    old = deployed({}, image="dustynv/ollama:r36.2.0", without="OLLAMA_FLASH_ATTENTION")
    lines = said({}, Current(container=old))
    assert [line for line in lines if line.startswith("container ")] == [
        "container ollama: image dustynv/ollama:r36.2.0 -> dustynv/ollama:r36.4.3",
        "container ollama: OLLAMA_FLASH_ATTENTION (unset) -> 1",
    ]


def test_the_tag_naming_another_image_now_is_said():
    here = [{"ref": "dustynv/ollama:r36.4.3", "id": "sha256:" + "b2" * 32, "digest": ""}]
    old = deployed({}, image_id="sha256:" + "a1" * 32)  # made from the image the tag named before
    lines = narrate(make({}, DockerImages=here), Current(container=old)).lines
    assert "container ollama: image dustynv/ollama:r36.4.3 is now sha256:b2b2b2b2b2b2 " \
           "(the container runs sha256:a1a1a1a1a1a1)" in lines


def test_runtime_restart_mount_and_command_field_by_field():
    old = deployed({}, runtime="runc", restart="no", command=["/start_ollama"], models_dir="/srv/models")
    lines = said({}, Current(container=old))
    cfg = settings({})
    assert [line for line in lines if line.startswith("container ")] == [
        f"container ollama: mount /srv/models:{cfg.ollama_container_models_dir} -> "
        f"{cfg.ollama_models_dir}:{cfg.ollama_container_models_dir}",
        "container ollama: runtime runc -> nvidia",
        "container ollama: restart no -> unless-stopped",
        "container ollama: command /start_ollama -> ollama serve",
    ]


def test_a_container_made_by_hand_with_the_same_fields_is_still_said_to_be_recreated():
    by_hand = {**deployed({}), "labels": {}}
    lines = said({}, Current(container=by_hand))
    assert any(line.startswith("container ollama: its spec label is missing") for line in lines), lines


# ---------------------------------------------------------------- refusals, the image, the models

def test_a_refused_board_gets_its_refusal_and_no_change():
    refused = make({"ollama_context_length": 1_000_000_000})
    assert refused.refusal
    result = narrate(refused, Current(container=deployed({})))
    assert result.lines == [f"refused before any change: {refused.refusal}"] and result.changes == []
    assert "qwen2.5:0.5b needs about" in result.lines[0] and "black" in result.lines[0]


def test_a_build_says_its_expected_time_and_size_from_the_data_file():
    built = make({"jetson_image_strategy": "build"})
    lines = narrate(built, Current()).lines
    build = COSTS["build"]
    assert lines[0] == (f"image {built.image_ref}: build ollama with jetson-containers 16f7cf41, about "
                        f"{build['minutes']} minutes and a {build['image_gb']} GB image (the deployment log, "
                        f"on an Orin Nano; Ollama {built.image.ollama_version})")
    assert lines[-1].startswith("to change: image built, new container")


def test_models_present_and_to_pull_with_size_and_tier():
    lines = said({"ollama_models": ["qwen2.5:0.5b", "qwen2.5:1.5b"]}, OllamaModels={"qwen2.5:0.5b": {}})
    assert "model qwen2.5:0.5b: present (green, about 1.3 GB of 7.4 GB RAM)" in lines
    pull, = [line for line in lines if line.startswith("model qwen2.5:1.5b: ")]
    assert pull.startswith(f"model qwen2.5:1.5b: pull {MANIFEST_BYTES / 1e9:.1f} GB from https://registry.ollama.ai "
                           "(green, about ") and pull.endswith("; pinned in models.lock")


def test_a_red_model_allowed_by_the_warn_policy_says_so():
    lines = said({"ollama_models": ["qwen3:8b"], "ollama_memory_policy": "warn"})
    line, = [line for line in lines if line.startswith("model qwen3:8b")]
    assert "(black, about" in line or "(red, about" in line
    assert line.endswith("; allowed by ollama_memory_policy: warn")


def test_every_prebuilt_tag_has_its_download_size():
    assert {image.tag for image in images.prebuilt_images()} == set(COSTS["prebuilt_gb"])


# ---------------------------------------------------------------- the native runtime

def test_native_drop_in_diff_and_the_container_it_replaces():
    native = make({"jetson_runtime": "native", "ollama_keep_alive": "30m"})
    before = dict(native.environment, OLLAMA_KEEP_ALIVE="5m", OLLAMA_DEBUG="1")
    lines = narrate(native, Current(container=deployed({}), dropin=dropin_text(before).splitlines(),
                                    native_version=native.native.version)).lines
    assert lines[:5] == [
        f"Ollama {native.native.version} release: unpacked already",
        "ollama.service drop-in: OLLAMA_KEEP_ALIVE 5m -> 30m",
        "ollama.service drop-in: OLLAMA_DEBUG 1 -> (unset)",
        "container ollama: removed (the native service takes the port)",
        "model qwen2.5:0.5b: pull " + f"{MANIFEST_BYTES / 1e9:.1f} GB from https://registry.ollama.ai "
        "(green, about 1.3 GB of 7.4 GB RAM); pinned in models.lock",
    ]


def test_native_up_to_date_and_a_new_release():
    native = make({"jetson_runtime": "native"})
    same = narrate(native, Current(dropin=dropin_text(native.environment).splitlines(), native_version="0.5.7")).lines
    assert "ollama.service drop-in: up to date" in same
    pulled = f"1 model pulled ({MANIFEST_BYTES / 1e9:.1f} GB)"
    assert same[-1] == f"to change: Ollama {native.native.version} unpacked, {pulled}"
    assert f"Ollama release 0.5.7 -> {native.native.version} ({', '.join(native.native.archives)})" in same


def test_back_to_the_container_stops_this_deploys_native_service_only():
    ours = said({}, OllamaService={"loaded": True, "active": True, "enabled": True, "ours": True})
    assert "ollama.service: stopped and disabled (the container takes the port)" in ours
    assert "ollama.service stopped" in ours[-1]
    foreign = said({}, OllamaService={"loaded": True, "active": False, "enabled": True, "ours": False})
    assert not [line for line in foreign if line.startswith("ollama.service")]


def test_the_drop_in_reads_back_what_dropin_text_writes():
    environment = {"OLLAMA_HOST": "127.0.0.1:11434", "ODD": 'say "100%" \\ done'}
    assert explain.dropin_settings(dropin_text(environment).splitlines()) == environment


# ---------------------------------------------------------------- the deploy over a fake board

NANO = {  # command substring -> the board's answer (tests/unit/facts: an Orin Nano 8GB on L4T 36.2.0)
    "uname -m": {"stdout": ["aarch64"]},
    "nv_tegra_release": {"stdout": recorded("jetson.TegraRelease", "orin-nano-8gb-r36.2.0", "output")},
    "/proc/meminfo": {"stdout": recorded("jetson.Memory", "orin-nano-8gb-r36.2.0", "output")},
    "docker info": {"stdout": recorded("docker.DockerState", "orin-nano-8gb-r36.2.0", "output")},
    "df -Pk": {"stdout": recorded("jetson.DiskFree", "existing-path", "output")},
    "registry.ollama.ai": {"stdout": recorded("models.RegistryManifest", "fetched", "output")},
}
CHANGING = ("docker run", "docker rm", "docker pull", "docker stop", "docker start", "setsid", "/api/pull")


def _inspect_output(env: dict[str, str]) -> list[str]:
    """`docker container inspect ollama` of the recorded running container, from dustynv/ollama:r36.2.0
    with ENV and the default models mount."""
    cfg = settings({})
    inspected = json.loads("\n".join(recorded("containers.OllamaContainer", "running", "output")))
    inspected[0]["Config"]["Image"] = "dustynv/ollama:r36.2.0"
    inspected[0]["Mounts"] = [{"Type": "bind", "Source": cfg.ollama_models_dir,
                               "Destination": cfg.ollama_container_models_dir}]
    inspected[0]["Config"]["Env"] = [f"{key}={value}" for key, value in env.items()]
    return json.dumps(inspected, indent=4).splitlines()


@pytest.fixture
def fake_board(tmp_path, monkeypatch):
    """An inventory of one `@fake` Orin Nano whose container runs with the default settings; answers the
    commands it was asked."""
    env = ollama_environment(settings({}), "6")
    responses = {"docker container inspect": {"stdout": _inspect_output(env)}, **NANO}
    data = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": responses, "ollama_models": ["qwen2.5:0.5b"],
            "jetson_image_strategy": "prebuilt"}
    Path("fleet.py").write_text(f"boards = [('@fake/nano', {data!r})]\n")
    asked: list[str] = []
    run_shell_command = FakeConnector.run_shell_command

    def recording_run(self, command, *args, **kwargs):
        asked.append(str(command))
        return run_shell_command(self, command, *args, **kwargs)

    monkeypatch.setattr(FakeConnector, "run_shell_command", recording_run)
    return asked


def _logged(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith("@fake/nano: ")]


def test_prepared_as_dry_the_deploy_says_the_diff_and_changes_nothing(fake_board, caplog, monkeypatch):
    executed = []
    monkeypatch.setattr(runner, "run_ops", lambda state: executed.append(state))  # as --dry: prepare, no run
    with caplog.at_level(logging.INFO, logger="pyinfra"):
        runner.run_deploy("fleet.py", [str(REPO / "deploys" / "full.py")], ["@fake/nano"],
                          data={"ollama_keep_alive": "30m"})
    lines = _logged(caplog)
    assert "@fake/nano: container ollama: OLLAMA_KEEP_ALIVE 5m -> 30m" in lines, lines
    assert [line for line in lines if ": container " in line] == ["@fake/nano: container ollama: OLLAMA_KEEP_ALIVE "
                                                                 "5m -> 30m"]
    assert executed and not [command for command in fake_board if any(word in command for word in CHANGING)]


def test_a_real_run_says_the_same_lines_then_changes_the_container(fake_board, caplog, monkeypatch):
    with caplog.at_level(logging.INFO, logger="pyinfra"):
        results = runner.run_deploy("fleet.py", [str(REPO / "deploys" / "full.py")], ["@fake/nano"],
                                    data={"ollama_keep_alive": "30m"})
    assert results["@fake/nano"].ok, results
    assert "@fake/nano: container ollama: OLLAMA_KEEP_ALIVE 5m -> 30m" in _logged(caplog)
    assert any("setsid" in command and "OLLAMA_KEEP_ALIVE=30m" in command for command in fake_board)
