"""The simulator's internet switch (`python -m jetson_sim internet BOARD on|off`) against an in-memory
iptables that answers -N/-L/-C/-A/-I/-D/-F/-X as the real one does: which rules a cut leaves on the
host, in which order, that a second cut or restore changes nothing, and that other boards' cuts stay.
The rules themselves are exercised on real boards in tests/sim/test_bundle.py."""

from __future__ import annotations

import subprocess

import pytest

from jetson_sim import cli, fleet as fleet_module
from jetson_sim.fleet import Board, Fleet, SimError


class FakeIptables:
    """The filter table as chains of rules (tuples of words)."""

    def __init__(self):
        self.chains: dict[str, list[tuple[str, ...]]] = {"INPUT": [], "FORWARD": [], "OUTPUT": []}
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *cmd: str, check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
        assert cmd[:2] == ("iptables", "-w"), cmd
        self.calls.append(cmd)
        action, chain, rule = cmd[2], cmd[3] if len(cmd) > 3 else "", tuple(cmd[4:])
        ok = True
        if action == "-N":
            ok = chain not in self.chains
            self.chains.setdefault(chain, [])
        elif action == "-L":
            ok = chain in self.chains
        elif action == "-C":
            ok = rule in self.chains.get(chain, [])
        elif action in ("-A", "-I"):
            ok = chain in self.chains
            if ok:
                self.chains[chain].insert(len(self.chains[chain]) if action == "-A" else 0, rule)
        elif action == "-D":
            ok = rule in self.chains.get(chain, [])
            if ok:
                self.chains[chain].remove(rule)
        elif action == "-F":
            ok = chain in self.chains
            if ok:
                self.chains[chain] = []
        elif action == "-X":
            referenced = any(chain in rule for rules in self.chains.values() for rule in rules)
            ok = chain in self.chains and not self.chains[chain] and not referenced
            if ok:
                del self.chains[chain]
        rc = 0 if ok else 1
        if check and rc:
            raise SimError(f"{' '.join(cmd)}: failed")
        return subprocess.CompletedProcess(cmd, rc, "", "" if ok else "iptables: No chain/target/match by that name.")


@pytest.fixture
def iptables(monkeypatch):
    fake = FakeIptables()
    monkeypatch.setattr(fleet_module, "run", fake)
    monkeypatch.setattr(fleet_module.shutil, "which", lambda name: f"/usr/sbin/{name}")
    return fake


@pytest.fixture
def fleet():
    f = Fleet(name="t1", bridge="jsabc123", subnet="10.231.7.0/24")
    for idx in (1, 2):
        f.boards[f"board{idx}"] = Board(f"board{idx}", idx, "orin-nano-8gb-r36.2.0", f"10.231.7.{10 + idx}")
    return f


def test_a_cut_refuses_everything_the_board_sends_the_host_but_ssh_replies(iptables, fleet):
    board = fleet.board("board1")
    fleet.internet(board, False)
    assert iptables.chains["INPUT"] == [("-i", "jsabc123", "-j", "JSIM-jsabc123")]
    rules = [" ".join(rule) for rule in iptables.chains["JSIM-jsabc123"]]
    # by address, then by MAC: first the controller's SSH sessions, then a refusal of all else
    assert [rule.split(" -j ")[1] for rule in rules] == ["RETURN", "REJECT --reject-with tcp-reset",
                                                         "REJECT --reject-with icmp-port-unreachable"] * 2
    assert all(rule.startswith("-s 10.231.7.11 ") for rule in rules[:3])
    assert all("--mac-source 02:00:0a:e7:07:0b" in rule for rule in rules[3:])
    assert "--sport 22 -m conntrack --ctstate ESTABLISHED" in rules[0]
    assert fleet.internet_cut(board) and not fleet.internet_cut(fleet.board("board2"))


def test_cutting_or_restoring_twice_changes_nothing(iptables, fleet):
    board = fleet.board("board1")
    fleet.internet(board, False)
    once = {chain: list(rules) for chain, rules in iptables.chains.items()}
    fleet.internet(board, False)
    assert iptables.chains == once
    fleet.internet(board, True)
    fleet.internet(board, True)
    assert iptables.chains["JSIM-jsabc123"] == [] and not fleet.internet_cut(board)


def test_restoring_one_board_leaves_the_other_cut(iptables, fleet):
    one, two = fleet.board("board1"), fleet.board("board2")
    fleet.internet(one, False)
    fleet.internet(two, False)
    fleet.internet(one, True)
    assert not fleet.internet_cut(one) and fleet.internet_cut(two)
    assert all("10.231.7.12" in " ".join(rule) or "02:00:0a:e7:07:0c" in " ".join(rule)
               for rule in iptables.chains["JSIM-jsabc123"])


def test_the_fleets_teardown_removes_its_chain_and_jump(iptables, fleet):
    fleet.internet(fleet.board("board1"), False)
    fleet._internet_down()
    assert "JSIM-jsabc123" not in iptables.chains and iptables.chains["INPUT"] == []


def test_without_iptables_a_cut_fails_with_one_line(monkeypatch, fleet):
    monkeypatch.setattr(fleet_module.shutil, "which", lambda name: None)
    with pytest.raises(SimError, match=r"^iptables is not installed \(scripts/setup.sh installs it\)"):
        fleet.internet(fleet.board("board1"), False)
    assert not fleet.internet_cut(fleet.board("board1"))  # status still answers


def test_the_cli_switches_the_named_board(monkeypatch, fleet):
    calls = []
    monkeypatch.setattr(cli.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli.Fleet, "load", classmethod(lambda cls, name: fleet))
    monkeypatch.setattr(Fleet, "internet", lambda self, board, on: calls.append((self.name, board.name, on)))
    assert cli.main(["--fleet", "t1", "internet", "board2", "off"]) == 0
    assert cli.main(["--fleet", "t1", "internet", "board2", "on"]) == 0
    assert calls == [("t1", "board2", False), ("t1", "board2", True)]


def test_the_cli_names_an_unknown_board(monkeypatch, fleet, capsys):
    monkeypatch.setattr(cli.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli.Fleet, "load", classmethod(lambda cls, name: fleet))
    assert cli.main(["--fleet", "t1", "internet", "board9", "off"]) == 1
    assert capsys.readouterr().err.startswith("jetson_sim: no board 'board9' in fleet 't1'")
