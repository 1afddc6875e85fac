"""Stage 3: the Ollama image with the tag this board's L4T, CUDA and jetson-containers call for."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from ..operations import ollama
from ..plan import plan_for
from .preflight import stop_if_refused


@deploy("Ollama image")
def ollama_image():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    image = plan.image
    if image.strategy == "prebuilt":
        ollama.image_pulled(name=f"Pull {image.ref}", ref=image.ref)
    elif image.strategy == "build":  # never `autotag`: it prompts on stdin (facts section 4)
        ollama.image_built(name=f"Build {image.ref}", package=image.build_package, expected_ref=image.ref,
                           path=plan.settings.jetson_containers_path)
    else:
        pass  # reuse: the image is on the board already (checked by the plan)
