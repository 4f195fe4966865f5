"""`qlutui hosts ...`: the hosts of the inventory for scripts (the service the Hosts screen uses).

Every verb naming hosts takes node ranges (`beo-[01-48]`, `beo-[01-04,10],login-c`). The
changing verbs (add, set, rm) take `--dry-run` and say what changed, with `--json` too. A
refused edit exits 1 naming every problem and leaves inventory.toml as it was.
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

from qlutui import commands

RANGE_HELP = "host names or node ranges: beo-[01-48]"


def register(verbs: Any) -> None:
    sub = commands.add_verb(verbs, "hosts", "hosts of the inventory: list, show, add, set, rm")
    p = sub.add_parser("list", help="every host (or those of the ranges): IP, image, networks")
    p.add_argument("hosts", nargs="*", metavar="RANGE", help=RANGE_HELP)
    commands.json_flag(p)
    p.set_defaults(handler=list_hosts)
    p = sub.add_parser("show", help="hosts in full: every name and IP per network, keys, MACs")
    p.add_argument("hosts", nargs="+", metavar="RANGE", help=RANGE_HELP)
    commands.json_flag(p)
    p.set_defaults(handler=show_hosts)
    p = sub.add_parser(
        "add",
        help="add hosts; a range is numbered from the start IP, 'auto' on a slave network maps"
        " the primary IP's host part",
    )
    p.add_argument("hosts", nargs="+", metavar="RANGE", help=RANGE_HELP)
    _fields(p)
    _changing(p)
    p.set_defaults(handler=add)
    p = sub.add_parser(
        "set", help="change hosts: image, IPs (a range is renumbered), aliases, override, MACs"
    )
    p.add_argument("hosts", nargs="+", metavar="RANGE", help=RANGE_HELP)
    _fields(p)
    p.add_argument("--no-override", action="store_true", help="remove the hostname override")
    p.add_argument("--no-host-keys", action="store_true", help="use the default host keys")
    _changing(p)
    p.set_defaults(handler=set_hosts)
    p = sub.add_parser("rm", help="remove hosts")
    p.add_argument("hosts", nargs="+", metavar="RANGE", help=RANGE_HELP)
    _changing(p)
    p.set_defaults(handler=remove)
    if importlib.util.find_spec("qlutui.commands.hosts_import") is not None:
        from qlutui.commands.hosts_import import register_import

        register_import(sub)


def _fields(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ip",
        action="append",
        default=[],
        metavar="NET=IP",
        help="IP on a network (repeatable): the start of the numbering for several hosts;"
        " 'auto': the next free one (primary) or the mapped one (slave); empty: none there",
    )
    p.add_argument("--image", metavar="IMAGE", help="the image the hosts boot ('' for none)")
    p.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="NET=NAME",
        help="an alias on a network (repeatable; replaces that network's; NET= clears them);"
        " {name} is each host's name: --alias 'ib={name}-hca' for a range",
    )
    p.add_argument(
        "--override",
        metavar="NAME",
        help="hostname override: one host, or a pattern with {name} for several ('{name}-ext')",
    )
    p.add_argument("--override-network", metavar="NET", help="the network of the override")
    p.add_argument("--mac", action="append", default=[], metavar="NET=MAC", help="MAC on a network")
    p.add_argument(
        "--host-key",
        action="append",
        default=None,
        metavar="LINE",
        help="a host key 'type base64 [comment]' (repeatable; replaces the host's keys;"
        " `qlutui ssh scan-keys` fetches them)",
    )


def _changing(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    commands.json_flag(p)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        net, sep, rest = value.partition("=")
        if not sep or not net:
            raise commands.UsageError(f"{option} {value!r}: expected NET=VALUE")
        pairs[net] = rest
    return pairs


def _aliases(values: list[str]) -> dict[str, list[str]]:
    aliases: dict[str, list[str]] = {}
    for value in values:
        net, sep, name = value.partition("=")
        if not sep or not net:
            raise commands.UsageError(f"--alias {value!r}: expected NET=NAME")
        aliases.setdefault(net, []).extend(name.split())
    return aliases


def _host_fields(args: argparse.Namespace, names: list[str]) -> Any:
    from qlutui.model.inventory_edit import NAME, HostFields

    if args.override and NAME not in args.override and len(names) > 1:
        raise commands.UsageError(
            f"--override {args.override!r} would name {len(names)} hosts alike:"
            f" give one host or a pattern with {NAME}"
        )
    keys = args.host_key
    if getattr(args, "no_host_keys", False):
        keys = []
    override = "" if getattr(args, "no_override", False) else args.override
    return HostFields(
        ips=_pairs(args.ip, "--ip"),
        macs=_pairs(args.mac, "--mac"),
        aliases=_aliases(args.alias),
        image=args.image,
        override=override,
        override_network=args.override_network,
        host_keys=keys,
    )


def _service(cluster: Any) -> tuple[Any, Any]:
    from qlutui.backend.inventory import InventoryService

    service = InventoryService(cluster)
    return service, service.load()


def report(args: argparse.Namespace, change: Any, new: Any) -> None:
    """What an edit changed (or would change): `--json` gives the lists, else one line; a
    dry run adds the preview (the hosts, each network's first and last IP)."""
    text = change.text()
    if change.dry_run and not change.empty:
        text = "\n".join([text, *change.details(new)])
    commands.emit(args, change.to_dict(), text)


def _names(args: argparse.Namespace) -> list[str]:
    from qlutui.model.noderange import expand_all

    return expand_all(args.hosts)


def _host_data(inv: Any, hosts: list[Any]) -> list[dict]:
    """The hosts as inventory.toml holds them."""
    from qlutui.model.inventory import Inventory

    return Inventory(inv.networks, hosts).to_dict()["hosts"]


def _chosen(inv: Any, args: argparse.Namespace) -> list[Any]:
    """The hosts the ranges name, every host without ranges; a name not there is refused."""
    if not args.hosts:
        return list(inv.hosts)
    from qlutui.errors import InvalidInput
    from qlutui.model.names import no_such
    from qlutui.model.noderange import folded

    names = _names(args)
    by_name = {h.name: h for h in inv.hosts}
    if missing := [n for n in names if n not in by_name]:
        raise InvalidInput(no_such("host", folded(missing), "in the inventory"))
    return [by_name[n] for n in names]


def list_hosts(cluster: Any, args: argparse.Namespace) -> None:
    _, state = _service(cluster)
    inv = state.inventory
    hosts = _chosen(inv, args)
    primary = next((n.name for n in inv.networks if n.primary), "?")
    rows = [[h.name, h.ips.get(primary, ""), h.image, " ".join(h.ips)] for h in hosts]
    text = commands.table(rows, ["NAME", f"IP({primary})", "IMAGE", "NETWORKS"])
    commands.emit(args, _host_data(inv, hosts), text if rows else "no hosts")


def show_hosts(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model.inventory import host_names

    _, state = _service(cluster)
    inv = state.inventory
    hosts = _chosen(inv, args)
    data, lines = _host_data(inv, hosts), []
    for host, entry in zip(hosts, data, strict=True):
        names = {n.name: host_names(inv, host, n) for n in inv.networks if n.name in host.ips}
        entry["names"] = names
        entry["keys"] = "own" if host.host_keys else "default"
        lines.append(host.name)
        lines.append(f"  Image:     {host.image or '-'}")
        for net, ip in host.ips.items():
            mac = f"  MAC {host.macs[net]}" if net in host.macs else ""
            lines.append(f"  {net:<10} {ip:<15} {' '.join(names.get(net, []))}{mac}")
        if host.override:
            lines.append(f"  Override:  {host.override} (on {host.override_network})")
        keys = host.host_keys or inv.default_host_keys
        origin = "" if host.host_keys else " (the default host keys)"
        lines.append(f"  Host keys{origin}:")
        lines += [f"    {key}" for key in keys]
    commands.emit(args, data, "\n".join(lines))


def add(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model.inventory_edit import add_hosts

    service, state = _service(cluster)
    names = _names(args)
    new = add_hosts(state.inventory, names, _host_fields(args, names))
    change = service.apply(state, new, summary="hosts add", dry_run=args.dry_run)
    report(args, change, new)


def set_hosts(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model import inventory_edit

    service, state = _service(cluster)
    names = _names(args)
    new = inventory_edit.set_hosts(state.inventory, names, _host_fields(args, names))
    change = service.apply(state, new, summary="hosts set", dry_run=args.dry_run)
    report(args, change, new)


def remove(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model.inventory_edit import remove_hosts

    service, state = _service(cluster)
    new = remove_hosts(state.inventory, _names(args))
    change = service.apply(state, new, summary="hosts rm", dry_run=args.dry_run)
    report(args, change, new)
