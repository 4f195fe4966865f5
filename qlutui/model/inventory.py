"""Networks and hosts: the inventory the generated SSH files are made from.

`from_dict` checks each entry on its own (types, kinds, IP syntax, host-name syntax) and names
the entry that is wrong. `check_unique` checks the whole cluster (clashes of names and IPs,
IPs inside their network's CIDR, one primary network, references to networks) and lists every
problem, in one pass over the hosts: it runs on every edit of a 10,000-host inventory.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from qlutui.errors import InvalidInput
from qlutui.idle_gc import gc_paused
from qlutui.model.names import label, name_problem, shown

KINDS = ("ether", "ib", "ipmi")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_MAX_HOSTNAME = 253
_MAX_LABEL = 63
_OWNERS_SHOWN = 5


@dataclass(frozen=True)
class Network:
    name: str
    kind: str  # "ether" | "ib" | "ipmi"
    primary: bool = False
    suffix: str = ""  # slave networks: node "beo-01" is "beo-01-<suffix>" there
    ssh: bool = True  # takes part in the generated SSH files
    cidr: str = ""
    hosts_file: bool = True  # has its section in the generated hosts table


@dataclass
class Host:
    name: str
    ips: dict[str, str]  # network name -> IP
    aliases: dict[str, list[str]] = field(default_factory=dict)  # network -> extra names
    override: str = ""  # hostname override ...
    override_network: str = ""  # ... and the network that decides its IP
    host_keys: list[str] = field(default_factory=list)  # "type base64 [comment]"
    image: str = ""
    macs: dict[str, str] = field(default_factory=dict)  # network -> "aa:bb:cc:dd:ee:ff"


@dataclass
class Inventory:
    networks: list[Network] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    default_host_keys: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict) -> Inventory:
        """Build from inventory.toml data; InvalidInput names the entry that is wrong. The
        collector is paused meanwhile: a 100,000-host inventory is ~1 million new objects."""
        with gc_paused():
            networks = [_network(i, e) for i, e in enumerate(_list(data, "networks", ""))]
            hosts = [_host(i, entry) for i, entry in enumerate(_list(data, "hosts", ""))]
            keys = _keys(data.get("default_host_keys", []), "default_host_keys")
        return cls(networks, hosts, keys)

    def to_dict(self) -> dict:
        """The inventory.toml data; optional host fields are left out when empty."""
        return {
            "default_host_keys": list(self.default_host_keys),
            "networks": [_network_dict(n) for n in self.networks],
            "hosts": [_host_dict(h) for h in self.hosts],
        }

    def network(self, name: str) -> Network:
        for network in self.networks:
            if network.name == name:
                return network
        raise InvalidInput(f"unknown network {shown(name)}")

    @property
    def primary(self) -> Network:
        primaries = [n for n in self.networks if n.primary]
        if len(primaries) != 1:
            raise InvalidInput(_primary_problem(primaries))
        return primaries[0]

    def keys_of(self, host: Host) -> list[str]:
        return host.host_keys or self.default_host_keys


def host_names(inv: Inventory, host: Host, network: Network) -> list[str]:
    """The names of `host` on `network`: node or derived name, override, aliases (in order).

    Empty when the host has no IP on that network.
    """
    if network.name not in host.ips:
        return []
    names = [host.name if network.primary else f"{host.name}-{network.suffix}"]
    if host.override and host.override_network == network.name:
        names.append(host.override)
    names.extend(host.aliases.get(network.name, ()))
    return names


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the inventory; `str()` is a one-line message."""

    kind: str  # "name" | "ip" | "mac" (clashes), "invalid-name", "invalid-ip", "ip-outside",
    # "missing-ip", "network"
    value: str  # the name, IP or network concerned
    owners: tuple[str, ...] = ()  # where it occurs, e.g. "beo-01 (alias on extern)"
    detail: str = ""  # the reason, for the kinds that are not clashes

    def __str__(self) -> str:
        who = _owners_text(self.owners)
        if self.kind in ("name", "ip", "mac"):
            return f"{self.kind} {shown(self.value)} used by {who}"
        if self.kind == "invalid-name":
            return f"invalid host name {shown(self.value)} ({who}): {self.detail}"
        if self.kind == "invalid-ip":
            return f"invalid IP {shown(self.value)} ({who})"
        if self.kind == "missing-ip":
            return f"{who}: {self.detail}"
        return self.detail if not who else f"{self.detail}: {who}"


