"""Image tag rules of this jetson-containers revision.

The postfix changed twice in 2025 (facts file /work/shared/reference/jetson-ollama-facts.md section 4,
"The postfix changed over time"). ERA names the revision; the simulator's generator
(jetson_sim/upstream/jetson_containers.py) rewrites it in each tagged commit.
"""

ERA = "2025-07"
ERAS = ("2025-03", "2025-05", "2025-07")


def postfix(l4t: str, cuda: str, ubuntu: str, era: str = ERA) -> str:
    """`r36.2.0` (2025-03), `r36.2.0-cu122-22.04` / `r36.4-cu126-22.04` (2025-05),
    `r36.4.tegra-aarch64-cu126-22.04` (2025-07) for L4T 36.2.0 / 36.4.x."""
    if era == "2025-03":
        return f"r{l4t}"
    major, minor = (int(part) for part in l4t.split(".")[:2])
    cu = "cu" + "".join(cuda.split(".")[:2])
    if (major, minor) < (36, 4):
        return f"r{l4t}-{cu}-{ubuntu}"
    if era == "2025-05":  # L4T >= 36.4 shortened to r<maj>.<min>
        return f"r{major}.{minor}-{cu}-{ubuntu}"
    # a Jetson is always tegra-aarch64 here (the simulated board's python sees the host's x86_64)
    return f"r{major}.{minor}.tegra-aarch64-{cu}-{ubuntu}"


def image_name(package: str, postfix: str, name: str = "") -> str:
    """Upstream container.py naming: `ollama` -> `ollama:<postfix>`, `ollama:0.6.8` ->
    `ollama:0.6.8-<postfix>`; --name replaces the package (a trailing `/` is a namespace)."""
    if not name:
        name = package
    elif ":" not in name and name.endswith("/"):
        name += package
    return name + ("-" if ":" in name else ":") + postfix


def stage_name(image: str, package: str) -> str:
    """Build stages are tagged `<name>-<stage>` (facts section 4): `ollama:r36.2.0-cu122-22.04-ollama`."""
    return f"{image}-{package.split(':')[0]}"
