"""Generate the simulated `jetson-containers` git repository the boards clone (runs on the controller).

A bare repository whose history follows dusty-nv/jetson-containers: one commit per upstream commit that
changed how `jetson-containers build ollama` names its images (HISTORY), with that commit's committer
and author timestamps, and a message naming the upstream commit it stands for. The pinned commit of the
project (16f7cf41) is one of them.

The files come from the template `jc_repo/`, rendered once per commit: a line `#@ since X`,
`#@ before X`, `#@ only X Y ...` (X: a HISTORY key; several conditions on one line must all hold)
opens a block kept only in the commits it names, `#@ else` flips it, `#@ end` closes it; the directive
lines themselves are dropped. So each commit holds only its own rules, as upstream's code did then.
Fixed author and committer identity and the recorded dates: the commit ids are stable and deploys can
pin them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).parent / "jc_repo"
OLLAMA = "packages/llm/ollama/ollama"
# git records only 755 or 644; set from here, because installed package data may lose the bits
EXECUTABLES = {"install.sh", "jetson-containers", "autotag", "run.sh", "packages/llm/ollama/start_ollama",
               OLLAMA, "packages/llm/ollama/test.py"}
AUTHOR = ("jetson-sim upstream", "upstream@jetson-sim.invalid")
UPSTREAM = "dusty-nv/jetson-containers"


@dataclass(frozen=True)
class Commit:
    key: str          # upstream short sha, the key in make_repo's answer
    sha: str          # the upstream commit it stands for
    committed: str    # upstream %cI
    authored: str     # upstream %aI
    subject: str      # upstream subject
    rule: str         # what changed for the ollama images (our words)


# the upstream commits that changed the ollama image names or the versions offered (ordered)
HISTORY = (
    Commit("2262004f", "2262004fd4cf6305bd9cb168c0b27e7f61985e64", "2025-03-12T10:30:37+01:00",
           "2025-03-12T10:30:37+01:00", "Update config.py",
           "images tagged r<L4T>; -cu<XY>/-<lsb> only with $CUDA_VERSION/$LSB_RELEASE set; "
           "ollama main, 0.4.0, 0.5.1, 0.5.5, 0.5.7, 0.6.1 (default)"),
    Commit("119c26f2", "119c26f258dbaefff75eb27a9b2ba6b7fa508120", "2025-05-06T00:35:08-04:00",
           "2025-05-06T00:35:08-04:00", "shorten L4T tags > r36.4.0",
           "L4T >= 36.4 shortened to r<major>.<minor>; ollama main (default), 0.4.0, 0.5.1, 0.5.5, 0.5.7, 0.6.7"),
    Commit("55b14897", "55b148975a18ae9230b21c26128619a929c5e490", "2025-05-06T02:18:07-04:00",
           "2025-05-06T02:18:07-04:00", "enable CUDA and LSB tags by default",
           "-cu<XY>-<lsb> always; ollama 0.4.0, 0.5.1, 0.5.5, 0.5.7, 0.6.7, 0.6.8 (default)"),
    Commit("947e2267", "947e22672940aafd615025e9170a162457eb24c7", "2025-07-13T21:32:04+02:00",
           "2025-07-13T21:32:04+02:00", "refactor",
           "L4T >= 36.4 tagged r<major>.<minor>.<CUDA_ARCH>; ollama 0.4.0 ... 0.9.6 (default), 0.10.0"),
    Commit("c6bf3b62", "c6bf3b627002c7a4a2954269c8de52c087db3cfe", "2025-09-04T00:21:13+03:00",
           "2025-09-03T23:21:13+02:00", "FIX LOGIC NCCL and all jetson-containers (#1380)",
           "CUDA_ARCH from nvidia-smi's GPU name (nvgpu: tegra-aarch64, else aarch64 = SBSA, whose L4T is "
           "then 38.2.0); ollama 0.4.0, 0.5.1, 0.5.5, 0.11.8 (default)"),
    Commit("16f7cf41", "16f7cf4145d9f943230b4c92bc2183853a2aeb30", "2025-10-07T22:33:16+02:00",
           "2025-10-08T04:33:16+08:00", "grand refactor (#1433)",
           "the project's pin: names as c6bf3b62; nvidia-smi asked with a 10 s timeout; builds with --shm-size=8g"),
    Commit("3aef85cf", "3aef85cf8b841f6712f263faf89a6bf58b4b21a3", "2025-10-09T13:15:21+02:00",
           "2025-10-09T13:15:21+02:00",
           "Update build scripts and README for improved package handling and clarity",
           "SBSA tagged r<major>.<minor>.arm64-sbsa"),
)
KEYS = tuple(commit.key for commit in HISTORY)
PIN = "16f7cf41"
# files that upstream kept under another name in some commits: path -> (condition, name then)
RENAMED = {"packages/llm/ollama/test.py": ("before 55b14897", "packages/llm/ollama/test.py.disabled")}


def make_repo(dest: Path, ollama_server: Path | None = None) -> dict[str, str]:
    """Create or update the bare repository DEST (e.g. `.../jetson-containers.git`).

    + dest: path of the bare repository; created if missing, its `main` forced to the history (other
      refs removed)
    + ollama_server: the simulated Ollama server script, committed as packages/llm/ollama/ollama
      (without it, a placeholder that says so)

    Returns `{"2262004f": sha, ..., "3aef85cf": sha, "pin": sha of the 16f7cf41 commit, "head": sha}`:
    each upstream short sha mapped to the commit that stands for it. Idempotent: the same inputs give
    the same commit ids, and a second call changes nothing.
    """
    dest = Path(dest)
    if not (dest / "HEAD").exists():
        dest.mkdir(parents=True, exist_ok=True)
        _git(dest, "init", "--quiet", "--bare", "--initial-branch=main")
    shas = {}
    with tempfile.TemporaryDirectory(prefix="jetson-containers-") as tmp:
        work = Path(tmp)
        _git(work, "init", "--quiet", "--initial-branch=main")
        for commit in HISTORY:
            for child in work.iterdir():
                if child.name != ".git":
                    shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            _write_tree(work, commit.key, ollama_server)
            _git(work, "add", "--all")
            _git(work, "commit", "--quiet", "--allow-empty", "-m", message(commit),
                 dates=(commit.authored, commit.committed))
            shas[commit.key] = _git(work, "rev-parse", "HEAD")
        _git(work, "push", "--quiet", "--force", "--prune", str(dest.resolve()), "refs/heads/*:refs/heads/*",
             "refs/tags/*:refs/tags/*")
    _git(dest, "update-server-info")  # so a plain static HTTP server can serve it too (dumb protocol)
    shas["pin"] = shas[PIN]
    shas["head"] = _git(dest, "rev-parse", "main")
    return shas


def message(commit: Commit) -> str:
    return (f"{commit.rule.split(';')[0]} ({UPSTREAM}@{commit.key})\n\n"
            f"Simulated upstream: stands for {UPSTREAM} commit {commit.sha}\n"
            f"(\"{commit.subject}\", committed {commit.committed}).\n\n"
            f"Ollama images at this commit: {commit.rule}.\n")


def render(text: str, key: str) -> str:
    """TEXT with the `#@` blocks that do not hold at commit KEY removed (see the module docstring)."""
    out: list[str] = []
    stack: list[bool] = []  # whether each open block holds
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        match = re.match(r"^[ \t]*#@[ \t]*(.*?)[ \t]*$", line)
        if not match:
            if all(stack):
                out.append(line)
            continue
        words = match[1].split()
        if words == ["end"] or words == ["else"]:
            if not stack:
                raise ValueError(f"line {number}: `#@ {words[0]}` without a block")
            held = stack.pop()
            if words == ["else"]:
                stack.append(not held)
        else:
            stack.append(holds(words, key, number))
    if stack:
        raise ValueError(f"{len(stack)} `#@` block(s) not closed")
    return "".join(out)


def holds(words: list[str], key: str, number: int = 0) -> bool:
    at, result, i = KEYS.index(key), True, 0
    while i < len(words):
        word = words[i]
        if word in ("since", "before") and i + 1 < len(words) and words[i + 1] in KEYS:
            other = KEYS.index(words[i + 1])
            result &= at >= other if word == "since" else at < other
            i += 2
        elif word == "only" and i + 1 < len(words):
            named = [w for w in words[i + 1:] if w in KEYS]
            if len(named) != len(words) - i - 1:
                raise ValueError(f"line {number}: unknown commit in `#@ {' '.join(words)}`")
            result &= key in named
            i = len(words)
        else:
            raise ValueError(f"line {number}: bad directive `#@ {' '.join(words)}`")
    return result


def _write_tree(work: Path, key: str, ollama_server: Path | None) -> None:
    for src in sorted(TEMPLATE.rglob("*")):
        rel = src.relative_to(TEMPLATE).as_posix()
        if src.is_dir() or "__pycache__" in rel or rel.endswith(".pyc") or rel.endswith("/nv_tegra_release"):
            continue
        if rel == OLLAMA and ollama_server is not None:
            data = Path(ollama_server).read_bytes()
        else:
            data = render(src.read_text(), key).encode()
        name = rel
        if rel in RENAMED and holds(RENAMED[rel][0].split(), key):
            name = RENAMED[rel][1]
        out = work / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        out.chmod(0o755 if rel in EXECUTABLES else 0o644)


def _git(cwd: Path, *args: str, dates: tuple[str, str] | None = None) -> str:
    """git with no user or system config (no hooks, signing or templates), fixed identity and dates."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
           "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1]}
    if dates:
        env["GIT_AUTHOR_DATE"], env["GIT_COMMITTER_DATE"] = dates
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(key, None)
    git = shutil.which("git") or "git"
    result = subprocess.run([git, "-c", "core.fileMode=true", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false",
                             *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()
