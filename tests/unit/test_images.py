"""Image choice: dustynv prebuilt images, compatibility as jetson-containers says it, builds named by
the pinned commit (naming.py has the naming rules and their own tests)."""

import pytest
import yaml

from jetson_ollama import images
from jetson_ollama.images import (
    BuildNames, ImagePlan, NoImage, PrebuiltImage, compatible_with, l4t_from_tag, prebuilt_tag,
    resolve_image, reusable_image,
)
from jetson_ollama.releases import L4TRelease, release_info

# the prebuilt tags of dusty-nv/jetson-containers packages/llm/ollama/README.md @16f7cf41: their L4T and
# the Ollama version the image reports where its recipe fixes it (None: nothing says it before the pull)
PREBUILT_TAGS = {
    "r35.4.1": ("35.4.1", None),
    "r36.2.0": ("36.2.0", None),
    "r36.3.0": ("36.3.0", None),
    "0.4.0-r36.4.0": ("36.4.0", "0.0.0"),  # built with VERSION="0.0.0" (its Dockerfile @e18584df)
    "0.5.1-r36.4.0": ("36.4.0", "0.0.0"),
    "0.5.7-r36.4.0": ("36.4.0", "0.5.7"),
    "r36.4.3": ("36.4.3", None),
    "0.6.3-r36.4.0": ("36.4.0", "0.6.3"),
    "main-r36.4.0": ("36.4.0", None),
    "r36.4.0": ("36.4.0", None),
    "r36.4.0-cu128-24.04": ("36.4.0", None),
    "0.6.8-r36.4": ("36.4", "0.6.8"),
    "0.6.8-r36.4-cu126-22.04": ("36.4", "0.6.8"),
}

# per board release: the prebuilt tag with no version floor, and with qwen3's floor (0.6.6). Exact L4T
# first, then the newest known Ollama: 36.4.0's newest named image is 0.6.3; 36.4.3's only exact image
# is r36.4.3 (its version read after the pull); 36.4.x without an exact image takes the 36.4 family's
# 0.6.8; JetPack 5 and 6.0 have no image known to be new enough for qwen3; JetPack 7 has none at all.
PREBUILT = {
    "35.4.1": ("r35.4.1", None),
    "35.6.0": ("r35.4.1", None),
    "36.2.0": ("r36.2.0", None),
    "36.3.0": ("r36.3.0", None),
    "36.4.0": ("0.6.3-r36.4.0", "0.6.8-r36.4-cu126-22.04"),
    "36.4.2": ("0.6.8-r36.4-cu126-22.04", "0.6.8-r36.4-cu126-22.04"),
    "36.4.3": ("r36.4.3", "0.6.8-r36.4-cu126-22.04"),
    "36.4.7": ("0.6.8-r36.4-cu126-22.04", "0.6.8-r36.4-cu126-22.04"),
    "36.5.0": ("0.6.8-r36.4-cu126-22.04", "0.6.8-r36.4-cu126-22.04"),
    "38.2.0": (None, None),
    "38.4.0": (None, None),
}


def test_data_file_holds_exactly_the_recorded_prebuilt_tags_as_strings():
    raw = yaml.safe_load(images._TAGS_FILE.read_text())
    assert {tag: (row["l4t"], row["ollama"]) for tag, row in raw["prebuilt"]["tags"].items()} == {
        tag: ("36.4" if tag.startswith("0.6.8") else l4t, version) for tag, (l4t, version) in PREBUILT_TAGS.items()}
    rows = [*raw["prebuilt"]["tags"].values()]
    assert all(isinstance(value, str) for row in rows for value in row.values() if value is not None)


@pytest.mark.parametrize("l4t, expected", PREBUILT.items())
def test_prebuilt_choice_per_release(l4t, expected):
    any_version, for_qwen3 = expected
    image = prebuilt_tag(l4t)
    assert (image and image.tag) == any_version
    image = prebuilt_tag(L4TRelease.parse(l4t), min_ollama="0.6.6")
    assert (image and image.tag) == for_qwen3


