"""Stage 4: Ollama as a container that survives reboots, recreated only when its spec changes; or,
with `jetson_runtime: native`, as ollama.service from the official release (stages/native.py).
Switching runtimes stops the other one first: both listen on the same port (docs/facts.md section 5)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from ..operations import ollama
from ..plan import plan_for
from .native import answers_after, native_service, native_stopped
from .preflight import stop_if_refused


@deploy("Ollama service")
def ollama_service():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    cfg = plan.settings
    if plan.native:
        native_service(plan, plan.api_url)
        return
    switched = native_stopped(plan)  # from the native runtime: its service had the port
    ollama.container(
        name=f"Ollama container from {plan.image_ref}", container=cfg.ollama_container_name,
        image=plan.image_ref, env=plan.environment, models_dir=cfg.ollama_models_dir,
        container_models_dir=cfg.ollama_container_models_dir, keep_previous=cfg.jetson_rollout_keep_previous,
        api_url=plan.api_url, api_timeout=cfg.ollama_api_timeout,
    )
    ollama.api_ready(name="Ollama API answers", url=plan.api_url, timeout=int(cfg.ollama_api_timeout))
    if switched:
        answers_after(switched, plan.api_url, int(cfg.ollama_api_timeout))
