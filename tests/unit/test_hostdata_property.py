"""Hundreds of generated bad inventories: good host data with one or more keys made bad in a way that
key can be (wrong type, out of range, a model outside the catalog, a bad network, an unsafe or relative
path, an unknown key, a cache host outside the inventory). Each is written as an inventory file and
checked the way the CLI checks it (runner.inventory_hosts + hostdata.check_inventory; for a sample, the
pyinfra command with the repo-root config.py): every one fails with a line naming that host, that key
and the value, and nothing connects to the boards (a port that counts connections). Examples are
derandomized (the same 200 and 5 on every run), so CI is deterministic; drop `derandomize` to explore."""

from __future__ import annotations

import os
import re
import string
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from jetson_ollama.defaults import DEFAULTS
from jetson_ollama.hostdata import check_inventory
from jetson_ollama.catalog import catalog
from jetson_ollama.runner import inventory_hosts

from .test_hostdata import Listener, write_inventory

REPO = Path(__file__).parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")
CACHE = "cache-1"
CATALOG = list(catalog())
BOARD_NAMES = ["nano-1", "nano-2", "nx-1"]

# ---------------------------------------------------------------- good data

GOOD = {
    "jetson_containers_path": ["/opt/jetson-containers", "/srv/jc"],
    "jetson_image_strategy": ["auto", "prebuilt", "build", "reuse"],
    "jetson_configure_docker_runtime": [True, False],
    "jetson_build_min_free_gb": [0, 11, 10.5],
    "jetson_bench_num_predict": [1, 64, 256],
    "jetson_scripts_dir": ["/opt/jetson-ollama/bin", "/usr/local/lib/jetson-ollama"],
    "ollama_models_dir": ["/opt/ollama/models", "/mnt/nvme/ollama-models"],
    "ollama_host": ["127.0.0.1:11434", "127.0.0.1:11500"],
    "ollama_keep_alive": ["5m", "1h30m", "-1", 300],
    "ollama_num_parallel": [1, 2],
    "ollama_max_loaded_models": [1, 2],
    "ollama_context_length": [2048, 4096, 16384],
    "ollama_flash_attention": [True, False],
    "ollama_api_timeout": [20, 120, 0.5],
    "ollama_models": ["auto", [], ["qwen2.5:0.5b"], ["qwen3:4b", "qwen2.5:1.5b"]],
    "ollama_memory_policy": ["strict", "warn", "off"],
    "ollama_prune_models": [True, False],
    "ollama_desktop": [True, False],
}


def good_data() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({}, optional={key: st.sampled_from(values) for key, values in GOOD.items()})


@st.composite
def good_inventory(draw) -> dict[str, dict]:
    """1-3 boards, with or without a cache host that every host names (as the cache needs)."""
    names = draw(st.lists(st.sampled_from(BOARD_NAMES), min_size=1, max_size=3, unique=True))
    hosts = {name: draw(good_data()) for name in names}
    if draw(st.booleans()):
        hosts[CACHE] = {}
        for data in hosts.values():
            data["jetson_cache_host"] = CACHE
    return hosts


# ---------------------------------------------------------------- bad values, by the kind of key

def _not(pattern: str) -> st.SearchStrategy[str]:
    return st.text(max_size=12).filter(lambda text: not re.fullmatch(pattern, text))


WRONG_TYPE = st.one_of(st.dictionaries(st.sampled_from("ab"), st.integers(), max_size=1),
                       # complex numbers from small integers: a literal such as -0j reads back as (-0-0j)
                       st.tuples(st.integers()), st.builds(complex, st.integers(-9, 9), st.integers(1, 9)))
NOT_A_BOOL = st.one_of(st.sampled_from(["yes", "no", "true", "false", "True", ""]), st.integers(), st.floats(0, 1))
UNSAFE = " \t\n\r\x00$%:;'\"\\`*?&|<>!#~{}()[]="
BAD_PATH = st.one_of(
    st.sampled_from(["relative/dir", "models", "~/models", "", "./x", "/opt/../etc", "/opt/./x", "//opt", "/opt/x/"]),
    st.builds(lambda head, bad, tail: f"/opt/{head}{bad}{tail}", st.text(string.ascii_lowercase, max_size=4),
              st.sampled_from(list(UNSAFE)), st.text(string.ascii_lowercase, max_size=4)),
    st.text(max_size=8).filter(lambda text: not text.startswith("/")),
    st.integers(), st.booleans())
BAD_INT = st.one_of(st.integers(max_value=0), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                    st.from_regex(r"[0-9]{1,5}", fullmatch=True))
BAD_PORT = st.one_of(st.integers(max_value=0), st.integers(min_value=65536), st.booleans(),
                     st.from_regex(r"[0-9]{1,5}", fullmatch=True), st.floats(1, 65535))
