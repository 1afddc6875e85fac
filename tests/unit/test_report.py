"""The fleet report: reading a board (fake and over a real SSH session), Markdown and HTML rendering,
the command line, and the inventory helper it shares with tests/boards."""

import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import paramiko
import pytest

from jetson_ollama import remote, report
from jetson_ollama.remote import CommandResult, InventoryHost
from jetson_ollama.catalog import estimate, model_info
from jetson_ollama.report import BenchFigures, BoardRecord
from jetson_ollama.report.collect import BENCH_HISTORY, QUICK_TEST_HISTORY, LoadedModel, QuickTestRun

REPO = Path(__file__).parents[2]
FACTS = Path(__file__).parent / "facts"
GENERATED = datetime(2025, 11, 21, 6, 30, tzinfo=timezone.utc)
BENCH = {"board": "nano-01", "time": "2025-11-21T06:00:00Z", "results": [],
         "summary": {"qwen2.5:1.5b": {"tokens_per_s": 23.41}, "qwen3:4b": {"tokens_per_s": 10.0}}}


def fixture_output(fact: str, case: str) -> str:
    return "\n".join(json.loads((FACTS / fact / f"{case}.json").read_text())["output"]) + "\n"


# an Orin Nano 8GB on L4T 36.2.0, from the recorded fact outputs of tests/unit/facts (docker, API, models)
ORIN_NANO = {
    "/etc/nv_tegra_release": fixture_output("jetson.TegraRelease", "orin-nano-8gb-r36.2.0"),
    "/proc/device-tree": fixture_output("jetson.BoardModel", "orin-nano-8gb-r36.2.0"),
    "/proc/meminfo": fixture_output("jetson.Memory", "orin-nano-8gb-r36.2.0"),
    "docker container inspect": fixture_output("containers.OllamaContainer", "running"),
    "docker info": fixture_output("docker.DockerState", "orin-nano-8gb-r36.2.0"),
    "docker images": fixture_output("containers.DockerImages", "built-and-prebuilt"),
    "ss -ltnpH": fixture_output("ollama.PortListener", "container-host-network"),
    "uname -m": "aarch64\n",
    "/api/version": '{"version":"0.6.8"}\n',
    "/api/tags": fixture_output("models.OllamaModels", "listed"),
    "systemctl get-default": "multi-user.target\n",
    report.BENCH_FILE: json.dumps(BENCH) + "\n",
    # the last lines of the history files bench and quick-test append to, and Ollama's /api/ps
    BENCH_HISTORY: "".join(json.dumps({**BENCH, "time": time}) + "\n"
                           for time in ("2025-11-20T06:00:00Z", "2025-11-21T06:00:00Z")),
    QUICK_TEST_HISTORY: json.dumps({"time": "2025-11-21T06:05:00Z", "passed": 5, "failed": 1, "checks": [
        {"check": "api", "ok": True, "detail": "Ollama 0.6.8"}, {"check": "gpu", "ok": False, "detail": "CPU"},
        {"check": "inference", "ok": True, "detail": "fine"}]}) + "\n",
    "/api/ps": json.dumps({"models": [
        {"name": "llama3.2:1b", "size": 2_000_000_000, "size_vram": 1_000_000_000},
        {"name": "qwen2.5:7b", "size": 6_000_000_000, "size_vram": 6_000_000_000}]}) + "\n",
}
X86_SERVER = {
    "/proc/meminfo": "MemTotal:       32768000 kB\nMemAvailable:   16384000 kB\n",
}


def responder(answers: dict[str, str]):
    """A board's shell: the answer of the first key the command contains, else no output."""
    def answer(command: str) -> tuple[int, str]:
        return next(((0, text) for key, text in answers.items() if key in command), (0, ""))
    return answer


class FakeBoard:
    def __init__(self, answers):
        self.answer = responder(answers)
        self.commands = []

    def run(self, command):
        self.commands.append(command)
        rc, out = self.answer(command)
        return CommandResult(rc, out, "")


