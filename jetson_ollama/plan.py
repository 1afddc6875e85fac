"""What a board needs, decided once per board from its facts and its host data: `make_plan(board, cfg)`.

The plan decides everything before the board's first changing operation, refusals included: the
release, the runtime (container: the image and its environment, or native: the release), the source
of images and models (sources.py: upstream, the fleet's cache or an offline bundle), the API's URL and
port, and each model's verdict (its memory estimate, whether it is on the board, what to fetch, what
to pin in models.lock, or why it cannot be). Every stage reads the same `BoardPlan` (`plan_for(host)`),
so a refusal stops that board before any stage changes anything, whichever entry file is run; other
boards of the run go on. `board` is anything with `name`, `data` and `get_fact`: a pyinfra host, or
`remote.FactReader` over SSH from outside pyinfra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pyinfra import logger
from pyinfra.api import OperationError
from pyinfra.facts.server import Arch, KernelVersion

from . import board_lock, catalog, lock, pins, webui
from .bundle import BundleError
from .cache import Cache, CacheUnavailable, cache_of, is_cache_host
from .config import ConfigError, Settings, ollama_environment, preload_set, settings
from .config import settings as default_settings
from .facts.containers import (CheckoutNaming, ContainerDict, DockerImages, ImageOllamaVersion,
                               JetsonContainersCheckout, OllamaContainer)
from .facts.docker import DockerDaemonJson, DockerState
from .facts.jetson import CudaToolkit, DefaultTarget, DiskFree, Memory, NvidiaSmi, TegraRelease, UbuntuRelease
from .facts.models import OllamaBlobs, OllamaManifests, OllamaModels
from .facts.network import LanAddresses
from .facts.native import OllamaService, ReleaseChecksums
from .facts.ollama import OllamaVersion, PortListener
from .facts.proxy import NginxBuild
from .facts.tuning import PowerModes, SwapFile
from .images import (BuildNames, ImagePlan, NoImage, compatible_with, l4t_from_tag, prebuilt_images, resolve_image,
                     reusable_image)
from .links import detect_dead_links, interrupted_runs_fail, lost_link
from .naming import BoardInputs, NoNaming, ambiguous_day, known_commit, naming, rule_at
from .native import PIN_SECTION, NativeRelease, NoBundle, release_for
from .operations.metrics import EXPORTER_PORT
from .operations.tuning import check_data_root, check_swapfile, mode_named
from .releases import ReleaseInfo, UnknownRelease, release_info
from .sources import Source, Upstream, source_for
from .tls import TlsError, TlsFiles, tls_files
from .version import at_least, newest

DOCKER_ROOT = "/var/lib/docker"
GB = 1000  # DiskFree answers in MB
MODELS_MARGIN_MB = 1000  # left free on the model store after the pulls
# for a model outside the catalog (ollama_allow_unknown_models): the catalog's largest KV cache per token
UNKNOWN_KV_BYTES_PER_TOKEN = max(info.kv_bytes_per_token for info in catalog.catalog().values())


@dataclass(frozen=True)
class ContainerRuntime:
    """Ollama in a container from a jetson-containers image (`jetson_runtime: container`)."""

    image: ImagePlan
    environment: dict[str, str]
    kind = "container"

    @property
    def ollama_version(self) -> str | None:
        return self.image.ollama_version

    def describe(self) -> str:
        return f"image {self.image.ref} ({self.image.strategy})"


@dataclass(frozen=True)
class NativeRuntime:
    """Ollama's official release as ollama.service (`jetson_runtime: native`): no docker."""

    release: NativeRelease
    environment: dict[str, str]
    # {archive: "sha256:<hex>"}: each archive's pin in models.lock, or the release's sha256sum.txt for one
    # not pinned yet (pinned by plan_for: trust on first use)
    archives: dict[str, str] = field(default_factory=dict)
    files: dict | None = None  # {archive: file} from the source (a bundle); None: the board downloads them
    kind = "native"
    image = None

    @property
    def ollama_version(self) -> str | None:
        return self.release.version

    def describe(self) -> str:
        return f"native Ollama {self.release.version} ({', '.join(self.release.archives)})"


Runtime = ContainerRuntime | NativeRuntime


@dataclass(frozen=True)
class ModelVerdict:
    """What the plan decided for one model of the board's set."""

    tag: str
    estimate: catalog.Estimate | None = None
    present: bool = False                 # the board's Ollama lists it already
    entry: lock.LockEntry | None = None   # the manifest to fetch; None when present
    lock_action: str | None = None        # "record" (first pull) or "update" (an accepted retag)
    problem: str | None = None            # why the board cannot have it (refuses the board)
    warning: str | None = None            # said once (ollama_memory_policy: warn)
    damaged: tuple[str, ...] = ()         # its blobs on the board that are missing, truncated or corrupt


