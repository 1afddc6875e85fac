"""Board profiles: one YAML file per simulated board in `profiles/`, checked against one schema.

The values model docs/facts.md; anything not recorded there carries an
`# unverified` comment in the YAML.
"""

from __future__ import annotations

import re
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
    # null: JetPack flashed without nvidia-jetpack, no host CUDA toolkit (no /usr/local/cuda, no nvcc)
    "cuda": (dict, _NONE),
    "nvidia_smi": (dict, _NONE),
    "cpus": int,
    "power_models": list,
    "power_model_default": int,
    "tegrastats_rails": list,
}
_CUDA_SCHEMA = {"version": str, "release": str, "build": str, "built": str}
# optional keys (key -> type): a profile without one gets what seed.py/simtools.py default to
_JETSON_OPTIONAL = {
    # X.Y.Z of a libcudart.so.X.Y.Z under /usr/local/cuda/targets/aarch64-linux/lib when the host has
    # only the CUDA runtime (cuda: null): no version.json, no nvcc
    "cuda_runtime": (str, _NONE),
}
_SMI_SCHEMA = {"version": str, "cuda": str}
_SMI_OPTIONAL = {
    "gpu_name": str,        # the GPU's name, default "Orin (nvgpu)" (JetPack 6 Orin, docs/facts.md section 2)
    "driver_version": str,  # "Driver Version:" of the table and driver_version of --query-gpu, default N/A
}
_MODE_OPTIONAL = {"cores_online": int}  # CPU cores the mode keeps online (default: seed.MODE_LIMITS by name)


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
    if profile["arch"] != "aarch64":  # docs/facts.md section 1: anything not aarch64 is not a Jetson
        raise ValueError(f"jetson: present but arch is {profile['arch']!r}, Jetsons are aarch64")
    _check(jetson, _JETSON_SCHEMA, "jetson.", optional=_JETSON_OPTIONAL)
    if jetson["cuda"] is not None:
        _check(jetson["cuda"], _CUDA_SCHEMA, "jetson.cuda.")
    if (runtime := jetson.get("cuda_runtime")) is not None:
        if jetson["cuda"] is not None:
            raise ValueError("jetson.cuda_runtime: only for a board without the toolkit (jetson.cuda: null)")
        if not re.fullmatch(r"\d+\.\d+\.\d+", runtime):
            raise ValueError(f"jetson.cuda_runtime: expected X.Y.Z, got {runtime!r}")
    if jetson["nvidia_smi"] is not None:
        _check(jetson["nvidia_smi"], _SMI_SCHEMA, "jetson.nvidia_smi.", optional=_SMI_OPTIONAL)
    if not all(isinstance(item, str) for item in jetson["compatible"] + jetson["tegrastats_rails"]):
        raise ValueError("jetson.compatible and jetson.tegrastats_rails: must be lists of strings")
    ids = []
    for mode in jetson["power_models"]:
        _check(mode, {"id": int, "name": str}, "jetson.power_models[].", optional=_MODE_OPTIONAL)
        if not 1 <= mode.get("cores_online", 1) <= jetson["cpus"]:
            cores = mode["cores_online"]
            raise ValueError(f"jetson.power_models[].cores_online: {cores} is not in 1..{jetson['cpus']}")
        ids.append(mode["id"])
    if jetson["power_model_default"] not in ids:
        default = jetson["power_model_default"]
        raise ValueError(f"jetson.power_model_default: {default} is not in power_models ids {ids}")
    if profile["docker"]["default_runtime"] not in (None, "nvidia"):
        raise ValueError("docker.default_runtime: must be null or 'nvidia'")


def _check(data, schema: dict, prefix: str, strict: bool = True, optional: dict | None = None) -> None:
    """Check DATA against SCHEMA (every key required) and OPTIONAL (the same form, keys that may be absent)."""
    if not isinstance(data, dict):
        raise ValueError(f"{prefix.rstrip('.') or 'profile'}: must be a mapping")
    optional = optional or {}
    for key, want in [*schema.items(), *((k, w) for k, w in optional.items() if k in data)]:
        if key not in data:
            raise ValueError(f"{prefix}{key}: missing")
        value = data[key]
        if isinstance(want, dict):
            _check(value, want, f"{prefix}{key}.")
        # bool is an int subclass: refuse true/false where a number is wanted
        elif not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
            names = "/".join(t.__name__ for t in (want if isinstance(want, tuple) else (want,)))
            raise ValueError(f"{prefix}{key}: expected {names}, got {type(value).__name__} {value!r}")
    if strict and (extra := sorted(set(data) - set(schema) - set(optional))):
        raise ValueError(f"{prefix}{', '.join(extra)}: unknown key")
