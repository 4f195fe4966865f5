"""Import an existing cluster's inventory from the files its head-node already has.

Pure: the backend reads the files and hands them over as `ImportSource`s. Kinds:

- `hosts`: `/etc/hosts`, or QluMan's generated `/etc/dnsmasq.hosts` (`# Network: <name>`
  sections). On the primary network the first name of a line is the node, on a slave network
  the name carrying the network's suffix (`beo-01-ib` is beo-01 on ib); the other names of a
  line become aliases on that network. Without sections each IP's network is the one whose
  CIDR holds it. An inventory without networks gets them from the sections.
- `known_hosts`: host keys, by name or IP, hashed names (`|1|salt|hmac`) matched against the
  names and IPs of the inventory (HMAC-SHA1, as OpenSSH hashes them).
- `ethers` (`MAC name-or-IP`) and `dnsmasq` (`dhcp-host=` lines): MACs, on the network the
  name or IP is on (a node name: the primary network).

Nothing is ever removed; a line that cannot be used (a value that is not a plain IP or a valid
host name, a wildcard, a CA line ...) is reported with its path, line number and reason and
contributes nothing. Importing the same files again changes nothing.
"""

from __future__ import annotations

import binascii
import hmac
import ipaddress
import posixpath
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from qlutui.errors import InvalidInput
from qlutui.model.inventory import (
    Host,
    Inventory,
    Network,
    check_unique,
    host_names,
    hostname_problem,
    ip_key,
    mac_key,
)
from qlutui.model.names import counted, name_problem, no_such, shown
from qlutui.model.sshfiles import host_key_problem

KINDS = ("hosts", "dnsmasq", "known_hosts", "ethers")
MAX_LINE = 4096  # characters; a longer line is refused (no hosts file needs one)
_SECTION = re.compile(r"#\s*Network:\s*(.*?)\s*$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_LEASE = re.compile(r"(?:\d+[smhdw]?|infinite)", re.IGNORECASE)
_DHCP_SKIP = ("id:", "set:", "tag:", "net:")
_GUESS_LINES = 50
_SHA1_SIZE = 20  # bytes of an OpenSSH hashed name's salt and HMAC


@dataclass(frozen=True)
class ImportSource:
    kind: str  # one of KINDS
    path: str  # as the user named it (`beosrv-c:/etc/hosts`), for the messages
    text: str


@dataclass
class ImportPlan:
    """What importing would do. `inventory` is the result; `networks` says which networks
    were created (and from where); `clashes` is `check_unique` of the result."""

    inventory: Inventory
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)  # "path:line: reason"

    @property
    def changes(self) -> bool:
        return bool(self.added or self.changed or self.networks)

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "networks": self.networks,
            "clashes": self.clashes,
            "unusable": self.unusable,
        }


def guess_kind(path: str, text: str) -> str | None:
    """The kind of a file from its name, else from its first lines; None when unclear."""
    name = posixpath.basename(path.rpartition(":")[2] if ":" in path else path).lower()
    if "known_hosts" in name:
        return "known_hosts"
    if name.startswith("ethers"):
        return "ethers"
    if name == "hosts" or name.endswith(".hosts"):
        return "hosts"
    for line in _meaningful(text):
        if line.startswith("dhcp-host="):
            return "dnsmasq"
        if _SECTION.match(line):
            return "hosts"
        if line.startswith("#"):
            continue
        fields = line.split()
        if mac_key(fields[0]):
            return "ethers"
        if fields[0].startswith(("|1|", "@cert-authority", "@revoked")):
            return "known_hosts"
        if len(fields) > 2 and host_key_problem(fields[1], fields[2]) is None:
            return "known_hosts"
        if ip_key(fields[0]):
            return "hosts"
    return None


def _meaningful(text: str) -> Iterator[str]:
    """The first non-blank lines, stripped."""
    count = 0
    for line in text.split("\n"):
        if count == _GUESS_LINES:
            return
        if line := line.strip():
            count += 1
            yield line


