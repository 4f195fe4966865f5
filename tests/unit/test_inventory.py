from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlutui.backend.demo import build_inventory
from qlutui.errors import InvalidInput
from qlutui.model.inventory import (
    Host,
    Inventory,
    Network,
    Problem,
    check_unique,
    host_names,
    ip_key,
)

NETWORKS = [
    Network("boot", "ether", primary=True, cidr="10.0.0.0/16"),
    Network("ib", "ib", suffix="ib"),
    Network("ipmi", "ipmi", suffix="ipmi", ssh=False),
    Network("extern", "ether", suffix="ext"),
]


def cheap_key(comment: str) -> str:
    return f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI {comment}"


def host(name: str, n: int, **extra) -> Host:
    ips = extra.pop("ips", {"boot": f"10.0.0.{n}", "ib": f"10.1.0.{n}"})
    return Host(name, ips, **extra)


def inventory(*hosts: Host) -> Inventory:
    return Inventory(list(NETWORKS), list(hosts), [cheap_key("root@default")])


def texts(inv: Inventory) -> list[str]:
    return [str(p) for p in check_unique(inv)]


# --- from_dict / to_dict -----------------------------------------------------------------


def test_demo_inventory_loads_round_trips_and_is_clean():
    data = build_inventory(20, key_source=cheap_key)
    inv = Inventory.from_dict(data)
    assert len(inv.hosts) == 23 and [n.name for n in inv.networks] == [
        "boot",
        "ib",
        "ipmi",
        "extern",
    ]
    assert Inventory.from_dict(inv.to_dict()) == inv
    assert check_unique(inv) == []
    login = next(h for h in inv.hosts if h.name == "login-c")
    assert login.override == "login" and login.aliases["extern"] == ["gateway", "www"]


def test_empty_inventory():
    inv = Inventory.from_dict({})
    assert inv == Inventory([], [], [])
    assert check_unique(inv) == []


def test_defaults_when_loading():
    inv = Inventory.from_dict(
        {
            "networks": [
                {"name": "boot", "kind": "ether", "primary": True},
                {"name": "bmc", "kind": "ipmi", "suffix": "ipmi"},
            ],
            "hosts": [{"name": "beo-01", "ips": {"boot": "10.0.0.1"}, "aliases": {"boot": "a b"}}],
        }
    )
    assert inv.networks[0].ssh is True
    assert inv.networks[1].ssh is False  # IPMI takes no part in SSH files unless asked
    assert inv.hosts[0].aliases == {"boot": ["a", "b"]}  # space-separated form accepted
    assert inv.hosts[0].host_keys == [] and inv.hosts[0].image == ""


def test_to_dict_leaves_out_empty_optional_fields():
    data = inventory(host("beo-01", 1)).to_dict()
    assert data["hosts"] == [{"name": "beo-01", "ips": {"boot": "10.0.0.1", "ib": "10.1.0.1"}}]
    assert data["networks"][1] == {
        "name": "ib",
        "kind": "ib",
        "primary": False,
        "suffix": "ib",
        "ssh": True,
        "cidr": "",
    }


