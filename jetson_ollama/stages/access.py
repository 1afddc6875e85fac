"""Who reaches the Ollama API: nobody but the board itself by default (127.0.0.1); with
`ollama_allow_from`, the API binds to the board's LAN address and a host firewall admits only those
networks to its port. Runs before the service stage, so the API is never open while it starts."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from ..operations import firewall
from ..plan import plan_for
from .preflight import stop_if_refused


@deploy("API access")
def api_access():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    port, networks = plan.api_port, plan.settings.ollama_allow_from
    firewall.api_admits(name=f"Only {', '.join(networks)} reach port {port}" if networks else "No API firewall needed",
                        port=port, networks=networks)