@dataclass
class BoardPlan:
    settings: Settings = field(default_factory=default_settings)  # the defaults when the host data is bad
    refusal: str | None = None            # one line: why nothing will be done on this board
    release: ReleaseInfo | None = None    # None only on a board refused before its release was read
    runtime: Runtime | None = None        # how Ollama runs: its image (container) or release (native)
    source: Source = Upstream("")         # where the image, the models and the native release come from
    models: list[str] = field(default_factory=list)   # the model set of this board (stage 5)
    preload: list[str] = field(default_factory=list)  # the models of the set kept loaded (ollama_preload)
    verdicts: list[ModelVerdict] = field(default_factory=list)  # one per model, in set order
    ollama_version: str | None = None     # the Ollama the board will run, when known before the run
    configure_runtime: bool = False       # the opt-in daemon.json change is needed
    refused_once: bool = False            # the refusal operation was already added in this run
    cache_role: bool = False              # this host is the fleet's cache host, not a board
    cache: Cache | None = None            # the fleet's cache this board uses (jetson_cache_host)
    build_names: BuildNames | None = None  # what the pinned jetson-containers builds on this board
    desktop: bool = False                 # the OS takes the desktop's memory (board_desktop)
    service: dict = field(default_factory=dict)       # OllamaService: the native unit as the plan found it
    container: ContainerDict = field(default_factory=ContainerDict)  # OllamaContainer, as the plan found it
    local_images: list[dict] = field(default_factory=list)  # DockerImages: the board's images (container runtime)
    mem_total_mb: int = 0
    warnings: list[str] = field(default_factory=list)  # said once, when the plan is made
    pins: list[tuple[str, str, str]] = field(default_factory=list)  # (section, key, value) for models.lock
    tls: TlsFiles | None = None           # ollama_tls: the board's certificate, key and API key hashes
    webui: webui.WebUiPlan | None = None  # ollama_webui: Open WebUI's image, container and memory

    @property
    def api_url(self) -> str:
        """The URL a client on the board reaches Ollama at."""
        return self.settings.api_url

    @property
    def api_port(self) -> int:
        return self.settings.api_port

    @property
    def firewall_ports(self) -> list[int]:
        """The ports only `ollama_allow_from` (and the board) reach, through the firewall's chain: the API's,
        or with ollama_tls the HTTPS port first and the API's own (shut while it moves to 127.0.0.1); with
        ollama_metrics the exporter's too, which then listens on the same LAN address; with ollama_webui the web
        UI's HTTPS port after the API's."""
        cfg = self.settings
        ports = [cfg.ollama_tls_port, self.api_port] if self.tls else [self.api_port]
        if self.webui is not None:  # the web UI's HTTPS port, on the same address as the API's
            ports.insert(1, cfg.ollama_webui_port)
        return [*ports, EXPORTER_PORT] if cfg.ollama_metrics else ports

    @property
    def image(self) -> ImagePlan | None:
        return self.runtime.image if self.runtime else None

    @property
    def image_ref(self) -> str:
        """The container image the plan runs (the container runtime of a board not refused)."""
        if self.image is None or self.image.ref is None:
            raise ValueError("this plan runs no container image")
        return self.image.ref

    @property
    def native(self) -> NativeRelease | None:
        return self.runtime.release if isinstance(self.runtime, NativeRuntime) else None

    @property
    def environment(self) -> dict[str, str]:
        return self.runtime.environment if self.runtime else {}

    def describe(self) -> str:
        """One line: the release and how Ollama will run."""
        release = self.release
        where = f"L4T {release.l4t} (JetPack {release.jetpack}, CUDA {release.cuda})" if release else "no release"
        return f"{where}, {self.runtime.describe() if self.runtime else 'no runtime'}"

    @property
    def min_ollama(self) -> str | None:
        """The oldest Ollama the model set runs on (the catalog's figures), None when any will do."""
        return min_ollama(self.models)

    @property
    def largest(self) -> ModelVerdict | None:
        """The model of the set with the largest memory estimate: the board's tier."""
        return max((v for v in self.verdicts if v.estimate), key=lambda v: v.estimate.total_bytes if v.estimate else 0,
                   default=None)


_plans: dict[str, BoardPlan] = {}


def reset_plans() -> None:
    """Forget every board's plan: the next run in this process reads the boards' facts afresh."""
    _plans.clear()


def plan_for(host) -> BoardPlan:
    """The plan of a pyinfra host, made once per run: its warnings said, its models.lock pins written."""
    if host.name not in _plans:
        interrupted_runs_fail()
        detect_dead_links(host)
        try:
            cfg = settings(host.data)
        except ConfigError as exc:
            plan = BoardPlan(refusal=str(exc))
        else:
            busy = board_lock.hold(host)  # one run at a time: before any fact, so before any change
            plan = BoardPlan(settings=cfg, refusal=busy) if busy else make_plan(host, cfg)
            if lost := lost_link(host.name):  # its facts were not read: what the plan made of them is not the board
                plan = BoardPlan(settings=cfg, refusal=lost, refused_once=True)  # said once, the host failed already
        _plans[host.name] = plan
        for warning in plan.warnings:
            logger.warning(f"{host.name}: {warning}")
        for section, key, value in plan.pins if plan.refusal is None else ():  # a refused board changes nothing
            pins.record(plan.settings, section, key, value)
    return _plans[host.name]


