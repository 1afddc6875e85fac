#!/usr/bin/env python3
"""Ask a jetson-containers checkout on this board for the names its own code gives the Ollama images.

    python3 -B jc-names.py CHECKOUT_DIR

`jetson-containers build ollama[:VERSION]` tags its image `ollama:[VERSION-]<postfix>`, and each build
stage `<image>-<package with ':' -> '_'>`. The postfix comes from the checkout's own l4t_version.py
(L4T, CUDA, Ubuntu and arch read from this board) and packages.py, and the rule changed several times
upstream. So this probe does not re-derive it: it imports the checkout's `jetson_containers.l4t_version`
and `jetson_containers.packages`, scans the one package dir `packages/llm/ollama` with the checkout's
own scan_packages(), and applies container.py's naming rule to what that scan returns. It builds
nothing, uses no network, installs nothing.

stdout is exactly one JSON object (whatever the checkout's code prints goes to stderr):
  {"l4t": "36.4.7", "cuda": "12.6", "lsb": "22.04", "arch": "tegra-aarch64",
   "versions": ["0.4.0", ..., "0.11.8"], "default": "0.11.8",
   "images": {"ollama": "ollama:r36.4.tegra-aarch64-cu126-22.04",
              "ollama:0.11.8": "ollama:0.11.8-r36.4.tegra-aarch64-cu126-22.04", ...},
   "stages": {"ollama": "ollama:r36.4.tegra-aarch64-cu126-22.04-ollama",
              "ollama:0.11.8": "ollama:0.11.8-r36.4.tegra-aarch64-cu126-22.04-ollama_0.11.8", ...},
   "warnings": ["### [Warn] Unknown L4T_VERSION: 36.4.7"]}
  l4t/cuda/lsb/arch: the checkout's module-level L4T_VERSION, CUDA_VERSION, LSB_RELEASE and CUDA_ARCH
  (SYSTEM_ARCH_TYPE in checkouts from before CUDA_ARCH, else SYSTEM_ARCH). versions: the ollama
  package versions the scan kept on this board, in config.py's order; default: the version
  `build ollama` picks (the package aliased `ollama`), null if none; images/stages: keyed by the
  build argument, "ollama" only when there is a default. warnings: the lines the checkout's code
  printed that contain "warn" (any case), colour codes removed.
On any failure: {"error": "<one line>"} and exit 0. The environment is honoured as the real build
honours it (CUDA_VERSION, LSB_RELEASE, L4T_VERSION, CUDA_ARCH, PYTHON_VERSION change the names there
too).

How the checkout is imported (it must not change the board):
  - jetson_containers/__init__.py is NOT run: it calls utils.check_dependencies(), which pip-installs
    the requirements when one is missing. A bare package module with __path__ = [CHECKOUT/
    jetson_containers] stands in for it, and gets the public names of l4t_version (and of the
    modules packages.py imported) before the scan, as __init__.py's `from .l4t_version import *`
    would, since the ollama config.py does `from jetson_containers import JETPACK_VERSION, ...`.
  - No bytecode is written (sys.dont_write_bytecode, and run with -B), so no __pycache__ is left in
    the checkout.
  - The ollama config.py writes packages/llm/ollama/nv_tegra_release (a copy of /etc/nv_tegra_release
    for the Docker build); when that file was not there before the probe, the probe removes it again.
  - packages.py imports requests (utils.py) and tabulate/termcolor (logging.py) at module level but
    never uses them for naming; a board without them gets inert stand-ins (named on stderr).
    packaging and PyYAML are used for real and must be installed (an error names the missing one).
Stdlib only, Python 3.8+.
"""
import contextlib
import fnmatch
import importlib
import importlib.abc  # see IMPORTLIB_ABC
import importlib.machinery
import importlib.util
import inspect
import io
import json
import os
import re
import sys
import types

sys.dont_write_bytecode = True  # set before any module of the checkout is imported

# importlib.abc is imported above because packages.py names importlib.abc.MetaPathFinder after
# importing only importlib.machinery/util (dusty-nv/jetson-containers jetson_containers/packages.py
# @dd206bfe); in the real build requests (utils.py) has imported it by then
IMPORTLIB_ABC = importlib.abc
PACKAGE = "ollama"
PACKAGE_DIR = os.path.join("packages", "llm", "ollama")
# written by the ollama config.py: dusty-nv/jetson-containers packages/llm/ollama/config.py @16f7cf41
# (nv_tegra_release(dst=...)), @2262004f (shutil.copyfile('/etc/nv_tegra_release', ...))
TEGRA_RELEASE_COPY = "nv_tegra_release"
# imported at module level by packages.py's imports, never used to name a package:
# dusty-nv/jetson-containers jetson_containers/utils.py @16f7cf41 (import requests),
# jetson_containers/logging.py @16f7cf41 (import tabulate, import termcolor)
INERT_MODULES = ("requests", "tabulate", "termcolor")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class ProbeError(Exception):
    pass


