"""The API firewall end to end without touching this machine's rules: the script api_admits puts on the
board, and the iptables commands it yields, run for real against a fake `iptables` first in PATH (its
rules kept in a JSON file, printed as iptables 1.8 prints them); the ApiFirewall fact read back from it
must be what api_admits takes as in force, so a second converge is a noop. The fake is checked against
the real iptables in a private network namespace where this machine allows one."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyinfra.api import FileUploadCommand
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.util import FakeState, create_host

from jetson_ollama.facts.network import CHAIN, ApiFirewall
from jetson_ollama.operations.firewall import SCRIPT, UNIT, UNIT_NAME, UNIT_TEXT, api_admits, firewall_script

FAKE_IPTABLES = r'''
import ipaddress, json, sys

STATE = sys.argv.pop(1)
BUILTIN = ("INPUT", "FORWARD", "OUTPUT")
with open(STATE) as f:
    chains = json.load(f)


def fail(message, code=1):
    sys.stderr.write(message + "\n")
    sys.exit(code)


def rule(words):
    """The rule in iptables' own words and order (as -S prints it), or exit 2 as iptables does."""
    given = {}
    while words:
        option = words.pop(0)
        if option not in ("-s", "-i", "-p", "-m", "--dport", "-j") or not words or option in given:
            fail(f"iptables v1.8.9 (nf_tables): unknown or doubled option {option!r}", 2)
        given[option] = words.pop(0)
    if "-s" in given:
        network = ipaddress.IPv4Network(given["-s"], strict=False)
        given["-s"] = str(network) if network.prefixlen else None
    if "--dport" in given:
        if given.get("-p") not in ("tcp", "udp") or not 0 < int(given["--dport"]) < 65536:
            fail("iptables v1.8.9 (nf_tables): unknown option \"--dport\"", 2)
        given["-m"] = given["-p"]  # the implicit match of -p tcp --dport
    if given.get("-j") not in (None, "ACCEPT", "DROP", "RETURN") and given["-j"] not in chains:
        fail(f"iptables v1.8.9 (nf_tables): Chain '{given['-j']}' does not exist", 2)
    return [word for option in ("-s", "-i", "-p", "-m", "--dport", "-j") if given.get(option)
            for word in (option, given[option])]


def chain(name):
    if name not in chains:
        fail("iptables: No chain/target/match by that name.")
    return chains[name]


args = sys.argv[1:]
command, name, rest = args[0], args[1] if len(args) > 1 else None, args[2:]
if command == "-S":
    rules = chain(name)
    print(f"-P {name} ACCEPT" if name in BUILTIN else f"-N {name}")
    for words in rules:
        print(" ".join(["-A", name, *words]))
elif command == "-N":
    if name in chains:
        fail("iptables: Chain already exists.")
    chains[name] = []
elif command == "-F":
    chain(name).clear()
elif command == "-X":
    if name in BUILTIN or chain(name):
        fail(f"iptables v1.8.9 (nf_tables): CHAIN_DEL failed: chain {name}")
    if any(words[-2:] == ["-j", name] for rules in chains.values() for words in rules):
        fail(f"iptables v1.8.9 (nf_tables):  CHAIN_DEL failed (Device or resource busy): chain {name}", 4)
    del chains[name]
elif command in ("-A", "-I", "-C", "-D"):
    rules = chain(name)
    position = int(rest.pop(0)) - 1 if command == "-I" and rest and rest[0].isdigit() else 0
    words = rule(rest)
    if command == "-A":
        rules.append(words)
    elif command == "-I":
        rules.insert(position, words)
    elif words not in rules:
        fail("iptables: Bad rule (does a matching rule exist in that chain?).")
    elif command == "-D":
        rules.remove(words)
else:
    fail(f"iptables v1.8.9 (nf_tables): fake iptables does not know {command}", 2)
with open(STATE, "w") as f:
    json.dump(chains, f)