def check_unique(inv: Inventory) -> list[Problem]:
    """Every clash and structural problem of the inventory, in a stable order."""
    problems = _network_problems(inv)
    known = {n.name: n for n in inv.networks}
    primaries = [n for n in inv.networks if n.primary]
    primary = primaries[0].name if len(primaries) == 1 else None
    # Per slave network: "-" and the lower-cased suffix, and the longest node name whose
    # derived name is still a valid label (None: the suffix itself is invalid, every derived
    # name is checked).
    slaves = {
        n.name: ("-" + n.suffix.lower(), _MAX_LABEL - 1 - len(n.suffix))
        if _hostname_problem(n.suffix) is None
        else ("-" + n.suffix.lower(), None)
        for n in inv.networks
        if not n.primary
    }
    # Each use of a name or IP is recorded as the index of its host; the owner texts are
    # only worked out for the few that clash, so the pass over the hosts stays cheap.
    names: dict[str, int] = {}  # lower-cased name -> first host index
    # canonical IP -> first host index; an IPv4 address is keyed by its number (one to one
    # with its canonical text, never equal to an IPv6 text): at 400,000 addresses that dict
    # is the check's largest, and an int key is hashed and compared without reading a string.
    ips: dict[int | str, int] = {}
    name_clashes: dict[str, list[int]] = {}
    ip_clashes: dict[int | str, list[int]] = {}
    unknown: dict[str, list[str]] = {}  # unknown network -> owners
    invalid: list[Problem] = []
    missing: list[Problem] = []
    ranges = _ranges(inv.networks)

    def add_name(name: str, i: int, node: str, role: str, net: str = "") -> bool:
        """Record a name; return whether it is a valid host name. The owner's text,
        "<node> (<role><net>)", is made only for an invalid name."""
        problem = _hostname_problem(name)
        if problem:
            invalid.append(Problem("invalid-name", name, (f"{node} ({role}{net})",), problem))
        key = name.lower()
        if key in names:
            name_clashes.setdefault(key, [names[key]]).append(i)
        else:
            names[key] = i
        return problem is None

    inet_pton, af_inet, from_bytes = socket.inet_pton, socket.AF_INET, int.from_bytes
    for i, host in enumerate(inv.hosts):
        node = host.name
        fast_len = len(node) if add_name(node, i, node, "node name") else _MAX_HOSTNAME
        node_key = node.lower()
        for net, ip in host.ips.items():
            slave = slaves.get(net)
            if slave is not None:
                dash_suffix, limit = slave
                if limit is not None and fast_len <= limit:
                    key = node_key + dash_suffix
                    if key in names:
                        name_clashes.setdefault(key, [names[key]]).append(i)
                    else:
                        names[key] = i
                else:
                    add_name(f"{node}-{known[net].suffix}", i, node, "", net)
            elif net not in known:
                unknown.setdefault(net, []).append(f"{node} (ip)")
            try:  # the common case, IPv4, inlined for speed
                number = from_bytes(inet_pton(af_inet, ip), "big")
                address: int | str = number
                text: str | None = ip  # a strict dotted quad is canonical already
            except (OSError, TypeError, ValueError):
                number, text = None, ip_key(ip)
                address = text or ""
            if text is None:
                invalid.append(Problem("invalid-ip", ip, (f"{node} ({net})",)))
                continue
            if address in ips:
                ip_clashes.setdefault(address, [ips[address]]).append(i)
            else:
                ips[address] = i
            span = ranges.get(net)
            if span is None:
                continue
            if number is not None and span[1] == 4:  # the common case, inlined
                inside = number & span[3] == span[2]
            else:
                inside = _inside(span, text)
            if not inside:
                detail = f"IP {text} is outside {net}'s {span[0]}"
                invalid.append(Problem("ip-outside", text, (f"{node} ({net})",), detail))
        if primary is not None and primary not in host.ips:
            missing.append(Problem("missing-ip", primary, (node,), f"no IP on {primary}"))
        if host.override:
            add_name(host.override, i, node, "override on ", host.override_network or "?")
            _check_override(host, known, unknown, missing)
        for net, aliases in host.aliases.items():
            if net not in known:
                unknown.setdefault(net, []).append(f"{node} (aliases)")
            for alias in aliases:
                add_name(alias, i, node, "alias on ", net)

    problems += [
        Problem("network", net, tuple(owners), f"unknown network {shown(net)}")
        for net, owners in unknown.items()
    ]
    # Clashes in the order of their first use; each host's uses are worked out once.
    for key, hosts in sorted(name_clashes.items(), key=lambda item: item[1][0]):
        uses = [u for i in dict.fromkeys(hosts) for u in _name_uses(inv, inv.hosts[i], key)]
        problems.append(Problem("name", uses[0][0], tuple(owner for _, owner in uses)))
    for key, hosts in sorted(ip_clashes.items(), key=lambda item: item[1][0]):
        text = key if isinstance(key, str) else socket.inet_ntoa(key.to_bytes(4, "big"))
        uses = [u for i in dict.fromkeys(hosts) for u in _ip_uses(inv.hosts[i], text)]
        problems.append(Problem("ip", text, tuple(uses)))
    return problems + _mac_problems(inv, known) + invalid + missing


