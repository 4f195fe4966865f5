"""Edits of the inventory as pure functions: each takes an Inventory and returns a new one.

The CLI verbs and the Hosts screen compute the new inventory here and hand it to
`backend.inventory.InventoryService.apply`, which validates it whole and writes it. IP
assignment follows QluMan: a bulk add numbers upward from a start IP on the primary network,
skipping used addresses and the network and broadcast addresses; a slave network's IP maps
the host part of the primary IP onto the slave network (boot 192.168.17.100 on /24 -> ib
192.168.18.100).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from qlutui.errors import InvalidInput, Refused
from qlutui.model.inventory import Host, Inventory, Network, hostname_problem, ip_key, mac_key
from qlutui.model.names import counted, label, name_problem, no_such, shown
from qlutui.model.noderange import folded
from qlutui.model.sshfiles import key_problem

AUTO = "auto"  # an IP to work out: the next free one (primary), the mapped one (slave)
NAME = "{name}"  # in an alias or a hostname override: the host's own name (`{name}-ib`)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class HostFields:
    """What an add or a set gives for each host; None (or a missing key) leaves it as is.

    `ips`: network -> IP, AUTO, or "" (no IP there: removes it, its aliases and MAC).
    For several hosts an IP is the start of the numbering. `macs`: network -> MAC or "".
    `aliases`: network -> names, replacing that network's aliases. An alias or override
    may hold `{name}`, each host's own name: a bulk add gives `{name}-ib` to every host.
    """

    ips: dict[str, str] = field(default_factory=dict)
    macs: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, list[str]] = field(default_factory=dict)
    image: str | None = None
    override: str | None = None
    override_network: str | None = None
    host_keys: list[str] | None = None


# -- IP assignment ---------------------------------------------------------------------


def parse_ip(text: str, what: str = "IP") -> Address:
    """A plain IPv4/IPv6 address (no prefix, no scope id), by `ip_key`'s rule."""
    key = ip_key(text)
    if key is None:
        raise InvalidInput(f"invalid {what} {shown(text)}: not a plain IPv4 or IPv6 address")
    return ipaddress.ip_address(key)


def _cidr(network: Network) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    return _parsed_cidr(network.cidr) if network.cidr else None