def plan_import(current: Inventory, sources: list[ImportSource]) -> ImportPlan:
    """The inventory after importing `sources` into `current` (which is left untouched)."""
    for source in sources:
        if source.kind not in KINDS:
            known = ", ".join(KINDS)
            raise InvalidInput(f"unknown import format {shown(source.kind)} (one of {known})")
    work = _Work(current)
    work.import_hosts([s for s in sources if s.kind == "hosts"])  # first: the rest names them
    for source in sources:
        if source.kind == "known_hosts":
            work.import_known_hosts(source)
        elif source.kind == "ethers":
            work.import_macs(source, _ethers_line)
        elif source.kind == "dnsmasq":
            work.import_macs(source, _dhcp_host_line)
    work.merge_keys()
    return work.plan(sources)


# --- one line: checks shared by every format -----------------------------------------------


class _Where(NamedTuple):
    """A line of a source, shown as "path:line"."""

    path: str
    number: int

    def __str__(self) -> str:
        return f"{self.path}:{self.number}"


_Refusal = tuple[_Where, str]  # a line that cannot be used, and why


class _Unusable(Exception):
    """A line that cannot be used; its message is the reason."""


def _lines(source: ImportSource) -> Iterator[tuple[int, str, str]]:
    """(number, raw line, line without its comment) of every line that is not blank; the
    caller passes the raw line to `_checked` first."""
    for number, raw in enumerate(source.text.split("\n"), 1):
        body = raw.split("#", 1)[0].strip()
        if body or raw.strip():
            yield number, raw, body


def _checked(raw: str) -> None:
    if len(raw) > MAX_LINE:
        raise _Unusable(f"line longer than {MAX_LINE} characters")
    bad = _CONTROL.search(raw.rstrip("\r"))
    if bad:
        raise _Unusable(f"control character {ord(bad.group()):#04x} in the line")


def _ip(text: str) -> str:
    key = ip_key(text)
    if key is None:
        raise _Unusable(f"{shown(text)} is not a plain IP address")
    return key


def _name(text: str) -> str:
    problem = hostname_problem(text)
    # Only digits and dots can pass as both (an IPv6 literal fails the host-name rule).
    if (problem or text.replace(".", "").isdigit()) and ip_key(text) is not None:
        raise _Unusable(f"{shown(text)} is an IP address, not a host name")
    if problem:
        raise _Unusable(f"host name {shown(text)} {problem}")
    return text


# --- hosts files ---------------------------------------------------------------------------


@dataclass
class _HostsLine:
    where: _Where
    ip: str  # canonical
    names: list[str]


@dataclass
class _Section:
    title: str  # as written after "# Network:"
    where: _Where
    lines: list[_HostsLine] = field(default_factory=list)


def _parse_hosts(
    source: ImportSource, unusable: list[_Refusal]
) -> tuple[list[_Section], list[_HostsLine]]:
    """The sections of a dnsmasq.hosts file (empty for /etc/hosts form) and the lines that
    stand outside any section."""
    sections: list[_Section] = []
    plain: list[_HostsLine] = []
    for number, raw, body in _lines(source):
        where = _Where(source.path, number)
        try:
            _checked(raw)
            section = not body and _SECTION.match(raw.strip())
            if section:
                sections.append(_Section(section.group(1), where))
                continue
            if not body:
                continue
            fields = body.split()
            ip = _ip(fields[0])
            if len(fields) < 2:
                raise _Unusable(f"{ip} has no name")
            names = list(dict.fromkeys(_name(n) for n in fields[1:]))
        except _Unusable as reason:
            unusable.append((where, str(reason)))
            continue
        line = _HostsLine(where, ip, names)
        (sections[-1].lines if sections else plain).append(line)
    if sections:
        for line in plain:
            unusable.append(
                (
                    line.where,
                    "before the first '# Network:' section (QluMan's header: hosts it does"
                    " not manage), not imported",
                )
            )
        plain = []
    return sections, plain