def hosts_data(*entries):
    return {
        "networks": [{"name": "boot", "kind": "ether", "primary": True}],
        "hosts": list(entries),
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            hosts_data(
                {"name": "beo-00", "ips": {}},
                {"name": "beo-01", "ips": {}},
                {"name": "beo-02", "ips": {}},
                {"name": "beo-03", "ips": {"ib": "10.0.0.300"}},
            ),
            "hosts[3] (beo-03): ips.ib: not an IP address ('10.0.0.300')",
        ),
        (hosts_data({"ips": {}}), "hosts[0]: name is missing"),
        (hosts_data("beo"), "hosts[0]: must be a table"),
        (hosts_data({"name": 5}), "hosts[0]: name: must be text"),
        (hosts_data({"name": "beo_01"}), "hosts[0] (beo_01): name 'beo_01' must be labels"),
        (hosts_data({"name": "-beo"}), "hosts[0] (-beo): name '-beo' must be labels"),
        (hosts_data({"name": "a\nb"}), r"hosts[0] ('a\nb'): name 'a\nb' must be labels"),
        (hosts_data({"name": "a", "ips": ["1.2.3.4"]}), "hosts[0] (a): ips: must be a table"),
        (hosts_data({"name": "a", "ips": {"boot": 1}}), "hosts[0] (a): ips.boot: not an IP"),
        (hosts_data({"name": "a", "override": "x y"}), "hosts[0] (a): override 'x y' must be"),
        (hosts_data({"name": "a", "image": "-i"}), "hosts[0] (a): image '-i' must not start"),
        (
            hosts_data({"name": "a", "aliases": {"boot": ["ok", "no_pe"]}}),
            "hosts[0] (a): aliases.boot: 'no_pe' must be labels",
        ),
        (
            hosts_data({"name": "a", "aliases": {"boot": [1]}}),
            "hosts[0] (a): aliases.boot: must be a list of names",
        ),
        (
            hosts_data({"name": "a", "host_keys": ["AAAA"]}),
            "hosts[0] (a): host_keys[0]: not a public key line",
        ),
        (
            hosts_data({"name": "a", "host_keys": ["ssh-ed25519 AAAA\nssh-rsa BBBB"]}),
            "hosts[0] (a): host_keys[0]: not a public key line",
        ),
        ({"default_host_keys": "ssh-ed25519 AAAA"}, "default_host_keys: must be a list"),
        ({"hosts": {}}, "hosts: must be a list"),
        ({"networks": [{"name": "boot"}]}, "networks[0] (boot): kind is missing"),
        (
            {"networks": [{"name": "boot", "kind": "wifi"}]},
            "networks[0] (boot): kind 'wifi' is not one of ether, ib, ipmi",
        ),
        (
            {"networks": [{"name": "ib", "kind": "ib"}]},
            "networks[0] (ib): a slave network needs a suffix",
        ),
        (
            {"networks": [{"name": "ib", "kind": "ib", "suffix": "i_b"}]},
            "networks[0] (ib): suffix 'i_b' must be labels",
        ),
        (
            {"networks": [{"name": "b", "kind": "ether", "primary": "yes"}]},
            "networks[0] (b): primary: must be true or false",
        ),
        (
            {"networks": [{"name": "b", "kind": "ether", "primary": True, "cidr": "10.0.0/33"}]},
            "networks[0] (b): cidr '10.0.0/33' is not a network address",
        ),
        (
            {"networks": [{"name": "../b", "kind": "ether", "primary": True}]},
            "networks[0] (../b): name must contain only",
        ),
    ],
)
def test_from_dict_names_the_entry_that_is_wrong(data, message):
    with pytest.raises(InvalidInput) as caught:
        Inventory.from_dict(data)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


# --- lookups and names -------------------------------------------------------------------


def test_network_primary_and_keys():
    own = host("beo-01", 1, host_keys=[cheap_key("root@beo-01")])
    plain = host("beo-02", 2)
    inv = inventory(own, plain)
    assert inv.network("ib") is NETWORKS[1]
    assert inv.primary.name == "boot"
    assert inv.keys_of(own) == [cheap_key("root@beo-01")]
    assert inv.keys_of(plain) == [cheap_key("root@default")]
    with pytest.raises(InvalidInput, match="unknown network 'nope'"):
        inv.network("nope")


def test_primary_needs_exactly_one():
    inv = Inventory([Network("a", "ether", suffix="a")], [], [])
    with pytest.raises(InvalidInput, match="no primary network"):
        _ = inv.primary
    inv = Inventory([Network("a", "ether", True), Network("b", "ether", True)], [], [])
    with pytest.raises(InvalidInput, match="2 primary networks"):
        _ = inv.primary


def test_host_names_per_network_in_order():
    login = host(
        "login-c",
        3,
        ips={"boot": "10.0.0.3", "ib": "10.1.0.3", "extern": "192.0.2.3"},
        override="login",
        override_network="extern",
        aliases={"extern": ["gateway", "www"], "boot": ["frontend"], "ipmi": ["bmc3"]},
    )
    inv = inventory(login)
    boot, ib, ipmi, extern = NETWORKS
    assert host_names(inv, login, boot) == ["login-c", "frontend"]
    assert host_names(inv, login, ib) == ["login-c-ib"]
    assert host_names(inv, login, extern) == ["login-c-ext", "login", "gateway", "www"]
    assert host_names(inv, login, ipmi) == []  # no IP there: aliases alone do not count


# --- check_unique ------------------------------------------------------------------------


def test_the_example_clash_is_reported_with_all_owners():
    beo = host(
        "beo-01",
        1,
        ips={"boot": "10.0.0.1", "ib": "10.1.0.1", "extern": "192.0.2.1"},
        aliases={"extern": ["beo-01-ib"]},
    )
    assert texts(inventory(beo)) == [
        "name 'beo-01-ib' used by beo-01 (ib), beo-01 (alias on extern)"
    ]


