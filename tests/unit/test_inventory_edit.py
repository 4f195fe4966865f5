"""IP assignment and the pure inventory edits (model/inventory_edit.py), and MACs."""

from __future__ import annotations

import pytest

from qlutui.errors import InvalidInput, Refused
from qlutui.model.inventory import Host, Inventory, Network, check_unique, mac_key
from qlutui.model.inventory_edit import (
    AUTO,
    HostFields,
    add_hosts,
    add_network,
    assign_ips,
    mapped_ip,
    network_users,
    numbered,
    remove_hosts,
    remove_network,
    set_hosts,
    set_network,
)

BOOT = Network("boot", "ether", primary=True, cidr="192.168.17.0/24")
IB = Network("ib", "ib", suffix="ib", cidr="192.168.18.0/24")
IPMI = Network("ipmi", "ipmi", suffix="ipmi", ssh=False, cidr="10.1.0.0/16")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC5WOysFHad9ytriYwVl61XNqSAGHaRMvmxKSC37hQYx"


def inventory(*hosts: Host) -> Inventory:
    return Inventory([BOOT, IB, IPMI], list(hosts))


def test_mac_key_normalises_and_refuses() -> None:
    assert mac_key("AA-BB-CC-DD-EE-0F") == "aa:bb:cc:dd:ee:0f"
    assert mac_key("0:1:2:3:4:5") == "00:01:02:03:04:05"
    for bad in ("aa:bb-cc:dd:ee:ff", "aa:bb:cc:dd:ee", "aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff\n", 5):
        assert mac_key(bad) is None


def test_macs_round_trip_and_are_validated() -> None:
    data = {
        "networks": [{"name": "boot", "kind": "ether", "primary": True}],
        "hosts": [
            {"name": "a", "ips": {"boot": "10.0.0.1"}, "macs": {"boot": "aa:bb:cc:dd:ee:ff"}}
        ],
    }
    inv = Inventory.from_dict(data)
    assert inv.hosts[0].macs == {"boot": "aa:bb:cc:dd:ee:ff"}
    assert inv.to_dict()["hosts"][0]["macs"] == {"boot": "aa:bb:cc:dd:ee:ff"}
    assert "macs" not in Inventory.from_dict({"hosts": [{"name": "b"}]}).to_dict()["hosts"][0]
    data["hosts"][0]["macs"] = {"boot": "AA:BB:CC:DD:EE:FF"}  # stored only in the plain form
    with pytest.raises(InvalidInput, match=r"hosts\[0\] \(a\): macs.boot: not a MAC"):
        Inventory.from_dict(data)


def test_mac_clash_and_unknown_network_are_problems() -> None:
    mac = "aa:bb:cc:dd:ee:ff"
    a = Host("a", {"boot": "192.168.17.1"}, macs={"boot": mac})
    b = Host("b", {"boot": "192.168.17.2"}, macs={"boot": mac, "nope": "00:00:00:00:00:01"})
    problems = [str(p) for p in check_unique(inventory(a, b))]
    assert f"mac '{mac}' used by a (boot), b (boot)" in problems
    assert "unknown network 'nope': b (macs)" in problems


def test_numbering_skips_used_network_and_broadcast() -> None:
    used = {"192.168.17.3"}
    assert numbered("192.168.17.0", 3, BOOT, used) == [
        "192.168.17.1",
        "192.168.17.2",
        "192.168.17.4",
    ]
    assert numbered("192.168.17.3", 1, BOOT, used) == ["192.168.17.3"]  # the one named
    assert numbered("192.168.17.253", 2, BOOT, set()) == ["192.168.17.253", "192.168.17.254"]
    with pytest.raises(Refused, match=r"192.168.17.0/24 has no free address for 1 more host"):
        numbered("192.168.17.253", 3, BOOT, set())
    with pytest.raises(InvalidInput, match=r"outside boot's 192\.168\.17\.0/24"):
        numbered("192.168.19.1", 1, BOOT, set())
    for bad in ("192.168.17.1/24", "192.168.17", "x"):  # scope ids: c-trust's ip_key
        with pytest.raises(InvalidInput, match="not a plain IPv4 or IPv6 address"):
            numbered(bad, 1, BOOT, set())
    v6 = Network("v6", "ether", primary=True, cidr="fd00::/126")
    assert numbered("fd00::", 3, v6, set()) == ["fd00::1", "fd00::2", "fd00::3"]


def test_slave_ip_maps_the_host_part() -> None:
    assert mapped_ip("192.168.17.100", BOOT, IB) == "192.168.18.100"
    assert mapped_ip("192.168.17.100", BOOT, IPMI) == "10.1.0.100"
    small = Network("s", "ether", suffix="s", cidr="10.9.9.0/28")
    with pytest.raises(InvalidInput, match=r"does not fit s's 10\.9\.9\.0/28"):
        mapped_ip("192.168.17.100", BOOT, small)


