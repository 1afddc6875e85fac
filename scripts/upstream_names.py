#!/usr/bin/env python3
"""Record the image names dusty-nv/jetson-containers' own code gives `build ollama[:VERSION]` on
mocked boards, at a list of upstream commits, into tests/unit/data/jetson_containers_names.yaml.

    sudo .venv/bin/python scripts/upstream_names.py --mirror PATH/TO/jetson-containers.git \\
        [--commits 2262004f,...,HEAD] [--boards 36.4.7-nocuda,...] [--out FILE] [--venv /tmp/jc-names-venv]

A maintainer tool, not run in CI (it needs root, a jetson-containers git dir, and a few minutes).
For each commit it extracts the tree into a temp dir (blobs absent from a partial mirror are skipped
and listed), and for each board it runs, as root in a private mount namespace without a network
(unshare -m -n):
  - overlays on /etc and /usr/local (writes stay in the temp dir) holding the board's
    /etc/nv_tegra_release and /usr/local/cuda (version.json and/or targets/aarch64-linux/lib/
    libcudart.so.X.Y.Z, or none), and a PATH dir with the board's `nvidia-smi` (none on JetPack 5),
    `lsb_release` and `uname`; os.uname() reports aarch64 and the board's kernel (a sitecustomize
    on PYTHONPATH), as the real modules call platform.machine();
  - files/jc-names.py on the checkout (the board-side probe), then checks it left no __pycache__
    and no packages/llm/ollama/nv_tegra_release behind;
  - THAT commit's own code, imported for real (jetson_containers/__init__.py included): its
    module-level L4T_VERSION, CUDA_VERSION, LSB_RELEASE and CUDA_ARCH, and the names
    jetson_containers.container.build_container('', REQUEST, simulate=True, skip_tests=['all'])
    returns for REQUEST in `ollama` and every `ollama:VERSION` the scan offers (the full package scan
    and dependency resolution of the real build; tag_container is wrapped only to see the last
    stage's tag; simulate=True runs no docker; time.sleep() is a no-op during the scan, as some
    configs retry PyPI/GitHub with backoffs and there is no network).
The upstream code's imports (packaging, pyyaml, wget, requests, tabulate, termcolor, DockerHub-API)
go into a throwaway venv (--venv), never into the project's .venv. DockerHub-API is not on PyPI
under that name: --dockerhub-api gives a pip spec for it (default: the git URL in upstream's
requirements.txt); if it cannot be installed, an empty `dockerhub_api` module stands in (container.py
only imports it; naming never calls it). --probe-python adds interpreters (e.g. a Python 3.8 venv
with only packaging + pyyaml) that the probe is also run with, compared with the first.

Writes one case per (commit, board), id `<short sha>-<board id>`, and `packages:` (per commit, the
ollama versions config.py offers and the default, from the scan on the first board that had them).
"""
import argparse
import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PROBE = os.path.join(ROOT, "jetson_ollama", "files", "jc-names.py")
OUT = os.path.join(ROOT, "tests", "unit", "data", "jetson_containers_names.yaml")
UPSTREAM = "dusty-nv/jetson-containers"
PKG_DIR = os.path.join("packages", "llm", "ollama")

# the commits around each change of the postfix rule (see the YAML header), the pin, and HEAD
COMMITS = ["2262004f", "119c26f2", "55b14897", "0e0d1331", "947e2267", "6a4d679e", "c6bf3b62",
           "16f7cf41", "3aef85cf", "HEAD"]
PIN = "16f7cf4145d9f943230b4c92bc2183853a2aeb30"

