"""Progress at pyinfra's default verbosity (jetson_ollama/progress.py and the Progress code of the board-side
scripts): ProgressCommand prints its output whatever the verbosity and still compares as its string; the
watch loop prints at most one line every 5 s for a command that runs 12 s, its summaries of docker,
jetson-containers and curl logs, its failure tail; the model line's figures."""

from __future__ import annotations

import ast
import re
import importlib.util
import subprocess
import time
from pathlib import Path

import pytest
from pyinfra.api import QuoteString, StringCommand

from jetson_ollama.progress import SUMMARIES, ProgressCommand, log_path, printed, watch_script, watched

FILES = Path(__file__).parents[2] / "jetson_ollama" / "files"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), FILES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- ProgressCommand


class _Host:
    def __init__(self):
        self.calls = []

    def run_shell_command(self, command, **kwargs):
        self.calls.append((command, kwargs))
        return True, []


class _State:
    print_output = False  # pyinfra's default verbosity
    print_input = False


def test_a_progress_command_prints_its_output_at_the_default_verbosity():
    host, plain = _Host(), _Host()
    command = ProgressCommand("python3", QuoteString("/usr/local/lib/jetson-ollama/ollama-pull.py"), _sudo=True)
    command.execute(_State(), host, {"_timeout": 5})
    StringCommand("true").execute(_State(), plain, {})
    assert host.calls == [(command, {"print_output": True, "print_input": False, "_timeout": 5, "_sudo": True})]
    assert plain.calls[0][1]["print_output"] is False  # every other command as before


def test_a_failed_progress_command_leaves_only_its_errors_for_pyinfra_to_print_again():
    from pyinfra.connectors.util import CommandOutput, OutputLine

    class Failing(_Host):
        def run_shell_command(self, command, **kwargs):
            return False, CommandOutput([OutputLine("stdout", "m  pulling  1/4 GB"), OutputLine("stderr", "failed")])

    status, output = ProgressCommand("python3 pull.py").execute(_State(), Failing(), {})
    assert status is False and output.output_lines == ["failed"]


def test_a_progress_command_compares_and_prints_as_its_string_command():
    words = ("docker pull", QuoteString("dustynv/ollama:r36.2.0"))
    progress, plain = ProgressCommand(*words), StringCommand(*words)
    assert progress == plain and plain == progress
    assert str(progress) == str(plain) == "docker pull dustynv/ollama:r36.2.0"
    assert repr(progress) == repr(plain) and progress.get_raw_value() == plain.get_raw_value()
    assert progress != StringCommand("docker pull", QuoteString("dustynv/ollama:r36.4.0"))
    again = printed(StringCommand("a", QuoteString("b c"), _separator=" ", _sudo=True))
    assert isinstance(again, ProgressCommand) and str(again) == "a 'b c'"
    assert again.connector_arguments == {"_sudo": True}


def test_the_fake_connector_prints_a_progress_commands_lines_with_the_board_prefix(monkeypatch):
    from pyinfra.api import Config, Inventory, State, output
    from pyinfra.api.connect import connect_all

    echoed = []
    monkeypatch.setattr(output, "_echo", lambda message=None, **kwargs: echoed.append(message))  # the CLI's click.echo
    line = "qwen2.5:0.5b  pulling  0.2/0.4 GB  50%  21.3 MB/s  ETA 9 s"
    inventory = Inventory(([("@fake/board1", {"fake_responses": {"ollama-pull.py": [line]}, "fake_delay": 0})], {}))
    state = State(inventory, Config())
    connect_all(state)
    host = inventory.get_host("@fake/board1")
    assert not state.print_output
    status, _ = ProgressCommand("python3 /usr/local/lib/jetson-ollama/ollama-pull.py").execute(state, host, {})
    StringCommand("python3 /usr/local/lib/jetson-ollama/ollama-pull.py --delete x").execute(state, host, {})
    assert status and echoed == [f"{host.print_prefix}{line}"]  # the pull's line, not the delete's


# ---- the watch loop, run for real


def _timed(command: list[str]) -> tuple[list[tuple[float, str]], subprocess.Popen]:
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [(time.monotonic() - started, line.rstrip("\n")) for line in proc.stdout]
    proc.wait(timeout=30)
    return [(0.0, ""), *lines], proc


