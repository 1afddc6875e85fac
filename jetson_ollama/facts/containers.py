"""Facts about what the Ollama container is made from: the jetson-containers checkout, the local
docker images and the Ollama container itself (docs/facts.md section 4).

Every command succeeds on any Linux host; without git, docker or its daemon each yields its empty
default (``{}`` or ``[]``), never ``None``, so operations test it by truthiness.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import TypedDict, override
from ..resources import FILES


class CheckoutDict(TypedDict, total=False):
    commit: str
    origin: str
    date: str
    committed: str
    dirty: bool
    autotag: str
    jetson_containers: str
    env_file: bool


class JetsonContainersCheckout(FactBase[CheckoutDict]):
    """
    Returns the jetson-containers checkout at ``path``: its ``commit`` (full sha), the URL of its
    ``origin`` remote as configured (``""`` when it has none), committer ``date``
    (``2025-05-14``) and time (``committed``, ISO 8601 with its offset), whether tracked files are
    ``dirty``, the targets of the ``autotag`` and ``jetson_containers`` links that install.sh puts in
    ``/usr/local/bin`` (``""`` when absent) and
    whether the ``.env`` it copies from ``.env.default`` exists (``env_file``); ``{}`` when ``path``
    is not the top of a git checkout. Facts section 4.

    + path: the checkout, e.g. ``/opt/jetson-containers``
    """

    @override
    def command(self, path: str) -> StringCommand:
        # the top-level test keeps a directory inside some other checkout from counting as one;
        # untracked files are not "dirty": a checkout neither loses nor trips over them
        return StringCommand(
            "cd", QuoteString(path),
            '2>/dev/null && [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$(pwd -P)" ] && {'
            " git log -1 --format='commit=%H%ndate=%cs%ncommitted=%cI';"
            " printf 'origin=%s\\n' \"$(git config --get remote.origin.url)\";"
            " git status --porcelain --untracked-files=no | sed 's/^/changed=/';"
            " printf 'autotag=%s\\n' \"$(readlink /usr/local/bin/autotag)\";"
            " printf 'jetson_containers=%s\\n' \"$(readlink /usr/local/bin/jetson-containers)\";"
            " if [ -f .env ]; then echo env_file=yes; fi;"
            " } 2>/dev/null; true",
        )

    @staticmethod
    def default() -> CheckoutDict:
        return {}

    @override
    def process(self, output: list[str]) -> CheckoutDict:
        values: dict[str, str] = {}
        dirty = False
        for line in output:
            key, _, value = line.partition("=")
            if key == "changed":
                dirty = True
            elif key not in values:
                values[key] = value
        if not values.get("commit"):  # not a checkout, or one without any commit
            return {}
        return {
            "commit": values["commit"],
            "origin": values.get("origin", ""),
            "date": values.get("date", ""),
            "committed": values.get("committed", ""),
            "dirty": dirty,
            "autotag": values.get("autotag", ""),
            "jetson_containers": values.get("jetson_containers", ""),
            "env_file": values.get("env_file") == "yes",
        }


PROBE_SCRIPT = FILES / "jc-names.py"


class CheckoutNaming(FactBase[dict[str, Any]]):
    """
    Returns what the jetson-containers checkout at ``path`` itself computes on this board, by running
    its own code (``files/jc-names.py``: nothing built, nothing downloaded, nothing changed): ``l4t``,
    ``cuda``, ``lsb``, ``arch``, the ``versions`` its ollama package offers and the ``default``, the
    ``images`` and build ``stages`` per package (``ollama``, ``ollama:0.11.8``), ``warnings``. ``{}``
    without a checkout; ``{"error": "<one line>"}`` when its code cannot say.

    + path: the checkout, e.g. ``/opt/jetson-containers``
    """

    @override
    def command(self, path: str) -> StringCommand:
        script = PROBE_SCRIPT.read_text()
        return StringCommand(
            "[ -d", QuoteString(posixpath.join(path, "jetson_containers")), "] || exit 0;",
            "command -v python3 >/dev/null || { echo '{\"error\": \"no python3 on the board\"}'; exit 0; };",
            "python3 -B -c", QuoteString(script), QuoteString(path), "2>/dev/null",
            "|| echo '{\"error\": \"jc-names.py failed\"}'",
        )

    @staticmethod
    def default() -> dict[str, Any]:
        return {}

    @override
    def process(self, output: list[str]) -> dict[str, Any]:
        text = "\n".join(output).strip()
        if not text:
            return {}
        try:
            found = json.loads(text.splitlines()[-1])
        except ValueError:
            return {"error": f"unreadable answer: {text[:120]}"}
        return found if isinstance(found, dict) else {"error": f"unreadable answer: {text[:120]}"}


def image_version_command(ref: str) -> StringCommand:
    """Ask the image's own client its version, in a throwaway container with no network: the client
    finds no server and says ``Warning: client version is 0.6.8`` (or ``ollama version is 0.6.8``)."""
    return StringCommand(
        "docker image inspect", QuoteString(ref), ">/dev/null 2>&1 || exit 0;",
        "timeout 60 docker run --rm --network none --entrypoint ollama", QuoteString(ref),
        "--version 2>&1 | tail -n 5; true",
    )


def parse_image_version(lines: list[str]) -> str | None:
    for line in reversed(lines):
        match = re.search(r"(?:client version is|ollama version is)\s+(\S+)", line)
        if match:
            return match[1]
    return None


class ImageOllamaVersion(FactBase[str | None]):
    """
    Returns the Ollama version an image carries, read from its own ``ollama --version`` in a throwaway
    container without network (``image_version_command``); ``None`` when the image is not on the board
    or its client does not say. For prebuilt images no table can be trusted to know (docs/facts.md section 4).

    + ref: the image, e.g. ``dustynv/ollama:r36.4.0``
    """

    @override
    def command(self, ref: str) -> StringCommand:
        return image_version_command(ref)

    @override
    def process(self, output: list[str]) -> str | None:
        return parse_image_version(output)


class ImageDict(TypedDict):
    ref: str
    id: str
    digest: str


class DockerImages(FactBase[list[ImageDict]]):
    """
    Returns the tagged local images: ``ref`` (``dustynv/ollama:r36.2.0``, as ``docker images`` names
    it: no ``docker.io/`` or ``library/``), the full image ``id`` (``sha256:...``) and the repository
    ``digest`` (``sha256:...``, ``""`` for an image built here), from ``docker images --digests
    --no-trunc --format '{{json .}}'``; ``[]`` without docker or its daemon. jetson-containers
    images exist only locally and never as ``latest`` (docs/facts.md section 4).
    """

    @override
    def command(self) -> str:
        # --digests: without it docker prints "<none>" as every image's digest
        return "docker images --digests --no-trunc --format '{{json .}}' 2>/dev/null || true"

    @staticmethod
    def default() -> list[ImageDict]:
        return []

    @override
    def process(self, output: list[str]) -> list[ImageDict]:
        images: list[ImageDict] = []
        seen = set()
        for line in output:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            repository, tag = row.get("Repository", "<none>"), row.get("Tag", "<none>")
            if "<none>" in (repository, tag) or f"{repository}:{tag}" in seen:  # dangling, or one row per digest
                continue
            seen.add(f"{repository}:{tag}")
            digest = row.get("Digest") or ""
            images.append({
                "ref": f"{repository}:{tag}",
                "id": row.get("ID", ""),
                "digest": digest if digest.startswith("sha256:") else "",
            })
        return images


class ContainerMountDict(TypedDict):
    source: str
    destination: str


class ContainerDict(TypedDict, total=False):
    running: bool
    status: str
    image: str
    image_id: str
    labels: dict[str, str]
    restart_policy: str
    runtime: str
    network_mode: str
    env: dict[str, str]
    mounts: list[ContainerMountDict]
    cmd: list[str]
    restart_count: int


class OllamaContainer(FactBase[ContainerDict]):
    """
    Returns the container named ``container`` from ``docker container inspect``: ``running``, ``status``, the
    ``image`` reference it was created from and its ``image_id``, ``labels``, ``restart_policy``,
    ``runtime``, ``network_mode``, ``env`` (the image's ``ENV`` merged with ``-e``), ``mounts``
    (``source``, ``destination``), ``cmd`` and ``restart_count``; ``{}`` when there is no such
    container, or no docker. Facts section 4.

    + container: the container name, e.g. ``ollama`` (``name`` is pyinfra's global argument)
    """

    @override
    def command(self, container: str) -> StringCommand:
        # an absent container prints "[]" and exits 1
        return StringCommand("docker container inspect", QuoteString(container), "2>/dev/null || true")

    @staticmethod
    def default() -> ContainerDict:
        return {}

    @override
    def process(self, output: list[str]) -> ContainerDict:
        try:
            inspected = json.loads("\n".join(output))
        except ValueError:
            return {}
        if not isinstance(inspected, list) or not inspected or not isinstance(inspected[0], dict):
            return {}
        container: dict[str, Any] = inspected[0]
        state = container.get("State") or {}
        config = container.get("Config") or {}
        host_config = container.get("HostConfig") or {}
        env = dict(entry.partition("=")[::2] for entry in config.get("Env") or [])
        return {
            "running": bool(state.get("Running")),
            "status": state.get("Status", ""),
            "image": config.get("Image", ""),
            "image_id": container.get("Image", ""),
            "labels": config.get("Labels") or {},
            "restart_policy": (host_config.get("RestartPolicy") or {}).get("Name", ""),
            "runtime": host_config.get("Runtime", ""),
            "network_mode": host_config.get("NetworkMode", ""),
            "env": env,
            "mounts": [
                {"source": mount.get("Source", ""), "destination": mount.get("Destination", "")}
                for mount in container.get("Mounts") or []
            ],
            "cmd": config.get("Cmd") or [],
            "restart_count": int(container.get("RestartCount") or 0),
        }
