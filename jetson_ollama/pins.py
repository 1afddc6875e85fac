"""What a site pins beside its models, written to models.lock (`pins`) as the stages learn it: the
jetson-containers commit, each image's digest and each image's Ollama version (issue: pinned commit,
image digest, Ollama version and model digests in the lock file)."""

from __future__ import annotations

from pyinfra import host, logger

from . import lock


def record(cfg, section: str, key: str, value: str | None, *, overwrite: bool = False) -> None:
    """Pins `key` of `section` to `value` (nothing when the value is unknown). A different pin already
    there is kept and reported (`overwrite` replaces it: for a setting the user changed)."""
    if not value:
        return
    try:
        lock.pin(cfg.ollama_lock_file, section, key, value, overwrite=overwrite)
    except lock.LockMismatch as exc:
        logger.warning(f"{host.name}: {exc}")
