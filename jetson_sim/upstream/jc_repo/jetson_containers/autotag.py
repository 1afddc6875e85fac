"""autotag: find a container image for a package, locally, from the dustynv registry, or by building.

As recorded (facts file section 4): local images match by name only with no L4T check, first match
wins; registry images are filtered for L4T compatibility; without -q it prompts `[Y/n]` on stdin (so
it hangs over non-interactive SSH). Logs go to stderr, the image to stdout, exit 127 when none.
"""

import argparse
import os
import sys

from .docker import docker
from .l4t_version import board, describe, l4t_version_compatible, l4t_version_from_tag, parse

# Docker Hub `dustynv/ollama` tags (facts section 4, in the order recorded there). Upstream asks the
# Docker Hub API, which the offline boards cannot; this list stands in for its answer.
REGISTRY = {"ollama": ("r35.4.1", "r36.2.0", "r36.3.0", "0.4.0-r36.4.0", "0.5.7-r36.4.0", "r36.4.3",
                       "r36.4.0", "0.6.8-r36.4-cu126-22.04")}


def log(*args, end="\n") -> None:
    print(*args, end=end, flush=True)  # stdout is the log (stderr) while autotag runs, see main()


def query_yes_no(question: str, default: str) -> bool:
    """Upstream's prompt; it blocks on an open but silent stdin, and a closed one is an error."""
    valid = {"yes": True, "y": True, "ye": True, "no": False, "n": False}
    while True:
        log(question + (" [Y/n] " if default == "yes" else " [y/N] "), end="")
        try:
            choice = input().lower()
        except EOFError:
            sys.exit("EOFError: EOF when reading a line")
        if choice == "":
            return valid[default]
        if choice in valid:
            return valid[choice]
        log("Please respond with 'yes' or 'no' (or 'y' or 'n').")


def sources(text: str) -> list[str]:
    return text.replace(";", ",").replace(":", ",").split(",")


def split_name(package: str) -> tuple[str, str]:
    repo, _, wanted = package.partition(":")
    return repo.split("/")[-1], wanted


def find_local(package: str) -> list[str]:
    """`docker images` lists the newest first; match the repository's last part, and the tag if given."""
    result = docker("images", "--format", "{{.Repository}}:{{.Tag}}", capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        sys.exit("-- Error:  `docker images` failed")
    repo, wanted = split_name(package)
    found = []
    for line in result.stdout.split():
        name, _, image_tag = line.rpartition(":")
        if name.split("/")[-1] == repo and image_tag != "<none>" and wanted in ("", image_tag):
            found.append(line)
    return found


def find_registry(package: str, host_l4t: str, user: str) -> list[str]:
    """Compatible dustynv tags. An exact L4T match comes first (our choice: the registry's own order
    is by push date, which the offline list does not know), then the rest in the recorded order."""
    repo, wanted = split_name(package)
    host = parse(host_l4t)
    tags = [t for t in REGISTRY.get(repo, ()) if wanted in ("", t) or t.startswith(wanted + "-")]
    tags = [t for t in tags if l4t_version_compatible(l4t_version_from_tag(t), host)]
    tags.sort(key=lambda t: l4t_version_from_tag(t) != host)
    return [f"{user}/{repo}:{t}" for t in tags]


def find_container(package: str, info: dict, prefer: list[str], disable: list[str], user: str, quiet: bool):
    for source in prefer:
        if source in disable:
            continue
        if source == "local":
            local = find_local(package)
            if local:
                return local[0]
        elif source == "registry":
            registry = find_registry(package, info["l4t"], user)
            # upstream shows the push date and size from Docker Hub here, which offline we cannot
            if registry and (quiet or query_yes_no(
                    f"\nFound compatible container {registry[0]} (dustynv on Docker Hub) - would you like to pull it?",
                    default="yes")):
                return registry[0]
        elif source == "build":
            if not quiet and query_yes_no(
                    f"\nCouldn't find a compatible container for {package}, would you like to build it?", default="no"):
                from .build import build
                return build(package, "", set())
    return None


def main() -> None:
    parser = argparse.ArgumentParser(prog="autotag")
    parser.add_argument("packages", nargs="*", help="package(s) to run")
    parser.add_argument("-p", "--prefer", default="local,registry,build", help="source preferences")
    parser.add_argument("-d", "--disable", default="", help="sources to disable (local,registry,build)")
    parser.add_argument("-u", "--user", default="dustynv", help="the Docker Hub user for registry images")
    parser.add_argument("-q", "--quiet", action="store_true", help="no prompts: the unattended defaults")
    args = parser.parse_args()

    # as upstream's wrapper (python's stdout >&2): every log, prompt and build goes to stderr,
    # only the chosen image to the real stdout
    image_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    info = board()
    log(describe(info))
    if not args.packages:
        log("-- Error:  no packages were specified")
        sys.exit(127)
    log(f"-- Finding compatible container image for {args.packages}")
    image = find_container(args.packages[0], info, sources(args.prefer), sources(args.disable), args.user, args.quiet)
    if not image:
        log(f"-- Error:  couldn't find a compatible container image for '{args.packages[0]}'")
        sys.exit(127)
    log(image)
    image_out.write(image + "\n")
    image_out.flush()


if __name__ == "__main__":
    main()