def _networks_from(sections: list[_Section], unusable: list[_Refusal]) -> list[tuple[Network, str]]:
    """Networks for an empty inventory, one per section, with what to say about each."""
    titles = [s.title.lower() for s in sections]
    primary_at = titles.index("boot") if "boot" in titles else 0
    nodes = {line.names[0].lower() for line in sections[primary_at].lines}
    made: list[tuple[Network, str]] = []
    for i, section in enumerate(sections):
        name = section.title.lower()
        problem = name_problem(name)
        if problem or any(n.name == name for n, _ in made):
            why = problem or "is a second section of that name"
            unusable.append((section.where, f"network {shown(section.title)} {why}: skipped"))
            continue
        primary = i == primary_at
        kind = "ipmi" if "ipmi" in name or "bmc" in name else "ether"
        if name.startswith("ib") or "infiniband" in name:
            kind = "ib"
        suffix = "" if primary else _suffix(section, nodes, name, {n.suffix for n, _ in made})
        cidr, outside = _cidr([line.ip for line in section.lines])
        network = Network(name, kind, primary, suffix, kind != "ipmi", cidr)
        parts = [kind, "primary" if primary else f"suffix {suffix}", cidr or "no CIDR"]
        if outside:
            parts.append(f"{counted(outside, 'IP')} of the section outside it: see the check")
        made.append((network, f"{name} ({', '.join(parts)}) from {section.where}"))
    return made


def _suffix(section: _Section, nodes: set[str], fallback: str, taken: set[str]) -> str:
    """The suffix most names of a slave section carry after a node name (`beo-01-ib`)."""
    found: Counter[str] = Counter()
    for line in section.lines:
        for name in line.names:
            lower = name.lower()
            for at, char in enumerate(lower):
                if char == "-" and lower[:at] in nodes:
                    found[lower[at + 1 :]] += 1
    for suffix, _ in found.most_common():
        if suffix not in taken and hostname_problem(suffix) is None and "." not in suffix:
            return suffix
    return re.sub(r"[^a-z0-9-]+", "-", fallback).strip("-") or "net"  # "my_net" -> "my-net"


def _cidr(ips: list[str]) -> tuple[str, int]:
    """The smallest /24 (IPv4) or /64 (IPv6), or wider, holding all of `ips`, and 0; but never
    wider than a /16 (/48): one stray address must not make the network 0.0.0.0/0, which no
    IP is ever outside. Then the block holds the IPs of the fullest /16 (/48), and the count
    of those left outside it (the check lists them)."""
    numbers = [_number(ip) for ip in ips]
    v4 = [value for bits, value in numbers if bits == 32]
    values, bits, narrowest, widest = (
        (v4, 32, 24, 16) if v4 else ([value for _, value in numbers], 128, 64, 48)
    )
    if not values:
        return "", 0
    if bits - (min(values) ^ max(values)).bit_length() < widest:
        blocks = Counter(value >> (bits - widest) for value in values)
        fullest = blocks.most_common(1)[0][0]
        values = [value for value in values if value >> (bits - widest) == fullest]
    low, high = min(values), max(values)
    prefix = min(narrowest, bits - (low ^ high).bit_length())
    network = ipaddress.ip_network((low >> (bits - prefix) << (bits - prefix), prefix))
    return str(network), len(numbers) - len(values)


def _number(ip: str) -> tuple[int, int]:
    """(32 or 128, the address as an integer) of a canonical IP (ipaddress is ~20x slower)."""
    family, bits = (socket.AF_INET6, 128) if ":" in ip else (socket.AF_INET, 32)
    return bits, int.from_bytes(socket.inet_pton(family, ip), "big")


def _not_a_host(ip: str) -> bool:
    """Loopback, multicast or unspecified: the lines of /etc/hosts no cluster host has."""
    if ":" in ip:
        address = ipaddress.IPv6Address(ip)
        return address.is_loopback or address.is_multicast or address.is_unspecified
    first = int(ip.split(".", 1)[0])
    return first == 127 or 224 <= first <= 239 or ip == "0.0.0.0"