def test_names_clash_case_insensitively_across_roles():
    a = host("beo-01", 1, override="Beo-02", override_network="boot")
    b = host("beo-02", 2)
    c = host("login", 3, aliases={"ib": ["BEO-01"]})
    problems = check_unique(inventory(a, b, c))
    assert [str(p) for p in problems] == [
        "name 'Beo-02' used by beo-01 (override on boot), beo-02 (node name)",
        "name 'beo-01' used by beo-01 (node name), login (alias on ib)",
    ]
    assert problems[1].kind == "name" and problems[1].owners == (
        "beo-01 (node name)",
        "login (alias on ib)",
    )


def test_derived_names_clash_with_node_names():
    a = host("beo-01", 1)
    b = host("beo-01-ib", 2, ips={"boot": "10.0.0.2"})
    assert texts(inventory(a, b)) == ["name 'beo-01-ib' used by beo-01 (ib), beo-01-ib (node name)"]


def test_duplicate_node_names_and_ips():
    a = host("beo-01", 1)
    b = host("beo-01", 2, ips={"boot": "10.0.0.2", "ib": "10.0.0.1"})
    assert texts(inventory(a, b)) == [
        "name 'beo-01' used by beo-01 (node name), beo-01 (node name)",
        "name 'beo-01-ib' used by beo-01 (ib), beo-01 (ib)",
        "ip '10.0.0.1' used by beo-01 (boot), beo-01 (ib)",
    ]


def test_an_alias_listed_twice_on_one_host_clashes():
    a = host("beo-01", 1, aliases={"boot": ["www"], "ib": ["www"]})
    assert texts(inventory(a)) == [
        "name 'www' used by beo-01 (alias on boot), beo-01 (alias on ib)"
    ]


def test_ipv6_addresses_are_compared_canonically():
    a = host("a", 1, ips={"boot": "10.0.0.1", "ib": "fd00::1"})
    b = host("b", 2, ips={"boot": "10.0.0.2", "ib": "FD00:0:0::1"})
    assert texts(inventory(a, b)) == ["ip 'fd00::1' used by a (ib), b (ib)"]


def test_an_ip_outside_its_networks_cidr():
    """boot is 10.0.0.0/16; ib has no CIDR, so any address goes there."""
    inside = host("a", 1, ips={"boot": "10.0.255.254", "ib": "192.0.2.1"})
    outside = host("b", 2, ips={"boot": "10.1.0.2"})
    v6 = host("c", 3, ips={"boot": "fd00::3"})
    assert texts(inventory(inside, outside, v6)) == [
        "IP 10.1.0.2 is outside boot's 10.0.0.0/16: b (boot)",
        "IP fd00::3 is outside boot's 10.0.0.0/16: c (boot)",
    ]
    v6_net = Network("v6", "ether", suffix="v6", cidr="fd00::/64")
    inv = Inventory([*NETWORKS, v6_net], [host("d", 4, ips={"boot": "10.0.0.4", "v6": "fd00::4"})])
    inv.hosts.append(host("e", 5, ips={"boot": "10.0.0.5", "v6": "fd01::5"}))
    assert texts(inv) == ["IP fd01::5 is outside v6's fd00::/64: e (v6)"]


def test_invalid_ips_and_names_in_a_built_inventory():
    a = host("beo_01", 1, ips={"boot": "10.0.0.256", "ib": "10.1.0.1"}, aliases={"ib": ["-x"]})
    problems = texts(inventory(a))
    assert "invalid host name 'beo_01' (beo_01 (node name)): must be labels" in problems[0]
    assert problems[1] == "invalid IP '10.0.0.256' (beo_01 (boot))"
    assert "invalid host name 'beo_01-ib' (beo_01 (ib))" in problems[2]
    assert "invalid host name '-x' (beo_01 (alias on ib))" in problems[3]
    assert len(problems) == 4


def test_derived_names_longer_than_a_label_are_invalid():
    long = "n" * 61
    problems = texts(inventory(host(long, 1)))
    assert problems == [
        f"invalid host name '{long}-ib' ({long} (ib)): must be labels of letters, digits and '-'"
        " (not first or last), 1..63 characters each, separated by '.'"
    ]
    assert texts(inventory(host("n" * 60, 1))) == []  # beo-...-ib: exactly 63


