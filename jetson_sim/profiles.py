"""Board profiles: one YAML file per simulated board in `profiles/`, checked against one schema.

The values model /work/shared/reference/jetson-ollama-facts.md; anything not recorded there carries an
`# unverified` comment in the YAML.
"""

from __future__ import annotations

from pathlib import Path

import yaml

PROFILE_DIR = Path(__file__).parent / "profiles"

_NUM = (int, float)
_NONE = type(None)
# key -> type, or a nested schema; a tuple of types allows any of them
_SCHEMA = {
    "name": str,
    "description": str,
    "arch": str,
    "kernel_release": str,
    "memory": {
        "mem_total_mb": int, "swap_total_mb": int, "baseline_used_mb": int,
        "desktop": bool, "bandwidth_gbps": _NUM,
    },
    "disk_gb": int,
    "docker": {"installed": bool, "nvidia_runtime": bool, "default_runtime": (str, _NONE)},
}
_JETSON_SCHEMA = {
    "l4t": {"major": int, "revision": str, "gcid": str, "board": str, "date": str},
    "l4t_core_version": str,
    "jetpack": str,
    "ubuntu": str,
    "model": str,
    "compatible": list,
    "module": str,
    "cuda": {"version": str, "release": str, "build": str, "built": str},
    "nvidia_smi": (dict, _NONE),
    "cpus": int,
    "power_models": list,
    "power_model_default": int,
    "tegrastats_rails": list,
}


def list_profiles() -> list[str]:
    return sorted(path.stem for path in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str) -> dict:
    known = list_profiles()
    if name not in known:
        raise ValueError(f"unknown board profile {name!r}; known: {', '.join(known)}")
    profile = yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text())
    validate(profile)
    if profile["name"] != name:
        raise ValueError(f"profile file {name}.yaml is named {profile['name']!r} inside")
    return profile


def validate(profile: dict) -> None:
    """Raise ValueError naming the first key that is missing or has the wrong type."""
    _check(profile, _SCHEMA, "", strict=False)
    if extra := sorted(set(profile) - set(_SCHEMA) - {"jetson"}):
        raise ValueError(f"{', '.join(extra)}: unknown key")
    if "jetson" not in profile:  # not a Jetson (x86-server)
        return
    jetson = profile["jetson"]
    if profile["arch"] != "aarch64":  # facts section 1: anything not aarch64 is not a Jetson
        raise ValueError(f"jetson: present but arch is {profile['arch']!r}, Jetsons are aarch64")
    _check(jetson, _JETSON_SCHEMA, "jetson.")
    if jetson["nvidia_smi"] is not None:
        _check(jetson["nvidia_smi"], {"version": str, "cuda": str}, "jetson.nvidia_smi.")
    if not all(isinstance(item, str) for item in jetson["compatible"] + jetson["tegrastats_rails"]):
        raise ValueError("jetson.compatible and jetson.tegrastats_rails: must be lists of strings")
    ids = []
    for mode in jetson["power_models"]:
        _check(mode, {"id": int, "name": str}, "jetson.power_models[].")
        ids.append(mode["id"])
    if jetson["power_model_default"] not in ids:
        default = jetson["power_model_default"]
        raise ValueError(f"jetson.power_model_default: {default} is not in power_models ids {ids}")
    if profile["docker"]["default_runtime"] not in (None, "nvidia"):
        raise ValueError("docker.default_runtime: must be null or 'nvidia'")


def _check(data, schema: dict, prefix: str, strict: bool = True) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{prefix.rstrip('.') or 'profile'}: must be a mapping")
    for key, want in schema.items():
        if key not in data:
            raise ValueError(f"{prefix}{key}: missing")
        value = data[key]
        if isinstance(want, dict):
            _check(value, want, f"{prefix}{key}.")
        # bool is an int subclass: refuse true/false where a number is wanted
        elif not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
            names = "/".join(t.__name__ for t in (want if isinstance(want, tuple) else (want,)))
            raise ValueError(f"{prefix}{key}: expected {names}, got {type(value).__name__} {value!r}")
    if strict and (extra := sorted(set(data) - set(schema))):
        raise ValueError(f"{prefix}{', '.join(extra)}: unknown key")
