"""deploys/tuning.py run by pyinfra in this process over `@fake` boards that answer like an Orin Nano
Super (docs/facts.md section 1-3): what runs on the board, what waits for a reboot, and when the deploy
reboots. The `@fake` connector runs nothing; each board's `fake_responses` answers the facts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pyinfra.connectors.fake import FakeConnector
from pyinfra.operations import server

from jetson_ollama.runner import run_deploy

REPO = Path(__file__).parents[2]
TUNING = str(REPO / "deploys" / "tuning.py")
FIXTURES = Path(__file__).parent / "facts"
NVPMODEL_CONF = json.loads((FIXTURES / "tuning.PowerModes" / "orin-nano-super-r36.4.3.json").read_text())["output"]


def super_board(pmode: int, target: str) -> dict:
    """The facts of an Orin Nano Super on JetPack 6.2 with docker and its nvidia runtime."""
    return {
        "nv_tegra_release": "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
                            "DATE: Wed Jan  8 01:49:37 UTC 2025",
        "uname -m": "aarch64",
        "docker info": ["/usr/bin/docker", json.dumps({"ServerVersion": "27.5.1", "DefaultRuntime": "runc",
                                                       "Runtimes": {"nvidia": {}, "runc": {}}})],
        "nvpmodel.conf": NVPMODEL_CONF,
        "/var/lib/nvpmodel/status": f"pmode:{pmode:04d}",
        "systemctl get-default": target,
        "/proc/meminfo": ["MemTotal:        7802880 kB", "MemAvailable:    6440000 kB"],
        "df -Pk": ["Filesystem 1024-blocks Used Available Capacity Mounted on",
                   "/dev/nvme0n1p1 245000000 20000000 225000000 9% /"],
        "/proc/uptime": "42",
    }


@pytest.fixture
def boards(tmp_path, monkeypatch):
    """Write an inventory of fake boards and run deploys/tuning.py on them; answers (results, commands
    each board was asked, warnings logged)."""
    monkeypatch.chdir(tmp_path)  # no repository config.py: these boards are made up
    asked: dict[str, list[str]] = {}
    run_shell_command = FakeConnector.run_shell_command

    def recording_run(self, command, *args, **kwargs):
        asked.setdefault(self.host.name, []).append(str(command))
        return run_shell_command(self, command, *args, **kwargs)

    monkeypatch.setattr(FakeConnector, "run_shell_command", recording_run)
    monkeypatch.setattr(FakeConnector, "connect", lambda self: None)
    monkeypatch.setattr(server, "sleep", lambda seconds: None)  # server.reboot's wait for the board

    def run(hosts: dict[str, dict], data: dict, caplog):
        hosts_py = ",\n".join(f"    ({name!r}, {{'fake_delay': 0, 'fake_delay_jitter': 0, "
                              f"'fake_responses': {facts!r}}})" for name, facts in hosts.items())
        Path("inventory.py").write_text(f"boards = [\n{hosts_py},\n]\n")
        asked.clear()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pyinfra"):
            results = run_deploy("inventory.py", [TUNING], list(hosts), data=data)
        warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
        return results, {name: [c for c in asked.get(name, []) if _is_change(c)] for name in hosts}, warnings

    return run


def _is_change(command: str) -> bool:
    return any(word in command for word in ("nvpmodel -m", "set-default", "reboot", "refused", "jetson_clocks",
                                            "systemctl enable", "systemctl start", "systemctl disable"))


MODE_AND_HEADLESS = {"jetson_power_mode": "MAXN_SUPER", "jetson_headless": True}


def test_power_mode_by_name_and_headless_then_nothing_to_do(boards, caplog):
    results, changes, warnings = boards({"@fake/super": super_board(0, "graphical.target")}, MODE_AND_HEADLESS, caplog)
    assert results["@fake/super"].ok, results
    assert changes["@fake/super"] == ["nvpmodel -m 2 </dev/null", "systemctl set-default multi-user.target"]
    assert "@fake/super: reboot needed: the desktop stops at the next boot (headless frees about 800 MB)" in warnings
    assert not any("CPU cores" in warning for warning in warnings)  # 15W -> MAXN_SUPER: six cores in both
    assert any("set jetson_allow_reboot: true" in warning for warning in warnings)

    results, changes, warnings = boards({"@fake/super": super_board(2, "multi-user.target")}, MODE_AND_HEADLESS, caplog)
    assert results["@fake/super"].ok and results["@fake/super"].changed == 0
    assert changes["@fake/super"] == [] and not [w for w in warnings if "reboot" in w]


def test_an_unknown_mode_stops_the_board_before_any_change_with_its_modes(boards, caplog):
    results, changes, _ = boards({"@fake/super": super_board(0, "graphical.target"),
                                  "@fake/other": super_board(0, "graphical.target")},
                                 {"jetson_power_mode": "MAXN", "jetson_headless": True}, caplog)
    for name in ("@fake/super", "@fake/other"):
        refusal, = changes[name]  # the refusal, and nothing else
        assert f"jetson-ollama refused {name}: power mode 'MAXN' is not one of this board's: 15W (id 0), " \
               "25W (id 1), MAXN_SUPER (id 2), 7W (id 3)" in refusal.replace("'\"'\"'", "'")


def test_the_board_reboots_once_when_allowed_and_only_for_what_waits_for_it(boards, caplog):
    hosts = {"@fake/seven-watts": super_board(3, "multi-user.target"),   # 7W keeps four cores online
             "@fake/fifteen-watts": super_board(0, "multi-user.target")}
    results, changes, warnings = boards(hosts, {**MODE_AND_HEADLESS, "jetson_allow_reboot": True}, caplog)
    assert results["@fake/seven-watts"].ok and results["@fake/fifteen-watts"].ok, results
    assert "@fake/seven-watts: reboot needed: power mode MAXN_SUPER keeps other CPU cores online" in warnings
    assert changes["@fake/seven-watts"] == ["nvpmodel -m 2 </dev/null",
                                            "( sleep 1 && reboot ) </dev/null >/dev/null 2>&1 &"]
    assert changes["@fake/fifteen-watts"] == ["nvpmodel -m 2 </dev/null"]  # live switch: no reboot


def test_untouched_by_default(boards, caplog):
    results, changes, warnings = boards({"@fake/super": super_board(0, "graphical.target")}, {}, caplog)
    assert results["@fake/super"].ok and results["@fake/super"].ops == 0 and changes["@fake/super"] == []