def test_a_command_that_prints_for_12_s_gets_a_line_every_5_s_and_a_final_one(tmp_path):
    chatty = StringCommand("for i in $(seq 24); do echo \"Step $i/24 : RUN make part$i\"; echo noise; sleep 0.5; done")
    lines, proc = _timed(["sh", "-c", watched(chatty, "build ollama:r36", str(tmp_path / "logs" / "b.log"),
                                              "build").get_raw_value()])
    assert proc.returncode == 0, proc.stderr.read()
    gaps = [later[0] - earlier[0] for earlier, later in zip(lines, lines[1:], strict=False)]
    assert max(gaps) <= 10, lines
    printed_lines = [text for _, text in lines[1:]]
    assert len(printed_lines) == 3, printed_lines  # at 5 s and 10 s, and the end: never the 48 lines it printed
    # five 1 s sleeps of the loop: 5 s, or 6 s on a loaded machine
    assert re.fullmatch(r"build ollama:r36: [56] s, step \d+/24; last: noise", printed_lines[0]), printed_lines
    assert re.fullmatch(r"build ollama:r36: done in 1[234] s", printed_lines[-1]), printed_lines
    assert (tmp_path / "logs" / "b.log").read_text().count("noise") == 24  # the whole output kept


def test_a_failing_command_exits_as_it_did_with_the_tail_of_its_log_on_stderr(tmp_path):
    failing = StringCommand("seq 30; echo 'E: Unable to locate package nope' >&2; exit 3")
    result = subprocess.run(["sh", "-c", watched(failing, "download x.tgz", str(tmp_path / "d.log")).get_raw_value()],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 3 and result.stdout == ""
    err = result.stderr.splitlines()
    log = re.escape(str(tmp_path / "d.log"))
    assert re.fullmatch(rf"download x.tgz: failed after [01] s \(exit 3\); the last lines of {log}:", err[0])
    assert err[1:] == [str(n) for n in range(12, 31)] + ["E: Unable to locate package nope"]


def test_a_log_that_cannot_be_written_falls_back_to_a_temporary_file():
    result = subprocess.run(["sh", "-c", watched(StringCommand("echo hi"), "x", "/proc/no/such/x.log").get_raw_value()],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stderr == "" and re.fullmatch(r"x: done in [01] s\n", result.stdout)


def _summary(kind: str, log: str) -> str:
    return subprocess.run(["sh", "-c", SUMMARIES[kind]], input=log, capture_output=True, text=True, check=True).stdout


def test_docker_summary_counts_layers_done_of_those_seen():
    # `docker pull` without a TTY (docker/cli pkg/jsonmessage: no progress bars, a line per layer and state)
    log = ("r36.2.0: Pulling from dustynv/ollama\n"
           "a1b2c3d4e5f6: Pulling fs layer\nb2c3d4e5f6a7: Pulling fs layer\nc3d4e5f6a7b8: Already exists\n"
           "a1b2c3d4e5f6: Verifying Checksum\na1b2c3d4e5f6: Download complete\na1b2c3d4e5f6: Pull complete\n")
    assert _summary("docker", log) == "layers 2/3"
    assert _summary("docker", "Using default tag: latest\n") == ""


def test_build_summary_names_the_jetson_containers_stage_and_the_docker_step():
    # jetson_containers/container.py build_container @16f7cf41: log_status lines with colours and a status bar
    status = ("\x1b[1;23r\x1b[?6l\x1b[2J\x1b[H[14:02:03]  \x1b[34m[2/9] Building cuda (ollama:r36.4.tegra-aarch64-"
              "cu126-22.04-cuda)        1 stages completed in 00m41s at 14:02:03\x1b[0m\n")
    log = status + "Step 1/14 : ARG BASE_IMAGE\n ---> Running in 1a2b\nStep 7/14 : RUN apt-get update\n"
    assert _summary("build", log) == "[2/9] Building cuda, step 7/14"
    assert _summary("build", "-- Building containers  ['ollama']\n-- Building container ollama:r36.2.0-cu122-22.04-"
                             "ollama\n\nStep 3/12 : COPY ollama /usr/local/bin/ollama\n") \
        == "Building ollama:r36.2.0-cu122-22.04-ollama, step 3/12"
    assert _summary("build", "cloning\n") == ""


def test_curl_summary_reads_the_last_row_of_its_meter():
    meter = ("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
             "                                 Dload  Upload   Total   Spent    Left  Speed\n"
             "\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
             "\r 45 1204M   45  542M    0     0  20.1M      0  0:00:59  0:00:26  0:00:33 21.3M")
    assert _summary("curl", meter) == "542MB of 1204MB (45%), 21.3MB/s"


def test_watch_script_refuses_what_it_cannot_run():
    with pytest.raises(ValueError):
        watch_script("x", "/tmp/x.log", "rsync")
    with pytest.raises(ValueError):
        watch_script("x", "/tmp/x.log", every=0)


def test_log_paths_are_one_file_per_step_under_var_log():
    assert log_path("build-ollama:r36.2.0-cu122-22.04") == "/var/log/jetson-ollama/build-ollama_r36.2.0-cu122-22.04.log"
    assert log_path("pull-10.0.0.5:5000/x/y:z") == "/var/log/jetson-ollama/pull-10.0.0.5_5000_x_y_z.log"


# ---- the model line of ollama-pull.py and ollama-fetch.py


def _progress_source(name: str) -> str:
    text = (FILES / f"{name}.py").read_text()
    tree = ast.parse(text)
    wanted = {"duration", "Progress", "Ticker"}
    return "\n".join(ast.get_source_segment(text, node) for node in tree.body if getattr(node, "name", "") in wanted)


def test_both_scripts_carry_the_same_progress_code():
    assert _progress_source("ollama-pull") == _progress_source("ollama-fetch") != ""


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (7.4, "7 s"), (59.6, "1 min 00 s"), (125, "2 min 05 s"),
                                           (3725, "1 h 02 min")])
