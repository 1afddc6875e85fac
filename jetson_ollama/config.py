"""A host's settings from its pyinfra host data: `settings()` checked, or `problems()`, every problem line.

`settings(host.data)` fills every unset key from `DEFAULTS` and raises ConfigError with one line,
`"<key>: <problem> (got <value>)"`, on the first bad value; `problems(host.data)` answers every such
line of a host, unknown `jetson_*`/`ollama_*` keys included (hostdata.py checks a whole inventory
with it before anything connects). Each key's check is the one its declaration names (defaults.py);
the checks between keys are here (`api_problem`: where the API listens; `preload_set`: the preloaded models).

The other seams live in their own modules and are re-exported here, where callers import them:
`Settings`, `DEFAULTS`, `RUNTIMES` (the declaration, defaults.py), `ollama_environment` (environment.py),
`defaults_table`, `defaults_meanings` (the README table, settings_table.py; `python -m jetson_ollama.config`
prints it).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import defaults
from .catalog import catalog
from .checks import api_keys, ipv4
from .defaults import DEFAULTS, RUNTIMES, Settings
from .environment import ollama_environment
from .settings_table import defaults_meanings, defaults_table

__all__ = ["DEFAULTS", "RUNTIMES", "ConfigError", "Settings", "api_problem", "defaults_meanings", "defaults_table",
           "ollama_environment", "preload_set", "problems", "settings", "tls_problem"]


class ConfigError(ValueError):
    pass


def _checked(host_data: Any) -> Iterator[tuple[str, Any, str | None]]:
    """(key, value, problem or None) for every DEFAULTS key, the default where the data has None."""
    for key, default in DEFAULTS.items():
        value = None if host_data is None else host_data.get(key)
        value = default if value is None else value
        check = defaults.CHECKS[key]
        try:
            problem = check(value)
        except Exception:  # noqa: BLE001 - a value its check cannot even read is a wrong value
            problem = "is not a kind of value this key takes"
        yield key, value, problem


def _shown(key: str, value: Any) -> Any:
    """The value as a problem line shows it: in ollama_api_keys, what is neither a hash nor env:NAME may be
    a clear key pasted by mistake, shown by its first characters only."""
    if key == "ollama_api_keys" and isinstance(value, list):
        return [item if not isinstance(item, str) or not api_keys([item]) else item[:4] + "..." for item in value]
    return value


def _ssh_hostname(host_data: Any) -> Any:
    return host_data.get("ssh_hostname") if host_data is not None else None


# networks an unauthenticated API may be opened to: RFC 1918, link-local (RFC 3927), and for IPv6 unique
# local (RFC 4193) and link-local
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(net) for net in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10"))


def _private(network: str) -> bool:
    net = ipaddress.ip_network(network, strict=False)
    return any(net.version == private.version and net.subnet_of(private)  # type: ignore[arg-type]
               for private in PRIVATE_NETWORKS)


def tls_problem(values: dict[str, Any], loopback: bool) -> tuple[str, str] | None:
    """(key, problem) of an ollama_tls that cannot serve as asked: no keys, a certificate without its key,
    the proxy's port the API's, an API beyond 127.0.0.1 (the proxy is then its only way in)."""
    if not values["ollama_api_keys"]:
        return "ollama_api_keys", ("ollama_tls needs at least one API key: list sha256:<hex> of each key "
                                   "(jetson-ollama ca new-key makes one), or env:NAME")
    if (values["ollama_tls_cert"] is None) != (values["ollama_tls_key"] is None):
        key = "ollama_tls_key" if values["ollama_tls_key"] is None else "ollama_tls_cert"
        return key, "ollama_tls_cert and ollama_tls_key go together: set both, or neither for the CA's certificate"
    if not loopback:
        return "ollama_host", "with ollama_tls the API listens on 127.0.0.1 only (the HTTPS proxy is the way in)"
    if values["ollama_tls_port"] == int(values["ollama_host"].rpartition(":")[2]):
        return "ollama_tls_port", "is the API's own port (ollama_host): choose another"
    return None


def webui_problem(values: dict[str, Any]) -> tuple[str, str] | None:
    """(key, problem) of an ollama_webui that cannot be served as asked: without ollama_tls (its keys and
    certificate are the web UI's), or on a port that another of ours holds (docs/facts.md section 9)."""
    from .webui import LOOPBACK_PORT, VERIFIER_PORT

    if not values["ollama_webui"]:
        return None
    if not values["ollama_tls"]:
        return "ollama_webui", ("needs ollama_tls: the web UI is served over HTTPS behind the same API keys "
                                "(set ollama_tls and ollama_api_keys)")
    port = values["ollama_webui_port"]
    taken = {int(values["ollama_host"].rpartition(":")[2]): "the API's own port (ollama_host)",
             values["ollama_tls_port"]: "ollama_tls_port", VERIFIER_PORT: "the key verifier's port",
             LOOPBACK_PORT: "Open WebUI's own port on 127.0.0.1"}
    if port in taken:
        return "ollama_webui_port", f"is {taken[port]}: choose another"
    return None


def api_problem(values: dict[str, Any], host_data: Any) -> tuple[str, str] | None:
    """(key, problem) when the API would be exposed by accident or cannot be bound as asked; else None.
    `values` are a host's checked settings (read, never changed); with ollama_tls, `tls_problem`; with
    ollama_allow_from (and no ollama_tls) the API binds to
    ollama_bind_address, else to the host's ssh_hostname, which must then be an IPv4 address
    (`Settings.api_address`)."""
    address = values["ollama_host"].rpartition(":")[0]
    loopback = address in ("127.0.0.1", "localhost", "[::1]", "::1")
    if values["ollama_tls"] and (found := tls_problem(values, loopback)):
        return found
    if found := webui_problem(values):
        return found
    if not values["ollama_allow_from"]:
        if not loopback:
            return "ollama_host", (f"listens beyond the board ({address}) with no ollama_allow_from: list the networks "
                                   "that may reach the API there (a host firewall then admits only them)")
        return None
    if not values["ollama_tls"] and not values["ollama_allow_public_networks"] and (
            public := [net for net in values["ollama_allow_from"] if not _private(net)]):
        return "ollama_allow_from", (f"{', '.join(public)} is not a private network (RFC 1918 or link-local), and "
                                     "the API has no authentication: list LAN networks, or set "
                                     "ollama_allow_public_networks: true to open it there anyway")
    bind = values["ollama_bind_address"] or _ssh_hostname(host_data)
    if not isinstance(bind, str) or ipv4(bind):
        return "ollama_bind_address", (f"with ollama_allow_from the API binds to the board's LAN address: set it "
                                       f"(ssh_hostname {bind!r} is not an IPv4 address)")
    return None


def preload_set(preload: list[str] | str, models: list[str], max_loaded: int) -> tuple[list[str], str | None]:
    """The models `ollama_preload` keeps loaded, of the board's model set `models`, and the problem, or None:
    "all" is the whole set; each tag must be one of the set; and Ollama keeps at most `max_loaded`
    (OLLAMA_MAX_LOADED_MODELS) loaded at once, so more would push one another out. The plan calls it with the
    set it made (ollama_models: auto), settings() with ollama_models as listed."""
    wanted = list(models) if preload == "all" else list(preload)
    if outside := [tag for tag in wanted if tag not in models]:
        return wanted, f"not in the board's model set ({', '.join(models) or 'none'}): {', '.join(outside)}"
    if len(wanted) > max_loaded:
        return wanted, (f"keeps {len(wanted)} models loaded at once, and ollama_max_loaded_models is {max_loaded}: "
                        "raise it or preload fewer")
    return wanted, None


def settings(host_data: Any = None) -> Settings:
    """The checked settings of a host: `host_data.get(key)` for every DEFAULTS key (pyinfra's
    `host.data`, or any mapping), the default where that is None, each as given; what follows from them
    is read from the `api_*` properties. Raises ConfigError (one line)."""
    values: dict[str, Any] = {}
    for key, value, problem in _checked(host_data):
        if problem:
            raise ConfigError(f"{key}: {problem} (got {_shown(key, value)!r})")
        values[key] = list(value) if isinstance(value, list) else value  # never hand out DEFAULTS' lists
    if found := api_problem(values, host_data):
        key, problem = found
        raise ConfigError(f"{key}: {problem} (got {values[key]!r})")
    if isinstance(values["ollama_models"], list) and (problem := preload_set(  # auto: the plan checks its set
            values["ollama_preload"], values["ollama_models"], values["ollama_max_loaded_models"])[1]):
        raise ConfigError(f"ollama_preload: {problem} (got {values['ollama_preload']!r})")
    if values["ollama_allow_from"] and not values["ollama_bind_address"]:
        values["_lan_address"] = _ssh_hostname(host_data)  # the address the API binds to (api_problem checked it)
    return Settings(**values)


def _data_keys(host_data: Any) -> dict[str, Any]:
    if host_data is None:
        return {}
    # pyinfra's HostData merges its layers in dict(); a mapping is its own
    data = host_data.dict() if callable(getattr(host_data, "dict", None)) else host_data
    return {key: data[key] for key in data if isinstance(key, str)}


def lock_file_problem(path: str) -> str | None:
    """Why the lock file cannot be used from this directory (where pyinfra runs), or None: its directory
    must exist, and a file already there must be a models.lock."""
    from . import lock

    where = Path(os.path.expanduser(path))
    if not where.parent.is_dir():
        return f"its directory {where.parent} does not exist"
    if where.exists():
        try:
            lock.load(where)
        except (lock.LockError, OSError, UnicodeDecodeError) as exc:
            return f"is not a models.lock: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None


def problems(host_data: Any = None) -> list[str]:
    """Every problem of a host's data, one line each, worded as settings() words its first:
    `"<key>: <problem> (got <value!r>)"`. In DEFAULTS order: each key's own check; once every key is
    good on its own, the problem settings() finds between keys; a model of `ollama_models` outside the
    catalog without `ollama_allow_unknown_models` (the models stage would refuse it on the board); then
    every `jetson_*`/`ollama_*` key that is not a setting (a typo)."""
    found, good = [], {}
    for key, value, problem in _checked(host_data):
        if problem:
            found.append(f"{key}: {problem} (got {_shown(key, value)!r})")
        else:
            good[key] = value
    if not found:
        try:
            settings(host_data)
        except ConfigError as exc:
            found.append(str(exc))
    if isinstance(good.get("ollama_lock_file"), str) and (problem := lock_file_problem(good["ollama_lock_file"])):
        found.append(f"ollama_lock_file: {problem} (got {good['ollama_lock_file']!r})")
    models = good.get("ollama_models")  # (a bad ollama_allow_unknown_models is reported above)
    if good.get("ollama_allow_unknown_models") is not True and isinstance(models, list) and (
            unknown := [tag for tag in models if tag not in catalog()]):
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


if __name__ == "__main__":
    print(defaults_table(), end="")
