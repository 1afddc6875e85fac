"""The jetson-containers checkout, pinned to one commit, and its install.sh (docs/facts.md section 4)."""

from __future__ import annotations

import posixpath
import re

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from jetson_ollama.facts.containers import JetsonContainersCheckout

_COMMIT_RE = re.compile(r"[0-9a-f]{7,40}")


@operation()
def installed(repo: str, commit: str, path: str = "/opt/jetson-containers"):
    """
    Ensure a jetson-containers checkout at ``path`` is at ``commit`` and installed.

    + repo: the git URL to clone, e.g. ``https://github.com/dusty-nv/jetson-containers``
    + commit: the commit to pin, a hex commit id (7 to 40 characters); upstream moves fast and its
      image tag format changed twice in 2025, so no branch or tag is accepted
    + path: where the checkout lives; give the resolved path (no symlink in it), because install.sh
      links ``/usr/local/bin/autotag`` and ``/usr/local/bin/jetson-containers`` to the resolved one

    Clones when ``path`` is no checkout; fetches ``origin`` and checks out ``commit`` (detached) when
    the checkout is elsewhere. An existing checkout whose ``origin`` is not ``repo`` (the setting
    changed after the clone: a fork, a mirror) gets ``repo`` as its ``origin`` (``git remote set-url``,
    or ``git remote add`` when it has none) and fetches from it, so the pinned commit comes from the
    remote asked for; the files stay as they are when the commit is the same. ``bash install.sh``
    (``pip3 install -r requirements.txt``, the two links, ``.env`` from ``.env.default``) runs, with
    stdin from ``/dev/null``, after a clone or a new commit, or when a link does not point into
    ``path`` or ``.env`` is missing. A checkout with local changes to tracked files at another commit
    is left alone with an error.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import jetson_containers

        jetson_containers.installed(
            name="Install jetson-containers",
            repo="https://github.com/dusty-nv/jetson-containers",
            commit="0b4e3a8d1c2f",
            _sudo=True,
        )
    """
    if not repo:
        raise OperationError("jetson_containers.installed needs the repo URL to clone")
    if not _COMMIT_RE.fullmatch(commit or ""):
        raise OperationError(f"commit must be a hex commit id of 7 to 40 characters, not {commit!r}")
    if not posixpath.isabs(path or ""):
        raise OperationError(f"path must be absolute, not {path!r}")
    path = posixpath.normpath(path)

    checkout = host.get_fact(JetsonContainersCheckout, path=path)
    git = StringCommand("git -C", QuoteString(path))
    changed = False  # the files changed: install.sh runs again
    commands = False  # anything yielded at all

    if not checkout:
        yield StringCommand("git clone --quiet", QuoteString(repo), QuoteString(path))
        yield StringCommand(git, "checkout --quiet --detach", QuoteString(commit))
        changed = commands = True
    else:
        at_commit = checkout["commit"].startswith(commit)
        if not at_commit and checkout["dirty"]:
            raise OperationError(
                f"jetson-containers at {path} has local changes and is at {checkout['commit'][:12]}, not"
                f" {commit}: commit or stash them (git -C {path} stash) and run again; nothing was changed",
            )
        # compared as configured (git config), not as `git remote get-url` rewrites it with url.*.insteadOf,
        # which would differ from repo on every run
        origin = checkout.get("origin", "")
        if origin != repo:
            verb = "set-url" if origin else "add"
            yield StringCommand(git, "remote", verb, "origin", QuoteString(repo))
        if origin != repo or not at_commit:
            yield StringCommand(git, "fetch --quiet origin")
            commands = True
        if not at_commit:
            yield StringCommand(git, "checkout --quiet --detach", QuoteString(commit))
            changed = True

    installed_here = (
        checkout
        and checkout["autotag"] == posixpath.join(path, "autotag")
        and checkout["jetson_containers"] == posixpath.join(path, "jetson-containers")
        and checkout["env_file"]
    )
    if changed or not installed_here:
        # install.sh may prompt (sudo, pip): stdin from /dev/null makes it fail instead of hang
        yield StringCommand("cd", QuoteString(path), "&& bash install.sh </dev/null")
    elif not commands:
        host.noop(f"jetson-containers at {checkout['commit'][:7]}")
