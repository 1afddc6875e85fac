"""The README's settings table, made from the declaration in defaults.py (`python -m jetson_ollama.config`).

One row per user setting: key, default, doc. Internal keys (defaults.INTERNAL, set by jetson-ollama
itself) are left out; tests/unit/test_config.py checks that README.md shows this table as it is now.
"""

from __future__ import annotations

from typing import Any

from .defaults import DEFAULTS, DOCS, INTERNAL


def defaults_meanings() -> dict[str, str]:
    """Each user setting's meaning, its one-line doc, in declaration order."""
    return {key: doc for key, doc in DOCS.items() if key not in INTERNAL}


def _literal(value: Any) -> str:
    if isinstance(value, list):  # ["qwen3:8b", ...], quoted like the strings
        return "[" + ", ".join(map(_literal, value)) + "]"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def defaults_table() -> str:
    """The user settings as a Markdown table: key | default | meaning (ends with a newline)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, meaning in defaults_meanings().items():
        cells = [f"`{key}`", f"`{_literal(DEFAULTS[key])}`", meaning]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"