ORIN = "Orin (nvgpu)"  # what JetPack 6's nvidia-smi prints for the Orin iGPU
THOR = "NVIDIA Thor"
# id: l4t, cuda_json (version.json's cuda_nvcc version or None), cudart (libcudart.so.X.Y.Z or None),
#     gpu_name (None: no nvidia-smi, as on JetPack 5), ubuntu, kernel
BOARDS = [
    ("36.2.0-cu122", "36.2.0", "12.2.140", None, ORIN, "22.04", "5.15.122-tegra"),
    ("36.3.0-cu122", "36.3.0", "12.2.140", None, ORIN, "22.04", "5.15.136-tegra"),
    ("36.3.0-nocuda", "36.3.0", None, None, ORIN, "22.04", "5.15.136-tegra"),
    ("36.4.3-cu126", "36.4.3", "12.6.68", None, ORIN, "22.04", "5.15.148-tegra"),
    ("36.4.4-cu126", "36.4.4", "12.6.68", None, ORIN, "22.04", "5.15.148-tegra"),
    ("36.4.7-cu126", "36.4.7", "12.6.68", None, ORIN, "22.04", "5.15.148-tegra"),
    ("36.4.7-nocuda", "36.4.7", None, None, ORIN, "22.04", "5.15.148-tegra"),
    ("36.4.7-cudart126", "36.4.7", None, "12.6.68", ORIN, "22.04", "5.15.148-tegra"),
    ("36.5.0-nocuda", "36.5.0", None, None, ORIN, "22.04", "5.15.185-tegra"),
    ("35.4.1-cu114", "35.4.1", "11.4.315", None, None, "20.04", "5.10.120-tegra"),
    ("35.4.1-nocuda", "35.4.1", None, None, None, "20.04", "5.10.120-tegra"),
    ("35.6.0-xavier-cu114", "35.6.0", "11.4.315", None, None, "20.04", "5.10.216-tegra"),
    ("38.2.0-thor", "38.2.0", "13.0.48", None, THOR, "24.04", "6.8.12-tegra"),
    ("38.4.0-thor", "38.4.0", "13.0.48", None, THOR, "24.04", "6.8.12-tegra"),
]
BOARD_KEYS = ("l4t", "cuda_json", "cudart", "gpu_name", "ubuntu", "kernel")
VENV_PACKAGES = ["packaging", "pyyaml", "wget", "requests", "tabulate", "termcolor"]
DOCKERHUB_API = "git+https://github.com/Granulate/DockerHub-API.git"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

SITECUSTOMIZE = '''\
import os
_machine = os.environ.get("JC_MOCK_MACHINE")
if _machine:
    _kernel = os.environ.get("JC_MOCK_KERNEL")
    _real_uname = os.uname
    def _board_uname():
        u = _real_uname()
        return os.uname_result((u.sysname, "jetson", _kernel or u.release, u.version, _machine))
    os.uname = _board_uname
'''

NAMESPACE_SETUP = r'''
set -e
mount --make-rprivate /
mount -t overlay overlay -o lowerdir=/etc,upperdir="$B/etc.u",workdir="$B/etc.w" /etc
mount -t overlay overlay -o lowerdir=/usr/local,upperdir="$B/local.u",workdir="$B/local.w" /usr/local
rm -rf /etc/nv_tegra_release /usr/local/cuda
if [ -f "$B/nv_tegra_release" ]; then cp "$B/nv_tegra_release" /etc/nv_tegra_release; fi
if [ -d "$B/cuda" ]; then cp -a "$B/cuda" /usr/local/cuda; fi
exec env -i PATH="$B/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME=/root LANG=C.UTF-8 TERM=dumb \
    PYTHONPATH="$B/site" JC_MOCK_MACHINE=aarch64 JC_MOCK_KERNEL="$KERNEL" "$@"
'''


def git(mirror, *args, **kw):
    return subprocess.run(["git", "--git-dir", mirror] + list(args), check=True,
                          stdout=subprocess.PIPE, **kw).stdout


def resolve_commit(mirror, ref):
    out = git(mirror, "log", "-1", "--format=%H%x00%cI", ref).decode().strip()
    sha, when = out.split("\0")
    return sha, when


