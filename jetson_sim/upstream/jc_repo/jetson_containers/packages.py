#!/usr/bin/env python3
# SIMULATED jetson-containers: find the packages under packages/ (a directory with a Dockerfile and/or
# a config.py), run their config.py, and give each package its default tag postfix, as
# dusty-nv/jetson-containers jetson_containers/packages.py does at the upstream commit this one stands
# for (each rule names the upstream commit it follows).
#
# Reduced: the simulated repository has the ollama package only, so there is no dependency resolution
# (its `depends` name packages that are not here), no JSON/YAML package configs, no threads, and the
# Dockerfile header is read without PyYAML (its flat `key: value` and `key: [a, b]` lines).
import fnmatch
import importlib.util
import os
import re
import sys

from .l4t_version import (
    L4T_VERSION, CUDA_VERSION, PYTHON_VERSION, LSB_RELEASE, Version,
#@ since 119c26f2
    DOCKER_ARCH, SYSTEM_ARM,
#@ end
#@ since 947e2267
    CUDA_ARCH,
#@ end
#@ since 3aef85cf
    IS_SBSA,
#@ end
)

_PACKAGES = {}

_PACKAGE_SCAN = False
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE_DIRS = [os.path.join(_PACKAGE_ROOT, 'packages/*')]
_PACKAGE_OPTS = {'check_l4t_version': True}
_PACKAGE_KEYS = ['alias', 'build_args', 'build_flags', 'config', 'depends', 'disabled',
                 'dockerfile', 'docs', 'group', 'name', 'notes', 'path',
                 'prefix', 'postfix', 'requires', 'test']


def package_search_dirs(package_dirs, scan=False):
    """Add directories to search for packages under (scanned now when SCAN)"""
    global _PACKAGE_DIRS

    if isinstance(package_dirs, str) and len(package_dirs) > 0:
        package_dirs = [package_dirs]

    for package_dir in package_dirs:
        if len(package_dir) > 0:
            _PACKAGE_DIRS.append(package_dir)

    if scan:
        return scan_packages(_PACKAGE_DIRS, rescan=True)


#@ before 119c26f2
def scan_packages(package_dirs=_PACKAGE_DIRS, rescan=False):
#@ else
def scan_packages(package_dirs=_PACKAGE_DIRS, rescan=False, **kwargs):
#@ end
    """
    Find packages under PACKAGE_DIRS (a list, or one directory; a path ending in * is searched
    recursively) and return the dict of every package found so far, by name, e.g.
    {'ollama:0.11.8': {'name': 'ollama:0.11.8', 'alias': ['ollama'], 'postfix': ..., 'path': ...,
    'build_args': {...}, ...}, ...} (jetson_containers/packages.py scan_packages())
    """
    global _PACKAGE_SCAN

    if _PACKAGE_SCAN and not rescan:
        return _PACKAGES

    if isinstance(package_dirs, list) and len(package_dirs) > 0:
        for path in package_dirs:
            scan_packages(path)
        _PACKAGE_SCAN = True  # all dirs have been scanned
        return _PACKAGES
    elif isinstance(package_dirs, str) and len(package_dirs) > 0:
        path = package_dirs
    else:
        raise ValueError("package_dirs should be a valid string or list")

    recursive = path[-1] == '*'
    path = path.rstrip('*').rstrip('/')

    if not os.path.isdir(path):
        print(f"-- Package dir '{path}' doesn't exist, skipping...")
        return _PACKAGES

    package = {
        'path': path,
        'requires': '>=32.6',
        'postfix': '',
        'config': [],
        'test': [],
    }

    # the default tag postfix of the packages here, e.g. `r36.4.tegra-aarch64-cu126-22.04`
    # (`jetson-containers build ollama` names its image `ollama:<postfix>`)
#@ before 119c26f2
    # r<L4T> (jetson_containers/packages.py @2262004f scan_packages())
    package['postfix'] = f'r{L4T_VERSION}'

    # CUDA and Ubuntu only when set in the environment (non-standard versions) (@2262004f)
    HAS_ENV = {x: len(os.environ.get(x, '')) > 0 for x in ['CUDA_VERSION', 'PYTHON_VERSION', 'LSB_RELEASE']}

    if HAS_ENV['CUDA_VERSION'] or HAS_ENV['LSB_RELEASE']:
        package['postfix'] += f"-cu{CUDA_VERSION.major}{CUDA_VERSION.minor}"

    if HAS_ENV['PYTHON_VERSION']:
        package['postfix'] += f"-cp{PYTHON_VERSION.major}{PYTHON_VERSION.minor}"

    if HAS_ENV['LSB_RELEASE']:
        package['postfix'] += f"-{LSB_RELEASE}"
