"""L4T release parsing and the L4T -> JetPack/CUDA/Ubuntu table (facts section 1)."""

import dataclasses

import pytest
import yaml

from jetson_ollama import releases
from jetson_ollama.releases import L4TRelease, ReleaseInfo, UnknownRelease, known_releases, release_info

# the facts file's table, transcribed independently of data/l4t_releases.yaml
TABLE = [
    ("35.4.1", "5.1.2", "11.4", "20.04"),
    ("35.5.0", "5.1.3", "11.4", "20.04"),
    ("36.2.0", "6.0", "12.2", "22.04"),
    ("36.3.0", "6.0", "12.2", "22.04"),  # not 12.4: that is jetson-containers' container default
    ("36.4.0", "6.1", "12.6", "22.04"),
    ("36.4.2", "6.1.1", "12.6", "22.04"),
    ("36.4.3", "6.2", "12.6", "22.04"),
    ("36.4.4", "6.2.1", "12.6", "22.04"),
    ("36.4.7", "6.2.1", "12.6", "22.04"),
    ("36.5.0", "6.2.1", "12.6", "22.04"),
    ("38.2", "7.0", "13.0", "24.04"),
    ("38.4", "7.1", "13.0", "24.04"),
]


@pytest.mark.parametrize("l4t, jetpack, cuda, ubuntu", TABLE)
def test_release_info_of_every_row(l4t, jetpack, cuda, ubuntu):
    release = L4TRelease.parse(l4t)
    assert release_info(release) == ReleaseInfo(release, jetpack, cuda, ubuntu)
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


def test_unknown_release_is_a_one_line_value_error_naming_the_known_ones():
    with pytest.raises(UnknownRelease) as err:
        release_info("36.4.9")
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    assert message.startswith("unknown L4T release 36.4.9; known: 35.4.1, 35.5.0, 36.2.0,")
    assert message.endswith("38.2.0, 38.4.0") and "\n" not in message
