"""Stage 5: the model set, pulled only where it fits the board's memory, pinned by models.lock.

The plan (plan.py) judged every model before anything on the board changed: its figures, the memory
fit against this board's RAM (docs/facts.md section 6: the log hit 96 % with qwen3:8b on 8 GB), the Ollama
version it needs, and the lock; a model it refused stopped the board with one line naming board,
model, estimate, RAM and tier. Here each verdict becomes its operation: a first pull (or an accepted
retag) is pinned in models.lock, then the model comes from the board's source (sources.py): the
registry through the board's own API, the fleet's cache store, or the offline bundle.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, deploy
from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from .. import lock, native
from ..operations import models as model_ops
from ..plan import NativeRuntime, plan_for
from .preflight import stop_if_refused


@deploy("Ollama models")
def ollama_models():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    cfg = plan.settings
    for verdict in plan.verdicts:  # first pull of a tag (or an accepted retag): pin it
        if verdict.entry is None:
            continue
        if verdict.lock_action == "update":
            lock.update(cfg.ollama_lock_file, verdict.tag, verdict.entry)
        elif verdict.lock_action == "record":
            lock.record(cfg.ollama_lock_file, verdict.tag, verdict.entry)
    operations = [plan.source.model_operation(plan, verdict) for verdict in plan.verdicts]
    copies = [op for op, verdict in zip(operations, plan.verdicts, strict=True)
              if verdict.entry and plan.source.copies_files]
    if isinstance(plan.runtime, NativeRuntime) and copies:  # root wrote the copies; ollama.service owns the store
        server.shell(name="The copied models belong to ollama", _if=any_changed(*copies),
                     commands=[StringCommand("chown -R", QuoteString(f"{native.USER}:{native.GROUP}"),  # type: ignore[list-item]
                                             QuoteString(cfg.ollama_models_dir))])
    if cfg.ollama_prune_models:
        model_ops.pruned(name="Remove models outside the set", keep=plan.models, url=plan.api_url)