def extract(mirror, sha, dest):
    """git archive fails on a partial mirror; write every blob the mirror has, list the others."""
    listing = git(mirror, "ls-tree", "-r", "-z", sha).split(b"\0")
    entries = []
    for line in listing:
        if not line:
            continue
        meta, path = line.split(b"\t", 1)
        mode, kind, obj = meta.split()
        if kind == b"blob":
            entries.append((mode.decode(), obj.decode(), path.decode()))
    proc = subprocess.Popen(["git", "--git-dir", mirror, "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if proc.stdin is None or proc.stdout is None:  # both are pipes
        raise RuntimeError("git cat-file started without its pipes")
    stdin, stdout = proc.stdin, proc.stdout

    def feed():  # in a thread: cat-file's stdout would fill while we still write its stdin
        stdin.write("".join(obj + "\n" for _, obj, _ in entries).encode())
        stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    missing = []
    for mode, _, path in entries:
        header = stdout.readline().decode().split()
        if len(header) < 3 or header[1] == "missing":
            missing.append(path)
            continue
        data = stdout.read(int(header[2]))
        stdout.read(1)
        target = os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if mode == "120000":
            os.symlink(data.decode(), target)
        else:
            with open(target, "wb") as f:
                f.write(data)
            os.chmod(target, 0o755 if mode == "100755" else 0o644)
    writer.join()
    proc.wait()
    return missing


def make_venv(path, python, dockerhub_api, packages=VENV_PACKAGES, stub_dockerhub=True):
    py = os.path.join(path, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([python, "-m", "venv", path], check=True)
    modules = {"pyyaml": "yaml"}
    probe = "import " + ", ".join(modules.get(p, p) for p in packages)
    if subprocess.run([py, "-c", probe], check=False, stderr=subprocess.DEVNULL).returncode:
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + packages,
                       check=True)
    if not stub_dockerhub:
        return py
    if subprocess.run([py, "-c", "import dockerhub_api"], check=False, stderr=subprocess.DEVNULL).returncode:
        ok = dockerhub_api and subprocess.run(
            [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", dockerhub_api],
            check=False).returncode == 0
        if not ok:
            site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, stdout=subprocess.PIPE).stdout.decode().strip()
            with open(os.path.join(site, "dockerhub_api.py"), "w") as f:
                f.write("# stand-in: jetson-containers' container.py imports it, naming never calls it\n")
            print("-- dockerhub_api could not be installed, an empty module stands in", file=sys.stderr)
    return py


def tegra_release(l4t):
    major, minor, micro = l4t.split(".")
    return (f"# R{major} (release), REVISION: {minor}.{micro}, GCID: 40000000, BOARD: generic, "
            f"EABI: aarch64, DATE: Mon Jun 16 10:00:00 UTC 2025\n"
            "# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
            "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n")


def make_board(root, board):
    bid, l4t, cuda_json, cudart, gpu, ubuntu, kernel = board
    b = os.path.join(root, bid)
    for d in ("etc.u", "etc.w", "local.u", "local.w", "bin", "site"):
        os.makedirs(os.path.join(b, d), exist_ok=True)
    with open(os.path.join(b, "nv_tegra_release"), "w") as f:
        f.write(tegra_release(l4t))
    if cuda_json or cudart:
        os.makedirs(os.path.join(b, "cuda"), exist_ok=True)
    if cuda_json:
        with open(os.path.join(b, "cuda", "version.json"), "w") as f:
            json.dump({"cuda": {"name": "CUDA SDK", "version": cuda_json},
                       "cuda_nvcc": {"name": "CUDA NVCC", "version": cuda_json}}, f, indent=3)
    if cudart:
        lib = os.path.join(b, "cuda", "targets", "aarch64-linux", "lib")
        os.makedirs(lib, exist_ok=True)
        open(os.path.join(lib, f"libcudart.so.{cudart}"), "w").close()
        os.symlink(f"libcudart.so.{cudart}", os.path.join(lib, "libcudart.so." + cudart.split(".")[0]))
    codename = {"20.04": "focal", "22.04": "jammy", "24.04": "noble"}[ubuntu]
    scripts = {
        "lsb_release": f'''#!/bin/sh
case "$1" in
  -rs|-sr) echo {ubuntu};; -cs|-sc) echo {codename};; -is|-si) echo Ubuntu;;
  -ds|-sd) echo "Ubuntu {ubuntu} LTS";;
  *) printf 'Distributor ID:\\tUbuntu\\nDescription:\\tUbuntu {ubuntu} LTS\\n'
     printf 'Release:\\t{ubuntu}\\nCodename:\\t{codename}\\n';;
esac
''',
        "uname": f'''#!/bin/sh
[ $# -eq 0 ] && {{ echo Linux; exit 0; }}
out=""
for a in "$@"; do
  case "$a" in
    -a|--all) echo "Linux jetson {kernel} #1 SMP PREEMPT Mon Jun 16 10:00:00 PDT 2025" \\
      "aarch64 aarch64 aarch64 GNU/Linux"; exit 0;;
    -r) out="$out {kernel}";; -m|-p|-i) out="$out aarch64";; -s) out="$out Linux";; -n) out="$out jetson";;
    -v) out="$out #1 SMP PREEMPT Mon Jun 16 10:00:00 PDT 2025";; -o) out="$out GNU/Linux";;
  esac
done
echo ${{out# }}
''',
    }
    if gpu:
        scripts["nvidia-smi"] = f'''#!/bin/sh
case "$*" in
  *--query-gpu=name*) echo "{gpu}";;
  *) echo "NVIDIA-SMI 540.4.0  Driver Version: 540.4.0  CUDA Version: 12.6"; echo "GPU 0: {gpu}";;
esac
'''
    for name, text in scripts.items():
        path = os.path.join(b, "bin", name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
    with open(os.path.join(b, "site", "sitecustomize.py"), "w") as f:
        f.write(SITECUSTOMIZE)
    return b


def clean_tree(tree):
    """What a previous run (the real build's logs, bytecode, the ollama config's copy) left."""
    shutil.rmtree(os.path.join(tree, "logs"), ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(tree, PKG_DIR, "nv_tegra_release"))
    for dirpath, dirnames, _ in os.walk(tree):
        if "__pycache__" in dirnames:
            shutil.rmtree(os.path.join(dirpath, "__pycache__"))
            dirnames.remove("__pycache__")


def leftovers(tree):
    left = []
    for dirpath, dirnames, _ in os.walk(tree):
        if "__pycache__" in dirnames:
            left.append(os.path.relpath(os.path.join(dirpath, "__pycache__"), tree))
    if os.path.lexists(os.path.join(tree, PKG_DIR, "nv_tegra_release")):
        left.append(os.path.join(PKG_DIR, "nv_tegra_release"))
    return left


# ---- inside the mocked board (run by the throwaway venv's python) ------------------------------

def board_main(tree, result_path, probe, probe_pythons):
    result: dict[str, Any] = {"probe": None, "probe_left": [], "probe_others": {}}
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-B", probe, tree], capture_output=True, env=env, check=False)
    result["probe_rc"] = proc.returncode
    try:
        result["probe"] = json.loads(proc.stdout.decode())
    except ValueError:
        result["probe"] = {"unparsable_stdout": proc.stdout.decode()[-2000:]}
    result["probe_stderr"] = proc.stderr.decode()[-4000:]
    result["probe_left"] = leftovers(tree)
    for label, python in probe_pythons:
        clean_tree(tree)
        other = subprocess.run([python, "-B", probe, tree], capture_output=True, env=env, check=False)
        try:
            out = json.loads(other.stdout.decode())
        except ValueError:
            out = {"unparsable_stdout": other.stdout.decode()[-2000:]}
        result["probe_others"][label] = {"rc": other.returncode, "out": out, "left": leftovers(tree)}
    clean_tree(tree)

    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    log = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 -- open across the dup2 dance
    saved = os.dup(1), os.dup(2)
    # stdout is a terminal, as where `jetson-containers build` is run: build_container() @119c26f2
    # and @55b14897 call os.get_terminal_size() without a fallback. Its output goes to the log.
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))

    def drain():
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            log.write(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    os.dup2(slave, 1)
    os.dup2(log.fileno(), 2)
    os.close(slave)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            result.update(real_names(tree, printed))
    except BaseException as err:  # noqa: BLE001 -- the upstream code failing is a result too
        result["real_error"] = f"{type(err).__name__}: {' '.join(str(err).split())}"
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        reader.join(timeout=5)
        os.close(master)
    log.seek(0)
    result["real_output"] = (printed.getvalue() + log.read().decode(errors="replace"))[-6000:]
    with open(result_path, "w") as f:
        json.dump(result, f)


def real_names(tree, printed):
    sys.path.insert(0, tree)
    os.chdir(tree)
    import importlib
    importlib.import_module("jetson_containers")  # the real __init__.py
    l4t = importlib.import_module("jetson_containers.l4t_version")
    container = importlib.import_module("jetson_containers.container")
    packages = importlib.import_module("jetson_containers.packages")
    import_warnings = [line.strip() for line in ANSI.sub("", printed.getvalue()).splitlines()
                       if "warn" in line.lower()]
    arch = next((str(getattr(l4t, a)) for a in ("CUDA_ARCH", "SYSTEM_ARCH_TYPE", "SYSTEM_ARCH")
                 if hasattr(l4t, a)), None)
    out: dict[str, Any] = {
        "computed": {"l4t": str(l4t.L4T_VERSION), "cuda": str(l4t.CUDA_VERSION),
                     "lsb": str(l4t.LSB_RELEASE), "arch": arch},
        "warnings": import_warnings,
        "images": {}, "stages": {}, "errors": {},
    }
    # the real build's full scan (find_package() does the same). Without a network, configs such
    # as packages/llm/transformers/config.py retry PyPI with time.sleep() backoffs (a minute per
    # board): sleeping is skipped during the scan; it changes no name
    import time
    real_sleep, time.sleep = time.sleep, lambda seconds: None
    try:
        found = packages.scan_packages()
    finally:
        time.sleep = real_sleep
    names = [p["name"] for p in found.values() if str(p.get("name", "")).split(":")[0] == "ollama"]
    out["versions"] = [n.split(":", 1)[1] for n in names if ":" in n]
    default = packages.find_package("ollama", required=False)
    out["default"] = (default["name"].split(":", 1)[1] if default and ":" in default["name"] else None)
    postfixes = {p.get("postfix", "") for p in found.values() if str(p.get("name", "")).split(":")[0] == "ollama"}
    out["postfix"] = postfixes.pop() if len(postfixes) == 1 else sorted(postfixes)

    tags = []
    real_tag = container.tag_container

    def recording_tag(source, target, *a, **k):
        tags.append((source, target))
        return real_tag(source, target, *a, **k)

    vars(container)["tag_container"] = recording_tag  # build_container() calls it as a module global
    for request in ["ollama"] + ["ollama:" + v for v in out["versions"]]:
        del tags[:]
        try:
            name = container.build_container("", request, simulate=True, skip_tests=["all"])
        except Exception as err:  # noqa: BLE001
            out["errors"][request] = f"{type(err).__name__}: {' '.join(str(err).split())}"
            continue
        out["images"][request] = name
        out["stages"][request] = tags[-1][0] if tags and tags[-1][1] == name else None
    return out


# ---- the controller ------------------------------------------------------------------------------

def run_board(tree, board_dir, kernel, py, probe, probe_pythons, workdir):
    result_path = os.path.join(workdir, "result.json")
    with contextlib.suppress(FileNotFoundError):
        os.remove(result_path)
    shutil.rmtree(os.path.join(board_dir, "etc.u"))
    shutil.rmtree(os.path.join(board_dir, "local.u"))
    os.makedirs(os.path.join(board_dir, "etc.u"))
    os.makedirs(os.path.join(board_dir, "local.u"))
    args = [py, os.path.abspath(__file__), "--in-board", tree, result_path, probe]
    for label, python in probe_pythons:
        args += ["--probe-python", f"{label}={python}"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "B": board_dir, "KERNEL": kernel}
    proc = subprocess.run(["unshare", "-m", "-n", "sh", "-c", NAMESPACE_SETUP, "sh"] + args,
                          env=env, capture_output=True, timeout=900, check=False)
    if not os.path.exists(result_path):
        raise RuntimeError(f"board run failed ({proc.returncode}): {proc.stderr.decode()[-3000:]}")
    with open(result_path) as f:
        return json.load(f)


def probe_view(probe):
    """The probe's answer as the case records it."""
    if not isinstance(probe, dict) or "error" in probe or "unparsable_stdout" in probe:
        return probe
    return {k: probe.get(k) for k in
            ("l4t", "cuda", "lsb", "arch", "versions", "default", "images", "stages", "warnings")}


def compare(case, probe):
    """Where the probe's answer differs from the real build's naming (empty: the same)."""
    if not isinstance(probe, dict) or "error" in probe or "unparsable_stdout" in probe:
        return ["probe failed: " + json.dumps(probe)]
    diffs: list[str] = []
    if "computed" not in case:
        return diffs
    for key in ("l4t", "cuda", "lsb", "arch"):
        if probe.get(key) != case["computed"][key]:
            diffs.append(f"{key}: probe {probe.get(key)!r}, real {case['computed'][key]!r}")
    for key in ("warnings",):
        if probe.get(key) != case[key]:
            diffs.append(f"{key}: probe {probe.get(key)!r}, real {case[key]!r}")
    for key in ("images", "stages"):
        for request, name in case[key].items():
            if probe.get(key, {}).get(request) != name:
                diffs.append(f"{key}[{request}]: probe {probe.get(key, {}).get(request)!r}, real {name!r}")
    failed = case.get("build_errors", {})
    for request in sorted(set(probe.get("images", {})) - set(case["images"]) - set(failed)):
        diffs.append(f"images[{request}]: probe {probe['images'][request]!r}, the real scan does not offer it")
    return diffs


def write_yaml(path, header, doc):
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def none_rep(dumper, _):
        return dumper.represent_scalar("tag:yaml.org,2002:null", "null")

    Dumper.add_representer(type(None), none_rep)
    text = yaml.dump(doc, Dumper=Dumper, sort_keys=False, width=200, allow_unicode=True)
    with open(path, "w") as f:
        f.write(header + text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirror", help="a jetson-containers git dir (bare mirror or .git)")
    ap.add_argument("--commits", default=",".join(COMMITS))
    ap.add_argument("--boards", default="", help="comma-separated board ids (default: all)")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--venv", default="/tmp/jc-names-venv", help="throwaway venv for upstream's imports")
    ap.add_argument("--python", default="python3", help="interpreter the throwaway venv is made with")
    ap.add_argument("--dockerhub-api", default=DOCKERHUB_API, help="pip spec for DockerHub-API")
    ap.add_argument("--probe", default=PROBE)
    ap.add_argument("--probe-python", action="append", default=[],
                    help="LABEL=PYTHON: also run the probe with this interpreter and compare")
    ap.add_argument("--in-board", nargs=3, metavar=("TREE", "RESULT", "PROBE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    probe_pythons = [tuple(x.split("=", 1)) for x in args.probe_python]

    if args.in_board:
        tree, result_path, probe = args.in_board
        board_main(tree, result_path, probe, probe_pythons)
        return 0
    if not args.mirror:
        ap.error("--mirror is required")
    if os.geteuid() != 0:
        ap.error("needs root (unshare -m and overlay mounts)")
    mirror = os.path.abspath(args.mirror)
    boards = [b for b in BOARDS if not args.boards or b[0] in args.boards.split(",")]
    py = make_venv(args.venv, args.python, args.dockerhub_api)

    commits: list[tuple[str, str, str]] = []  # (sha, committed, the ref asked for)
    for ref in args.commits.split(","):
        sha, when = resolve_commit(mirror, ref)
        if sha not in [c[0] for c in commits]:
            commits.append((sha, when, ref))

    cases, packages, mismatches, notes = [], {}, [], []
    with tempfile.TemporaryDirectory(prefix="jc-names-") as work:
        board_dirs = {b[0]: make_board(os.path.join(work, "boards"), b) for b in boards}
        for sha, when, _ in commits:
            short = sha[:8]
            tree = os.path.join(work, "tree-" + short)
            missing = extract(mirror, sha, tree)
            if missing:
                notes.append(f"{short}: {len(missing)} blob(s) absent from the mirror, skipped: "
                             + ", ".join(missing[:5]))
            for board in boards:
                bid = board[0]
                clean_tree(tree)
                res = run_board(tree, board_dirs[bid], board[6], py, os.path.abspath(args.probe),
                                probe_pythons, work)
                case: dict[str, Any] = {"id": f"{short}-{bid}", "commit": sha, "committed": when,
                                        "board": dict(zip(BOARD_KEYS, board[1:], strict=True))}
                if "real_error" in res:
                    case["real_error"] = res["real_error"]
                    case["real_output_tail"] = res.get("real_output", "")[-1500:]
                else:
                    case["computed"] = res["computed"]
                    case["warnings"] = res["warnings"]
                    case["postfix"] = res["postfix"]
                    case["images"] = res["images"]
                    case["stages"] = res["stages"]
                    if res["errors"]:
                        case["build_errors"] = res["errors"]
                    if res["versions"] and sha not in packages:
                        packages[sha] = {"short": short, "versions": res["versions"],
                                         "default": res["default"]}
                case["probe"] = probe_view(res["probe"])
                diffs = compare(case, res["probe"])
                if res["probe_left"]:
                    diffs.append("probe left in the checkout: " + ", ".join(res["probe_left"]))
                if res.get("probe_rc"):
                    diffs.append(f"probe exit code {res['probe_rc']}")
                if res["probe_others"]:
                    case["probe_also"] = {
                        label: "same" if (other["out"] == res["probe"] and not other["rc"]
                                          and not other["left"]) else other
                        for label, other in res["probe_others"].items()}
                if diffs:
                    case["probe_differs"] = diffs
                    mismatches.append((case["id"], diffs))
                cases.append(case)
                print(f"{case['id']}: {case.get('images', {}).get('ollama') or case.get('real_error')}"
                      f"{'  PROBE DIFFERS' if diffs else ''}", file=sys.stderr, flush=True)
            shutil.rmtree(tree, ignore_errors=True)

    header = "\n".join([
        f"# Generated by scripts/upstream_names.py from {UPSTREAM}; do not edit by hand.",
        "# Each case is the image name `jetson-containers build ollama[:VERSION]` gives",
        "# (jetson_containers/container.py build_container, simulate=True) on a mocked board, computed by",
        "# that commit's own l4t_version.py / packages.py, and `probe` is files/jc-names.py's answer there.",
        "# board.cuda_json: /usr/local/cuda/version.json's version (null: none); board.cudart: only",
        "# libcudart.so.<version> under /usr/local/cuda/targets/aarch64-linux/lib; board.gpu_name: what",
        "# nvidia-smi --query-gpu=name prints (null: no nvidia-smi, JetPack 5). computed: the module-level",
        "# L4T_VERSION, CUDA_VERSION, LSB_RELEASE, CUDA_ARCH (SYSTEM_ARCH_TYPE / SYSTEM_ARCH before it);",
        "# postfix: what scan_packages() gave the ollama packages; warnings: the lines printed while",
        "# importing jetson_containers that contain 'warn'. images/stages: keyed by the build argument;",
        "# a request the real build could not name (its dependency resolution failed on that board) is",
        "# in build_errors instead. probe_also: the probe under other interpreters ('same' or its output).",
        "# Commits:",
    ] + [f"#   {sha} {when}{'  (pin)' if sha == PIN else ''}{'  (mirror HEAD)' if ref == 'HEAD' else ''}"
         for sha, when, ref in commits] + [f"# Note: {n}" for n in notes] + [""])
    doc = {
        "upstream": UPSTREAM,
        "pin": PIN,
        "commits": [{"commit": sha, "short": sha[:8], "committed": when,
                     **({"ref": ref} if ref == "HEAD" else {})} for sha, when, ref in commits],
        "packages": packages,
        "cases": cases,
    }
    write_yaml(args.out, header, doc)
    print(f"wrote {len(cases)} cases to {args.out}; probe differs in {len(mismatches)}", file=sys.stderr)
    for cid, diffs in mismatches:
        print(f"  {cid}: " + "; ".join(diffs), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
