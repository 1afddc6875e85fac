#!/usr/bin/env python3
# SIMULATED jetson-containers: build a package's container with a real `docker build`, and find a
# container image for a package (autotag), as dusty-nv/jetson-containers jetson_containers/container.py
# does at the upstream commit this one stands for.
#
# Reduced: one package per build (upstream chains the package's dependencies as build stages first;
# the simulated repository has no packages but ollama), and the package's test runs on the board, not
# in the container (it checks that the board reaches registry.ollama.ai, which is what decides it).
import datetime
import os
import subprocess
import sys
import time

from .l4t_version import L4T_VERSION, JETPACK_VERSION, CUDA_VERSION, LSB_RELEASE, get_l4t_base, \
    l4t_version_compatible, l4t_version_from_tag
from .packages import find_package
from .utils import docker, query_yes_no, require_daemon

# Docker Hub's `dustynv/ollama` tags, in the order recorded for the project. Upstream asks the Docker
# Hub API, which the offline boards cannot; this list stands in for its answer.
_REGISTRY = {"ollama": ("r35.4.1", "r36.2.0", "r36.3.0", "0.4.0-r36.4.0", "0.5.7-r36.4.0", "r36.4.3",
                        "r36.4.0", "0.6.8-r36.4-cu126-22.04")}


# SIMULATOR: seconds each dependency stage of a build takes, from this board file (absent: 0). A real
# build of ollama chains its dependencies as stages and takes minutes (13 on an Orin Nano); the tests
# that watch a build's progress write the file, the others build at once.
STAGE_SECONDS = "/etc/jetson-sim/build-stage-seconds"


def stage_seconds():
    try:
        with open(STAGE_SECONDS) as f:
            return max(0.0, float(f.read().strip() or 0))
    except (OSError, ValueError):
        return 0.0


def format_time_minutes(seconds):
    """mm:ss as jetson_containers/container.py format_time_minutes @16f7cf41: `01m05s`"""
    minutes, seconds = int(seconds // 60), int(seconds % 60)
    return f"{minutes:02d}m{seconds:02d}s" if minutes < 100 else f"{minutes}m{seconds:02d}s"


def log_stage(idx, count, package, container_name, started):
    """The status line of each stage, as build_container @16f7cf41 prints it through log_status (without
    the terminal status bar and colours, which need a terminal): `[14:02:03] [2/9] Building cuda (...)
    1 stages completed in 00m41s at 14:02:03`"""
    now = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{now}] [{idx + 1}/{count}] Building {package} ({container_name})  "
          f"{idx} stages completed in {format_time_minutes(time.time() - started)} at {now}", flush=True)


def log_versions():
    print(f"-- L4T_VERSION={L4T_VERSION}  JETPACK_VERSION={JETPACK_VERSION}  CUDA_VERSION={CUDA_VERSION}  "
          f"LSB_RELEASE={LSB_RELEASE}", flush=True)


def container_names(package, name=''):
    """
    (image, stage) that `build PACKAGE [--name NAME]` tags (jetson_containers/container.py
    build_container() @2262004f, the same through @3aef85cf): the name is the package asked for (or
    NAME; a NAME ending in / is a namespace), the package's prefix goes first in the tag, its postfix
    after ':' when the name has no tag yet, else after '-': `ollama` -> `ollama:<postfix>`,
    `ollama:0.11.8` -> `ollama:0.11.8-<postfix>`. The build stage is tagged
    `<name>-<package with ':' as '_'>`: `ollama:0.11.8-<postfix>-ollama_0.11.8`.
    """
    if len(name) == 0:
        name = package
    elif name.find(':') < 0 and name[-1] == '/':
        name += package

    pkg = find_package(package)
    prefix = pkg.get('prefix', '')
    postfix = pkg.get('postfix', '')
    tag_idx = name.find(':')

    if prefix:
        if tag_idx >= 0:
            name = name[:tag_idx + 1] + prefix + '-' + name[tag_idx + 1:]
        else:
            name = name + ':' + prefix

    if postfix:
        name += f"{':' if tag_idx < 0 else '-'}{postfix}"

    return name, f"{name}-{package.replace(':', '_')}"


