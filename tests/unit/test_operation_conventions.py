"""Every operation of the library follows pyinfra's conventions and has the fixture cases a reader
expects: something to change, a converged board (noop), and bad input."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from jetson_ollama.operations import bundle, cache, firewall, jetson_containers, models, ollama, rollback, tuning
from jetson_ollama.operations import native

FIXTURES = Path(__file__).parent / "operations"
# board.py's operations (refused, nvidia_runtime) are exercised on simulated boards (tests/sim/test_stages.py)
MODULES = {"jetson_containers": jetson_containers, "ollama": ollama, "models": models, "rollback": rollback,
           "cache": cache, "tuning": tuning, "firewall": firewall}
MODULES["bundle"] = bundle  # installing from an offline bundle (fixtures run in test_bundle_ops.py)
BUNDLE_OPERATIONS = {"bundle.image_loaded", "bundle.model_copied"}
MODULES["native"] = native  # jetson_runtime: native
NATIVE_OPERATIONS = {"native.installed", "native.store_owned", "native.container_removed"}
OPERATIONS = {
    f"{module_name}.{name}": function
    for module_name, module in MODULES.items()
    for name, function in inspect.getmembers(module, inspect.isfunction)
    if hasattr(function, "_inner") and function.__module__ == module.__name__
}


def test_the_operations_are_the_expected_ones():
    assert set(OPERATIONS) == NATIVE_OPERATIONS | BUNDLE_OPERATIONS | {
                               "jetson_containers.installed", "ollama.image_pulled", "ollama.image_built",
                               "ollama.container", "ollama.api_ready", "models.present", "models.absent",
                               "models.pruned", "models.fetched", "rollback.previous_restored",
                               "rollback.previous_removed", "cache.insecure_registry", "cache.image_pushed",
                               "cache.image_from_registry", "tuning.power_mode", "tuning.clocks_at_boot",
                               "tuning.default_target", "tuning.zram_swap", "tuning.swapfile",
                               "tuning.docker_data_root", "firewall.api_admits"}


@pytest.mark.parametrize("op_path", OPERATIONS)
def test_every_operation_has_absent_converged_changed_and_bad_input_cases(op_path):
    cases = [json.loads(path.read_text()) for path in (FIXTURES / op_path).glob("*.json")]
    assert any(case["commands"] and "exception" not in case for case in cases), "no case that changes something"
    assert any(not case["commands"] and case.get("noop_description") for case in cases), "no converged case"
    assert any("exception" in case for case in cases), "no bad-input case"
    assert all(case.get("note") for case in cases)


@pytest.mark.parametrize("op_path", OPERATIONS)
def test_docstrings_follow_pyinfra(op_path):
    doc = inspect.getdoc(OPERATIONS[op_path])
    first, _, rest = doc.partition("\n\n")
    assert "\n" not in first and first.endswith(".")
    parameters = [name for name in inspect.signature(OPERATIONS[op_path]._inner).parameters]
    assert [line.split(":")[0][2:] for line in rest.splitlines() if line.startswith("+ ")] == parameters
    assert "**Examples:**" in doc and re.search(rf"{op_path}\(\n\s+name=", doc)
