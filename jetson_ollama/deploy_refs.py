"""What a rollout runs: a deploy file (`deploys/full.py`) or a deploy of a module by name
(`jetson_ollama.deploys.full`, as `pyinfra INVENTORY jetson_ollama.deploys.full` takes it), so that a
project made by `jetson-ollama init`, with no deploy files of its own, rolls out the installed package.

`problem(ref)` answers one line when `ref` is neither; `source(ref)` the bytes a rollout's release is made
of (a file's bytes; for a deploy by name, its name, the package's version and its module's source);
`as_file(ref, directory)` a deploy file that runs it (pyinfra's runner loads deploy files).
"""

from __future__ import annotations

import importlib
import inspect
from importlib import metadata
from pathlib import Path


def _version() -> str:
    try:
        return metadata.version("jetson-ollama")
    except metadata.PackageNotFoundError:  # run from a clone that was never installed
        return "unknown"


def _split(ref: str) -> tuple[str, str] | None:
    """(module, attribute) of a deploy by name (`a.b.c` or `a.b:c`), None for what reads as a file path."""
    if ref.endswith(".py") or "/" in ref or "\\" in ref:
        return None
    separator = ":" if ":" in ref else "."
    if separator not in ref:
        return None
    module, _, attribute = ref.rpartition(separator)
    return (module, attribute) if module and attribute.isidentifier() else None


def is_named(ref: str) -> bool:
    """Whether `ref` names a deploy of a module rather than a file (its form only)."""
    return _split(ref) is not None and not Path(ref).is_file()


def problem(ref: str) -> str | None:
    """None when `ref` is a deploy file or a callable of an importable module, otherwise one line."""
    if Path(ref).is_file():
        return None
    parts = _split(ref)
    if parts is None:
        return f"no deploy file {ref}"
    module_name, attribute = parts
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return f"no deploy {ref}: cannot import {module_name} ({exc})"
    if not callable(getattr(module, attribute, None)):
        return f"no deploy {ref}: {module_name} has no deploy named {attribute}"
    return None


def source(ref: str) -> bytes:
    """What a rollout's release is made of: a deploy file's bytes, or for a deploy by name its name, the
    package's version and its module's source (a new version of the library is a new release)."""
    if not is_named(ref):
        return Path(ref).read_bytes()
    module_name, _ = _split(ref) or ("", "")
    module = importlib.import_module(module_name)
    try:
        text = inspect.getsource(module)
    except (OSError, TypeError):
        text = ""
    return f"{ref}\n{_version()}\n{text}".encode()


def as_file(ref: str, directory: Path) -> str:
    """A deploy file for `ref`: the file itself, or for a deploy by name a file in `directory` that calls it."""
    if not is_named(ref):
        return ref
    module_name, attribute = _split(ref) or ("", "")
    path = directory / f"{ref.replace(':', '.')}.py"
    path.write_text(f"from {module_name} import {attribute}\n\n{attribute}()\n")
    return str(path)