#@ end
#@ since 119c26f2
    # the platform part: L4T on ARM, the docker arch elsewhere
    if SYSTEM_ARM:
#@ end
#@ only 119c26f2 55b14897
        if L4T_VERSION >= Version('36.4'):
            package['postfix'] = f'r{L4T_VERSION.major}.{L4T_VERSION.minor}'  # r36.4 (packages.py @119c26f2)
        else:
            package['postfix'] = f'r{L4T_VERSION}'  # r36.2.0
    else:
        package['postfix'] = DOCKER_ARCH  # amd64 (@119c26f2)
#@ end
#@ since 947e2267 before 3aef85cf
        if L4T_VERSION >= Version('36.4'):
            package['postfix'] = f'r{L4T_VERSION.major}.{L4T_VERSION.minor}.{CUDA_ARCH}'  # r36.4.tegra-aarch64 (packages.py @947e2267)
        else:
            package['postfix'] = f'r{L4T_VERSION}'  # r36.2.0
    else:
        package['postfix'] = f'{DOCKER_ARCH}.{CUDA_ARCH}'  # amd64.x86_64 (@947e2267)
#@ end
#@ since 3aef85cf
        arch_tag = 'arm64-sbsa' if IS_SBSA else CUDA_ARCH  # SBSA is tagged arm64-sbsa (packages.py @3aef85cf)

        if L4T_VERSION >= Version('36.4'):
            package['postfix'] = f'r{L4T_VERSION.major}.{L4T_VERSION.minor}.{arch_tag}'  # r36.4.tegra-aarch64, r38.2.arm64-sbsa
        else:
            package['postfix'] = f'r{L4T_VERSION}'  # r36.2.0
    else:
        package['postfix'] = f'{DOCKER_ARCH}.{CUDA_ARCH}'  # amd64.x86_64 (@947e2267)
#@ end
#@ only 119c26f2

    # CUDA and Ubuntu when set in the environment, or off ARM (packages.py @119c26f2)
    HAS_ENV = {x: len(os.environ.get(x, '')) > 0 for x in ['CUDA_VERSION', 'PYTHON_VERSION', 'LSB_RELEASE']}

    if HAS_ENV['CUDA_VERSION'] or HAS_ENV['LSB_RELEASE'] or not SYSTEM_ARM:
        package['postfix'] += f"-cu{CUDA_VERSION.major}{CUDA_VERSION.minor}"

    if HAS_ENV['PYTHON_VERSION']:
        package['postfix'] += f"-cp{PYTHON_VERSION.major}{PYTHON_VERSION.minor}"

    if HAS_ENV['LSB_RELEASE'] or not SYSTEM_ARM:
        package['postfix'] += f"-{LSB_RELEASE}"
#@ end
#@ since 55b14897

    # python when set in the environment; then CUDA and Ubuntu always (packages.py @55b14897)
    if len(os.environ.get('PYTHON_VERSION', '')) > 0:
        package['postfix'] += f"-cp{PYTHON_VERSION.major}{PYTHON_VERSION.minor}"

    package['postfix'] += f"-cu{CUDA_VERSION.major}{CUDA_VERSION.minor}"
    package['postfix'] += f"-{LSB_RELEASE}"
#@ end

    for entry in sorted(os.listdir(path)):
        entry_path = os.path.join(path, entry)

        if not entry or entry.startswith('__'):
            continue

        if os.path.isdir(entry_path) and recursive:
            scan_packages(os.path.join(entry_path, '*'))
        elif os.path.isfile(entry_path):
            if entry.lower() == 'dockerfile':
                package['dockerfile'] = entry
            elif entry in ('test.py', 'test.sh'):
                package['test'].append(entry)
            elif entry == 'config.py':
                package['config'].append(entry)

    if 'dockerfile' not in package and len(package['config']) == 0:
        return _PACKAGES  # not a package

    package_name = os.path.basename(path)

    if package_name in _PACKAGES:
        return _PACKAGES

    package['name'] = package_name

    for pkg in config_package(package):  # a config.py may make several packages (e.g. one per version)
        _PACKAGES[pkg['name']] = pkg

    return _PACKAGES


def find_package(package, required=True, scan=True):
    """
    The package whose key, name or an alias matches PACKAGE (shell-style wildcards), the first in scan
    order; KeyError("couldn't find package:  X") when none and REQUIRED (packages.py find_package())
    """
    if validate_dict(package):
        return package

    if scan:
        scan_packages()

    for key, pkg in _PACKAGES.items():
        names = [key, pkg['name']] + pkg.get('alias', [])
        if len(fnmatch.filter(names, package)) > 0:
            return pkg

    if required:
        raise KeyError(f"couldn't find package:  {package}")
    return None


