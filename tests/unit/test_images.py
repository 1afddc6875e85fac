"""Image tag resolution: jetson-containers' local names per era, dustynv prebuilt choice (facts section 4)."""

from datetime import date, datetime, timezone

import pytest
import yaml

from jetson_ollama import images
from jetson_ollama.images import (
    ImagePlan, NoImage, PrebuiltImage, compatible_with, containers_era, l4t_from_tag, local_image_name,
    prebuilt_tag, resolve_image, reusable_image,
)
from jetson_ollama.releases import L4TRelease, known_releases, release_info

ERAS = ("2025-03", "2025-05", "2025-07")

# every row of l4t_releases.yaml: `jetson-containers build ollama` in each era (facts section 4 table)
LOCAL_NAMES = {
    "35.4.1": ("ollama:r35.4.1", "ollama:r35.4.1-cu114-20.04", "ollama:r35.4.1-cu114-20.04"),
    "35.5.0": ("ollama:r35.5.0", "ollama:r35.5.0-cu114-20.04", "ollama:r35.5.0-cu114-20.04"),
    "36.2.0": ("ollama:r36.2.0", "ollama:r36.2.0-cu122-22.04", "ollama:r36.2.0-cu122-22.04"),
    "36.3.0": ("ollama:r36.3.0", "ollama:r36.3.0-cu122-22.04", "ollama:r36.3.0-cu122-22.04"),
    "36.4.0": ("ollama:r36.4.0", "ollama:r36.4-cu126-22.04", "ollama:r36.4.tegra-aarch64-cu126-22.04"),
    "36.4.2": ("ollama:r36.4.2", "ollama:r36.4-cu126-22.04", "ollama:r36.4.tegra-aarch64-cu126-22.04"),
    "36.4.3": ("ollama:r36.4.3", "ollama:r36.4-cu126-22.04", "ollama:r36.4.tegra-aarch64-cu126-22.04"),
    "36.4.4": ("ollama:r36.4.4", "ollama:r36.4-cu126-22.04", "ollama:r36.4.tegra-aarch64-cu126-22.04"),
    "36.4.7": ("ollama:r36.4.7", "ollama:r36.4-cu126-22.04", "ollama:r36.4.tegra-aarch64-cu126-22.04"),
    "36.5.0": ("ollama:r36.5.0", "ollama:r36.5-cu126-22.04", "ollama:r36.5.tegra-aarch64-cu126-22.04"),
    "38.2": ("ollama:r38.2.0", "ollama:r38.2-cu130-24.04", "ollama:r38.2.tegra-aarch64-cu130-24.04"),
    "38.4": ("ollama:r38.4.0", "ollama:r38.4-cu130-24.04", "ollama:r38.4.tegra-aarch64-cu130-24.04"),
}

# every row: the prebuilt tag with no version floor, and with qwen3's floor (0.6.6, min_ollama of
# jetson_sim/upstream/models.yaml). Exact L4T first, then the generation's newest Ollama:
# 35.5.0 takes the JetPack 5 image; 36.4.0 has three exact images, 0.5.7 is the newest, the
# versioned tag comes first in the data file; 36.4.2/36.4.4/36.4.7/36.5.0 (JetPack 6.1+, no exact
# image) take the 36.4 family image 0.6.8; JetPack 6.0 and 5 have no image new enough for qwen3;
# JetPack 7 (R38) has none at all.
PREBUILT = {
    "35.4.1": ("r35.4.1", None),
    "35.5.0": ("r35.4.1", None),
    "36.2.0": ("r36.2.0", None),
    "36.3.0": ("r36.3.0", None),
    "36.4.0": ("0.5.7-r36.4.0", "0.6.8-r36.4-cu126-22.04"),
    "36.4.2": ("0.6.8-r36.4-cu126-22.04", "0.6.8-r36.4-cu126-22.04"),
    "36.4.3": ("r36.4.3", "0.6.8-r36.4-cu126-22.04"),
    "36.4.4": ("0.6.8-r36.4-cu126-22.04", "0.6.8-r36.4-cu126-22.04"),
    "36.4.7": ("0.6.8-r36.4-cu126-22.04", "0.6.8-r36.4-cu126-22.04"),
    "36.5.0": ("0.6.8-r36.4-cu126-22.04", "0.6.8-r36.4-cu126-22.04"),
    "38.2": (None, None),
    "38.4": (None, None),
}

