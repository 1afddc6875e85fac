"""Seed a board's overlayfs upper directory so the board looks like its profile.

Everything a check on a real Jetson reads (docs/facts.md section 1-3 of
docs/facts.md) is written here: the tegra release line, the
devicetree strings, CUDA, the nvidia-l4t-core package, the nvpmodel modes, docker's runtimes and the
simulated tools of board/simtools.py. Seeding is idempotent and keeps state the board itself changed
(installed packages, the chosen power mode).
"""

from __future__ import annotations

import importlib.util
import json
import os
import posixpath
import stat
import zlib
from pathlib import Path, PurePosixPath

SIMTOOLS_SRC = Path(__file__).parent / "board" / "simtools.py"
SIMTOOLS = "/usr/lib/jetson-sim/simtools.py"
JETSON_TOOLS = {"/usr/bin/tegrastats", "/usr/sbin/nvpmodel", "/usr/bin/nvidia-container-runtime",
                "/usr/bin/jetson_clocks", "/etc/systemd/nvzramconfig.sh", "/usr/bin/lsb_release"}
# Ubuntu release -> codename, for /etc/lsb-release (the board's Debian base answers as the profile's Ubuntu)
UBUNTU_CODENAMES = {"20.04": "focal", "22.04": "jammy", "24.04": "noble"}
CUDART_DIR = "targets/aarch64-linux/lib"  # under /usr/local/cuda-X.Y, where cuda-cudart puts libcudart
# every board: a real swapon would give the whole host swap on a board's disk (simtools keeps a table)
SWAP_TOOLS = ("/usr/sbin/swapon", "/usr/sbin/swapoff")
# JetPack's units a tuning deploy turns off (docs/facts.md section 3), enabled as JetPack ships them; unit
# paths unverified. nvargus-daemon is the CSI camera daemon: here a process that only waits.
JETPACK_UNITS = {
    "nvzramconfig.service": "[Unit]\nDescription=ZRAM configuration\n\n"
                            "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                            "ExecStart=/etc/systemd/nvzramconfig.sh start\n"
                            "ExecStop=/etc/systemd/nvzramconfig.sh stop\n\n"
                            "[Install]\nWantedBy=multi-user.target\n",
    "nvargus-daemon.service": "[Unit]\nDescription=Argus daemon (simulated: no camera, it only waits)\n\n"
                              "[Service]\nExecStart=/usr/bin/sleep infinity\nRestart=always\n\n"
                              "[Install]\nWantedBy=multi-user.target\n",
}
DOCKER_FILES = ("/usr/bin/docker", "/usr/sbin/dockerd", "/lib/systemd/system/docker.service",
                "/lib/systemd/system/docker.socket")
DOCKER_UNITS = {  # enabling = the links `systemctl enable` makes
    "/etc/systemd/system/multi-user.target.wants/docker.service": "/lib/systemd/system/docker.service",
    "/etc/systemd/system/sockets.target.wants/docker.socket": "/lib/systemd/system/docker.socket",
}
# name -> (CPU cores online, CPU max kHz, GPU max Hz) for the generated nvpmodel.conf; unverified
MODE_LIMITS = {
    "7W": (4, 960000, 408000000), "10W": (4, 1497600, 510000000), "15W": (6, 1497600, 612000000),
    "25W": (8, 1728000, 918000000), "30W": (8, 1728000, 816000000), "50W": (12, 1497600, 930750000),
    "MAXN": (12, 2201600, 1300500000), "MAXN_SUPER": (6, 1728000, 1020000000),
}


