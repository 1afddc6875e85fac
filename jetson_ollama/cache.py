"""The fleet's cache host: one LAN registry for the Ollama images and one model store, so each image is
built (or pulled) once per variant and each model downloaded from upstream once per fleet.

The cache host is the inventory host named by `jetson_cache_host` (set it for every board, e.g. in
`group_data/all.py`). It is not a board: the board stages skip it. In one pyinfra run, pyinfra runs
each operation on every host before the next one, so the order of the calls does the coordination:
the cache host fetches the run's models before the boards copy them, and each variant's builder
pushes its image before the other boards of that variant pull it by digest.
"""

from __future__ import annotations

from dataclasses import dataclass

REPOSITORY_PREFIX = "jetson-ollama"  # LAN repository names: <cache>:<port>/jetson-ollama/<image name>


@dataclass(frozen=True)
class Cache:
    host_name: str   # the cache host's inventory name
    address: str     # how boards reach it
    registry_port: int
    models_port: int

    @property
    def registry(self) -> str:
        """host:port, as docker's insecure-registries and image references write it."""
        return f"{self.address}:{self.registry_port}"

    @property
    def models_url(self) -> str:
        """The read-only HTTP server over the cache's Ollama store (what ollama-fetch.py --store takes)."""
        return f"http://{self.address}:{self.models_port}"

    def lan_ref(self, ref: str) -> str:
        """`ollama:r36.2.0-cu122-22.04` -> `10.0.0.5:5000/jetson-ollama/ollama:r36.2.0-cu122-22.04`."""
        return f"{self.registry}/{REPOSITORY_PREFIX}/{ref}"


class CacheUnavailable(RuntimeError):
    pass


def is_cache_host(host) -> bool:
    """Whether `host` (a pyinfra host, or remote.InventoryHost) is the fleet's cache host, not a board."""
    return host.data.get("jetson_cache_host") == host.name


def cache_of(host, cfg) -> Cache | None:
    """The cache a board uses, None when `jetson_cache_host` is not set. Raises CacheUnavailable (one
    line) when the cache host is not in the inventory or not in this run: its facts and its fetches
    are what the board's image and models stages wait for."""
    name = cfg.jetson_cache_host
    if name is None:
        return None
    state = host.state
    cache_host = state.inventory.get_host(name, default=None)
    if cache_host is None:
        raise CacheUnavailable(f"jetson_cache_host {name!r} is not a host of the inventory")
    if cache_host not in state.active_hosts:
        raise CacheUnavailable(f"the cache host {name} is not in this run or did not connect "
                               "(add it to --limit; the rollout always includes it)")
    from .config import settings  # the cache host's own settings name its ports and address

    own = settings(cache_host.data)
    address = cfg.jetson_cache_address or cache_host.data.get("ssh_hostname") or cache_host.name
    return Cache(name, address, own.jetson_cache_registry_port, own.jetson_cache_models_port)


def cache_host(host, cache: Cache):
    return host.state.inventory.get_host(cache.host_name)


def boards_of_run(state, cache: Cache) -> list:
    """The boards of this run (every connected host but the cache host), in inventory order."""
    return [board for board in state.inventory if board in state.active_hosts and board.name != cache.host_name]


# ---------------------------------------------------------------- one builder per image variant and run

def claim_builder(host, ref: str) -> bool:
    """True for the first host of this run that claims `ref`: it builds or pulls the image and pushes
    it to the LAN registry; later hosts pull it from there. Hosts are prepared one after the other in
    inventory order, so the claim is deterministic. The claims live on the run's state."""
    claims = vars(host.state).setdefault("jetson_ollama_builders", {})
    return claims.setdefault(ref, host.name) == host.name