def test_structural_problems():
    nets = [Network("boot", "ether", suffix="b"), Network("ib", "ib", suffix="ib")]
    inv = Inventory(nets, [host("a", 1)], [])
    assert texts(inv) == ["no primary network (exactly one network must be primary)"]
    nets = [Network("boot", "ether", True), Network("x", "ether", True)]
    assert texts(Inventory(nets, [], [])) == [
        "2 primary networks (boot, x); exactly one must be primary"
    ]
    nets = [*NETWORKS, Network("ib", "ib", suffix="ib"), Network("opa", "wifi", suffix="opa")]
    assert texts(Inventory(nets, [], [])) == [
        "network opa: kind 'wifi' is not one of ether, ib, ipmi",
        "network name 'ib' defined 2 times",
        "suffix 'ib' used by several networks: ib, ib",
    ]


def test_references_to_unknown_networks_and_missing_ips():
    a = host("a", 1, ips={"boot": "10.0.0.1", "wan": "192.0.2.1"}, aliases={"wan": ["w"]})
    b = host("b", 2, ips={"ib": "10.1.0.2"}, override="bee", override_network="extern")
    c = host("c", 3, override="sea", override_network="lan")
    d = host("d", 4, override="dee")
    assert texts(inventory(a, b, c, d)) == [
        "unknown network 'wan': a (ip), a (aliases)",
        "unknown network 'lan': c (override)",
        "b: no IP on boot",
        "b: hostname override 'bee' is on extern, where it has no IP",
        "d: hostname override 'dee' without a network",
    ]


def test_long_owner_lists_are_cut_short():
    hosts = [host(f"n{i}", i, ips={"boot": "10.9.9.9"}) for i in range(8)]
    problem = check_unique(inventory(*hosts))[0]
    assert len(problem.owners) == 8
    assert str(problem) == (
        "ip '10.9.9.9' used by n0 (boot), n1 (boot), n2 (boot), n3 (boot), n4 (boot) and 3 more"
    )


def test_problem_is_a_value():
    assert Problem("ip", "1.2.3.4", ("a (boot)", "b (boot)")) == Problem(
        "ip", "1.2.3.4", ("a (boot)", "b (boot)")
    )


def test_ip_key():
    assert ip_key("10.0.0.1") == "10.0.0.1"
    assert ip_key("2001:DB8::1") == "2001:db8::1"
    for bad in ("10.0.0", "10.0.0.01", "010.0.0.1", "1.2.3.4 ", "", "::g", 5, None):
        assert ip_key(bad) is None


names_st = st.sampled_from(["a", "b", "c", "A", "a-ib", "b-ib", "www", "a-ext"])
ips_st = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1", "fd00:0::1"])
hosts_st = st.lists(
    st.builds(
        Host,
        names_st,
        st.dictionaries(st.sampled_from(["boot", "ib", "extern"]), ips_st, max_size=3),
        st.dictionaries(st.sampled_from(["boot", "ib"]), st.lists(names_st, max_size=2)),
        names_st | st.just(""),
        st.sampled_from(["boot", "ib", "extern"]),
    ),
    max_size=6,
)


@settings(max_examples=300)
@given(hosts_st)
def test_every_clash_is_found_and_nothing_else(hosts):
    inv = inventory(*hosts)
    used_names: Counter[str] = Counter()
    used_ips: Counter[str] = Counter()
    for h in hosts:
        used_names[h.name.lower()] += 1
        used_names.update(f"{h.name}-{n.suffix}".lower() for n in NETWORKS[1:] if n.name in h.ips)
        used_names.update(a.lower() for aliases in h.aliases.values() for a in aliases)
        if h.override:
            used_names[h.override.lower()] += 1
        used_ips.update(ip_key(ip) for ip in h.ips.values())
    problems = check_unique(inv)
    clashing_names = {p.value.lower(): len(p.owners) for p in problems if p.kind == "name"}
    clashing_ips = {p.value: len(p.owners) for p in problems if p.kind == "ip"}
    assert clashing_names == {n: c for n, c in used_names.items() if c > 1}
    assert clashing_ips == {ip: c for ip, c in used_ips.items() if c > 1}


def big_inventory(hosts: int) -> Inventory:
    inv = Inventory.from_dict(build_inventory(hosts, key_source=cheap_key))
    for h in inv.hosts:  # every host on all four networks
        h.ips.setdefault("extern", h.ips["boot"].replace("127.52.", "127.60."))
        h.ips.setdefault("ipmi", h.ips["boot"].replace("127.52.", "127.54."))
    return inv


