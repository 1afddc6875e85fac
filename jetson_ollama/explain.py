"""What a run will change on a board, and why, in lines: `narrate(plan, current)`.

The preflight stage logs these lines for each board while pyinfra prepares the run, so `pyinfra INVENTORY
deploys/full.py --dry` shows them and a real run says the same before its first change. They read the
plan (plan.py: the image and how it is got, the environment, each model's verdict, the refusal) and the
board as the facts found it (`Current`); nothing here decides. Where a line says whether the container is
recreated, it compares as `operations.ollama.container` compares: the spec and its hash come from the
operation's own `container_spec`.

Each line is said after the board's name, e.g. `nano-01: container ollama: OLLAMA_KEEP_ALIVE 5m -> 30m`.
The figures of a pull or a build (how long, how large) are data: `data/image_costs.yaml`, with their sources.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pyinfra.api import OperationError

from .facts.containers import ContainerDict
from .native import dropin_text
from .operations.ollama import container_spec
from .plan import BoardPlan, ModelVerdict
from .webui import figures as webui_figures

_COSTS_FILE = Path(__file__).parent / "data" / "image_costs.yaml"
_GIB = 1024 ** 3  # catalog.py's GB of RAM (free -h's Gi)
_DROPIN_LINE_RE = re.compile(r'^Environment="(.*)"\s*$')
SPEC_LABEL = "jetson-ollama.spec"  # the label operations.ollama.container writes (its default)


@dataclass(frozen=True)
class Current:
    """The board as the facts found it, where the plan keeps no copy.

    + container: the OllamaContainer fact of the plan's container name ({} when there is none)
    + dropin: the lines of the native runtime's drop-in (FileContents; None when there is no drop-in)
    + native_version: the release the NativeInstall fact found unpacked ("" when none)
    """

    container: ContainerDict = field(default_factory=lambda: ContainerDict())
    dropin: list[str] | None = None
    native_version: str = ""


@dataclass(frozen=True)
class Narration:
    """The lines to say for one board, and the short names of what will change (empty: nothing)."""

    lines: list[str]
    changes: list[str]


@cache
def costs() -> dict:
    """data/image_costs.yaml: the build's time and size, each prebuilt tag's download size."""
    return yaml.safe_load(_COSTS_FILE.read_text())


def refusal_line(plan: BoardPlan) -> str:
    """The one line a refused board gets (no change is counted for it)."""
    return f"refused before any change: {plan.refusal}"


def narrate(plan: BoardPlan, current: Current) -> Narration:
    """The lines for a board: the image (and how it is got), the container's or the native service's
    settings against the board's, the models, then what will change. A refused board gets its refusal
    and nothing else; the fleet's cache host gets nothing (stages/cache.py is its stage)."""
    if plan.refusal:
        return Narration([refusal_line(plan)], [])
    if plan.cache_role:
        return Narration([], [])
    lines: list[str] = []
    changes: list[str] = []
    if plan.native is not None:
        _native(plan, current, lines, changes)
    elif plan.image is not None:
        _image(plan, lines, changes)
        _container(plan, current.container, lines, changes)
        if plan.service.get("ours") and (plan.service.get("active") or plan.service.get("enabled")):
            lines.append("ollama.service: stopped and disabled (the container takes the port)")
            changes.append("ollama.service stopped")
    _models(plan, lines, changes)
    _webui(plan, lines, changes)
    lines.append(f"to change: {', '.join(changes)}" if changes else
                 "nothing to change in the Ollama image, service or models")
    return Narration(lines, changes)


# ---------------------------------------------------------------- the image

def _size(number_bytes: float) -> str:
    """A download size as Ollama and Docker Hub print it: decimal MB under a GB, else GB."""
    return f"{number_bytes / 1e6:.0f} MB" if number_bytes < 1e9 else f"{number_bytes / 1e9:.1f} GB"


def _version(version: str | None) -> str:
    return f"Ollama {version}" if version else "its Ollama version read once it is on the board"


def _image(plan: BoardPlan, lines: list[str], changes: list[str]) -> None:
    image, cfg = plan.image, plan.settings
    if image is None or image.ref is None:
        return
    ref, here = image.ref, any(found["ref"] == image.ref for found in plan.local_images)
    if here:
        lines.append(f"image {ref}: {image.strategy}, on the board already ({_version(plan.ollama_version)})")
        return
    source = plan.source
    if source.kind == "bundle":
        lines.append(f"image {ref}: {image.strategy}, loaded from {source.describe()} "
                     f"({_version(image.ollama_version)})")
        changes.append("image loaded")
        return
    where = "" if source.kind == "upstream" else (
        f"; through {source.describe()}: the run's first board that needs it gets it there, the others pull it")
    if image.strategy == "build":
        build = costs()["build"]
        lines.append(f"image {ref}: build {image.build_package or 'ollama'} with jetson-containers "
                     f"{cfg.jetson_containers_commit[:8]}, about {build['minutes']} minutes and a "
                     f"{build['image_gb']} GB image ({build['source']}, on {build['measured_on']}; "
                     f"{_version(image.ollama_version)}){where}")
        changes.append("image built")
        return
    size = costs()["prebuilt_gb"].get(ref.rpartition(":")[2])
    listed = f", about {size} GB ({costs()['prebuilt_source']}; " if size is not None else " ("
    lines.append(f"image {ref}: pull prebuilt{listed}{_version(image.ollama_version)}){where}")
    changes.append("image pulled")


