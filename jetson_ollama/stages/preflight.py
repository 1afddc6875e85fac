"""Stage 1: verify the board (aarch64, L4T/JetPack/CUDA, docker + NVIDIA runtime, disk, port), and say
what the run will change on it and why (explain.py), so that `--dry` says it too."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.facts.files import FileContents
from pyinfra.operations import systemd

from ..explain import Current, narrate, refusal_line
from ..facts.native import NativeInstall
from ..native import DROPIN_PATH, PREFIX
from ..operations.board import nvidia_runtime, refused
from ..plan import BoardPlan, plan_for


def stop_if_refused(plan: BoardPlan) -> bool:
    """Add the failing operation once per board; True when the board stages must not run: the board
    is refused, or the host is the fleet's cache host (stages/cache.py is its stage)."""
    if plan.refusal and not plan.refused_once:
        plan.refused_once = True
        # said while the run is prepared, so `--dry` shows it too; the operation then fails the board
        logger.warning(f"{host.name}: {refusal_line(plan)}")
        refused(name="Check the board", reason=plan.refusal)
    return bool(plan.refusal) or plan.cache_role


def current_state(plan: BoardPlan) -> Current:
    """What the narration compares the plan with: the container as the plan found it, and for the native
    runtime the drop-in and the release unpacked (which the plan does not read)."""
    container = plan.container
    if plan.native is None:
        return Current(container=container)
    return Current(container=container, dropin=host.get_fact(FileContents, path=DROPIN_PATH),
                   native_version=host.get_fact(NativeInstall, prefix=PREFIX).get("version", ""))


@deploy("Verify the board")
def preflight():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    logger.info(f"{host.name}: {plan.describe()}")
    for line in narrate(plan, current_state(plan)).lines:
        logger.info(f"{host.name}: {line}")
    if plan.configure_runtime:
        runtime = nvidia_runtime(name="Register the NVIDIA runtime with docker")
        systemd.service(name="Restart docker for the NVIDIA runtime", service="docker", restarted=True,
                        _if=runtime.did_change)