def _mac_problems(inv: Inventory, known: dict[str, Network]) -> list[Problem]:
    """MACs used twice, and MACs on networks the inventory does not define."""
    owners: dict[str, list[str]] = {}
    unknown: dict[str, list[str]] = {}
    for host in inv.hosts:
        for net, mac in host.macs.items():
            owners.setdefault(mac, []).append(f"{host.name} ({net})")
            if net not in known:
                unknown.setdefault(net, []).append(f"{host.name} (macs)")
    problems = [
        Problem("network", net, tuple(who), f"unknown network {shown(net)}")
        for net, who in unknown.items()
    ]
    problems += [Problem("mac", mac, tuple(who)) for mac, who in owners.items() if len(who) > 1]
    return problems


def _name_uses(inv: Inventory, host: Host, key: str) -> list[tuple[str, str]]:
    """(spelling, owner) of every use of the lower-cased name `key` by `host`."""
    uses = []
    if host.name.lower() == key:
        uses.append((host.name, f"{host.name} (node name)"))
    for net in host.ips:
        network = next((n for n in inv.networks if n.name == net and not n.primary), None)
        if network and f"{host.name}-{network.suffix}".lower() == key:
            uses.append((f"{host.name}-{network.suffix}", f"{host.name} ({net})"))
    if host.override.lower() == key:
        uses.append((host.override, f"{host.name} (override on {host.override_network or '?'})"))
    for net, aliases in host.aliases.items():
        uses += [(a, f"{host.name} (alias on {net})") for a in aliases if a.lower() == key]
    return uses


def _ip_uses(host: Host, key: str) -> list[str]:
    return [f"{host.name} ({net})" for net, ip in host.ips.items() if ip_key(ip) == key]


def ip_key(text: str) -> str | None:
    """The canonical form of a plain IPv4 or IPv6 address, None for anything else.

    The one IP rule of qlutui. Plain means the address alone: a strict dotted quad or an
    IPv6 address, no scope id (`%eth0`), no prefix length, no blank around it. inet_pton is
    that strict; `ipaddress.IPv6Address` is not: it takes any text after a `%` (newlines,
    commas, spaces), which would reach the generated files verbatim. The IPv6 form is the
    one OpenSSH looks up (inet_ntop: lower case, `::` compressed).
    """
    try:
        socket.inet_pton(socket.AF_INET, text)  # strict dotted quad: already canonical
        return text
    except (OSError, TypeError, ValueError):  # ValueError: a NUL or an unencodable character
        pass
    try:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))
    except (OSError, TypeError, ValueError):
        return None


_MAC = re.compile(r"[0-9A-Fa-f]{1,2}(?:([:-])[0-9A-Fa-f]{1,2})(?:\1[0-9A-Fa-f]{1,2}){4}")


def mac_key(text: object) -> str | None:
    """A MAC address in lower-case colon form (`aa:bb:cc:dd:ee:ff`), None when `text` is not
    one. Accepts `:` or `-` between the six bytes and one-digit bytes, as /etc/ethers has."""
    if not isinstance(text, str) or not _MAC.fullmatch(text):
        return None
    return ":".join(part.rjust(2, "0") for part in re.split("[:-]", text.lower()))


def _check_override(host: Host, known: dict, unknown: dict, missing: list) -> None:
    net = host.override_network
    if not net:
        detail = f"hostname override {shown(host.override)} without a network"
        missing.append(Problem("missing-ip", host.override, (host.name,), detail))
    elif net not in known:
        unknown.setdefault(net, []).append(f"{host.name} (override)")
    elif net not in host.ips:
        detail = f"hostname override {shown(host.override)} is on {net}, where it has no IP"
        missing.append(Problem("missing-ip", net, (host.name,), detail))