@functools.lru_cache(maxsize=64)  # a bulk add maps each of 10,000 IPs through two of them
def _parsed_cidr(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


def numbered(start: str, count: int, network: Network, used: set[str]) -> list[str]:
    """`count` addresses from `start` upward on `network`: used ones (canonical keys) and
    the network's own network and broadcast addresses skipped. One address is `start`
    itself: the admin named it (a clash is for the validation to report)."""
    ip = parse_ip(start, f"IP on {network.name}")
    net = _cidr(network)
    if net is not None and ip not in net:
        raise InvalidInput(f"IP {ip} is outside {network.name}'s {network.cidr}")
    if count == 1:
        return [str(ip)]
    reserved: set[Address] = set()
    if net is not None and net.num_addresses > 2:
        reserved.add(net.network_address)
        if net.version == 4:  # IPv6 has no broadcast address
            reserved.add(net.broadcast_address)
    last = net.broadcast_address if net is not None else None
    found: list[str] = []
    while len(found) < count:
        if last is not None and ip > last:
            raise Refused(
                f"{network.name}'s {network.cidr} has no free address for"
                f" {counted(count - len(found), 'more host')} from {start} on"
            )
        if ip not in reserved and str(ip) not in used:
            found.append(str(ip))
        try:
            ip += 1
        except ipaddress.AddressValueError:
            raise Refused(f"no free address after {found[-1] if found else start}") from None
    return found


def mapped_ip(ip: str, primary: Network, slave: Network) -> str:
    """The slave network's IP with the host part of `ip` on the primary network."""
    if not primary.cidr or not slave.cidr:
        missing = primary if not primary.cidr else slave
        raise InvalidInput(f"network {label(missing.name)} has no CIDR to map IPs with")
    pnet, snet, address = _cidr(primary), _cidr(slave), parse_ip(ip)
    assert pnet is not None and snet is not None
    if address not in pnet:
        raise InvalidInput(f"IP {address} is outside {primary.name}'s {primary.cidr}")
    if pnet.version != snet.version:
        raise InvalidInput(f"{primary.name} and {slave.name} are of different IP versions")
    host_part = int(address) - int(pnet.network_address)
    if host_part >= snet.num_addresses:
        raise InvalidInput(
            f"{address}'s host part does not fit {slave.name}'s {slave.cidr}: give its IP"
        )
    return str(snet.network_address + host_part)


def assign_ips(
    inv: Inventory, names: Sequence[str], ips: dict[str, str]
) -> dict[str, dict[str, str]]:
    """name -> {network: IP} for the networks in `ips` (network -> IP, AUTO or ""): one IP
    for one host, the start of the numbering for several. Addresses of hosts other than
    `names` count as used (renumbering frees the hosts' own); a slave's AUTO maps the new
    primary IP, else the host's current one."""
    for net in ips:
        inv.network(net)  # refuses an unknown network
    primary = inv.primary
    chosen = set(names)
    used = {
        key
        for host in inv.hosts
        if host.name not in chosen
        for ip in host.ips.values()
        if (key := ip_key(ip)) is not None
    }
    result: dict[str, dict[str, str]] = {name: {} for name in names}
    order = [primary.name] * (primary.name in ips) + [n for n in ips if n != primary.name]
    current = {h.name: h.ips.get(primary.name, "") for h in inv.hosts if h.name in chosen}
    for net in order:
        value, network = ips[net].strip(), inv.network(net)
        if value == "":
            for name in names:
                result[name][net] = ""
            continue
        if value == AUTO:
            if network.primary:
                start = _first_host(network)
                addresses = numbered(start, len(names), network, used)
            else:
                addresses = []
                for name in names:
                    base = result[name].get(primary.name) or current.get(name, "")
                    if not base:
                        raise InvalidInput(
                            f"{name} has no IP on {primary.name} to map onto {net} from"
                        )
                    addresses.append(mapped_ip(base, primary, network))
        else:
            addresses = numbered(value, len(names), network, used)
        used.update(addresses)
        for name, address in zip(names, addresses, strict=True):
            result[name][net] = address
    return result


def _first_host(network: Network) -> str:
    net = _cidr(network)
    if net is None:
        raise InvalidInput(f"network {label(network.name)} has no CIDR to number from: give an IP")
    return str(net.network_address + (1 if net.num_addresses > 2 else 0))


# -- hosts -----------------------------------------------------------------------------


def add_hosts(inv: Inventory, names: Sequence[str], fields: HostFields) -> Inventory:
    """The inventory with new hosts `names` (in that order, after the others)."""
    existing = {h.name for h in inv.hosts}
    if clash := [n for n in names if n in existing]:
        verb = "exists" if len(clash) == 1 else "exist"
        raise Refused(f"{counted(len(clash), 'host')} {verb} already: {folded(clash)}")
    if inv.primary.name not in fields.ips:
        raise InvalidInput(f"new hosts need an IP on the primary network {inv.primary.name}")
    new = [Host(name=name, ips={}) for name in names]
    return set_hosts(
        Inventory(inv.networks, [*inv.hosts, *new], inv.default_host_keys), names, fields
    )


def set_hosts(inv: Inventory, names: Sequence[str], fields: HostFields) -> Inventory:
    """The inventory with `fields` applied to each of the hosts `names`."""
    by_name = {h.name: h for h in inv.hosts}
    if unknown := [n for n in names if n not in by_name]:
        raise InvalidInput(no_such("host", folded(unknown), "in the inventory"))
    _check_fields(inv, fields, names[0] if names else "")
    ips = assign_ips(inv, names, fields.ips) if fields.ips else {}
    macs = {net: mac_key(mac) or "" for net, mac in fields.macs.items()}
    chosen = set(names)
    hosts = []
    for host in inv.hosts:
        if host.name in chosen:
            host = _changed(host, fields, ips.get(host.name, {}), macs)
        hosts.append(host)
    return Inventory(inv.networks, hosts, inv.default_host_keys)


def for_host(text: str, name: str) -> str:
    """An alias or override pattern for the host `name`."""
    return text.replace(NAME, name)


def _check_fields(inv: Inventory, fields: HostFields, sample: str) -> None:
    """Refuse malformed fields; patterns are checked as `sample` (the first host) has them
    (every host's names are checked whole when the edit is applied)."""
    for net in [*fields.ips, *fields.macs, *fields.aliases]:
        inv.network(net)
    if fields.override_network:
        inv.network(fields.override_network)
    for net, mac in fields.macs.items():
        if mac and mac_key(mac) is None:
            raise InvalidInput(f"invalid MAC {shown(mac)} on {net}: not like aa:bb:cc:dd:ee:ff")
    for net, aliases in fields.aliases.items():
        for alias in aliases:
            if problem := hostname_problem(for_host(alias, sample)):
                raise InvalidInput(f"alias {shown(alias)} on {net} {problem}")
    if fields.override and (problem := hostname_problem(for_host(fields.override, sample))):
        raise InvalidInput(f"hostname override {shown(fields.override)} {problem}")
    for key in fields.host_keys or ():
        if problem := key_problem(key):
            raise InvalidInput(f"host key {shown(key)}: {problem}")


def _changed(host: Host, fields: HostFields, ips: dict[str, str], macs: dict[str, str]) -> Host:
    new_ips, new_macs = dict(host.ips), dict(host.macs)
    aliases = {net: list(a) for net, a in host.aliases.items()}
    for net, ip in ips.items():
        if ip:
            new_ips[net] = ip
        else:  # no IP there: nothing else of the host on that network either
            new_ips.pop(net, None)
            new_macs.pop(net, None)
            aliases.pop(net, None)
    for net, mac in macs.items():
        if mac:
            new_macs[net] = mac
        else:
            new_macs.pop(net, None)
    for net, names in fields.aliases.items():
        if names:
            aliases[net] = list(dict.fromkeys(for_host(n, host.name) for n in names))
        else:
            aliases.pop(net, None)
    override = host.override if fields.override is None else for_host(fields.override, host.name)
    network = host.override_network if fields.override_network is None else fields.override_network
    return dataclasses.replace(
        host,
        ips=new_ips,
        macs=new_macs,
        aliases=aliases,
        override=override,
        override_network=network if override else "",
        image=host.image if fields.image is None else fields.image,
        host_keys=list(host.host_keys if fields.host_keys is None else fields.host_keys),
    )


def with_host_keys(inv: Inventory, keys: dict[str, list[str]]) -> Inventory:
    """The inventory with the host keys of the hosts named in `keys` replaced."""
    hosts = [
        dataclasses.replace(h, host_keys=list(keys[h.name])) if h.name in keys else h
        for h in inv.hosts
    ]
    return Inventory(inv.networks, hosts, inv.default_host_keys)


def with_image_renamed(inv: Inventory, old: str, new: str) -> Inventory:
    """The inventory with every host of image `old` assigned to `new`."""
    hosts = [dataclasses.replace(h, image=new) if h.image == old else h for h in inv.hosts]
    return Inventory(inv.networks, hosts, inv.default_host_keys)


def remove_hosts(inv: Inventory, names: Sequence[str]) -> Inventory:
    known = {h.name for h in inv.hosts}
    if unknown := [n for n in names if n not in known]:
        raise InvalidInput(no_such("host", folded(unknown), "in the inventory"))
    gone = set(names)
    hosts = [h for h in inv.hosts if h.name not in gone]
    return Inventory(inv.networks, hosts, inv.default_host_keys)


# -- networks --------------------------------------------------------------------------


def network_users(inv: Inventory, name: str) -> list[str]:
    """The hosts with an IP, a MAC, aliases or the hostname override on network `name`."""
    return [
        h.name
        for h in inv.hosts
        if name in h.ips or name in h.macs or name in h.aliases or h.override_network == name
    ]


def add_network(inv: Inventory, network: Network) -> Inventory:
    if any(n.name == network.name for n in inv.networks):
        raise Refused(f"network {label(network.name)} exists already")
    networks = _one_primary([*inv.networks, network], network)
    return Inventory(networks, list(inv.hosts), inv.default_host_keys)


def set_network(inv: Inventory, name: str, **changes: object) -> Inventory:
    """The inventory with fields of network `name` changed (kind, primary, suffix, ssh,
    cidr); making it primary makes the former primary a slave network."""
    old = inv.network(name)
    new = dataclasses.replace(old, **changes)
    networks = [new if n.name == name else n for n in inv.networks]
    return Inventory(_one_primary(networks, new), list(inv.hosts), inv.default_host_keys)


def rename_network(inv: Inventory, old: str, new: str) -> Inventory:
    """The inventory with network `old` named `new`: every host's IP, MAC, aliases and
    override on it follow. Refused when `new` names another network or is no valid name."""
    inv.network(old)
    if problem := name_problem(new):
        raise InvalidInput(f"network name {shown(new)} {problem}")
    if new != old and any(n.name == new for n in inv.networks):
        raise Refused(f"network {label(new)} exists already: rename refused, nothing changed")

    def moved(values: dict) -> dict:
        return {new if net == old else net: value for net, value in values.items()}

    networks = [dataclasses.replace(n, name=new) if n.name == old else n for n in inv.networks]
    hosts = [
        dataclasses.replace(
            h,
            ips=moved(h.ips),
            macs=moved(h.macs),
            aliases=moved(h.aliases),
            override_network=new if h.override_network == old else h.override_network,
        )
        for h in inv.hosts
    ]
    return Inventory(networks, hosts, inv.default_host_keys)


def _one_primary(networks: list[Network], changed: Network) -> list[Network]:
    if not changed.primary:
        return networks
    return [
        dataclasses.replace(n, primary=False) if n.primary and n.name != changed.name else n
        for n in networks
    ]


def remove_network(inv: Inventory, name: str, *, drop_ips: bool = False) -> Inventory:
    """The inventory without network `name`; refused while hosts use it, unless `drop_ips`
    (their IPs, MACs, aliases and hostname override on it go too)."""
    inv.network(name)
    users = network_users(inv, name)
    if users and not drop_ips:
        raise Refused(
            f"network {label(name)} is used by {counted(len(users), 'host')}:"
            f" {folded(users)} (--drop-ips removes what they have on it)"
        )
    fields = HostFields(aliases={name: []})
    hosts = []
    dropped = set(users)
    for host in inv.hosts:
        if host.name in dropped:
            host = _changed(host, fields, {name: ""}, {name: ""})
            if host.override_network == name:
                host = dataclasses.replace(host, override="", override_network="")
        hosts.append(host)
    networks = [n for n in inv.networks if n.name != name]
    return Inventory(networks, hosts, inv.default_host_keys)
