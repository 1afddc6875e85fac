"""The host firewall in front of the Ollama API: only the listed networks reach its port."""

from __future__ import annotations

import ipaddress
from io import StringIO

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.files import File
from pyinfra.facts.systemd import SystemdEnabled
from pyinfra.operations import files

from ..facts.network import CHAIN, ApiFirewall

SCRIPT = "/usr/local/lib/jetson-ollama/api-firewall.sh"
UNIT_NAME = "jetson-ollama-firewall.service"
UNIT = f"/etc/systemd/system/{UNIT_NAME}"
UNIT_TEXT = f"""[Unit]
Description=jetson-ollama: admit only the listed networks to the Ollama API
Before=docker.service ollama.service network-online.target
After=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={SCRIPT}

[Install]
WantedBy=multi-user.target
"""


def firewall_script(port: int, networks: list[str], also: tuple[int, ...] = ()) -> str:
    """The rules, as a script that (re)writes the chain whole: loopback, the networks, then drop; INPUT sends
    `port` and the `also` ports there."""
    lines = ["#!/bin/sh", "# written by jetson-ollama: only these networks reach the Ollama API port", "set -e",
             f"iptables -N {CHAIN} 2>/dev/null || iptables -F {CHAIN}"]
    lines += [f"iptables -C INPUT -p tcp --dport {each} -j {CHAIN} 2>/dev/null || "
              f"iptables -I INPUT -p tcp --dport {each} -j {CHAIN}" for each in (port, *also)]
    lines.append(f"iptables -A {CHAIN} -i lo -j ACCEPT")
    lines += [f"iptables -A {CHAIN} -s {network} -j ACCEPT" for network in networks]
    lines.append(f"iptables -A {CHAIN} -j DROP")
    return "\n".join(lines) + "\n"


def _drop_jump(port) -> StringCommand:
    """Deletes INPUT's jump to the chain for `port` (read from the board's rules)."""
    return StringCommand("iptables -D INPUT -p tcp --dport", QuoteString(str(port)), "-j", QuoteString(CHAIN))


def _normalized(networks) -> list[str]:
    if isinstance(networks, str) or not isinstance(networks, (list, tuple)):
        raise OperationError(f"networks must be a list of IPv4 networks like 10.0.0.0/8, not {networks!r}")
    try:
        return [str(ipaddress.IPv4Network(network)) for network in networks]
    except (ValueError, TypeError) as error:
        raise OperationError(f"networks must be IPv4 networks like 10.0.0.0/8: {error}") from None


@operation()
def api_admits(port: int, networks: list[str], also: list[int] | None = None):
    """
    Ensure only the listed networks (and the board itself) reach a TCP port, through an iptables chain of its own.

    + port: the Ollama API port, e.g. ``11434``
    + networks: IPv4 networks, e.g. ``["10.0.0.0/8"]``; ``[]`` removes the chain, the unit and the script
    + also: more ports sent through the same chain: with ollama_tls the HTTPS port is ``port`` and the API's
      own port is kept here, so a LAN-bound API is never open while the service stage moves it to 127.0.0.1

    The chain ``JETSON-OLLAMA`` (INPUT sends the port's TCP there) accepts the loopback interface, then
    each network, then drops the rest; a boot-time unit restores it. The live rules are compared, not
    only the script, so rules lost to a flush are put back. Docker's own chains are left alone.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import firewall

        firewall.api_admits(
            name="Only the lab reaches the Ollama API",
            port=11434,
            networks=["192.168.55.0/24"],
            _sudo=True,
        )
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise OperationError(f"port must be a TCP port 1-65535, not {port!r}")
    extra = tuple(also or ())
    if any(isinstance(each, bool) or not isinstance(each, int) or not 1 <= each <= 65535 for each in extra):
        raise OperationError(f"also must be a list of TCP ports 1-65535, not {also!r}")
    ports = [port, *[each for each in dict.fromkeys(extra) if each != port]]
    wanted = _normalized(networks)
    live = host.get_fact(ApiFirewall)
    enabled = host.get_fact(SystemdEnabled).get(UNIT_NAME, False)
    if not wanted:
        installed = host.get_fact(File, path=UNIT) or host.get_fact(File, path=SCRIPT)
        if not (live["chain"] or live["ports"] or enabled or installed):
            host.noop("no API firewall of ours")
            return
        for old_port in live["ports"]:
            yield _drop_jump(old_port)
        if live["chain"]:
            yield StringCommand("iptables -F", QuoteString(CHAIN), "&& iptables -X", QuoteString(CHAIN))
        if enabled or installed:
            yield StringCommand("systemctl disable", QuoteString(UNIT_NAME), "2>/dev/null; rm -f", QuoteString(UNIT),
                                QuoteString(SCRIPT), "&& systemctl daemon-reload")
        return
    script = firewall_script(port, wanted, tuple(ports[1:]))
    yield from files.put._inner(src=StringIO(script), dest=SCRIPT, mode="755")
    yield from files.put._inner(src=StringIO(UNIT_TEXT), dest=UNIT, mode="644")
    current = [str(ipaddress.IPv4Network(source)) for source in live["accept"] if source != "lo"]
    in_force = (sorted(live["ports"]) == sorted(ports) and live["accept"][:1] == ["lo"] and current == wanted
                and live["drop"])
    if in_force and enabled:
        host.noop(f"only {', '.join(wanted)} reach port{'s' if extra else ''} {', '.join(map(str, ports))}")
        return
    if not in_force:
        for index, old_port in enumerate(live["ports"]):
            if old_port not in ports or old_port in live["ports"][:index]:  # other ports, and second jumps for ours
                yield _drop_jump(old_port)
        yield StringCommand("sh", QuoteString(SCRIPT))
    if not enabled:
        yield StringCommand("systemctl daemon-reload && systemctl enable", QuoteString(UNIT_NAME))
