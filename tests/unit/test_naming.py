"""jetson-containers' image names: the rules of data/image_tags.yaml against the names the real code gives.

tests/unit/data/jetson_containers_names.yaml holds what dusty-nv/jetson-containers' own code computed,
commit by commit, on mocked boards (scripts/upstream_names.py made it); each case's id names its commit.
"""

from datetime import date
from pathlib import Path

import pytest
import yaml

from jetson_ollama.naming import BoardInputs, NoNaming, ambiguous_day, known_commit, naming, rule_at, rules
from jetson_ollama.releases import L4TRelease

ORACLE = yaml.safe_load((Path(__file__).parent / "data" / "jetson_containers_names.yaml").read_text())
PIN = "16f7cf4145d9f943230b4c92bc2183853a2aeb30"


def _board(row: dict) -> BoardInputs:
    return BoardInputs(l4t=L4TRelease.parse(row["l4t"]), ubuntu=row["ubuntu"], cuda_json=row.get("cuda_json"),
                       cudart=row.get("cudart"), gpu_name=row.get("gpu_name"), kernel=row.get("kernel") or "")


# the cases the issue named, at the pinned commit: CUDA from the board, the SBSA rule for Thor
ORIN = "Orin (nvgpu)"
THOR = "NVIDIA Thor"


@pytest.mark.parametrize("board, image", [
    pytest.param(dict(l4t="36.2.0", ubuntu="22.04", cuda_json="12.2.140", gpu_name=ORIN),
                 "ollama:r36.2.0-cu122-22.04", id="16f7cf41-36.2.0-cuda12.2"),
    pytest.param(dict(l4t="36.3.0", ubuntu="22.04", cuda_json=None, gpu_name=ORIN),
                 "ollama:r36.3.0-cu124-22.04", id="16f7cf41-36.3.0-nocuda"),
    pytest.param(dict(l4t="36.4.7", ubuntu="22.04", cuda_json=None, gpu_name=ORIN),
                 "ollama:r36.4.tegra-aarch64-cu122-22.04", id="16f7cf41-36.4.7-nocuda"),
    pytest.param(dict(l4t="36.4.7", ubuntu="22.04", cuda_json=None, cudart="12.6.68", gpu_name=ORIN),
                 "ollama:r36.4.tegra-aarch64-cu126-22.04", id="16f7cf41-36.4.7-cudart"),
    pytest.param(dict(l4t="36.4.3", ubuntu="22.04", cuda_json="12.6.68", gpu_name=ORIN),
                 "ollama:r36.4.tegra-aarch64-cu126-22.04", id="16f7cf41-36.4.3-cuda12.6"),
    pytest.param(dict(l4t="35.4.1", ubuntu="20.04", cuda_json="11.4.315", gpu_name=None),
                 "ollama:r35.4.1-cu114-20.04", id="16f7cf41-35.4.1-cuda11.4"),
    pytest.param(dict(l4t="35.4.1", ubuntu="20.04", cuda_json=None, gpu_name=None),
                 "ollama:r35.4.1-cu00-20.04", id="16f7cf41-35.4.1-nocuda"),
    pytest.param(dict(l4t="38.2.0", ubuntu="24.04", cuda_json="13.0.48", gpu_name=THOR, kernel="6.8.12-tegra"),
                 "ollama:r38.2.aarch64-cu130-24.04", id="16f7cf41-38.2.0-thor"),
    pytest.param(dict(l4t="38.4.0", ubuntu="24.04", cuda_json="13.0.48", gpu_name=THOR, kernel="6.8.12-tegra"),
                 "ollama:r38.2.aarch64-cu130-24.04", id="16f7cf41-38.4.0-thor"),
])
def test_the_pinned_commit_names_images_from_the_board(board, image):
    rule = rule_at(known_commit(PIN).committed, PIN)
    assert naming(rule, _board(board)).image() == image


def test_versioned_packages_and_build_stages():
    computed = naming(rule_at(known_commit(PIN).committed, PIN),
                      _board(dict(l4t="36.4.3", ubuntu="22.04", cuda_json="12.6.68", gpu_name=ORIN)))
    assert computed.image("ollama:0.11.8") == "ollama:0.11.8-r36.4.tegra-aarch64-cu126-22.04"
    assert computed.stage("ollama:0.11.8") == "ollama:0.11.8-r36.4.tegra-aarch64-cu126-22.04-ollama_0.11.8"
    assert computed.stage() == "ollama:r36.4.tegra-aarch64-cu126-22.04-ollama"


