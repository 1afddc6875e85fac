"""The fleet cache: on the cache host (`jetson_cache_host`) a LAN image registry and a model store that
downloads each model of the run's boards once from upstream; on every board, docker trusting that
registry. Without `jetson_cache_host` this stage does nothing.

The registry is the CNCF distribution registry as Debian and Ubuntu package it (`docker-registry`),
plain HTTP for the LAN; the models are served read-only by python3's http.server over an Ollama store,
as a plain registry cannot serve Ollama's blobs (docs/facts.md section 5).
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from .. import lock
from ..cache import boards_of_run, cache_of
from ..facts.models import OllamaBlobs, OllamaManifests, RegistryManifest
from ..operations import cache as cache_ops
from ..operations import models as model_ops
from ..operations.board import fleet_barrier
from ..plan import plan_for
from .preflight import stop_if_refused

REGISTRY_CONFIG = "/etc/docker/registry/config.yml"
MODELS_UNIT = "jetson-ollama-models"


def registry_config(port: int, storage: str) -> str:
    """docker-registry's config: the package's own, without its htpasswd auth (a LAN cache), no deletes."""
    return (
        "version: 0.1\n"
        "log:\n  fields:\n    service: registry\n"
        f"storage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: {storage}\n"
        "  delete:\n    enabled: false\n"
        f"http:\n  addr: :{port}\n  headers:\n    X-Content-Type-Options: [nosniff]\n"
        "health:\n  storagedriver:\n    enabled: true\n    interval: 10s\n    threshold: 3\n"
    )


def models_unit(port: int, models_dir: str) -> str:
    return (
        "[Unit]\n"
        "Description=jetson-ollama: read-only HTTP server over the fleet's Ollama model store\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        f"ExecStart=/usr/bin/python3 -m http.server {port} --directory {models_dir}\n"
        "User=nobody\n"
        "Restart=always\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


@deploy("Fleet cache")
def fleet_cache():
    plan = plan_for(host)
    if plan.cache_role:
        _cache_host(plan.settings)
    elif not stop_if_refused(plan) and plan.cache:
        trusted = cache_ops.insecure_registry(name=f"docker trusts the fleet's registry {plan.cache.registry}",
                                              registry=plan.cache.registry)
        # docker reads insecure-registries again on SIGHUP: running containers stay up
        systemd.service(name="Reload docker", service="docker", reloaded=True, _if=trusted.did_change)
    if plan.cache_role or plan.cache:  # the same line for every host: the boards copy after the fetches
        fleet_barrier(name="The fleet's cache is ready", reason="the cache host holds the run's models")


def _cache_host(cfg) -> None:
    apt.packages(name="Registry and python3", packages=["docker-registry", "python3", "curl"], update=True,
                 cache_time=24 * 3600)
    storage = files.directory(name=f"Registry storage {cfg.jetson_cache_registry_dir}",
                              path=cfg.jetson_cache_registry_dir, user="docker-registry", group="docker-registry",
                              mode="750")
    config = files.put(name="Registry config", src=StringIO(registry_config(cfg.jetson_cache_registry_port,
                                                                            cfg.jetson_cache_registry_dir)),
                       dest=REGISTRY_CONFIG, mode="644")
    systemd.service(name="Registry running", service="docker-registry", running=True, enabled=True)
    systemd.service(name="Restart the registry for its config", service="docker-registry", restarted=True,
                    _if=any_changed(config, storage))

    models_dir = cfg.jetson_cache_models_dir
    files.directory(name=f"Model store {models_dir}", path=models_dir, mode="755")
    _unit_service(MODELS_UNIT, models_unit(cfg.jetson_cache_models_port, models_dir), [])

    cache = cache_of(host, cfg)
    if cache is None:  # (this host is jetson_cache_host, so there is one)
        return
    wanted: list[str] = []
    for board in boards_of_run(host.state, cache):
        board_plan = plan_for(board)
        if not board_plan.refusal and not board_plan.cache_role:
            wanted += [tag for tag in board_plan.models if tag not in wanted]
    locked = lock.load(cfg.ollama_lock_file)
    stored = host.get_fact(OllamaManifests, models_dir=models_dir)
    # the cache's own store is checked as a board's is (docs/facts.md section 5): a damaged blob there
    # would be copied to every board, so it is fetched again first
    damaged = host.get_fact(OllamaBlobs, models_dir=models_dir,
                            full=cfg.ollama_verify_models == "full").get("damaged", {})
    for tag in wanted:
        held = stored.get(tag)
        digest = _manifest_to_cache(cfg, tag, locked, held["manifest_sha256"] if held else None)
        ours = set(held["blobs"] if held else []) | set(locked[tag].blob_digests if tag in locked else [])
        broken = sorted(ours & set(damaged))
        if broken:
            logger.warning(f"{host.name}: {tag}: " + "; ".join(f"blob {d[:19]} {damaged[d]}" for d in broken)
                           + ": fetched again")
        if digest:
            model_ops.fetched(name=f"Cache {tag}", model=tag, models_dir=models_dir, manifest=digest,
                              registry=cfg.ollama_registry, damaged=broken)


def _manifest_to_cache(cfg, tag: str, locked: dict, cached: str | None) -> str | None:
    """The manifest digest the cache must hold for `tag`; None to leave it out (each board then stops
    with the reason). Upstream is asked only when the lock does not pin what the cache holds."""
    if tag in locked and locked[tag].manifest == f"sha256:{cached}" and not cfg.ollama_update_lock:
        return locked[tag].manifest
    manifest = host.get_fact(RegistryManifest, model=tag, registry=cfg.ollama_registry)
    if manifest.get("error") or not manifest.get("manifest"):
        if tag not in locked:
            logger.warning(f"{host.name}: cannot read the manifest of {tag} from {cfg.ollama_registry}: "
                           f"{manifest.get('error')}")
            return None
        return locked[tag].manifest  # offline: the locked copy, if the cache has it already
    entry = lock.entry_from_parsed(manifest["sha256"], manifest["manifest"])
    retagged = lock.check(locked, tag, entry)
    if retagged and not cfg.ollama_update_lock:
        return None
    if retagged or tag not in locked:  # the fleet's first download pins it
        (lock.update if retagged else lock.record)(cfg.ollama_lock_file, tag, entry)
    return entry.manifest


def _unit_service(name: str, unit_text: str, inputs: list) -> None:
    """A systemd unit of ours, running and enabled, restarted when it or one of its inputs changed."""
    unit = files.put(name=f"Unit {name}", src=StringIO(unit_text), dest=f"/etc/systemd/system/{name}.service",
                     mode="644")
    systemd.daemon_reload(name=f"Reload systemd for {name}", _if=unit.did_change)
    systemd.service(name=f"{name} running", service=name, running=True, enabled=True)
    systemd.service(name=f"Restart {name}", service=name, restarted=True, _if=any_changed(unit, *inputs))
