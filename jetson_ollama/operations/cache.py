"""The fleet's cache host and the boards' use of it: docker trusting the LAN registry, an image pushed
there once per variant, and pulled from there by digest (docs/facts.md section 5: a plain registry serves
container images fine, but not Ollama's blobs; those go through models.fetched)."""

from __future__ import annotations

import json
import re
from io import StringIO

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.operations import files

from ..facts.cache import RegistryTag, accept_headers, manifest_url
from ..facts.containers import DockerImages
from ..facts.docker import DockerDaemonJson
from ..progress import ProgressCommand, log_path, watch_script, watched
from .ollama import _check_ref, _find_image

_REGISTRY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*:\d{1,5}")


def _check_registry(registry: str) -> None:
    if not isinstance(registry, str) or not _REGISTRY_RE.fullmatch(registry):
        raise OperationError(f"registry must be host:port like 10.0.0.5:5000, not {registry!r}")


def _check_lan_ref(lan_ref: str) -> None:
    _check_ref(lan_ref)
    registry, _, rest = lan_ref.partition("/")
    _check_registry(registry)
    if not rest.rpartition(":")[0]:  # `10.0.0.5:5000` alone is docker's image `10.0.0.5`, tag `5000`, on Docker Hub
        raise OperationError(f"lan_ref must be registry:port/repository:tag, not {lan_ref!r}")


@operation()
def insecure_registry(registry: str):
    """
    Ensure docker's daemon.json lists a plain-HTTP registry in ``insecure-registries``.

    + registry: ``host:port`` of the registry, e.g. ``10.0.0.5:5000``

    Every other key of daemon.json is kept as it is. Docker reads ``insecure-registries`` again on
    ``SIGHUP``, so ``systemctl reload docker`` applies it without restarting the running containers:
    call that with ``_if=`` this operation.

    **Examples:**

    .. code:: python

        from pyinfra.operations import systemd
        from jetson_ollama.operations import cache

        trusted = cache.insecure_registry(
            name="Trust the fleet's registry",
            registry="10.0.0.5:5000",
        )
        systemd.service(name="Reload docker", service="docker", reloaded=True, _if=trusted.did_change)
    """
    _check_registry(registry)
    config = host.get_fact(DockerDaemonJson).copy()
    if config.pop("_invalid", False):
        raise OperationError("/etc/docker/daemon.json does not parse; fix it by hand first")
    listed = list(config.get("insecure-registries") or [])
    if registry in listed:
        host.noop(f"docker already trusts {registry}")
        return
    wanted = dict(config, **{"insecure-registries": [*listed, registry]})
    yield from files.put._inner(src=StringIO(json.dumps(wanted, indent=4) + "\n"), dest="/etc/docker/daemon.json",
                                mode="644")


@operation()
def image_pushed(ref: str, lan_ref: str):
    """
    Ensure the fleet's registry holds a local image, pushing it when the registry has no such tag.

    + ref: the local image, e.g. ``ollama:r36.2.0-cu122-22.04`` (built or pulled earlier in the run)
    + lan_ref: its name in the registry, e.g. ``10.0.0.5:5000/jetson-ollama/ollama:r36.2.0-cu122-22.04``

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import cache

        cache.image_pushed(
            name="Share the image with the fleet",
            ref="ollama:r36.2.0-cu122-22.04",
            lan_ref="10.0.0.5:5000/jetson-ollama/ollama:r36.2.0-cu122-22.04",
        )
    """
    _check_ref(ref)
    _check_lan_ref(lan_ref)
    digest = host.get_fact(RegistryTag, lan_ref=lan_ref)
    if digest:
        host.noop(f"{lan_ref} already in the registry ({digest[:19]})")
        return
    yield StringCommand("docker tag", QuoteString(ref), QuoteString(lan_ref))
    yield watched(StringCommand("docker push", QuoteString(lan_ref)), f"push {lan_ref}", log_path(f"push-{ref}"),
                  "docker")


@operation()
def image_from_registry(ref: str, lan_ref: str):
    """
    Ensure a local image, pulled from the fleet's registry by digest when it is missing.

    + ref: the image the board runs, e.g. ``ollama:r36.2.0-cu122-22.04``
    + lan_ref: where the variant's builder pushed it, e.g. ``10.0.0.5:5000/jetson-ollama/ollama:r36.2.0-cu122-22.04``

    The digest is read from the registry when the pull runs (the builder may push it earlier in the
    same run), the image pulled as ``repository@digest`` and tagged ``ref``. Fails with one line when
    the registry has no such tag.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import cache

        cache.image_from_registry(
            name="Image from the fleet's registry",
            ref="ollama:r36.2.0-cu122-22.04",
            lan_ref="10.0.0.5:5000/jetson-ollama/ollama:r36.2.0-cu122-22.04",
        )
    """
    _check_ref(ref)
    _check_lan_ref(lan_ref)
    if _find_image(host.get_fact(DockerImages), ref):
        host.noop(f"image {ref} already present")
        return
    repository = lan_ref.rpartition(":")[0]
    pull = watch_script(f"pull {lan_ref}", log_path(f"pull-{ref}"), "docker")  # a line every 5 s while it pulls
    # curl without -S: a missing tag or a silent registry fails with the one line below only
    yield ProgressCommand(
        "d=$(curl -fsI --max-time 10", *accept_headers(), QuoteString(manifest_url(lan_ref)),
        "| tr -d '\\r' | awk 'tolower($1) == \"docker-content-digest:\" {print $2}');",
        'case "$d" in sha256:*) ;; *) echo',
        QuoteString(f"the fleet's registry has no {lan_ref} (did its builder fail?)"),
        ">&2; exit 1;; esac;",
        StringCommand("r=", QuoteString(repository), _separator=""), "&&",
        "sh -c", QuoteString(pull), 'watch docker pull "$r@$d" && docker tag "$r@$d"', QuoteString(ref),
    )