'''

# rules of others on the board: a user's ssh rule in INPUT, docker's chains; none of it is ours to touch
OTHERS = {"INPUT": [["-p", "tcp", "-m", "tcp", "--dport", "22", "-j", "ACCEPT"]], "FORWARD": [["-j", "DOCKER-USER"]],
          "OUTPUT": [], "DOCKER-USER": [["-j", "RETURN"]]}


class Board:
    """The firewall side of a board: iptables faked in PATH; the script, the unit and its enabled state
    as pyinfra's files and systemd facts would read them after the commands api_admits yields."""

    def __init__(self, tmp_path: Path, chains: dict):
        self.state = tmp_path / "iptables.json"
        self.state.write_text(json.dumps(chains))
        fakebin = tmp_path / "bin"
        fakebin.mkdir()
        iptables = fakebin / "iptables"
        iptables.write_text(f"#!/bin/sh\nexec {sys.executable} {tmp_path / 'fake_iptables.py'} {self.state} \"$@\"\n")
        iptables.chmod(0o755)
        (tmp_path / "fake_iptables.py").write_text(FAKE_IPTABLES)
        self.env = {"PATH": f"{fakebin}:/usr/bin:/bin"}  # /usr/sbin left out: the real iptables is never reached
        self.script_path = tmp_path / "api-firewall.sh"
        self.files: dict[str, str] = {}  # dest -> text put there
        self.enabled = False

    def sh(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", "-c", command], env=self.env, capture_output=True, text=True, timeout=60)

    def chains(self) -> dict:
        return json.loads(self.state.read_text())

    def fact(self):
        result = self.sh(ApiFirewall().command())
        assert result.returncode == 0, result.stderr
        return ApiFirewall().process(result.stdout.splitlines())

    def facts(self) -> dict:
        def file(dest):
            if dest not in self.files:
                return None
            return {"mode": 755 if dest == SCRIPT else 644, "user": "root", "group": "root"}

        lib = {"mode": 755, "user": "root", "group": "root"}
        return {
            "network.ApiFirewall": self.fact(),
            "systemd.SystemdEnabled": {"ssh.service": True, UNIT_NAME: True} if self.enabled else {"ssh.service": True},
            "files.File": {f"path={SCRIPT}": file(SCRIPT), f"path={UNIT}": file(UNIT)},
            "files.Directory": {f"path={SCRIPT}": None, f"path={UNIT}": None, "path=/etc/systemd/system": lib,
                                "path=/usr/local/lib/jetson-ollama": lib},
            "files.Sha1File": {f"path={dest}": hashlib.sha1(text.encode()).hexdigest()
                               for dest, text in self.files.items()},
        }

    def converge(self, port: int, networks: list[str]) -> tuple[list[str], str | None]:
        """api_admits against what the board reports, its commands carried out: the uploads kept, the
        iptables commands and the script run against the fake, systemctl's effect taken as done."""
        state = FakeState()
        host = create_host(state, facts=self.facts())
        with ctx_state.use(state), ctx_host.use(host):
            commands = list(api_admits._inner(port=port, networks=networks))
        done = []
        for command in commands:
            if isinstance(command, FileUploadCommand):
                self.files[command.dest] = command.src.getvalue()
                done.append(f"put {command.dest}")
                continue
            text = command.get_raw_value()
            done.append(text)
            if text == f"sh {SCRIPT}":
                self.script_path.write_text(self.files[SCRIPT])
                result = self.sh(f"sh {self.script_path}")
            elif text.startswith("iptables "):
                result = self.sh(text)
            elif text == f"systemctl daemon-reload && systemctl enable {UNIT_NAME}":
                self.enabled = True
                continue
            elif text.startswith(f"systemctl disable {UNIT_NAME} 2>/dev/null; rm -f "):
                self.enabled, self.files = False, {}
                continue
            else:  # chmod of a put file
                assert text.startswith(("chmod ", "mkdir -p ")), text
                continue
            assert result.returncode == 0, f"{text}: {result.stderr}"
        return done, host.noop_description


def ours(chains: dict) -> dict:
    """The rules that are jetson-ollama's: its chain, and INPUT's jumps to it."""
    return {"chain": chains.get(CHAIN), "jumps": [words for words in chains["INPUT"] if words[-1] == CHAIN]}


def others(chains: dict) -> dict:
    return {name: [words for words in rules if words[-1] != CHAIN] for name, rules in chains.items() if name != CHAIN}


def test_the_script_leaves_rules_that_the_fact_reads_as_in_force(tmp_path):
    board = Board(tmp_path, OTHERS)
    done, noop = board.converge(11434, ["10.0.0.0/8", "192.168.1.20"])
    assert done == [f"put {SCRIPT}", f"chmod 755 {SCRIPT}", f"put {UNIT}", f"chmod 644 {UNIT}", f"sh {SCRIPT}",
                    f"systemctl daemon-reload && systemctl enable {UNIT_NAME}"] and noop is None
    assert board.files == {SCRIPT: firewall_script(11434, ["10.0.0.0/8", "192.168.1.20/32"]), UNIT: UNIT_TEXT}
    assert ours(board.chains()) == {
        "chain": [["-i", "lo", "-j", "ACCEPT"], ["-s", "10.0.0.0/8", "-j", "ACCEPT"],
                  ["-s", "192.168.1.20/32", "-j", "ACCEPT"], ["-j", "DROP"]],
        "jumps": [["-p", "tcp", "-m", "tcp", "--dport", "11434", "-j", CHAIN]]}
    assert board.chains()["INPUT"][0][-1] == CHAIN  # before the user's own rules: nothing admits the port first
    assert board.fact() == {"chain": True, "ports": [11434], "accept": ["lo", "10.0.0.0/8", "192.168.1.20/32"],
                            "drop": True}
    assert board.converge(11434, ["10.0.0.0/8", "192.168.1.20"]) == \
        ([], "only 10.0.0.0/8, 192.168.1.20/32 reach port 11434")
    assert others(board.chains()) == OTHERS


def test_the_script_run_twice_writes_the_same_rules_once(tmp_path):
    board = Board(tmp_path, OTHERS)
    board.script_path.write_text(firewall_script(11434, ["10.0.0.0/8"]))
    for _ in range(2):  # as the boot unit does after a converge already wrote them
        result = board.sh(f"sh {board.script_path}")
        assert result.returncode == 0, result.stderr
    assert board.fact() == {"chain": True, "ports": [11434], "accept": ["lo", "10.0.0.0/8"], "drop": True}
    assert len(ours(board.chains())["jumps"]) == 1


def test_drift_port_and_network_changes_then_removal_each_converge_once(tmp_path):
    board = Board(tmp_path, OTHERS)
    board.converge(11434, ["10.0.0.0/8"])

    board.sh(f"iptables -F {CHAIN} && iptables -D INPUT -p tcp --dport 11434 -j {CHAIN}")  # a flush by hand
    assert board.converge(11434, ["10.0.0.0/8"])[0] == [f"sh {SCRIPT}"]
    assert board.converge(11434, ["10.0.0.0/8"])[0] == []

    board.sh(f"iptables -I INPUT -p tcp --dport 11434 -j {CHAIN}")  # a second jump, inserted by hand
    assert board.converge(11434, ["10.0.0.0/8"])[0] == [f"iptables -D INPUT -p tcp --dport 11434 -j {CHAIN}",
                                                        f"sh {SCRIPT}"]
    assert board.converge(11434, ["10.0.0.0/8"])[0] == []

    done, _ = board.converge(8080, ["10.0.0.0/8", "192.168.0.0/16"])
    assert done == [f"put {SCRIPT}", f"chmod 755 {SCRIPT}", f"iptables -D INPUT -p tcp --dport 11434 -j {CHAIN}",
                    f"sh {SCRIPT}"]
    assert board.fact() == {"chain": True, "ports": [8080], "accept": ["lo", "10.0.0.0/8", "192.168.0.0/16"],
                            "drop": True}
    assert board.converge(8080, ["10.0.0.0/8", "192.168.0.0/16"]) == \
        ([], "only 10.0.0.0/8, 192.168.0.0/16 reach port 8080")

    done, _ = board.converge(8080, [])
    assert done[:2] == [f"iptables -D INPUT -p tcp --dport 8080 -j {CHAIN}",
                        f"iptables -F {CHAIN} && iptables -X {CHAIN}"]
    assert board.chains() == OTHERS and board.fact() == ApiFirewall().default()
    assert not board.enabled and board.files == {}
    assert board.converge(8080, []) == ([], "no API firewall of ours")


def _real_iptables_in_a_namespace() -> bool:
    if not shutil.which("unshare") or not Path("/usr/sbin/iptables").exists():
        return False
    probe = subprocess.run(["unshare", "-rn", "/usr/sbin/iptables", "-S", "INPUT"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _real_iptables_in_a_namespace(), reason="no private network namespace with iptables here")
def test_the_fake_prints_what_the_real_iptables_prints(tmp_path):
    """The script and the fact's command under the real iptables, in a network namespace of their own
    (this machine's rules are never read nor changed): the same lines as from the fake."""
    script = tmp_path / "api-firewall.sh"
    script.write_text(firewall_script(11434, ["10.0.0.0/8", "192.168.1.20/32"]))
    setup = f"iptables -A INPUT -p tcp --dport 22 -j ACCEPT && sh {script} && sh {script}"
    real = subprocess.run(["unshare", "-rn", "sh", "-c", f"{setup} && {ApiFirewall().command()}"],
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, capture_output=True, text=True, timeout=60)
    assert real.returncode == 0, real.stderr
    board = Board(tmp_path, {"INPUT": [], "FORWARD": [], "OUTPUT": []})
    assert board.sh(setup).returncode == 0
    faked = board.sh(ApiFirewall().command())
    assert faked.stdout == real.stdout
    assert real.stdout.splitlines() == ["-N JETSON-OLLAMA", "-A JETSON-OLLAMA -i lo -j ACCEPT",
                                        "-A JETSON-OLLAMA -s 10.0.0.0/8 -j ACCEPT",
                                        "-A JETSON-OLLAMA -s 192.168.1.20/32 -j ACCEPT", "-A JETSON-OLLAMA -j DROP",
                                        "-A INPUT -p tcp -m tcp --dport 11434 -j JETSON-OLLAMA"]