# --- key and MAC lines ---------------------------------------------------------------------


def _hashed(pattern: str) -> tuple[bytes, bytes]:
    parts = pattern.split("|")
    try:
        if len(parts) != 4 or parts[0] or parts[1] != "1":
            raise binascii.Error
        salt = binascii.a2b_base64(parts[2], strict_mode=True)
        digest = binascii.a2b_base64(parts[3], strict_mode=True)
        if len(salt) != _SHA1_SIZE or len(digest) != _SHA1_SIZE:
            raise binascii.Error
    except binascii.Error:
        raise _Unusable(f"{shown(pattern)} is not a hashed name (|1|salt|hash)") from None
    return salt, digest


def _ethers_line(body: str) -> tuple[str, str, str]:
    """(MAC, name or "", IP or "") of an /etc/ethers line."""
    fields = body.split()
    if len(fields) != 2:
        raise _Unusable("expected 'MAC name-or-IP'")
    mac = mac_key(fields[0])
    if mac is None:
        raise _Unusable(f"{shown(fields[0])} is not a MAC address")
    if ip_key(fields[1]) is not None:
        return mac, "", _ip(fields[1])
    return mac, _name(fields[1]), ""


def _dhcp_host_line(body: str) -> tuple[str, str, str] | None:
    """(MAC, name or "", IP or "") of a `dhcp-host=` line; None for other dnsmasq lines."""
    if not body.startswith("dhcp-host="):
        return None
    macs, names, ips = [], [], []
    for item in body.removeprefix("dhcp-host=").split(","):
        item = item.strip()
        if not item or item.lower().startswith(_DHCP_SKIP) or _LEASE.fullmatch(item):
            continue
        if item == "ignore":
            raise _Unusable("an 'ignore' entry: no MAC to import")
        if mac := mac_key(item):
            macs.append(mac)
        elif item.startswith("[") and item.endswith("]"):
            ips.append(_ip(item[1:-1]))
        elif ip_key(item) is not None:
            ips.append(_ip(item))
        elif ":" in item or "*" in item:
            raise _Unusable(f"{shown(item)} is not a MAC, IP, host name or lease time")
        else:
            names.append(_name(item))
    if len(macs) != 1 or len(names) > 1 or len(ips) > 1:
        raise _Unusable("expected one MAC and a host name or IP (qlutui keeps one MAC per network)")
    if not names and not ips:
        raise _Unusable("a MAC without a host name or IP")
    return macs[0], (names or [""])[0], (ips or [""])[0]


_MacParser = Callable[[str], "tuple[str, str, str] | None"]

# --- the work: the inventory being built and its indexes -----------------------------------


