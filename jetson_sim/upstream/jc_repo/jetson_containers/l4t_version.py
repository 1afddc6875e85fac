#!/usr/bin/env python3
# SIMULATED jetson-containers: the versions of L4T, JetPack, CUDA and Ubuntu and the architecture of
# the build environment, found on the board the way dusty-nv/jetson-containers
# jetson_containers/l4t_version.py finds them at the upstream commit this one stands for (each rule
# below names the upstream commit it follows). Module-level names, as upstream's:
#
#    L4T_VERSION (Version)      -- from /etc/nv_tegra_release, or $L4T_VERSION
#    JETPACK_VERSION (Version)  -- from the L4T version, or $JETPACK_VERSION
#    CUDA_VERSION (Version)     -- $CUDA_VERSION, /usr/local/cuda, or the L4T release's default
#    PYTHON_VERSION (Version)   -- $PYTHON_VERSION, or the default of LSB_RELEASE
#    CUDA_ARCHITECTURES (list)  -- e.g. [87]
#    LSB_RELEASE (str)          -- e.g. '20.04', '22.04', '24.04'
#    SYSTEM_ARCH (str)          -- 'aarch64' or 'x86_64'
#@ since 119c26f2 before 947e2267
#    SYSTEM_ARCH_TYPE (str)     -- 'tegra-aarch64' (a Jetson), 'aarch64' (SBSA) or 'x86_64'
#    SYSTEM_ARM, SYSTEM_X86, IS_TEGRA, IS_SBSA, DOCKER_ARCH -- from SYSTEM_ARCH_TYPE
#@ end
#@ since 947e2267
#    CUDA_ARCH (str)            -- 'tegra-aarch64' (a Jetson), 'aarch64' (SBSA) or 'x86_64'
#    SYSTEM_ARM, SYSTEM_X86, IS_TEGRA, IS_SBSA, DOCKER_ARCH -- from CUDA_ARCH
#@ end
#
# Simulator-only differences (the rest follows upstream):
#  - Version stands in for packaging.version.Version (stdlib only: the simulated boards have no pip index)
#  - the machine comes from the `uname -m` command: python on a simulated board runs on the host's
#    CPU, while the board's own uname names the board's (upstream: platform.machine())
#  - $JETSON_SIM_BOARD_ROOT, when set, is a directory standing in for / where /etc/nv_tegra_release and
#    /usr/local/cuda are read (tests off the board); commands (uname, lsb_release, nvidia-smi) come
#    from $PATH as upstream's do
#
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from functools import lru_cache, total_ordering

_BOARD_ROOT = os.environ.get('JETSON_SIM_BOARD_ROOT', '').rstrip('/')


def _board_file(path):
    return _BOARD_ROOT + path if _BOARD_ROOT else path


