"""The opt-in metrics (`ollama_metrics: true`): the Prometheus node exporter (the distribution's
`prometheus-node-exporter` package) on port 9100 with a textfile collector of the deploy's:
`jetson-metrics.py` (files/), run by `jetson-ollama-metrics.timer` every COLLECT_EVERY seconds, writes
RAM and swap, GPU load, temperatures and power, the loaded models and their GPU share, the last bench
and quick-test to /var/lib/prometheus/node-exporter/jetson_ollama.prom.

The exporter is bound as the API is: 127.0.0.1 without `ollama_allow_from` (nothing leaves the board),
else the board's LAN address, where the host firewall admits only those networks. Without
`ollama_metrics` nothing is installed, and what an earlier run installed is stopped: the collector
removed, the exporter stopped when it runs with the arguments this stage writes.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from ..facts.metrics import ExporterArgs
from ..operations import metrics
from ..plan import BoardPlan, plan_for
from .preflight import stop_if_refused

COLLECT_EVERY = 30  # seconds between two samples: Prometheus' default scrape interval is 1 min


def listen_address(plan: BoardPlan) -> str:
    """Where the exporter listens: with ollama_allow_from the board's LAN address (the API's, or with ollama_tls
    the HTTPS proxy's, while Ollama itself is on 127.0.0.1), else 127.0.0.1."""
    return plan.settings.exposed_address if plan.settings.ollama_allow_from else "127.0.0.1"


def _ours(args: str) -> bool:
    """Whether the exporter runs with arguments this stage wrote."""
    return args.startswith("--web.listen-address=") and args.endswith(
        f"--collector.textfile.directory={metrics.TEXTFILE_DIR}")


@deploy("Metrics")
def board_metrics():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    if not plan.settings.ollama_metrics:
        metrics.collector_removed(name="No metrics collector")
        if _ours(host.get_fact(ExporterArgs)["args"]):
            systemd.service(name=f"{metrics.EXPORTER} stopped", service=metrics.EXPORTER, running=False,
                            enabled=False)
        return
    address = listen_address(plan)
    args = metrics.exporter_args(name=f"Exporter on {address}:{metrics.EXPORTER_PORT}", address=address)
    if metrics.EXPORTER not in host.get_fact(DebPackages):
        apt.packages(name=f"Package {metrics.EXPORTER}", packages=[metrics.EXPORTER], update=True,
                     no_recommends=True)  # the -collectors it recommends bring timers of their own
    systemd.service(name=f"{metrics.EXPORTER} restarted", service=metrics.EXPORTER, restarted=True,
                    _if=args.did_change)
    systemd.service(name=f"{metrics.EXPORTER} running", service=metrics.EXPORTER, running=True, enabled=True)

    files.directory(name="Directory /usr/local/lib/jetson-ollama", path="/usr/local/lib/jetson-ollama",
                    mode="755", present=True)
    files.put(name="Collector script", src=str(metrics.COLLECTOR), dest=metrics.COLLECTOR_DEST, mode="755",
              create_remote_dir=False)  # a oneshot: the next sample runs the new script, nothing to restart
    service = files.put(name="Collector service", src=StringIO(metrics.service_text(plan.api_url)),
                        dest=metrics.SERVICE_PATH, mode="644")
    timer = files.put(name="Collector timer", src=StringIO(metrics.timer_text(COLLECT_EVERY)),
                      dest=metrics.TIMER_PATH, mode="644")
    systemd.service(name="Collector timer restarted", service=f"{metrics.UNIT_NAME}.timer", restarted=True,
                    daemon_reload=True, _if=any_changed(service, timer))
    systemd.service(name="Collector timer running", service=f"{metrics.UNIT_NAME}.timer", running=True,
                    enabled=True)