def records():
    return [
        BoardRecord("nano-01", "192.168.55.101", l4t="36.2.0", jetpack="6.0", board_model="NVIDIA Jetson Orin Nano",
                    mem_total_mb=7620, mem_used_mb=2900, image="ollama:r36.2.0", ollama_version="0.6.8",
                    models=["qwen2.5:1.5b", "qwen3:4b"], tier="green", tier_basis="qwen3:4b estimated at 52 %",
                    estimate_percent=52.0, bench=BenchFigures("2025-11-21T06:00:00Z", {"qwen2.5:1.5b": 23.4}),
                    bench_history=[BenchFigures("2025-11-20T06:00:00Z", {"qwen2.5:1.5b": 22.9}),
                                   BenchFigures("2025-11-21T06:00:00Z", {"qwen2.5:1.5b": 23.4})],
                    quick_tests=[QuickTestRun("2025-11-21T06:05:00Z", 5, ["gpu"])],
                    loaded=[LoadedModel("qwen3:4b", 3 * 1024 ** 3, 3 * 1024 ** 3),
                            LoadedModel("qwen2.5:1.5b", 1024 ** 3, 512 * 1024 ** 2)]),
        BoardRecord("nano-02", "192.168.55.102", status="unreachable: no answer within 5 s"),
        BoardRecord("nx-01", "192.168.55.111", l4t="35.4.1", jetpack="5.1.2", mem_total_mb=15388, mem_used_mb=13900,
                    image="dustynv/ollama:r35.4.1", ollama_version="0.5.1", models=["qwen2.5:7b"], tier="red",
                    tier_basis="RAM in use", notes=["container ollama is exited | restarting"]),
        BoardRecord("x86", "10.0.0.9", status="not a Jetson", mem_total_mb=32000, mem_used_mb=31000, tier="black",
                    tier_basis="RAM in use"),
    ]


# ---------------------------------------------------------------- reading a board

def test_read_board_from_the_fact_outputs():
    host = InventoryHost("nano-01", ["orin_nano_8gb"], {"ssh_hostname": "192.168.55.101", "ollama_context_length": 4096,
                                                        "ollama_models": ["qwen2.5:7b"]})
    record = report.read_board(FakeBoard(ORIN_NANO), host)
    assert (record.status, record.l4t, record.jetpack) == ("ok", "36.2.0", "6.0")
    assert record.board_model == "NVIDIA Jetson Orin Nano Developer Kit"
    assert (record.mem_total_mb, record.mem_used_mb) == (7620, 7620 - 6289)  # MemTotal - MemAvailable
    assert (record.image, record.ollama_version) == ("ollama:r36.2.0-cu122-22.04", "0.6.8")
    assert record.models == ["llama3.2:1b", "qwen2.5:7b", "someone/tiny:latest"]
    # the largest model of the board's set decides the tier, as the deploy's plan judges it (headless board)
    fit = estimate(model_info("qwen2.5:7b"), 7620, False, 4096, 1)
    assert (record.tier, record.estimate_percent) == (fit.tier, fit.percent)
    assert record.tier_basis == f"qwen2.5:7b estimated at {fit.percent:.0f} %"
    assert record.bench == BenchFigures("2025-11-21T06:00:00Z", {"qwen2.5:1.5b": 23.41, "qwen3:4b": 10.0})
    assert [run.time for run in record.bench_history] == ["2025-11-20T06:00:00Z", "2025-11-21T06:00:00Z"]
    assert record.bench_history[-1] == record.bench
    assert record.quick_tests == [QuickTestRun("2025-11-21T06:05:00Z", 2, ["gpu"])]  # counted from the checks
    assert record.loaded == [LoadedModel("qwen2.5:7b", 6_000_000_000, 6_000_000_000),
                             LoadedModel("llama3.2:1b", 2_000_000_000, 1_000_000_000)]  # largest first
    assert record.loaded[1].gpu_percent == 50
    assert record.notes == []