@lru_cache(maxsize=None)
def _machine():
    """platform.machine() of the board (see the simulator notes above)."""
    try:
        machine = subprocess.run(['uname', '-m'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 universal_newlines=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        machine = ''
    return machine or platform.machine()


@total_ordering
class Version:
    """The part of packaging.version.Version these tools use: a numeric release like 36.4.3, compared
    with trailing zeros ignored (36.4 == 36.4.0), printed as given, with .major, .minor and .micro."""

    def __init__(self, version):
        text = str(version).strip()
        if not re.fullmatch(r'\d+(\.\d+)*', text):
            raise ValueError(f"Invalid version: '{text}'")
        self.release = tuple(int(part) for part in text.split('.'))

    @property
    def major(self):
        return self.release[0]

    @property
    def minor(self):
        return self.release[1] if len(self.release) > 1 else 0

    @property
    def micro(self):
        return self.release[2] if len(self.release) > 2 else 0

    def _key(self):
        release = list(self.release)
        while len(release) > 1 and release[-1] == 0:
            release.pop()
        return tuple(release)

    def __eq__(self, other):
        return self._key() == other._key() if isinstance(other, Version) else NotImplemented

    def __lt__(self, other):
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        return '.'.join(str(part) for part in self.release)

    def __repr__(self):
        return f"<Version('{self}')>"


def get_l4t_version(version_file='/etc/nv_tegra_release', l4t_version=None):
    """
    L4T_VERSION from $L4T_VERSION or the first line of /etc/nv_tegra_release:
    `# R36 (release), REVISION: 4.3, GCID: ..., BOARD: ..., EABI: aarch64, DATE: ...` is 36.4.3
    (dusty-nv/jetson-containers jetson_containers/l4t_version.py @2262004f get_l4t_version(); the same
    parse through @3aef85cf).
    """
    if l4t_version:
        return l4t_version if isinstance(l4t_version, Version) else Version(l4t_version)
#@ before 119c26f2

    # aarch64 only (jetson_containers/l4t_version.py @2262004f)
    if _machine() != 'aarch64':
        raise ValueError(f"L4T_VERSION isn't supported on {_machine()} architecture (aarch64 only)")
#@ end

    if len(os.environ.get('L4T_VERSION', '')) > 0:
        return Version(os.environ['L4T_VERSION'].lower().lstrip('r'))

    version_file = _board_file(version_file)
#@ before 119c26f2
    if not os.path.isfile(version_file):
        raise IOError(f"L4T_VERSION file doesn't exist:  {version_file}")
#@ end
#@ since 119c26f2 before 947e2267

    # not a Tegra board, or no version file: 36.4.3, "to unlock L4T checks" (jetson_containers/l4t_version.py @119c26f2)
    if SYSTEM_ARCH_TYPE != 'tegra-aarch64' or not os.path.isfile(version_file):
        return Version('36.4.3')
#@ end
#@ only 947e2267

    # not a Tegra board, or no version file: 36.4.4 (jetson_containers/l4t_version.py @947e2267)
    if CUDA_ARCH != 'tegra-aarch64' or not os.path.isfile(version_file):
        return Version('36.4.4')
#@ end
#@ since c6bf3b62

    # not a Tegra board (SBSA such as a Thor whose GPU name lacks "nvgpu", or x86), or no version file:
    # 38.2.0, whatever the file says (jetson_containers/l4t_version.py @c6bf3b62, same @16f7cf41)
    if CUDA_ARCH != 'tegra-aarch64' or not os.path.isfile(version_file):
        return Version('38.2.0')
#@ end

    with open(version_file) as file:
        line = file.readline()

    parts = [part.strip() for part in line.split(',')]
    release, prefix, suffix = parts[0], '# R', ' (release)'

    if not release.startswith(prefix) or not release.endswith(suffix):
        raise ValueError(f"L4T release string is invalid or in unexpected format:  '{release}'")

    release = release[len(prefix):-len(suffix)]
    revision, prefix = parts[1], 'REVISION: '

    if not revision.startswith(prefix):
        raise ValueError(f"L4T revision '{revision}' doesn't start with expected prefix '{prefix}'")

    return Version(f'{release}.{revision[len(prefix):]}')
#@ since 119c26f2


def nv_tegra_release(version_file='/etc/nv_tegra_release', dst=None):
    """
    The text of /etc/nv_tegra_release, copied to DST when given; made up from L4T_VERSION when the
    board has no such file (jetson_containers/l4t_version.py @119c26f2 nv_tegra_release()).
    """
    import datetime

    version_file = _board_file(version_file)

    if os.path.exists(version_file):
        if dst:
            shutil.copyfile(version_file, dst)
        with open(version_file) as file:
            return file.read()

    text = (f"# R{L4T_VERSION.major} (release), REVISION: {L4T_VERSION.minor}.{L4T_VERSION.micro}, "
            f"GCID: 12345678, BOARD: generic, EABI: {SYSTEM_ARCH}, "
            f"DATE: {datetime.datetime.now().strftime('%a %b %d %H:%M:%S %Z %Y')}\n"
            f"# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
            f"TARGET_USERSPACE_LIB_DIR_PATH=/usr/lib/{SYSTEM_ARCH}-linux-gnu/nvidia")

    if dst:
        with open(dst, 'w') as file:
            file.write(text)

    return text
#@ end


# JetPack of each L4T release, JetPack 5 and later (jetson_containers/l4t_version.py get_jetpack_version()
# at each commit; the JetPack 4 and older rows are left out here)
NVIDIA_JETPACK = {
#@ only 119c26f2 55b14897
    '38.1.0': '7.0 EA',
#@ end
#@ only 947e2267
    '38.1.0': '7.0',
    '38.0.0': '7.0 EA',
#@ end
#@ since c6bf3b62
    '38.3.0': '7.1',
    '38.2.0': '7.0 GA',
    '38.1.0': '7.0 EA',
#@ end
#@ since 947e2267
    '36.4.4': '6.2.1',
#@ end
    '36.4.3': '6.2',
    '36.4.2': '6.1.1',
    '36.4.0': '6.1 GA',
    '36.3.0': '6.0 GA',
    '36.2.0': '6.0 DP',
    '36.0.0': '6.0 EA',
#@ since 947e2267
    '35.6.2': '5.1.5',
#@ end
#@ since 119c26f2
    '35.6.1': '5.1.5',
    '35.6.0': '5.1.4',
    '35.5.0': '5.1.3',
#@ end
    '35.4.1': '5.1.2',
    '35.3.1': '5.1.1',
    '35.3.0': '5.1.1 PRE',
    '35.2.1': '5.1',
    '35.1.0': '5.0.2 GA',
    '34.1.1': '5.0.1 DP',
    '34.1.0': '5.0 DP',
    '34.0.1': '5.0 PRE-DP',
}


#@ before 119c26f2
def get_jetpack_version(l4t_version=None, default='5.1'):
#@ else
def get_jetpack_version(l4t_version=None, default='6.2'):
#@ end
    """
    JETPACK_VERSION: $JETPACK_VERSION, else the row of NVIDIA_JETPACK equal to the L4T version, else
#@ before 119c26f2
    DEFAULT (jetson_containers/l4t_version.py @2262004f: 5.1)
#@ else
    DEFAULT (jetson_containers/l4t_version.py @119c26f2: 6.2)
#@ end
    """
    if not l4t_version:
        l4t_version = get_l4t_version()

    if not isinstance(l4t_version, Version):
        l4t_version = Version(l4t_version)

    if len(os.environ.get('JETPACK_VERSION', '')) > 0:
        return Version(os.environ['JETPACK_VERSION'].lower().lstrip('r'))

    for key in NVIDIA_JETPACK:
        if Version(key) == l4t_version:
            return Version(NVIDIA_JETPACK[key].split(' ')[0])

    if not default:
        raise RuntimeError(f"invalid/unknown L4T_VERSION {l4t_version}")
    return Version(default)


def get_cuda_version(version_file='/usr/local/cuda/version.json', l4t_version=None):
    """
    CUDA_VERSION (major.minor), in this order (jetson_containers/l4t_version.py get_cuda_version() at
    each commit):
      $CUDA_VERSION;
#@ before 119c26f2
      12.8 for a 24.04 build on L4T <= 36 (@2262004f);
#@ end
#@ only 119c26f2 55b14897
      12.9 for a 24.04 build on L4T >= 38, 12.8 on L4T <= 36 (@119c26f2);
#@ end
#@ since 947e2267
      13.0 for a 24.04 build on L4T >= 38, 12.9 on L4T <= 36 (@947e2267);
#@ end
      cuda_nvcc.version of /usr/local/cuda/version.json;
      without it, libcudart.so.X.Y.Z under /usr/local/cuda/targets/aarch64-linux/lib (a runtime only);
      without that, the CUDA that came with the L4T release (below), 0.0 on r35 and older.
    """
    def to_version(version):
        version = Version(version)
        return Version(f"{version.major}.{version.minor}")

    if len(os.environ.get('CUDA_VERSION', '')) > 0:
        return to_version(os.environ['CUDA_VERSION'])
#@ only 119c26f2 55b14897

    if LSB_RELEASE == '24.04' and L4T_VERSION.major >= 38:
        return Version('12.9')  # 24.04 containers on JetPack 7 (@119c26f2)
#@ end
#@ since 947e2267

    if LSB_RELEASE == '24.04' and L4T_VERSION.major >= 38:
        return Version('13.0')  # 24.04 containers on JetPack 7 (@947e2267)
#@ end
#@ before 947e2267

    if LSB_RELEASE == '24.04' and L4T_VERSION.major <= 36:
        return Version('12.8')  # 24.04 containers on JetPack 6 (@2262004f)
#@ else

    if LSB_RELEASE == '24.04' and L4T_VERSION.major <= 36:
        return Version('12.9')  # 24.04 containers on JetPack 6 (@947e2267)
#@ end

    version_file = _board_file(version_file)

    if l4t_version or not os.path.isfile(version_file):
        # only the CUDA runtime may be installed
        files = glob.glob(_board_file('/usr/local/cuda/targets/aarch64-linux/lib/libcudart.so.*.*.*'))
        if files and not l4t_version:
            match = re.search(r'libcudart\.so\.(\d+\.\d+\.\d+)', files[0])
            if match:
                return to_version(match.group(1))
            print("-- unable to extract CUDA version number")
        else:
            l4t_version = get_l4t_version(l4t_version=l4t_version)
#@ only 119c26f2 55b14897
            if l4t_version.major >= 38:
                if l4t_version == Version('38.1'):
                    cuda_version = '12.9'  # any other r38 leaves it unset (@119c26f2)
            elif l4t_version.major >= 36:
#@ end
#@ only 947e2267
            if l4t_version.major >= 38:
                if l4t_version == Version('38.1'):
                    cuda_version = '13.0'  # any other r38 leaves it unset (@947e2267)
            elif l4t_version.major >= 36:
#@ end
#@ since c6bf3b62
            if l4t_version.major >= 38:
                cuda_version = '13.0'  # (@c6bf3b62)
            elif l4t_version.major >= 36:
#@ end
#@ before 119c26f2
            if l4t_version.major >= 36:
#@ end
                # r36 needs no CUDA on the host: the CUDA released with that L4T
#@ before 947e2267
                if l4t_version in (Version('36.4'), Version('36.4.2'), Version('36.4.3')):
                    cuda_version = '12.6'  # (@2262004f)
#@ else
                if l4t_version in (Version('36.4'), Version('36.4.2'), Version('36.4.3'), Version('36.4.4')):
                    cuda_version = '12.6'  # (@947e2267: 36.4.4 added)
#@ end
                elif l4t_version == Version('36.3'):
                    cuda_version = '12.4'
                elif l4t_version == Version('36.2'):
                    cuda_version = '12.2'
                else:
                    print(f"### [Warn] Unknown L4T_VERSION: {L4T_VERSION}")
                    cuda_version = '12.2'
            else:
                cuda_version = '0.0'  # r35 and older without CUDA on the host
            return Version(cuda_version)

    with open(version_file) as file:
        versions = json.load(file)

    return to_version(versions['cuda_nvcc']['version'])
#@ since 119c26f2


def cuda_short_version(cuda_version=None):
    """'cu126' from 12.6 (jetson_containers/l4t_version.py @119c26f2)"""
    if not cuda_version:
        cuda_version = CUDA_VERSION
    if isinstance(cuda_version, str):
        cuda_version = Version(cuda_version)
    return f"cu{cuda_version.major}{cuda_version.minor}"
#@ end


#@ before 119c26f2
def get_cuda_arch(l4t_version=None, format=list):
    """
    The CUDA device architectures to build for on this L4T (jetson_containers/l4t_version.py @2262004f)
    """
    if not l4t_version:
        l4t_version = get_l4t_version()

    if not isinstance(l4t_version, Version):
        l4t_version = Version(l4t_version)

    if l4t_version.major >= 36:    # JetPack 6: Orin
        cuda_architectures = [87]
    elif l4t_version.major >= 34:  # JetPack 5: Xavier, Orin
        cuda_architectures = [72, 87]
    elif l4t_version.major == 32:  # JetPack 4
        cuda_architectures = [53, 62, 72]
#@ else
def get_cuda_arch(l4t_version=None, cuda_version=None, format=list):
    """
    The CUDA device architectures to build for, by platform and L4T (jetson_containers/l4t_version.py
    get_cuda_arch() at each commit)
    """
    if not l4t_version:
        l4t_version = get_l4t_version()

    if not isinstance(l4t_version, Version):
        l4t_version = Version(l4t_version)

    if not cuda_version:
        cuda_version = get_cuda_version(l4t_version=l4t_version)

    if not isinstance(cuda_version, Version):
        cuda_version = Version(cuda_version)

    if SYSTEM_ARM:
        if IS_TEGRA:
            if l4t_version.major >= 38:  # JetPack 7
#@ only 119c26f2 55b14897
                cuda_architectures = [87, 101]
#@ end
#@ only 947e2267
                cuda_architectures = [87]
#@ end
#@ only c6bf3b62
                cuda_architectures = [87, 110, 121]
#@ end
#@ since 16f7cf41
                cuda_architectures = [87, 110, 120, 121]
#@ end
            elif l4t_version.major >= 36:  # JetPack 6
                cuda_architectures = [87]
            elif l4t_version.major >= 34:  # JetPack 5
                cuda_architectures = [72, 87]
            elif l4t_version.major == 32:  # JetPack 4
                cuda_architectures = [53, 62, 72]
        elif IS_SBSA:
#@ only 119c26f2 55b14897
            cuda_architectures = [90, 100, 101, 120]
            if cuda_version >= Version('12.9'):
                cuda_architectures += [103, 121]
#@ end
#@ only 947e2267
            if l4t_version.major >= 38:
                cuda_architectures = [87, 110, 121]
            else:
                cuda_architectures = [87, 90, 100, 103, 121]
                if cuda_version >= Version('13.0'):
                    cuda_architectures += [110]
#@ end
#@ only c6bf3b62
            cuda_architectures = [87, 90, 100, 103, 110, 120, 121]
#@ end
#@ since 16f7cf41
            cuda_architectures = [90, 100, 103, 110, 120, 121]
#@ end
    else:
#@ only 119c26f2 55b14897
        cuda_architectures = [80, 86, 89, 90, 100, 101, 120]
        if cuda_version >= Version('12.9'):
            cuda_architectures += [103, 121]
#@ end
#@ only 947e2267
        cuda_architectures = [80, 86, 89, 90, 100, 120]
        if cuda_version >= Version('12.9'):
            cuda_architectures += [103, 121]
#@ end
#@ only c6bf3b62
        cuda_architectures = [80, 86, 89, 90, 100, 103, 110, 120, 121]
        if cuda_version >= Version('13.0'):
            cuda_architectures += [103, 110, 121]
#@ end
#@ since 16f7cf41
        cuda_architectures = [80, 90, 100, 120]
        if cuda_version >= Version('13.0'):
            cuda_architectures += [103, 110, 121]
#@ end
#@ end

    if format == list:
        return cuda_architectures
    elif format == str:
        return ';'.join([f'{x / 10:.1f}' for x in cuda_architectures])
    raise ValueError(f"get_cuda_arch() expected format=list or str (was {format})")


def get_l4t_base(l4t_version=None):
    """
    The image a build starts FROM (jetson_containers/l4t_version.py @2262004f get_l4t_base(), the same
    choice through @3aef85cf): Ubuntu on r36 and later, l4t-jetpack on r34/r35, l4t-base on r32.
    """
    if not l4t_version:
        l4t_version = get_l4t_version()

    if l4t_version.major >= 36:
        return f"ubuntu:{LSB_RELEASE}"
    elif l4t_version.major >= 34:
        if l4t_version >= Version('35.4.1'):
            return "nvcr.io/nvidia/l4t-jetpack:r35.4.1"
        return f"nvcr.io/nvidia/l4t-jetpack:r{l4t_version}"
    elif l4t_version >= Version('32.7.1'):
        return "nvcr.io/nvidia/l4t-base:r32.7.1"
    return f"nvcr.io/nvidia/l4t-base:r{l4t_version}"


def l4t_version_from_tag(tag):
    """
    The L4T version a container tag names: its first '-' or '_' separated part that is `r` and a valid
    version (`r36.4.0` in `0.4.0-r36.4.0`; `r36.4.tegra` is not one), else None
    (jetson_containers/l4t_version.py @2262004f l4t_version_from_tag(), the same through @3aef85cf)
    """
    for part in re.split('-|_', tag.split(':')[-1]):
        if not part or part[0] not in 'rR':
            continue
        try:
            return Version(part[1:])
        except ValueError:
            continue
    return None


def l4t_version_compatible(l4t_version, l4t_version_host=None, **kwargs):
    """
    Can this board (L4T_VERSION_HOST) run a container built for L4T_VERSION?
    (jetson_containers/l4t_version.py l4t_version_compatible() at each commit)
    """
    if not l4t_version:
        return False

    if not l4t_version_host:
        l4t_version_host = get_l4t_version()

    if not isinstance(l4t_version, Version):
        l4t_version = Version(l4t_version)
#@ since 119c26f2

    if l4t_version_host.major == 38:  # JetPack 7 runs any container (@119c26f2)
        return True
#@ end

    if l4t_version_host.major == 36:  # JetPack 6: 6.0 (36.2/36.3) and 6.1+ (36.4+) do not mix
        if l4t_version.major == 36:
            if l4t_version.minor < 4 and l4t_version_host.minor < 4:
                return True
            elif l4t_version.minor >= 4 and l4t_version_host.minor >= 4:
                return True
    elif l4t_version_host.major == 35:  # JetPack 5.1 runs the other 5.1.x containers
        if l4t_version.major == 35:
            return True
    elif l4t_version_host.major == 34:  # JetPack 5.0
        if l4t_version.major == 34:
            return True
    elif l4t_version_host >= Version('32.7'):  # JetPack 4.6.1+
        if l4t_version >= Version('32.7'):
            return True

    return l4t_version == l4t_version_host


def get_lsb_release():
    """
#@ before 119c26f2
    (LSB_RELEASE, LSB_CODENAME): $LSB_RELEASE, else `lsb_release -rs`; `lsb_release -cs`
    (jetson_containers/l4t_version.py @2262004f get_lsb_release(); both are asked either way)
#@ end
#@ only 119c26f2 55b14897
    LSB_RELEASE: $LSB_RELEASE, else 24.04 on x86_64, else `lsb_release -rs` (asked either way)
    (jetson_containers/l4t_version.py @119c26f2 get_lsb_release())
#@ end
#@ since 947e2267
    LSB_RELEASE: $LSB_RELEASE, else 24.04 on x86 and SBSA, else the board's `lsb_release -rs` (asked
    either way) (jetson_containers/l4t_version.py @947e2267 get_lsb_release(), the same @16f7cf41)
#@ end
    """
    def lsb(type):
        return subprocess.run(['lsb_release', f'-{type}s'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=True).stdout.strip()

#@ before 119c26f2
    return (os.environ.get('LSB_RELEASE', lsb('r')), lsb('c'))
#@ end
#@ only 119c26f2 55b14897
    return os.environ.get('LSB_RELEASE', '24.04' if SYSTEM_ARCH == 'x86_64' else lsb('r'))
#@ end
#@ since 947e2267
    return os.environ.get('LSB_RELEASE', '24.04' if SYSTEM_X86 or IS_SBSA else lsb('r'))
#@ end


LSB_RELEASES = {
    '16.04': 'xenial',
    '18.04': 'bionic',
    '20.04': 'focal',
    '22.04': 'jammy',
    '24.04': 'noble',
#@ since 119c26f2
    '26.04': '',
#@ end
}

DEFAULT_PYTHON_VERSIONS = {
    '18.04': Version('3.6'),
    '20.04': Version('3.8'),
    '22.04': Version('3.10'),
    '24.04': Version('3.12'),
#@ since 119c26f2
    '26.04': Version('3.14'),
#@ end
}


def get_python_version():
    """PYTHON_VERSION: $PYTHON_VERSION, else the Ubuntu release's, else this python's"""
    if len(os.environ.get('PYTHON_VERSION', '')) > 0:
        return Version(os.environ['PYTHON_VERSION'])
    elif LSB_RELEASE in DEFAULT_PYTHON_VERSIONS:
        return DEFAULT_PYTHON_VERSIONS[LSB_RELEASE]
    return Version(f'{sys.version_info.major}.{sys.version_info.minor}')
#@ since 119c26f2


TEGRA = 'tegra'

#@ before 947e2267
DOCKER_ARCHS = {
#@ else
CUDA_ARCHS = {
#@ end
    'tegra-aarch64': 'arm64',
    'aarch64': 'arm64',
    'x86_64': 'amd64',
}


def _get_platform_architecture():
    """
#@ before c6bf3b62
    'tegra-aarch64' on an aarch64 board whose `uname -a` names a tegra kernel, else the machine
    (jetson_containers/l4t_version.py @119c26f2, the same @947e2267)
#@ else
    On aarch64: 'tegra-aarch64' when nvidia-smi's GPU name has "nvgpu" (a Jetson's integrated GPU,
    "Orin (nvgpu)") or when nvidia-smi cannot answer (JetPack 5 has none), else 'aarch64' (SBSA, e.g.
    "NVIDIA Thor"); $CUDA_ARCH overrides (jetson_containers/l4t_version.py @c6bf3b62)
#@ end
#@ since 16f7cf41
    nvidia-smi gets 10 seconds (jetson_containers/l4t_version.py @16f7cf41)
#@ end
    """
    host_arch = _machine()

    if host_arch == 'aarch64':
#@ before c6bf3b62
        try:
            if TEGRA in subprocess.check_output(['uname', '-a'], encoding='utf-8'):
                return f'{TEGRA}-{host_arch}'
        except Exception as error:
            print(f"[warn] Failed to run uname: {error}")

    return host_arch
#@ else
        try:
            gpu_names = subprocess.check_output(
                ['nvidia-smi', '--query-gpu=name', '--format=csv,noheader'], encoding='utf-8',
#@ since 16f7cf41
                timeout=10,
#@ end
            )
            if 'nvgpu' not in gpu_names:
                return os.environ.get('CUDA_ARCH', host_arch)
            return os.environ.get('CUDA_ARCH', f'{TEGRA}-{host_arch}')
#@ since 16f7cf41
        except subprocess.TimeoutExpired:
            raise RuntimeError("nvidia-smi command timed out after 10 seconds. "
                               "If this happens on your runner, please consider disabling this runner.")
#@ end
        except Exception:
            return os.environ.get('CUDA_ARCH', f'{TEGRA}-{host_arch}')

    return os.environ.get('CUDA_ARCH', host_arch)
#@ end


# cpu architecture
#@ before 947e2267
SYSTEM_ARCH_TYPE = os.environ.get('SYSTEM_ARCH', _get_platform_architecture())  # (@119c26f2)
#@ end
#@ only 947e2267
CUDA_ARCH = os.environ.get('SYSTEM_ARCH', _get_platform_architecture())  # renamed (@947e2267)
#@ end
#@ since c6bf3b62
CUDA_ARCH = os.environ.get('CUDA_ARCH', _get_platform_architecture())  # (@c6bf3b62)
#@ end
SYSTEM_ARCH = os.environ.get('SYSTEM_ARCH', _machine())  # tegra and SBSA are both aarch64
#@ before 947e2267
DOCKER_ARCH = DOCKER_ARCHS[SYSTEM_ARCH]

SYSTEM_ARM = SYSTEM_ARCH_TYPE in ('aarch64', 'tegra-aarch64')
SYSTEM_X86 = SYSTEM_ARCH_TYPE == 'x86_64'
IS_TEGRA = SYSTEM_ARCH_TYPE == 'tegra-aarch64'
IS_SBSA = SYSTEM_ARCH_TYPE == 'aarch64'
#@ else
DOCKER_ARCH = CUDA_ARCHS[SYSTEM_ARCH]

SYSTEM_ARM = CUDA_ARCH in ('aarch64', 'tegra-aarch64')
SYSTEM_X86 = CUDA_ARCH == 'x86_64'
IS_TEGRA = CUDA_ARCH == 'tegra-aarch64'
IS_SBSA = CUDA_ARCH == 'aarch64'
#@ end

# os/jetpack/cuda versions
LSB_RELEASE = get_lsb_release()
L4T_VERSION = get_l4t_version()
JETPACK_VERSION = get_jetpack_version()
PYTHON_VERSION = get_python_version()
CUDA_VERSION = get_cuda_version()
CUDA_SHORT_VERSION = cuda_short_version()
CUDA_ARCHITECTURES = get_cuda_arch()
#@ else


# os/jetpack/cuda versions (@2262004f: in this order, the architecture last)
LSB_RELEASE, LSB_CODENAME = get_lsb_release()
L4T_VERSION = get_l4t_version()
JETPACK_VERSION = get_jetpack_version()
CUDA_VERSION = get_cuda_version()
CUDA_ARCHITECTURES = get_cuda_arch()

SYSTEM_ARCH = _machine()  # x86_64, aarch64
PYTHON_VERSION = get_python_version()
#@ end