# ---------------------------------------------------------------- the container

def _env_diff(wanted: Mapping[str, str], found: Mapping[str, str]) -> list[str]:
    """`KEY old -> new` for each wanted variable the board has otherwise ("(unset)" when it has none).
    The board's variables not wanted are not listed: the image's own ENV is among them."""
    return [f"{key} {found.get(key, '(unset)')} -> {value}" for key, value in wanted.items() if found.get(key) != value]


def container_diff(spec: Mapping[str, Any], found: ContainerDict, image_id: str = "") -> list[str]:
    """Field by field, how the container `found` (OllamaContainer) differs from `spec` (container_spec):
    the image (and the image id its tag names now, when known), each environment variable, the models
    mount, the runtime, the restart policy, the network and the command."""
    diffs = []
    if found.get("image") != spec["image"]:
        diffs.append(f"image {found.get('image') or '(none)'} -> {spec['image']}")
    elif image_id and found.get("image_id") and found.get("image_id") != image_id:
        diffs.append(f"image {spec['image']} is now {image_id[:19]} (the container runs {found['image_id'][:19]})")
    diffs += _env_diff(spec["env"], found.get("env", {}))
    mounts = {(mount["source"], mount["destination"]) for mount in found.get("mounts", [])}
    for mount in spec["mounts"]:
        if (mount["source"], mount["destination"]) not in mounts:
            was = next((f"{source}:{dest}" for source, dest in sorted(mounts)
                        if dest == mount["destination"] or source == mount["source"]),
                       ", ".join(f"{source}:{dest}" for source, dest in sorted(mounts)) or "(none)")
            diffs.append(f"mount {was} -> {mount['source']}:{mount['destination']}")
    for label, key, wanted in (("runtime", "runtime", spec["runtime"]), ("restart", "restart_policy", spec["restart"]),
                               ("network", "network_mode", spec["network"])):
        if wanted and found.get(key) != wanted:
            diffs.append(f"{label} {found.get(key) or '(default)'} -> {wanted}")
    if list(found.get("cmd", [])) != list(spec["command"]):
        was = " ".join(found.get("cmd", [])) or "(the image default)"
        diffs.append(f"command {was} -> {' '.join(spec['command'])}")
    return diffs


def _image_id(images: Sequence[Mapping[str, Any]], ref: str) -> str:
    return next((found["id"] for found in images if found["ref"] == ref), "")


def _container(plan: BoardPlan, found: ContainerDict, lines: list[str], changes: list[str]) -> None:
    cfg, ref = plan.settings, plan.image_ref
    name = cfg.ollama_container_name
    image_id = _image_id(plan.local_images, ref)
    try:  # as the service stage calls operations.ollama.container
        _, without_id = container_spec(ref, plan.environment, cfg.ollama_models_dir, cfg.ollama_container_models_dir)
        spec, spec_hash = container_spec(ref, plan.environment, cfg.ollama_models_dir,
                                         cfg.ollama_container_models_dir, image_id=image_id)
    except OperationError as exc:
        lines.append(f"container {name}: cannot be made: {exc}")
        return
    if not found:
        lines.append(f"container {name}: new container from {ref}")
        changes.append("new container")
        return
    label = found.get("labels", {}).get(SPEC_LABEL, "")
    if label == spec_hash or (image_id and found.get("image_id") == image_id and label == without_id):
        if found.get("running"):
            lines.append(f"container {name}: up to date")
        else:
            lines.append(f"container {name}: up to date, {found.get('status') or 'stopped'}: started")
            changes.append("container started")
        return
    diffs = container_diff(spec, found, image_id) or [
        f"its spec label is {label[:12] or 'missing'}, this spec's {spec_hash[:12]} (made by hand or another version)"]
    lines.extend(f"container {name}: {diff}" for diff in diffs)
    changes.append("container recreated")


# ---------------------------------------------------------------- the native runtime