def _simtools():
    spec = importlib.util.spec_from_file_location("jetson_sim_simtools", SIMTOOLS_SRC)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {SIMTOOLS_SRC}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Layers:
    """Writes into UPPER at board paths, resolving directories through the symlinks the board sees.

    Bookworm is merged-/usr (/bin, /lib are symlinks in LOWER): a real directory upper/lib would
    hide the lower's /lib -> usr/lib link and break the board, so /lib/systemd/... lands in
    upper/usr/lib/systemd/...
    """

    def __init__(self, upper: Path, lower: Path):
        self.upper, self.lower = Path(upper), Path(lower)

    def rel(self, path: str) -> str:
        todo, done, hops = list(PurePosixPath(path).parts[1:]), "/", 0
        while len(todo) > 1:
            candidate = posixpath.join(done, todo.pop(0))
            for layer in (self.upper, self.lower):  # upper first: overlayfs shows the upper entry
                host = layer / candidate.lstrip("/")
                if host.is_symlink():
                    hops += 1
                    if hops > 40:
                        raise ValueError(f"too many symlinks resolving {path}")
                    target = posixpath.normpath(posixpath.join(done, os.readlink(host)))
                    todo, done = list(PurePosixPath(target).parts[1:]) + todo, "/"
                    break
                if host.exists():
                    done = candidate
                    break
            else:
                done = candidate
        return posixpath.join(done, *todo).lstrip("/")

    def host(self, path: str) -> Path:
        return self.upper / self.rel(path)

    def in_lower(self, path: str) -> bool:
        return os.path.lexists(self.lower / self.rel(path))

    def mkdirs(self, host_dir: Path) -> None:
        # like overlayfs copy-up: a directory made in upper takes the lower one's mode and owner
        if host_dir.is_dir() and not host_dir.is_symlink():
            return
        self.mkdirs(host_dir.parent)
        host_dir.mkdir()
        twin = self.lower / host_dir.relative_to(self.upper)
        if twin.is_dir():
            st = twin.stat()
            os.chmod(host_dir, stat.S_IMODE(st.st_mode))
            if os.geteuid() == 0:
                os.chown(host_dir, st.st_uid, st.st_gid)

    def _clear(self, host: Path) -> None:
        if host.is_symlink() or (os.path.lexists(host) and not host.is_dir()):
            host.unlink()

    def write(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        data = data.encode() if isinstance(data, str) else data
        host = self.host(path)
        self.mkdirs(host.parent)
        if host.is_symlink() or (os.path.lexists(host) and not host.is_file()):
            host.unlink()
        # open "wb" truncates the same inode: safe for files that are bind-mounted (meminfo)
        if not host.is_file() or host.read_bytes() != data:
            with open(host, "wb") as f:
                f.write(data)
        os.chmod(host, mode)

    def symlink(self, path: str, target: str) -> None:
        host = self.host(path)
        self.mkdirs(host.parent)
        if host.is_symlink() and os.readlink(host) == target:
            return
        self._clear(host)
        host.symlink_to(target)

    def remove(self, path: str) -> None:
        self._clear(self.host(path))

    def whiteout(self, path: str) -> None:
        """Hide a lower file from the board: an overlayfs whiteout is a 0/0 character device."""
        if not self.in_lower(path):
            return
        host = self.host(path)
        if os.path.lexists(host):
            st = host.lstat()
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return
            self._clear(host)
        self.mkdirs(host.parent)
        os.mknod(host, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def seed_board(profile: dict, upper: Path, lower: Path) -> None:
    """Write into UPPER (overlayfs upper over the Debian rootfs LOWER) every file that makes the board
    look like PROFILE (a validated dict from jetson_sim.profiles.load_profile)."""
    board = _Layers(upper, lower)
    board.upper.mkdir(parents=True, exist_ok=True)
    board.write("/etc/jetson-sim/profile.json", json.dumps(profile, indent=2, sort_keys=True) + "\n")
    board.write(SIMTOOLS, SIMTOOLS_SRC.read_bytes(), 0o755)
    board.write("/var/lib/jetson-sim/meminfo", _simtools().render_meminfo(profile, 0))
    for tool in ("/usr/bin/uname", "/usr/bin/arch", "/usr/local/bin/jetson-sim-meminfo", *SWAP_TOOLS):
        board.symlink(tool, SIMTOOLS)
    # runtime state of the simulated hardware, made at every boot: allocations, GR3D load, and on a
    # Jetson the GPU marker that the nvidia runtime hands to containers. Any process allocates RAM, so
    # mem.d takes anyone's lease (sticky, as /tmp); the GPU load is written by a GPU user (group video,
    # as the real device nodes): a native ollama.service runs as its own user, not root
    gpu = (f"f /run/jetson-sim/gpu 0644 root root - simulated GPU of the {profile['jetson']['model']}\n"
           "f /run/jetson-sim/gr3d 0664 root video - 0\n") if profile.get("jetson") else ""
    board.write("/etc/tmpfiles.d/jetson-sim.conf",
                "d /run/jetson-sim 0755 root root -\nd /run/jetson-sim/mem.d 1777 root root -\n" + gpu)
    # JetPack boots the desktop (graphical.target); a headless board boots multi-user.target (facts 3)
    target = "graphical.target" if profile["memory"]["desktop"] else "multi-user.target"
    board.symlink("/etc/systemd/system/default.target", f"/lib/systemd/system/{target}")
    board.write("/etc/systemd/system/jetson-sim-memd.service",
                "[Unit]\nDescription=Simulated board memory bookkeeping (jetson_sim)\n\n"
                "[Service]\nExecStart=/usr/local/bin/jetson-sim-meminfo watch 1\nRestart=always\n\n"
                "[Install]\nWantedBy=multi-user.target\n")
    board.symlink("/etc/systemd/system/multi-user.target.wants/jetson-sim-memd.service",
                  "/etc/systemd/system/jetson-sim-memd.service")
    if profile.get("jetson"):
        _seed_jetson(board, profile, profile["jetson"])
    _seed_docker(board, profile["docker"])


def _seed_jetson(board: _Layers, profile: dict, jet: dict) -> None:
    # docs/facts.md section 1: the devicetree strings are NUL terminated, compatible is NUL separated
    dt = "/var/lib/jetson-sim/devicetree/base"
    board.write(f"{dt}/model", jet["model"] + "\0")
    board.write(f"{dt}/compatible", "".join(c + "\0" for c in jet["compatible"]))
    # per board (its upper dir) yet stable across re-seeding; the 13-digit shape is unverified
    seed = f"{profile['name']}:{board.upper.resolve()}".encode()
    serial = f"14{zlib.crc32(seed):011d}"
    board.write(f"{dt}/serial-number", serial + "\0")

    l4t = jet["l4t"]
    lines = [f"# R{l4t['major']} (release), REVISION: {l4t['revision']}, GCID: {l4t['gcid']}, "
             f"BOARD: {l4t['board']}, EABI: aarch64, DATE: {l4t['date']}"]
    if l4t["major"] >= 36:
        lines.append("# KERNEL_VARIANT: oot")  # R36 builds its NVIDIA modules out of tree
    lines += ["TARGET_USERSPACE_LIB_DIR=nvidia", "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia"]
    board.write("/etc/nv_tegra_release", "\n".join(lines) + "\n")

    _seed_cuda(board, jet["cuda"], jet.get("cuda_runtime"))
    codename = UBUNTU_CODENAMES.get(jet["ubuntu"], "unknown")
    # what `lsb_release` (simtools) reads; the real description names a point release (unverified here)
    board.write("/etc/lsb-release", f"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE={jet['ubuntu']}\nDISTRIB_CODENAME={codename}\n"
                                    f"DISTRIB_DESCRIPTION=\"Ubuntu {jet['ubuntu']} LTS\"\n")

    for tool in sorted(JETSON_TOOLS):
        board.symlink(tool, SIMTOOLS)
    if jet["nvidia_smi"]:  # docs/facts.md section 2: JetPack 5 has no nvidia-smi
        board.symlink("/usr/bin/nvidia-smi", SIMTOOLS)
    else:
        board.remove("/usr/bin/nvidia-smi")

    board.write("/etc/nvpmodel.conf", _nvpmodel_conf(jet))
    _seed_jetpack_units(board)
    # the board's own `nvpmodel -m` choice survives re-seeding, as it survives a reboot
    if not board.host("/var/lib/nvpmodel/status").exists():
        board.write("/var/lib/nvpmodel/status", f"pmode:{jet['power_model_default']:04d}\n")
    _seed_l4t_core(board, jet["l4t_core_version"])


def _seed_cuda(board: _Layers, cuda: dict | None, runtime: str | None) -> None:
    """The host CUDA of docs/facts.md section 1: the toolkit (version.json, nvcc, libcudart) under
    /usr/local/cuda-X.Y with /usr/local/cuda linked to it; with `cuda: null` only the runtime library
    when the profile names one (`cuda_runtime`), else nothing at all: JetPack flashed without
    nvidia-jetpack has no /usr/local/cuda and no nvcc, while the L4T driver side stays."""
    version = cuda["version"] if cuda else runtime
    if version is None:
        board.remove("/usr/local/cuda")
        return
    release = cuda["release"] if cuda else ".".join(version.split(".")[:2])  # version: the runtime's
    home = f"/usr/local/cuda-{release}"
    if cuda:
        version_json = {  # docs/facts.md section 1: checks read cuda_nvcc.version; the SDK patch level is unverified
            "cuda": {"name": "CUDA SDK", "version": f"{cuda['release']}.0"},
            "cuda_cudart": {"name": "CUDA Runtime (cudart)", "version": cuda["version"]},
            "cuda_nvcc": {"name": "CUDA NVCC", "version": cuda["version"]},
        }
        board.write(f"{home}/version.json", json.dumps(version_json, indent=3) + "\n")
        board.symlink(f"{home}/bin/nvcc", SIMTOOLS)
    # the library's soname links as cuda-cudart ships them (libcudart.so.12 -> libcudart.so.12.2.140)
    lib, major = f"{home}/{CUDART_DIR}", version.split(".")[0]
    board.write(f"{lib}/libcudart.so.{version}", f"jetson-sim placeholder for libcudart {version}\n")
    board.symlink(f"{lib}/libcudart.so.{major}", f"libcudart.so.{version}")
    board.symlink(f"{lib}/libcudart.so", f"libcudart.so.{major}")
    board.symlink("/usr/local/cuda", f"cuda-{release}")


def _seed_jetpack_units(board: _Layers) -> None:
    for unit, text in JETPACK_UNITS.items():
        path = f"/etc/systemd/system/{unit}"
        if not board.host(path).exists():  # first seeding only: a board that disabled one keeps it so
            board.symlink(f"/etc/systemd/system/multi-user.target.wants/{unit}", path)
        board.write(path, text)
    # systemd makes no swap units for fstab's swap lines in a container: this one does what they do
    board.write("/etc/systemd/system/jetson-sim-swap.service",
                "[Unit]\nDescription=Swap areas of /etc/fstab (jetson_sim: systemd skips them in a container)\n"
                "After=nvzramconfig.service\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                "ExecStart=/usr/sbin/swapon -a\n\n[Install]\nWantedBy=multi-user.target\n")
    board.symlink("/etc/systemd/system/multi-user.target.wants/jetson-sim-swap.service",
                  "/etc/systemd/system/jetson-sim-swap.service")


def _nvpmodel_conf(jet: dict) -> str:
    """An /etc/nvpmodel.conf with `< POWER_MODEL ID=n NAME=... >` blocks (docs/facts.md section 3)."""
    cpus = jet["cpus"]
    out = ["# nvpmodel configuration", "", "< PARAM TYPE=FILE NAME=CPU_ONLINE >"]
    out += [f"CORE_{i} /sys/devices/system/cpu/cpu{i}/online" for i in range(cpus)]
    out += ["", "< PARAM TYPE=CLOCK NAME=GPU >",
            "MAX_FREQ /sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu/max_freq",
            "MIN_FREQ /sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu/min_freq", ""]
    for mode in jet["power_models"]:
        cores, cpu_khz, gpu_hz = MODE_LIMITS.get(mode["name"], (cpus, 1497600, 612000000))
        cores = mode.get("cores_online", cores)  # the profile's figure wins over the table's by name
        out.append(f"< POWER_MODEL ID={mode['id']} NAME={mode['name']} >")
        out += [f"CPU_ONLINE CORE_{i} {int(i < cores)}" for i in range(cpus)]
        out += ["CPU_A78_0 MIN_FREQ 729600", f"CPU_A78_0 MAX_FREQ {cpu_khz}",
                "GPU_POWER_CONTROL_ENABLE GPU_PWR_CNTRL_EN on", "GPU MIN_FREQ 0", f"GPU MAX_FREQ {gpu_hz}",
                "GPU_POWER_CONTROL_DISABLE GPU_PWR_CNTRL_DIS auto", "EMC MAX_FREQ 0", ""]
    out.append(f"< PM_CONFIG DEFAULT={jet['power_model_default']} >")
    return "\n".join(out) + "\n"


def _seed_l4t_core(board: _Layers, version: str) -> None:
    """Register nvidia-l4t-core with dpkg, so `dpkg-query --showformat='${Version}' --show
    nvidia-l4t-core` answers as on a real board (docs/facts.md section 1 fallback)."""
    status = "/var/lib/dpkg/status"
    # start from the upper's copy when there is one: it holds packages the board installed since
    source = board.host(status) if board.host(status).is_file() else board.lower / board.rel(status)
    text = source.read_text() if source.is_file() else ""
    stanzas = [s for s in text.strip("\n").split("\n\n") if s and not s.startswith("Package: nvidia-l4t-core\n")]
    stanzas.append("\n".join([
        "Package: nvidia-l4t-core",
        "Status: install ok installed",
        "Priority: standard",
        "Section: libs",
        "Installed-Size: 4096",
        "Maintainer: NVIDIA Corporation",
        # arm64 on a real board; "all" keeps the simulated board's amd64 apt consistent
        "Architecture: all",
        f"Version: {version}",
        "Description: NVIDIA Core Package",
        " Core libraries of NVIDIA Jetson Linux (L4T).",
    ]))
    board.write(status, "".join(s + "\n\n" for s in stanzas))
    board.write("/var/lib/dpkg/info/nvidia-l4t-core.list", "")  # else dpkg warns "files list file missing"


def _seed_docker(board: _Layers, docker: dict) -> None:
    if not docker["installed"]:
        for link in DOCKER_UNITS:
            board.remove(link)
        for path in DOCKER_FILES:
            board.whiteout(path)
        return
    for link, unit in DOCKER_UNITS.items():
        board.symlink(link, unit)
    if docker["nvidia_runtime"]:  # docs/facts.md section 3: daemon.json as JetPack ships it
        config: dict = {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}}
        if docker["default_runtime"] == "nvidia":
            config["default-runtime"] = "nvidia"
        board.write("/etc/docker/daemon.json", json.dumps(config, indent=4) + "\n")
