"""Every setting of the library, declared once: its key, type, default, check and one-line doc.

`Settings` is that declaration: one field per setting, `key: type = setting(default, check, doc)`, set as
pyinfra host or group data (e.g. `group_data/all.py`: `ollama_keep_alive = "10m"`). What the rest reads is
made from it: `DEFAULTS` (key -> default), `CHECKS` (key -> its check from checks.py), `DOCS` (key -> its
doc, a row of the README's settings table, settings_table.py) and `INTERNAL`. A new setting is one more
field here and, when no check of checks.py fits, a new check there; nothing else lists the keys.

The two prefixes:

- `ollama_*` is what the user gets: the Ollama service's own settings (its version, OLLAMA_* environment,
  container and model store), its API and who reaches it, and its models (which, how they are chosen,
  where they come from, their lock);
- `jetson_*` is the board and the way there: jetson-containers, the image, the runtime, the fleet cache,
  the offline bundle, the tuning of the board, the board scripts and the rollout.

Keys are never renamed (users have them in their inventories), so three older ones keep a name the rule
would put under `jetson_*`: `ollama_desktop` (whether the board runs a desktop), `ollama_native_url` (where
the native release archives are downloaded from), `ollama_api_timeout` (how long the deploy waits for
the API).

Internal keys (`internal="who sets it"`) are host data that jetson-ollama sets itself, not the user:
`jetson_rollout_keep_previous`, which `jetson-ollama rollout` passes to each wave's deploy. They are
checked like every key and left out of the README table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from types import MappingProxyType
from typing import Any, TypeVar, cast

from .catalog import POLICIES
from .checks import (
    Check, absolute_path, api_keys, auto_models, boolean, choice, container_models_dir, controller_path, git_remote,
    host_port, image_ref, integer, ipv4, ipv4_networks, keep_alive, lock_path, models, number, optional, pattern, port,
    preload, prompts, text, url,
)
from .images import STRATEGIES

RUNTIMES = ("container", "native")  # jetson_runtime: docker + a jetson-containers image, or ollama.service

T = TypeVar("T")


def setting(default: T, check: Check, doc: str, *, internal: str | None = None) -> T:
    """One field of Settings: its default, its check (checks.py) and its one-line doc.

    + default: the value when the host data leaves the key unset or None
    + check: a value -> its problem, or None when it is fine
    + doc: one line, the key's row in the README table
    + internal: who sets this key when jetson-ollama sets it itself (the README table leaves it out)
    """
    metadata = {"check": check, "doc": doc, "internal": internal}
    if isinstance(default, list):  # a list default is never shared between Settings
        return cast(T, field(default_factory=lambda: list(default), metadata=metadata))
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """The settings of one host, each a typed, read-only attribute; `config.settings(host.data)` makes
    them checked. The `api_*` properties say where the API listens, derived from the settings."""

    # ---- jetson_*: the board and the way there
    jetson_containers_repo: str = setting(
        "https://github.com/dusty-nv/jetson-containers", git_remote,
        "git URL of jetson-containers (docs/facts.md section 4)")
    jetson_containers_commit: str = setting(
        "16f7cf4145d9f943230b4c92bc2183853a2aeb30", pattern(r"[0-9a-f]{40}", "must be a full 40-hex commit id"),
        "pinned jetson-containers commit, a full 40-hex id (upstream moves fast; its image names changed five times "
        "in 2025)")
    jetson_containers_commit_date: str | None = setting(
        None, optional(pattern(
            r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2}))?",
            "must be the commit's committer time as git show -s --format=%cI prints it (or a date YYYY-MM-DD)")),
        "committer time of a pinned commit this library does not know (git show -s --format=%cI), so a first build "
        "can name its image; read from the checkout once it exists")
    jetson_containers_path: str = setting(
        "/opt/jetson-containers", absolute_path,
        "where jetson-containers is cloned on the board")
    jetson_image_strategy: str = setting(
        "auto", choice(STRATEGIES),
        "how the board gets its Ollama image: prebuilt | build | reuse | auto (prebuilt when one fits, else build)")
    jetson_image: str | None = setting(
        None, optional(text),
        "reuse: the image to run (None: the newest compatible local ollama image)")
    jetson_configure_docker_runtime: bool = setting(
        False, boolean,
        "opt-in: write the nvidia runtime into /etc/docker/daemon.json and restart docker (docs/facts.md section 3)")
    jetson_build_min_free_gb: float = setting(
        11, number(0),
        "free GB the docker data root needs before a build (the log's build made a 10.7 GB image)")
    jetson_pull_min_free_gb: float = setting(
        4, number(0),
        "free GB the docker data root needs before pulling a prebuilt image")
    jetson_scripts_dir: str = setting(
        "/opt/jetson-ollama/bin", absolute_path,
        "where the board scripts go (start-ollama, quick-test, monitor, bench; links in /usr/local/bin)")
    jetson_bench_prompts: list[str] = setting(
        ["Explain in two sentences what a GPU does.", "Write a haiku about a small computer.",
         "List three uses of an edge AI device."], prompts,
        "the fixed prompts `bench` runs through each model, so figures compare across boards and runs")
    jetson_bench_num_predict: int = setting(
        64, integer(1),
        "tokens `bench` asks of each prompt (num_predict): a fixed length makes tokens/s comparable")
    jetson_cache_host: str | None = setting(
        None, optional(text),
        "inventory name of the fleet's cache host (LAN image registry + model store); None: every board downloads for"
        " itself")
    jetson_cache_address: str | None = setting(
        None, optional(pattern(r"[A-Za-z0-9][A-Za-z0-9.:-]*", "must be a host name or IP address")),
        "address boards reach the cache host at; None: its ssh_hostname, else its inventory name")
    jetson_cache_registry_port: int = setting(
        5000, port,
        "port of the cache host's image registry (CNCF distribution, Debian's docker-registry), plain HTTP on the LAN")
    jetson_cache_registry_dir: str = setting(
        "/var/lib/docker-registry", absolute_path,
        "where the registry keeps its images on the cache host (owned by the docker-registry user)")
    jetson_cache_models_port: int = setting(
        11480, port,
        "port of the cache host's read-only HTTP server over its Ollama model store")
    jetson_cache_models_dir: str = setting(
        "/srv/jetson-ollama/models", absolute_path,
        "the cache host's Ollama model store (manifests/ and blobs/ as under OLLAMA_MODELS)")
    jetson_rollout_keep_previous: bool = setting(
        False, boolean,
        "keep the replaced container stopped as <name>-previous until the health gate passes (set by the rollout)",
        internal="jetson-ollama rollout (rollout.py passes it as host data of each wave's deploy)")
    jetson_bundle: str | None = setting(
        None, optional(text),
        "offline bundle on the controller (`python -m jetson_ollama bundle`): install image and models from it, no "
        "internet")
    jetson_power_mode: str | None = setting(
        None, optional(pattern(r"[A-Za-z0-9_.+-]+", "must be a power mode NAME such as MAXN_SUPER")),
        "opt-in: the nvpmodel power mode by NAME from /etc/nvpmodel.conf, e.g. MAXN_SUPER (ids differ per board, "
        "docs/facts.md section 3); None: untouched")
    jetson_clocks: bool = setting(
        False, boolean,
        "opt-in: a systemd unit runs jetson_clocks at every boot (clocks pinned to the power mode's maximum)")
    jetson_headless: bool = setting(
        False, boolean,
        "opt-in: boot multi-user.target, no desktop: frees about 800 MB, which the memory fit counts at once (applies"
        " at the next boot)")
    jetson_disable_argus: bool = setting(
        False, boolean,
        "opt-in: stop and disable nvargus-daemon, the CSI camera daemon")
    jetson_disable_zram: bool = setting(
        False, boolean,
        "opt-in: swap off JetPack's zram and disable nvzramconfig (its devices go at the next boot)")
    jetson_swapfile_size: str | None = setting(
        None, optional(pattern(r"[1-9][0-9]*[MG]", "must be a size such as 512M or 8G (whole MiB or GiB)")),
        "opt-in: a swapfile of this size (512M, 8G) at jetson_swapfile_path, active and in /etc/fstab; None: "
        "untouched")
    jetson_swapfile_path: str = setting(
        "/ssd/swapfile", absolute_path,
        "the swapfile; its directory must exist (/ssd: the NVMe mount of jetson-containers' setup guide; swap on "
        "eMMC/SD is very slow)")
    jetson_docker_data_root: str | None = setting(
        None, optional(absolute_path),
        "opt-in: docker's data-root, e.g. /ssd/docker on NVMe; the current one is copied there when it is empty, and "
        "left in place")
    jetson_allow_reboot: bool = setting(
        False, boolean,
        'let the tuning stage reboot the board once when a change waits for the next boot (else it logs "reboot '
        'needed")')
    jetson_runtime: str = setting(
        "container", choice(RUNTIMES),
        "how Ollama runs on the board: container (docker, jetson-containers image) | native (the official release, "
        "ollama.service)")

    # ---- ollama_*: what the user gets
    ollama_version: str | None = setting(
        None, optional(pattern(r"\d+(\.\d+)*", "must be a version such as 0.6.8, or None")),
        "Ollama version to build (`ollama:<version>`) or to require of a prebuilt image; None: the package default")
    ollama_native_version: str = setting(
        "0.6.8", pattern(r"\d+\.\d+\.\d+", "must be a release version such as 0.6.8"),
        "native: the pinned official Ollama release (arm64 archive + the board's JetPack bundle, docs/facts.md "
        "section 5)")
    ollama_native_url: str = setting(
        "https://github.com/ollama/ollama/releases/download", url,
        "native: where the release archives are downloaded from (<url>/v<version>/<archive>), each checked against "
        "models.lock")
    ollama_container_name: str = setting(
        "ollama", pattern(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", "must be a docker container name"),
        "name of the Ollama container on the board")
    ollama_models_dir: str = setting(
        "/opt/ollama/models", absolute_path,
        "model store on the board, mounted at ollama_container_models_dir")
    ollama_container_models_dir: str = setting(
        "/ollama/models", container_models_dir,
        "model store inside the container (OLLAMA_MODELS); never /data, which jetson-containers mounts")
    ollama_host: str = setting(
        "127.0.0.1:11434", host_port,
        "OLLAMA_HOST, host:port the API listens on: a loopback address; with ollama_allow_from its address becomes "
        "the LAN one")
    ollama_allow_from: list[str] = setting(
        [], ipv4_networks,
        "networks (CIDRs) admitted to the API; [] keeps it on 127.0.0.1, else it binds to the board's LAN address "
        "behind a host firewall")
    ollama_allow_public_networks: bool = setting(
        False, boolean,
        "opt-in: let ollama_allow_from list networks that are not private (RFC 1918 or link-local); the API has "
        "no authentication")
    ollama_bind_address: str | None = setting(
        None, optional(ipv4),
        "the LAN IPv4 address the API binds to with ollama_allow_from; None: the board's ssh_hostname")
    ollama_tls: bool = setting(
        False, boolean,
        "opt-in: serve the API over HTTPS with API keys (nginx on the board, ollama_tls_port); Ollama itself then "
        "listens on 127.0.0.1 only")
    ollama_tls_port: int = setting(
        11443, port,
        "the HTTPS port of ollama_tls: on the LAN address with ollama_allow_from (the firewall admits it), else on "
        "127.0.0.1")
    ollama_api_keys: list[str] = setting(
        [], api_keys,
        "with ollama_tls, the API keys as sha256:<hex> of each key, or env:NAME (a controller variable holding the "
        "key); the board keeps only hashes")
    ollama_tls_cert: str | None = setting(
        None, optional(controller_path),
        "a PEM certificate on the controller for ollama_tls; None: one signed by the CA in .jetson-ollama/ca/")
    ollama_tls_key: str | None = setting(
        None, optional(controller_path),
        "the PEM private key on the controller of ollama_tls_cert")
    ollama_webui: bool = setting(
        False, boolean,
        "opt-in (needs ollama_tls): Open WebUI on the board, over HTTPS on ollama_webui_port behind the same API keys "
        "(a login form sets a cookie); its container listens on 127.0.0.1 only")
    ollama_webui_port: int = setting(
        11445, port,
        "the HTTPS port of ollama_webui, on the address of ollama_tls_port (the firewall admits ollama_allow_from)")
    ollama_webui_image: str = setting(
        "ghcr.io/open-webui/open-webui:0.6.32", image_ref,
        "the Open WebUI image (a version tag, never main or latest); its digest is pinned in models.lock")
    ollama_metrics: bool = setting(
        False, boolean,
        "opt-in: Prometheus metrics on port 9100 (the node exporter with the board's RAM, GPU, loaded models, last "
        "bench and quick-test); bound as the API is: 127.0.0.1, or the LAN address with ollama_allow_from")
    ollama_keep_alive: str | int = setting(
        "5m", keep_alive,
        "OLLAMA_KEEP_ALIVE, how long an idle model stays loaded (a Go duration such as 5m, or seconds)")
    ollama_num_parallel: int = setting(
        1, integer(1),
        "OLLAMA_NUM_PARALLEL, requests served at once per model (the KV cache grows with it)")
    ollama_max_loaded_models: int = setting(
        1, integer(1),
        "OLLAMA_MAX_LOADED_MODELS, models kept in the shared CPU/GPU memory at once")
    ollama_context_length: int = setting(
        4096, integer(1),
        "OLLAMA_CONTEXT_LENGTH in tokens, set explicitly because newer Ollama sizes it from all of RAM")
    ollama_flash_attention: bool = setting(True, boolean, "OLLAMA_FLASH_ATTENTION (q8_0 KV cache needs it)")
    ollama_api_timeout: float = setting(
        120, number(0, exclusive=True),
        "seconds to wait for /api/version after (re)starting the container")
    ollama_models: list[str] | str = setting(
        [], models,
        'model tags for this board (name:tag), or "auto" (the first green model of ollama_models_auto)')
    ollama_preload: list[str] | str = setting(
        [], preload,
        'models of the set kept warm: loaded with ollama_keep_alive at every start of Ollama (boot, deploy, '
        'start-ollama); "all": the whole set; []: none')
    ollama_models_auto: list[str] = setting(
        ["qwen3:32b", "qwen2.5:32b", "qwen3:30b", "qwen3:14b", "qwen2.5:14b", "qwen3:8b", "qwen2.5:7b", "qwen3:4b",
         "qwen2.5:3b", "qwen3:1.7b", "qwen2.5:1.5b", "qwen2.5:0.5b"], auto_models,
        'preference list for "auto", largest first: the board gets the largest that stays green (docs/facts.md '
        "section 6)")
    ollama_memory_policy: str = setting(
        "strict", choice(POLICIES),
        "strict (refuse red and black) | warn | off: what to do with a model the memory estimate puts at >= 85 % of "
        "RAM")
    ollama_allow_unknown_models: bool = setting(
        False, boolean,
        "allow tags not in the catalog (sizes read from the registry manifest)")
    ollama_prune_models: bool = setting(False, boolean, "opt-in: remove models not in the set")
    ollama_verify_models: str = setting(
        "changed", choice(("changed", "full")),
        "changed: every run checks each blob's size and hashes the blobs changed since their last verified sha256 "
        "| full: hashes every blob; a damaged blob of the set is replaced")
    ollama_registry: str = setting(
        "https://registry.ollama.ai", url,
        "where the board's Ollama pulls from (used to read manifests before pulling)")
    ollama_lock_file: str = setting(
        "models.lock", lock_path,
        "the lock of model manifests, relative to the directory pyinfra runs in; commit it")
    ollama_update_lock: bool = setting(False, boolean, "accept upstream retags and rewrite their lock entries")
    ollama_desktop: bool | None = setting(
        None, optional(boolean),
        "None: read from the board (graphical.target is the default target); True/False overrides")

    # not a setting: the board's ssh_hostname when the API binds to it (ollama_allow_from without
    # ollama_bind_address), filled by config.settings(); else None
    _lan_address: str | None = field(default=None, repr=False)

    @property
    def api_address(self) -> str:
        """The address the API listens on: with ollama_allow_from (and no ollama_tls), ollama_bind_address or else
        the board's ssh_hostname; else ollama_host's address as written (an IPv6 one in brackets, [::1])."""
        if self.ollama_allow_from and not self.ollama_tls and (bind := self.ollama_bind_address or self._lan_address):
            return bind
        return self.ollama_host.rpartition(":")[0]

    @property
    def exposed_address(self) -> str:
        """The address clients on the LAN reach: with ollama_allow_from the LAN one (the API's, or with ollama_tls
        the HTTPS proxy's), else 127.0.0.1 for the proxy and ollama_host's address for the API."""
        if self.ollama_allow_from and (bind := self.ollama_bind_address or self._lan_address):
            return bind
        return "127.0.0.1" if self.ollama_tls else self.ollama_host.rpartition(":")[0]

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


def declaration_problems(declaration: type) -> list[str]:
    """What is missing from a declaration's settings (its fields without a leading _): a check, a one-line doc."""
    found = []
    for item in fields(declaration):
        if item.name.startswith("_"):
            continue
        if not callable(item.metadata.get("check")):
            found.append(f"{item.name}: no check; declare it as setting(default, check, doc)")
        doc = item.metadata.get("doc")
        if not isinstance(doc, str) or not doc.strip() or "\n" in doc:
            found.append(f"{item.name}: no one-line doc; declare it as setting(default, check, doc)")
    return found


if _undeclared := declaration_problems(Settings):
    raise TypeError("Settings: " + "; ".join(_undeclared))


def _default(item: Field) -> Any:
    return item.default if item.default_factory is MISSING else item.default_factory()


_SETTINGS = [item for item in fields(Settings) if not item.name.startswith("_")]
DEFAULTS: Mapping[str, Any] = MappingProxyType({item.name: _default(item) for item in _SETTINGS})
CHECKS: dict[str, Check] = {item.name: item.metadata["check"] for item in _SETTINGS}
DOCS: Mapping[str, str] = MappingProxyType({item.name: item.metadata["doc"] for item in _SETTINGS})
# key -> who sets it, for the keys users do not set
INTERNAL: Mapping[str, str] = MappingProxyType(
    {item.name: item.metadata["internal"] for item in _SETTINGS if item.metadata["internal"]})