BAD_AMOUNT = st.one_of(st.integers(max_value=-1), st.floats(max_value=-0.001, allow_nan=False, allow_infinity=False),
                       st.booleans(), st.from_regex(r"[0-9]{1,3}", fullmatch=True))
BAD_TIMEOUT = st.one_of(st.integers(max_value=0), st.floats(max_value=0, allow_nan=False, allow_infinity=False),
                        st.booleans(), st.sampled_from(["120", "2m"]))
UNKNOWN_TAG = st.from_regex(r"[a-z][a-z0-9]{2,8}:[0-9]{1,3}b", fullmatch=True).filter(lambda tag: tag not in CATALOG)
BAD_TAG = st.one_of(st.sampled_from(["qwen3", "Qwen3:4b", "qwen3:", ":4b", "qwen3 :4b", "qwen3:4b\n", ""]),
                    st.integers())
BAD_TAGS = st.one_of(
    st.lists(BAD_TAG, min_size=1, max_size=2).flatmap(lambda bad: st.permutations([*bad, "qwen3:4b"])),
    st.sampled_from(CATALOG).map(lambda tag: [tag, tag]),  # repeated
    st.sampled_from(["qwen3:4b", "qwen3:4b,qwen2.5:0.5b"]), st.integers())
# digits of other scripts (Arabic-Indic, Devanagari, fullwidth...): Python's \d and str.isdigit take them, a
# shell, docker or Ollama does not
OTHER_DIGITS = st.text(st.characters(categories=["Nd"], exclude_characters="0123456789"), min_size=1, max_size=5)
BAD_NETWORKS = st.one_of(
    st.sampled_from([["10.0.0.0/33"], ["lan"], ["300.1.1.0/24"], ["192.168.55.7/24"], [24], "10.0.0.0/8"]),
    st.lists(st.text(string.ascii_letters + " -", min_size=1, max_size=6), min_size=1, max_size=2))

BAD: dict[str, st.SearchStrategy] = {
    "jetson_containers_repo": st.sampled_from(["", "  ", 7]),
    "jetson_containers_commit": st.one_of(st.from_regex(r"[0-9a-f]{1,39}", fullmatch=True),
                                          st.from_regex(r"[0-9a-f]{41,44}", fullmatch=True),
                                          st.from_regex(r"[0-9A-F]{40}", fullmatch=True).filter(
                                              lambda commit: re.search("[A-F]", commit)), _not("[0-9a-f]{40}")),
    "jetson_containers_commit_date": st.one_of(_not("[0-9]{4}-[0-9]{2}-[0-9]{2}").filter(bool), st.integers(),
                                               st.builds("{}-{}-{}".format, OTHER_DIGITS, OTHER_DIGITS, OTHER_DIGITS)),
    "jetson_image_strategy": st.one_of(_not("auto|prebuilt|build|reuse"), st.integers()),
    "jetson_image": st.sampled_from(["", "   ", 5, ["ollama:r36.2.0"]]),
    "jetson_build_min_free_gb": BAD_AMOUNT,
    "jetson_pull_min_free_gb": BAD_AMOUNT,
    "jetson_bench_prompts": st.sampled_from([[], [""], ["  "], "Explain a GPU.", [1], ["ok", None]]),
    "jetson_bench_num_predict": BAD_INT,
    "jetson_cache_address": st.sampled_from(["-x", "a b", "", "x/y", "10.0.0.1\n", 10]),
    "jetson_cache_registry_port": BAD_PORT,
    "jetson_cache_models_port": BAD_PORT,
    "ollama_version": st.one_of(_not("[0-9]+(\\.[0-9]+)*").filter(bool), st.floats(0, 1), st.integers(),
                                st.builds("{}.{}".format, OTHER_DIGITS, OTHER_DIGITS)),
    "ollama_container_name": st.one_of(_not("[a-zA-Z0-9][a-zA-Z0-9_.-]*"), st.integers()),
    "ollama_container_models_dir": st.one_of(BAD_PATH, st.sampled_from(["/data", "/data/models"])),
    "ollama_host": st.one_of(
        st.builds(lambda host, port: f"{host}:{port}", st.sampled_from(["127.0.0.1", "localhost", "[::1]"]),
                  st.one_of(st.integers(max_value=0), st.integers(min_value=65536), st.just("http"), OTHER_DIGITS)),
        st.sampled_from(["127.0.0.1", ":11434", "127.0.0.1:", "my host:11434"]), st.integers()),
    "ollama_keep_alive": st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                                   st.sampled_from(["5 minutes", "5min", "m5", "", "1d", "forever"]), st.booleans(),
                                   OTHER_DIGITS, OTHER_DIGITS.map("{}m".format)),
    "ollama_api_timeout": BAD_TIMEOUT,
    "ollama_models": st.one_of(BAD_TAGS, st.lists(UNKNOWN_TAG, min_size=1, max_size=2, unique=True)),
    "ollama_models_auto": st.one_of(BAD_TAGS, st.just([]), st.lists(UNKNOWN_TAG, min_size=1, max_size=2, unique=True)),
    "ollama_registry": st.sampled_from(["ftp://registry.ollama.ai", "registry.ollama.ai", "http://", "https:// x",
                                        "", 443]),
    "ollama_lock_file": st.sampled_from(["", "   ", 5, ["models.lock"]]),
    "ollama_allow_from": BAD_NETWORKS,
}
for _key in ("jetson_containers_path", "jetson_scripts_dir", "jetson_cache_registry_dir", "jetson_cache_models_dir",
             "ollama_models_dir"):
    BAD[_key] = BAD_PATH
