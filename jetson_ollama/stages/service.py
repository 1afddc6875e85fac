"""Stage 4: Ollama as a container that survives reboots, recreated only when its spec changes; or,
with `jetson_runtime: native`, as ollama.service from the official release (stages/native.py).
Switching runtimes stops the other one first: both listen on the same port (docs/facts.md section 5).

The container is recorded on the board (`board.container_recorded`), which `start-ollama` makes again;
with `ollama_preload`, a unit loads those models at every start (`preload.unit`), and now when this stage
(re)started Ollama."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, deploy
from pyinfra.operations import files, server

from ..native import SERVICE
from ..operations import board, ollama, preload
from ..plan import BoardPlan, plan_for
from ..resources import FILES
from .native import answers_after, native_service, native_stopped
from .preflight import stop_if_refused

PRELOAD_SCRIPT = FILES / "ollama-preload.py"


@deploy("Ollama service")
def ollama_service():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    cfg = plan.settings
    if plan.native:
        native_service(plan, plan.api_url)
        files.file(name="No container record (the native service runs)", path=board.CONTAINER_RECORD, present=False)
        preloaded(plan, [], after=SERVICE, wanted_by=SERVICE)  # each start of ollama.service starts the unit
        return
    switched = native_stopped(plan)  # from the native runtime: its service had the port
    made = ollama.container(
        name=f"Ollama container from {plan.image_ref}", container=cfg.ollama_container_name,
        image=plan.image_ref, env=plan.environment, models_dir=cfg.ollama_models_dir,
        container_models_dir=cfg.ollama_container_models_dir, keep_previous=cfg.jetson_rollout_keep_previous,
        api_url=plan.api_url, api_timeout=cfg.ollama_api_timeout,
    )
    # after the container: a swap that failed left the one before, which the record still names
    board.container_recorded(
        name="Record the container for start-ollama", container=cfg.ollama_container_name, image=plan.image_ref,
        env=plan.environment, models_dir=cfg.ollama_models_dir, container_models_dir=cfg.ollama_container_models_dir,
        api_url=plan.api_url, api_timeout=cfg.ollama_api_timeout,
    )
    ready = ollama.api_ready(name="Ollama API answers", url=plan.api_url, timeout=int(cfg.ollama_api_timeout))
    if switched:
        answers_after(switched, plan.api_url, int(cfg.ollama_api_timeout))
    preloaded(plan, [made, ready], after="docker.service", wanted_by="multi-user.target")


def preloaded(plan: BoardPlan, started: list, after: str, wanted_by: str) -> None:
    """ollama_preload: the unit that loads the plan's preloaded models at every start (boot, start-ollama) is
    installed, or removed when there are none; and it runs now when Ollama was (re)started by the operations
    `started` or the unit changed. A preloaded model the board lacks yet is loaded by the board scripts
    stage, after the models stage fetched it (stages/board_scripts.py)."""
    cfg = plan.settings
    if plan.preload:
        script = files.put(name="Preload script", src=str(PRELOAD_SCRIPT), dest=preload.SCRIPT_PATH, mode="755")
    else:
        script = files.file(name="No preload script", path=preload.SCRIPT_PATH, present=False)
    unit = preload.unit(name="Preloaded models at every start" if plan.preload else "No preloaded models",
                        models=plan.preload, api_url=plan.api_url, keep_alive=cfg.ollama_keep_alive, after=after,
                        wanted_by=wanted_by, wait=cfg.ollama_api_timeout)
    if plan.preload and all(v.present for v in plan.verdicts if v.tag in plan.preload):
        changes = [*started, script, unit]
        server.shell(name=f"Load the preloaded models ({', '.join(plan.preload)})",
                     commands=[StringCommand("systemctl start", QuoteString(preload.UNIT))],  # type: ignore[list-item]
                     _if=lambda: any(change.did_change() for change in changes))
