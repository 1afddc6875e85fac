"""Settings from host data, the declaration they come from, the Ollama environment, the README settings table."""

import dataclasses
from pathlib import Path

import pytest
from pyinfra.api import Config, Inventory, State

from jetson_ollama.checks import boolean
from jetson_ollama.config import (
    ConfigError, Settings, defaults_meanings, defaults_table, ollama_environment, problems, settings,
)
from jetson_ollama.defaults import CHECKS, DEFAULTS, DOCS, INTERNAL, declaration_problems, setting

README = Path(__file__).parents[2] / "README.md"
BEGIN, END = "<!-- defaults:begin -->", "<!-- defaults:end -->"


def user_fields(chosen: Settings) -> dict:
    return {key: value for key, value in dataclasses.asdict(chosen).items() if not key.startswith("_")}


def test_settings_has_every_default_as_an_attribute():
    assert [field.name for field in dataclasses.fields(Settings) if not field.name.startswith("_")] == list(DEFAULTS)
    assert user_fields(settings({})) == DEFAULTS
    assert user_fields(settings()) == DEFAULTS


def test_every_key_has_a_prefix_and_a_one_line_meaning():
    assert all(key.startswith(("jetson_", "ollama_")) for key in DEFAULTS)
    meanings = defaults_meanings()
    assert list(meanings) == [key for key in DEFAULTS if key not in INTERNAL]
    assert all(meaning and not meaning.startswith("#") for meaning in meanings.values())


def test_every_setting_is_declared_with_a_check_and_a_one_line_doc():
    assert declaration_problems(Settings) == []
    assert list(CHECKS) == list(DOCS) == list(DEFAULTS)
    assert all(callable(check) for check in CHECKS.values())
    assert all(doc.strip() and "\n" not in doc for doc in DOCS.values())


def test_a_setting_without_a_check_or_a_doc_is_found():
    @dataclasses.dataclass(frozen=True)
    class Declared:
        jetson_fine: bool = setting(False, boolean, "a setting as it should be")
        jetson_no_check: bool = dataclasses.field(default=False, metadata={"doc": "no check"})
        jetson_two_lines: bool = setting(False, boolean, "a doc\nof two lines")
        jetson_bare: int = 3
        _private: int = 0  # not a setting

    assert declaration_problems(Declared) == [
        "jetson_no_check: no check; declare it as setting(default, check, doc)",
        "jetson_two_lines: no one-line doc; declare it as setting(default, check, doc)",
        "jetson_bare: no check; declare it as setting(default, check, doc)",
        "jetson_bare: no one-line doc; declare it as setting(default, check, doc)",
    ]


def test_list_defaults_are_not_shared():
    first, second = Settings(), Settings()
    assert first.ollama_models_auto == DEFAULTS["ollama_models_auto"]
    assert first.ollama_models_auto is not second.ollama_models_auto
    assert settings({}).jetson_bench_prompts is not DEFAULTS["jetson_bench_prompts"]


