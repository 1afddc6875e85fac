"""The board the server runs on: its profile (memory bandwidth), the memory available now, and GPU
or CPU, decided at start-up (`gpu_decision`): in a container by the NVIDIA runtime's marker and
JETSON_JETPACK, natively by the release's lib/ollama/cuda_jetpack<N> bundle and the right to open the
GPU's device nodes.
"""

from __future__ import annotations

import grp
import json
import os
import re
from pathlib import Path

from .config import Config, env


def read_profile(cfg: Config) -> dict:
    try:
        with open(cfg.profile) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def bandwidth_bytes_per_s(cfg: Config) -> float:
    gbps = (read_profile(cfg).get("memory") or {}).get("bandwidth_gbps") or 68  # docs/facts.md section 6: Orin Nano
    return float(gbps) * 1e9


def mem_available(cfg: Config) -> int | None:
    try:
        with open(cfg.meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


GPU_GROUPS = ("video", "render")  # the owners of /dev/nvhost-*, /dev/nvmap and /dev/dri/renderD* on a Jetson


def jetpack_major(cfg: Config) -> str:
    """JETSON_JETPACK, else the R35/R36 of /etc/nv_tegra_release, as install.sh greps it (docs/facts.md section 5);
    "" when neither tells (in a container: the file is not there)."""
    if env("JETSON_JETPACK"):
        return env("JETSON_JETPACK").split(".")[0]
    try:
        with open(cfg.tegra_release) as f:
            match = re.match(r"# R(\d+) ", f.readline())
    except OSError:
        return ""
    return {"35": "5", "36": "6"}.get(match[1], "") if match else ""


def release_libs() -> Path | None:
    """lib/ollama beside bin/ollama: this file runs from an official release's layout (natively)."""
    libs = Path(__file__).resolve().parent.parent / "lib" / "ollama"
    return libs if libs.is_dir() else None


def process_groups() -> set[str]:
    names = set()
    for gid in {os.getegid(), *os.getgroups()}:
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            pass
    return names


def gpu_decision(marker: bool, jetpack: str, libs: Path | None, euid: int, groups: set[str]) -> tuple[bool, str]:
    """(GPU?, why not) of an Ollama process. marker: the board's GPU is visible (a Jetson, or a container
    with the NVIDIA runtime); jetpack: the major it detects ("" unknown); libs: the release's
    lib/ollama, None in the container image; euid and groups: may it open the device nodes."""
    if not marker:
        return False, "no compatible GPUs were discovered"
    # docs/facts.md section 5: in a container only with --runtime nvidia (the marker) and JETSON_JETPACK
    if libs is None:
        if not env("JETSON_JETPACK"):
            return False, "cudaSetDevice err: 35; JETSON_JETPACK is not set, falling back to CPU"
        return True, ""
    if not jetpack:
        return False, "cannot tell the JetPack (no JETSON_JETPACK, no R35/R36 in /etc/nv_tegra_release)"
    if not (libs / f"cuda_jetpack{jetpack}").is_dir():
        return False, f"no cuda_jetpack{jetpack} libraries in {libs} (the JetPack bundle is not installed)"
    if euid != 0 and not groups & set(GPU_GROUPS):
        return False, (f"no permission to open the GPU device nodes (the process is not in the "
                       f"{' or '.join(GPU_GROUPS)} group)")
    return True, ""


def gpu_available(cfg: Config) -> tuple[bool, str]:
    return gpu_decision(os.path.exists(cfg.gpu_marker), jetpack_major(cfg), release_libs(), os.geteuid(),
                        process_groups())