def _network_problems(inv: Inventory) -> list[Problem]:
    problems = []
    primaries = [n for n in inv.networks if n.primary]
    if (inv.networks or inv.hosts) and len(primaries) != 1:
        problems.append(Problem("network", "", (), _primary_problem(primaries)))
    seen: dict[str, list[str]] = {}
    for n in inv.networks:
        seen.setdefault(n.name, []).append(n.name)
        problem = _network_problem(n)
        if problem:
            problems.append(Problem("network", n.name, (), f"network {label(n.name)}: {problem}"))
    for name, same in seen.items():
        if len(same) > 1:
            detail = f"network name {shown(name)} defined {len(same)} times"
            problems.append(Problem("network", name, (), detail))
    suffixes: dict[str, list[str]] = {}
    for n in inv.networks:
        if not n.primary and n.suffix:
            suffixes.setdefault(n.suffix.lower(), []).append(n.name)
    for suffix, nets in suffixes.items():
        if len(nets) > 1:
            detail = f"suffix {shown(suffix)} used by several networks"
            problems.append(Problem("network", suffix, tuple(nets), detail))
    return problems


def _network_problem(n: Network) -> str | None:
    """What is wrong with one network on its own."""
    problem = name_problem(n.name)
    if problem:
        return f"name {problem}"
    if n.kind not in KINDS:
        return f"kind {shown(n.kind)} is not one of {', '.join(KINDS)}"
    if not n.primary:
        if not n.suffix:
            return "a slave network needs a suffix for the derived host names"
        problem = _hostname_problem(n.suffix)
        if problem:
            return f"suffix {shown(n.suffix)} {problem}"
    if n.cidr and _cidr_range(n.cidr) is None:
        return f"cidr {shown(n.cidr)} is not a network address"
    return None


Range = tuple[str, int, int, int]  # the network's CIDR text, IP version, address, mask


def _ranges(networks: list[Network]) -> dict[str, Range]:
    """The address range of each network with a valid CIDR, as integers for a quick test."""
    return {n.name: span for n in networks if n.cidr and (span := _cidr_range(n.cidr))}


def _cidr_range(cidr: str) -> Range | None:
    """`address/length` with a plain address (`ip_key`) and a decimal length, else None."""
    address, _, length = cidr.partition("/")
    if ip_key(address) is None or not (length.isascii() and length.isdigit()):
        return None
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    return cidr, net.version, int(net.network_address), int(net.netmask)


def _inside(span: Range, key: str) -> bool:
    """Whether the IP (canonical text) lies in the range."""
    _, version, address, mask = span
    ip = ipaddress.ip_address(key)
    return ip.version == version and int(ip) & mask == address


def _primary_problem(primaries: list[Network]) -> str:
    if not primaries:
        return "no primary network (exactly one network must be primary)"
    names = ", ".join(n.name for n in primaries)
    return f"{len(primaries)} primary networks ({names}); exactly one must be primary"


def hostname_problem(name: str) -> str | None:
    """Why `name` is not a valid host name (node, derived, override, alias), None if it is."""
    return _hostname_problem(name)


def _hostname_problem(name: str) -> str | None:
    """RFC 1123: dot-separated labels of letters, digits and inner '-', each 1..63."""
    if not isinstance(name, str) or not name:
        return "must not be empty"
    if len(name) > _MAX_HOSTNAME:
        return f"is longer than {_MAX_HOSTNAME} characters"
    if (
        not _HOSTNAME.fullmatch(name)
        or ".." in name
        or "-." in name
        or ".-" in name
        or (len(name) > _MAX_LABEL and any(len(p) > _MAX_LABEL for p in name.split(".")))
    ):
        return (
            "must be labels of letters, digits and '-' (not first or last),"
            f" 1..{_MAX_LABEL} characters each, separated by '.'"
        )
    if name[0].isdigit() and _is_ip_literal(name):
        return "is an IP address, not a host name"
    return None


def _is_ip_literal(name: str) -> bool:
    """Whether a resolver would read `name` as an IPv4 address: inet_aton's forms, such as
    `127.52.1.12`, `0.0.0.0`, `127.1`, `2130706433` or `0x7f.1` (all-digit dotted names)."""
    try:
        socket.inet_aton(name)
    except OSError:
        return all(part.isdigit() for part in name.split("."))
    return True


def _owners_text(owners: tuple[str, ...]) -> str:
    text = ", ".join(owners[:_OWNERS_SHOWN])
    more = len(owners) - _OWNERS_SHOWN
    return f"{text} and {more} more" if more > 0 else text


# --- from_dict helpers: each raises InvalidInput naming the entry ---------------------


