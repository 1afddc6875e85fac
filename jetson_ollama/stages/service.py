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


def api_url(ollama_host: str) -> str:
    address, port = ollama_host.rsplit(":", 1)
    return f"http://{'127.0.0.1' if address in ('0.0.0.0', '') else address}:{port}"


@deploy("Ollama service")
def ollama_service():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    cfg = plan.settings
    if cfg.jetson_runtime == "native":
        native_service(plan, api_url(cfg.ollama_host))
        return
    switched = native_stopped(plan)  # from the native runtime: its service had the port
    ollama.container(
        name=f"Ollama container from {plan.image.ref}", container=cfg.ollama_container_name,
        image=plan.image.ref, env=plan.environment, models_dir=cfg.ollama_models_dir,
        container_models_dir=cfg.ollama_container_models_dir, keep_previous=cfg.jetson_rollout_keep_previous,
    )
    ollama.api_ready(name="Ollama API answers", url=api_url(cfg.ollama_host), timeout=int(cfg.ollama_api_timeout))
    if switched:
        answers_after(switched, api_url(cfg.ollama_host), int(cfg.ollama_api_timeout))
