"""`qlutui networks ...`: the networks of the inventory for scripts (same service as the screen).

A network that hosts use is not removed unless `--drop-ips` (their IPs, MACs, aliases and
hostname override on it go with it); the refusal names those hosts, folded.
"""

from __future__ import annotations

import argparse
from typing import Any

from qlutui import commands
from qlutui.commands.hosts import report

KINDS = ("ether", "ib", "ipmi")  # model.inventory.KINDS, not imported: the CLI starts fast
KIND_HELP = "the NIC kind: ether, ib (InfiniBand) or ipmi (BMC)"


def register(verbs: Any) -> None:
    sub = commands.add_verb(
        verbs, "networks", "networks of the inventory: list, add, set, rename, rm"
    )
    p = sub.add_parser("list", help="every network: kind, primary, suffix, SSH, CIDR, hosts")
    commands.json_flag(p)
    p.set_defaults(handler=list_networks)
    p = sub.add_parser("show", help="one network and the hosts on it")
    p.add_argument("name", help="the network's name")
    commands.json_flag(p)
    p.set_defaults(handler=show_network)
    p = sub.add_parser("add", help="add a network")
    p.add_argument("name", help="the network's name")
    p.add_argument("--kind", required=True, choices=KINDS, help=KIND_HELP)
    _fields(p)
    _changing(p)
    p.set_defaults(handler=add)
    p = sub.add_parser("set", help="change a network (--primary makes the old primary a slave)")
    p.add_argument("name", help="the network's name")
    p.add_argument("--kind", choices=KINDS, help=KIND_HELP)
    _fields(p)
    p.add_argument("--slave", action="store_true", help="no longer the primary network")
    p.add_argument("--ssh", action="store_true", default=None, help="in the SSH files")
    p.add_argument(
        "--hosts-file", action="store_true", default=None, help="in the generated hosts table"
    )
    _changing(p)
    p.set_defaults(handler=set_network)
    p = sub.add_parser(
        "rename",
        help="rename a network: every host's IPs, MACs, aliases, override on it and the SSH"
        " files' network settings follow (refused when the new name is taken)",
    )
    p.add_argument("name", metavar="OLD", help="the network's name now")
    p.add_argument("new", metavar="NEW", help="its new name")
    _changing(p)
    p.set_defaults(handler=rename)
    p = sub.add_parser("rm", help="remove a network (refused while hosts use it)")
    p.add_argument("name", help="the network's name")
    p.add_argument("--drop-ips", action="store_true", help="remove the hosts' IPs on it too")
    _changing(p)
    p.set_defaults(handler=remove)


def _fields(p: argparse.ArgumentParser) -> None:
    p.add_argument("--primary", action="store_true", default=None, help="the boot network")
    p.add_argument("--suffix", help="slave networks: beo-01 is beo-01-<suffix> there")
    p.add_argument("--cidr", help="e.g. 192.168.53.0/24")
    p.add_argument(
        "--no-ssh", dest="ssh", action="store_false", default=None, help="not in the SSH files"
    )
    p.add_argument(
        "--no-hosts-file",
        dest="hosts_file",
        action="store_false",
        default=None,
        help="not in the generated hosts table",
    )


def _changing(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    commands.json_flag(p)


def _service(cluster: Any) -> tuple[Any, Any]:
    from qlutui.backend.inventory import InventoryService

    service = InventoryService(cluster)
    return service, service.load()


def _data(inv: Any, network: Any) -> dict:
    from qlutui.model.inventory_edit import network_users

    entry = next(e for e in inv.to_dict()["networks"] if e["name"] == network.name)
    return entry | {"hosts": len(network_users(inv, network.name))}


def list_networks(cluster: Any, args: argparse.Namespace) -> None:
    _, state = _service(cluster)
    inv = state.inventory
    data = [_data(inv, n) for n in inv.networks]
    rows = [
        [
            d["name"],
            d["kind"],
            "primary" if d["primary"] else "slave",
            d["suffix"] or "-",
            "yes" if d["ssh"] else "no",
            d["cidr"] or "-",
            str(d["hosts"]),
        ]
        for d in data
    ]
    header = ["NAME", "KIND", "ROLE", "SUFFIX", "SSH", "CIDR", "HOSTS"]
    commands.emit(args, data, commands.table(rows, header) if rows else "no networks")


def show_network(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model.inventory_edit import network_users
    from qlutui.model.noderange import fold

    _, state = _service(cluster)
    inv = state.inventory
    network = inv.network(args.name)
    users = network_users(inv, network.name)
    data = _data(inv, network) | {"host_names": users}
    lines = [
        network.name,
        f"  Kind:    {network.kind}",
        f"  Role:    {'primary (boot)' if network.primary else 'slave'}",
        f"  Suffix:  {network.suffix or '-'}",
        f"  SSH:     {'yes' if network.ssh else 'no'}",
        f"  Hosts table: {'yes' if network.hosts_file else 'no'}",
        f"  CIDR:    {network.cidr or '-'}",
        f"  Hosts ({len(users)}): {fold(users)}".rstrip(),
    ]
    commands.emit(args, data, "\n".join(lines))


def _changes(args: argparse.Namespace) -> dict[str, object]:
    changes = {
        key: value
        for key in ("kind", "primary", "suffix", "cidr", "ssh", "hosts_file")
        if (value := getattr(args, key, None)) is not None
    }
    if getattr(args, "slave", False):
        if args.primary:
            raise commands.UsageError("--primary and --slave contradict each other")
        changes["primary"] = False
    return changes


def add(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model.inventory import Network
    from qlutui.model.inventory_edit import add_network

    service, state = _service(cluster)
    changes = _changes(args)
    if "ssh" not in changes:
        changes["ssh"] = args.kind != "ipmi"
    network = Network(name=args.name, **changes)  # type: ignore[arg-type]
    new = add_network(state.inventory, network)
    report(args, service.apply(state, new, summary="networks add", dry_run=args.dry_run), new)


def set_network(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model import inventory_edit

    service, state = _service(cluster)
    new = inventory_edit.set_network(state.inventory, args.name, **_changes(args))
    report(args, service.apply(state, new, summary="networks set", dry_run=args.dry_run), new)


def rename(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model.inventory_edit import rename_network

    service, state = _service(cluster)
    change = service.rename_network(state, args.name, args.new, dry_run=args.dry_run)
    report(args, change, rename_network(state.inventory, args.name, args.new))
    if not change.empty and not args.json:
        print(RENAMED_FILES)


RENAMED_FILES = (
    "The generated files name networks (the hosts table's sections): `qlutui files diff`"
    " shows them changed, Write Files (`qlutui files write`) updates them."
)


def remove(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model.inventory_edit import remove_network

    service, state = _service(cluster)
    new = remove_network(state.inventory, args.name, drop_ips=args.drop_ips)
    report(args, service.apply(state, new, summary="networks rm", dry_run=args.dry_run), new)
