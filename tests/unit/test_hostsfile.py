"""The generated hosts table: QluMan's section layout, the header rules, and every way the
inventory or the header could put a name or an IP in it twice."""

from __future__ import annotations

import pytest

from qlutui.backend.demo import build_inventory
from qlutui.errors import InvalidInput
from qlutui.model.hostsfile import header_problems, render
from qlutui.model.inventory import Inventory
from qlutui.model.sshfiles import BANNER


@pytest.fixture
def inv() -> Inventory:
    return Inventory.from_dict(build_inventory(3, key_source=lambda c: f"ssh-ed25519 AAAA {c}"))


def test_sections_per_network_with_every_name(inv: Inventory) -> None:
    text = render(inv, "")
    assert text.startswith(BANNER + "\n# Network: boot\n")
    sections = {}
    for line in text.splitlines()[1:]:
        if line.startswith("# Network: "):
            current = sections.setdefault(line.removeprefix("# Network: "), [])
        else:
            current.append(line)
    assert list(sections) == [n.name for n in inv.networks]
    assert "127.52.1.3\tlogin-c frontend" in sections["boot"]
    assert "127.53.1.3\tlogin-c-ib" in sections["ib"]
    assert any(line.endswith("\tlogin-c-ext login gateway www") for line in sections["extern"])
    assert "127.52.1.11\tbeo-01" in sections["boot"]
    assert not any("beo-01" in line for line in sections["extern"])  # no IP there
    ips = [line.split("\t")[0] for lines in sections.values() for line in lines]
    assert len(ips) == len(set(ips))  # one line per IP
    names = [
        n for lines in sections.values() for line in lines for n in line.split("\t")[1].split()
    ]
    assert len(names) == len(set(names))  # never a name twice


def test_a_network_can_stay_out(inv: Inventory) -> None:
    data = build_inventory(3, key_source=lambda c: f"ssh-ed25519 AAAA {c}")
    next(n for n in data["networks"] if n["name"] == "ipmi")["hosts_file"] = False
    text = render(Inventory.from_dict(data), "")
    assert "# Network: ipmi" not in text and "-ipmi" not in text
    assert render(inv, "") != text


def test_the_header_comes_first_verbatim(inv: Inventory) -> None:
    header = "### License server not managed by qlutui\n192.168.55.42  license-server\n"
    assert render(inv, header).startswith(header + BANNER + "\n")
    assert render(inv, header.rstrip("\n")).startswith(header + BANNER)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("fd00::1%eth0 x", "not a plain IPv4 or IPv6 address"),
        ("192.168.55.0/24 x", "not a plain IPv4 or IPv6 address"),
        ("license-server", "not a plain IPv4 or IPv6 address"),
        ("192.168.55.42", "an IP without a name"),
        ("192.168.55.42 bad_name", "name 'bad_name'"),
        ("192.168.55.42 a,b", "name 'a,b'"),
        ("192.168.55.42 *", "name '*'"),
        ("192.168.55.42 x\x1b[2J", "control characters"),
    ],
)
def test_bad_header_lines_are_named(inv: Inventory, line: str, reason: str) -> None:
    header = f"# fine\n192.168.55.41 fine\n{line}\n"
    problems = header_problems(header)
    assert [p.line for p in problems] == [3]
    assert reason in problems[0].reason
    with pytest.raises(InvalidInput, match="line 3"):
        render(inv, header)


@pytest.mark.parametrize(
    ("line", "clash"),
    [
        ("192.168.55.42 beo-01", "beo-01 is also host beo-01's"),
        ("192.168.55.42 WWW", "www is also host login-c's"),
        ("127.52.1.11 printer", "127.52.1.11 is also host beo-01's"),
    ],
)
def test_a_header_entry_the_inventory_has_is_refused(inv: Inventory, line: str, clash: str) -> None:
    with pytest.raises(InvalidInput, match=f"header line 2: {clash}"):
        render(inv, f"# by hand\n{line}\n")


def test_inventory_clashes_refuse_the_file() -> None:
    data = build_inventory(3, key_source=lambda c: f"ssh-ed25519 AAAA {c}")
    data["hosts"][-1]["aliases"] = {"boot": ["beo-01"]}
    with pytest.raises(InvalidInput, match="name 'beo-01' used by"):
        render(Inventory.from_dict(data), "")