def test_bulk_add_numbers_and_maps() -> None:
    inv = inventory(Host("old", {"boot": "192.168.17.11", "ib": "192.168.18.11"}))
    names = [f"beo-{i:02d}" for i in range(1, 5)]
    fields = HostFields(ips={"boot": "192.168.17.10", "ib": AUTO, "ipmi": AUTO}, image="X")
    new = add_hosts(inv, names, fields)
    added = {h.name: h for h in new.hosts[1:]}
    assert list(added) == names
    assert [h.ips["boot"] for h in added.values()] == [
        "192.168.17.10",
        "192.168.17.12",
        "192.168.17.13",
        "192.168.17.14",
    ]
    assert added["beo-02"].ips == {
        "boot": "192.168.17.12",
        "ib": "192.168.18.12",
        "ipmi": "10.1.0.12",
    }
    assert all(h.image == "X" for h in added.values())
    assert check_unique(new) == []
    assert inv.hosts == [Host("old", {"boot": "192.168.17.11", "ib": "192.168.18.11"})]
    with pytest.raises(Refused, match=r"2 hosts exist already: beo-\[01-02\]"):
        add_hosts(new, ["beo-01", "beo-02"], fields)
    with pytest.raises(InvalidInput, match="need an IP on the primary network boot"):
        add_hosts(inv, ["x"], HostFields(ips={"ib": "192.168.18.5"}))
    with pytest.raises(InvalidInput, match="unknown network 'nope'"):
        add_hosts(inv, ["x"], HostFields(ips={"boot": AUTO, "nope": AUTO}))


def test_renumber_frees_the_hosts_own_ips_and_set_fields() -> None:
    inv = add_hosts(inventory(), ["a", "b"], HostFields(ips={"boot": "192.168.17.1", "ib": AUTO}))
    new = set_hosts(inv, ["b", "a"], HostFields(ips={"boot": "192.168.17.1", "ib": AUTO}))
    assert {h.name: h.ips["ib"] for h in new.hosts} == {"a": "192.168.18.2", "b": "192.168.18.1"}
    new = set_hosts(
        new,
        ["a"],
        HostFields(
            aliases={"ib": ["www", "www"]},
            override="login",
            override_network="ib",
            macs={"boot": "AA-BB-CC-DD-EE-FF"},
            host_keys=[KEY + " root@a"],
        ),
    )
    a = new.hosts[0]
    assert (a.aliases, a.override, a.override_network, a.macs) == (
        {"ib": ["www"]},
        "login",
        "ib",
        {"boot": "aa:bb:cc:dd:ee:ff"},
    )
    assert a.host_keys == [KEY + " root@a"]
    gone = set_hosts(new, ["a"], HostFields(ips={"ib": ""}))  # no ib: its aliases go too
    assert gone.hosts[0].ips == {"boot": "192.168.17.2"} and gone.hosts[0].aliases == {}
    for fields, reason in [
        (HostFields(macs={"boot": "zz"}), "invalid MAC 'zz'"),
        (HostFields(aliases={"ib": ["a b"]}), "alias 'a b' on ib must be labels"),
        (HostFields(host_keys=["ssh-ed25519 AAAA"]), "host key 'ssh-ed25519 AAAA'"),
        (HostFields(override="-x"), "hostname override '-x'"),
    ]:
        with pytest.raises(InvalidInput, match=reason):
            set_hosts(new, ["a"], fields)
    with pytest.raises(InvalidInput, match=r"no host named 'nope-\[1-2\]'"):
        set_hosts(new, ["nope-1", "nope-2"], HostFields(image="X"))
    assert [h.name for h in remove_hosts(new, ["a"]).hosts] == ["b"]


def test_networks_add_set_remove() -> None:
    inv = add_hosts(inventory(), ["a", "b"], HostFields(ips={"boot": AUTO, "ib": AUTO}))
    ext = Network("extern", "ether", suffix="ext", cidr="172.16.0.0/16")
    inv = add_network(inv, ext)
    assert [n.name for n in inv.networks] == ["boot", "ib", "ipmi", "extern"]
    with pytest.raises(Refused, match="network extern exists already"):
        add_network(inv, ext)
    moved = set_network(inv, "extern", primary=True)
    assert [n.name for n in moved.networks if n.primary] == ["extern"]
    assert network_users(inv, "ib") == ["a", "b"]
    with pytest.raises(Refused, match=r"network ib is used by 2 hosts: a,b \(--drop-ips"):
        remove_network(inv, "ib")
    inv = set_hosts(inv, ["a"], HostFields(override="login", override_network="ib"))
    dropped = remove_network(inv, "ib", drop_ips=True)
    assert [n.name for n in dropped.networks] == ["boot", "ipmi", "extern"]
    assert all("ib" not in h.ips for h in dropped.hosts)
    assert dropped.hosts[0].override == "" and check_unique(dropped) == []
    assert remove_network(inv, "ipmi").networks[-1].name == "extern"


def test_assign_auto_primary_starts_at_the_first_host_address() -> None:
    ips = assign_ips(inventory(), ["x", "y"], {"boot": AUTO})
    assert ips == {"x": {"boot": "192.168.17.1"}, "y": {"boot": "192.168.17.2"}}
