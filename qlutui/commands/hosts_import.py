"""`qlutui hosts import PATH... [--format F] [--dry-run] [--json]`: bring an existing cluster's
hosts, host keys and MACs into the inventory (`backend/inventory_import.py`).

`register_import(hosts_verbs)` adds the verb to `qlutui hosts`. Exit 0 when imported (or a
dry run without clashes), 1 when refused or a dry run finds clashes, 2 on bad usage.
"""

from __future__ import annotations

import argparse
from typing import Any

from qlutui import commands
from qlutui.model.names import counted

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
    commands.emit(args, result.to_dict(), report(result))
    return 1 if result.dry_run and result.plan.clashes else 0


def report(result: Any) -> str:
    """The plan as text: hosts added, changed, left alone (folded), networks created, every
    clash and every line that could not be used."""
    plan = result.plan
    add, change, create = (
        ("would add", "would change", "would create")
        if result.dry_run
        else ("added", "changed", "created")
    )
    lines = [f"{spec}: no such file, skipped" for spec in result.skipped]
    lines += [f"{create} network {note}" for note in plan.networks]
    lines += [f"{add} {_hosts(plan.added)}"] if plan.added else []
    lines += [f"{change} {_hosts(plan.changed)}"] if plan.changed else []
    if plan.unchanged:
        lines.append(f"left alone (already as imported): {_hosts(plan.unchanged)}")
    if not plan.changes:
        lines.append(
            "nothing to change: the inventory already holds what these files say"
            if plan.unchanged
            else "nothing to import from these files"
        )
    refused = "the import is refused until they are fixed"
    lines += _listed(f"{counted(len(plan.clashes), 'problem')} ({refused})", plan.clashes)
    lines += _listed(f"{counted(len(plan.unusable), 'line')} not used", plan.unusable)
    return "\n".join(lines)


def _hosts(names: list[str]) -> str:
    return f"{counted(len(names), 'host')}: {fold(names)}"


def _listed(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    more = len(items) - LISTED
    return [f"{title}:", *(f"  {item}" for item in items[:LISTED])] + (
        [f"  ... and {more} more (--json lists them all)"] if more > 0 else []
    )


def fold(names: list[str]) -> str:
    """Names as a node range (`beo-[001-480]`). STAND-IN for d1-inventory's
    model/noderange.py `fold`: use that one once it is merged."""
    from ClusterShell.NodeSet import NodeSet

    try:
        return str(NodeSet.fromlist(names))
    except Exception:  # a name ClusterShell cannot fold is listed as it is
        return ",".join(names)
