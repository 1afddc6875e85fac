"""ollama_webui's operations against their recorded fixtures (tests/unit/operations/webui.*): at least
three cases each, a change and a no-op among them."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from pyinfra_testing.operations import make_operation_tests

from jetson_ollama.operations import webui

UNIT = Path(__file__).parent
OPERATIONS = [name for name, function in inspect.getmembers(webui, inspect.isfunction)
              if hasattr(function, "_inner") and function.__module__ == webui.__name__]

for _name in OPERATIONS:
    globals()[f"TestFixtures_webui_{_name}"] = make_operation_tests(
        "jetson_ollama.operations", f"webui.{_name}", UNIT / "operations" / f"webui.{_name}")


def _cases(folder: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}


def test_the_operations_are_the_four_of_the_stage():
    assert sorted(OPERATIONS) == ["absent", "container", "image", "secret_key"]


@pytest.mark.parametrize("name", OPERATIONS)
def test_every_operation_has_three_cases_a_change_and_a_noop(name):
    cases = _cases(UNIT / "operations" / f"webui.{name}")
    assert len(cases) >= 3
    assert any(case.get("commands") for case in cases.values()), "no case that changes something"
    assert any(case.get("commands") == [] and case.get("noop_description") for case in cases.values()), "no no-op"
