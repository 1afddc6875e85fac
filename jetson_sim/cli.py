"""python -m jetson_sim: bring simulated Jetson boards up and down, and do to them what hardware does."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import base
from .fleet import Fleet, SimError
from .profiles import list_profiles


def _profiles(value: str) -> list[str]:
    """`a,b` cycles through profiles; `a:2,b:1` gives counts."""
    out = []
    for item in value.split(","):
        name, _, count = item.partition(":")
        out += [name.strip()] * (int(count) if count else 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jetson_sim", description=__doc__)
    parser.add_argument("--fleet", default=os.environ.get("JETSON_SIM_FLEET", "sim"),
                        help="fleet name (default: $JETSON_SIM_FLEET or 'sim')")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("up", help="start N more boards")
    p.add_argument("--boards", type=int, default=1)
    p.add_argument("--profile", type=_profiles, default=["orin-nano-8gb-r36.2.0"],
                   help="profile, or a comma list cycled over the boards (name:count also works)")
    p.add_argument("--no-docker", action="store_true", help="leave dockerd off (light boards)")
    p.add_argument("--prefix", default="board", help="board names are PREFIX1, PREFIX2, ...")

    p = sub.add_parser("down", help="tear boards down (all of them, and the fleet, by default)")
    p.add_argument("names", nargs="*")

    sub.add_parser("status", help="list the boards")
    sub.add_parser("profiles", help="list the board profiles")
    sub.add_parser("base", help="build the cached base image now")

    p = sub.add_parser("reboot", help="power-cycle a board: processes die, the disk stays")
    p.add_argument("name")

    p = sub.add_parser("partition", help="cut or restore a board's network link")
    p.add_argument("name")
    p.add_argument("state", choices=["on", "off"])

    p = sub.add_parser("internet", help="cut a board from the fleet's upstream services (off) or give them back "
                                        "(on); SSH from the controller keeps working")
    p.add_argument("name")
    p.add_argument("state", choices=["on", "off"])

    p = sub.add_parser("exec", help="run a command inside a board, without SSH")
    p.add_argument("name")
    p.add_argument("command", nargs=argparse.REMAINDER)

    p = sub.add_parser("fill-disk", help="fill a board's disk to the last byte (or --release it)")
    p.add_argument("name")
    p.add_argument("--release", action="store_true")

    args = parser.parse_args(argv)
    if args.cmd == "profiles":
        print("\n".join(list_profiles()))
        return 0
    if os.geteuid() != 0:
        print("jetson_sim: simulated boards need root (namespaces, mounts, cgroups)", file=sys.stderr)
        return 2
    fleet = Fleet.load(args.fleet)
    try:
        if args.cmd == "base":
            print(base.ensure_base())
        elif args.cmd == "up":
            for board in fleet.up(args.boards, args.profile, docker=not args.no_docker, prefix=args.prefix):
                print(f"{board.name}\t{board.ip}\t{board.profile}")
        elif args.cmd == "down":
            fleet.down(args.names or None)
        elif args.cmd == "status":
            rows = fleet.status()
            if not sys.stdout.isatty():
                print(json.dumps(rows))
            for r in rows if sys.stdout.isatty() else []:
                print(f"{r['name']:<10} {r['ip']:<15} {r['state']:<12} ssh={'yes' if r['ssh'] else 'no':<4} "
                      f"internet={'on' if r['internet'] else 'off':<4} {r['profile']}")
        elif args.cmd == "reboot":
            fleet.reboot(fleet.board(args.name))
        elif args.cmd == "partition":
            fleet.partition(fleet.board(args.name), args.state == "on")
        elif args.cmd == "internet":
            fleet.internet(fleet.board(args.name), args.state == "on")
        elif args.cmd == "exec":
            cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
            proc = fleet.exec(fleet.board(args.name), *(cmd or ["/bin/bash", "-l"]), check=False, capture=False)
            return proc.returncode
        elif args.cmd == "fill-disk":
            print(fleet.fill_disk(fleet.board(args.name), release=args.release), end="")
    except (SimError, ValueError) as exc:
        print(f"jetson_sim: {exc}", file=sys.stderr)
        return 1
    return 0
