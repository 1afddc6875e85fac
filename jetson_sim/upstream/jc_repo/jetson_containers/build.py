#!/usr/bin/env python3
# SIMULATED jetson-containers: `jetson-containers build|list|show`, as dusty-nv/jetson-containers
# jetson_containers/build.py: build a package's container (a real `docker build`), list the packages
# found, or show a package's configuration.
#
#   jetson-containers build --skip-tests=all ollama          # the default version, image ollama:<postfix>
#   jetson-containers build ollama:0.11.8                    # image ollama:0.11.8-<postfix>
#   jetson-containers show ollama                            # the default package, with its postfix
#   jetson-containers list
import argparse
import pprint
import re
import sys

from jetson_containers import build_container, find_packages, log_versions


def main():
    parser = argparse.ArgumentParser(prog="jetson-containers build")
    parser.add_argument('packages', type=str, nargs='*', default=[], help="packages to build, e.g. ollama or ollama:0.11.8")
    parser.add_argument('--name', type=str, default='', help="the name of the output container (a trailing / is a namespace)")
    parser.add_argument('--base', type=str, default='', help="the base container (default: the L4T release's)")
    parser.add_argument('--build-args', type=str, default='', help="more --build-arg, as key1:value1,key2:value2")
    parser.add_argument('--list-packages', action='store_true', help="list the packages found")
    parser.add_argument('--show-packages', action='store_true', help="show the configuration of the packages")
    parser.add_argument('--skip-tests', type=str, default='', help="comma-separated package tests to skip ('intermediate', 'all')")
    args = parser.parse_args()

    skip_tests = [x for x in re.split(',|;|:', args.skip_tests) if x]

    if args.list_packages or args.show_packages:
        try:
            packages = find_packages(args.packages)
        except KeyError as error:
            sys.exit(f"-- Error:  {error.args[0]}")
        if args.list_packages:
            for package in sorted(packages.keys()):
                print(package)
        if args.show_packages:
            log_versions()
            for key in sorted(packages.keys()):
                fmt = pprint.pformat(packages[key], indent=2)[1:-1].replace('\n', '\n  ')
                print(f"\n> {key}\n\n   {fmt}")
        return

    if not args.packages:
        parser.error("no packages were specified")

    build_args = dict(pair.split(':', 1) for pair in args.build_args.split(',')) if args.build_args else {}
    build_container(args.name, args.packages, base=args.base, build_args=build_args, skip_tests=skip_tests)


if __name__ == "__main__":
    main()
