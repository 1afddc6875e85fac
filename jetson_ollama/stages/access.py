"""Who reaches the Ollama API: nobody but the board itself by default (127.0.0.1); with
`ollama_allow_from`, the API binds to the board's LAN address and a host firewall admits only those
networks to its port. With `ollama_tls`, the API stays on 127.0.0.1 and an HTTPS proxy with API keys
(nginx, and the key verifier it asks) is the way in, on ollama_tls_port: the firewall admits the listed
networks to that port only; with `ollama_metrics`, to the exporter's port too, and with `ollama_webui` to
the web UI's HTTPS port, a second server of the same proxy (plan.firewall_ports). Runs before the service
stage, so the API is never open while it starts."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from ..operations import firewall, proxy
from ..plan import plan_for
from .preflight import stop_if_refused


@deploy("API access")
def api_access():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    cfg, networks = plan.settings, plan.settings.ollama_allow_from
    port, *also = plan.firewall_ports
    firewall.api_admits(name=f"Only {', '.join(networks)} reach port {port}" if networks else "No API firewall needed",
                        port=port, networks=networks, also=also)
    if plan.tls is None:
        proxy.proxy_absent(name="No HTTPS API")
        return
    proxy.nginx_installed(name="nginx from the board's packages")
    proxy.key_verifier(name=f"The API keys ({len(plan.tls.hashes)})", hashes=list(plan.tls.hashes))
    proxy.tls_proxy(name=f"HTTPS API on {cfg.exposed_address}:{cfg.ollama_tls_port}",
                    listen=f"{cfg.exposed_address}:{cfg.ollama_tls_port}", upstream=f"127.0.0.1:{cfg.api_port}",
                    cert_pem=plan.tls.cert_pem, key_pem=plan.tls.key_pem,
                    webui_listen=plan.webui.listen if plan.webui else None,
                    webui_upstream=plan.webui.upstream if plan.webui else None)
