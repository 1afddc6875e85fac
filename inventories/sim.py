"""pyinfra inventory of the running simulated boards.

Start boards first:  python -m jetson_sim up --boards 3 --profile orin-nano-8gb-r36.2.0
Then:                pyinfra inventories/sim.py deploys/full.py

Settings for every board can come from $JETSON_SIM_HOST_DATA, a JSON object (e.g.
'{"ollama_models": ["qwen2.5:0.5b"]}'). Reads the state `python -m jetson_sim` keeps ($JETSON_SIM_HOME,
default /var/lib/jetson-sim, and $JETSON_SIM_FLEET, default "sim"). Groups: `jetsons` (every Jetson
profile), `not_jetsons`, and one group per profile with dashes and dots as underscores (e.g.
`orin_nano_8gb_r36_2_0`). A board whose
name starts with "cache" (`python -m jetson_sim up --profile x86-server --prefix cache`) is the fleet's
cache host (group `cache`, and `jetson_cache_host` of every host).
"""

import json
import os
from pathlib import Path

_home = Path(os.environ.get("JETSON_SIM_HOME", "/var/lib/jetson-sim"))
_fleet = os.environ.get("JETSON_SIM_FLEET", "sim")
_state_file = _home / "fleets" / _fleet / "fleet.json"
if not _state_file.exists():
    raise SystemExit(f"no simulated fleet {_fleet!r} ({_state_file} missing): run `python -m jetson_sim up` first")
_state = json.loads(_state_file.read_text())

# the simulated upstream's jetson-containers: the commit standing for the project's pin (16f7cf41),
# and its full ISO committer timestamp, which fixes the naming rules
_upstream_file = _state_file.parent / "upstream" / "state.json"
_upstream = json.loads(_upstream_file.read_text()) if _upstream_file.exists() else None
_jetson_containers = {
    "jetson_containers_repo": _upstream["git_url"],
    "jetson_containers_commit": _upstream["commits"]["pin"],
    "jetson_containers_commit_date": _upstream["dates"]["pin"],
} if _upstream else {}

# the simulated boards resolve registry.ollama.ai to their bridge, where the simulated registry listens
# on plain HTTP; the lock of this fleet's models lives with the fleet, not in the repository
_models = {
    "ollama_registry": "http://registry.ollama.ai:11500",
    "ollama_lock_file": str(_state_file.parent / "models.lock"),
}
# jetson_runtime: native downloads Ollama's releases from the simulated github.com (plain HTTP)
if _upstream and _upstream.get("releases_url"):
    _models["ollama_native_url"] = _upstream["releases_url"]

# ollama_webui pulls the Open WebUI image from the fleet's registry (plain HTTP, an insecure registry of
# the boards' dockerd), where the simulator pushed its stand-in under the same repository and tag
if _upstream and _upstream.get("registry_url"):
    _models["ollama_webui_image"] = (_upstream["registry_url"].removeprefix("http://")
                                     + "/open-webui/open-webui:0.6.32")

# settings for every board, as group_data/all.py would hold them for real boards (JSON, optional)
_site = json.loads(os.environ.get("JETSON_SIM_HOST_DATA") or "{}")

_ssh = {
    "ssh_user": _state["ssh"]["user"],
    "ssh_key": _state["ssh"]["key"],
    "ssh_known_hosts_file": _state["ssh"]["known_hosts"],
    "ssh_strict_host_key_checking": "yes",  # the simulator records every board's host key
    "ssh_look_for_keys": False,
    "ssh_allow_agent": False,
    # as inventories/lab.py: sudo's password for deploys/bootstrap.py from the environment only
    **({"_sudo_password": os.environ["JETSON_SUDO_PASSWORD"]} if os.environ.get("JETSON_SUDO_PASSWORD") else {}),
}


def _group_name(profile: str) -> str:
    return profile.replace("-", "_").replace(".", "_")


_caches = [board["name"] for board in _state["boards"] if board["name"].startswith("cache")]
_cache = {"jetson_cache_host": _caches[0]} if _caches else {}

jetsons: list[tuple[str, dict]] = []
not_jetsons: list[tuple[str, dict]] = []
cache: list[tuple[str, dict]] = []
for _board in _state["boards"]:
    _host = (_board["name"], {"ssh_hostname": _board["ip"], "sim_profile": _board["profile"], **_ssh,
                              **_jetson_containers, **_models, **_cache, **_site})
    if _board["name"] in _caches:
        cache.append(_host)
        continue
    (not_jetsons if _board["profile"] == "x86-server" else jetsons).append(_host)
    globals().setdefault(_group_name(_board["profile"]), []).append(_board["name"])
