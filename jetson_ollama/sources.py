"""Where a board's image, models and native release come from: one object per board, chosen by its plan.

- `Upstream`: Docker Hub or a build for the image, the Ollama registry for models, GitHub for the native
  release, each read from the board itself.
- `FleetCache` (`jetson_cache_host`): the fleet's LAN registry and model store (cache.py); the first
  board of a variant builds or pulls the image and pushes it, the others pull it by digest.
- `Bundle` (`jetson_bundle`): an offline bundle on the controller (bundle.py), checked by sha256.

Each answers the same small interface: `describe()`; at plan time `manifest(board, tag)` (the registry
manifest of a model the board lacks) and `problem(plan)` (why this source cannot serve the plan);
in the stages `image_operations(plan)`, `model_operation(plan, verdict)` and `native_files(...)`.
The plan (plan.py) holds one of them; the stages call it and never ask which it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, cast

from pyinfra import host, logger
from pyinfra.operations import python

from . import pins
from .cache import Cache, cache_host, claim_builder
from .facts.cache import RegistryTag
from .facts.containers import image_version_command, parse_image_version
from .facts.models import RegistryManifest

if TYPE_CHECKING:
    from .bundle import Bundle as BundleFile
    from .native import NativeRelease
    from .plan import BoardPlan, ModelVerdict


@dataclass(frozen=True)
class Upstream:
    """The internet, as each board reaches it."""

    registry: str  # ollama_registry
    kind = "upstream"
    needs_checkout = True  # a build runs in the board's jetson-containers checkout
    copies_files = False   # models come through the board's own Ollama, which writes its store

    def describe(self) -> str:
        return self.registry

    def manifest(self, board: Any, tag: str) -> dict:
        return board.get_fact(RegistryManifest, model=tag, registry=self.registry)

    def problem(self, plan: BoardPlan) -> str | None:  # noqa: ARG002 - the interface's argument
        return None

    def image_operations(self, plan: BoardPlan) -> None:
        _image_here(plan)

    def model_operation(self, plan: BoardPlan, verdict: ModelVerdict):
        return _through_the_api(plan, verdict)

    def native_files(self, release: NativeRelease, archives: dict[str, str]) -> dict | None:  # noqa: ARG002
        return None  # each archive is downloaded by the board from the release's URL


@dataclass(frozen=True)
class FleetCache(Upstream):
    """The fleet's cache host: upstream manifests are read there, images and models copied from it."""

    cache: Cache
    kind = "cache"
    copies_files = True  # root copies blobs and manifests into the store

    def describe(self) -> str:
        return f"the fleet's cache {self.cache.host_name}"

    def manifest(self, board: Any, tag: str) -> dict:
        return cache_host(board, self.cache).get_fact(RegistryManifest, model=tag, registry=self.registry)

    def image_operations(self, plan: BoardPlan) -> None:
        from .operations import cache as cache_ops
        from .operations.board import fleet_barrier

        ref = plan.image_ref
        lan_ref = self.cache.lan_ref(ref)
        in_registry = bool(host.get_fact(RegistryTag, lan_ref=lan_ref))
        builds_here = not in_registry and claim_builder(host, ref)
        if builds_here:
            _image_here(plan)
            cache_ops.image_pushed(name=f"Share {ref} with the fleet", ref=ref, lan_ref=lan_ref)
        else:
            _pin_digest(plan, host.get_fact(RegistryTag, lan_ref=lan_ref) if in_registry else None)
        # the same line for every board: the pulls below wait for every builder's push
        fleet_barrier(name="Images in the fleet's registry", reason="each variant's builder has pushed its image")
        if not builds_here:
            cache_ops.image_from_registry(name=f"{ref} from the fleet's registry", ref=ref, lan_ref=lan_ref)

    def model_operation(self, plan: BoardPlan, verdict: ModelVerdict):
        from .operations import models as model_ops

        if verdict.entry is None:  # on the board already: the API checks it
            return _through_the_api(plan, verdict)
        return model_ops.fetched(name=f"Model {verdict.tag} from the fleet's cache", model=verdict.tag,
                                 models_dir=plan.settings.ollama_models_dir, manifest=verdict.entry.manifest,
                                 store=self.cache.models_url, damaged=list(verdict.damaged))