# the data file's prebuilt tags, their L4T and reported Ollama (transcribed from the brief / facts)
PREBUILT_TAGS = {
    "r35.4.1": ("35.4.1", "0.0.0"),
    "r36.2.0": ("36.2.0", "0.0.0"),
    "r36.3.0": ("36.3.0", "0.3.6"),
    "0.4.0-r36.4.0": ("36.4.0", "0.4.0"),
    "0.5.7-r36.4.0": ("36.4.0", "0.5.7"),
    "r36.4.3": ("36.4.3", "0.6.2"),
    "r36.4.0": ("36.4.0", "0.5.7"),
    "0.6.8-r36.4-cu126-22.04": ("36.4.0", "0.6.8"),
}


def test_data_file_holds_exactly_the_recorded_prebuilt_tags_as_strings():
    raw = yaml.safe_load(images._TAGS_FILE.read_text())
    assert {tag: (row["l4t"], row["ollama"]) for tag, row in raw["prebuilt"]["tags"].items()} == {
        tag: ("36.4" if tag.startswith("0.6.8") else l4t, version) for tag, (l4t, version) in PREBUILT_TAGS.items()}
    rows = [*raw["eras"].values(), *raw["generations"], *raw["prebuilt"]["tags"].values()]
    assert all(isinstance(value, str) for row in rows for value in row.values())  # no YAML floats or dates


def test_tables_cover_every_release_row():
    assert sorted(map(L4TRelease.parse, LOCAL_NAMES)) == known_releases()
    assert sorted(map(L4TRelease.parse, PREBUILT)) == known_releases()


@pytest.mark.parametrize("l4t, names", LOCAL_NAMES.items())
def test_local_image_name_in_every_era(l4t, names):
    info = release_info(l4t)
    assert tuple(local_image_name(info.l4t, info.cuda, info.ubuntu, era) for era in ERAS) == names
    assert local_image_name(l4t, info.cuda, info.ubuntu, "2025-07") == names[2]  # strings are parsed


@pytest.mark.parametrize("args, expected", [
    (("36.2.0", "12.2", "22.04", "2025-07", "0.6.8"), "ollama:0.6.8-r36.2.0-cu122-22.04"),
    (("36.2.0", "12.2", "22.04", "2025-03", "0.6.8"), "ollama:0.6.8-r36.2.0"),
    (("36.4.3", "12.6", "22.04", "2025-05", "0.6.8"), "ollama:0.6.8-r36.4-cu126-22.04"),
    (("36.4.3", "12.6.68", "22.04", "2025-07"), "ollama:r36.4.tegra-aarch64-cu126-22.04"),  # full CUDA
    (("36.2.0", "12.2.140", "22.04", "2025-05", None, "llama_cpp"), "llama_cpp:r36.2.0-cu122-22.04"),
])
def test_local_image_name_versions_cuda_and_package(args, expected):
    assert local_image_name(*args) == expected


def test_local_image_name_rejects_unknown_era():
    with pytest.raises(ValueError, match="unknown jetson-containers naming era '2024-01'"):
        local_image_name("36.2.0", "12.2", "22.04", "2024-01")


@pytest.mark.parametrize("when, era", [
    ("2024-11-02", "2025-03"),
    ("2025-03-28T12:00:00+00:00", "2025-03"),  # the simulated upstream's era commits
    ("2025-05-30T12:00:00+00:00", "2025-05"),
    ("2025-07-25T12:00:00+00:00", "2025-07"),
    ("2025-04-30", "2025-03"),
    ("2025-05-01", "2025-05"),
    ("2025-06-30", "2025-05"),
    ("2025-07-01", "2025-07"),
    (date(2026, 1, 1), "2025-07"),
    (datetime(2025, 5, 15, tzinfo=timezone.utc), "2025-05"),
])
def test_containers_era_by_commit_date(when, era):
    assert containers_era(when) == era


def test_containers_era_before_the_first():
    with pytest.raises(ValueError, match="before 2000-01-01"):
        containers_era("1999-12-31")


@pytest.mark.parametrize("l4t, expected", PREBUILT.items())
def test_prebuilt_choice_for_every_release_row(l4t, expected):
    any_version, for_qwen3 = expected
    image = prebuilt_tag(l4t)
    assert (image and image.tag) == any_version
    image = prebuilt_tag(L4TRelease.parse(l4t), min_ollama="0.6.6")
    assert (image and image.tag) == for_qwen3