def dropin_settings(lines: Sequence[str]) -> dict[str, str]:
    """The variables of a drop-in as native.dropin_text writes them (`Environment="KEY=value"`)."""
    found = {}
    for line in lines:
        match = _DROPIN_LINE_RE.match(line.strip())
        if match:
            text = match[1].replace("%%", "%").replace('\\"', '"').replace("\\\\", "\\")
            key, _, value = text.partition("=")
            found[key] = value
    return found


def _native(plan: BoardPlan, current: Current, lines: list[str], changes: list[str]) -> None:
    release = plan.native
    if release is None:
        return
    installed = current.native_version
    archives = ", ".join(release.archives)
    if installed == release.version:
        lines.append(f"Ollama {release.version} release: unpacked already")
    else:
        lines.append(f"Ollama release {installed or '(none)'} -> {release.version} ({archives})")
        changes.append(f"Ollama {release.version} unpacked")
    wanted = plan.environment
    if current.dropin is None:
        lines.append(f"ollama.service drop-in: new ({', '.join(f'{k}={v}' for k, v in wanted.items())})")
        changes.append("drop-in written")
    elif "\n".join(current.dropin).strip() == dropin_text(wanted).strip():
        lines.append("ollama.service drop-in: up to date")
    else:
        found = dropin_settings(current.dropin)
        diffs = _env_diff(wanted, found) + [f"{key} {value} -> (unset)" for key, value in found.items()
                                            if key not in wanted]
        lines.extend(f"ollama.service drop-in: {diff}" for diff in diffs or ["rewritten (its text differs)"])
        changes.append("drop-in written")
    if current.container:
        lines.append(f"container {plan.settings.ollama_container_name}: removed (the native service takes the port)")
        changes.append("container removed")


# ---------------------------------------------------------------- the models

def _fit(verdict: ModelVerdict) -> str:
    estimate = verdict.estimate
    if estimate is None:
        return "memory not estimated"
    return f"{estimate.tier}, about {estimate.total_bytes / _GIB:.1f} GB of {estimate.ram_bytes / _GIB:.1f} GB RAM"


def model_line(verdict: ModelVerdict, source: str) -> str:
    """One model: present, or what is fetched from where (its size: the manifest's blobs), and its
    memory tier (the plan's estimate)."""
    if verdict.entry is None:
        return f"model {verdict.tag}: present ({_fit(verdict)})"
    size = sum(blob.size for blob in verdict.entry.blobs)
    notes = []
    if verdict.damaged:
        notes.append(f"{len(verdict.damaged)} damaged blob{'s' if len(verdict.damaged) > 1 else ''} fetched again")
    if verdict.lock_action == "record":
        notes.append("pinned in models.lock")
    elif verdict.lock_action == "update":
        notes.append("its models.lock pin updated")
    if verdict.warning:
        notes.append("allowed by ollama_memory_policy: warn")
    return f"model {verdict.tag}: pull {_size(size)} from {source} ({_fit(verdict)})" + "".join(
        f"; {note}" for note in notes)


def _models(plan: BoardPlan, lines: list[str], changes: list[str]) -> None:
    if not plan.verdicts:
        lines.append("models: none asked")
        return
    lines.extend(model_line(verdict, plan.source.describe()) for verdict in plan.verdicts)
    pulls = [verdict.entry for verdict in plan.verdicts if verdict.entry is not None]
    if pulls:
        size = sum(blob.size for entry in pulls for blob in entry.blobs)
        changes.append(f"{len(pulls)} model{'s' if len(pulls) > 1 else ''} pulled ({_size(size)})")


# ---------------------------------------------------------------- the web UI

def _webui(plan: BoardPlan, lines: list[str], changes: list[str]) -> None:
    """ollama_webui: Open WebUI's image (pulled, pinned), its container (run, recreated or as it is), the
    memory it adds to each model's fit (data/webui.yaml) and where it is served."""
    ui = plan.webui
    if ui is None:
        return
    figures = webui_figures()
    unverified = "" if figures.get("memory_verified") else ", unverified"
    pin = f"digest {ui.digest[:19]} (models.lock)" if ui.digest else "its digest pinned at the first pull"
    if ui.present:
        lines.append(f"Open WebUI image {ui.image}: present, {pin}")
    else:
        lines.append(f"Open WebUI image {ui.image}: pull about {figures['image_gb']:g} GB on disk, {pin}")
        changes.append("Open WebUI image pulled")
    served = f"https://{ui.listen} behind the API keys, {ui.memory_mb} MB counted in each model's fit{unverified}"
    if ui.found_spec == ui.spec_hash and ui.found_running:
        lines.append(f"container open-webui: as it is, served at {served}")
    else:
        lines.append(f"container open-webui: {'recreated' if ui.found_spec else 'run'}, served at {served}")
        changes.append("Open WebUI container " + ("recreated" if ui.found_spec else "run"))
