"""Board profiles: the shipped boards load, validate, and agree with the facts file."""

import copy
import re

import pytest

from jetson_sim.profiles import list_profiles, load_profile, validate

NAMES = ["agx-orin-64gb-r36.4.4", "agx-thor-128gb-r38.2.0", "agx-xavier-32gb-r35.6.0", "orin-nano-8gb-r36.2.0",
         "orin-nano-8gb-r36.3.0-nocuda", "orin-nano-super-r36.4.3", "orin-nx-16gb-r35.4.1", "x86-server"]


def test_the_shipped_profiles_are_exactly_these_boards():
    assert list_profiles() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_profile_loads_and_its_name_says_its_l4t(name):
    profile = load_profile(name)
    assert profile["name"] == name
    if "jetson" in profile:
        l4t = profile["jetson"]["l4t"]
        # the L4T, then at most a variant (`-nocuda`: the same board without the host CUDA toolkit)
        assert re.search(rf"-r{l4t['major']}\.{re.escape(l4t['revision'])}(-[a-z]+)?$", name)
        assert profile["arch"] == "aarch64"
        assert profile["jetson"]["l4t_core_version"].startswith(f"{l4t['major']}.{l4t['revision']}-")


def test_values_recorded_in_the_facts_file():
    nano, sup = load_profile("orin-nano-8gb-r36.2.0"), load_profile("orin-nano-super-r36.4.3")
    nx, agx = load_profile("orin-nx-16gb-r35.4.1"), load_profile("agx-orin-64gb-r36.4.4")
    x86 = load_profile("x86-server")
    # docs/facts.md section 1, MemTotal table
    assert [p["memory"]["mem_total_mb"] for p in (nano, sup, nx, agx)] == [7620, 7620, 15388, 62841]
    assert (nano["jetson"]["cuda"]["version"], nano["jetson"]["jetpack"]) == ("12.2.140", "6.0")
    # docs/facts.md section 2: no nvidia-smi on JetPack 5
    assert nx["jetson"]["nvidia_smi"] is None and nx["jetson"]["l4t"]["board"] == "t186ref"
    assert sup["jetson"]["nvidia_smi"]["cuda"] == "12.6"
    # docs/facts.md section 3: power mode ids differ per board
    assert {m["id"]: m["name"] for m in sup["jetson"]["power_models"]} == {0: "15W", 1: "25W", 2: "MAXN_SUPER", 3: "7W"}
    assert sup["jetson"]["power_model_default"] == 2
    assert agx["jetson"]["power_models"][0] == {"id": 0, "name": "MAXN"}
    assert "jetson" not in x86 and x86["arch"] == "x86_64" and not x86["docker"]["nvidia_runtime"]


def test_the_newer_boards_agree_with_the_facts_file():
    nocuda, thor = load_profile("orin-nano-8gb-r36.3.0-nocuda"), load_profile("agx-thor-128gb-r38.2.0")
    xavier = load_profile("agx-xavier-32gb-r35.6.0")
    # docs/facts.md section 1, L4T table: 36.3.0 = JetPack 6.0 GA on 22.04; 38.2 = 7.0, CUDA 13.0, 24.04; R35 = 20.04
    assert (nocuda["jetson"]["jetpack"], nocuda["jetson"]["ubuntu"]) == ("6.0", "22.04")
    assert (thor["jetson"]["jetpack"], thor["jetson"]["ubuntu"]) == ("7.0", "24.04")
    assert thor["jetson"]["cuda"]["release"] == "13.0"
    assert xavier["jetson"]["ubuntu"] == "20.04" and xavier["jetson"]["cuda"]["release"] == "11.4"
    # no host CUDA toolkit, the driver side stays (docs/facts.md section 2: JetPack 6 names the GPU Orin (nvgpu))
    assert nocuda["jetson"]["cuda"] is None and nocuda["jetson"]["nvidia_smi"]["gpu_name"] == "Orin (nvgpu)"
    # docs/facts.md section 1-2: Thor's model string, 128 GB (about 120 GiB seen), full nvidia-smi without "nvgpu"
    assert thor["jetson"]["model"] == "NVIDIA Jetson AGX Thor Developer Kit"
    assert thor["jetson"]["module"] == "p3834-0008"
    assert 118 * 1024 <= thor["memory"]["mem_total_mb"] <= 128 * 1024
    assert "nvgpu" not in thor["jetson"]["nvidia_smi"]["gpu_name"]
    # JetPack 5: no nvidia-smi, BOARD: t186ref
    assert xavier["jetson"]["nvidia_smi"] is None and xavier["jetson"]["l4t"]["board"] == "t186ref"
    assert [p["jetson"]["compatible"][-1] for p in (nocuda, thor, xavier)] == \
        ["nvidia,tegra234", "nvidia,tegra264", "nvidia,tegra194"]


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ValueError) as err:
        load_profile("orin-nano")
    assert str(err.value) == "unknown board profile 'orin-nano'; known: " + ", ".join(NAMES)


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p["memory"].pop("mem_total_mb"), "memory.mem_total_mb: missing"),
    (lambda p: p["memory"].update(desktop="yes"), "memory.desktop: expected bool"),
    (lambda p: p["jetson"]["l4t"].update(gcid=34956989), "jetson.l4t.gcid: expected str"),
    (lambda p: p["jetson"].update(power_model_default=7), "jetson.power_model_default: 7 is not in"),
    (lambda p: p.update(arch="x86_64"), "jetson: present but arch is 'x86_64'"),
    (lambda p: p.update(colour="green"), "colour: unknown key"),
])
def test_validate_reports_one_clear_line(mutate, message):
    profile = copy.deepcopy(load_profile("orin-nano-8gb-r36.2.0"))
    mutate(profile)
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")) as err:
        validate(profile)
    assert "\n" not in str(err.value)
