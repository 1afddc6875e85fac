"""What board this is: L4T, JetPack, CUDA and Ubuntu versions, read as upstream's l4t_version.py does.

Facts file (/work/shared/reference/jetson-ollama-facts.md) section 1 for the files and the table;
`L4T_VERSION`, `CUDA_VERSION` and `LSB_RELEASE` override them like upstream.
"""

import json
import os
import re

# simulator-only override of /etc/nv_tegra_release, for tests off the board
TEGRA_RELEASE = os.environ.get("JETSON_CONTAINERS_TEGRA_RELEASE", "/etc/nv_tegra_release")
CUDA_VERSION_JSON = "/usr/local/cuda/version.json"

# facts section 1 (upstream's get_jetpack_version table)
JETPACK = {"35.4.1": "5.1.2", "35.5.0": "5.1.3", "36.2.0": "6.0", "36.3.0": "6.0", "36.4.0": "6.1",
           "36.4.2": "6.1.1", "36.4.3": "6.2", "36.4.4": "6.2.1", "36.4.7": "6.2.1", "36.5.0": "6.2.1"}
# the CUDA each release ships, when the host has none installed (upstream's default table: 36.3 -> 12.4)
DEFAULT_CUDA = {(36, 2): "12.2", (36, 3): "12.4", (36, 4): "12.6"}


def parse(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def get_l4t_version() -> str:
    """`36.4.3` from `# R36 (release), REVISION: 4.3, ...` (facts section 1), or $L4T_VERSION."""
    if os.environ.get("L4T_VERSION"):
        return os.environ["L4T_VERSION"].lower().lstrip("r")
    if not os.path.isfile(TEGRA_RELEASE):
        raise SystemExit(f"L4T_VERSION file doesn't exist:  {TEGRA_RELEASE}")
    with open(TEGRA_RELEASE) as file:
        line = file.readline()
    match = re.match(r"# R(\d+) \(release\), REVISION: ([\d.]+),", line)
    if not match:
        raise SystemExit(f"L4T release string is invalid or in unexpected format:  '{line.strip()}'")
    return f"{match[1]}.{match[2]}"


def get_cuda_version(l4t: str) -> str:
    """`12.6`: $CUDA_VERSION, else cuda_nvcc.version of /usr/local/cuda/version.json, else the release's."""
    version = os.environ.get("CUDA_VERSION")
    if not version and os.path.isfile(CUDA_VERSION_JSON):
        with open(CUDA_VERSION_JSON) as file:
            version = json.load(file)["cuda_nvcc"]["version"]
    if not version:  # upstream: r36 defaults by release, r35 without CUDA gives 0.0
        version = DEFAULT_CUDA.get(parse(l4t)[:2], "12.2" if parse(l4t)[0] >= 36 else "0.0")
    return ".".join(version.split(".")[:2])


def get_lsb_release(l4t: str) -> str:
    """Ubuntu of the L4T release (facts section 1 table): R35 -> 20.04, R36 -> 22.04, R38+ -> 24.04."""
    if os.environ.get("LSB_RELEASE"):
        return os.environ["LSB_RELEASE"]
    major = parse(l4t)[0]
    return "24.04" if major > 36 else "22.04" if major == 36 else "20.04"


def get_jetpack_version(l4t: str) -> str:
    return JETPACK.get(l4t, "unknown")


def l4t_version_from_tag(tag: str) -> tuple[int, ...] | None:
    """(36, 4, 0) from `0.5.7-r36.4.0`, (36, 4) from `r36.4.tegra-aarch64-cu126-22.04`."""
    match = re.search(r"(?:^|[-_:])r(\d+\.\d+(?:\.\d+)?)", tag.split(":")[-1])
    return parse(match[1]) if match else None


def l4t_version_compatible(image: tuple[int, ...] | None, host: tuple[int, ...]) -> bool:
    """Can HOST run an image built for IMAGE? Same major; on r36 JetPack 6.0 (36.2/36.3) and 6.1+
    (36.4+) do not mix, because CUDA moved 12.2 -> 12.6 (facts section 4, upstream l4t_version.py)."""
    if not image or image[0] != host[0]:
        return False
    if host[0] == 36:
        return (image[1] >= 4) == (host[1] >= 4)
    return True


def board() -> dict:
    """The versions a build or autotag on this board uses."""
    l4t = get_l4t_version()
    return {"l4t": l4t, "jetpack": get_jetpack_version(l4t), "cuda": get_cuda_version(l4t),
            "ubuntu": get_lsb_release(l4t)}


def describe(info: dict) -> str:
    return (f"-- L4T_VERSION={info['l4t']}  JETPACK_VERSION={info['jetpack']}  "
            f"CUDA_VERSION={info['cuda']}  LSB_RELEASE={info['ubuntu']}")
