"""The HTTPS API of `ollama_tls`: the board's nginx in front of Ollama on 127.0.0.1, and the key verifier
nginx asks about each request (auth_request). docs/facts.md, "The HTTPS API", says why this design."""

from __future__ import annotations

from importlib import resources
from io import StringIO

from jinja2 import Template
from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.files import File
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus
from pyinfra.operations import files

from ..facts.proxy import NginxBuild

VERIFIER = "/usr/local/lib/jetson-ollama/ollama-keys.py"
KEYS = "/etc/jetson-ollama/api-keys"
CONF_DIR = "/etc/jetson-ollama/proxy"
CONF, CERT, KEY = f"{CONF_DIR}/nginx.conf", f"{CONF_DIR}/proxy.crt", f"{CONF_DIR}/proxy.key"
VERIFIER_UNIT_NAME, PROXY_UNIT_NAME = "jetson-ollama-keys.service", "jetson-ollama-proxy.service"
VERIFIER_UNIT, PROXY_UNIT = (f"/etc/systemd/system/{name}" for name in (VERIFIER_UNIT_NAME, PROXY_UNIT_NAME))
VERIFIER_LISTEN = "127.0.0.1:11436"
INSTALL = ("DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
           "--no-install-recommends nginx && systemctl mask --now nginx.service")

VERIFIER_UNIT_TEXT = f"""[Unit]
Description=jetson-ollama: API key check for the HTTPS proxy (nginx auth_request)
After=network.target

[Service]
ExecStart=/usr/bin/python3 {VERIFIER} --listen {VERIFIER_LISTEN} --keys {KEYS}
User=nobody
Group=nogroup
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""

PROXY_UNIT_TEXT = f"""[Unit]
Description=jetson-ollama: HTTPS and API keys in front of the Ollama API (nginx)
After=network-online.target {VERIFIER_UNIT_NAME}
Wants=network-online.target {VERIFIER_UNIT_NAME}

[Service]
ExecStartPre=/usr/sbin/nginx -t -q -c {CONF}
ExecStart=/usr/sbin/nginx -c {CONF} -g 'daemon off;'
ExecReload=/usr/sbin/nginx -t -q -c {CONF}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


def verifier_script() -> str:
    """The verifier as installed: files/ollama-keys.py of this package."""
    return resources.files("jetson_ollama").joinpath("files/ollama-keys.py").read_text()


def proxy_conf(listen: str, upstream: str, verifier: str = VERIFIER_LISTEN, webui_listen: str | None = None,
               webui_upstream: str | None = None) -> str:
    """nginx.conf of the proxy (templates/nginx-proxy.conf.j2): HTTPS on `listen`, Ollama at `upstream`; with
    ollama_webui, a second server on `webui_listen` in front of Open WebUI at `webui_upstream`."""
    template = resources.files("jetson_ollama").joinpath("templates/nginx-proxy.conf.j2").read_text()
    # trim_blocks: a block tag's line leaves nothing, so the API's config is the same with the web UI off
    return Template(template, keep_trailing_newline=True, trim_blocks=True).render(
        listen=listen, upstream=upstream, verifier=verifier, cert=CERT, key=KEY, unit=PROXY_UNIT_NAME,
        webui_listen=webui_listen, webui_upstream=webui_upstream)


def keys_text(hashes: list[str]) -> str:
    return "# written by jetson-ollama: sha256 of each API key of ollama_api_keys\n" + "".join(
        f"{digest}\n" for digest in hashes)


def _put(text: str, dest: str, mode: str, **owner) -> list:
    return list(files.put._inner(src=StringIO(text), dest=dest, mode=mode, create_remote_dir=True, **owner))


def _unit_state(name: str) -> tuple[bool, bool]:
    """(running, enabled) of a unit."""
    return bool(host.get_fact(SystemdStatus).get(name)), bool(host.get_fact(SystemdEnabled).get(name))


@operation()
def nginx_installed():
    """
    Ensure the board's own nginx package is installed, and the package's nginx.service masked (the
    proxy runs a unit of its own, so nginx's default site never listens on port 80).

    **Example:**

    .. code:: python

        from jetson_ollama.operations import proxy

        proxy.nginx_installed(name="nginx from the board's packages", _sudo=True)
    """
    build = host.get_fact(NginxBuild)
    if build["version"] is None:
        yield INSTALL
    elif build["packaged_service"] not in ("masked", None):
        yield "systemctl mask --now nginx.service"
    else:
        host.noop(f"nginx {build['version']} installed, its own service masked")


def _hashes(hashes) -> list[str]:
    from ..checks import _KEY_HASH

    if isinstance(hashes, str) or not isinstance(hashes, (list, tuple)) or not hashes or not all(
            isinstance(item, str) and _KEY_HASH.fullmatch(item) for item in hashes):
        raise OperationError(f"hashes must be a non-empty list of sha256:<64 hex>, not {hashes!r}")
    return list(hashes)


