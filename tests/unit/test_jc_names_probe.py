"""files/jc-names.py, the board-side probe that asks a jetson-containers checkout for the names its own
code gives the Ollama images: run as the deploy runs it (python3 -B, one JSON object on stdout) on a
small fake checkout with the real code's shape (a jetson_containers package whose __init__.py must not
run, module-level values in l4t_version.py, scan_packages(path) in packages.py, and the ollama
config.py's `package = [ollama(...), ...]` list). The real upstream code, at many commits and on many
mocked boards, is checked by scripts/upstream_names.py (tests/unit/data/jetson_containers_names.yaml)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
PROBE = REPO / "jetson_ollama" / "files" / "jc-names.py"
DATA = REPO / "tests" / "unit" / "data" / "jetson_containers_names.yaml"

INIT = 'raise RuntimeError("jetson_containers/__init__.py must not run (it may pip-install)")\n'

L4T_VERSION = '''\
import os
import subprocess


class Version:
    def __init__(self, text):
        self.text = text
        parts = [int(x) for x in text.split(".")] + [0, 0]
        self.major, self.minor, self.micro = parts[:3]

    def __str__(self):
        return self.text


def nv_tegra_release(dst=None):
    text = "# R%d (release), REVISION: %d.%d\\n" % (L4T_VERSION.major, L4T_VERSION.minor, L4T_VERSION.micro)
    if dst:
        with open(dst, "w") as f:
            f.write(text)
    return text


print("-- l4t_version chatter on stdout")
subprocess.run(["echo", "-- a child process printing to fd 1"])
CUDA_ARCH = os.environ.get("FAKE_ARCH", "tegra-aarch64")
IS_SBSA = CUDA_ARCH == "aarch64"
LSB_RELEASE = os.environ.get("FAKE_LSB", "22.04")
L4T_VERSION = Version(os.environ.get("FAKE_L4T", "36.4.7"))
if os.environ.get("FAKE_WARN"):
    print("\\x1b[33m### [Warn] Unknown L4T_VERSION: %s\\x1b[0m" % L4T_VERSION)
JETPACK_VERSION = Version("6.2.1")
CUDA_VERSION = Version(os.environ.get("FAKE_CUDA", "12.6"))
'''

PACKAGES = '''\
import importlib.util
import os

from .l4t_version import L4T_VERSION, CUDA_VERSION, LSB_RELEASE, CUDA_ARCH

_PACKAGES = {}


def scan_packages(package_dirs, rescan=False, **kwargs):
    path = package_dirs.rstrip("*").rstrip("/")
    package = {
        "path": path, "name": os.path.basename(path), "requires": [">=34.1.0"],
        "depends": ["cuda", "a-package-this-checkout-does-not-have"],
        "postfix": "r%d.%d.%s-cu%d%d-%s" % (L4T_VERSION.major, L4T_VERSION.minor, CUDA_ARCH,
                                           CUDA_VERSION.major, CUDA_VERSION.minor, LSB_RELEASE),
    }
    if os.environ.get("FAKE_PREFIX"):
        package["prefix"] = os.environ["FAKE_PREFIX"]
    config = os.path.join(path, "config.py")
    spec = importlib.util.spec_from_file_location("packages.%s.config" % package["name"], config)
    module = importlib.util.module_from_spec(spec)
    module.package = package
    spec.loader.exec_module(module)
    for pkg in module.package:
        _PACKAGES[pkg["name"]] = pkg
    return _PACKAGES
'''

CONFIG = '''\
import os

from jetson_containers import JETPACK_VERSION, nv_tegra_release, IS_SBSA, CUDA_VERSION

nv_tegra_release(dst=os.path.join(os.path.dirname(__file__), "nv_tegra_release"))


def ollama(version, default=False):
    pkg = package.copy()
    pkg["name"] = "ollama:%s" % version
    pkg["build_args"] = {"OLLAMA_VERSION": version, "JETPACK_VERSION_MAJOR": JETPACK_VERSION.major,
                         "IS_SBSA": IS_SBSA, "CUDA_VERSION_MAJOR": CUDA_VERSION.major}
    if default:
        pkg["alias"] = "ollama"
    return pkg


package = [
    ollama("0.4.0"),
    ollama("0.5.1"),
    ollama("0.5.5"),
    ollama("0.11.8", default=DEFAULT),
]
'''


def make_checkout(root: Path, *, config: str | None = None, default: bool = True) -> Path:
    jc = root / "jetson_containers"
    pkg = root / "packages" / "llm" / "ollama"
    jc.mkdir(parents=True)
    pkg.mkdir(parents=True)
    (jc / "__init__.py").write_text(INIT)
    (jc / "l4t_version.py").write_text(L4T_VERSION)
    (jc / "packages.py").write_text(PACKAGES)
    (pkg / "config.py").write_text(config if config is not None else CONFIG.replace("DEFAULT", str(default)))
    (pkg / "Dockerfile").write_text("#---\n# name: ollama\n#---\nARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    return root


def run_probe(checkout, *, bytecode_flag: bool = True, **env):
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith("FAKE_") and k != "PYTHONDONTWRITEBYTECODE"}
    full_env.update(env)
    cmd = [sys.executable] + (["-B"] if bytecode_flag else []) + [str(PROBE)]
    cmd += [str(checkout)] if checkout is not None else []
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout  # stdout is the JSON object alone
    return json.loads(lines[0]), proc.stderr


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name in ("__pycache__", "nv_tegra_release") or p.suffix == ".pyc")


POSTFIX = "r36.4.tegra-aarch64-cu126-22.04"


def test_names_from_the_checkouts_own_code(tmp_path):
    checkout = make_checkout(tmp_path / "jc")
    out, err = run_probe(checkout)
    assert out == {
        "l4t": "36.4.7", "cuda": "12.6", "lsb": "22.04", "arch": "tegra-aarch64",
        "versions": ["0.4.0", "0.5.1", "0.5.5", "0.11.8"],
        "default": "0.11.8",
        "images": {
            "ollama": f"ollama:{POSTFIX}",
            "ollama:0.4.0": f"ollama:0.4.0-{POSTFIX}",
            "ollama:0.5.1": f"ollama:0.5.1-{POSTFIX}",
            "ollama:0.5.5": f"ollama:0.5.5-{POSTFIX}",
            "ollama:0.11.8": f"ollama:0.11.8-{POSTFIX}",
        },
        "stages": {
            "ollama": f"ollama:{POSTFIX}-ollama",
            "ollama:0.4.0": f"ollama:0.4.0-{POSTFIX}-ollama_0.4.0",
            "ollama:0.5.1": f"ollama:0.5.1-{POSTFIX}-ollama_0.5.1",
            "ollama:0.5.5": f"ollama:0.5.5-{POSTFIX}-ollama_0.5.5",
            "ollama:0.11.8": f"ollama:0.11.8-{POSTFIX}-ollama_0.11.8",
        },
        "warnings": [],
    }
    # what the checkout's code printed (and its child process) went to stderr
    assert "l4t_version chatter" in err and "a child process printing" in err
    # absent dependencies did not drop it; nothing is left in the checkout
    assert leftovers(checkout) == []


def test_board_values_and_warnings_come_through(tmp_path):
    checkout = make_checkout(tmp_path / "jc")
    out, _ = run_probe(checkout, FAKE_L4T="38.2.0", FAKE_ARCH="aarch64", FAKE_CUDA="13.0",
                       FAKE_LSB="24.04", FAKE_WARN="1")
    assert (out["l4t"], out["cuda"], out["lsb"], out["arch"]) == ("38.2.0", "13.0", "24.04", "aarch64")
    assert out["images"]["ollama"] == "ollama:r38.2.aarch64-cu130-24.04"
    assert out["stages"]["ollama:0.5.1"] == "ollama:0.5.1-r38.2.aarch64-cu130-24.04-ollama_0.5.1"
    assert out["warnings"] == ["### [Warn] Unknown L4T_VERSION: 38.2.0"]  # colour codes removed


def test_prefix_follows_container_py(tmp_path):
    checkout = make_checkout(tmp_path / "jc")
    out, _ = run_probe(checkout, FAKE_PREFIX="pre")
    # container.py takes tag_idx before adding the prefix, so a prefixed untagged name gets the
    # postfix after a second ':' (upstream's rule, reproduced as is)
    assert out["images"]["ollama"] == f"ollama:pre:{POSTFIX}"
    assert out["images"]["ollama:0.4.0"] == f"ollama:pre-0.4.0-{POSTFIX}"
    assert out["stages"]["ollama:0.4.0"] == f"ollama:pre-0.4.0-{POSTFIX}-ollama_0.4.0"


def test_no_default_means_no_plain_ollama(tmp_path):
    out, _ = run_probe(make_checkout(tmp_path / "jc", default=False))
    assert out["default"] is None
    assert "ollama" not in out["images"] and "ollama" not in out["stages"]
    assert out["versions"] == ["0.4.0", "0.5.1", "0.5.5", "0.11.8"]


def test_no_bytecode_even_without_the_flag(tmp_path):
    checkout = make_checkout(tmp_path / "jc")
    out, _ = run_probe(checkout, bytecode_flag=False)
    assert out["default"] == "0.11.8"
    assert leftovers(checkout) == []


def test_an_existing_tegra_release_copy_is_left_alone(tmp_path):
    checkout = make_checkout(tmp_path / "jc")
    copy = checkout / "packages" / "llm" / "ollama" / "nv_tegra_release"
    copy.write_text("# R36 (release), REVISION: 4.7\n")
    run_probe(checkout)
    assert copy.is_file()


@pytest.mark.parametrize("breakage", ["missing-dir", "config-raises", "l4t-exits", "init-only", "no-arg"])
def test_a_broken_checkout_gives_an_error_object(tmp_path, breakage):
    checkout = tmp_path / "jc"
    if breakage == "missing-dir":
        target = tmp_path / "nowhere"
    elif breakage == "config-raises":
        target = make_checkout(checkout, config="raise ValueError('bad\\nconfig')\n")
    elif breakage == "l4t-exits":
        target = make_checkout(checkout)
        (target / "jetson_containers" / "l4t_version.py").write_text("import sys\nsys.exit(3)\n")
    elif breakage == "init-only":
        (checkout / "jetson_containers").mkdir(parents=True)
        (checkout / "jetson_containers" / "__init__.py").write_text(INIT)
        target = checkout
    else:
        target = None
    out, _ = run_probe(target)
    assert list(out) == ["error"] and out["error"] and "\n" not in out["error"]
    if breakage == "config-raises":
        assert out["error"] == "ValueError: bad config"
        assert leftovers(checkout) == []


def test_the_probe_is_stdlib_only_and_python38():
    tree = ast.parse(PROBE.read_text(), feature_version=(3, 8))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_the_upstream_oracle_records_the_probe_equal_to_the_real_build():
    """The committed output of scripts/upstream_names.py: for each (commit, board) where the real
    build named the image, the probe said the same."""
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(DATA.read_text())
    assert data["cases"]
    for case in data["cases"]:
        assert "probe_differs" not in case, case["id"]
        for key in ("images", "stages"):
            for request, name in case.get(key, {}).items():
                assert case["probe"][key][request] == name, (case["id"], key, request)
        if "computed" in case:
            assert [case["probe"][k] for k in ("l4t", "cuda", "lsb", "arch")] == \
                [case["computed"][k] for k in ("l4t", "cuda", "lsb", "arch")], case["id"]
