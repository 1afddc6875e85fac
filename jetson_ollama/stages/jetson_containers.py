"""Stage 2: jetson-containers at the pinned commit, installed non-interactively (the container
runtime only: `jetson_runtime: native` needs no image)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from .. import pins
from ..operations import jetson_containers
from ..plan import plan_for
from .preflight import stop_if_refused


@deploy("Install jetson-containers")
def install_jetson_containers():
    plan = plan_for(host)
    if stop_if_refused(plan) or plan.image is None or not plan.source.needs_checkout:  # native, or offline
        return
    cfg = plan.settings
    pins.record(cfg, "jetson-containers", cfg.jetson_containers_repo, cfg.jetson_containers_commit, overwrite=True)
    jetson_containers.installed(
        name=f"jetson-containers at {cfg.jetson_containers_commit[:12]}",
        repo=cfg.jetson_containers_repo, commit=cfg.jetson_containers_commit, path=cfg.jetson_containers_path,
    )
