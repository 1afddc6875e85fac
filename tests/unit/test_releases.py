"""L4T release parsing and the L4T -> JetPack/CUDA/Ubuntu table (docs/facts.md section 1)."""

import dataclasses

import pytest
import yaml

from jetson_ollama import releases
from jetson_ollama.releases import L4TRelease, UnknownRelease, known_releases, release_info

# NVIDIA's Jetson Linux releases and the JetPack each belongs to, transcribed independently of
# data/l4t_releases.yaml (JetPack as dusty-nv/jetson-containers l4t_version.py NVIDIA_JETPACK @dd206bfe
# records it); CUDA is the toolkit that JetPack installs on the host
TABLE = [
    ("35.1.0", "5.0.2", "11.4", "20.04"),
    ("35.2.1", "5.1", "11.4", "20.04"),
    ("35.3.1", "5.1.1", "11.4", "20.04"),
    ("35.4.1", "5.1.2", "11.4", "20.04"),
    ("35.5.0", "5.1.3", "11.4", "20.04"),
    ("35.6.0", "5.1.4", "11.4", "20.04"),  # the last JetPack 5 feature release: Xavier and Orin
    ("35.6.1", "5.1.5", "11.4", "20.04"),
    ("35.6.2", "5.1.5", "11.4", "20.04"),
    ("36.2.0", "6.0", "12.2", "22.04"),
    ("36.3.0", "6.0", "12.2", "22.04"),  # not 12.4: that is jetson-containers' default without host CUDA
    ("36.4.0", "6.1", "12.6", "22.04"),
    ("36.4.2", "6.1.1", "12.6", "22.04"),
    ("36.4.3", "6.2", "12.6", "22.04"),
    ("36.4.4", "6.2.1", "12.6", "22.04"),
    ("36.4.7", "6.2.1", "12.6", "22.04"),
    ("36.5.0", "6.2.1", "12.6", "22.04"),
    ("38.2.0", "7.0", "13.0", "24.04"),
    ("38.2.2", "7.0", "13.0", "24.04"),
    ("38.4.0", "7.1", "13.0", "24.04"),
]


@pytest.mark.parametrize("l4t, jetpack, cuda, ubuntu", TABLE)
def test_release_info_of_every_row(l4t, jetpack, cuda, ubuntu):
    release = L4TRelease.parse(l4t)
    info = release_info(release)
    assert (info.l4t, info.jetpack, info.cuda, info.ubuntu, info.note) == (release, jetpack, cuda, ubuntu, "")
    assert release_info(f"r{l4t}") == release_info(release)  # strings are parsed


def test_the_table_has_exactly_the_facts_file_rows_as_strings():
    assert known_releases() == sorted(L4TRelease.parse(row[0]) for row in TABLE)
    raw = yaml.safe_load(releases._TABLE_FILE.read_text())
    assert all(isinstance(value, str) for row in raw.values() for value in row.values())


@pytest.mark.parametrize("text, expected", [
    ("36.4.3", L4TRelease(36, 4, 3)),
    ("r36.4.3", L4TRelease(36, 4, 3)),
    ("R35.4.1", L4TRelease(35, 4, 1)),
    ("36.4", L4TRelease(36, 4, 0)),
    (" 36.2.0\n", L4TRelease(36, 2, 0)),
])
def test_parse(text, expected):
    assert L4TRelease.parse(text) == expected


@pytest.mark.parametrize("text", ["", "36", "r36", "36.4.3.1", "36.4.x", "v36.4.3", "36.4.3-20250107174145"])
def test_parse_rejects(text):
    with pytest.raises(ValueError, match="not an L4T release"):
        L4TRelease.parse(text)


def test_str_is_three_parts_and_round_trips():
    assert str(L4TRelease.parse("r36.4.3")) == "36.4.3"
    assert str(L4TRelease.parse("38.2")) == "38.2.0"
    assert all(L4TRelease.parse(str(release)) == release for release in known_releases())


def test_releases_are_frozen_and_ordered():
    release = L4TRelease(36, 4, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        release.patch = 4
    assert L4TRelease(35, 5, 0) < L4TRelease(36, 2, 0) < L4TRelease(36, 4, 0) < release < L4TRelease(38, 2, 0)


@pytest.mark.parametrize("l4t, like", [("36.4.9", "36.4.7"), ("35.6.4", "35.6.2"), ("38.4.1", "38.4.0"),
                                       ("36.5.2", "36.5.0")])
def test_an_unlisted_patch_release_takes_its_family_values_with_a_note(l4t, like):
    info, known = release_info(l4t), release_info(like)
    assert info.l4t == L4TRelease.parse(l4t)
    assert (info.jetpack, info.cuda, info.ubuntu) == (known.jetpack, known.cuda, known.ubuntu)
    assert info.note == (f"L4T {L4TRelease.parse(l4t)} is not in this library's table: taking {like}'s values "
                         f"(JetPack {known.jetpack}, CUDA {known.cuda})")


def test_xavier_and_thor_socs():
    assert "t194" in release_info("35.6.0").socs.split()  # Xavier on JetPack 5.1.4
    assert release_info("36.4.3").socs == "t234"
    assert release_info("38.2.0").socs == "t264"


@pytest.mark.parametrize("l4t", ["36.6.0", "39.1.0", "34.1.1", "32.7.4"])
def test_an_unknown_family_is_a_one_line_value_error_naming_the_known_ones(l4t):
    with pytest.raises(UnknownRelease) as err:
        release_info(l4t)
    assert isinstance(err.value, ValueError)
    assert str(err.value) == (f"unknown L4T release {L4TRelease.parse(l4t)} "
                              "(known families: 35.1-35.6, 36.2-36.5, 38.2-38.4)")
