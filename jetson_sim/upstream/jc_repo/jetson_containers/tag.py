#!/usr/bin/env python3
# SIMULATED jetson-containers autotag: find a container image compatible with the requested package,
# locally, from the dustynv registry, or built from source, as dusty-nv/jetson-containers
# jetson_containers/tag.py (see container.py find_container()). Run by the autotag script, which sends
# what this prints to stderr and passes the image on fd 3 to its stdout; exit 127 when none.
#
#   jetson-containers run $(autotag ollama)
import argparse
import os
import re
import sys

from jetson_containers import find_container, L4T_VERSION, JETPACK_VERSION, CUDA_VERSION


def main():
    parser = argparse.ArgumentParser(prog="autotag")
    parser.add_argument('packages', type=str, nargs='*', default=[], help="package(s) to run")
    parser.add_argument('-p', '--prefer', type=str, default='local,registry,build', help="source preferences")
    parser.add_argument('-d', '--disable', type=str, default='', help="sources to disable (local,registry,build)")
    parser.add_argument('-u', '--user', type=str, default='dustynv', help="the Docker Hub user for registry images")
    parser.add_argument('-q', '--quiet', action='store_true', help="no prompts: the unattended defaults")
    args = parser.parse_args()

    try:
        image_out = os.fdopen(3, "w")  # the autotag script's stdout (see there)
    except OSError:
        image_out = sys.stdout

    print(f"-- L4T_VERSION={L4T_VERSION}  JETPACK_VERSION={JETPACK_VERSION}  CUDA_VERSION={CUDA_VERSION}")

    if len(args.packages) == 0:
        print("-- Error:  no packages were specified")
        sys.exit(127)

    print(f"-- Finding compatible container image for {args.packages}", flush=True)
    image = find_container(args.packages[0], prefer_sources=re.split(',|;|:', args.prefer),
                           disable_sources=re.split(',|;|:', args.disable), user=args.user, quiet=args.quiet)

    if not image:
        print(f"-- Error:  couldn't find a compatible container image for '{args.packages[0]}'")
        sys.exit(127)

    print(image, flush=True)
    image_out.write(image + "\n")
    image_out.flush()


if __name__ == "__main__":
    main()
