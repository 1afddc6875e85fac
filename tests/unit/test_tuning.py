"""Board tuning: its facts (pyinfra-testing fixtures, commands run for real here), its settings, the
refusals the plan makes before anything changes, the reboot rule for power modes, and the memory fit
counting a board as headless as soon as jetson_headless asks for it."""

import inspect
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from pyinfra.api import FactBase, StringCommand
from pyinfra_testing.facts import make_fact_tests

from jetson_ollama import catalog, plan
from jetson_ollama.config import ConfigError, settings
from jetson_ollama.facts import tuning as tuning_facts
from jetson_ollama.facts.docker import DockerDaemonJson
from jetson_ollama.facts.jetson import DefaultTarget
from jetson_ollama.operations.tuning import power_mode_needs_reboot
from jetson_sim.profiles import list_profiles, load_profile
from jetson_sim.seed import _nvpmodel_conf

FIXTURES = Path(__file__).parent / "facts"
FACTS = {
    f"tuning.{name}": cls for name, cls in inspect.getmembers(tuning_facts, inspect.isclass)
    if issubclass(cls, FactBase) and cls.__module__ == tuning_facts.__name__
}
ARGS = {"SwapFile": {"path": "/ssd/swapfile"}}

for _fact_path in FACTS:
    globals()[f"TestFixtures_{_fact_path.replace('.', '_')}"] = make_fact_tests(
        "jetson_ollama.facts", _fact_path, FIXTURES / _fact_path
    )


def _raw(command) -> str:
    return command.get_raw_value() if isinstance(command, StringCommand) else command


def _run(command: str) -> list[str]:
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_the_facts_are_the_expected_ones_each_with_fixtures():
    assert set(FACTS) == {"tuning.PowerModes", "tuning.CurrentPowerMode", "tuning.Swaps", "tuning.SwapFile"}
    for fact_path in FACTS:
        assert len(list((FIXTURES / fact_path).glob("*.json"))) >= 3, fact_path


@pytest.mark.parametrize("fact_path", FACTS)
def test_default_is_what_no_output_means_and_every_command_runs_here(fact_path):
    fact = FACTS[fact_path]()
    assert fact.process([]) == fact.default()
    fact.process(_run(_raw(fact.command(**ARGS.get(fact_path.split(".")[1], {})))))


JETSONS = [name for name in list_profiles() if "jetson" in load_profile(name)]


@pytest.mark.parametrize("profile", JETSONS)
def test_power_modes_reads_the_conf_the_simulated_boards_have(profile, tmp_path):
    """The command's grep against a whole nvpmodel.conf (the simulator writes the facts' block format)."""
    jetson = load_profile(profile)["jetson"]
    (tmp_path / "nvpmodel.conf").write_text(_nvpmodel_conf(jetson))
    command = tuning_facts.PowerModes().command().replace("/etc/nvpmodel.conf", str(tmp_path / "nvpmodel.conf"))
    modes = tuning_facts.PowerModes().process(_run(command))
    assert [(mode["id"], mode["name"]) for mode in modes["modes"]] == \
        [(mode["id"], mode["name"]) for mode in jetson["power_models"]]
    assert modes["default"] == jetson["power_model_default"]
    assert all(1 <= mode["cores_online"] <= jetson["cpus"] for mode in modes["modes"])


@pytest.mark.skipif(not shutil.which("mkswap"), reason="needs util-linux mkswap")
def test_swapfile_fact_on_a_real_swap_area_and_a_plain_file(tmp_path):
    swap = tmp_path / "swapfile"
    swap.write_bytes(b"\0" * (1 << 20))
    subprocess.run(["mkswap", str(swap)], check=True, capture_output=True)
    made = tuning_facts.SwapFile().process(_run(_raw(tuning_facts.SwapFile().command(path=str(swap)))))
    assert made == {"directory": True, "size": 1 << 20, "signature": True, "fstab": []}
    plain = tmp_path / "notes.txt"
    plain.write_text("not swap\n" * 1000)
    other = tuning_facts.SwapFile().process(_run(_raw(tuning_facts.SwapFile().command(path=str(plain)))))
    assert other["size"] == 9000 and not other["signature"]
    missing = tuning_facts.SwapFile().command(path=str(tmp_path / "absent" / "swapfile"))
    assert tuning_facts.SwapFile().process(_run(_raw(missing))) == tuning_facts.SwapFile().default()


def test_swapfile_fact_quotes_the_path(tmp_path):
    marker = tmp_path / "pwned"
    path = f"/tmp/x'; touch {marker}; echo '$(touch {marker})`touch {marker}`/swapfile"
    command = _raw(tuning_facts.SwapFile().command(path=path))
    assert path in shlex.split(command) and f"p={path}" in shlex.split(command)
    _run(command)
    assert not marker.exists()


# ---------------------------------------------------------------- settings

TUNING_KEYS = {"jetson_power_mode": None, "jetson_clocks": False, "jetson_headless": False,
               "jetson_disable_argus": False, "jetson_disable_zram": False, "jetson_swapfile_size": None,
               "jetson_swapfile_path": "/ssd/swapfile", "jetson_docker_data_root": None,
               "jetson_allow_reboot": False}


def test_tuning_is_off_by_default():
    defaults = settings({})
    assert {key: getattr(defaults, key) for key in TUNING_KEYS} == TUNING_KEYS


