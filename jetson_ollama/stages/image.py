"""Stage 3: the Ollama image with the tag this board's L4T, CUDA and jetson-containers call for
(the container runtime only: `jetson_runtime: native` runs the official release instead).

With a fleet cache (`jetson_cache_host`), boards are grouped by that tag (the image variant): the
first board of the run that needs a variant the LAN registry lacks builds or pulls it and pushes it
there; the others pull it from the registry by digest. The pulls come after the push in the code, and
pyinfra runs each operation on every host before the next, so they wait for it.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import python

from .. import pins
from ..bundle import open_bundle
from ..cache import claim_builder
from ..facts.containers import DockerImages, image_version_command, parse_image_version
from ..facts.cache import RegistryTag
from ..operations import cache as cache_ops
from ..operations import bundle as bundle_ops
from ..operations import ollama
from ..operations.board import fleet_barrier
from ..plan import plan_for
from .preflight import stop_if_refused


@deploy("Ollama image")
def ollama_image():
    plan = plan_for(host)
    if stop_if_refused(plan) or plan.native:
        return
    image, cache = plan.image, plan.cache
    lan_ref = cache.lan_ref(image.ref) if cache else None
    in_registry = bool(lan_ref and host.get_fact(RegistryTag, lan_ref=lan_ref))
    builds_here = not lan_ref or (not in_registry and claim_builder(host, image.ref))
    local = next((found for found in host.get_fact(DockerImages) if found["ref"] == image.ref), None)
    pins.record(plan.settings, "images", image.ref, (local or {}).get("digest") or
                (host.get_fact(RegistryTag, lan_ref=lan_ref) if in_registry else None))

    if plan.settings.jetson_bundle:  # offline: the bundle's archive, checked by sha256 (the plan refused the rest)
        if image.strategy != "reuse":
            bundle = open_bundle(plan.settings.jetson_bundle)
            archive = bundle.images[image.ref]["archive"]
            bundle_ops.image_loaded(name=f"Load {image.ref} from the bundle", ref=image.ref, src=bundle.open(archive),
                                    sha256="sha256:" + bundle.sha256(archive),
                                    image_id=bundle.images[image.ref]["image_id"])
        return
    if builds_here:
        if image.strategy == "prebuilt":
            pulled = ollama.image_pulled(name=f"Pull {image.ref}", ref=image.ref)
            if image.ollama_version is None:  # nothing says what it carries: ask the image, pin the answer
                python.call(name=f"Read the Ollama version of {image.ref}", function=_pin_image_version,
                            cfg=plan.settings, ref=image.ref, _if=pulled.did_change)
        elif image.strategy == "build":  # never `autotag`: it prompts on stdin (docs/facts.md section 4)
            ollama.image_built(name=f"Build {image.ref}", package=image.build_package, expected_ref=image.ref,
                               path=plan.settings.jetson_containers_path)
        else:
            pass  # reuse: the image is on the board already (checked by the plan)
        if lan_ref:
            cache_ops.image_pushed(name=f"Share {image.ref} with the fleet", ref=image.ref, lan_ref=lan_ref)
    if lan_ref:  # the same line for every board: the pulls below wait for every builder's push
        fleet_barrier(name="Images in the fleet's registry", reason="each variant's builder has pushed its image")
    if lan_ref and not builds_here:
        cache_ops.image_from_registry(name=f"{image.ref} from the fleet's registry", ref=image.ref, lan_ref=lan_ref)


def _pin_image_version(cfg, ref: str) -> None:
    """After the pull: the version the image's own client reports, pinned in models.lock (`pins: ollama:`),
    which later plans read (a prebuilt image's version is known only once it is on a board)."""
    sudo = {key: host.data.get(key) for key in ("_sudo", "_sudo_user", "_sudo_password") if host.data.get(key)}
    ok, output = host.run_shell_command(image_version_command(ref), **sudo)
    version = parse_image_version(output.stdout_lines) if ok else None
    if version:
        pins.record(cfg, "ollama", ref, version)
    else:
        logger.warning(f"{host.name}: {ref} did not say its Ollama version (ollama --version)")