def test_an_unknown_release_without_host_cuda_warns_as_upstream():
    computed = naming(rule_at(known_commit(PIN).committed, PIN),
                      _board(dict(l4t="36.4.7", ubuntu="22.04", cuda_json=None, gpu_name=ORIN)))
    assert computed.cuda == "12.2"
    assert computed.warnings == ("jetson-containers does not know L4T 36.4.7 and assumes CUDA 12.2",)


def test_the_rule_of_a_commit_is_the_last_one_committed_before_it():
    assert rule_at("2025-10-07T22:33:16+02:00").commit.startswith("c6bf3b62")
    assert rule_at("2025-10-09T13:15:21+02:00").commit.startswith("3aef85cf")
    assert rule_at("2025-05-06T02:18:06-04:00").commit.startswith("119c26f2")  # one second before 55b14897
    assert rule_at("2025-05-06T06:18:07+00:00").commit.startswith("55b14897")  # the same instant in UTC
    assert rule_at("2024-01-01").commit.startswith("2262004f")  # before every change: the oldest rule
    assert rule_at("", "947e2267").commit.startswith("947e2267")  # a rule commit by its own id


def test_rules_are_in_history_order_and_days_with_a_change_need_a_time():
    times = [rule.committed for rule in rules()]
    assert times == sorted(times)
    assert ambiguous_day(date(2025, 5, 6)) and ambiguous_day(date(2025, 7, 13))
    assert not ambiguous_day(date(2025, 10, 7))


def test_a_commit_that_cannot_name_a_build_says_so():
    rule = rule_at("2025-06-01T00:00:00+00:00")  # 55b14897's: R38 without host CUDA fails upstream
    with pytest.raises(NoNaming, match="finds no CUDA version for L4T 38.2.0"):
        naming(rule, _board(dict(l4t="38.2.0", ubuntu="22.04", cuda_json=None, gpu_name=None, kernel="6.8.12-tegra")))


def test_the_pin_is_known_with_its_ollama_versions():
    pin = known_commit(PIN)
    assert pin.ollama_versions == ("0.4.0", "0.5.1", "0.5.5", "0.11.8") and pin.ollama_default == "0.11.8"
    assert known_commit("0" * 40) is None


CASES = [pytest.param(case, id=case["id"]) for case in ORACLE["cases"]]


@pytest.mark.parametrize("case", CASES)
def test_rules_give_the_names_upstream_code_gave(case):
    """Every case the real code computed: the values, the warnings, the image names and stages."""
    rule = rule_at(case["committed"], case["commit"])
    board = _board(case["board"])
    # a build can fail on dependencies (the pin resolves no cudastack on r35) while its names are known:
    # then the names are those the checkout's own code gave (the probe)
    probe = case.get("probe") or {}
    expected_images = case.get("images") or probe.get("images") or {}
    if not expected_images:  # the real code could not name an image there: so must the prediction
        with pytest.raises(NoNaming):
            naming(rule, board)
        return
    computed = naming(rule, board)
    got = case["computed"]
    assert (str(computed.l4t), computed.cuda, computed.ubuntu) == \
        (str(L4TRelease.parse(got["l4t"])), got["cuda"], got["lsb"])
    if rule.arch_from != "none":  # before 55b14897 the code has no notion of Tegra vs SBSA
        assert computed.arch == got["arch"]
    assert {package: computed.image(package) for package in expected_images} == expected_images
    stages = case.get("stages") or probe.get("stages") or {}
    assert {package: computed.stage(package) for package in stages} == stages
    # upstream also warns where it looks its table up for other purposes (get_cuda_arch): a warning of
    # ours about the name's CUDA must be one upstream printed too
    assert not computed.warnings or case.get("warnings")


def test_the_oracle_covers_every_rule_and_the_pin():
    commits = {case["commit"] for case in ORACLE["cases"]}
    assert {rule.commit for rule in rules()} <= commits
    assert PIN in commits