def _make_plan(host) -> BoardPlan:
    """make_plan with the host's own settings (a ConfigError refuses the board)."""
    try:
        cfg = settings(host.data)
    except ConfigError as exc:
        return BoardPlan(refusal=str(exc))
    return make_plan(host, cfg)


def min_ollama(models: list[str]) -> str | None:
    return newest(info.min_ollama for info in map(catalog.model_info, models) if info)


class _ReadOnce:
    """`board` whose facts are read once each (pyinfra runs a fact's command at every get_fact)."""

    def __init__(self, board: Any) -> None:
        self._board = board
        self._read: dict[tuple[Any, str], Any] = {}

    def get_fact(self, fact: Any, **kwargs: Any) -> Any:
        key = (fact, repr(sorted(kwargs.items())))
        if key not in self._read:
            self._read[key] = self._board.get_fact(fact, **kwargs)
        return self._read[key]

    def __getattr__(self, name: str) -> Any:  # name, data, state, connector: the board's own
        return getattr(self._board, name)


def _holders(listeners: list[dict]) -> str:
    """Who holds a port, for a refusal: each process and address once (PortListener's entries)."""
    return ", ".join(sorted({f"{lst.get('process') or 'a process'} on {lst.get('address')}" for lst in listeners}))


def _tls_problem(board: Any, cfg: Settings, plan: BoardPlan) -> str | None:
    """ollama_tls: the board's nginx can serve it and nothing else holds its port; the certificate (the
    user's, checked against its key, or the CA's) and the key hashes into plan.tls. Else the problem."""
    nginx = board.get_fact(NginxBuild)
    if nginx["version"] and not (nginx["ssl"] and nginx["auth_request"]):
        return (f"ollama_tls: the board's nginx {nginx['version']} lacks the ssl or auth_request module "
                "(Ubuntu's nginx-core has both)")
    if nginx["version"] and nginx["packaged_service"] == "enabled":
        return ("ollama_tls: nginx.service is enabled on the board (sites of its own?); the HTTPS API runs nginx "
                "under a unit of its own and masks the package's: stop it first (systemctl mask --now nginx)")
    port = cfg.ollama_tls_port
    if foreign := [lst for lst in board.get_fact(PortListener, port=port) if lst.get("process") != "nginx"]:
        who = _holders(foreign)
        return f"ollama_tls_port {port} is already taken by {who}"
    names = [cfg.exposed_address]
    if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", board.name) and board.name not in names:
        names.append(board.name)
    try:
        plan.tls = tls_files(board.name, names, cfg.ollama_api_keys, cfg.ollama_tls_cert, cfg.ollama_tls_key)
    except TlsError as exc:
        return str(exc)
    return None