class _Work:
    def __init__(self, current: Inventory) -> None:
        self.current = current
        self.networks = list(current.networks)
        self.hosts = [_copy(h) for h in current.hosts]
        self.unusable: list[_Refusal] = []
        self.notes: list[str] = []
        self.touched: set[int] = set()
        self.nodes: dict[str, int] = {}  # lower-cased node name -> host index
        self.names: dict[str, tuple[int, str]] = {}  # lower-cased name -> (host, network)
        self.ips: dict[str, tuple[int, str]] = {}  # canonical IP -> (host, network)
        self.set_by: dict[tuple[int, str, str], _Where] = {}  # (host, network, what) -> line
        self.keys: dict[int, list[str]] = {}  # host -> imported "type base64"
        self.hash_candidates: list[list[bytes]] | None = None
        self.cidrs: dict[str, tuple[int, int, int]] = {}  # network -> (bits, address, mask)
        by_name = {n.name: n for n in self.networks}
        for i in range(len(self.hosts)):
            self._index(i, by_name)

    @property
    def primary(self) -> Network | None:
        return next((n for n in self.networks if n.primary), None)

    def _index(self, i: int, by_name: dict[str, Network]) -> None:
        host = self.hosts[i]
        self.nodes.setdefault(host.name.lower(), i)
        for net, ip in host.ips.items():
            network = by_name.get(net)
            if network is not None:
                name = host.name if network.primary else f"{host.name}-{network.suffix}"
                self.names.setdefault(name.lower(), (i, net))
            if key := ip_key(ip):
                self.ips.setdefault(key, (i, net))
        if host.override:
            self.names.setdefault(host.override.lower(), (i, host.override_network))
        for net, aliases in host.aliases.items():
            for alias in aliases:
                self.names.setdefault(alias.lower(), (i, net))

    # -- hosts files ------------------------------------------------------------------------

    def import_hosts(self, sources: list[ImportSource]) -> None:
        placed: list[tuple[Network, _HostsLine]] = []
        for source in sources:
            sections, plain = _parse_hosts(source, self.unusable)
            if sections and not self.networks:
                made = _networks_from(sections, self.unusable)
                self.networks = [n for n, _ in made]
                self.notes += [note for _, note in made]
            for section in sections:
                network = self._network_named(section.title)
                if network is None:
                    self.unusable.append(
                        (
                            section.where,
                            f"network {shown(section.title)} is not in the inventory:"
                            f" its {len(section.lines)} lines skipped",
                        )
                    )
                    continue
                placed += [(network, line) for line in section.lines]
            placed += [(n, line) for line in plain if (n := self._network_of(line))]
        for network, line in placed:  # the nodes first: slave lines name them
            if network.primary:
                self._line(network, line)
        for network, line in placed:
            if not network.primary:
                self._line(network, line)

    def _network_named(self, title: str) -> Network | None:
        return next((n for n in self.networks if n.name.lower() == title.lower()), None)

    def _network_of(self, line: _HostsLine) -> Network | None:
        bits, value = _number(line.ip)
        for network in self.networks:
            if network.cidr and network.name not in self.cidrs:
                net = ipaddress.ip_network(network.cidr, strict=False)
                self.cidrs[network.name] = (
                    net.max_prefixlen,
                    int(net.network_address),
                    int(net.netmask),
                )
            span = self.cidrs.get(network.name)
            if span and span[0] == bits and value & span[2] == span[1]:
                return network
        known = ", ".join(f"{n.name} {n.cidr}" for n in self.networks if n.cidr)
        if _not_a_host(line.ip):  # localhost and the like, in every /etc/hosts
            reason = f"{line.ip} is a loopback or multicast address, not a cluster host"
            self.unusable.append((line.where, reason))
            return None
        self.unusable.append(
            (
                line.where,
                f"no network's CIDR holds {line.ip}"
                + (
                    f" ({known})"
                    if known
                    else " (the inventory has no networks with a CIDR yet: a plain hosts file"
                    " needs them first, e.g. `qlutui networks add boot --kind ether --primary"
                    " --cidr 10.0.0.0/16`)"
                ),
            )
        )
        return None

    def _line(self, network: Network, line: _HostsLine) -> None:
        try:
            if network.primary:
                i, extra = self._node(line.names[0], network.name), line.names[1:]
            else:
                i, extra = self._slave_owner(network, line.names)
            self._set(i, network.name, "ip", line.ip, line.where)
        except _Unusable as reason:
            self.unusable.append((line.where, str(reason)))
            return
        host = self.hosts[i]
        self.touched.add(i)
        self.ips.setdefault(line.ip, (i, network.name))
        own = {n.lower() for n in host_names(self.current, host, network)}
        for alias in extra:
            if alias.lower() not in own:
                host.aliases.setdefault(network.name, []).append(alias)
                own.add(alias.lower())
                self.names.setdefault(alias.lower(), (i, network.name))

    def _node(self, name: str, primary: str) -> int:
        i = self.nodes.get(name.lower())
        if i is None:
            i = len(self.hosts)
            self.hosts.append(Host(name, {}))
            self.nodes[name.lower()] = i
            self.names.setdefault(name.lower(), (i, primary))
        return i

    def _slave_owner(self, network: Network, names: list[str]) -> tuple[int, list[str]]:
        ending = f"-{network.suffix.lower()}"
        for at, name in enumerate(names):
            if name.lower().endswith(ending) and len(name) > len(ending):
                node = name[: -len(ending)]
                i = self.nodes.get(node.lower())
                if i is None:
                    primary = self.primary.name if self.primary else "the primary network"
                    raise _Unusable(f"{node} (of {name}) has no line on {primary}")
                self.names.setdefault(name.lower(), (i, network.name))
                return i, names[:at] + names[at + 1 :]
        raise _Unusable(
            f"no name ends in '{ending}' (network {network.name}'s suffix): whose IP is it?"
        )

    def _set(self, i: int, net: str, what: str, value: str, where: _Where) -> None:
        """Set the host's IP or MAC on `net`; a second, different value from the same import
        is refused for its line (the first one stands)."""
        host = self.hosts[i]
        table = host.ips if what == "ip" else host.macs
        old = table.get(net)
        first = self.set_by.get((i, net, what))
        if first is not None and old != value:
            raise _Unusable(f"{host.name} already has {what.upper()} {old} on {net} ({first})")
        if old is None or (old != value and (ip_key(old) if what == "ip" else old) != value):
            table[net] = value
        self.set_by.setdefault((i, net, what), where)

    # -- host keys --------------------------------------------------------------------------

    def import_known_hosts(self, source: ImportSource) -> None:
        last = 0
        for number, raw, body in _lines(source):
            where = _Where(source.path, number)
            try:
                _checked(raw)
                if not body:
                    continue
                i, key = self._key_line(body, last)
            except _Unusable as reason:
                self.unusable.append((where, str(reason)))
                continue
            last = i
            keys = self.keys.setdefault(i, [])
            if key not in keys:
                keys.append(key)

    def _candidates(self) -> list[list[bytes]]:
        """Per host, every name and IP it has, as OpenSSH would hash them (worked out at the
        first hashed line; importing keys changes no name)."""
        if self.hash_candidates is not None:
            return self.hash_candidates
        by_name = {n.name: n for n in self.networks}
        found = []
        for host in self.hosts:
            texts = [ip for ip in host.ips.values()]
            for net in host.ips:
                if net in by_name:
                    texts += host_names(self.current, host, by_name[net])
            texts += [t.lower() for t in texts if t != t.lower()]
            found.append([t.encode() for t in dict.fromkeys(texts)])
        self.hash_candidates = found
        return found

    def _key_line(self, body: str, last: int) -> tuple[int, str]:
        if body.startswith("@"):
            marker = body.split()[0]
            what = "a host CA" if marker == "@cert-authority" else "a revoked key"
            raise _Unusable(f"{shown(marker)} line: {what}, not a host key")
        fields = body.split()
        if len(fields) < 3:
            raise _Unusable("expected 'names keytype base64-key'")
        problem = host_key_problem(fields[1], fields[2])
        if problem:
            raise _Unusable(problem)
        owners: set[int] = set()
        for pattern in fields[0].split(","):
            if pattern.startswith("|"):
                salt, digest = _hashed(pattern)
                owner = _match_hashed(salt, digest, self._candidates(), last)
                if owner is None:
                    raise _Unusable("hashed name matches no name or IP of the inventory")
                owners.add(owner)
                continue
            if any(c in pattern for c in "*?!"):
                raise _Unusable(f"wildcard pattern {shown(pattern)} is not a host name")
            if pattern.startswith("["):
                host, _, port = pattern[1:].partition("]:")
                if port != "22":
                    raise _Unusable(f"{shown(pattern)}: host keys are imported for port 22 only")
                pattern = host
            found = self._lookup(pattern)
            if found is not None:
                owners.add(found[0])
        if not owners:
            raise _Unusable(f"{shown(fields[0])} names no host of the inventory")
        if len(owners) > 1:
            names = ", ".join(sorted(self.hosts[i].name for i in owners))
            raise _Unusable(f"names several hosts ({names})")
        return owners.pop(), f"{fields[1]} {fields[2]}"

    def _lookup(self, text: str) -> tuple[int, str] | None:
        """(host, network) of a name or IP, None when the inventory has none such."""
        if ip_key(text) is not None:
            return self.ips.get(_ip(text))
        return self.names.get(_name(text).lower())

    def merge_keys(self) -> None:
        """Imported keys replace the host's keys of the same types; others are kept."""
        for i, imported in self.keys.items():
            host = self.hosts[i]
            self.touched.add(i)
            types = {k.split()[0] for k in imported}
            kept = [k for k in host.host_keys if k.split()[0] not in types or _bare(k) in imported]
            have = {_bare(k) for k in kept}
            host.host_keys = kept + [k for k in imported if k not in have]

    # -- MACs -------------------------------------------------------------------------------

    def import_macs(self, source: ImportSource, parse: _MacParser) -> None:
        for number, raw, body in _lines(source):
            where = _Where(source.path, number)
            try:
                _checked(raw)
                if not body or (entry := parse(body)) is None:
                    continue
                mac, name, ip = entry
                by_name = self.names.get(name.lower()) if name else None
                by_ip = self.ips.get(ip) if ip else None
                if name and by_name is None:
                    raise _Unusable(no_such("host", name, "in the inventory"))
                if ip and by_ip is None:
                    raise _Unusable(f"no host has the IP {ip}")
                if by_name and by_ip and by_name[0] != by_ip[0]:
                    raise _Unusable(f"{name} and {ip} are different hosts")
                i, net = by_ip or by_name  # type: ignore[misc]
                self._set(i, net, "mac", mac, where)
            except _Unusable as reason:
                self.unusable.append((where, str(reason)))
                continue
            self.touched.add(i)

    # -- the result -------------------------------------------------------------------------

    def plan(self, sources: list[ImportSource]) -> ImportPlan:
        inventory = Inventory(self.networks, self.hosts, list(self.current.default_host_keys))
        order = {s.path: i for i, s in reversed(list(enumerate(sources)))}
        refusals = sorted(self.unusable, key=lambda r: (order.get(r[0].path, 0), r[0].number))
        unusable = [f"{where}: {reason}" for where, reason in refusals]
        plan = ImportPlan(inventory, networks=self.notes, unusable=unusable)
        old = self.current.hosts
        for i in sorted(self.touched):
            if i >= len(old):
                plan.added.append(self.hosts[i].name)
            elif self.hosts[i] != old[i]:
                plan.changed.append(self.hosts[i].name)
            else:
                plan.unchanged.append(self.hosts[i].name)
        plan.clashes = [str(p) for p in check_unique(inventory)]
        return plan


def _match_hashed(
    salt: bytes, digest: bytes, candidates: list[list[bytes]], last: int
) -> int | None:
    """The host one of whose names hashes to `digest`. The host of the previous line and the
    next one are tried first: known_hosts files list a host's names together, in order, so
    a whole file costs a few hashes per line rather than one per name of the cluster."""
    order: Iterable[int] = (last, last + 1)
    for pass_ in (order, range(len(candidates))):
        for i in pass_:
            if 0 <= i < len(candidates):
                for text in candidates[i]:
                    if hmac.compare_digest(hmac.digest(salt, text, "sha1"), digest):
                        return i
    return None


def _bare(key: str) -> str:
    return " ".join(key.split()[:2])


def _copy(host: Host) -> Host:
    return Host(
        name=host.name,
        ips=dict(host.ips),
        aliases={net: list(names) for net, names in host.aliases.items()},
        override=host.override,
        override_network=host.override_network,
        host_keys=list(host.host_keys),
        image=host.image,
        macs=dict(host.macs),
    )