def test_a_version_pinned_from_an_earlier_pull_counts():
    # models.lock pinned what r36.4.3 reported after its pull: now it meets qwen3's floor
    pinned = {"dustynv/ollama:r36.4.3": "0.6.2"}
    assert prebuilt_tag("36.4.3", "0.6.0", pinned=pinned).tag == "r36.4.3"
    assert prebuilt_tag("36.4.3", "0.6.6", pinned=pinned).tag == "0.6.8-r36.4-cu126-22.04"
    plan = resolve_image(release_info("36.4.3"), "prebuilt", None, min_ollama="0.6.0", pinned=pinned)
    assert plan == ImagePlan("prebuilt", "dustynv/ollama:r36.4.3", None, "0.6.2", True)
    # a bare git hash (an image built from a shallow clone) meets no floor
    assert prebuilt_tag("36.2.0", "0.1.0", pinned={"dustynv/ollama:r36.2.0": "bd5e432"}) is None


def test_prebuilt_images_carry_ref_l4t_and_version():
    assert prebuilt_tag("36.4.3") == PrebuiltImage(
        ref="dustynv/ollama:r36.4.3", tag="r36.4.3", l4t=L4TRelease(36, 4, 3), cuda="12.6", ollama_version=None)
    for l4t, version in PREBUILT_TAGS.values():
        if version:
            image = prebuilt_tag(l4t, ollama_version=version)  # every named version is reachable
            assert image is not None and image.ollama_version == version and image.l4t == L4TRelease.parse(l4t)
            assert image.ref == f"dustynv/ollama:{image.tag}"


# dusty-nv/jetson-containers jetson_containers/l4t_version.py l4t_version_compatible @16f7cf41, case by case
@pytest.mark.parametrize("image, board, ok", [
    ("36.2.0", "36.3.0", True),
    ("36.3.0", "36.2.0", True),
    ("36.2.0", "36.4.3", False),  # JetPack 6.0 image on 6.1+
    ("36.4.3", "36.3.0", False),
    ("36.4.0", "36.5.0", True),
    ("36.4.3", "36.4.0", True),
    ("35.4.1", "35.6.0", True),
    ("35.4.1", "36.2.0", False),
    ("36.2.0", "35.4.1", False),
    ("36.4.0", "38.2", True),     # an R38 host runs any image, upstream says
    ("35.4.1", "38.4", True),
    ("38.2", "38.4", True),
    ("38.2", "36.4.3", False),
    ("32.7.1", "32.7.4", True),
    ("32.6.1", "32.6.1", True),   # no row: the same release only
    ("32.6.1", "32.5.0", False),
    (None, "36.4.3", False),
])
def test_compatible_with_as_upstream(image, board, ok):
    assert compatible_with(image, board) is ok


@pytest.mark.parametrize("image, board, ok", [
    ("36.4.0", "38.2", False),  # the deploy's own choice keeps to the board's L4T major
    ("38.2", "38.4", True),
    ("36.4.0", "36.5.0", True),
])
def test_compatible_when_the_deploy_chooses(image, board, ok):
    assert compatible_with(image, board, chosen=True) is ok


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


@pytest.mark.parametrize("tag", PREBUILT_TAGS)
def test_l4t_from_tag_round_trips_prebuilt_tags(tag):
    assert l4t_from_tag(tag) == L4TRelease.parse(PREBUILT_TAGS[tag][0])


# ---------------------------------------------------------------- resolve_image

PIN = BuildNames(images={"ollama": "ollama:r36.2.0-cu122-22.04",
                         "ollama:0.5.5": "ollama:0.5.5-r36.2.0-cu122-22.04",
                         "ollama:0.11.8": "ollama:0.11.8-r36.2.0-cu122-22.04"},
                 versions=("0.4.0", "0.5.1", "0.5.5", "0.11.8"), default="0.11.8", source="jetson-containers 16f7cf41")


def test_resolve_prebuilt_and_auto_take_the_matching_image():
    plan = ImagePlan("prebuilt", "dustynv/ollama:0.6.8-r36.4-cu126-22.04", None, "0.6.8")
    assert resolve_image(release_info("36.4.7"), "prebuilt", None) == plan
    assert resolve_image(release_info("36.4.7"), "auto", PIN) == plan


def test_auto_falls_back_to_build_of_the_default_version():
    plan = resolve_image(release_info("36.2.0"), "auto", PIN, min_ollama="0.6.6")
    assert plan == ImagePlan("build", "ollama:r36.2.0-cu122-22.04", "ollama", "0.11.8")