def make_plan(board: Any, cfg: Settings, cache: Cache | None | CacheUnavailable = None) -> BoardPlan:
    """Everything `board` needs, from its facts and `cfg`. `cache` is the fleet's cache when the caller
    knows it (outside pyinfra); a pyinfra host finds it in its run's inventory (cache.cache_of)."""
    board = _ReadOnce(board)
    plan = BoardPlan(settings=cfg)
    if is_cache_host(board):
        plan.cache_role = True
        return plan
    try:
        found = cache_of(board, cfg) if hasattr(board, "state") else cache
        if isinstance(found, CacheUnavailable):
            raise found
    except CacheUnavailable as exc:
        return _refuse(plan, str(exc))
    plan.cache = found
    plan.source = source_for(cfg, plan.cache)

    tegra = board.get_fact(TegraRelease)
    arch = board.get_fact(Arch)
    if arch != "aarch64" or not tegra:
        what = "no /etc/nv_tegra_release" if not tegra else "L4T present"
        return _refuse(plan, f"not a Jetson ({arch or 'unknown architecture'}, {what})")
    try:
        release = plan.release = release_info(tegra["l4t"])
    except UnknownRelease as exc:
        return _refuse(plan, str(exc))
    if release.note:
        plan.warnings.append(release.note)

    native: NativeRelease | None = None  # jetson_runtime: native: the official release, no docker needed
    if cfg.jetson_runtime == "native":
        try:
            native = release_for(cfg.ollama_native_version, cfg.ollama_native_url, release.jetpack)
        except NoBundle as exc:
            return _refuse(plan, str(exc))
    else:
        docker = board.get_fact(DockerState)
        if not docker.get("installed"):
            return _refuse(plan, "docker is not installed (JetPack installs docker.io with nvidia-container)")
        if not docker.get("running"):
            return _refuse(plan, "the docker daemon does not answer (systemctl status docker)")
        if "nvidia" not in docker.get("runtimes", []):
            if not cfg.jetson_configure_docker_runtime:
                return _refuse(plan, "docker has no nvidia runtime in /etc/docker/daemon.json "
                                     "(set jetson_configure_docker_runtime: true to add it)")
            plan.configure_runtime = True
            if board.get_fact(DockerDaemonJson).get("_invalid"):
                return _refuse(plan, "/etc/docker/daemon.json does not parse; fix it by hand first")

    if cfg.ollama_allow_from:  # the API binds to a LAN address: it must be one of the board's
        addresses = board.get_fact(LanAddresses)
        if cfg.exposed_address not in addresses:
            return _refuse(plan, f"the API would bind to {cfg.exposed_address}, which is not an address of this "
                                 f"board (it has {', '.join(addresses) or 'none'}; set ollama_bind_address)")
    if cfg.ollama_tls and (problem := _tls_problem(board, cfg, plan)):
        return _refuse(plan, problem)
    if cfg.ollama_webui and (problem := _webui_problem(board, cfg, plan)):
        return _refuse(plan, problem)

    if problem := _tuning_problem(board, cfg):
        return _refuse(plan, problem)

    container = plan.container = board.get_fact(OllamaContainer, container=cfg.ollama_container_name)
    listeners = board.get_fact(PortListener, port=plan.api_port)
    # this deploy's own other runtime may hold the port (the service stage stops it first): its container,
    # or its ollama.service (marked by the drop-in); anything else is foreign
    service = plan.service = board.get_fact(OllamaService)
    if listeners and not container.get("running") and not (service.get("active") and service.get("ours")):
        who = _holders(listeners)
        return _refuse(plan, f"port {plan.api_port} is already taken by {who} (a native ollama.service?)")

    plan.mem_total_mb = board.get_fact(Memory).get("mem_total_mb", 0)
    plan.desktop = board_desktop(board, cfg)
    try:
        plan.models = model_set(cfg, plan.mem_total_mb, plan.desktop)
    except ValueError as exc:
        return _refuse(plan, str(exc))
    plan.preload, problem = preload_set(cfg.ollama_preload, plan.models, cfg.ollama_max_loaded_models)
    if problem:
        return _refuse(plan, f"ollama_preload {problem}")
    environment = ollama_environment(cfg, release.jetpack)
    if native is not None:
        plan.runtime = NativeRuntime(native, environment)
        if plan.min_ollama and not at_least(cfg.ollama_native_version, plan.min_ollama):
            return _refuse(plan, f"the model set needs Ollama {plan.min_ollama} or newer, ollama_native_version is "
                                 f"{cfg.ollama_native_version}")
        plan.ollama_version = native.version
        if cfg.jetson_bundle and (problem := plan.source.problem(plan)):
            return _refuse(plan, problem)
        try:  # every archive's sha256 known, and (offline) in the bundle, before anything is installed
            archives = _native_archives(board, plan, native)
            files = plan.source.native_files(native, archives)
        except (lock.LockError, BundleError) as exc:
            return _refuse(plan, str(exc))
        plan.runtime = NativeRuntime(native, environment, archives, files)
    else:
        plan.local_images = list(board.get_fact(DockerImages))
        images = [img["ref"] for img in plan.local_images]
        try:
            try:
                plan.build_names = _build_names(board, cfg, plan.release)
            except NoNaming as exc:  # only a build needs the name: a prebuilt image may still do
                plan.build_names = BuildNames(images={}, problem=str(exc))
            image = _image_plan(board, plan, release, images)
        except NoImage as exc:
            return _refuse(plan, str(exc))
        plan.runtime = ContainerRuntime(image, environment)
        if image.strategy == "build" and plan.build_names:
            plan.warnings.extend(plan.build_names.warnings)
        if problem := plan.source.problem(plan):
            return _refuse(plan, problem)
        if image.ref not in images:
            need = cfg.jetson_build_min_free_gb if image.strategy == "build" else cfg.jetson_pull_min_free_gb
            also = ""
            if plan.webui is not None and not plan.webui.present:  # both images land on the same disk
                need, also = need + float(webui.figures()["image_gb"]), f" and the pull of {plan.webui.image}"
            free_mb = board.get_fact(DiskFree, path=DOCKER_ROOT)
            if free_mb < need * GB:
                return _refuse(plan, f"{free_mb / GB:.1f} GB free on {DOCKER_ROOT}, "
                                     f"the {image.strategy} of {image.ref}{also} needs {need:g} GB")
        # the image's own figure, or the live API's when the container already runs that image (a
        # build's version is known only then)
        live = container.get("running") and container.get("image") == image.ref
        plan.ollama_version = image.ollama_version or (
            board.get_fact(OllamaVersion, url=plan.api_url) if live else None)
        if plan.ollama_version:
            plan.pins.append(("ollama", plan.image_ref, plan.ollama_version))

    plan.verdicts = _model_verdicts(board, plan)
    if problems := [verdict.problem for verdict in plan.verdicts if verdict.problem]:
        return _refuse(plan, "; ".join(problems))
    if problem := _model_disk_problem(board, plan):
        return _refuse(plan, problem)
    if problem := _preload_fit_problem(plan):
        return _refuse(plan, problem)
    plan.warnings.extend(f"{v.tag} {v.warning} (ollama_memory_policy: warn)" for v in plan.verdicts if v.warning)
    return plan