# How fast these run is measured in bench/ (P4), not asserted here.
def test_check_unique_on_10000_hosts_finds_no_clash():
    inv = big_inventory(10_000)
    assert check_unique(inv) == []
    last = inv.hosts[-1]
    last.ips["ipmi"] = inv.hosts[0].ips["ipmi"]  # one clash among 40,000 IPs is found
    assert [(p.value, p.owners) for p in check_unique(inv)] == [
        (last.ips["ipmi"], (f"{inv.hosts[0].name} (ipmi)", f"{last.name} (ipmi)"))
    ]


def test_from_dict_on_10000_hosts():
    data = build_inventory(10_000, key_source=cheap_key)
    inv = Inventory.from_dict(data)
    assert [h.name for h in inv.hosts] == [h["name"] for h in data["hosts"]]


def test_a_cluster_full_of_clashes_stays_linear():
    inv = big_inventory(10_000)
    for h in inv.hosts:
        h.ips["extern"] = "127.60.255.254"
        h.aliases = {"boot": ["www"]}
    problems = check_unique(inv)
    by_value = {p.value: p for p in problems}
    assert len(by_value["www"].owners) == 10_003
    assert len(by_value["127.60.255.254"].owners) == 10_003


# --- hostile IPs and names (issue 15, items 1 and 3) ---------------------------------------

HOSTILE_IPS = [
    "fd00::1%x\n* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlu",  # a scope id with a line after it
    "fd00::11%x,*",  # a scope id adding '*' to the names
    "fe80::1%eth0",  # any scope id
    "fd00::1/64",  # a prefix length
    "10.0.0.1/24",
    " 10.0.0.1",
    "10.0.0.1 ",
    "fd00::1\n",
    "10.0.0.1\x00",  # raised ValueError (embedded null character) before
    "010.0.0.1",
    "10.1",
    "",
]


@pytest.mark.parametrize("text", HOSTILE_IPS, ids=repr)
def test_ip_key_takes_only_plain_addresses(text: str) -> None:
    assert ip_key(text) is None
    data = {"networks": [{"name": "boot", "kind": "ether", "primary": True}]}
    data["hosts"] = [{"name": "beo-01", "ips": {"boot": text}}]
    with pytest.raises(InvalidInput, match=r"hosts\[0\] \(beo-01\): ips\.boot: not an IP"):
        Inventory.from_dict(data)
    inv = Inventory([Network("boot", "ether", primary=True)], [Host("beo-01", {"boot": text})])
    assert [p.kind for p in check_unique(inv)] == ["invalid-ip"]


def test_ip_key_gives_the_form_openssh_looks_up() -> None:
    assert ip_key("FD00:0:0::0001") == "fd00::1"
    assert ip_key("::ffff:10.0.0.1") == "::ffff:10.0.0.1"
    assert ip_key("10.0.0.1") == "10.0.0.1"


def test_a_cidr_with_a_scope_id_is_not_a_network() -> None:
    inv = Inventory([Network("boot", "ether", primary=True, cidr="fd00::%x/64")], [])
    assert "cidr 'fd00::%x/64' is not a network address" in texts(inv)[0]


IP_LITERAL_NAMES = ["127.52.1.12", "0.0.0.0", "10.0.0.1", "127.1", "2130706433", "0x7f.1", "007"]


@pytest.mark.parametrize("name", IP_LITERAL_NAMES)
def test_names_that_are_ip_literals_are_refused(name: str) -> None:
    base = {"name": "beo-01", "ips": {"boot": "10.0.0.1", "extern": "10.3.0.1"}}
    data = {"networks": [{"name": "boot", "kind": "ether", "primary": True}]}
    data["networks"].append({"name": "extern", "kind": "ether", "suffix": "ext"})
    for extra in (
        {"name": name},
        {"aliases": {"boot": [name]}},
        {"override": name, "override_network": "extern"},
    ):
        data["hosts"] = [base | extra]
        with pytest.raises(InvalidInput, match="is an IP address, not a host name"):
            Inventory.from_dict(data)
    inv = inventory(host("beo-01", 1, aliases={"boot": [name]}), host("beo-02", 2, override=name))
    assert sum("is an IP address, not a host name" in t for t in texts(inv)) == 2


@pytest.mark.parametrize("name", ["3com", "1e100", "10-gw", "beo-01", "0x7g"])
def test_names_starting_with_digits_stay_valid(name: str) -> None:
    assert check_unique(inventory(host(name, 1))) == []