def test_none_falls_back_to_the_default_and_settings_are_frozen():
    chosen = settings({"ollama_host": None, "ollama_keep_alive": "10m", "jetson_image": "ollama:r36.2.0"})
    assert chosen.ollama_host == "127.0.0.1:11434"
    assert (chosen.ollama_keep_alive, chosen.jetson_image) == ("10m", "ollama:r36.2.0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        chosen.ollama_host = "0.0.0.0:11434"


def test_reads_pyinfra_host_data():
    # global data, a group's data and a host's own data; unset keys make host.data.get() return None
    inventory = Inventory((["board1", ("board2", {"ollama_num_parallel": 2})], {"ollama_host": "127.0.0.1:8080"}),
                          lab=(["board2"], {"ollama_keep_alive": "10m"}))
    State(inventory, Config())
    board1, board2 = inventory.get_host("board1"), inventory.get_host("board2")
    assert settings(board1.data) == dataclasses.replace(settings({}), ollama_host="127.0.0.1:8080")
    assert settings(board2.data) == dataclasses.replace(
        settings({}), ollama_host="127.0.0.1:8080", ollama_keep_alive="10m", ollama_num_parallel=2)


@pytest.mark.parametrize("key, value", [
    ("jetson_containers_repo", ""),
    ("jetson_containers_commit", "16f7cf4"),
    ("jetson_containers_commit", "16F7CF4145D9F943230B4C92BC2183853A2AEB30"),
    ("jetson_containers_path", "opt/jetson-containers"),
    ("jetson_image_strategy", "latest"),
    ("jetson_image", ""),
    ("jetson_configure_docker_runtime", "yes"),
    ("jetson_build_min_free_gb", -1),
    ("jetson_build_min_free_gb", "11"),
    ("jetson_pull_min_free_gb", True),
    ("ollama_version", "v0.6.8"),
    ("ollama_version", 0.6),
    ("ollama_container_name", "my ollama"),
    ("ollama_models_dir", "models"),
    ("ollama_container_models_dir", "/data"),
    ("ollama_container_models_dir", "/data/models/ollama/models"),
    ("ollama_container_models_dir", "/data/"),
    ("ollama_container_models_dir", "/ollama/../data/models"),
    ("ollama_container_models_dir", "relative/models"),
    ("ollama_host", "127.0.0.1"),
    ("ollama_host", "127.0.0.1:0"),
    ("ollama_host", "127.0.0.1:65536"),
    ("ollama_host", ":11434"),
    ("ollama_host", "127.0.0.1:http"),
    ("ollama_host", 11434),
    ("ollama_keep_alive", "5 minutes"),
    ("ollama_keep_alive", 1.5),
    ("ollama_num_parallel", 0),
    ("ollama_num_parallel", 1.0),
    ("ollama_max_loaded_models", True),
    ("ollama_context_length", "4096"),
    ("ollama_context_length", 0),
    ("ollama_flash_attention", 1),
    ("ollama_api_timeout", 0),
])
def test_a_bad_value_gives_one_line_naming_the_key(key, value):
    with pytest.raises(ConfigError) as err:
        settings({key: value})
    message = str(err.value)
    assert isinstance(err.value, ValueError)
    assert message.startswith(f"{key}: ") and message.endswith(f" (got {value!r})")
    assert "\n" not in message


@pytest.mark.parametrize("key, value, message", [
    ("ollama_host", "0.0.0.0:99999", "ollama_host: must be host:port with a port 1-65535 (got '0.0.0.0:99999')"),
    ("ollama_container_models_dir", "/data/models", "ollama_container_models_dir: must not be /data or under it "
                                                    "(jetson-containers mounts /data) (got '/data/models')"),
    ("jetson_image_strategy", "pull",
     "jetson_image_strategy: must be one of prebuilt, build, reuse, auto (got 'pull')"),
])
def test_messages(key, value, message):
    with pytest.raises(ConfigError) as err:
        settings({key: value})
    assert str(err.value) == message


@pytest.mark.parametrize("key, value", [
    ("ollama_host", "127.0.0.1:8080"),
    ("ollama_host", "[::1]:11434"),
    ("ollama_host", "localhost:1"),
    ("ollama_container_models_dir", "/database/models"),  # only /data itself is taken
    ("ollama_keep_alive", "-1"),
    ("ollama_keep_alive", "1h30m"),
    ("ollama_keep_alive", 300),
    ("ollama_version", "0.6.8"),
    ("jetson_build_min_free_gb", 10.5),
    ("jetson_pull_min_free_gb", 0),
    ("jetson_image_strategy", "reuse"),
    ("jetson_containers_repo", "git://10.0.0.1/jetson-containers.git"),
])
def test_good_values(key, value):
    assert getattr(settings({key: value}), key) == value


def test_environment_for_jetpack_6():
    assert ollama_environment(settings({}), 6) == {
        "JETSON_JETPACK": "6",
        "OLLAMA_CONTEXT_LENGTH": "4096",
        "OLLAMA_FLASH_ATTENTION": "1",
        "OLLAMA_HOST": "127.0.0.1:11434",
        "OLLAMA_KEEP_ALIVE": "5m",
        "OLLAMA_MAX_LOADED_MODELS": "1",
        "OLLAMA_MODELS": "/ollama/models",
        "OLLAMA_NUM_PARALLEL": "1",
    }


def test_environment_for_jetpack_5_with_settings():
    chosen = settings({"ollama_flash_attention": False, "ollama_keep_alive": 300, "ollama_num_parallel": 2,
                       "ollama_container_models_dir": "/models"})
    environment = ollama_environment(chosen, "5.1.2")
    assert list(environment) == sorted(environment)
    assert all(isinstance(value, str) for value in environment.values())
    assert environment["JETSON_JETPACK"] == "5"
    assert (environment["OLLAMA_FLASH_ATTENTION"], environment["OLLAMA_KEEP_ALIVE"]) == ("0", "300")
    assert (environment["OLLAMA_NUM_PARALLEL"], environment["OLLAMA_MODELS"]) == ("2", "/models")


def test_environment_sets_no_jetpack_beyond_6():
    assert "JETSON_JETPACK" not in ollama_environment(settings({}), "7.0")


def test_defaults_table():
    lines = defaults_table().splitlines()
    assert lines[:2] == ["| key | default | meaning |", "|---|---|---|"]
    assert len(lines) == 2 + len(DEFAULTS) - len(INTERNAL)
    row = {line.split("`")[1]: line for line in lines[2:]}
    assert row["jetson_image_strategy"].startswith('| `jetson_image_strategy` | `"auto"` | how the board gets '
                                                   'its Ollama image: prebuilt \\| build \\| reuse \\| auto ')
    assert "| `jetson_image` | `None` |" in row["jetson_image"]
    assert "| `ollama_flash_attention` | `True` |" in defaults_table()


def test_readme_shows_the_defaults_table():
    readme = README.read_text()
    assert BEGIN in readme and END in readme, f"README.md lost its {BEGIN} ... {END} markers"
    between = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert between.strip() == defaults_table().strip(), "paste the output of: python -m jetson_ollama.config"


def test_internal_keys_stay_out_of_the_table_and_are_still_checked():
    assert "jetson_rollout_keep_previous" in INTERNAL  # jetson-ollama rollout sets it, not users
    table_keys = [line.split("`")[1] for line in defaults_table().splitlines()[2:]]
    assert not set(INTERNAL) & set(table_keys)
    assert set(table_keys) | set(INTERNAL) == set(DEFAULTS)
    readme = README.read_text()
    outside = readme.split(BEGIN, 1)[0] + readme.split(END, 1)[1]
    assert all(f"`{key}`" in outside for key in INTERNAL), "the README's paragraph by the table names each one"
    with pytest.raises(ConfigError, match=r"^jetson_rollout_keep_previous: must be True or False \(got 'yes'\)$"):
        settings({"jetson_rollout_keep_previous": "yes"})
    assert settings({"jetson_rollout_keep_previous": True}).jetson_rollout_keep_previous is True


# ---- the API stays on the board unless networks are listed (secure defaults)

@pytest.mark.parametrize("host", ["0.0.0.0:11434", "192.168.55.101:11434", "jetson.local:11434"])
def test_an_api_beyond_the_board_needs_ollama_allow_from(host):
    with pytest.raises(ConfigError, match=r"^ollama_host: listens beyond the board .* list the networks"):
        settings({"ollama_host": host})


def test_with_ollama_allow_from_the_api_binds_to_the_lan_address():
    chosen = settings({"ollama_allow_from": ["10.0.0.0/8"], "ssh_hostname": "192.168.55.101"})
    assert (chosen.ollama_host, chosen.api_listen) == ("127.0.0.1:11434", "192.168.55.101:11434")
    chosen = settings({"ollama_allow_from": ["192.168.55.0/24"], "ssh_hostname": "nano-01.lab",
                       "ollama_bind_address": "192.168.55.101", "ollama_host": "127.0.0.1:8080"})
    assert chosen.ollama_host == "127.0.0.1:8080"  # as the user gave it
    assert chosen.api_listen == "192.168.55.101:8080"  # the port stays the asked one
    assert ollama_environment(chosen, 6)["OLLAMA_HOST"] == "192.168.55.101:8080"


@pytest.mark.parametrize("data, message", [
    ({"ollama_allow_from": ["10.0.0.0/8"], "ssh_hostname": "nano-01.lab"},
     "ollama_bind_address: with ollama_allow_from the API binds to the board's LAN address: set it "
     "(ssh_hostname 'nano-01.lab' is not an IPv4 address) (got None)"),
    ({"ollama_allow_from": ["10.0.0.1/8"]},
     "ollama_allow_from: must be a list of IPv4 networks such as 10.0.0.0/8 (10.0.0.1/8 has host bits set) "
     "(got ['10.0.0.1/8'])"),
    ({"ollama_allow_from": "10.0.0.0/8"},
     "ollama_allow_from: must be a list of IPv4 networks such as 10.0.0.0/8 (got '10.0.0.0/8')"),
    ({"ollama_allow_from": ["fd00::/8"]},
     "ollama_allow_from: must be a list of IPv4 networks such as 10.0.0.0/8 "
     "(Expected 4 octets in 'fd00::') (got ['fd00::/8'])"),
    ({"ollama_allow_from": ["10.0.0.0/8"], "ollama_bind_address": "nano"},
     "ollama_bind_address: must be an IPv4 address such as 192.168.55.101 (got 'nano')"),
])
def test_allow_from_messages(data, message):
    with pytest.raises(ConfigError) as err:
        settings(data)
    assert str(err.value) == message


# ---- where the API listens and where a client on the board reaches it

@pytest.mark.parametrize("data, address, port, url", [
    ({}, "127.0.0.1", 11434, "http://127.0.0.1:11434"),
    ({"ollama_host": "127.0.0.1:8080"}, "127.0.0.1", 8080, "http://127.0.0.1:8080"),
    ({"ollama_host": "localhost:11434"}, "localhost", 11434, "http://localhost:11434"),
    ({"ollama_host": "[::1]:11434"}, "[::1]", 11434, "http://[::1]:11434"),
    ({"ollama_host": "0.0.0.0:11500", "ollama_allow_from": ["10.0.0.0/8"], "ollama_bind_address": "10.1.2.3"},
     "10.1.2.3", 11500, "http://10.1.2.3:11500"),
    ({"ollama_allow_from": ["192.168.55.0/24"], "ssh_hostname": "192.168.55.101"},
     "192.168.55.101", 11434, "http://192.168.55.101:11434"),
    ({"ollama_allow_from": ["192.168.55.0/24"], "ssh_hostname": "192.168.55.101", "ollama_bind_address": "10.0.0.7"},
     "10.0.0.7", 11434, "http://10.0.0.7:11434"),  # ollama_bind_address wins over ssh_hostname
])
def test_api_address_port_listen_and_url(data, address, port, url):
    chosen = settings(data)
    assert chosen.ollama_host == data.get("ollama_host", "127.0.0.1:11434")  # kept as given
    assert (chosen.api_address, chosen.api_port, chosen.api_url) == (address, port, url)
    assert chosen.api_listen == f"{address}:{port}"
    assert ollama_environment(chosen, 6)["OLLAMA_HOST"] == chosen.api_listen


def test_api_url_on_every_address_is_reached_at_loopback():
    # settings() refuses 0.0.0.0 without ollama_allow_from; a Settings made directly may still say it
    chosen = dataclasses.replace(settings({}), ollama_host="0.0.0.0:11434")
    assert (chosen.api_address, chosen.api_listen, chosen.api_url) == \
        ("0.0.0.0", "0.0.0.0:11434", "http://127.0.0.1:11434")
    assert dataclasses.replace(settings({}), ollama_host=":11434").api_url == "http://127.0.0.1:11434"


def test_ssh_hostname_only_matters_when_the_api_binds_to_it():
    assert settings({"ssh_hostname": "192.168.55.101"}) == settings({})
    assert settings({"ssh_hostname": "192.168.55.101"}).api_address == "127.0.0.1"


@pytest.mark.parametrize("networks, refused", [
    (["0.0.0.0/0"], "0.0.0.0/0"), (["8.8.8.0/24", "10.0.0.0/8"], "8.8.8.0/24"), (["100.64.0.0/10"], "100.64.0.0/10"),
    (["192.168.55.0/24", "10.0.0.0/8", "172.16.0.0/12", "169.254.0.0/16"], None),
])
def test_an_unauthenticated_api_opens_only_to_private_networks_unless_asked(networks, refused):
    data = {"ollama_allow_from": networks, "ssh_hostname": "192.168.55.1"}
    found = problems(data)
    if refused is None:
        assert found == []
    else:
        assert found == [f"ollama_allow_from: {refused} is not a private network (RFC 1918 or link-local), and the API "
                         "has no authentication: list LAN networks, or set ollama_allow_public_networks: true to open "
                         f"it there anyway (got {networks!r})"]
        assert problems({**data, "ollama_allow_public_networks": True}) == []  # the documented opt-in


@pytest.mark.parametrize("repo", ["https://example.com/x; rm -rf /", "https://a b/c", "$(id)", "relative/path", "x|y"])
def test_a_jetson_containers_repo_a_shell_would_read_is_one_line(repo):
    assert problems({"jetson_containers_repo": repo}) == [
        "jetson_containers_repo: must be a git URL (https://host/path, ssh://..., git@host:path) or an absolute "
        f"path, with no spaces or ;&|$ (got {repo!r})"]


def test_the_lock_file_must_be_a_lock_in_a_directory_that_exists_inside_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("shopping: [milk\n")
    (tmp_path / "models.lock").write_text("")
    assert problems({"ollama_lock_file": "models.lock"}) == []
    assert problems({"ollama_lock_file": "new.lock"}) == []  # written on the first pull
    [outside] = problems({"ollama_lock_file": "../../x"})
    assert outside == "ollama_lock_file: must stay inside the directory pyinfra runs in (or be an absolute path) " \
                      "(got '../../x')"
    [missing] = problems({"ollama_lock_file": "locks/models.lock"})
    assert missing == "ollama_lock_file: its directory locks does not exist (got 'locks/models.lock')"
    [other] = problems({"ollama_lock_file": "notes.txt"})
    assert other.startswith("ollama_lock_file: is not a models.lock: notes.txt: ") and "\n" not in other
