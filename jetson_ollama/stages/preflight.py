"""Stage 1: verify the board (aarch64, L4T/JetPack/CUDA, docker + NVIDIA runtime, disk, port)."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import systemd

from ..operations.board import nvidia_runtime, refused
from ..plan import BoardPlan, plan_for


def stop_if_refused(plan: BoardPlan) -> bool:
    """Add the failing operation once per board; True when the board stages must not run: the board
    is refused, or the host is the fleet's cache host (stages/cache.py is its stage)."""
    if plan.refusal and not plan.refused_once:
        plan.refused_once = True
        # said while the run is prepared, so `--dry` shows it too; the operation then fails the board
        logger.warning(f"{host.name}: refused before any change: {plan.refusal}")
        refused(name="Check the board", reason=plan.refusal)
    return bool(plan.refusal) or plan.cache_role


@deploy("Verify the board")
def preflight():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    logger.info(f"{host.name}: {plan.describe()}")
    if plan.configure_runtime:
        runtime = nvidia_runtime(name="Register the NVIDIA runtime with docker")
        systemd.service(name="Restart docker for the NVIDIA runtime", service="docker", restarted=True,
                        _if=runtime.did_change)