def _list(data: dict, key: str, where: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InvalidInput(f"{where}{key}: must be a list")
    return value


def _text(entry: dict, key: str, where: str, default: str | None = "") -> str:
    value = entry.get(key, default)
    if value is None:
        raise InvalidInput(f"{where}: {key} is missing")
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: {key}: must be text")
    return value


def _bool(entry: dict, key: str, where: str, default: bool) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{where}: {key}: must be true or false")
    return value


def _keys(value: object, where: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidInput(f"{where}: must be a list of public keys")
    for i, key in enumerate(value):
        if not isinstance(key, str) or not key.isprintable() or len(key.split()) < 2:
            raise InvalidInput(f"{where}[{i}]: not a public key line ('type base64 [comment]')")
    return list(value)


def _network(i: int, entry: object) -> Network:
    where = f"networks[{i}]"
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where}: must be a table")
    name = _text(entry, "name", where, None)
    where = f"networks[{i}] ({label(name)})"
    kind = _text(entry, "kind", where, None)
    network = Network(
        name=name,
        kind=kind,
        primary=_bool(entry, "primary", where, False),
        suffix=_text(entry, "suffix", where),
        ssh=_bool(entry, "ssh", where, kind != "ipmi"),
        cidr=_text(entry, "cidr", where),
        hosts_file=_bool(entry, "hosts_file", where, True),
    )
    problem = _network_problem(network)
    if problem:
        raise InvalidInput(f"{where}: {problem}")
    return network


def _host(i: int, entry: object) -> Host:
    where = f"hosts[{i}]"
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where}: must be a table")
    name = _text(entry, "name", where, None)
    where = f"hosts[{i}] ({label(name)})"
    problem = _hostname_problem(name)
    if problem:
        raise InvalidInput(f"{where}: name {shown(name)} {problem}")
    ips = entry.get("ips", {})
    if not isinstance(ips, dict):
        raise InvalidInput(f"{where}: ips: must be a table of network = IP")
    for net, ip in ips.items():
        if not isinstance(ip, str) or ip_key(ip) is None:
            raise InvalidInput(f"{where}: ips.{label(net)}: not an IP address ({shown(ip)})")
    override = _text(entry, "override", where)
    if override and (problem := _hostname_problem(override)):
        raise InvalidInput(f"{where}: override {shown(override)} {problem}")
    image = _text(entry, "image", where)
    if image and (problem := name_problem(image)):
        raise InvalidInput(f"{where}: image {shown(image)} {problem}")
    macs = entry.get("macs", {})
    if not isinstance(macs, dict):
        raise InvalidInput(f"{where}: macs: must be a table of network = MAC")
    for net, mac in macs.items():
        if mac_key(mac) != mac:
            raise InvalidInput(
                f"{where}: macs.{label(net)}: not a MAC address in the form aa:bb:cc:dd:ee:ff"
                f" ({shown(mac)})"
            )
    return Host(
        name=name,
        ips=dict(ips),
        aliases=_aliases(entry.get("aliases", {}), where),
        override=override,
        override_network=_text(entry, "override_network", where),
        host_keys=_keys(entry.get("host_keys", []), f"{where}: host_keys"),
        image=image,
        macs=dict(macs),
    )


def _aliases(value: object, where: str) -> dict[str, list[str]]:
    """network -> names; a space-separated string is accepted as well as a list."""
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: aliases: must be a table of network = [names]")
    aliases = {}
    for net, names in value.items():
        if isinstance(names, str):
            names = names.split()
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidInput(f"{where}: aliases.{label(net)}: must be a list of names")
        for alias in names:
            if problem := _hostname_problem(alias):
                raise InvalidInput(f"{where}: aliases.{label(net)}: {shown(alias)} {problem}")
        aliases[net] = list(names)
    return aliases


def _network_dict(n: Network) -> dict:
    entry = {
        "name": n.name,
        "kind": n.kind,
        "primary": n.primary,
        "suffix": n.suffix,
        "ssh": n.ssh,
        "cidr": n.cidr,
    }
    if not n.hosts_file:  # left out by default, as inventories written before it
        entry["hosts_file"] = False
    return entry


def _host_dict(h: Host) -> dict:
    entry: dict = {"name": h.name}
    optional: Iterable[tuple[str, object]] = (
        ("image", h.image),
        ("host_keys", list(h.host_keys)),
        ("override", h.override),
        ("override_network", h.override_network),
    )
    entry.update((k, v) for k, v in optional if v)
    entry["ips"] = dict(h.ips)
    if h.macs:
        entry["macs"] = dict(h.macs)
    if h.aliases:
        entry["aliases"] = {net: list(names) for net, names in h.aliases.items()}
    if h.macs:
        entry["macs"] = dict(h.macs)
    return entry
