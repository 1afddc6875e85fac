"""Ollama versions (version.py): what the catalog, the image tables, the plan and the board tests compare."""

import pytest

from jetson_ollama.version import ANY, Version, at_least, newest


@pytest.mark.parametrize("have, need, result", [
    ("0.6.8", "0.6.6", True), ("0.6.6", "0.6.6", True), ("0.6.5", "0.6.6", False),
    ("0.10.0", "0.6.6", True), ("0.0.0", "0.0.0", True), ("0.0.0", "0.5.7", False),
    ("0.6.8-rc1", "0.6.8", True), ("0.6.8-rc1", "0.6.9", False), ("v0.6.8", "0.6.8", True),
    ("v0.11.8-rc1", "0.11.8", True), ("0.7", "0.6.8", True), ("0.6.8+build.5", "0.6.8", True),
    ("1", "0.99.99", True), (" 0.5.7\n", "0.5.7", True),
    ("5f7b4a5", "0.0.0", True), ("5f7b4a5", "0.1.0", False),  # a shallow clone's stamp: no release
    ("bd5e432", "0.0.1", False), (None, "0.6.6", False), ("latest", "0.6.6", False),
    ("0.0.0", None, True), (None, None, True), ("5f7b4a5", None, True),
])
def test_at_least(have, need, result):
    assert at_least(have, need) is result


@pytest.mark.parametrize("text", ["", "latest", "0.x", None, 6])
def test_of_refuses_what_names_no_version(text):
    with pytest.raises(ValueError, match="not a version"):
        Version.of(text)
    assert Version.release(text) is None


def test_a_need_that_names_no_version_is_an_error_not_a_pass():
    with pytest.raises(ValueError):
        at_least("0.6.8", "latest")


def test_order_ignores_suffixes_and_pads_missing_parts():
    assert Version.of("0.7") == Version.of("0.7.0") == Version.of("v0.7.0-rc2")
    assert Version.of("0.10.0") > Version.of("0.9.9") > ANY
    assert str(Version.of("v0.6")) == "0.6.0"
    assert Version.release("5263041") is None  # seven hex digits are a git hash, even all digits


def test_newest_keeps_the_text_as_written():
    assert newest(["0.0.0", "0.6.6", None, "0.5.7", "0.6.10"]) == "0.6.10"
    assert newest([None]) is None and newest([]) is None
