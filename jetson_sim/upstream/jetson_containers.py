"""Generate the simulated `jetson-containers` git repository the boards clone (runs on the controller).

A bare repository whose history has one tagged commit per naming era of facts file section 4
(/work/shared/reference/jetson-ollama-facts.md, "The postfix changed over time"): `2025-03`,
`2025-05` and `2025-07` (= main). The commits differ in `jetson_containers/tag.py`'s ERA line. Fixed
author, committer and dates, so the commit ids are stable and deploys can pin them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

TEMPLATE = Path(__file__).parent / "jc_repo"
OLLAMA = "packages/llm/ollama/ollama"
# git records only 755 or 644; set from here, because installed package data may lose the bits
EXECUTABLES = {"install.sh", "jetson-containers", "autotag", "run.sh", "packages/llm/ollama/start_ollama",
               OLLAMA, "packages/llm/ollama/test.py"}
ERAS = {  # tag -> (commit date, message)
    "2025-03": ("2025-03-28T12:00:00+00:00", "ollama: images tagged r<L4T>"),
    "2025-05": ("2025-05-30T12:00:00+00:00", "tags: r<L4T>-cu<XY>-<ubuntu>, L4T >= 36.4 shortened to r36.4"),
    "2025-07": ("2025-07-25T12:00:00+00:00", "tags: L4T >= 36.4 becomes r<maj>.<min>.<arch>"),
}
AUTHOR = ("jetson-sim upstream", "upstream@jetson-sim.invalid")


def make_repo(dest: Path, ollama_server: Path | None = None) -> dict[str, str]:
    """Create or update the bare repository DEST (e.g. `.../jetson-containers.git`).

    + dest: path of the bare repository; created if missing, its `main` and tags forced to the history
    + ollama_server: the simulated Ollama server script, committed as packages/llm/ollama/ollama
      (without it, a placeholder that says so)

    Returns `{"2025-03": sha, "2025-05": sha, "2025-07": sha, "head": sha}`. Idempotent: the same
    inputs give the same commit ids, and a second call changes nothing.
    """
    dest = Path(dest)
    if not (dest / "HEAD").exists():
        dest.mkdir(parents=True, exist_ok=True)
        _git(dest, "init", "--quiet", "--bare", "--initial-branch=main")
    with tempfile.TemporaryDirectory(prefix="jetson-containers-") as tmp:
        work = Path(tmp)
        _git(work, "init", "--quiet", "--initial-branch=main")
        for era, (date, message) in ERAS.items():
            _write_tree(work, era, ollama_server)
            _git(work, "add", "--all")
            _git(work, "commit", "--quiet", "--allow-empty", "-m", f"{message}\n\nSimulated upstream, era {era}.",
                 date=date)
            _git(work, "tag", "--force", era)
        _git(work, "push", "--quiet", "--force", str(dest.resolve()), "main", *(f"refs/tags/{e}" for e in ERAS))
    _git(dest, "update-server-info")  # so a plain static HTTP server can serve it too (dumb protocol)
    shas = {era: _git(dest, "rev-parse", f"{era}^{{commit}}") for era in ERAS}
    shas["head"] = _git(dest, "rev-parse", "main")
    return shas


def _write_tree(work: Path, era: str, ollama_server: Path | None) -> None:
    for src in sorted(TEMPLATE.rglob("*")):
        rel = src.relative_to(TEMPLATE).as_posix()
        if src.is_dir() or "__pycache__" in rel or rel.endswith(".pyc"):
            continue
        data = src.read_bytes()
        if rel == "jetson_containers/tag.py":
            data = re.sub(rb'(?m)^ERA = ".*"$', f'ERA = "{era}"'.encode(), data, count=1)
        elif rel == OLLAMA and ollama_server is not None:
            data = Path(ollama_server).read_bytes()
        out = work / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        out.chmod(0o755 if rel in EXECUTABLES else 0o644)


def _git(cwd: Path, *args: str, date: str | None = None) -> str:
    """git with no user or system config (no hooks, signing or templates), fixed identity and dates."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
           "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1]}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(key, None)
    git = shutil.which("git") or "git"
    result = subprocess.run([git, "-c", "core.fileMode=true", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false",
                             *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()
