"""Opt-in (`ollama_webui`, with `ollama_tls`): Open WebUI in a container on the board, on 127.0.0.1 only;
the access stage's proxy serves it over HTTPS on ollama_webui_port behind the API keys. Its image is a
version tag whose digest models.lock pins (the first pull pins it); its secret key is made once on the
board. Off: its container is removed, its data directory and key kept (docs/facts.md section 9)."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import QuoteString, StringCommand, deploy
from pyinfra.operations import python

from .. import pins
from ..operations import webui as webui_ops
from ..plan import plan_for
from .preflight import stop_if_refused


@deploy("Open WebUI")
def open_webui():
    plan = plan_for(host)
    if stop_if_refused(plan):
        return
    if plan.webui is None:
        webui_ops.absent(name="No Open WebUI")
        return
    ui = plan.webui
    pulled = webui_ops.image(name=f"Open WebUI image {ui.image}", ref=ui.image, digest=ui.digest)
    if ui.digest is None:  # the first pull: pin what came (trust on first use; later runs check it)
        python.call(name=f"Pin the digest of {ui.image}", function=_pin_digest, cfg=plan.settings, ref=ui.image,
                    _if=pulled.did_change)
    webui_ops.secret_key(name="Open WebUI's secret key, made on the board")
    webui_ops.container(name=f"Open WebUI on 127.0.0.1:{ui.upstream.rpartition(':')[2]}", image=ui.image,
                        env=ui.env)


def _pin_digest(cfg, ref: str) -> None:
    """After the first pull: the image's repository digest, pinned in models.lock (`pins: images:`)."""
    sudo = {key: host.data.get(key) for key in ("_sudo", "_sudo_user", "_sudo_password") if host.data.get(key)}
    ok, output = host.run_shell_command(StringCommand(
        "docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}'", QuoteString(ref)), **sudo)
    digests = [line.rpartition("@")[2] for line in (output.stdout_lines if ok else []) if "@sha256:" in line]
    if digests:
        pins.record(cfg, "images", ref, digests[0])
    else:
        logger.warning(f"{host.name}: {ref} has no repository digest to pin")
