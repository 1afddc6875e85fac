"""`jetson-containers build|list|show`: build the ollama package with a real `docker build`.

Names follow this revision's tag rules (tag.py, facts file section 4); as upstream's container.py the
stage `<name>-ollama` is built, tested, then tagged `<name>`, so a failed test leaves only the stage tag.
"""

import argparse
import importlib.util
import os
import subprocess
import sys

from . import tag
from .docker import docker, require_daemon
from .l4t_version import board, describe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = {"ollama": os.path.join(ROOT, "packages", "llm", "ollama")}


def load_package(name: str):
    if name not in PACKAGES:
        sys.exit(f"-- Error:  couldn't find package:  {name}")
    spec = importlib.util.spec_from_file_location(f"package_{name}", os.path.join(PACKAGES[name], "config.py"))
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    config.PATH = PACKAGES[name]
    return config


def resolve(package: str) -> tuple[object, str]:
    """`ollama:0.6.8` -> (its config, "0.6.8"); plain `ollama` is the default version."""
    name, _, version = package.partition(":")
    config = load_package(name)
    if version and version not in config.VERSIONS:
        sys.exit(f"-- Error:  couldn't find package:  {package}")
    return config, version or config.DEFAULT_VERSION


def names(package: str, info: dict, name: str = "") -> tuple[str, str]:
    image = tag.image_name(package, tag.postfix(info["l4t"], info["cuda"], info["ubuntu"]), name)
    return image, tag.stage_name(image, package)


def run_test(config, image: str) -> None:
    print(f"-- Testing container {image} ({config.NAME}/{config.TEST})", flush=True)
    result = subprocess.run([sys.executable, os.path.join(config.PATH, config.TEST), config.TEST_MODEL])
    if result.returncode != 0:
        sys.exit(f"-- Error:  test {config.NAME}/{config.TEST} failed on {image} (return code {result.returncode})")


def build(package: str, name: str, skip_tests: set[str]) -> str:
    config, version = resolve(package)
    info = board()
    image, stage = names(package, info, name)
    print(describe(info))
    print(f"-- Building containers  ['{package}']")
    require_daemon()
    cmd = ["build", "--network=host", "--tag", stage,
           "--file", os.path.join(config.PATH, config.DOCKERFILE),
           "--build-arg", f"BASE_IMAGE=ubuntu:{info['ubuntu']}",
           "--build-arg", f"OLLAMA_VERSION={version}", config.PATH]
    print(f"-- Building container {stage}\n\ndocker {' '.join(cmd)}\n", flush=True)
    if docker(*cmd).returncode != 0:
        sys.exit(f"-- Error:  failed to build {stage}")
    testing = not skip_tests & {"all", config.NAME}
    if testing and "intermediate" not in skip_tests:
        run_test(config, stage)
    print(f"-- Tagging container {stage} -> {image}", flush=True)
    if docker("tag", stage, image).returncode != 0:
        sys.exit(f"-- Error:  failed to tag {image}")
    if testing and "intermediate" in skip_tests:
        run_test(config, image)
    print(f"-- Done building container {image}")
    return image


def show(package: str) -> None:
    config, version = resolve(package)
    info = board()
    image, stage = names(package, info)
    print(describe(info))
    for key, value in (("name", package), ("group", config.GROUP), ("path", config.PATH),
                       ("dockerfile", config.DOCKERFILE), ("version", version),
                       ("versions", " ".join(config.VERSIONS)), ("test", config.TEST),
                       ("image", image), ("stage", stage)):
        print(f"  {key + ':':12} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="jetson-containers build")
    parser.add_argument("packages", nargs="*", help="package to build, e.g. ollama or ollama:0.6.8")
    parser.add_argument("--name", default="", help="name of the image to build (default: the package)")
    parser.add_argument("--skip-tests", default="", help="comma-separated: all, intermediate, or package names")
    parser.add_argument("--list-packages", action="store_true", help="list the known packages")
    parser.add_argument("--show-packages", action="store_true", help="show package info and the image name")
    args = parser.parse_args()

    if args.list_packages:
        for name in PACKAGES:
            config = load_package(name)
            print(name, *(f"{name}:{version}" for version in config.VERSIONS), sep="\n")
        return
    if not args.packages:
        parser.error("no packages were specified")
    if args.show_packages:
        for package in args.packages:
            show(package)
        return
    if len(args.packages) > 1:  # upstream chains them into one image; only ollama exists here
        sys.exit("-- Error:  the simulated jetson-containers builds one package at a time")
    skip = {part.strip() for part in args.skip_tests.replace(";", ",").split(",") if part.strip()}
    build(args.packages[0], args.name, skip)


if __name__ == "__main__":
    main()