def test_prebuilt_images_carry_ref_l4t_and_version():
    assert prebuilt_tag("36.4.3") == PrebuiltImage(
        ref="dustynv/ollama:r36.4.3", tag="r36.4.3", l4t=L4TRelease(36, 4, 3), cuda="12.6", ollama_version="0.6.2")
    for tag, (l4t, version) in PREBUILT_TAGS.items():
        image = prebuilt_tag(l4t, ollama_version=version)  # every data row is reachable
        assert image is not None and image.l4t == L4TRelease.parse(l4t) and image.ollama_version == version
        assert image.ref == f"dustynv/ollama:{image.tag}"


@pytest.mark.parametrize("l4t, min_ollama, version, expected", [
    ("36.4.0", None, "0.4.0", "0.4.0-r36.4.0"),
    ("36.4.3", None, "0.5.7", "0.5.7-r36.4.0"),  # not exact, same generation
    ("36.4.3", "0.6.0", None, "r36.4.3"),  # the exact image still meets the floor
    ("36.4.3", "0.6.3", None, "0.6.8-r36.4-cu126-22.04"),
    ("36.3.0", "0.3.0", None, "r36.3.0"),
    ("36.2.0", "0.3.0", None, "r36.3.0"),  # same generation (JetPack 6.0)
    ("36.2.0", None, "0.6.8", None),  # the 0.6.8 image is JetPack 6.1+
    ("36.4.3", "0.7.0", None, None),
])
def test_prebuilt_floors_and_pins(l4t, min_ollama, version, expected):
    image = prebuilt_tag(l4t, min_ollama, ollama_version=version)
    assert (image and image.tag) == expected


@pytest.mark.parametrize("image, board, ok", [
    ("36.2.0", "36.3.0", True),
    ("36.3.0", "36.2.0", True),
    ("36.2.0", "36.4.3", False),  # JetPack 6.0 image on 6.1+: CUDA 12.2 vs 12.6
    ("36.4.3", "36.3.0", False),
    ("36.4.0", "36.5.0", True),
    ("36.4.3", "36.4.0", True),
    ("35.4.1", "35.5.0", True),
    ("35.4.1", "36.2.0", False),  # JetPack 5 image on 6: no CUDA (#725)
    ("36.2.0", "35.4.1", False),
    ("36.4.0", "38.2", False),
    ("38.2", "38.4", True),
    ("32.7.1", "32.7.1", False),  # older than any known generation
    (None, "36.4.3", False),
])
def test_compatible_with(image, board, ok):
    assert compatible_with(image, board) is ok


@pytest.mark.parametrize("tag, l4t", [
    ("r36.2.0", L4TRelease(36, 2, 0)),
    ("0.6.8-r36.4-cu126-22.04", L4TRelease(36, 4, 0)),
    ("r36.4.tegra-aarch64-cu126-22.04", L4TRelease(36, 4, 0)),
    ("ollama:0.6.8-r36.2.0-cu122-22.04", L4TRelease(36, 2, 0)),
    ("dustynv/ollama:r36.4.3", L4TRelease(36, 4, 3)),
    ("ollama:r36.2.0-cu122-22.04-ollama", L4TRelease(36, 2, 0)),  # a build stage
    ("localhost:5000/ollama:r35.4.1", L4TRelease(35, 4, 1)),
    ("latest", None),
    ("ollama:0.6.8", None),
    ("localhost:5000/ollama", None),
    ("rc1-x", None),
])
def test_l4t_from_tag(tag, l4t):
    assert l4t_from_tag(tag) == l4t


@pytest.mark.parametrize("l4t", known_releases(), ids=str)
@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("version", [None, "0.6.8"])
def test_l4t_from_tag_round_trips_local_names(l4t, era, version):
    info = release_info(l4t)
    found = l4t_from_tag(local_image_name(l4t, info.cuda, info.ubuntu, era, version))
    short = era != "2025-03" and l4t >= L4TRelease(36, 4)  # `r36.4`: the 36.4.x family
    assert found == (L4TRelease(l4t.major, l4t.minor) if short else l4t)
    assert compatible_with(found, l4t)


@pytest.mark.parametrize("tag", PREBUILT_TAGS)
def test_l4t_from_tag_round_trips_prebuilt_tags(tag):
    assert l4t_from_tag(tag) == L4TRelease.parse(PREBUILT_TAGS[tag][0])


# ---------------------------------------------------------------- resolve_image

