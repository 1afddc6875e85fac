"""`python -m jetson_ollama bundle INVENTORY -o site.tar`: the command that makes an offline bundle.

Reads the inventory (runner.inventory_hosts, imported only when the command runs: it monkey-patches
the process for gevent), plans and builds the bundle (build.py) and prints what it holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import lock
from ..cli import one_line_errors
from ..image_archive import ImageError
from .build import DEFAULT_WORK, build_bundle, plan_bundle, summary
from .read import BundleError


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bundle", help="fetch what an inventory's boards need into one tar, for deploys with no internet",
        description="Fetch on this machine the images, models (and native Ollama archives) the boards of INVENTORY "
                    "need, verified, into one deterministic tar; deploy with jetson_bundle set to its path.")
    parser.add_argument("inventory", nargs="?", help="pyinfra inventory file, e.g. inventories/lab.py")
    parser.add_argument("--inventory", dest="inventory_option", metavar="INVENTORY", help="the same, as an option")
    parser.add_argument("-o", "--output", required=True, metavar="PATH", help="the bundle to write, e.g. site.tar")
    parser.add_argument("--l4t", default="", metavar="R[,R]",
                        help="the boards' L4T releases, e.g. 36.4.3,35.4.1 (an image per release and setting)")
    parser.add_argument("--models", metavar="TAG[,TAG]",
                        help="models to bundle for hosts with ollama_models: auto (their pick must be among them)")
    parser.add_argument("--limit", action="append", default=[], metavar="NAME",
                        help="only these hosts (repeat it); default: every host of the inventory")
    parser.add_argument("--registry", default=None, metavar="URL",
                        help="the image registry (default: Docker Hub, what the boards' docker pulls from)")
    parser.add_argument("--ollama-registry", metavar="URL",
                        help="the Ollama registry to fetch models from (default: the hosts' ollama_registry)")
    parser.add_argument("--native-url", metavar="URL",
                        help="where the controller downloads native Ollama releases (default: the hosts' "
                             "ollama_native_url)")
    parser.add_argument("--work", default=DEFAULT_WORK, metavar="DIR",
                        help=f"download cache, reused by later runs (default: {DEFAULT_WORK})")

    one_line_errors(parser, "jetson-ollama bundle")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """0: written; 1: a fetch or a check failed; 2: the inventory or the arguments do not allow a bundle."""
    from ..image_archive import DOCKER_HUB

    def refuse(message: str, code: int = 2) -> int:
        print(f"jetson-ollama bundle: {message}", file=sys.stderr)
        return code

    inventory = args.inventory or args.inventory_option
    if not inventory or (args.inventory and args.inventory_option and args.inventory != args.inventory_option):
        return refuse("give one inventory file, e.g. inventories/lab.py")
    if not Path(inventory).is_file():
        return refuse(f"no inventory file {inventory}")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gevent's monkey patching after ssl was imported: harmless here
        from .. import runner
    try:
        hosts = runner.inventory_hosts(inventory)
        if args.limit:
            unknown = sorted(set(args.limit) - {host.name for host in hosts})
            if unknown:
                return refuse(f"not in {inventory}: {', '.join(unknown)}")
            hosts = [host for host in hosts if host.name in args.limit]
        auto = [tag.strip() for tag in args.models.split(",") if tag.strip()] if args.models is not None else None
        plan = plan_bundle(hosts, [r.strip() for r in args.l4t.split(",") if r.strip()], auto)
    except ValueError as exc:  # RunnerError and BundleError are
        return refuse(str(exc))
    try:
        written = build_bundle(plan, Path(args.output), work=Path(args.work), registry=args.registry or DOCKER_HUB,
                               ollama_registry=args.ollama_registry, native_url=args.native_url,
                               log=lambda line: print(line, file=sys.stderr))
    except (BundleError, ImageError, lock.LockError) as exc:
        return refuse(str(exc), 1)
    print(summary(written, plan.notes))
    return 0
