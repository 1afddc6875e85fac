"""The rollout's health gate, run on a wave of boards after the full deploy: the Ollama API answers
with the planned version, the model set is there with the locked manifests, one short generation
runs all on the GPU, and the RAM stays below red (docs/facts.md section 5, section 6). A board that fails gets
its previous container back and stops with one line; a board that passes drops it.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from .. import gate, lock
from ..facts.health import OllamaHealth
from ..operations import rollback
from ..operations.board import refused
from ..plan import plan_for
from .preflight import stop_if_refused

LOAD_TIMEOUT = 300  # seconds for the generation, loading included: as the board's quick-test allows (SD cards)
# host.name -> {"ok": bool, "problems": [...], "version", "models", "mem_percent"}: for an in-process caller
RESULTS: dict[str, dict] = {}


@deploy("Health gate")
def health_gate():
    plan = plan_for(host)
    if stop_if_refused(plan):
        if plan.refusal:  # else not a board (the fleet's cache host): nothing to judge
            RESULTS[host.name] = {"ok": False, "problems": [plan.refusal], **gate.summary({})}
        return
    cfg = plan.settings
    try:
        locked = lock.load(cfg.ollama_lock_file)
    except lock.LockError as exc:
        RESULTS[host.name] = {"ok": False, "problems": [str(exc)], **gate.summary({})}
        refused(name="Health gate", reason=f"health gate cannot read the lock: {exc}")
        return
    expected = gate.Expected(
        version=(plan.runtime.ollama_version if plan.runtime else None) or cfg.ollama_version,
        models={tag: locked[tag].manifest if tag in locked else None for tag in plan.models},
    )
    model = plan.models[0] if plan.models else None
    health = host.get_fact(OllamaHealth, url=plan.api_url, model=model, timeout=LOAD_TIMEOUT)
    problems = gate.evaluate(dict(health), expected)
    found = gate.summary(dict(health))
    RESULTS[host.name] = {"ok": not problems, "problems": problems, **found}
    container = cfg.ollama_container_name
    if problems:
        rollback.previous_restored(name=f"Restore the previous {container} container", container=container)
        refused(name="Health gate", reason="health gate failed: " + "; ".join(problems))
        return
    rollback.previous_removed(name=f"Drop the previous {container} container", container=container)
    models = ", ".join(f"{tag} {digest}" for tag, digest in found["models"].items()) or "no model"
    ram = "RAM unknown" if found["mem_percent"] is None else f"RAM {found['mem_percent']} % used"
    host.noop(f"health gate passed: Ollama {found['version']}, {models}, {ram}")