def _info(tag: str, manifest: dict, allow_unknown: bool) -> tuple[catalog.ModelInfo | None, str | None]:
    """The model's figures, or why they are not known."""
    known = catalog.model_info(tag)
    if known:
        return known, None
    if manifest.get("error") or not manifest.get("manifest"):
        return None, (f"{tag} is not in the catalog and its registry manifest could not be read "
                      f"({manifest.get('error') or 'no answer'})")
    if not allow_unknown:
        return None, (f"{tag} is not in the catalog: its KV cache size is unknown, so its memory fit cannot be "
                      "estimated (set ollama_allow_unknown_models: true to estimate it from the manifest)")
    size = sum(layer["size"] for layer in manifest["manifest"].get("layers", []))
    return catalog.ModelInfo.unknown(tag, size, UNKNOWN_KV_BYTES_PER_TOKEN), None


def _model_verdicts(board: Any, plan: BoardPlan) -> list[ModelVerdict]:
    """Per model, before any download: its figures (the catalog's, or the registry manifest's sizes), the
    Ollama version it needs, the memory fit against this board's RAM (docs/facts.md section 6: the log hit
    96 % with qwen3:8b on 8 GB), and models.lock."""
    cfg = plan.settings
    if not plan.models:
        return []
    if isinstance(plan.runtime, NativeRuntime):
        runs, way_out = f"the native Ollama is {plan.ollama_version}", "raise ollama_native_version"
    else:
        runs = f"this board's image {plan.image_ref} has {plan.ollama_version}"
        way_out = "use jetson_image_strategy: build, or another image or ollama_version"
    on_board = board.get_fact(OllamaModels, url=plan.api_url)
    stored = board.get_fact(OllamaManifests, models_dir=cfg.ollama_models_dir)
    try:
        locked = lock.load(cfg.ollama_lock_file)
    except lock.LockError as exc:
        return [ModelVerdict(plan.models[0], problem=str(exc))]
    damaged = board.get_fact(OllamaBlobs, models_dir=cfg.ollama_models_dir,
                             full=cfg.ollama_verify_models == "full").get("damaged", {})
    verdicts = []
    for tag in plan.models:
        broken = tuple(sorted(set(stored[tag]["blobs"]) & set(damaged))) if tag in stored else ()
        present = tag in on_board and not broken  # a damaged model is fetched again, as if it were absent
        manifest = {} if present else plan.source.manifest(board, tag)
        info, unknown = _info(tag, manifest, cfg.ollama_allow_unknown_models)
        if unknown or info is None:
            verdicts.append(ModelVerdict(tag, problem=unknown))
            continue
        if plan.ollama_version and not at_least(plan.ollama_version, info.min_ollama):
            problem = f"{tag} needs Ollama {info.min_ollama} or newer, {runs} ({way_out})"
            verdicts.append(ModelVerdict(tag, problem=problem))
            continue
        estimate = _with_webui(plan, catalog.estimate(info, plan.mem_total_mb, plan.desktop,
                                                      cfg.ollama_context_length, cfg.ollama_num_parallel))
        ok, warning = catalog.fits(estimate, cfg.ollama_memory_policy)
        verdict = ModelVerdict(tag, estimate=estimate, present=present, warning=warning)
        if not ok:
            what = f"{tag} with Open WebUI ({plan.webui.memory_mb} MB)" if plan.webui else tag
            verdicts.append(_with(verdict, problem=catalog.refusal_message(None, what, estimate)))
            continue
        if present:  # the board's copy must be the locked one
            if tag in locked and tag in stored and not cfg.ollama_update_lock:
                verdict = _with(verdict, problem=lock.check_blobs(locked, tag, set(stored[tag]["blobs"])))
            verdicts.append(verdict)
            continue
        if manifest.get("error") or not manifest.get("manifest"):
            verdicts.append(_with(verdict, problem=f"cannot read the manifest of {tag} from "
                                                   f"{plan.source.describe()}: {manifest.get('error') or 'no answer'}"))
            continue
        entry = lock.entry_from_parsed(manifest["sha256"], manifest["manifest"])
        mismatch = lock.check(locked, tag, entry)
        if mismatch and not cfg.ollama_update_lock:
            verdicts.append(_with(verdict, problem=mismatch))
            continue
        action = "update" if mismatch else ("record" if tag not in locked else None)
        # a damaged blob the fetch would keep (Ollama skips a blob that exists: docs/facts.md section 5)
        broken = tuple(sorted(set(broken) | (set(entry.blob_digests) & set(damaged))))
        if broken:
            plan.warnings.append(f"{tag}: " + "; ".join(f"blob {digest[:19]} {damaged[digest]}" for digest in broken)
                                 + ": fetched again")
        verdicts.append(_with(verdict, entry=entry, lock_action=action, damaged=broken))
    return verdicts


