"""`qlutui hosts import PATH... [--format F] [--dry-run] [--json]`: bring an existing cluster's
hosts, host keys and MACs into the inventory (`backend/inventory_import.py`).

`register_import(hosts_verbs)` adds the verb to `qlutui hosts`. Exit 0 when imported (or a
dry run without clashes), 1 when refused or a dry run finds clashes, 2 on bad usage.
"""

from __future__ import annotations

import argparse
from typing import Any

from qlutui import commands

FORMATS = ("hosts", "dnsmasq", "known_hosts", "ethers")  # model.inventory_import.KINDS
LISTED = 20  # unusable lines and clashes printed before "... and N more" (--json has all)


def register_import(hosts_verbs: Any) -> None:
    p = hosts_verbs.add_parser(
        "import",
        help="import hosts, host keys and MACs from hosts / dnsmasq.hosts, ssh_known_hosts, "
        "ethers or dhcp-host= files",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a local file or HEADNODE:PATH")
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="the files' format (default: guessed from each file's name and content)",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    commands.json_flag(p)
    p.set_defaults(handler=import_hosts)


async def import_hosts(cluster: Any, args: argparse.Namespace) -> int:
    from qlutui.backend.inventory_import import import_files

    result = await import_files(cluster, args.paths, kind=args.format, dry_run=args.dry_run)
    commands.emit(args, result.to_dict(), "\n".join(result.lines(LISTED)))
    return 1 if result.dry_run and result.plan.clashes else 0
