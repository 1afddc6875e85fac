"""Facts about the board's network: its LAN addresses and the host firewall in front of the Ollama API."""

from __future__ import annotations

import re

from pyinfra.api import FactBase
from typing_extensions import TypedDict, override

CHAIN = "JETSON-OLLAMA"  # the iptables chain jetson-ollama owns: the API port's admission rules
_VIRTUAL = re.compile(r"(docker\d*|br-[0-9a-f]+|veth\w*|lo)$")  # docker's bridges and their peers


class LanAddresses(FactBase[list[str]]):
    """
    Returns the board's IPv4 addresses on its own interfaces (global scope; docker's bridges and
    veths left out), in ``ip`` order; ``[]`` without ``ip``.
    """

    @override
    def command(self) -> str:
        return "ip -4 -o addr show scope global 2>/dev/null || true"

    @staticmethod
    def default() -> list[str]:
        return []

    @override
    def process(self, output: list[str]) -> list[str]:
        addresses = []
        for line in output:  # 2: eth0    inet 10.231.0.12/24 brd 10.231.0.255 scope global eth0
            words = line.split()
            if len(words) >= 4 and words[2] == "inet" and not _VIRTUAL.match(words[1].split("@")[0]):
                addresses.append(words[3].split("/")[0])
        return addresses


class FirewallDict(TypedDict):
    chain: bool       # the chain exists
    ports: list[int]  # INPUT jumps to it for these tcp ports
    accept: list[str]  # its rules, in order: "lo" for the loopback interface, else source networks
    drop: bool        # it ends by dropping the rest


class ApiFirewall(FactBase[FirewallDict]):
    """
    Returns the iptables chain ``JETSON-OLLAMA`` that admits networks to the Ollama API port: whether
    it exists, the tcp ports INPUT sends to it, the sources it accepts in order (``lo`` for the
    loopback interface) and whether it then drops the rest. Read with ``iptables -S`` (root).
    """

    @override
    def command(self) -> str:
        return f"iptables -S {CHAIN} 2>/dev/null; iptables -S INPUT 2>/dev/null | grep -e '-j {CHAIN}$'; true"

    @staticmethod
    def default() -> FirewallDict:
        return {"chain": False, "ports": [], "accept": [], "drop": False}

    @override
    def process(self, output: list[str]) -> FirewallDict:
        found = self.default()
        for line in output:
            words = line.split()
            if words[:2] == ["-N", CHAIN]:
                found["chain"] = True
            elif words[:2] == ["-A", CHAIN]:
                found["drop"] = words[2:] == ["-j", "DROP"]  # only as the last rule: any rule after it is dead
                if words[-2:] == ["-j", "ACCEPT"] and len(words) == 6 and words[2] in ("-i", "-s"):
                    found["accept"].append(words[3])  # iptables prints networks as 10.0.0.0/8, hosts as /32
            elif words[:2] == ["-A", "INPUT"] and "--dport" in words:
                found["ports"].append(int(words[words.index("--dport") + 1]))
        return found