def test_durations_read_as_a_user_would_say_them(seconds, text):
    assert _script("ollama-pull").duration(seconds) == text


def test_the_model_line_gives_bytes_of_the_whole_model_percent_rate_and_eta():
    script = _script("ollama-pull")
    clock = _Clock()
    progress = script.Progress("qwen2.5:7b", "pulling", every=4, clock=clock)
    assert not progress.due() and progress.line() == "qwen2.5:7b  pulling"
    progress.update("sha256:a", 4_700_000_000, 0)
    progress.update("sha256:b", 11_343, 11_343)
    clock.now += 10
    progress.update("sha256:a", 4_700_000_000, 213_000_000)
    assert progress.due()
    assert progress.line() == "qwen2.5:7b  pulling  0.2/4.7 GB  4%  21.3 MB/s  ETA 3 min 31 s"
    assert not progress.due()
    clock.now += 4
    assert progress.due()
    clock.now += 5  # nothing for 9 s: two intervals
    assert progress.line() == "qwen2.5:7b  pulling  0.2/4.7 GB  4%  no data for 9 s"
    progress.update("sha256:a", 4_700_000_000, 4_700_000_000)
    progress.set_status("verifying sha256 digest")
    assert progress.line() == "qwen2.5:7b  verifying sha256 digest  4.7/4.7 GB  100%"


# ---- a release download through the watch loop, against the simulated GitHub releases paced


def test_a_paced_release_download_shows_curls_bytes_every_5_s(tmp_path, monkeypatch):
    import threading
    from http.server import ThreadingHTTPServer

    from jetson_ollama.operations import native
    from jetson_sim.upstream import github_releases
    from tests.unit.test_native import run_op

    served = github_releases.Releases(versions=("0.6.8",))
    served.pace = 15_000  # the ~130 kB of ollama-linux-arm64.tgz (the one-file simulated server) in about 9 s
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (github_releases.Handler,), {
        "releases": served, "log_request": lambda *a, **k: None}))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setattr(native, "STAGING", str(tmp_path / "staging"))
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ollama/ollama/releases/download"
        archive = served.listing()["0.6.8"]["ollama-linux-arm64.tgz"]
        digest = archive["sha256"]
        commands, _ = run_op(native.installed, {"native.NativeInstall": {"prefix=/usr/local": {}}}, version="0.6.8",
                             archives={"ollama-linux-arm64.tgz": digest}, url=url)
        download = next(command for command in commands if "curl -fSL" in command)
        (tmp_path / "staging" / "0.6.8").mkdir(parents=True)
        lines, proc = _timed(["sh", "-c", download])
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr.read()
    texts = [text for _, text in lines[1:]]
    first = rf"download ollama-linux-arm64\.tgz: [56] s, \d+k?B of {archive['size'] // 1024}kB \(\d+%\), \d+k?B/s"
    assert re.fullmatch(first, texts[0]), texts
    assert re.fullmatch(r"download ollama-linux-arm64\.tgz: done in \d+ s", texts[-1]), texts
    assert (tmp_path / "staging" / "0.6.8" / "ollama-linux-arm64.tgz").stat().st_size == archive["size"]