def _with_webui(plan: BoardPlan, estimate: catalog.Estimate) -> catalog.Estimate:
    """A model's estimate with Open WebUI's resident memory (data/webui.yaml) counted with the OS baseline:
    both stay in RAM beside the loaded model (ollama_webui)."""
    if plan.webui is None:
        return estimate
    extra = plan.webui.memory_mb * 1024 * 1024
    total = estimate.total_bytes + extra
    percent = total / estimate.ram_bytes * 100
    return _with_estimate(estimate, baseline_bytes=estimate.baseline_bytes + extra, total_bytes=total,
                          percent=percent, tier=catalog.tier_of(percent))


def _webui_problem(board: Any, cfg: Settings, plan: BoardPlan) -> str | None:
    """ollama_webui: docker to run it, its ports free (the proxy's, Open WebUI's own on 127.0.0.1), its image
    the one models.lock pins (or room to pull it) into plan.webui. Else the problem (docs/facts.md section 9)."""
    if cfg.jetson_bundle:
        return "ollama_webui: an offline bundle (jetson_bundle) does not carry the Open WebUI image"
    docker = board.get_fact(DockerState)
    if not (docker.get("installed") and docker.get("running")):
        return "ollama_webui runs Open WebUI in a container: docker is not installed or its daemon does not answer"
    if cfg.ollama_webui_port == EXPORTER_PORT and cfg.ollama_metrics:
        return f"ollama_webui_port {cfg.ollama_webui_port} is the metrics exporter's (ollama_metrics): choose another"
    port = cfg.ollama_webui_port
    if foreign := [lst for lst in board.get_fact(PortListener, port=port) if lst.get("process") != "nginx"]:
        who = _holders(foreign)
        return f"ollama_webui_port {port} is already taken by {who}"
    found = board.get_fact(OllamaContainer, container=webui.CONTAINER)
    if board.get_fact(PortListener, port=webui.LOOPBACK_PORT) and not found.get("running"):
        return f"port {webui.LOOPBACK_PORT}, Open WebUI's own on 127.0.0.1, is taken by another process"
    ref = cfg.ollama_webui_image
    local = next((dict(image) for image in board.get_fact(DockerImages) if image["ref"] == ref), None)
    try:
        pinned = lock.load_pins(cfg.ollama_lock_file).get("images", {}).get(ref)
    except lock.LockError as exc:
        return str(exc)
    digest = local.get("digest") if local else None
    if local and pinned and digest and digest != pinned:
        return f"{ref} on the board is {digest[:19]}, models.lock pins {pinned[:19]} (the tag moved?)"
    if local and digest and not pinned:
        plan.pins.append(("images", ref, digest))
    if not local:
        need_gb = float(webui.figures()["image_gb"])
        free_mb = board.get_fact(DiskFree, path=DOCKER_ROOT)
        if free_mb and free_mb < need_gb * GB:
            return f"{free_mb / GB:.1f} GB free on {DOCKER_ROOT}, the pull of {ref} needs {need_gb:g} GB"
    plan.webui = webui.WebUiPlan(
        image=ref, digest=pinned or digest, present=local is not None, env=webui.environment(cfg.api_port),
        memory_mb=int(webui.figures()["memory_mb"]), listen=f"{cfg.exposed_address}:{port}",
        found_spec=(found.get("labels") or {}).get(webui.SPEC_LABEL, ""), found_running=bool(found.get("running")))
    return None


def _preload_fit_problem(plan: BoardPlan) -> str | None:
    """The preloaded models stay loaded together, so their memory fit is that of all of them at once: the
    OS baseline once, and each model's weights, KV cache and overhead (its own runner), against the same
    tiers and ollama_memory_policy as one model (catalog.fits). A warning under `warn`, said once."""
    estimates = [v.estimate for v in plan.verdicts if v.tag in plan.preload and v.estimate]
    if len(estimates) < 2:
        return None  # one model: its own verdict already holds its fit
    first = estimates[0]
    parts = {name: sum(getattr(e, name) for e in estimates) for name in ("weights_bytes", "kv_bytes", "overhead_bytes")}
    total = first.baseline_bytes + sum(parts.values())
    percent = total / first.ram_bytes * 100
    together = _with_estimate(first, total_bytes=total, percent=percent, tier=catalog.tier_of(percent), **parts)
    ok, warning = catalog.fits(together, plan.settings.ollama_memory_policy)
    what = f"ollama_preload ({' + '.join(plan.preload)} loaded at once)"
    if not ok:
        return catalog.refusal_message(None, what, together)
    if warning:
        plan.warnings.append(f"{what} {warning} (ollama_memory_policy: warn)")
    return None