def find_packages(packages, required=True, scan=True, skip=[]):
    """Every package matching one of PACKAGES (all when empty or '*'), by name (packages.py find_packages())"""
    if scan:
        scan_packages()

    if isinstance(packages, str):
        packages = [] if packages in ('*', 'all') else [packages]

    if len(packages) == 0 or not packages[0]:
        found = dict(_PACKAGES)
    else:
        found = {}
        for pattern in packages:
            matched = False
            for key, pkg in _PACKAGES.items():
                if fnmatch.filter([key, pkg['name']] + pkg.get('alias', []), pattern):
                    found[pkg['name']] = pkg
                    matched = True
            if required and not matched:
                raise KeyError(f"couldn't find package:  {pattern}")

    if isinstance(skip, str):
        skip = [skip]
    return {k: v for k, v in found.items() if not any(fnmatch.fnmatch(k, s) for s in skip if s)}


def parse_yaml_header(dockerfile):
    """The settings between the `#---` lines at the top of a Dockerfile, e.g. `# requires: '>=34.1.0'`"""
    config, inside = {}, False

    with open(dockerfile) as file:
        for line in file:
            line = line.strip()
            if line == '#---':
                if inside:
                    break
                inside = True
            elif inside and line.startswith('#'):
                key, sep, value = line[1:].strip().partition(':')
                if not sep:
                    continue
                value = value.strip()
                if value.startswith('[') and value.endswith(']'):
                    value = [item.strip().strip('\'"') for item in value[1:-1].split(',') if item.strip()]
                else:
                    value = value.strip('\'"')
                config[key.strip()] = value

    return config


def config_package(package):
    """
    Apply the Dockerfile header, then run the package's config.py with `package` (this dict) as a
    global; the package(s) are what config.py leaves in `package` (packages.py config_package())
    """
    if 'dockerfile' in package:
        package.update(validate_lists(parse_yaml_header(os.path.join(package['path'], package['dockerfile']))))

    for config_filename in package['config']:
        config_path = os.path.join(package['path'], config_filename)

        if os.path.splitext(config_filename)[1] == '.py':
            module_name = f"packages.{package['name']}.config"
            spec = importlib.util.spec_from_file_location(module_name, config_path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            module.package = package  # the package's dict as a global of config.py
            spec.loader.exec_module(module)
            package = module.package
            if package is None:  # the config disabled the package
                return []

    return validate_package(package)


def check_requirement(requires, l4t_version=L4T_VERSION, name=''):
    """
    Does this L4T meet REQUIRES, e.g. '>=34.1.0' (reduced to L4T version specifiers; upstream's
    check_requirement() also knows arch, Ubuntu and CUDA requirements)
    """
    for spec in str(requires).lower().replace('r', '').split(','):
        match = re.fullmatch(r'\s*(==|!=|>=|<=|>|<)?\s*([\d.]+)\s*', spec)
        if not match:
            raise ValueError(f"Package {name}: unsupported requirement '{requires}'")
        op, version = match[1] or '==', Version(match[2])
        if not {'==': l4t_version == version, '!=': l4t_version != version, '>=': l4t_version >= version,
                '<=': l4t_version <= version, '>': l4t_version > version, '<': l4t_version < version}[op]:
            return False
    return True


def validate_package(package):
    """The package(s) of a config, as a list, without the disabled ones and those this L4T does not meet"""
    packages = []

    if isinstance(package, tuple):
        package = list(package)

    if isinstance(package, dict):
        packages.append(package)
    elif isinstance(package, list):
        for x in package:
            if validate_dict(x):
                packages.append(x)
            else:
                packages.extend(validate_package(x))

    for pkg in packages.copy():
        validate_lists(pkg)

        if _PACKAGE_OPTS['check_l4t_version'] and not all(
                check_requirement(r, name=pkg['name']) for r in pkg['requires']):
            pkg['disabled'] = True

        if pkg.get('disabled', False):
            packages.remove(pkg)

    return packages


def validate_dict(package):
    """Is this a package's configuration dict?"""
    return isinstance(package, dict) and all(key in _PACKAGE_KEYS for key in package)


def validate_lists(package):
    """Make the entries that are lists upstream lists (an alias 'ollama' becomes ['ollama'])"""
    for key in ('alias', 'config', 'depends', 'requires', 'test'):
        if isinstance(package.get(key), str):
            package[key] = [package[key]]
    return package
