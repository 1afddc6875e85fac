"""Stage 4 with `jetson_runtime: native`: Ollama as ollama.service from the official release, no docker.

As the official install.sh (docs/facts.md section 5), but pinned and checked: the arm64 archive and the board's
JetPack bundle at `ollama_native_version`, each verified against its sha256 in models.lock before it is
unpacked into /usr/local (the first download pins it, trusting the release's sha256sum.txt once); an
`ollama` system user in the `video` and `render` groups (the GPU's device nodes); the upstream unit,
with the `ollama_*` settings in a drop-in; a restart only when the binary, the unit or the drop-in
changed. The model store is `ollama_models_dir`, the one the container mounts, owned by `ollama`, so
switching runtimes keeps the models. Switching from the container removes the container first: both
listen on 11434.
"""

from __future__ import annotations

import math
from io import StringIO

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand
from pyinfra.facts.server import Which
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from ..native import DROPIN_PATH, GPU_GROUPS, GROUP, HOME, PREFIX, SERVICE, UNIT_PATH, USER, dropin_text, unit_text
from ..operations import native as native_ops
from ..operations import ollama, rollback
from ..plan import BoardPlan, NativeRuntime


def wait_for_api(url: str, timeout: float) -> StringCommand:
    """The wait after a restart or a switch: GET /api/version every half second, one line when it never answers."""
    tries = math.ceil(timeout * 2)
    return StringCommand(
        f"for i in $(seq {tries}); do curl -fsS --max-time 2", QuoteString(f"{url}/api/version"),
        f'>/dev/null 2>&1 && break; if [ "$i" -eq {tries} ]; then echo',
        QuoteString(f"Ollama API at {url} did not answer within {timeout:g} s after the change"),
        ">&2; exit 1; fi; sleep 0.5; done",
    )


def native_service(plan: BoardPlan, url: str) -> None:
    """The native runtime's operations for one board whose API answers at `url` (stages/service.py)."""
    cfg, runtime = plan.settings, plan.runtime
    if not isinstance(runtime, NativeRuntime):  # the container runtime: stages/service.py serves it
        return
    # the plan pinned every archive and, offline, found each in the bundle (its refusals came first)
    release, archives, sources = runtime.release, runtime.archives, runtime.files

    if release.needs_zstd and not host.get_fact(Which, command="zstd"):
        apt.packages(name="zstd (Ollama's .tar.zst archives)", packages=["zstd"], update=True)
    for group in (GROUP, *GPU_GROUPS):
        server.group(name=f"Group {group}", group=group, system=True)
    server.user(name=f"System user {USER} in {' and '.join(GPU_GROUPS)}", user=USER, system=True, group=GROUP,
                groups=list(GPU_GROUPS), home=HOME, shell="/bin/false")
    native_ops.store_owned(name=f"Model store {cfg.ollama_models_dir} owned by {USER}", path=cfg.ollama_models_dir,
                           user=USER, group=GROUP)
    binary = native_ops.installed(name=f"Ollama {release.version} release ({', '.join(archives)})",
                                  version=release.version, archives=archives, url=release.url, prefix=PREFIX,
                                  sources=sources)
    unit = files.put(name=f"Unit {SERVICE} (as install.sh writes it)", src=StringIO(unit_text()), dest=UNIT_PATH,
                     mode="644")
    dropin = files.put(name="ollama_* settings in the drop-in", src=StringIO(dropin_text(plan.environment)),
                       dest=DROPIN_PATH, mode="644")

    # switching from the container runtime: its container holds the port (docs/facts.md section 5)
    container = cfg.ollama_container_name
    native_ops.container_removed(name=f"No {container} container (the native service takes the port)",
                                 container=container)
    rollback.previous_removed(name=f"No previous {container} container", container=container)

    systemd.daemon_reload(name=f"Reload systemd for {SERVICE}", _if=any_changed(unit, dropin))
    systemd.service(name=f"{SERVICE} enabled and running", service=SERVICE, running=True, enabled=True)
    restart = systemd.service(name=f"Restart {SERVICE} for its new binary or settings", service=SERVICE,
                              restarted=True, _if=any_changed(binary, unit, dropin))
    ollama.api_ready(name="Ollama API answers", url=url, timeout=int(cfg.ollama_api_timeout))
    answers_after(restart, url, int(cfg.ollama_api_timeout))


def answers_after(change, url: str, timeout: float) -> None:
    """Waits for the API after `change` (a restart, a switch of runtime) when it changed something:
    `ollama.api_ready` trusts the answer it saw while facts were collected, from the Ollama before."""
    server.shell(name="Ollama API answers after the change", commands=[wait_for_api(url, timeout)],  # type: ignore[list-item]
                 _if=change.did_change)


def native_stopped(plan: BoardPlan):
    """Switching to the container runtime: this deploy's ollama.service (the one with the drop-in) is
    stopped and disabled first, as it holds the port the container needs. A foreign one is left alone
    (the plan refuses the board while it holds the port). Returns the operation, or None when there is
    nothing to stop."""
    service = plan.service  # as the plan read it
    if service.get("ours") and (service.get("active") or service.get("enabled")):
        return systemd.service(name=f"Stop and disable the native {SERVICE} (the container takes the port)",
                               service=SERVICE, running=False, enabled=False)
    return None