def test_read_board_without_jetson_files_container_or_bench():
    record = report.read_board(FakeBoard(X86_SERVER), InventoryHost("x86", [], {}))
    assert (record.status, record.l4t, record.image, record.ollama_version, record.models) == (
        "not a Jetson", None, None, None, [])
    assert (record.tier, record.tier_basis) == ("green", "RAM in use")  # 50 % in use, no model to estimate
    assert record.bench is None and report.cells(record)["bench tokens/s"] == "-"
    assert (record.bench_history, record.quick_tests, record.loaded) == ([], [], [])  # nothing kept, no API
    assert report.cells(record)["loaded (RAM, GPU share)"] == "-"


def test_read_board_notes_what_is_wrong():
    answers = {**ORIN_NANO, "docker container inspect": fixture_output("containers.OllamaContainer", "exited"),
               "/api/version": "", report.BENCH_FILE: "{not json\n"}
    record = report.read_board(FakeBoard(answers), InventoryHost("nano-01", [], {"ollama_host": "nonsense"}))
    assert record.status == "ok"
    assert record.notes[0].startswith("host data: ollama_host: must be host:port")
    assert any(note.startswith("container ollama is exited") for note in record.notes)
    assert f"{report.BENCH_FILE} does not parse" in record.notes
    assert record.models == []  # the API does not answer


def test_parse_bench():
    assert report.parse_bench("") == (None, None)
    figures, problem = report.parse_bench(json.dumps(BENCH))
    assert problem is None and figures.tokens_per_s == {"qwen2.5:1.5b": 23.41, "qwen3:4b": 10.0}
    assert report.parse_bench("[1, 2]") == (None, f"{report.BENCH_FILE} does not parse")


# ---------------------------------------------------------------- rendering

def test_markdown_table_has_one_row_per_board():
    text = report.render_markdown(records(), generated=GENERATED, inventory="inventories/lab.py")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| " + " | ".join(report.COLUMNS) + " |"
    assert len(rows) == 1 + 4
    nano, unreachable, nx, x86 = rows[1:]
    assert nano.startswith("| nano-01 | 192.168.55.101 | ok | 36.2.0 / 6.0 | NVIDIA Jetson Orin Nano "
                           "| 2.8 / 7.4 GB (38 %) |")
    assert ("| qwen2.5:1.5b, qwen3:4b | qwen3:4b 3.0 GB (100 % GPU), qwen2.5:1.5b 1.0 GB (50 % GPU) "
            "| green (qwen3:4b estimated at 52 %) | qwen2.5:1.5b 23.4 (2025-11-21T06:00:00Z) |") in nano
    assert unreachable == "| nano-02 | 192.168.55.102 | unreachable: no answer within 5 s |" + " - |" * 10
    assert "container ollama is exited \\| restarting" in nx  # a pipe in a cell is escaped
    assert nx.count(" | ") == len(report.COLUMNS) - 1
    assert "| not a Jetson |" in x86 and "| black (RAM in use) |" in x86
    assert "4 boards, 3 reachable (1 green, 1 red, 1 black). Generated 2025-11-21 06:30 UTC." in text
    history = text.split("## History\n\n", 1)[1].split("\n\n")[0].splitlines()
    assert history == ["- nano-01: bench tokens/s 2025-11-20T06:00:00Z: qwen2.5:1.5b 22.9; 2025-11-21T06:00:00Z: "
                       "qwen2.5:1.5b 23.4; quick-test 2025-11-21T06:05:00Z: 5/6 OK (failed: gpu)"]  # nano-01's alone
    assert not [line for line in text.split("## History")[1].splitlines() if line.startswith("| ")]


