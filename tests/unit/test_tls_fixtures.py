"""ollama_tls's fact and operations against their recorded fixtures (tests/unit/facts/proxy.*,
tests/unit/operations/proxy.*), the fact's command run for real, and the nginx config it writes."""

from __future__ import annotations

import inspect
import json
import subprocess
from pathlib import Path

import pytest
from pyinfra_testing.facts import make_fact_tests
from pyinfra_testing.operations import make_operation_tests

from jetson_ollama.facts import proxy as proxy_facts
from jetson_ollama.facts.proxy import NginxBuild
from jetson_ollama.operations import proxy

UNIT = Path(__file__).parent
OPERATIONS = [name for name, function in inspect.getmembers(proxy, inspect.isfunction)
              if hasattr(function, "_inner") and function.__module__ == proxy.__name__]

TestFixtures_proxy_NginxBuild = make_fact_tests("jetson_ollama.facts", "proxy.NginxBuild",
                                                UNIT / "facts" / "proxy.NginxBuild")
for _name in OPERATIONS:
    globals()[f"TestFixtures_proxy_{_name}"] = make_operation_tests(
        "jetson_ollama.operations", f"proxy.{_name}", UNIT / "operations" / f"proxy.{_name}")


def _cases(folder: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}


def test_the_fact_has_three_cases_one_of_them_the_default_from_no_output():
    cases = _cases(UNIT / "facts" / "proxy.NginxBuild")
    assert len(cases) >= 3
    assert any(case["output"] == [] and case["fact"] == NginxBuild.default() for case in cases.values())
    assert [name for name, cls in inspect.getmembers(proxy_facts, inspect.isclass)
            if cls.__module__ == proxy_facts.__name__ and name != "NginxDict"] == ["NginxBuild"]


@pytest.mark.parametrize("name", OPERATIONS)
def test_every_operation_has_a_first_run_and_a_noop_run(name):
    cases = _cases(UNIT / "operations" / f"proxy.{name}")
    assert any(case.get("commands") for case in cases.values()), "no case that changes something"
    assert any(case.get("commands") == [] and case.get("noop_description") for case in cases.values()), "no no-op"


def test_the_fact_command_cannot_fail_here():
    proc = subprocess.run(["sh", "-c", NginxBuild().command()], capture_output=True, text=True)
    assert proc.returncode == 0
    NginxBuild().process(proc.stdout.splitlines())  # whatever this machine has, it parses


def test_the_config_pins_the_key_check_and_passes_no_key_upstream():
    conf = proxy.proxy_conf("10.0.0.5:11443", "127.0.0.1:11434")
    assert "listen 10.0.0.5:11443 ssl;" in conf and "proxy_pass http://127.0.0.1:11434;" in conf
    assert "auth_request /_jetson_ollama_keys;" in conf and "proxy_pass http://127.0.0.1:11436/;" in conf
    assert 'proxy_set_header Authorization "";' in conf  # the key stops at the proxy
    assert "include" not in conf  # nothing of /etc/nginx (its default site on port 80) comes in