def test_auto_with_a_pinned_version():
    # a prebuilt image of exactly that version wins; else it is built, if the commit offers it
    assert resolve_image(release_info("36.4.7"), "auto", PIN, "0.6.8") == \
        ImagePlan("prebuilt", "dustynv/ollama:0.6.8-r36.4-cu126-22.04", None, "0.6.8")
    assert resolve_image(release_info("36.2.0"), "auto", PIN, "0.11.8", min_ollama="0.6.6") == \
        ImagePlan("build", "ollama:0.11.8-r36.2.0-cu122-22.04", "ollama:0.11.8", "0.11.8")


def test_a_version_the_commit_does_not_offer_is_refused_with_its_versions():
    with pytest.raises(NoImage) as err:
        resolve_image(release_info("36.2.0"), "build", PIN, "0.6.8")
    assert str(err.value) == ("jetson-containers 16f7cf41 offers ollama 0.4.0, 0.5.1, 0.5.5, 0.11.8 (default 0.11.8), "
                              "not 0.6.8: set ollama_version to one of them, or pin another jetson_containers_commit")


def test_build_ignores_prebuilt_images():
    assert resolve_image(release_info("36.4.3"), "build", PIN) == \
        ImagePlan("build", "ollama:r36.2.0-cu122-22.04", "ollama", "0.11.8")


def test_a_build_whose_name_cannot_be_known_is_refused_with_the_reason():
    unknown = BuildNames(images={}, problem="set jetson_containers_commit_date")
    with pytest.raises(NoImage, match="^set jetson_containers_commit_date$"):
        resolve_image(release_info("38.2.0"), "auto", unknown)
    # a prebuilt image needs no name
    assert resolve_image(release_info("36.4.7"), "auto", unknown).strategy == "prebuilt"


def test_reuse_plans_no_ref():
    assert resolve_image(release_info("36.2.0"), "reuse", PIN, "0.6.8") == ImagePlan("reuse", None, None, "0.6.8")


@pytest.mark.parametrize("l4t, kwargs, message", [
    ("36.2.0", {"min_ollama": "0.6.6"},
     "no prebuilt dustynv/ollama image for L4T 36.2.0 with Ollama >= 0.6.6; set jetson_image_strategy: build"),
    ("38.2.0", {}, "no prebuilt dustynv/ollama image for L4T 38.2.0; set jetson_image_strategy: build"),
    ("36.4.3", {"ollama_version": "0.6.9"},
     "no prebuilt dustynv/ollama image for L4T 36.4.3 with Ollama 0.6.9; set jetson_image_strategy: build"),
])
def test_prebuilt_without_an_image_raises_one_line(l4t, kwargs, message):
    with pytest.raises(NoImage) as err:
        resolve_image(release_info(l4t), "prebuilt", PIN, **kwargs)
    assert isinstance(err.value, ValueError)
    assert str(err.value) == message


def test_a_version_older_than_the_models_need_names_the_versions_that_do():
    message = r"^ollama 0.5.5 is older than 0.6.6, .*; set ollama_version to one of 0.11.8$"
    with pytest.raises(NoImage, match=message):
        resolve_image(release_info("36.2.0"), "build", PIN, "0.5.5", min_ollama="0.6.6")


def test_unknown_strategy():
    with pytest.raises(ValueError, match="image strategy must be one of prebuilt, build, reuse, auto"):
        resolve_image(release_info("36.2.0"), "latest", PIN)


# ---------------------------------------------------------------- reuse: the board's own images

@pytest.mark.parametrize("images, board, expected", [
    # `docker images` order, newest first
    (["ollama:r36.4.tegra-aarch64-cu126-22.04", "ollama:r36.2.0-cu122-22.04"], "36.2.0",
     "ollama:r36.2.0-cu122-22.04"),
    (["ubuntu:22.04", "dustynv/ollama:r36.4.3", "ollama:r36.4-cu126-22.04"], "36.4.7", "dustynv/ollama:r36.4.3"),
    (["ollama:r36.2.0-cu122-22.04-ollama"], "36.2.0", None),  # a stage whose test failed
    (["ollama:0.11.8-r36.2.0-cu122-22.04-ollama_0.11.8"], "36.2.0", None),  # the stage of a versioned build
    (["dustynv/ollama:r36.4.0"], "38.2.0", None),  # upstream would run it on Thor; the deploy does not pick it
    (["ollama:latest", "ollama:<none>", "llama_cpp:r36.2.0"], "36.2.0", None),
    (["dustynv/ollama:r35.4.1"], "36.2.0", None),
])
def test_reusable_image(images, board, expected):
    assert reusable_image(images, board) == expected
