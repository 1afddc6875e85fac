"""Board tuning, opt-in per key (docs/facts.md section 3): the power mode by name, jetson_clocks at boot,
headless, nvargus-daemon off, zram off, a swapfile, docker's data root on NVMe.

Every key defaults to leaving the board as it is. Changes that apply only at the next boot (headless,
zram off, a power mode nvpmodel cannot switch to live) log `reboot needed: <why>`; with
`jetson_allow_reboot` the board reboots once, at the end of this stage, and only when one of them
changed. The memory fit counts a board with `jetson_headless` as headless from the first run
(plan.board_desktop), before that reboot.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from ..facts.tuning import CurrentPowerMode, PowerModes
from ..operations import tuning
from ..plan import plan_for
from .preflight import stop_if_refused

HEADLESS_TARGET = "multi-user.target"


@deploy("Board tuning")
def board_tuning():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    cfg = plan.settings
    at_next_boot = []  # (operation, why it waits for a reboot)

    if cfg.jetson_power_mode:
        mode = tuning.power_mode(name=f"Power mode {cfg.jetson_power_mode}", mode=cfg.jetson_power_mode)
        modes = host.get_fact(PowerModes)["modes"]
        if tuning.power_mode_needs_reboot(modes, host.get_fact(CurrentPowerMode), cfg.jetson_power_mode):
            at_next_boot.append((mode, f"power mode {cfg.jetson_power_mode} keeps other CPU cores online"))
    if cfg.jetson_clocks:
        tuning.clocks_at_boot(name="jetson_clocks at boot")
        if cfg.jetson_power_mode and mode.will_change:  # a new mode has new maximum clocks
            systemd.service(name="jetson_clocks for the new power mode", service=tuning.CLOCKS_UNIT,
                            restarted=True, _if=mode.did_change)
    if cfg.jetson_headless:
        target = tuning.default_target(name="Boot headless (multi-user.target)", target=HEADLESS_TARGET)
        at_next_boot.append((target, "the desktop stops at the next boot (headless frees about 800 MB)"))
    if cfg.jetson_disable_argus:  # the camera daemon: nothing needs it without a CSI camera
        systemd.service(name="nvargus-daemon off", service="nvargus-daemon.service", running=False, enabled=False)
    if cfg.jetson_disable_zram:
        zram = tuning.zram_swap(name="zram swap off", enabled=False)
        at_next_boot.append((zram, "the zram devices nvzramconfig made go at the next boot"))
    if cfg.jetson_swapfile_size:
        tuning.swapfile(name=f"Swapfile {cfg.jetson_swapfile_path} of {cfg.jetson_swapfile_size}",
                        path=cfg.jetson_swapfile_path, size=cfg.jetson_swapfile_size)
    if cfg.jetson_docker_data_root:
        moved = tuning.docker_data_root(name=f"Docker data root {cfg.jetson_docker_data_root}",
                                        path=cfg.jetson_docker_data_root)
        if moved.will_change:
            logger.warning(f"{host.name}: docker's data is copied to {cfg.jetson_docker_data_root}; "
                           "the old data root stays: remove it by hand")

    waiting = [(op, why) for op, why in at_next_boot if op.will_change]
    for _, why in waiting:
        logger.warning(f"{host.name}: reboot needed: {why}")
    if waiting and cfg.jetson_allow_reboot:
        server.reboot(name="Reboot for the board tuning", _if=any_changed(*(op for op, _ in waiting)))
    elif waiting:
        logger.warning(f"{host.name}: reboot it, or set jetson_allow_reboot: true to let the deploy do it")