@pytest.mark.parametrize("key, value", [
    ("jetson_power_mode", "MAXN SUPER"), ("jetson_power_mode", "MAXN;reboot"), ("jetson_power_mode", 2),
    ("jetson_clocks", "yes"), ("jetson_headless", 1), ("jetson_disable_argus", "true"),
    ("jetson_disable_zram", 0), ("jetson_swapfile_size", "8GB"), ("jetson_swapfile_size", "8"),
    ("jetson_swapfile_size", 8), ("jetson_swapfile_size", "0G"), ("jetson_swapfile_path", "ssd/swapfile"),
    ("jetson_docker_data_root", "ssd/docker"), ("jetson_allow_reboot", "no"),
])
def test_bad_tuning_values_are_refused_with_their_key(key, value):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        settings({key: value})


def test_good_tuning_values_are_taken():
    chosen = settings({"jetson_power_mode": "MAXN_SUPER", "jetson_swapfile_size": "512M",
                       "jetson_docker_data_root": "/ssd/docker", "jetson_headless": True})
    assert (chosen.jetson_power_mode, chosen.jetson_swapfile_size) == ("MAXN_SUPER", "512M")
    assert chosen.jetson_docker_data_root == "/ssd/docker" and chosen.jetson_headless is True


# ---------------------------------------------------------------- the plan

class Board:
    """Stands in for pyinfra's `host`: answers get_fact from a dict keyed by the fact class (and path)."""

    def __init__(self, facts):
        self.facts = facts

    def get_fact(self, fact_cls, **kwargs):
        return self.facts[(fact_cls, *kwargs.values())]


def _fixture(fact_path, case):
    return json.loads((FIXTURES / fact_path / f"{case}.json").read_text())["fact"]


SUPER_MODES = _fixture("tuning.PowerModes", "orin-nano-super-r36.4.3")


def test_an_unknown_power_mode_is_refused_with_the_boards_names():
    board = Board({(tuning_facts.PowerModes,): SUPER_MODES})
    assert plan._tuning_problem(board, settings({"jetson_power_mode": "MAXN_SUPER"})) is None
    assert plan._tuning_problem(board, settings({"jetson_power_mode": "MAXN"})) == (
        "power mode 'MAXN' is not one of this board's: 15W (id 0), 25W (id 1), MAXN_SUPER (id 2), 7W (id 3)")
    assert plan._tuning_problem(board, settings({})) is None  # nothing asked, nothing read


def test_a_swapfile_without_its_directory_or_over_another_file_is_refused():
    def problem(case):
        board = Board({(tuning_facts.SwapFile, "/ssd/swapfile"): _fixture("tuning.SwapFile", case)})
        return plan._tuning_problem(board, settings({"jetson_swapfile_size": "8G"}))
    assert problem("directory-only") is None and problem("made-and-in-fstab") is None
    assert problem("no-directory") == ("no directory /ssd for the swapfile /ssd/swapfile: mount the NVMe there "
                                       "first, or choose another path")
    assert problem("not-a-swap-area") == "/ssd/swapfile exists and is not a swap area: remove it or choose another path"


def test_a_data_root_inside_the_current_one_is_refused():
    board = Board({(DockerDaemonJson,): {"data-root": "/ssd/docker"}})
    assert plan._tuning_problem(board, settings({"jetson_docker_data_root": "/ssd/docker/new"})) == \
        "the data root /ssd/docker/new must not be inside the current one (/ssd/docker) nor hold it"
    assert plan._tuning_problem(board, settings({"jetson_docker_data_root": "/nvme/docker"})) is None


@pytest.mark.parametrize("target, data, desktop", [
    ("graphical.target", {}, True),
    ("multi-user.target", {}, False),
    ("graphical.target", {"jetson_headless": True}, False),   # before the reboot that makes it so
    ("graphical.target", {"jetson_headless": True, "ollama_desktop": True}, False),
    ("multi-user.target", {"ollama_desktop": True}, True),
])
def test_board_desktop_follows_jetson_headless_before_the_reboot(target, data, desktop):
    assert plan.board_desktop(Board({(DefaultTarget,): target}), settings(data)) is desktop


def test_headless_lowers_the_memory_fit_by_the_desktops_800_mb():
    """What a user sees in the refusal: qwen3:8b on an 8 GB board (docs/facts.md section 6: 96 % in the log)."""
    qwen3_8b = catalog.model_info("qwen3:8b")
    board = Board({(DefaultTarget,): "graphical.target"})
    desktop = {headless: plan.board_desktop(board, settings({"jetson_headless": headless}))
               for headless in (False, True)}
    fits = {headless: catalog.estimate(qwen3_8b, 7620, desktop[headless], 4096, 1) for headless in (False, True)}
    assert fits[False].total_bytes - fits[True].total_bytes == 800 * 1024 * 1024
    assert (fits[False].tier, round(fits[False].percent)) == ("black", 98)
    assert (fits[True].tier, round(fits[True].percent)) == ("red", 88)
    assert "(88 %, red)" in catalog.refusal_message(None, "qwen3:8b", fits[True])


# ---------------------------------------------------------------- when a power mode waits for a reboot

@pytest.mark.parametrize("current, name, reboot", [
    (0, "MAXN_SUPER", False),   # 15W -> MAXN_SUPER: six cores in both
    (3, "MAXN_SUPER", True),    # 7W keeps four cores online
    (2, "7W", True),
    (2, "MAXN_SUPER", False),   # no change
    (None, "MAXN_SUPER", False),
])
def test_power_mode_needs_a_reboot_when_the_cores_online_differ(current, name, reboot):
    assert power_mode_needs_reboot(SUPER_MODES["modes"], current, name) is reboot


def test_unknown_cores_never_ask_for_a_reboot():
    modes = _fixture("tuning.PowerModes", "no-cpu-lines")["modes"]
    assert power_mode_needs_reboot(modes, 0, "15W") is False
