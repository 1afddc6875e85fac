"""Builds the one-file simulated `ollama` (what an image copies as /usr/local/bin/ollama) from the
modules of this package: the package's docstring, the modules' stdlib imports merged, then each
module's code in MODULES order, with the imports between modules left out (the script is one namespace).

    python -m jetson_sim.upstream.ollama.build   # builds the script and prints its path

`script_path()` is the script as a file, built on first use: what the simulated images, jetson-containers
repository and GitHub releases copy, and what the tests run. Nothing built is committed.
"""

from __future__ import annotations

import ast
import hashlib
import os
import sys
import tempfile
from pathlib import Path

PACKAGE = Path(__file__).parent
MODULES = ("versions", "config", "store", "pull", "board", "scheduler", "handler", "structured", "generate", "embed",
           "compat", "create", "api", "cli")
RULE = "# " + "-" * 64


def _docstring_lines(tree: ast.Module) -> range:
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return range(first.lineno - 1, first.end_lineno or first.lineno)
    return range(0)


def _top_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def script() -> str:
    """The text of the one-file script. Raises ValueError for an import that is not the stdlib's or the
    package's, or a name two modules define."""
    init = (PACKAGE / "__init__.py").read_text()
    lines = init.splitlines()
    docstring = "\n".join(lines[i] for i in _docstring_lines(ast.parse(init)))
    plain: set[str] = set()
    froms: dict[str, set[str]] = {}
    bodies: list[str] = []
    owner: dict[str, str] = {}  # top-level name -> the module that defines it
    for module in MODULES:
        text = (PACKAGE / f"{module}.py").read_text()
        tree = ast.parse(text)
        for name in _top_level_names(tree):
            if name in owner:
                raise ValueError(f"{name} is defined in {owner[name]}.py and {module}.py: the script is one namespace")
            owner[name] = module
        skip = set(_docstring_lines(tree))
        for node in tree.body:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            skip |= set(range(node.lineno - 1, node.end_lineno or node.lineno))
            if isinstance(node, ast.Import):
                plain |= {f"{a.name} as {a.asname}" if a.asname else a.name for a in node.names}
            elif node.level == 0 and node.module is not None and node.module != "__future__":
                if node.module.split(".")[0] not in sys.stdlib_module_names:
                    raise ValueError(f"{module}.py imports {node.module}: the boards have the stdlib only")
                froms.setdefault(node.module, set()).update(a.name for a in node.names)
        body = "\n".join(line for i, line in enumerate(text.splitlines()) if i not in skip).strip("\n")
        bodies.append(f"{RULE} {module}.py\n\n{body}\n")
    for name in plain:
        if name.split(".")[0].split(" ")[0] not in sys.stdlib_module_names:
            raise ValueError(f"the modules import {name}: the boards have the stdlib only")
    imports = [f"import {name}" for name in sorted(plain)]
    imports += [f"from {module} import {', '.join(sorted(names))}" for module, names in sorted(froms.items())]
    head = ["#!/usr/bin/env python3", docstring, "",
            "# Built by `python -m jetson_sim.upstream.ollama.build` from jetson_sim/upstream/ollama/: edit the",
            "# modules there, not this file.", "", "from __future__ import annotations", "", *imports]
    return "\n".join(head) + "\n\n\n" + "\n\n".join(bodies)


def script_path() -> Path:
    """The script as `<tmp>/jetson-sim-ollama-<sha256 prefix>/bin/ollama` (mode 755), written once per
    content; bin/ with no lib/ollama beside it, so it runs as the container image's server does."""
    text = script()
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"jetson-sim-ollama-{digest}" / "bin" / "ollama"
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".ollama.{os.getpid()}")
        part.write_text(text)
        part.chmod(0o755)
        os.replace(part, path)  # atomic: parallel readers see the whole file or none
    return path


def main(argv: list[str]) -> int:
    if argv:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    print(script_path())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