@dataclass(frozen=True)
class Bundle:
    """An offline bundle on the controller: no board needs the internet."""

    path: str  # jetson_bundle
    kind = "bundle"
    needs_checkout = False  # a bundled prebuilt image (or reuse) needs no checkout, nor could it clone
    copies_files = True

    @cached_property
    def _bundle(self) -> BundleFile:
        from .bundle import open_bundle

        return open_bundle(self.path)

    def describe(self) -> str:
        return f"the bundle {self.path}"

    def manifest(self, board: Any, tag: str) -> dict:  # noqa: ARG002 - the interface's argument
        return self._bundle.registry_manifest(tag)

    def problem(self, plan: BoardPlan) -> str | None:
        from .bundle import board_problem

        l4t = str(plan.release.l4t) if plan.release else ""
        if plan.image is None:  # native: the plan checked the bundle's archives already
            return board_problem(plan.settings, "reuse", None, l4t)
        return board_problem(plan.settings, plan.image.strategy, plan.image.ref, l4t)

    def image_operations(self, plan: BoardPlan) -> None:
        from .operations import bundle as bundle_ops

        ref = plan.image_ref
        _pin_digest(plan, None)
        if plan.image is None or plan.image.strategy == "reuse":
            return  # on the board already (checked by the plan)
        bundle = self._bundle
        archive = bundle.images[ref]["archive"]
        src = cast(IO[Any], bundle.open(archive))  # a binary file object, as files.put takes
        bundle_ops.image_loaded(name=f"Load {ref} from the bundle", ref=ref, src=src,
                                sha256="sha256:" + bundle.sha256(archive), image_id=bundle.images[ref]["image_id"])

    def model_operation(self, plan: BoardPlan, verdict: ModelVerdict):
        from .operations import bundle as bundle_ops

        if verdict.entry is None:
            return _through_the_api(plan, verdict)
        return bundle_ops.model_copied(name=f"Model {verdict.tag} from the bundle", model=verdict.tag,
                                       models_dir=plan.settings.ollama_models_dir, manifest=verdict.entry.manifest,
                                       store_files=cast(dict[str, IO[Any]], self._bundle.model_files(verdict.tag)),
                                       damaged=list(verdict.damaged))

    def native_files(self, release: NativeRelease, archives: dict[str, str]) -> dict | None:
        """{archive: file} from the bundle; raises bundle.BundleError (one line) when one is missing."""
        return {archive: self._bundle.native_file(release.version, archive)[0] for archive in archives}


Source = Upstream | FleetCache | Bundle


def source_for(cfg: Any, cache: Cache | None) -> Source:
    if cfg.jetson_bundle:
        return Bundle(cfg.jetson_bundle)
    if cache is not None:
        return FleetCache(cfg.ollama_registry, cache)
    return Upstream(cfg.ollama_registry)


# ---------------------------------------------------------------- on this board itself

def _through_the_api(plan: BoardPlan, verdict: ModelVerdict):
    """The model pulled by the board's own Ollama from the registry (or found there already)."""
    from .operations import models as model_ops

    entry = verdict.entry
    return model_ops.present(name=f"Model {verdict.tag}", model=verdict.tag, url=plan.api_url,
                             models_dir=plan.settings.ollama_models_dir,
                             expect_blobs=sorted(entry.blob_digests) if entry else None,
                             damaged=list(verdict.damaged))


def _pin_digest(plan: BoardPlan, fallback: str | None) -> None:
    ref = plan.image_ref
    local: dict[str, Any] = next((dict(found) for found in plan.local_images if found["ref"] == ref), {})
    pins.record(plan.settings, "images", ref, local.get("digest") or fallback)


def _image_here(plan: BoardPlan) -> None:
    """Pull or build the planned image on this board (reuse: it is here already, as the plan checked)."""
    from .operations import ollama

    image, ref, cfg = plan.image, plan.image_ref, plan.settings
    _pin_digest(plan, None)
    if image is None:
        return
    if image.strategy == "prebuilt":
        pulled = ollama.image_pulled(name=f"Pull {ref}", ref=ref)
        if image.ollama_version is None:  # nothing says what it carries: ask the image, pin the answer
            python.call(name=f"Read the Ollama version of {ref}", function=_pin_image_version,
                        cfg=cfg, ref=ref, _if=pulled.did_change)
    elif image.strategy == "build":  # never `autotag`: it prompts on stdin (docs/facts.md section 4)
        ollama.image_built(name=f"Build {ref}", package=image.build_package or "ollama", expected_ref=ref,
                           path=cfg.jetson_containers_path)


def _pin_image_version(cfg: Any, ref: str) -> None:
    """After the pull: the version the image's own client reports, pinned in models.lock (`pins: ollama:`),
    which later plans read (a prebuilt image's version is known only once it is on a board)."""
    sudo = {key: host.data.get(key) for key in ("_sudo", "_sudo_user", "_sudo_password") if host.data.get(key)}
    ok, output = host.run_shell_command(image_version_command(ref), **sudo)
    version = parse_image_version(output.stdout_lines) if ok else None
    if version:
        pins.record(cfg, "ollama", ref, version)
    else:
        logger.warning(f"{host.name}: {ref} did not say its Ollama version (ollama --version)")
