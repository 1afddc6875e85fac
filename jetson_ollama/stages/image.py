"""Stage 3: the Ollama image with the tag this board's L4T, CUDA and jetson-containers call for
(the container runtime only: `jetson_runtime: native` runs the official release instead).

The plan chose the image (plan.py) and its source (sources.py): pulled or built on the board, from
the fleet's LAN registry (`jetson_cache_host`: the first board of the run that needs a variant the
registry lacks builds or pulls it and pushes it there; the others pull it by digest), or loaded from
an offline bundle (`jetson_bundle`, checked by sha256).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from ..plan import plan_for
from .preflight import stop_if_refused


@deploy("Ollama image")
def ollama_image():
    plan = plan_for(host)
    if stop_if_refused(plan) or plan.image is None:  # native: no image
        return
    plan.source.image_operations(plan)
