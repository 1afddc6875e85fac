"""Facts about the Jetson board itself: L4T release, devicetree model, memory, CUDA, nvidia-smi, disk.

Every command succeeds on any Linux host; a host without the file or tool yields the fact's default.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import TypedDict, override

from jetson_ollama.releases import L4TRelease


class TegraReleaseDict(TypedDict):
    l4t: str
    major: int
    revision: str
    board: str | None
    source: str  # "nv_tegra_release" or "dpkg"


_NV_TEGRA_RE = re.compile(r"# R(\d+) \(release\), (.*)")


class TegraRelease(FactBase[TegraReleaseDict | None]):
    """
    Returns the L4T release from the first line of ``/etc/nv_tegra_release``
    (``# R36 (release), REVISION: 4.3, GCID: ..., BOARD: generic, ...``), else from the version of the
    ``nvidia-l4t-core`` package (``36.4.3-20250107174145``); ``None`` on anything but a Jetson.
    Facts section 1.
    """

    @override
    def command(self) -> str:
        # the dpkg answer carries the package name, so the parser knows which source it read
        return (
            "cat /etc/nv_tegra_release 2>/dev/null"
            " || dpkg-query --showformat='nvidia-l4t-core ${Version}\\n' --show nvidia-l4t-core 2>/dev/null"
            " || true"
        )

    @override
    def process(self, output: list[str]) -> TegraReleaseDict | None:
        for line in output:
            if match := _NV_TEGRA_RE.match(line):
                fields = dict(re.findall(r"(\w+): ([^,]*)", match[2]))
                return self._release(f"{match[1]}.{fields.get('REVISION', '')}", fields.get("BOARD"),
                                     "nv_tegra_release")
            if line.startswith("nvidia-l4t-core "):
                return self._release(line.split()[-1].split("-")[0], None, "dpkg")
        return None

    @staticmethod
    def _release(text: str, board: str | None, source: str) -> TegraReleaseDict | None:
        try:
            release = L4TRelease.parse(text)
        except ValueError:
            return None
        revision = f"{release.minor}.{release.patch}"
        return {"l4t": str(release), "major": release.major, "revision": revision, "board": board,
                "source": source}


class BoardModelDict(TypedDict, total=False):
    model: str
    compatible: list[str]
    soc: str | None


class BoardModel(FactBase[BoardModelDict]):
    """
    Returns the devicetree ``model`` (NUL stripped), the ``compatible`` list (carrier+module first,
    SoC last) and ``soc`` (``nvidia,tegra234`` -> ``tegra234``, Orin); ``{}`` without a devicetree.
    Facts section 1.
    """

    @override
    def command(self) -> str:
        return (
            "for d in /proc/device-tree /sys/firmware/devicetree/base; do"
            ' if [ -r "$d/model" ]; then'
            " printf 'model='; tr -d '\\000' < \"$d/model\"; echo;"
            " tr '\\000' '\\n' < \"$d/compatible\" 2>/dev/null | sed 's/^/compatible=/';"
            " break; fi; done; true"
        )

    @staticmethod
    def default() -> BoardModelDict:
        return {}

    @override
    def process(self, output: list[str]) -> BoardModelDict:
        model, compatible = None, []
        for line in output:
            key, _, value = line.partition("=")
            if key == "model":
                model = value.strip()
            elif key == "compatible" and value:
                compatible.append(value)
        if model is None:
            return {}
        soc = compatible[-1].rpartition(",")[2] if compatible else None
        return {"model": model, "compatible": compatible, "soc": soc}


_MEMINFO_KEYS = {
    "MemTotal": "mem_total_mb", "MemAvailable": "mem_available_mb",
    "SwapTotal": "swap_total_mb", "SwapFree": "swap_free_mb",
}


class Memory(FactBase[dict[str, int]]):
    """
    Returns ``mem_total_mb``, ``mem_available_mb``, ``swap_total_mb``, ``swap_free_mb`` from
    ``/proc/meminfo`` (kB // 1024). CPU and GPU share this memory; nvidia-smi cannot report it on
    JetPack 6. Facts sections 1 and 2.
    """

    @override
    def command(self) -> str:
        return "grep -E '^(MemTotal|MemAvailable|SwapTotal|SwapFree):' /proc/meminfo || true"

    @staticmethod
    def default() -> dict[str, int]:
        return {}

    @override
    def process(self, output: list[str]) -> dict[str, int]:
        memory = {}
        for line in output:
            key, _, value = line.partition(":")
            if key in _MEMINFO_KEYS and value.split():
                memory[_MEMINFO_KEYS[key]] = int(value.split()[0]) // 1024
        return memory


class CudaVersion(FactBase[str | None]):
    """
    Returns the host CUDA version (``12.2.140``): ``cuda_nvcc.version`` of
    ``/usr/local/cuda/version.json``, else the ``V12.2.140`` of ``nvcc --version``; ``None`` without
    CUDA. Facts section 1.
    """

    @override
    def command(self) -> str:
        return (
            "cat /usr/local/cuda/version.json 2>/dev/null"
            " || /usr/local/cuda/bin/nvcc --version 2>/dev/null"
            " || true"
        )

    @override
    def process(self, output: list[str]) -> str | None:
        text = "\n".join(output)
        if text.lstrip().startswith("{"):
            try:
                return json.loads(text).get("cuda_nvcc", {}).get("version")
            except (ValueError, AttributeError):
                return None
        match = re.search(r"release [\d.]+, V([\d.]+)", text)
        return match[1] if match else None


class CudaToolkitDict(TypedDict, total=False):
    json: str | None
    cudart: str | None


class CudaToolkit(FactBase[CudaToolkitDict]):
    """
    Returns what jetson-containers reads to name an image: ``json``, the ``cuda_nvcc.version`` of
    ``/usr/local/cuda/version.json`` (``12.6.68``), and ``cudart``, the X.Y.Z of a
    ``libcudart.so.X.Y.Z`` under ``/usr/local/cuda/targets/aarch64-linux/lib``; each ``None`` when
    absent. A JetPack flashed without ``nvidia-jetpack`` has neither (dusty-nv/jetson-containers
    jetson_containers/l4t_version.py get_cuda_version @16f7cf41).
    """

    @override
    def command(self) -> str:
        return (
            "cat /usr/local/cuda/version.json 2>/dev/null | tr -d '\\n' | sed 's/^/json: /'; echo;"
            " ls /usr/local/cuda/targets/aarch64-linux/lib/ 2>/dev/null | sed -n 's/^libcudart\\.so\\./cudart: /p';"
            " true"
        )

    @staticmethod
    def default() -> CudaToolkitDict:
        return {"json": None, "cudart": None}

    @override
    def process(self, output: list[str]) -> CudaToolkitDict:
        found: CudaToolkitDict = {"json": None, "cudart": None}
        for line in output:
            if line.startswith("json: "):
                try:
                    version = json.loads(line[6:]).get("cuda_nvcc", {}).get("version")
                except (ValueError, AttributeError):
                    version = None
                found["json"] = version if isinstance(version, str) else None
            elif line.startswith("cudart: ") and re.fullmatch(r"\d+\.\d+\.\d+", line[8:].strip()):
                found["cudart"] = found["cudart"] or line[8:].strip()
        return found


class UbuntuRelease(FactBase[str]):
    """
    Returns the Ubuntu release as ``lsb_release -rs`` prints it (``22.04``), else ``VERSION_ID`` of
    ``/etc/os-release``; ``""`` when neither says.
    """

    @override
    def command(self) -> str:
        return "lsb_release -rs 2>/dev/null || (. /etc/os-release 2>/dev/null && echo \"$VERSION_ID\"); true"

    @staticmethod
    def default() -> str:
        return ""

    @override
    def process(self, output: list[str]) -> str:
        lines = [line.strip() for line in output if line.strip()]
        return lines[0] if lines else ""


class NvidiaSmiDict(TypedDict, total=False):
    present: bool
    gpu_name: str | None
    memory_supported: bool


class NvidiaSmi(FactBase[NvidiaSmiDict]):
    """
    Returns whether ``nvidia-smi`` exists (JetPack 5 has none), the GPU name (``Orin (nvgpu)`` on
    JetPack 6) and whether it reports memory: on JetPack 6 Memory-Usage says ``Not Supported``, so
    memory must come from ``Memory``. ``{"present": False}`` without it. Facts section 2.
    """

    @override
    def command(self) -> str:
        # first line: the path `command -v` prints, so a present-but-failing nvidia-smi still shows
        return (
            "command -v nvidia-smi && {"
            " nvidia-smi --query-gpu=name --format=csv,noheader | sed 's/^/name: /'; nvidia-smi;"
            " } 2>/dev/null; true"
        )

    @staticmethod
    def default() -> NvidiaSmiDict:
        return {"present": False}

    @override
    def process(self, output: list[str]) -> NvidiaSmiDict:
        if not output:
            return {"present": False}
        names = [line.removeprefix("name: ").strip() for line in output if line.startswith("name: ")]
        # a full nvidia-smi (Thor, discrete GPUs) prints "1234MiB /  8192MiB" under Memory-Usage
        memory = any(re.search(r"\d+MiB\s*/\s*\d+MiB", line) for line in output)
        return {"present": True, "gpu_name": names[0] if names else None, "memory_supported": memory}


class DiskFree(FactBase[int]):
    """
    Returns the MB free on the filesystem that holds ``path``, or would hold it once created (``df``
    of its nearest existing parent); 0 when unknown. An Ollama image alone is 10.7 GB (docs/facts.md section 4).

    + path: a file or directory, existing or not (e.g. the model store)
    """

    @override
    def command(self, path: str) -> StringCommand:
        candidates = [PurePosixPath(path), *PurePosixPath(path).parents]
        return StringCommand(
            "for p in", *(QuoteString(str(candidate)) for candidate in candidates),
            '; do if [ -e "$p" ]; then df -Pk "$p"; break; fi; done 2>/dev/null; true',
        )

    @staticmethod
    def default() -> int:
        return 0

    @override
    def process(self, output: list[str]) -> int:
        # df -P: Filesystem 1024-blocks Used Available Capacity Mounted-on (names may hold spaces)
        for line in output:
            if match := re.search(r"\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s", line):
                return int(match[3]) // 1024
        return 0


class DefaultTarget(FactBase[str]):
    """
    Returns the systemd target the board boots (``systemctl get-default``): ``graphical.target``
    with the desktop JetPack ships, ``multi-user.target`` headless (frees about 800 MB, facts
    section 3); ``""`` without systemd.
    """

    @staticmethod
    def default() -> str:
        return ""

    @override
    def command(self) -> str:
        return "systemctl get-default 2>/dev/null || true"

    @override
    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else ""