def test_html_is_self_contained_with_the_table_and_one_ram_bar_per_reachable_board():
    html = report.render_html(records(), generated=GENERATED, inventory="inventories/lab.py")
    assert "<table" in html and html.count("<tr class=") == 4
    for name in ("nano-01", "nano-02", "nx-01", "x86"):
        assert f"<td>{name}</td>" in html
    assert "unreachable: no answer within 5 s" in html
    assert "<svg" in html
    ram_bars = re.findall(r'<rect class="bar ram tier-(\w+)"', html)
    assert ram_bars == ["green", "red", "black"]  # 38 %, 90 %, 97 % in use; nano-02 has none
    assert re.findall(r'<rect class="bar tps"', html) == ['<rect class="bar tps"']  # nano-01's one figure
    assert re.findall(r'<rect class="bar model-ram gpu-(\w+)"', html) == ["all", "part"]  # nano-01's two models
    history = html.split('<table class="history">', 1)[1].split("</table>", 1)[0]
    assert "<td>nano-01</td>" in history and "<li>2025-11-21T06:05:00Z: 5/6 OK (failed: gpu)</li>" in history
    assert "nx-01" not in history
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(link|script|img|iframe)\b|url\(|@import", html)
    assert "<style>" in html  # inline CSS


def test_html_escapes_board_data():
    record = BoardRecord("<b>evil</b>", "10.0.0.1", status="unreachable: <script>")
    html = report.render_html([record], generated=GENERATED)
    assert "<b>evil</b>" not in html and "&lt;b&gt;evil&lt;/b&gt;" in html and "<script>" not in html


def test_charts_scale():
    ram = report.ram_chart(records())
    assert [bar.label for bar in ram.bars] == ["nano-01", "nx-01", "x86"]
    nano = ram.bars[0]
    assert nano.width == pytest.approx(ram.plot_width * 2900 / 7620)
    assert nano.marker_x == pytest.approx(ram.plot_x + ram.plot_width * 0.52)  # the estimate's tick
    assert [label for _, label, _ in ram.guides] == ["70 %", "85 %", "95 %"]
    tps = report.tps_chart(records())
    assert [(bar.label, bar.value_text) for bar in tps.bars] == [("nano-01 qwen2.5:1.5b", "23.4 tok/s")]
    assert tps.ticks[-1][1] == "25"  # the axis ends at a round number above the best figure
    assert report.tps_chart([]).bars == [] and report.tps_chart([]).empty
    models = report.model_ram_chart(records())
    assert [(bar.label, bar.value_text) for bar in models.bars] == [
        ("nano-01 qwen3:4b", "3.0 GB, 100 % GPU"), ("nano-01 qwen2.5:1.5b", "1.0 GB, 50 % GPU")]
    assert models.bars[1].width == pytest.approx(models.plot_width * 1 / 5)  # 1 GB on an axis to 5 GB
    assert models.ticks[-1][1] == "5"
    assert report.model_ram_chart([]).bars == [] and report.model_ram_chart([]).empty == "no model loaded"


def test_parse_history_keeps_the_last_runs_and_notes_broken_lines():
    bench = "".join(json.dumps({"time": f"t{i}", "summary": {"m": {"tokens_per_s": i}}}) + "\n" for i in range(12))
    runs, quick, problems = report.parse_history(bench + "{half\n", "[1]\n\n")
    assert [run.time for run in runs] == [f"t{i}" for i in range(2, 12)]  # the last 10, oldest first
    assert runs[-1].tokens_per_s == {"m": 11.0}
    assert quick == [] and problems == [f"{BENCH_HISTORY}: 1 line that does not parse",
                                        f"{QUICK_TEST_HISTORY}: 1 line that does not parse"]
    assert report.parse_history("", "") == ([], [], [])


def test_parse_loaded():
    assert report.parse_loaded("") == [] and report.parse_loaded('{"models": null}') == []
    assert report.parse_loaded('{"models": [{"model": "a:1b", "size": 10, "size_vram": true}]}') == [
        LoadedModel("a:1b", 10, 0)]


def test_write_report(tmp_path):
    markdown, html = report.write_report(records(), tmp_path / "out", inventory="inventories/lab.py",
                                         generated=GENERATED)
    assert markdown.read_text().startswith("# Jetson fleet report: inventories/lab.py")
    assert html.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.skipif(not shutil.which("chromium"), reason="no chromium on PATH")
def test_the_png_shows_the_whole_page(tmp_path):
    # twelve rows and three charts: taller than the old 1200x900 window, and the table wider than 1200
    _, html = report.write_report(records() * 3, tmp_path, generated=GENERATED)
    png = tmp_path / "report.png"
    assert report.screenshot(html, png) is True
    width, height = struct.unpack(">II", png.read_bytes()[16:24])  # the PNG's IHDR
    with tempfile.TemporaryDirectory() as profile:
        page = report.page_size(shutil.which("chromium"), html, width, profile, 60)
    assert page is not None and (width, height) == page
    assert width >= 1200 and height > 900
    assert "<script" not in html.read_text() and sorted(p.name for p in tmp_path.iterdir()) == [
        "report.html", "report.md", "report.png"]  # the measuring copy is gone, the report has no script


def test_screenshot_needs_chromium(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert report.screenshot(tmp_path / "report.html", tmp_path / "report.png") is False


# ---------------------------------------------------------------- the inventory helper

def test_load_inventory_reads_the_lab_inventory_without_connecting():
    hosts = remote.load_inventory("inventories/lab.py", cwd=REPO)
    assert [host.name for host in hosts] == ["nano-01", "nano-02", "nx-01", "agx-01"]
    nano = hosts[0]
    assert "orin_nano_8gb" in nano.groups and nano.address == "192.168.55.101"
    assert nano.data["ollama_context_length"] == 4096
    target = remote.ssh_target(nano)
    assert (target.hostname, target.port, target.user, target.sudo) == ("192.168.55.101", 22, "jetson", True)
    assert target.known_hosts.endswith("/.ssh/known_hosts") and target.key_filename.endswith("/.ssh/id_ed25519")
    assert not target.look_for_keys and not target.allow_agent  # only the inventory's key, as pyinfra


def test_load_inventory_error(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise SystemExit('no fleet here')\n")
    with pytest.raises(remote.InventoryError, match="could not read"):
        remote.load_inventory(broken)
    with pytest.raises(remote.InventoryError, match="no inventory file"):  # pyinfra would list no hosts
        remote.load_inventory(tmp_path / "missing.py")


def test_sudo_problem():
    class NoPasswordlessSudo:
        def run(self, command):
            return CommandResult(1, "", "sudo: a password is required\n")

    lab = remote.ssh_target(InventoryHost("nano-01", [], {"ssh_user": "jetson", "_sudo": True}))
    assert remote.sudo_problem(NoPasswordlessSudo(), lab) == (
        "sudo -n as jetson failed (sudo: a password is required): _sudo needs NOPASSWD sudo for this user")
    assert remote.sudo_problem(FakeBoard({}), lab) is None
    root = remote.ssh_target(InventoryHost("b1", [], {"ssh_user": "root", "_sudo": True}))
    assert not root.sudo and remote.sudo_problem(NoPasswordlessSudo(), root) is None


def test_sudo_command():
    assert remote.sudo_command("cat '/x y'") == "sudo -n sh -c 'cat '\"'\"'/x y'\"'\"''"
    assert remote.sudo_command("id", "ollama") == "sudo -n -u ollama sh -c id"


# ---------------------------------------------------------------- over SSH (an SSH server in this process)

class _Server(paramiko.ServerInterface):
    def __init__(self, client_key, answer, seen):
        self.client_key, self.answer, self.seen = client_key, answer, seen

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        return paramiko.AUTH_SUCCESSFUL if key == self.client_key else paramiko.AUTH_FAILED

    def check_channel_exec_request(self, channel, command):
        self.seen.append(command.decode())
        threading.Thread(target=self._exec, args=(channel, command.decode()), daemon=True).start()
        return True

    def _exec(self, channel, command):
        time.sleep(0.02)  # let the transport send its reply to the exec request first
        rc, out = self.answer(command)
        channel.sendall(out.encode())
        channel.send_exit_status(rc)
        channel.close()


@pytest.fixture
def ssh_board(tmp_path):
    """A board's SSH server on 127.0.0.1 answering the Orin Nano's outputs; yields (host data, commands seen)."""
    host_key, client_key = paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()
    client_key.write_private_key_file(str(tmp_path / "id_ecdsa"))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    seen, transports = [], []

    def handshake(conn):
        transport = paramiko.Transport(conn)
        transport.add_server_key(host_key)
        transports.append(transport)
        try:
            transport.start_server(server=_Server(client_key, responder(ORIN_NANO), seen))
        except (paramiko.SSHException, EOFError, OSError):
            pass  # a client that refused our host key hangs up during the handshake

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handshake, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    data = {"ssh_hostname": "127.0.0.1", "ssh_port": port, "ssh_user": "jetson", "ssh_key": str(tmp_path / "id_ecdsa"),
            "ssh_known_hosts_file": str(tmp_path / "known_hosts"), "_sudo": True}
    yield data, seen
    listener.close()
    for transport in transports:
        transport.close()


def test_gather_over_ssh_with_strict_host_keys_and_sudo(ssh_board):
    data, seen = ssh_board
    record = report.gather(InventoryHost("nano-01", [], data))
    assert (record.status, record.l4t, record.image) == ("ok", "36.2.0", "ollama:r36.2.0-cu122-22.04")
    assert seen and all(command.startswith("sudo -n sh -c ") for command in seen)  # _sudo, as pyinfra


def test_an_unknown_host_key_is_refused(ssh_board, tmp_path):
    data, seen = ssh_board
    (tmp_path / "other_known_hosts").write_text(
        f"[127.0.0.1]:{data['ssh_port']} ecdsa-sha2-nistp256 {paramiko.ECDSAKey.generate().get_base64()}\n")
    other = {**data, "ssh_known_hosts_file": str(tmp_path / "other_known_hosts")}
    record = report.gather(InventoryHost("nano-01", [], other))
    assert record.status.startswith("unreachable: host key of ") and "does not match" in record.status
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    record = report.gather(InventoryHost("nano-01", [], {**data, "ssh_known_hosts_file": str(empty)}))
    assert record.status == (f"unreachable: host key of 127.0.0.1:{data['ssh_port']} is not in {empty} "
                             "(strict host key checking: add it after checking the board's fingerprint)")
    assert seen == []  # no command ran on a board whose key did not match


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def test_collect_turns_unreachable_boards_into_rows(tmp_path, ssh_board):
    data, _ = ssh_board
    refused = {**data, "ssh_port": _closed_port()}
    no_known_hosts = {**data, "ssh_known_hosts_file": str(tmp_path / "missing")}
    hosts = [InventoryHost("down", [], refused), InventoryHost("up", [], data),
             InventoryHost("nokeys", [], no_known_hosts)]
    rows = report.collect(hosts, timeout=2)
    assert [row.name for row in rows] == ["down", "up", "nokeys"]
    assert rows[0].status.startswith("unreachable: connection refused")
    assert rows[1].status == "ok"
    assert rows[2].status == (f"unreachable: known_hosts file {tmp_path / 'missing'} does not exist "
                              "(ssh_known_hosts_file)")


def test_command_line(tmp_path, ssh_board):
    data, _ = ssh_board
    inventory = tmp_path / "fleet.py"
    inventory.write_text(f"boards = [('up', {data!r}), ('down', {{**{data!r}, 'ssh_port': {_closed_port()}}})]\n")
    command = [sys.executable, "-m", "jetson_ollama", "report", str(inventory), "-o", str(tmp_path / "out")]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "up: ok" in proc.stdout and "down: unreachable: connection refused" in proc.stdout
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| up | 127.0.0.1 | ok | 36.2.0 / 6.0 |" in markdown
    assert "| down | 127.0.0.1 | unreachable: connection refused" in markdown
    assert "<svg" in (tmp_path / "out" / "report.html").read_text()


def test_command_line_with_a_bad_inventory(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jetson_ollama", "report", str(tmp_path / "nope.py")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no inventory file" in proc.stdout
