"""Stage 6: the board scripts of the deployment log, rendered with the board's own data.

`start-ollama` (docker start/restart of the container the service stage recorded, made anew from its record
when another runs, or systemctl start/restart of ollama.service with `jetson_runtime: native`, then the
wait for its API and the preloaded models loaded),
`quick-test` (the log's six checks, one OK/FAIL line each), `monitor` (RAM, swap, GPU load,
temperature and power from one tegrastats line, the loaded models' CPU/GPU split, alerts) and `bench`
(a fixed prompt set, tokens/s as JSON, kept in /var/lib/jetson-ollama/bench.json), in
`jetson_scripts_dir` with links in /usr/local/bin. Templates: `templates/<script>.j2`.
"""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, deploy
from pyinfra.operations import files, server

from ..native import SERVICE
from ..operations import preload
from ..operations.board import CONTAINER_RECORD
from ..operations.ollama import container_spec, docker_run_words
from ..plan import BoardPlan, plan_for
from .preflight import stop_if_refused
from ..resources import TEMPLATES

SCRIPTS = ("start-ollama", "quick-test", "monitor", "bench")
LINK_DIR = "/usr/local/bin"
# the deployment log's alert levels: RAM used above 80 % warns, above 90 % is critical, and under
# 200 MiB available is an emergency (the log's qwen3:8b run sat at 96 % with 158 MiB free, docs/facts.md section 6)
THRESHOLDS = {"ram_warn_pct": 80, "ram_critical_pct": 90, "available_emergency_mb": 200}


def docker_run_line(plan: BoardPlan) -> str:
    """The `docker run` the service stage's `ollama.container` runs for a missing container, as one line.

    Its label carries the spec hash without the image id, which `ollama.container` accepts as current
    while the container runs the image its tag names, so a container made by hand with it is kept.
    """
    cfg = plan.settings
    if plan.image is None:  # jetson_runtime: native: no container
        return ""
    spec, spec_hash = container_spec(plan.image_ref, plan.environment, cfg.ollama_models_dir,
                                     cfg.ollama_container_models_dir)
    words = docker_run_words(cfg.ollama_container_name, spec, spec_hash)
    return " ".join(shlex.quote(word) for word in words)


def script_context(board: str, plan: BoardPlan) -> dict:
    """What the templates are rendered with (every key is used; pyinfra renders with StrictUndefined)."""
    cfg = plan.settings
    return {
        "board": board,
        "runtime": cfg.jetson_runtime,
        "image": plan.image.ref if plan.image else "",
        "container": cfg.ollama_container_name,
        "unit": SERVICE,
        "native_version": plan.native.version if plan.native else "",
        "api": plan.api_url,
        "models": list(plan.models),
        "test_model": plan.models[0] if plan.models else "",
        "models_dir": cfg.ollama_models_dir,
        "docker_run": docker_run_line(plan),
        "record": CONTAINER_RECORD,
        "preload_unit": preload.UNIT,
        "bench_prompts": list(cfg.jetson_bench_prompts),
        "bench_num_predict": cfg.jetson_bench_num_predict,
        "thresholds": dict(THRESHOLDS),
    }


@deploy("Board scripts")
def board_scripts():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    scripts_dir = plan.settings.jetson_scripts_dir
    context = script_context(host.name, plan)
    files.directory(name=f"Directory {scripts_dir}", path=scripts_dir, mode="755", present=True)
    for script in SCRIPTS:
        dest = posixpath.join(scripts_dir, script)
        files.template(name=f"Script {script}", src=str(TEMPLATES / f"{script}.j2"), dest=dest, mode="755",
                       create_remote_dir=False, **context)  # the directory above: read once, not per script
        files.link(name=f"Link {LINK_DIR}/{script}", path=posixpath.join(LINK_DIR, script), target=dest,
                   present=True)
    # a preloaded model the board lacked when the plan was made was fetched by the models stage since: loaded
    # now (the service stage loads the others, when it (re)started Ollama)
    if plan.preload and not all(v.present for v in plan.verdicts if v.tag in plan.preload):
        server.shell(name=f"Load the preloaded models ({', '.join(plan.preload)}), fetched in this run",
                     commands=[StringCommand("systemctl start", QuoteString(preload.UNIT))])  # type: ignore[list-item]
