"""Stage 5: the model set, pulled only where it fits the board's memory, pinned by models.lock.

Per model, before any download: the catalog's figures (or the registry manifest's sizes), the memory
fit against this board's RAM (docs/facts.md section 6: the log hit 96 % with qwen3:8b on 8 GB), the Ollama
version the model needs, and the lock. Models that pass are pulled first; a model refused by the
memory policy then stops the board with one line naming board, model, estimate, RAM and tier.

With a fleet cache (`jetson_cache_host`) the cache host reads the manifests from upstream and
downloads each model once (stages/cache.py); the board copies it from the cache's store, blob by
blob, checked against the locked digests.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import QuoteString, StringCommand, deploy
from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from .. import catalog, lock, native, pins
from ..bundle import open_bundle
from ..facts.jetson import Memory
from ..facts.containers import OllamaContainer
from ..facts.models import OllamaManifests, OllamaModels, RegistryManifest
from ..facts.ollama import OllamaVersion
from ..operations import bundle as bundle_ops
from ..operations import models as model_ops
from ..operations.board import refused
from ..cache import cache_host
from ..plan import board_desktop, plan_for
from .preflight import stop_if_refused
from .service import api_url

UNKNOWN_KV_BYTES_PER_TOKEN = 160 * 1024  # the largest figure of the catalog (docs/facts.md section 6), for allowed unknowns


def _info(tag: str, manifest: dict, allow_unknown: bool) -> tuple[catalog.ModelInfo | None, str | None]:
    """The model's figures, or why they are not known."""
    known = catalog.model_info(tag)
    if known:
        return known, None
    if manifest.get("error") or not manifest.get("manifest"):
        return None, f"{tag} is not in the catalog and its registry manifest could not be read ({manifest.get('error')})"
    if not allow_unknown:
        return None, (f"{tag} is not in the catalog: its KV cache size is unknown, so its memory fit cannot be "
                      "estimated (set ollama_allow_unknown_models: true to estimate it from the manifest)")
    size = sum(layer["size"] for layer in manifest["manifest"].get("layers", []))
    return catalog.ModelInfo.unknown(tag, size, UNKNOWN_KV_BYTES_PER_TOKEN), None


@deploy("Ollama models")
def ollama_models():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    cfg = plan.settings
    url = api_url(cfg.ollama_host)
    memory = host.get_fact(Memory)
    desktop = board_desktop(host, cfg)
    wanted = plan.models
    on_board = host.get_fact(OllamaModels, url=url)
    stored = host.get_fact(OllamaManifests, models_dir=cfg.ollama_models_dir)
    # the version of the image this run leaves running: the planned image's own figure, or the live
    # API's when the container already runs that image (a build's version is known only then)
    if plan.native:  # jetson_runtime: native runs the pinned release
        version = plan.native.version
        runs, way_out = f"the native Ollama is {version}", "raise ollama_native_version"
    else:
        running = host.get_fact(OllamaContainer, container=cfg.ollama_container_name)
        live = running.get("running") and running.get("image") == plan.image.ref
        version = plan.image.ollama_version or (host.get_fact(OllamaVersion, url=url) if live else None)
        pins.record(cfg, "ollama", plan.image.ref, version)
        runs = f"this board's image {plan.image.ref} has {version}"
        way_out = "use jetson_image_strategy: build, or another image or ollama_version"
    locked = lock.load(cfg.ollama_lock_file)
    bundle = open_bundle(cfg.jetson_bundle) if cfg.jetson_bundle else None  # offline: manifests and blobs from it
    source = f"the bundle {cfg.jetson_bundle}" if bundle else cfg.ollama_registry
    reader = cache_host(host, plan.cache) if plan.cache else host  # who reads upstream manifests

    problems, pulls, lock_writes = [], [], []
    for tag in wanted:
        present = tag in on_board
        if present:
            manifest = {}
        elif bundle:  # the registry's manifest as the bundle carries it
            manifest = bundle.registry_manifest(tag)
        else:
            manifest = reader.get_fact(RegistryManifest, model=tag, registry=cfg.ollama_registry)
        info, unknown = _info(tag, manifest, cfg.ollama_allow_unknown_models)
        if unknown:
            problems.append(unknown)
            continue
        if version and not catalog.version_at_least(version, info.min_ollama):
            problems.append(f"{tag} needs Ollama {info.min_ollama} or newer, {runs} ({way_out})")
            continue
        estimate = catalog.estimate(info, memory["mem_total_mb"], desktop, cfg.ollama_context_length,
                                   cfg.ollama_num_parallel)
        ok, warning = catalog.fits(estimate, cfg.ollama_memory_policy)
        if not ok:
            problems.append(catalog.refusal_message(None, tag, estimate))  # the refusal names the board
            continue
        if warning:
            logger.warning(f"{host.name}: {tag} {warning} (ollama_memory_policy: warn)")
        if present:  # the board's copy must be the locked one
            if tag in locked and tag in stored:
                mismatch = lock.check_blobs(locked, tag, set(stored[tag]["blobs"]))
                if mismatch and not cfg.ollama_update_lock:
                    problems.append(mismatch)
                    continue
            pulls.append((tag, None))
            continue
        if manifest.get("error"):
            problems.append(f"cannot read the manifest of {tag} from {source}: {manifest['error']}")
            continue
        entry = lock.entry_from_parsed(manifest["sha256"], manifest["manifest"])
        mismatch = lock.check(locked, tag, entry)
        if mismatch and not cfg.ollama_update_lock:
            problems.append(mismatch)
            continue
        if mismatch or tag not in locked:
            lock_writes.append((tag, entry, bool(mismatch)))
        pulls.append((tag, entry))

    if problems:  # before any download: nothing on the board changes
        refused(name="Check the model set", reason="; ".join(problems))
        return
    for tag, entry, retagged in lock_writes:  # first pull of a tag (or an accepted retag): pin it
        (lock.update if retagged else lock.record)(cfg.ollama_lock_file, tag, entry)
    copies = []
    for tag, entry in pulls:
        if bundle and entry:
            copies.append(bundle_ops.model_copied(name=f"Model {tag} from the bundle", model=tag,
                                                  models_dir=cfg.ollama_models_dir, manifest=entry.manifest,
                                                  store_files=bundle.model_files(tag)))
        elif plan.cache and entry:
            copies.append(model_ops.fetched(name=f"Model {tag} from the fleet's cache", model=tag,
                                            models_dir=cfg.ollama_models_dir, manifest=entry.manifest,
                                            store=plan.cache.models_url))
        else:
            model_ops.present(name=f"Model {tag}", model=tag, url=url, models_dir=cfg.ollama_models_dir,
                              expect_blobs=sorted(entry.blob_digests) if entry else None)
    if plan.native and copies:  # root wrote the copies; ollama.service writes the store as its user
        server.shell(name="The copied models belong to ollama", _if=any_changed(*copies),
                     commands=[StringCommand("chown -R", QuoteString(f"{native.USER}:{native.GROUP}"),
                                             QuoteString(cfg.ollama_models_dir))])
    if cfg.ollama_prune_models:
        model_ops.pruned(name="Remove models outside the set", keep=wanted, url=url)