@operation()
def key_verifier(hashes: list[str]):
    """
    Ensure the key verifier runs on 127.0.0.1 and knows exactly these key hashes.

    + hashes: ``sha256:<hex>`` of each API key; the board never gets a clear key

    A changed list rewrites the keys file only: the verifier reads it again on its next request, so
    nothing restarts (nginx, Ollama and its loaded models go on). A changed script or unit restarts
    the verifier alone.

    **Example:**

    .. code:: python

        proxy.key_verifier(name="API keys", hashes=["sha256:" + "0" * 64], _sudo=True)
    """
    wanted = _hashes(hashes)
    program = _put(verifier_script(), VERIFIER, "755") + _put(VERIFIER_UNIT_TEXT, VERIFIER_UNIT, "644")
    keys = _put(keys_text(wanted), KEYS, "640", user="root", group="nogroup")
    yield from program + keys
    running, enabled = _unit_state(VERIFIER_UNIT_NAME)
    unit = QuoteString(VERIFIER_UNIT_NAME)
    if program:
        yield StringCommand("systemctl daemon-reload && systemctl enable", unit, "&& systemctl restart", unit)
    elif not (running and enabled):
        yield StringCommand("systemctl enable --now", unit)
    elif not keys:
        host.noop(f"the key verifier knows {len(wanted)} key(s)")


@operation()
def tls_proxy(listen: str, upstream: str, cert_pem: str, key_pem: str, webui_listen: str | None = None,
              webui_upstream: str | None = None):
    """
    Ensure nginx serves HTTPS on ``listen`` with this certificate, in front of the API at ``upstream``,
    every request checked by the key verifier.

    + listen: ``address:port`` of the HTTPS API, e.g. ``192.168.55.101:11443``
    + upstream: ``127.0.0.1:port`` of the Ollama API
    + cert_pem: the certificate chain (PEM), the board's first
    + key_pem: its private key (PEM), written readable by root only
    + webui_listen: ``address:port`` of the web UI (ollama_webui), None for none
    + webui_upstream: ``127.0.0.1:port`` of Open WebUI, with webui_listen

    A changed certificate or config reloads nginx (after ``nginx -t``): open connections finish.

    **Example:**

    .. code:: python

        proxy.tls_proxy(name="HTTPS API", listen="192.168.55.101:11443", upstream="127.0.0.1:11434",
                        cert_pem=cert, key_pem=key, _sudo=True)
    """
    if (webui_listen is None) != (webui_upstream is None):
        raise OperationError("webui_listen and webui_upstream go together")
    addresses: list[tuple[str | None, str]] = [(listen, "listen"), (upstream, "upstream")]
    if webui_listen is not None:
        addresses += [(webui_listen, "webui_listen"), (webui_upstream, "webui_upstream")]
    for value, what in addresses:
        address, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
        if not address or not port.isdigit() or any(c in address for c in " ;{}'\"\n"):
            raise OperationError(f"{what} must be address:port, not {value!r}")
    if not (isinstance(cert_pem, str) and "BEGIN CERTIFICATE" in cert_pem and isinstance(key_pem, str)
            and "PRIVATE KEY" in key_pem):
        raise OperationError("cert_pem and key_pem must be a PEM certificate and a PEM private key")
    served = (_put(cert_pem, CERT, "644", user="root", group="root") + _put(key_pem, KEY, "600", user="root",
              group="root") + _put(proxy_conf(listen, upstream, webui_listen=webui_listen,
              webui_upstream=webui_upstream), CONF, "644"))
    unit_text = _put(PROXY_UNIT_TEXT, PROXY_UNIT, "644")
    yield from served + unit_text
    running, enabled = _unit_state(PROXY_UNIT_NAME)
    unit = QuoteString(PROXY_UNIT_NAME)
    if unit_text:
        yield StringCommand("systemctl daemon-reload && systemctl enable", unit, "&& systemctl restart", unit)
    elif not running:
        yield StringCommand("systemctl enable --now", unit)
    elif served:
        yield StringCommand("systemctl reload", unit)
        if not enabled:
            yield StringCommand("systemctl enable", unit)
    elif not enabled:
        yield StringCommand("systemctl enable", unit)
    else:
        host.noop(f"HTTPS on {listen} in front of {upstream}")


@operation()
def proxy_absent():
    """
    Ensure no proxy or key verifier of ours runs or is left (ollama_tls off): their units stopped and
    removed, their files removed. The nginx package stays, its own service masked.

    **Example:**

    .. code:: python

        proxy.proxy_absent(name="No HTTPS API", _sudo=True)
    """
    paths = [PROXY_UNIT, VERIFIER_UNIT, VERIFIER, KEYS, CONF, CERT, KEY]
    present = [path for path in paths if host.get_fact(File, path=path)]
    units = [name for name in (PROXY_UNIT_NAME, VERIFIER_UNIT_NAME) if any(_unit_state(name))]
    if not present and not units:
        host.noop("no HTTPS API of ours")
        return
    if units:
        yield StringCommand("systemctl disable --now", *[QuoteString(name) for name in units])
    if present:
        yield StringCommand("rm -f", *[QuoteString(path) for path in present], "&& systemctl daemon-reload")
