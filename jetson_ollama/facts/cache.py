"""Facts about the fleet's LAN registry of images, read from the host that would pull from it."""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

# what docker pushes (schema 2, or OCI with newer engines); without these the registry answers
# with a schema 1 conversion or 404 and another digest
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)


def manifest_url(lan_ref: str) -> str:
    """`10.0.0.5:5000/jetson-ollama/ollama:r36.2.0` -> `http://10.0.0.5:5000/v2/jetson-ollama/ollama/manifests/r36.2.0`."""
    registry, _, rest = lan_ref.partition("/")
    repository, _, tag = rest.rpartition(":")
    return f"http://{registry}/v2/{repository}/manifests/{tag}"


def accept_headers() -> list:
    return [bit for media in MANIFEST_TYPES for bit in ("-H", QuoteString(f"Accept: {media}"))]


class RegistryTag(FactBase[str]):
    """
    Returns the manifest digest (``sha256:...``) a plain-HTTP docker registry serves for an image
    reference, from its ``Docker-Content-Digest`` header; ``""`` when the tag is not there or the
    registry does not answer.

    + lan_ref: ``registry:port/repository:tag``, e.g. ``10.0.0.5:5000/jetson-ollama/ollama:r36.2.0``
    """

    @override
    def command(self, lan_ref: str) -> StringCommand:
        return StringCommand("curl -fsSI --max-time 5", *accept_headers(), QuoteString(manifest_url(lan_ref)),
                             "2>/dev/null || true")

    @staticmethod
    def default() -> str:
        return ""

    @override
    def process(self, output: list[str]) -> str:
        for line in output:
            key, _, value = line.partition(":")
            if key.strip().lower() == "docker-content-digest" and value.strip().startswith("sha256:"):
                return value.strip()
        return ""