def _with_estimate(estimate: catalog.Estimate, **changes: Any) -> catalog.Estimate:
    from dataclasses import replace

    return replace(estimate, **changes)


def _native_archives(board: Any, plan: BoardPlan, release: NativeRelease) -> dict[str, str]:
    """{archive: "sha256:<hex>"} of the native release: the pins of models.lock's `ollama-native` section,
    and for an archive not pinned yet the digest the release's sha256sum.txt gives (read from the board,
    which downloads the archives; only when some archive is not pinned), added to `plan.pins` (trust on
    first use; later runs check the pin). Raises lock.LockError (one line) when an archive is neither."""
    lock_file = plan.settings.ollama_lock_file
    pinned = lock.load_pins(lock_file).get(PIN_SECTION, {})
    keys = {archive: release.pin_key(archive) for archive in release.archives}
    published: dict[str, str] = {}
    if any(key not in pinned for key in keys.values()):
        published = board.get_fact(ReleaseChecksums, url=release.checksums_url)
    found, first_use, missing = {}, [], []
    for archive, key in keys.items():
        if key in pinned:
            found[archive] = pinned[key]
        elif archive in published:
            found[archive] = published[archive]
            first_use.append((PIN_SECTION, key, published[archive]))
        else:
            missing.append(archive)
    if missing:  # nothing pinned for a release that cannot be installed
        raise lock.LockError(f"no sha256 for {', '.join(missing)}: not pinned in {lock_file} ({PIN_SECTION}) and "
                             f"not in {release.checksums_url}")
    plan.pins.extend(first_use)
    return found


def _model_disk_problem(board: Any, plan: BoardPlan) -> str | None:
    """Whether the store has room for the blobs the board lacks, plus MODELS_MARGIN_MB, before any pull."""
    cfg = plan.settings
    wanted = {blob.digest: blob.size for v in plan.verdicts if v.entry for blob in v.entry.blobs}
    if not wanted:
        return None
    stored = board.get_fact(OllamaManifests, models_dir=cfg.ollama_models_dir)
    damaged = board.get_fact(OllamaBlobs, models_dir=cfg.ollama_models_dir,
                             full=cfg.ollama_verify_models == "full").get("damaged", {})
    held = {digest for model in stored.values() for digest in model["blobs"]} - set(damaged)
    missing_mb = sum(size for digest, size in wanted.items() if digest not in held) / 1e6
    free_mb = board.get_fact(DiskFree, path=cfg.ollama_models_dir)
    if free_mb and free_mb < missing_mb + MODELS_MARGIN_MB:  # 0: df could not say
        return (f"{free_mb / GB:.1f} GB free on {cfg.ollama_models_dir}, the models to pull need "
                f"{missing_mb / GB:.1f} GB and {MODELS_MARGIN_MB / GB:.0f} GB to spare")
    return None


def _with(verdict: ModelVerdict, **changes: Any) -> ModelVerdict:
    from dataclasses import replace

    return replace(verdict, **changes)


def _tuning_problem(board: Any, cfg: Settings) -> str | None:
    """Why the opt-in board tuning (stages/tuning.py) cannot be done as asked, found before anything changes."""
    try:
        if cfg.jetson_power_mode:
            mode_named(board.get_fact(PowerModes)["modes"], cfg.jetson_power_mode)
        if cfg.jetson_swapfile_size:
            check_swapfile(cfg.jetson_swapfile_path, board.get_fact(SwapFile, path=cfg.jetson_swapfile_path))
        if cfg.jetson_docker_data_root:
            check_data_root(cfg.jetson_docker_data_root, board.get_fact(DockerDaemonJson))
    except OperationError as exc:
        return str(exc)
    return None


def board_desktop(board: Any, cfg: Settings) -> bool:
    """The OS takes about 800 MB more with the desktop JetPack boots (docs/facts.md section 3). A board the
    deploy makes headless (jetson_headless) counts as headless at once, before its reboot."""
    if cfg.jetson_headless:
        return False
    if cfg.ollama_desktop is not None:
        return cfg.ollama_desktop
    return board.get_fact(DefaultTarget) == "graphical.target"


def model_set(cfg: Settings, mem_total_mb: int, desktop: bool) -> list[str]:
    """The board's models: the list asked for, or for "auto" the largest green one of the preference list."""
    if cfg.ollama_models == "auto":
        return catalog.auto_models(cfg.ollama_models_auto, mem_total_mb, desktop, cfg.ollama_context_length,
                                   cfg.ollama_num_parallel)
    return list(cfg.ollama_models)


