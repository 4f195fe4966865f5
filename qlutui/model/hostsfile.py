"""The cluster's hosts table (QluMan's `/etc/dnsmasq.hosts`, REFERENCE.md §7).

The admin's header (hosts the inventory does not manage, `IP name...` lines and comments),
the banner, then one `# Network: <name>` section per network that has `hosts_file = true`,
with one `IP<TAB>names` line per host that has an IP there: the node name on the primary
network, `<node>-<suffix>` on a slave network, then the hostname override on its network and
the aliases of that network. The inventory guarantees every name and IP once (its clash
checks run first); a header name or IP that the generated part uses too is refused, so a
resolver never sees a name twice. Pure and deterministic, as the SSH files.
"""

from __future__ import annotations

from qlutui.errors import InvalidInput
from qlutui.model.generated import BANNER
from qlutui.model.inventory import Inventory, check_unique, host_names, hostname_problem, ip_key
from qlutui.model.names import counted
from qlutui.model.sshfiles import LineProblem

TITLE = "hosts table"


def options_from_dict(data: dict) -> tuple[str, str]:
    """(header, description) of the hosts table from files.toml data (`[hosts]`)."""
    table = data.get("hosts", {})
    if not isinstance(table, dict):
        raise InvalidInput("hosts: must be a table")
    values = []
    for key in ("header", "description"):
        value = table.get(key, "")
        if not isinstance(value, str):
            raise InvalidInput(f"hosts.{key}: must be text")
        values.append(value)
    return values[0], values[1]


def header_problems(header: str) -> list[LineProblem]:
    """Every bad line of a hosts-table header: `IP name [name ...] [# comment]` or a comment."""
    problems = []
    for number, line in enumerate(header.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            if line.strip() and not line.lstrip().startswith("#"):
                problems.append(LineProblem(number, line, "not an 'IP name ...' line"))
            continue
        if not line.replace("\t", " ").isprintable():  # tabs separate fields
            problems.append(LineProblem(number, line, "control characters"))
        elif ip_key(fields[0]) is None:
            reason = f"{fields[0]!r} is not a plain IPv4 or IPv6 address"
            problems.append(LineProblem(number, line, reason))
        elif len(fields) < 2:
            problems.append(LineProblem(number, line, "an IP without a name"))
        else:
            for name in fields[1:]:
                if problem := hostname_problem(name):
                    problems.append(LineProblem(number, line, f"name {name!r} {problem}"))
    return problems


def render(inventory: Inventory, header: str) -> str:
    """The whole file; InvalidInput naming every problem when it cannot be made (a bad
    header line, an inventory clash, a header entry the generated part uses too)."""
    if header and not header.endswith("\n"):
        header += "\n"
    problems = [str(p) for p in header_problems(header)]
    problems += [str(p) for p in check_unique(inventory)]
    lines = [BANNER]
    used: dict[str, str] = {}  # lower-cased name or canonical IP -> the host that has it
    for network in inventory.networks:
        if not network.hosts_file:
            continue
        lines.append(f"# Network: {network.name}")
        for host in inventory.hosts:
            ip = host.ips.get(network.name)
            if ip is None:
                continue
            names = host_names(inventory, host, network)
            lines.append(f"{ip}\t{' '.join(names)}")
            for value in (ip_key(ip) or ip, *(n.lower() for n in names)):
                used[value] = host.name
    problems += _header_clashes(header, used)
    if problems:
        raise InvalidInput(f"{TITLE}: {counted(len(problems), 'problem')}: {'; '.join(problems)}")
    return header + "\n".join(lines) + "\n"


def _header_clashes(header: str, used: dict[str, str]) -> list[str]:
    clashes = []
    for number, line in enumerate(header.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        values = (
            [ip_key(fields[0]) or fields[0], *(f.lower() for f in fields[1:])] if fields else []
        )
        clashes += [
            f"header line {number}: {value} is also host {used[value]}'s"
            for value in values
            if value in used
        ]
    return clashes
