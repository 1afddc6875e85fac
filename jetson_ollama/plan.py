"""What a board needs, worked out once per board from its facts and its host data.

Every stage reads the same `BoardPlan`, so a refusal found by the preflight stops that board before
any stage changes anything, whichever entry file is run; other boards of the run go on.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import date

from paramiko import SSHException
from pyinfra import logger
from pyinfra.api import OperationError
from pyinfra.facts.server import Arch, KernelVersion

from .bundle import board_problem as bundle_problem
from .cache import Cache, CacheUnavailable, cache_of, is_cache_host
from .config import ConfigError, Settings, ollama_environment, settings
from .facts.containers import CheckoutNaming, DockerImages, ImageOllamaVersion, JetsonContainersCheckout, OllamaContainer
from .facts.docker import DockerDaemonJson, DockerState
from .facts.jetson import CudaToolkit, DefaultTarget, DiskFree, Memory, NvidiaSmi, TegraRelease, UbuntuRelease
from .facts.network import LanAddresses
from .facts.native import OllamaService
from .facts.ollama import PortListener
from .facts.tuning import PowerModes, SwapFile
from . import lock
from .images import (BuildNames, ImagePlan, NoImage, compatible_with, l4t_from_tag, prebuilt_images, resolve_image,
                     reusable_image)
from .catalog import auto_models, model_info, version_at_least
from .naming import BoardInputs, NoNaming, ambiguous_day, known_commit, naming, rule_at
from .native import NativeRelease, NoBundle, release_for
from . import pins
from .operations.tuning import check_data_root, check_swapfile, mode_named
from .releases import ReleaseInfo, UnknownRelease, release_info

DOCKER_ROOT = "/var/lib/docker"
GB = 1000  # DiskFree answers in MB


@dataclass
class BoardPlan:
    settings: Settings | None = None
    refusal: str | None = None            # one line: why nothing will be done on this board
    release: ReleaseInfo | None = None
    image: ImagePlan | None = None        # the container runtime's image (None when native)
    native: NativeRelease | None = None   # jetson_runtime: native: the release ollama.service runs
    environment: dict[str, str] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)   # the model set of this board (stage 5)
    configure_runtime: bool = False       # the opt-in daemon.json change is needed
    refused_once: bool = False            # the refusal operation was already added in this run
    cache_role: bool = False              # this host is the fleet's cache host, not a board
    cache: Cache | None = None            # the fleet's cache this board uses (jetson_cache_host)
    build_names: BuildNames | None = None  # what the pinned jetson-containers builds on this board
    warnings: list[str] = field(default_factory=list)  # said once, when the plan is made


_plans: dict[str, BoardPlan] = {}


def reset_plans() -> None:
    """Forget every board's plan: the next run in this process reads the boards' facts afresh."""
    _plans.clear()


def plan_for(host) -> BoardPlan:
    if host.name not in _plans:
        _detect_dead_links(host)
        plan = _plans[host.name] = _make_plan(host)
        for warning in plan.warnings:
            logger.warning(f"{host.name}: {warning}")
    return _plans[host.name]


def _detect_dead_links(host, seconds: int = 20) -> None:
    """A board whose link dies under an open SSH session would stall its next command (and the
    run's report) until TCP gives up, many minutes later: let the kernel probe the link and drop
    it after `seconds` of silence, so only that board fails."""
    client = getattr(getattr(host, "connector", None), "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if not isinstance(sock, socket.socket):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 3), ("TCP_KEEPCNT", 3),
                          ("TCP_USER_TIMEOUT", seconds * 1000)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    _dead_link_fails_the_host(host, transport)


def _dead_link_fails_the_host(host, transport) -> None:
    """When the dropped link is noticed between two commands, paramiko's next `open_session` raises
    the transport's EOFError, which pyinfra does not catch around a command (it catches OSError and
    SSHException) and which stops the whole run: give it as an SSHException, so only this host fails."""
    open_session = transport.open_session

    def open_session_or_fail(*args, **kwargs):
        try:
            return open_session(*args, **kwargs)
        except EOFError as exc:
            raise SSHException(f"the SSH link to {host.name} is gone") from exc

    transport.open_session = open_session_or_fail


def _make_plan(host) -> BoardPlan:
    try:
        cfg = settings(host.data)
    except ConfigError as exc:
        return BoardPlan(refusal=str(exc))
    plan = BoardPlan(settings=cfg)
    if is_cache_host(host, cfg):
        plan.cache_role = True
        return plan
    try:
        plan.cache = cache_of(host, cfg)
    except CacheUnavailable as exc:
        return _refuse(plan, str(exc))

    tegra = host.get_fact(TegraRelease)
    arch = host.get_fact(Arch)
    if arch != "aarch64" or not tegra:
        what = "no /etc/nv_tegra_release" if not tegra else "L4T present"
        return _refuse(plan, f"not a Jetson ({arch or 'unknown architecture'}, {what})")
    try:
        plan.release = release_info(tegra["l4t"])
    except UnknownRelease as exc:
        return _refuse(plan, str(exc))
    if plan.release.note:
        plan.warnings.append(plan.release.note)

    native = cfg.jetson_runtime == "native"  # the official release and ollama.service: no docker needed
    if native:
        try:
            plan.native = release_for(cfg.ollama_native_version, cfg.ollama_native_url, plan.release.jetpack)
        except NoBundle as exc:
            return _refuse(plan, str(exc))
    else:
        docker = host.get_fact(DockerState)
        if not docker.get("installed"):
            return _refuse(plan, "docker is not installed (JetPack installs docker.io with nvidia-container)")
        if not docker.get("running"):
            return _refuse(plan, "the docker daemon does not answer (systemctl status docker)")
        if "nvidia" not in docker.get("runtimes", []):
            if not cfg.jetson_configure_docker_runtime:
                return _refuse(plan, "docker has no nvidia runtime in /etc/docker/daemon.json "
                                     "(set jetson_configure_docker_runtime: true to add it)")
            plan.configure_runtime = True
            if host.get_fact(DockerDaemonJson).get("_invalid"):
                return _refuse(plan, "/etc/docker/daemon.json does not parse; fix it by hand first")

    if cfg.ollama_allow_from:  # the API binds to a LAN address: it must be one of the board's
        bind = cfg.ollama_host.rsplit(":", 1)[0]
        addresses = host.get_fact(LanAddresses)
        if bind not in addresses:
            return _refuse(plan, f"the API would bind to {bind}, which is not an address of this board (it has "
                                 f"{', '.join(addresses) or 'none'}; set ollama_bind_address)")

    if problem := _tuning_problem(host, cfg):
        return _refuse(plan, problem)

    container = host.get_fact(OllamaContainer, container=cfg.ollama_container_name)
    port = int(cfg.ollama_host.rsplit(":", 1)[1])
    listeners = host.get_fact(PortListener, port=port)
    # this deploy's own other runtime may hold the port (the service stage stops it first): its container,
    # or its ollama.service (marked by the drop-in); anything else is foreign
    service = host.get_fact(OllamaService)
    if listeners and not container.get("running") and not (service.get("active") and service.get("ours")):
        who = ", ".join(sorted({f"{lst.get('process') or 'a process'} on {lst.get('address')}" for lst in listeners}))
        return _refuse(plan, f"port {port} is already taken by {who} (a native ollama.service?)")

    images = [img["ref"] for img in host.get_fact(DockerImages)]
    try:
        plan.models = model_set(cfg, host.get_fact(Memory).get("mem_total_mb", 0), board_desktop(host, cfg))
    except ValueError as exc:
        return _refuse(plan, str(exc))
    needs = [info.min_ollama for info in map(model_info, plan.models) if info]
    min_ollama = max(needs, key=_version_key) if needs else None
    if native:
        if min_ollama and not version_at_least(cfg.ollama_native_version, min_ollama):
            return _refuse(plan, f"the model set needs Ollama {min_ollama} or newer, ollama_native_version is "
                                 f"{cfg.ollama_native_version}")
        plan.environment = ollama_environment(cfg, plan.release.jetpack)
        return plan
    try:
        try:
            plan.build_names = _build_names(host, cfg, plan.release)
        except NoNaming as exc:  # only a build needs the name: a prebuilt image may still do
            plan.build_names = BuildNames(images={}, problem=str(exc))
        plan.image = _image_plan(host, cfg, plan.release, plan.build_names, images, min_ollama)
    except NoImage as exc:
        return _refuse(plan, str(exc))
    if plan.image.strategy == "build" and plan.build_names:
        plan.warnings.extend(plan.build_names.warnings)
    if cfg.jetson_bundle and (problem := bundle_problem(cfg, plan.image.strategy, plan.image.ref, str(plan.release.l4t))):
        return _refuse(plan, problem)

    if plan.image.ref not in images:
        need = cfg.jetson_build_min_free_gb if plan.image.strategy == "build" else cfg.jetson_pull_min_free_gb
        free_mb = host.get_fact(DiskFree, path=DOCKER_ROOT)
        if free_mb < need * GB:
            return _refuse(plan, f"{free_mb / GB:.1f} GB free on {DOCKER_ROOT}, "
                                 f"the {plan.image.strategy} of {plan.image.ref} needs {need} GB")

    plan.environment = ollama_environment(cfg, plan.release.jetpack)
    return plan


def _tuning_problem(host, cfg: Settings) -> str | None:
    """Why the opt-in board tuning (stages/tuning.py) cannot be done as asked, found before anything changes."""
    try:
        if cfg.jetson_power_mode:
            mode_named(host.get_fact(PowerModes)["modes"], cfg.jetson_power_mode)
        if cfg.jetson_swapfile_size:
            check_swapfile(cfg.jetson_swapfile_path, host.get_fact(SwapFile, path=cfg.jetson_swapfile_path))
        if cfg.jetson_docker_data_root:
            check_data_root(cfg.jetson_docker_data_root, host.get_fact(DockerDaemonJson))
    except OperationError as exc:
        return str(exc)
    return None


def board_desktop(host, cfg: Settings) -> bool:
    """The OS takes about 800 MB more with the desktop JetPack boots (docs/facts.md section 3). A board the
    deploy makes headless (jetson_headless) counts as headless at once, before its reboot."""
    if cfg.jetson_headless:
        return False
    if cfg.ollama_desktop is not None:
        return cfg.ollama_desktop
    return host.get_fact(DefaultTarget) == "graphical.target"


def model_set(cfg: Settings, mem_total_mb: int, desktop: bool) -> list[str]:
    """The board's models: the list asked for, or for "auto" the largest green one of the preference list."""
    if cfg.ollama_models == "auto":
        return auto_models(cfg.ollama_models_auto, mem_total_mb, desktop, cfg.ollama_context_length,
                           cfg.ollama_num_parallel)
    return list(cfg.ollama_models)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-")[0].split(".") if part.isdigit())