def _build_names(board: Any, cfg: Settings, release: ReleaseInfo) -> BuildNames:
    """What `jetson-containers build` makes on this board at the pinned commit. Once the checkout is at
    that commit, its own code says (the CheckoutNaming fact); before, the naming rule of the commit's
    time (naming.py), fed with the board's own L4T, CUDA toolkit, Ubuntu, GPU name and kernel."""
    commit = cfg.jetson_containers_commit
    checkout = board.get_fact(JetsonContainersCheckout, path=cfg.jetson_containers_path)
    at_pin = checkout.get("commit") == commit
    committed = None
    if at_pin:
        own = board.get_fact(CheckoutNaming, path=cfg.jetson_containers_path)
        if own and not own.get("error") and own.get("images"):
            return BuildNames(images=dict(own["images"]), versions=tuple(own.get("versions") or ()),
                              default=own.get("default"), source=f"jetson-containers {commit[:8]}",
                              warnings=tuple(own.get("warnings") or ()))
        if own.get("error"):
            logger.warning(f"{board.name}: the jetson-containers checkout could not name its images itself "
                           f"({own['error']}): using this library's naming rules")
        committed = checkout.get("committed") or checkout.get("date")
    known = known_commit(commit)
    committed = committed or (known.committed if known else cfg.jetson_containers_commit_date)
    if not committed:
        raise NoNaming(f"a build needs the image name jetson-containers {commit[:12]} gives, and this library does "
                       "not know that commit: run deploys/jetson_containers.py first (its checkout then tells), or set "
                       "jetson_containers_commit_date (git show -s --format=%cI <commit>)")
    text = str(committed)
    if len(text) == 10 and ambiguous_day(date.fromisoformat(text)):
        raise NoNaming(f"jetson-containers changed its image names on {text}: set jetson_containers_commit_date to "
                       f"the commit's full committer time (git show -s --format=%cI {commit[:12]})")
    smi = board.get_fact(NvidiaSmi)
    cuda = board.get_fact(CudaToolkit)
    inputs = BoardInputs(l4t=release.l4t, ubuntu=board.get_fact(UbuntuRelease) or release.ubuntu,
                        cuda_json=cuda.get("json"), cudart=cuda.get("cudart"),
                        gpu_name=(smi.get("gpu_name") or "") if smi.get("present") else None,
                        kernel=board.get_fact(KernelVersion) or "")
    computed = naming(rule_at(text, commit), inputs)
    versions = known.ollama_versions if known else ()
    packages = ["ollama", *(f"ollama:{version}" for version in versions)]
    if cfg.ollama_version and f"ollama:{cfg.ollama_version}" not in packages:
        packages.append(f"ollama:{cfg.ollama_version}")
    return BuildNames(images={package: computed.image(package) for package in packages}, versions=versions,
                      default=known.ollama_default if known else None, source=f"jetson-containers {commit[:8]}",
                      warnings=computed.warnings)


def _image_plan(board: Any, plan: BoardPlan, release: ReleaseInfo, images: list[str]) -> ImagePlan:
    cfg, names = plan.settings, plan.build_names
    strategy = cfg.jetson_image_strategy
    if strategy == "reuse":
        ref = cfg.jetson_image or reusable_image(images, release.l4t)
        if not ref:
            raise NoImage(f"no local ollama image fits L4T {release.l4t} (jetson_image_strategy: reuse)")
        if not compatible_with(l4t_from_tag(ref.split(":", 1)[-1]), release.l4t, chosen=not cfg.jetson_image):
            raise NoImage(f"image {ref} was not built for L4T {release.l4t} (JetPack {release.jetpack})")
        return ImagePlan("reuse", ref, None, None)
    pinned = _pinned_versions(board, plan, images)
    if strategy == "build" and names is not None and not names.problem and cfg.ollama_version and not names.versions:
        raise NoImage(f"ollama_version {cfg.ollama_version} cannot be checked against {names.source}, which this "
                      "library does not know: run deploys/jetson_containers.py first, so its checkout tells")
    # the models' minimum Ollama steers the choice: a newer prebuilt image, else (auto) a build
    return resolve_image(release, strategy, names, cfg.ollama_version, min_ollama=plan.min_ollama, pinned=pinned)


def _pinned_versions(board: Any, plan: BoardPlan, images: list[str]) -> dict[str, str]:
    """The Ollama version of each prebuilt image no table can say: pinned in models.lock when an earlier
    run read it from the image, else read now from a copy already on the board (pinned by plan_for)."""
    cfg = plan.settings
    try:
        pinned = dict(lock.load_pins(cfg.ollama_lock_file).get("ollama", {}))
    except lock.LockError:
        pinned = {}
    for image in prebuilt_images():
        if image.ollama_version or image.ref in pinned or image.ref not in images:
            continue
        version = board.get_fact(ImageOllamaVersion, ref=image.ref)
        if version:
            pinned[image.ref] = version
            plan.pins.append(("ollama", image.ref, version))
    return pinned


def _refuse(plan: BoardPlan, reason: str) -> BoardPlan:
    plan.refusal = reason
    return plan