def test_resolve_prebuilt_and_auto_take_the_matching_image():
    plan = ImagePlan("prebuilt", "dustynv/ollama:r36.4.3", None, "0.6.2")
    assert resolve_image(release_info("36.4.3"), "prebuilt", "2025-07") == plan
    assert resolve_image(release_info("36.4.3"), "auto", "2025-07") == plan


@pytest.mark.parametrize("l4t, era, expected", [
    ("36.2.0", "2025-07", "ollama:r36.2.0-cu122-22.04"),  # the log's board: no prebuilt new enough
    ("35.4.1", "2025-03", "ollama:r35.4.1"),
    ("38.2", "2025-07", "ollama:r38.2.tegra-aarch64-cu130-24.04"),
])
def test_auto_falls_back_to_build(l4t, era, expected):
    plan = resolve_image(release_info(l4t), "auto", era, min_ollama="0.6.6")
    assert plan == ImagePlan("build", expected, "ollama", None)


def test_auto_with_a_pinned_version():
    # a prebuilt image of exactly that version wins; else it is built
    assert resolve_image(release_info("36.4.7"), "auto", "2025-07", "0.6.8") == \
        ImagePlan("prebuilt", "dustynv/ollama:0.6.8-r36.4-cu126-22.04", None, "0.6.8")
    assert resolve_image(release_info("36.2.0"), "auto", "2025-07", "0.6.8", min_ollama="0.6.6") == \
        ImagePlan("build", "ollama:0.6.8-r36.2.0-cu122-22.04", "ollama:0.6.8", "0.6.8")


def test_build_ignores_prebuilt_images():
    assert resolve_image(release_info("36.4.3"), "build", "2025-05") == \
        ImagePlan("build", "ollama:r36.4-cu126-22.04", "ollama", None)


def test_reuse_plans_no_ref():
    assert resolve_image(release_info("36.2.0"), "reuse", "2025-07", "0.6.8") == \
        ImagePlan("reuse", None, None, "0.6.8")


@pytest.mark.parametrize("l4t, kwargs, message", [
    ("36.2.0", {"min_ollama": "0.6.6"},
     "no prebuilt dustynv/ollama image for L4T 36.2.0 with Ollama >= 0.6.6; set jetson_image_strategy: build"),
    ("38.2", {}, "no prebuilt dustynv/ollama image for L4T 38.2.0; set jetson_image_strategy: build"),
    ("36.4.3", {"ollama_version": "0.6.9"},
     "no prebuilt dustynv/ollama image for L4T 36.4.3 with Ollama 0.6.9; set jetson_image_strategy: build"),
])
def test_prebuilt_without_an_image_raises_one_line(l4t, kwargs, message):
    with pytest.raises(NoImage) as err:
        resolve_image(release_info(l4t), "prebuilt", "2025-07", **kwargs)
    assert isinstance(err.value, ValueError)
    assert str(err.value) == message


def test_a_pinned_version_older_than_the_models_need_raises():
    message = r"^ollama_version 0.5.7 is older than 0.6.6, .*set ollama_version: 0.6.6 or newer$"
    with pytest.raises(NoImage, match=message):
        resolve_image(release_info("36.2.0"), "build", "2025-07", "0.5.7", min_ollama="0.6.6")


def test_unknown_strategy():
    with pytest.raises(ValueError, match="image strategy must be one of prebuilt, build, reuse, auto"):
        resolve_image(release_info("36.2.0"), "latest", "2025-07")


# ---------------------------------------------------------------- reuse: the board's own images

@pytest.mark.parametrize("images, board, expected", [
    # `docker images` order, newest first
    (["ollama:r36.4.tegra-aarch64-cu126-22.04", "ollama:r36.2.0-cu122-22.04"], "36.2.0",
     "ollama:r36.2.0-cu122-22.04"),
    (["ubuntu:22.04", "dustynv/ollama:r36.4.3", "ollama:r36.4-cu126-22.04"], "36.4.7", "dustynv/ollama:r36.4.3"),
    (["ollama:r36.2.0-cu122-22.04-ollama"], "36.2.0", None),  # a stage whose test failed
    (["ollama:latest", "ollama:<none>", "llama_cpp:r36.2.0"], "36.2.0", None),
    (["dustynv/ollama:r35.4.1"], "36.2.0", None),
])
def test_reusable_image(images, board, expected):
    assert reusable_image(images, board) == expected