def _build_names(host, cfg: Settings, release: ReleaseInfo) -> BuildNames:
    """What `jetson-containers build` makes on this board at the pinned commit. Once the checkout is at
    that commit, its own code says (the CheckoutNaming fact); before, the naming rule of the commit's
    time (naming.py), fed with the board's own L4T, CUDA toolkit, Ubuntu, GPU name and kernel."""
    commit = cfg.jetson_containers_commit
    checkout = host.get_fact(JetsonContainersCheckout, path=cfg.jetson_containers_path)
    at_pin = checkout.get("commit") == commit
    committed = None
    if at_pin:
        own = host.get_fact(CheckoutNaming, path=cfg.jetson_containers_path)
        if own and not own.get("error") and own.get("images"):
            return BuildNames(images=dict(own["images"]), versions=tuple(own.get("versions") or ()),
                              default=own.get("default"), source=f"jetson-containers {commit[:8]}",
                              warnings=tuple(own.get("warnings") or ()))
        if own.get("error"):
            logger.warning(f"{host.name}: the jetson-containers checkout could not name its images itself "
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
    smi = host.get_fact(NvidiaSmi)
    cuda = host.get_fact(CudaToolkit)
    board = BoardInputs(l4t=release.l4t, ubuntu=host.get_fact(UbuntuRelease) or release.ubuntu,
                        cuda_json=cuda.get("json"), cudart=cuda.get("cudart"),
                        gpu_name=(smi.get("gpu_name") or "") if smi.get("present") else None,
                        kernel=host.get_fact(KernelVersion) or "")
    computed = naming(rule_at(text, commit), board)
    versions = known.ollama_versions if known else ()
    packages = ["ollama", *(f"ollama:{version}" for version in versions)]
    if cfg.ollama_version and f"ollama:{cfg.ollama_version}" not in packages:
        packages.append(f"ollama:{cfg.ollama_version}")
    return BuildNames(images={package: computed.image(package) for package in packages}, versions=versions,
                      default=known.ollama_default if known else None, source=f"jetson-containers {commit[:8]}",
                      warnings=computed.warnings)


def _image_plan(host, cfg: Settings, release: ReleaseInfo, names: BuildNames | None, images: list[str],
                min_ollama: str | None = None) -> ImagePlan:
    strategy = cfg.jetson_image_strategy
    if strategy == "reuse":
        ref = cfg.jetson_image or reusable_image(images, release.l4t)
        if not ref:
            raise NoImage(f"no local ollama image fits L4T {release.l4t} (jetson_image_strategy: reuse)")
        if not compatible_with(l4t_from_tag(ref.split(":", 1)[-1]), release.l4t, chosen=not cfg.jetson_image):
            raise NoImage(f"image {ref} was not built for L4T {release.l4t} (JetPack {release.jetpack})")
        return ImagePlan("reuse", ref, None, None)
    pinned = _pinned_versions(host, cfg, images)
    if strategy == "build" and names is not None and not names.problem and cfg.ollama_version and not names.versions:
        raise NoImage(f"ollama_version {cfg.ollama_version} cannot be checked against {names.source}, which this "
                      "library does not know: run deploys/jetson_containers.py first, so its checkout tells")
    # the models' minimum Ollama steers the choice: a newer prebuilt image, else (auto) a build
    return resolve_image(release, strategy, names, cfg.ollama_version, min_ollama=min_ollama, pinned=pinned)


def _pinned_versions(host, cfg: Settings, images: list[str]) -> dict[str, str]:
    """The Ollama version of each prebuilt image no table can say: pinned in models.lock when an earlier
    run read it from the image, else read now from a copy already on the board (and pinned)."""
    try:
        pinned = dict(lock.load_pins(cfg.ollama_lock_file).get("ollama", {}))
    except lock.LockError:
        pinned = {}
    for image in prebuilt_images():
        if image.ollama_version or image.ref in pinned or image.ref not in images:
            continue
        version = host.get_fact(ImageOllamaVersion, ref=image.ref)
        if version:
            pinned[image.ref] = version
            pins.record(cfg, "ollama", image.ref, version)
    return pinned


def _refuse(plan: BoardPlan, reason: str) -> BoardPlan:
    plan.refusal = reason
    return plan

