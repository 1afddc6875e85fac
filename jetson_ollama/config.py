"""Settings from pyinfra host data, checked against `defaults.DEFAULTS`, and what follows from them.

`settings(host.data)` fills every unset key from DEFAULTS and raises ConfigError with one line,
`"<key>: <problem> (got <value>)"`, on the first bad value; `problems(host.data)` answers every such
line of a host, unknown `jetson_*`/`ollama_*` keys included (hostdata.py checks a whole inventory
with it before anything connects). A new key needs its check in `_CHECKS`; `_absolute_path`, `_size`
and `_cidrs` are there for paths, sizes and networks. `defaults_table()` renders DEFAULTS and
the comment above each key as the README's Markdown table (`python -m jetson_ollama.config`).
"""

from __future__ import annotations

import ast
import difflib
import inspect
import ipaddress
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import defaults
from .defaults import DEFAULTS
from .images import STRATEGIES
from .catalog import POLICIES, TAG_PATTERN, catalog


RUNTIMES = ("container", "native")  # jetson_runtime: docker + a jetson-containers image, or ollama.service


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    """Every DEFAULTS key as a typed attribute (meanings: defaults.py)."""

    jetson_containers_repo: str
    jetson_containers_commit: str
    jetson_containers_commit_date: str | None
    jetson_containers_path: str
    jetson_image_strategy: str
    jetson_image: str | None
    jetson_configure_docker_runtime: bool
    jetson_build_min_free_gb: float
    jetson_pull_min_free_gb: float
    jetson_scripts_dir: str
    jetson_bench_prompts: list[str]
    jetson_bench_num_predict: int
    jetson_cache_host: str | None
    jetson_cache_address: str | None
    jetson_cache_registry_port: int
    jetson_cache_registry_dir: str
    jetson_cache_models_port: int
    jetson_cache_models_dir: str
    jetson_rollout_keep_previous: bool
    jetson_bundle: str | None
    jetson_power_mode: str | None
    jetson_clocks: bool
    jetson_headless: bool
    jetson_disable_argus: bool
    jetson_disable_zram: bool
    jetson_swapfile_size: str | None
    jetson_swapfile_path: str
    jetson_docker_data_root: str | None
    jetson_allow_reboot: bool
    jetson_runtime: str
    ollama_version: str | None
    ollama_native_version: str
    ollama_native_url: str
    ollama_container_name: str
    ollama_models_dir: str
    ollama_container_models_dir: str
    ollama_host: str
    ollama_allow_from: list[str]
    ollama_bind_address: str | None
    ollama_keep_alive: str | int
    ollama_num_parallel: int
    ollama_max_loaded_models: int
    ollama_context_length: int
    ollama_flash_attention: bool
    ollama_api_timeout: float
    ollama_models: list[str] | str
    ollama_models_auto: list[str]
    ollama_memory_policy: str
    ollama_allow_unknown_models: bool
    ollama_prune_models: bool
    ollama_registry: str
    ollama_lock_file: str
    ollama_update_lock: bool
    ollama_desktop: bool | None
    # the board's ssh_hostname when the API binds to it (ollama_allow_from without ollama_bind_address), else None
    _lan_address: str | None = field(default=None, repr=False)

    @property
    def api_address(self) -> str:
        """The address the API listens on: with ollama_allow_from, ollama_bind_address or else the board's
        ssh_hostname; without, ollama_host's address as written (an IPv6 one in brackets, [::1])."""
        if self.ollama_allow_from and (bind := self.ollama_bind_address or self._lan_address):
            return bind
        return self.ollama_host.rpartition(":")[0]

    @property
    def api_port(self) -> int:
        """The port the API listens on: ollama_host's."""
        return int(self.ollama_host.rpartition(":")[2])

    @property
    def api_listen(self) -> str:
        """address:port the API listens on, what OLLAMA_HOST is set to."""
        return f"{self.api_address}:{self.api_port}"

    @property
    def api_url(self) -> str:
        """The URL a client on the board reaches the API at (127.0.0.1 for an API on every address)."""
        address = "127.0.0.1" if self.api_address in ("0.0.0.0", "") else self.api_address
        return f"http://{address}:{self.api_port}"