def build_container(name='', packages=[], base='', build_args=None, skip_tests=[], **kwargs):
    """Build PACKAGES (here: one) into the image NAME (default: named from the package); returns the name"""
    if isinstance(packages, str):
        packages = [packages]
    if len(packages) == 0:
        raise ValueError("must specify at least one package to build")
    if len(packages) > 1:  # upstream chains them into one image; only ollama exists here
        sys.exit("-- Error:  the simulated jetson-containers builds one package at a time")

    package = packages[-1]
    try:
        pkg = find_package(package)
        name, container_name = container_names(package, name)
    except KeyError as error:
        sys.exit(f"-- Error:  {error.args[0]}")

    if not base:
        base = get_l4t_base()
    if not base.startswith('ubuntu:'):
        # SIMULATOR: the simulated registry mirror serves Ubuntu only; upstream's l4t-jetpack base of
        # r34/r35 is replaced by the board's Ubuntu release
        base = f"ubuntu:{LSB_RELEASE}"

    log_versions()
    print(f"-- Building containers  {packages}", flush=True)
    require_daemon()

    cmd = ["build", "--network=host",
#@ since 16f7cf41
           "--shm-size=8g",
#@ end
           "--tag", container_name,
           "--file", os.path.join(pkg['path'], pkg['dockerfile']),
           "--build-arg", f"BASE_IMAGE={base}"]
    for key, value in pkg.get('build_args', {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    cmd.append(pkg['path'])

#@ since 16f7cf41
    # upstream builds each dependency as a stage before the package (container.py build_container
    # @16f7cf41): here each one only takes its STAGE_SECONDS, and the package is the last stage
    started = time.time()
    stages = [dep for dep in pkg.get('depends', []) if dep != package] + [package]
    for idx, dep in enumerate(stages[:-1]):
        log_stage(idx, len(stages), dep, f"{name}-{dep.replace(':', '_')}", started)
        time.sleep(stage_seconds())
    # log_block(f"> BUILDING  {container_name}", cmd) @16f7cf41, without its grid, before the status line
    print(f"> BUILDING  {container_name}\n\nDOCKER_BUILDKIT=0 docker {' '.join(cmd)}\n", flush=True)
    log_stage(len(stages) - 1, len(stages), package, container_name, started)
#@ else
    # the legacy builder, as upstream (DOCKER_BUILDKIT=0 docker build ...)
    print(f"-- Building container {container_name}\n\nDOCKER_BUILDKIT=0 docker {' '.join(cmd)}\n", flush=True)
#@ end
    if docker(*cmd, env={"DOCKER_BUILDKIT": "0"}).returncode != 0:
        sys.exit(f"-- Error:  failed to build {container_name}")

    testing = 'all' not in skip_tests and package not in skip_tests and pkg['name'] not in skip_tests
    if testing and 'intermediate' not in skip_tests:
        test_container(container_name, pkg)

    tag_container(container_name, name)

    if testing and 'intermediate' in skip_tests:  # the final image instead of the build stage
        test_container(name, pkg)

    print(f"-- Done building container {name}", flush=True)
    return name


def tag_container(source, target):
    print(f"-- Tagging container {source} -> {target}", flush=True)
    if docker("tag", source, target).returncode != 0:
        sys.exit(f"-- Error:  failed to tag {target}")


def test_container(name, package):
    """Run the package's tests (here on the board, see above); exit when one fails"""
    for test in package.get('test', []):
        print(f"-- Testing container {name} ({package['name']}/{test})", flush=True)
        result = subprocess.run([sys.executable, os.path.join(package['path'], test)])
        if result.returncode != 0:
            sys.exit(f"-- Error:  test {package['name']}/{test} failed on {name} (return code {result.returncode})")


def split_container_name(name):
    """(namespace, repo, tag) of `dustynv/ollama:r36.2.0`"""
    repo, _, tag = name.partition(':')
    namespace, _, repo = repo.rpartition('/')
    return namespace, repo, tag


def find_local_containers(package, **kwargs):
    """
    Local images of PACKAGE's repository, newest first (as `docker images` lists them): by repository
    name only, no L4T check; a tag, when given, matches itself or `<tag>-...`
    (jetson_containers/container.py find_local_containers())
    """
    result = docker("images", "--format", "{{.Repository}}:{{.Tag}}", capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        sys.exit("-- Error:  `docker images` failed")

    namespace, repo, tag = split_container_name(package)
    found = []
    for line in result.stdout.split():
        image_repo, _, image_tag = line.rpartition(':')
        if image_tag == '<none>':
            continue
        if (image_repo != f'{namespace}/{repo}') if namespace else (image_repo.split('/')[-1] != repo):
            continue
        if tag and tag != image_tag and not image_tag.startswith(tag + '-'):
            continue
        found.append(line)
    return found


def find_registry_containers(package, user='dustynv', **kwargs):
    """
    USER's registry images of PACKAGE that this board can run (l4t_version_compatible() of the L4T in
    each tag; jetson_containers/container.py find_registry_containers()). An exact L4T match comes
    first (our choice: Docker Hub's own order is by push date, which the offline list does not know),
    then the rest in the recorded order.
    """
    namespace, repo, tag = split_container_name(package)
    tags = [t for t in _REGISTRY.get(repo, ()) if not tag or t == tag or t.startswith(tag + '-')]
    tags = [t for t in tags if l4t_version_compatible(l4t_version_from_tag(t))]
    tags.sort(key=lambda t: l4t_version_from_tag(t) != L4T_VERSION)
    return [f"{user}/{repo}:{t}" for t in tags]


def find_container(package, prefer_sources=['local', 'registry', 'build'], disable_sources=[], quiet=True,
                   user='dustynv', **kwargs):
    """A local or registry image for PACKAGE, or one built for it (jetson_containers/container.py find_container())"""
    for source in prefer_sources:
        if source in disable_sources:
            continue

        if source == 'local':
            local_images = find_local_containers(package)
            if len(local_images) > 0:
                return local_images[0]

        elif source == 'registry':
            registry_images = find_registry_containers(package, user=user)
            # upstream shows the push date and size from Docker Hub here, which offline we cannot
            if len(registry_images) > 0 and (quiet or query_yes_no(
                    f"\nFound compatible container {registry_images[0]} ({user} on Docker Hub) - "
                    f"would you like to pull it?", default="yes")):
                return registry_images[0]

        elif source == 'build':
            if not quiet and query_yes_no(
                    f"\nCouldn't find a compatible container for {package}, would you like to build it?",
                    default="no"):
                return build_container('', package)

    return None