class _Tee(io.TextIOBase):
    """Keeps what the checkout's code prints and passes it on to stderr."""

    def __init__(self, keep, through):
        self.keep, self.through = keep, through

    def writable(self):
        return True

    def write(self, text):
        self.keep.write(text)
        self.through.write(text)
        return len(text)

    def flush(self):
        self.through.flush()


def _inert_module(name):
    mod = types.ModuleType(name)
    stub = mod.__dict__  # the stand-in's attributes, set by name
    stub["__jc_names_stub__"] = True
    if name == "termcolor":
        stub["colored"] = lambda text, *a, **k: str(text)
        stub["cprint"] = lambda text, *a, **k: print(str(text))
    elif name == "tabulate":
        stub["tabulate"] = lambda rows, *a, **k: "\n".join(" ".join(str(c) for c in r) for r in rows)
    else:
        def __getattr__(attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            raise RuntimeError(f"{name} is not installed (jc-names.py stand-in)")
        stub["__getattr__"] = __getattr__
    return mod


def _public_names(mod):
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in vars(mod) if not n.startswith("_")]
    return {n: getattr(mod, n) for n in names if hasattr(mod, n)}


def _image_name(request, pkg):
    """container.py's rule: dusty-nv/jetson-containers jetson_containers/container.py @16f7cf41
    build_container(): with no --name the image name is the package asked for, the prefix goes
    after ':' (or becomes the tag), the postfix is appended after ':' when the name has no tag yet,
    else after '-'; each stage is tagged f"{name}-{package.replace(':','_')}" (same code @2262004f)."""
    name = request  # container.py @16f7cf41: `if len(name) == 0: name = packages[-1]`
    prefix = pkg.get("prefix", "")  # container.py @16f7cf41: last_pkg.get('prefix', '')
    postfix = pkg.get("postfix", "")  # container.py @16f7cf41: last_pkg.get('postfix', '')
    tag_idx = name.find(":")  # container.py @16f7cf41: taken before the prefix is added
    if prefix:
        if tag_idx >= 0:
            name = name[:tag_idx + 1] + prefix + "-" + name[tag_idx + 1:]
        else:
            name = name + ":" + prefix
    if postfix:  # container.py @16f7cf41: name += f"{':' if tag_idx < 0 else '-'}{postfix}"
        name += (":" if tag_idx < 0 else "-") + postfix
    # container.py @16f7cf41: container_name = f"{name}-{package.replace(':','_')}"
    return name, name + "-" + request.replace(":", "_")


def _find_package(found, request):
    """find_package(): dusty-nv/jetson-containers jetson_containers/packages.py @16f7cf41 (first
    package, in scan order, whose key, name or an alias matches by fnmatch)."""
    for key, pkg in found.items():
        alias = pkg.get("alias", [])
        if isinstance(alias, str):
            alias = [alias]
        if fnmatch.filter([key, pkg["name"]] + list(alias), request):
            return pkg
    return None


