"""The one line of board facts that `jetson_ollama.deploys.facts` prints per host (it only reads)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyinfra.api.host import Host
from pyinfra.facts.server import Arch

from ..facts.docker import DockerState
from ..facts.jetson import BoardModel, CudaVersion, Memory, NvidiaSmi, TegraRelease
from ..releases import UnknownRelease, release_info


def describe_release(arch: str, tegra: Mapping[str, Any]) -> str:
    try:
        info = release_info(tegra["l4t"])
    except UnknownRelease:
        return f"{arch} L4T {tegra['l4t']} (not in the release table)"
    return f"{arch} L4T {info.l4t} (JetPack {info.jetpack}, CUDA {info.cuda}, Ubuntu {info.ubuntu})"


def describe_nvidia_smi(smi: Mapping[str, Any], tegra: Mapping[str, Any]) -> str:
    if not smi["present"]:  # docs/facts.md section 2: JetPack 5 has none
        return "nvidia-smi absent (JetPack 5)" if tegra["major"] == 35 else "nvidia-smi absent"
    return f"nvidia-smi: {smi['gpu_name']}, memory {'reported' if smi['memory_supported'] else 'Not Supported'}"


def describe_docker(docker: Mapping[str, Any]) -> str:
    if not docker["installed"]:
        return "docker absent"
    if not docker["running"]:
        return "docker installed, daemon not answering"
    runtimes = [name for name in docker["runtimes"] if not name.startswith("io.containerd.")]  # runc aliases
    return f"docker {docker['version']}, runtimes {','.join(runtimes)} (default {docker['default_runtime']})"


def describe_host(host: Host) -> str:
    """`<name>: <release> | <model> | RAM ... | CUDA ... | nvidia-smi ... | docker ...` (a Jetson), or
    `<name>: <arch> not a Jetson | RAM ... | docker ...`."""
    arch, tegra, memory = host.get_fact(Arch), host.get_fact(TegraRelease), host.get_fact(Memory)
    ram = f"RAM {memory.get('mem_total_mb', '?')} MB ({memory.get('mem_available_mb', '?')} available)"
    docker_state = host.get_fact(DockerState)
    docker = describe_docker(docker_state)
    if arch == "aarch64" and tegra is not None:  # docs/facts.md section 1: a Jetson is aarch64 with an L4T release
        smi = host.get_fact(NvidiaSmi)
        parts = [
            describe_release(arch, tegra),
            host.get_fact(BoardModel).get("model", "no devicetree model"),
            ram,
            f"CUDA {host.get_fact(CudaVersion) or 'absent'}",
            describe_nvidia_smi(smi, tegra),
            docker,
        ]
    else:
        parts = [f"{arch} not a Jetson", ram, docker]
    return f"{host.name}: {' | '.join(parts)}"
