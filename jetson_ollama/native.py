"""The native runtime (`jetson_runtime: native`): Ollama's official arm64 release and the board's JetPack
bundle, unpacked into /usr/local and run by ollama.service, as the official install.sh sets it up, but
pinned: every archive is checked against its sha256 in models.lock before it is unpacked (docs/facts.md section 5).

Pure knowledge, no board access: which archives a release and a JetPack need (`data/ollama_native.yaml`),
where they are, their pin keys, the unit and the drop-in. The operations are in operations/native.py,
the stage in stages/native.py.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from .version import at_least

_DATA_FILE = Path(__file__).parent / "data" / "ollama_native.yaml"

PREFIX = "/usr/local"  # install.sh's OLLAMA_INSTALL_DIR: bin/ollama and lib/ollama/ land under it
BINARY = posixpath.join(PREFIX, "bin", "ollama")
SERVICE = "ollama.service"
UNIT_PATH = "/etc/systemd/system/ollama.service"  # where install.sh writes it (docs/facts.md section 5)
DROPIN_PATH = "/etc/systemd/system/ollama.service.d/jetson-ollama.conf"  # ours: the ollama_* settings
USER = GROUP = "ollama"
HOME = "/usr/share/ollama"  # install.sh: useradd -r -s /bin/false -U -m -d /usr/share/ollama ollama
# the GPU's device nodes on a Jetson belong to these groups; install.sh adds the user to each that exists
GPU_GROUPS = ("video", "render")
PIN_SECTION = "ollama-native"  # models.lock: pins: ollama-native: v<version>/<archive>: sha256:<hex>
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_VERSION_RE = re.compile(r"\d+\.\d+\.\d+")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX_RE = re.compile(r"[0-9a-f]{64}")


class NoBundle(ValueError):
    """No JetPack bundle of Ollama's release fits the board's JetPack."""


@cache
def _data() -> dict:
    return yaml.safe_load(_DATA_FILE.read_text())


def extension(version: str) -> str:
    """The archive extension of a release: `.tgz`, or `.tar.zst` from 0.14 (docs/facts.md section 5)."""
    if not _VERSION_RE.fullmatch(version or ""):
        raise ValueError(f"not an Ollama release version: {version!r} (expected e.g. 0.6.8)")
    found = [row["extension"] for row in _data()["formats"] if at_least(version, row["since"])]
    return found[-1]


def bundle(jetpack: str | int) -> str:
    """The JetPack bundle's name for a JetPack version (`6.2.1` -> `ollama-linux-arm64-jetpack6`)."""
    major = str(jetpack).split(".")[0]
    bundles = _data()["bundles"]
    if major not in bundles:
        raise NoBundle(f"Ollama publishes no JetPack bundle for JetPack {jetpack} (only JetPack "
                       f"{' and '.join(sorted(bundles))}, docs/facts.md section 5): use jetson_runtime: container")
    return bundles[major]


def archive_names(version: str, jetpack: str | int) -> list[str]:
    """The archives of a release for a board, unpacked in this order: the base, then the JetPack bundle,
    e.g. `["ollama-linux-arm64.tgz", "ollama-linux-arm64-jetpack6.tgz"]`; on JetPack 7 the base alone,
    from the first release whose base carries a runner for it (`base_only` of the data file)."""
    ext = extension(version)
    major = str(jetpack).split(".")[0]
    since = (_data().get("base_only") or {}).get(major)
    if since is not None:
        if not at_least(version, since):
            raise NoBundle(f"Ollama {version} has no GPU runner for JetPack {jetpack}: its arm64 archive carries "
                           f"CUDA 13 (Thor) from {since} on; set ollama_native_version: {since} or newer")
        return [_data()["base"] + ext]
    return [_data()["base"] + ext, bundle(jetpack) + ext]


@dataclass(frozen=True)
class NativeRelease:
    """The release one board installs."""

    version: str               # e.g. 0.6.8
    url: str                   # the releases' base URL, without a trailing slash
    archives: tuple[str, ...]  # base first, then the JetPack bundle (none on JetPack 7)
    jetpack: str               # the board's JetPack, e.g. 6.2

    def archive_url(self, archive: str) -> str:
        return f"{self.url}/v{self.version}/{archive}"

    @property
    def checksums_url(self) -> str:
        return f"{self.url}/v{self.version}/{_data()['checksums']}"

    def pin_key(self, archive: str) -> str:
        """The archive's key in models.lock's `ollama-native` section: `v0.6.8/ollama-linux-arm64.tgz`
        (the file names repeat from release to release, the bytes do not)."""
        return f"v{self.version}/{archive}"

    @property
    def needs_zstd(self) -> bool:
        return any(name.endswith(".zst") for name in self.archives)


def release_for(version: str, url: str, jetpack: str | int) -> NativeRelease:
    """The release a board of JetPack `jetpack` gets; NoBundle (one line) for a JetPack without a bundle."""
    return NativeRelease(version, url.rstrip("/"), tuple(archive_names(version, jetpack)), str(jetpack))


def parse_checksums(lines: Iterable[str]) -> dict[str, str]:
    """sha256sum.txt (`<64 hex>  ./ollama-linux-arm64.tgz`, `*` for binary mode) -> {archive: "sha256:<hex>"};
    lines of another shape are skipped."""
    found = {}
    for line in lines:
        digest, _, name = line.strip().partition(" ")
        name = posixpath.basename(name.strip().lstrip("*"))
        if _HEX_RE.fullmatch(digest) and name:
            found[name] = "sha256:" + digest
    return found


def unit_text() -> str:
    """/etc/systemd/system/ollama.service as install.sh writes it (docs/facts.md section 5: ExecStart, User,
    Restart=always; Group, RestartSec and the PATH line as in install.sh, unverified). The settings are
    not here: they are in the drop-in, so the unit stays the upstream one."""
    return (
        "[Unit]\n"
        "Description=Ollama Service\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        f"ExecStart={BINARY} serve\n"
        f"User={USER}\n"
        f"Group={GROUP}\n"
        "Restart=always\n"
        "RestartSec=3\n"
        f'Environment="PATH={PATH}"\n'
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _systemd_quoted(text: str) -> str:
    # Environment="K=V": backslash and double quote are escaped inside the quotes, % starts a specifier
    if any(ord(char) < 32 for char in text):
        raise ValueError(f"a systemd Environment= value cannot hold control characters: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def dropin_text(environment: Mapping[str, str]) -> str:
    """The drop-in with the `ollama_*` settings as Environment= lines, one per variable, sorted."""
    lines = ["# written by jetson-ollama from the ollama_* settings (deploys/service.py); do not edit", "[Service]"]
    for key in sorted(environment):
        if not _ENV_NAME_RE.fullmatch(str(key)):
            raise ValueError(f"environment variable names are letters, digits and _, not {key!r}")
        lines.append(f"Environment={_systemd_quoted(f'{key}={environment[key]}')}")
    return "\n".join(lines) + "\n"