for _key in ("jetson_configure_docker_runtime", "jetson_rollout_keep_previous", "ollama_flash_attention",
             "ollama_allow_unknown_models", "ollama_prune_models", "ollama_update_lock", "ollama_desktop"):
    BAD[_key] = NOT_A_BOOL
for _key in ("ollama_num_parallel", "ollama_max_loaded_models", "ollama_context_length"):
    BAD[_key] = BAD_INT
BAD = {key: bad for key, bad in BAD.items() if key in DEFAULTS}  # keys another branch has not added yet
# every key, also one added after this table: a value of no type a setting takes
KEYS = list(DEFAULTS)


def bad_value(key: str) -> st.SearchStrategy:
    return BAD.get(key, WRONG_TYPE)


UNKNOWN_KEY = st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(["jetson_", "ollama_"]),
                        st.from_regex(r"[a-z][a-z_]{0,14}", fullmatch=True)).filter(lambda key: key not in DEFAULTS)


@st.composite
def bad_inventory(draw) -> tuple[dict[str, dict], list[tuple[str, str, object]]]:
    """A good inventory, then on 1-2 of its hosts 1-3 keys each made bad: (hosts, [(host, key, value)])."""
    hosts = draw(good_inventory())
    names = list(hosts)
    mutations = []
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)):
        kinds = draw(st.lists(st.sampled_from([*KEYS, "unknown key", "cache host"]), min_size=1, max_size=3,
                              unique=True))
        for kind in kinds:
            if kind == "unknown key":
                key = draw(UNKNOWN_KEY.filter(lambda key, data=hosts[name]: key not in data))
                value = draw(st.one_of(st.integers(), st.text(max_size=6), st.booleans()))
            elif kind == "cache host":  # a name the inventory does not have
                key = "jetson_cache_host"
                value = draw(st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=8)
                             .filter(lambda text: text not in hosts))
            else:
                key, value = kind, draw(bad_value(kind))
            if any(key == done for host, done, _ in mutations if host == name):
                continue
            hosts[name][key] = value
            mutations.append((name, key, value))
    return hosts, mutations


# ---------------------------------------------------------------- the properties

BOARDS = Listener()  # every host of every generated inventory is ssh to this port


def checked(hosts: dict[str, dict]) -> list[str]:
    """The CLI's path: the inventory file read by pyinfra (no connection), then check_inventory."""
    with tempfile.TemporaryDirectory() as directory:
        inventory = write_inventory(Path(directory) / "inventory.py", BOARDS.port, hosts)
        return check_inventory((host.name, host.data) for host in inventory_hosts(str(inventory)))


def assert_named(lines: list[str], mutations: list[tuple[str, str, object]]) -> None:
    assert lines
    for name, key, value in mutations:
        prefix, suffix = f"jetson-ollama: host {name}: {key}: ", f" (got {value!r})"
        assert any(line.startswith(prefix) and line.endswith(suffix) and len(line) > len(prefix + suffix)
                   for line in lines), (name, key, value, lines)


@hypothesis_settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(good_inventory())
def test_good_inventories_pass(hosts):
    assert checked(hosts) == []


@hypothesis_settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(bad_inventory())
def test_every_bad_inventory_names_host_key_and_value(case):
    hosts, mutations = case
    before = BOARDS.accepted
    assert_named(checked(hosts), mutations)
    assert BOARDS.accepted == before


@hypothesis_settings(max_examples=5, deadline=None, database=None, derandomize=True)
@given(bad_inventory())
def test_pyinfra_stops_every_bad_inventory_before_connecting(case):
    hosts, mutations = case
    before = BOARDS.accepted
    with tempfile.TemporaryDirectory() as directory:
        inventory = write_inventory(Path(directory) / "inventory.py", BOARDS.port, hosts)
        run = subprocess.run([str(PYINFRA), str(inventory), "deploys/full.py", "-y"], cwd=REPO, capture_output=True,
                             encoding="utf-8", env={**os.environ, "PYTHONIOENCODING": "utf-8"}, timeout=120)
    assert run.returncode != 0
    assert_named((run.stdout + run.stderr).splitlines(), mutations)
    assert BOARDS.accepted == before