def probe(checkout):
    jc_dir = os.path.join(checkout, "jetson_containers")
    pkg_dir = os.path.join(checkout, PACKAGE_DIR)
    for need in (os.path.join(jc_dir, "l4t_version.py"), os.path.join(jc_dir, "packages.py"), pkg_dir):
        if not os.path.exists(need):
            raise ProbeError(f"not a jetson-containers checkout: {need} is missing")
    for name in ("jetson_containers", "packages"):
        if name in sys.modules:
            raise ProbeError(f"module {name} is already imported")

    for name in INERT_MODULES:
        if importlib.util.find_spec(name) is None:
            sys.modules[name] = _inert_module(name)
            if sys.__stderr__ is not None:  # the real stderr, past the probe's tee
                sys.__stderr__.write(f"jc-names: {name} is not installed, using an inert stand-in\n")

    # __init__.py is not run (dusty-nv/jetson-containers jetson_containers/__init__.py @16f7cf41:
    # utils.check_dependencies() pip-installs requirements.txt when an import fails)
    spec = importlib.machinery.ModuleSpec("jetson_containers", None, is_package=True)
    spec.submodule_search_locations = [jc_dir]
    jc = importlib.util.module_from_spec(spec)
    jc.__path__ = [jc_dir]
    sys.modules["jetson_containers"] = jc
    if checkout not in sys.path:
        sys.path.append(checkout)  # as when run from the checkout (`import packages.*` in configs)

    try:
        l4t = importlib.import_module("jetson_containers.l4t_version")
        packages = importlib.import_module("jetson_containers.packages")
    except ImportError as err:
        if err.name in ("yaml", "packaging"):
            needed = "PyYAML" if err.name == "yaml" else "packaging"
            raise ProbeError(f"the checkout's code needs {needed}: {err}") from err
        raise

    # what __init__.py exports (dusty-nv/jetson-containers jetson_containers/__init__.py @16f7cf41:
    # `from .logging import *`, `from .packages import *`, ..., `from .l4t_version import *` last)
    for modname in ("jetson_containers.logging", "jetson_containers.packages", "jetson_containers.l4t_version"):
        mod = sys.modules.get(modname)
        if mod is not None:
            for key, value in _public_names(mod).items():
                setattr(jc, key, value)

    # scan only the ollama dir: a str path is scanned alone, without resolve_dependencies(), which
    # only the list form runs, so its absent dependencies do not drop it; preload=False skips the
    # ROS preload that a first scan does otherwise (dusty-nv/jetson-containers
    # jetson_containers/packages.py @16f7cf41 scan_packages(): `if len(_PACKAGES) == 0 and 'preload'
    # not in kwargs`; @2262004f has no **kwargs and no preload)
    kwargs = {}
    params = inspect.signature(packages.scan_packages).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        kwargs["preload"] = False
    copy_path = os.path.join(pkg_dir, TEGRA_RELEASE_COPY)
    copy_existed = os.path.lexists(copy_path)
    try:
        scanned = packages.scan_packages(pkg_dir, **kwargs)
    finally:
        if not copy_existed and os.path.lexists(copy_path):
            os.remove(copy_path)
    found = dict(getattr(packages, "_PACKAGES", None) or scanned or {})
    found = {k: p for k, p in found.items()
             if isinstance(p, dict) and str(p.get("name", "")).split(":")[0] == PACKAGE}

    # the packages config.py returned and validate_package() kept (disabled ones are dropped there:
    # dusty-nv/jetson-containers jetson_containers/packages.py @16f7cf41), in config.py's order
    versions = [p["name"].split(":", 1)[1] for p in found.values() if ":" in p["name"]]
    images, stages = {}, {}
    # `build ollama` builds find_package('ollama'): the one aliased 'ollama' (dusty-nv/jetson-containers
    # packages/llm/ollama/config.py @16f7cf41: `if default: pkg['alias'] = 'ollama'`)
    default_pkg = _find_package(found, PACKAGE)
    default = None
    if default_pkg is not None:
        default = default_pkg["name"].split(":", 1)[1] if ":" in default_pkg["name"] else None
        images[PACKAGE], stages[PACKAGE] = _image_name(PACKAGE, default_pkg)
    for version in versions:
        request = f"{PACKAGE}:{version}"
        images[request], stages[request] = _image_name(request, _find_package(found, request))

    # the arch the postfix uses: dusty-nv/jetson-containers jetson_containers/l4t_version.py
    # @947e2267 CUDA_ARCH, @119c26f2 SYSTEM_ARCH_TYPE, @2262004f SYSTEM_ARCH only
    arch = None
    for attr in ("CUDA_ARCH", "SYSTEM_ARCH_TYPE", "SYSTEM_ARCH"):
        if hasattr(l4t, attr):
            arch = str(getattr(l4t, attr))
            break
    # module-level values the postfix is made of (dusty-nv/jetson-containers
    # jetson_containers/l4t_version.py @16f7cf41: LSB_RELEASE, L4T_VERSION, CUDA_VERSION)
    return {
        "l4t": str(l4t.L4T_VERSION),
        "cuda": str(l4t.CUDA_VERSION),
        "lsb": str(l4t.LSB_RELEASE),
        "arch": arch,
        "versions": versions,
        "default": default,
        "images": images,
        "stages": stages,
    }


def main(argv):
    saved_out = os.dup(1)
    result = None
    printed = io.StringIO()
    try:
        if len(argv) != 2:
            raise ProbeError("usage: jc-names.py CHECKOUT_DIR")
        checkout = os.path.abspath(argv[1])
        sys.stdout.flush()
        os.dup2(2, 1)  # child processes of the checkout's code print to stderr too
        tee_out, tee_err = _Tee(printed, sys.stderr), _Tee(printed, sys.stderr)
        with contextlib.redirect_stdout(tee_out), contextlib.redirect_stderr(tee_err):
            result = probe(checkout)
        result["warnings"] = [
            line.strip() for line in ANSI.sub("", printed.getvalue()).splitlines()
            if "warn" in line.lower()
        ]
    except BaseException as err:  # one JSON line whatever the checkout's code raised
        if isinstance(err, KeyboardInterrupt):
            raise
        text = " ".join(str(err).split()) or "no message"
        result = {"error": f"{type(err).__name__}: {text}"}
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.close(saved_out)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