# ---------------------------------------------------------------- checks: a problem, or None when fine

def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _optional(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    return lambda value: None if value is None else check(value)


def _pattern(regex: str, problem: str) -> Callable[[Any], str | None]:
    # re.ASCII: \d is 0-9 only (Python's \d takes any script's digits, which no shell or Ollama reads)
    return lambda value: None if isinstance(value, str) and re.fullmatch(regex, value, re.ASCII) else problem


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be True or False"


def _integer(minimum: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return None
        return f"must be an integer >= {minimum}"
    return check


def _number(minimum: float, *, exclusive: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value > minimum or (value == minimum and not exclusive):
                return None
        return f"must be a number {'>' if exclusive else '>='} {minimum}"
    return check


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def _absolute_path(value: Any) -> str | None:
    # these paths go into shell commands, docker -v src:dst and systemd unit lines (ExecStart=...), where
    # spaces, quotes, $, %, :, \ or a newline would split, expand or end them: a plain, normalized path only
    if not isinstance(value, str) or not value.startswith("/"):
        return "must be an absolute path"
    if unsafe := re.search(r"[^A-Za-z0-9._+@/-]", value):
        return f"must be an absolute path of letters, digits and . _ - + @ / only (has {unsafe.group()!r})"
    if posixpath.normpath(value) != value or value.startswith("//"):
        return "must be a normalized absolute path (no .., ., // or trailing /)"
    return None


def _size(value: Any) -> str | None:
    # as fallocate, zram and docker read sizes: a whole number and a binary unit letter
    if isinstance(value, str) and re.fullmatch(r"[1-9][0-9]*[KMGT]", value):
        return None
    return "must be a size such as 512M or 8G (a whole number and K, M, G or T)"


def _cidrs(value: Any) -> str | None:
    # a list, never a bare string: "10.0.0.0/8" would be read one character at a time
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return 'must be a list of networks such as ["192.168.55.0/24", "fd00::/64"]'
    for item in value:
        try:
            ipaddress.ip_network(item)
        except ValueError:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                return f"must list IPv4 or IPv6 networks such as 192.168.55.0/24; not one: {item!r}"
            return f"must list networks without host bits: {item} is inside {network}"
    return None


def _container_models_dir(value: Any) -> str | None:
    # jetson-containers mounts its data dir at /data: a second mount there fails (docs/facts.md section 4)
    if problem := _absolute_path(value):
        return problem
    inside = posixpath.normpath(value).lstrip("/")
    if inside == "data" or inside.startswith("data/"):
        return "must not be /data or under it (jetson-containers mounts /data)"
    return None


def _port(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return None
    return "must be a port 1-65535"


def _host_port(value: Any) -> str | None:
    host, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if host and not re.search(r"\s", host) and re.fullmatch(r"[0-9]+", port) and 1 <= int(port) <= 65535:
        return None
    return "must be host:port with a port 1-65535"


def _keep_alive(value: Any) -> str | None:
    # Ollama takes a Go duration ("5m", "1h30m", "-1") or a number of seconds
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?|-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", value, re.ASCII):
        return None
    return "must be a duration such as 5m, 1h30m, -1 or a number of seconds"


def _tags(value: Any) -> str | None:
    # name:tag only: a bare name means :latest, which moves (catalog.py)
    if not isinstance(value, list) or not all(isinstance(tag, str) and re.fullmatch(TAG_PATTERN, tag)
                                              for tag in value):
        return "must be a list of name:tag strings such as qwen2.5:1.5b"
    if len(set(value)) != len(value):
        return "must not repeat a tag"
    return None


def _models(value: Any) -> str | None:
    if value == "auto":
        return None
    return _tags(value) if isinstance(value, list) else 'must be "auto" or a list of name:tag strings'


def _auto_models(value: Any) -> str | None:
    # "auto" estimates each model's memory, which needs the catalog's sizes
    if problem := _tags(value):
        return problem
    if not value:
        return "must list at least one tag"
    if unknown := [tag for tag in value if tag not in catalog()]:
        return f"must list catalog tags (data/models.yaml); not there: {', '.join(unknown)}"
    return None


def _prompts(value: Any) -> str | None:
    if isinstance(value, list) and value and all(isinstance(prompt, str) and prompt.strip() for prompt in value):
        return None
    return "must be a list of at least one non-empty prompt"


def _url(value: Any) -> str | None:
    return None if isinstance(value, str) and re.fullmatch(r"https?://[^\s/]+(/\S*)?", value) else \
        "must be an http:// or https:// URL"


def _networks(value: Any) -> str | None:
    """IPv4 networks such as 10.0.0.0/8 (the API binds to an IPv4 address; a host firewall admits them)."""
    problem = "must be a list of IPv4 networks such as 10.0.0.0/8"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return problem
    for item in value:
        try:
            ipaddress.IPv4Network(item)
        except ValueError as error:
            return f"{problem} ({error})"
    return None


def _ipv4(value: Any) -> str | None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return "must be an IPv4 address such as 192.168.55.101"
    return None


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "jetson_containers_repo": _text,
    "jetson_containers_commit": _pattern(r"[0-9a-f]{40}", "must be a full 40-hex commit id"),
    "jetson_containers_commit_date": _optional(_pattern(
        r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2}))?",
        "must be the commit's committer time as git show -s --format=%cI prints it (or a date YYYY-MM-DD)")),
    "jetson_containers_path": _absolute_path,
    "jetson_image_strategy": _choice(STRATEGIES),
    "jetson_image": _optional(_text),
    "jetson_configure_docker_runtime": _boolean,
    "jetson_build_min_free_gb": _number(0),
    "jetson_pull_min_free_gb": _number(0),
    "jetson_scripts_dir": _absolute_path,
    "jetson_bench_prompts": _prompts,
    "jetson_bench_num_predict": _integer(1),
    "jetson_cache_host": _optional(_text),
    "jetson_cache_address": _optional(_pattern(r"[A-Za-z0-9][A-Za-z0-9.:-]*", "must be a host name or IP address")),
    "jetson_cache_registry_port": _port,
    "jetson_cache_registry_dir": _absolute_path,
    "jetson_cache_models_port": _port,
    "jetson_cache_models_dir": _absolute_path,
    "jetson_rollout_keep_previous": _boolean,
    "jetson_bundle": _optional(_text),
    "jetson_power_mode": _optional(_pattern(r"[A-Za-z0-9_.+-]+", "must be a power mode NAME such as MAXN_SUPER")),
    "jetson_clocks": _boolean,
    "jetson_headless": _boolean,
    "jetson_disable_argus": _boolean,
    "jetson_disable_zram": _boolean,
    "jetson_swapfile_size": _optional(_pattern(r"[1-9][0-9]*[MG]", "must be a size such as 512M or 8G (whole MiB or GiB)")),
    "jetson_swapfile_path": _absolute_path,
    "jetson_docker_data_root": _optional(_absolute_path),
    "jetson_allow_reboot": _boolean,
    "jetson_runtime": _choice(RUNTIMES),
    "ollama_version": _optional(_pattern(r"\d+(\.\d+)*", "must be a version such as 0.6.8, or None")),
    "ollama_native_version": _pattern(r"\d+\.\d+\.\d+", "must be a release version such as 0.6.8"),
    "ollama_native_url": _url,
    "ollama_container_name": _pattern(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", "must be a docker container name"),
    "ollama_models_dir": _absolute_path,
    "ollama_container_models_dir": _container_models_dir,
    "ollama_host": _host_port,
    "ollama_allow_from": _networks,
    "ollama_bind_address": _optional(_ipv4),
    "ollama_keep_alive": _keep_alive,
    "ollama_num_parallel": _integer(1),
    "ollama_max_loaded_models": _integer(1),
    "ollama_context_length": _integer(1),
    "ollama_flash_attention": _boolean,
    "ollama_api_timeout": _number(0, exclusive=True),
    "ollama_models": _models,
    "ollama_models_auto": _auto_models,
    "ollama_memory_policy": _choice(POLICIES),
    "ollama_allow_unknown_models": _boolean,
    "ollama_prune_models": _boolean,
    "ollama_registry": _url,
    "ollama_lock_file": _text,
    "ollama_update_lock": _boolean,
    "ollama_desktop": _optional(_boolean),
}


def _checked(host_data: Any) -> Iterator[tuple[str, Any, str | None]]:
    """(key, value, problem or None) for every DEFAULTS key, the default where the data has None."""
    for key, default in DEFAULTS.items():
        value = None if host_data is None else host_data.get(key)
        value = default if value is None else value
        check = _CHECKS[key]
        try:
            problem = check(value)
        except Exception:  # noqa: BLE001 - a value its check cannot even read is a wrong value
            problem = "is not a kind of value this key takes"
        yield key, value, problem


def api_problem(values: dict[str, Any], host_data: Any) -> tuple[str, str] | None:
    """(key, problem) when the API would be exposed by accident or cannot be bound as asked; else
    None, and `values["ollama_host"]` is set to the address the API listens on."""
    address, _, port = values["ollama_host"].rpartition(":")
    if not values["ollama_allow_from"]:
        if address not in ("127.0.0.1", "localhost", "[::1]", "::1"):
            return "ollama_host", (f"listens beyond the board ({address}) with no ollama_allow_from: list the networks "
                                   "that may reach the API there (a host firewall then admits only them)")
        return None
    bind = values["ollama_bind_address"] or (host_data.get("ssh_hostname") if host_data is not None else None)
    if not isinstance(bind, str) or _ipv4(bind):
        return "ollama_bind_address", (f"with ollama_allow_from the API binds to the board's LAN address: set it "
                                       f"(ssh_hostname {bind!r} is not an IPv4 address)")
    values["ollama_host"] = f"{bind}:{port}"
    if not values["ollama_bind_address"]:
        values["_lan_address"] = bind
    return None


def settings(host_data: Any = None) -> Settings:
    """The checked settings of a host: `host_data.get(key)` for every DEFAULTS key (pyinfra's
    `host.data`, or any mapping), the default where that is None. Raises ConfigError (one line)."""
    values = {}
    for key, value, problem in _checked(host_data):
        if problem:
            raise ConfigError(f"{key}: {problem} (got {value!r})")
        values[key] = list(value) if isinstance(value, list) else value  # never hand out DEFAULTS' lists
    if found := api_problem(values, host_data):
        key, problem = found
        raise ConfigError(f"{key}: {problem} (got {values[key]!r})")
    return Settings(**values)


def _data_keys(host_data: Any) -> dict[str, Any]:
    if host_data is None:
        return {}
    # pyinfra's HostData merges its layers in dict(); a mapping is its own
    data = host_data.dict() if callable(getattr(host_data, "dict", None)) else host_data
    return {key: data[key] for key in data if isinstance(key, str)}


def problems(host_data: Any = None) -> list[str]:
    """Every problem of a host's data, one line each, worded as settings() words its first:
    `"<key>: <problem> (got <value!r>)"`. In DEFAULTS order: each key's own check; once every key is
    good on its own, the problem settings() finds between keys; a model of `ollama_models` outside the
    catalog without `ollama_allow_unknown_models` (the models stage would refuse it on the board); then
    every `jetson_*`/`ollama_*` key that is not a setting (a typo)."""
    found, good = [], {}
    for key, value, problem in _checked(host_data):
        if problem:
            found.append(f"{key}: {problem} (got {value!r})")
        else:
            good[key] = value
    if not found:
        try:
            settings(host_data)
        except ConfigError as exc:
            found.append(str(exc))
    models = good.get("ollama_models")  # (a bad ollama_allow_unknown_models is reported above)
    if good.get("ollama_allow_unknown_models") is not True and isinstance(models, list):
        if unknown := [tag for tag in models if tag not in catalog()]:
            found.append(f"ollama_models: not in the catalog (data/models.yaml): {', '.join(unknown)}; set "
                         f"ollama_allow_unknown_models: true to size them from the registry (got {models!r})")
    for key, value in _data_keys(host_data).items():
        if key.startswith(("jetson_", "ollama_")) and key not in DEFAULTS:
            # compared without the prefix, which every key shares, and across both (ollama_cache_host)
            by_name = {setting.split("_", 1)[1]: setting for setting in DEFAULTS}
            near = difflib.get_close_matches(key.split("_", 1)[1], by_name, n=1)
            hint = f"did you mean {by_name[near[0]]}?" if near else "not a setting (jetson_ollama/defaults.py)"
            found.append(f"{key}: unknown key; {hint} (got {value!r})")
    return found


def ollama_environment(settings: Settings, jetpack_major: int | str) -> dict[str, str]:
    """Ollama's environment (docs/facts.md section 5) for the board's `jetson_runtime`, sorted by name, all strings.

    In a container, OLLAMA_MODELS is the mount point `ollama_container_models_dir`, and JETSON_JETPACK
    tells Ollama which CUDA bundle to use, or it may fall back to CPU (ollama #9503); it is set for
    JetPack 5 and 6 only (JetPack 7 uses SBSA CUDA: unverified). Native (ollama.service), OLLAMA_MODELS
    is `ollama_models_dir` itself, the store the container mounts, and JETSON_JETPACK is left out:
    only a container cannot detect JetPack (docs/facts.md section 5). `jetpack_major` may be 6, "6" or a full
    JetPack version such as "6.2.1".
    """
    jetpack = str(jetpack_major).split(".")[0]
    native = settings.jetson_runtime == "native"
    environment = {
        "OLLAMA_HOST": settings.ollama_host,
        "OLLAMA_MODELS": settings.ollama_models_dir if native else settings.ollama_container_models_dir,
        "OLLAMA_KEEP_ALIVE": str(settings.ollama_keep_alive),
        "OLLAMA_NUM_PARALLEL": str(settings.ollama_num_parallel),
        "OLLAMA_MAX_LOADED_MODELS": str(settings.ollama_max_loaded_models),
        "OLLAMA_CONTEXT_LENGTH": str(settings.ollama_context_length),
        "OLLAMA_FLASH_ATTENTION": "1" if settings.ollama_flash_attention else "0",
    }
    if jetpack in ("5", "6") and not native:
        environment["JETSON_JETPACK"] = jetpack
    return dict(sorted(environment.items()))


def defaults_meanings() -> dict[str, str]:
    """Each DEFAULTS key's meaning: the one-line comment above it in defaults.py."""
    source = inspect.getsource(defaults)
    lines = source.splitlines()
    table = next(node.value for node in ast.parse(source).body
                 if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DEFAULTS" for t in node.targets))
    meanings = {}
    for key in table.keys:
        comment = lines[key.lineno - 2].strip()
        if not comment.startswith("# "):
            raise ValueError(f"defaults.py: {key.value} has no comment line above it")
        meanings[key.value] = comment[2:]
    return meanings


def _literal(value: Any) -> str:
    if isinstance(value, list):  # ["qwen3:8b", ...], quoted like the strings
        return "[" + ", ".join(map(_literal, value)) + "]"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def defaults_table() -> str:
    """DEFAULTS as a Markdown table: key | default | meaning (ends with a newline)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, meaning in defaults_meanings().items():
        cells = [f"`{key}`", f"`{_literal(DEFAULTS[key])}`", meaning]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(defaults_table(), end="")
