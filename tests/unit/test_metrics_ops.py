"""The metrics' fact and operations: pyinfra-testing fixtures (tests/unit/facts/metrics.*,
tests/unit/operations/metrics.*), the fact's command run for real, and the exporter's arguments as the
package's shell would read the line the operation writes."""

from __future__ import annotations

import inspect
import json
import subprocess
from pathlib import Path

import pytest
from pyinfra.api import FactBase
from pyinfra_testing.facts import make_fact_tests
from pyinfra_testing.operations import make_operation_tests

from jetson_ollama.config import ConfigError, settings
from jetson_ollama.facts import metrics as metrics_facts
from jetson_ollama.facts.metrics import ExporterArgs
from jetson_ollama.operations import metrics
from jetson_ollama.stages.metrics import COLLECT_EVERY

HERE = Path(__file__).parent
FACTS = [name for name, cls in inspect.getmembers(metrics_facts, inspect.isclass)
         if issubclass(cls, FactBase) and cls.__module__ == metrics_facts.__name__]
OPERATIONS = [name for name, function in inspect.getmembers(metrics, inspect.isfunction)
              if hasattr(function, "_inner") and function.__module__ == metrics.__name__]

for _name in FACTS:
    globals()[f"TestFixtures_metrics_{_name}"] = make_fact_tests(
        "jetson_ollama.facts", f"metrics.{_name}", HERE / "facts" / f"metrics.{_name}")
for _name in OPERATIONS:
    globals()[f"TestFixtures_metrics_{_name}"] = make_operation_tests(
        "jetson_ollama.operations", f"metrics.{_name}", HERE / "operations" / f"metrics.{_name}")


@pytest.mark.parametrize("name", FACTS)
def test_every_fact_has_three_cases_one_of_them_no_output_and_the_default(name):
    folder = HERE / "facts" / f"metrics.{name}"
    assert len(list(folder.glob("*.json"))) >= 3
    fact = getattr(metrics_facts, name)()
    assert fact.process([]) == fact.default()


@pytest.mark.parametrize("name", OPERATIONS)
def test_every_operation_has_fixtures(name):
    assert len(list((HERE / "operations" / f"metrics.{name}").glob("*.json"))) >= 2


def test_the_fact_reads_a_file_the_shell_would(tmp_path):
    path = tmp_path / "prometheus-node-exporter"
    command = ExporterArgs().command().replace(metrics_facts.EXPORTER_DEFAULTS, str(path))
    read = lambda: ExporterArgs().process(  # noqa: E731
        subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout.splitlines())
    assert read() == {"present": False, "args": ""}  # no file: the command still succeeds
    path.write_text(metrics.DEFAULTS_HEAD + metrics.DEFAULTS_HEAD.replace("#", "# ARGS=x #")
                    + "ARGS=" + "'" + metrics.exporter_arguments("10.0.0.21") + "'\n")
    assert read() == {"present": True, "args": metrics.exporter_arguments("10.0.0.21")}
    shell = subprocess.run(["sh", "-c", f". {path}; printf %s \"$ARGS\""], capture_output=True, text=True, check=True)
    assert shell.stdout == metrics.exporter_arguments("10.0.0.21")  # what systemd's $ARGS gets


def test_the_units_run_the_collector_against_the_api_every_interval():
    service = metrics.service_text("http://10.0.0.21:11434")
    assert f"ExecStart=/usr/bin/python3 {metrics.COLLECTOR_DEST} --api http://10.0.0.21:11434 " \
           f"--textfile-dir {metrics.TEXTFILE_DIR}" in service
    assert "Type=oneshot" in service
    timer = metrics.timer_text(COLLECT_EVERY)
    assert f"OnUnitActiveSec={COLLECT_EVERY}s" in timer and "WantedBy=timers.target" in timer


def test_the_rewrite_keeps_the_packaged_comments_and_leaves_one_args_line(tmp_path):
    fixture = json.loads((HERE / "operations" / "metrics.exporter_args" / "packaged.json").read_text())
    path = tmp_path / "prometheus-node-exporter"
    path.write_text(metrics.DEFAULTS_HEAD + 'ARGS=""\n')
    command = fixture["commands"][0].replace(metrics_facts.EXPORTER_DEFAULTS, str(path))
    subprocess.run(["sh", "-c", command], check=True)
    text = path.read_text()
    assert text.startswith(metrics.DEFAULTS_HEAD) and text.count("ARGS=") == 1
    shell = subprocess.run(["sh", "-c", f". {path}; printf %s \"$ARGS\""], capture_output=True, text=True, check=True)
    assert shell.stdout == metrics.exporter_arguments("127.0.0.1")


def test_the_exporter_listens_on_the_lan_address_clients_reach():
    from jetson_ollama.stages.metrics import listen_address

    from .test_board_scripts import sample_plan

    assert listen_address(sample_plan(11434, [])) == "127.0.0.1"
    plan = sample_plan(11434, [])
    lan = type(plan)(**{**plan.__dict__, "settings": settings({"ollama_allow_from": ["10.0.0.0/24"],
                                                              "ollama_bind_address": "10.0.0.21"})})
    assert listen_address(lan) == "10.0.0.21"
    behind_tls = type(plan)(**{**plan.__dict__, "settings": settings(
        {"ollama_allow_from": ["10.0.0.0/24"], "ollama_bind_address": "10.0.0.21", "ollama_tls": True,
         "ollama_api_keys": ["sha256:" + "a" * 64]})})
    assert behind_tls.settings.api_address == "127.0.0.1"  # Ollama moved behind the proxy
    assert listen_address(behind_tls) == "10.0.0.21"  # the exporter stays where Prometheus reaches it


def test_metrics_are_off_unless_asked():
    assert settings().ollama_metrics is False
    with pytest.raises(ConfigError, match=r"^ollama_metrics: must be True or False \(got 'yes'\)$"):
        settings({"ollama_metrics": "yes"})
