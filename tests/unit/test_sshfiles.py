"""The generated SSH host files: golden output, hashing, CA mode, validation of headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
from pathlib import Path

import asyncssh
import pytest
from authorized_options import SSHD_ACCEPTS, SSHD_REFUSES

from qlutui.errors import InvalidInput
from qlutui.model.inventory import Host, Inventory, Network
from qlutui.model.names import shown
from qlutui.model.sshfiles import (
    BANNER,
    FILES,
    Defined,
    FileOptions,
    LineProblem,
    Refusal,
    check_files,
    header_duplicates,
    options_from_toml,
    options_problem,
    render,
    render_all,
    validate_header,
    validate_rendered,
)


def _public(key: asyncssh.SSHKey, comment: str) -> str:
    key.set_comment(comment)
    return key.export_public_key().decode().strip()


def _keygen(tmp: Path, kind: str) -> str:
    """A key made by OpenSSH itself, as a host would have it."""
    path = tmp / f"key-{kind}"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{kind}", "-f", str(path)],
        check=True,
        timeout=30,
    )
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("keys")
    return {
        "default": _public(asyncssh.generate_private_key("ssh-ed25519"), "root@default"),
        "ed": _keygen(tmp, "ed25519"),
        "ecdsa": _keygen(tmp, "ecdsa"),
        "rsa": _public(asyncssh.generate_private_key("ssh-rsa", key_size=2048), "root@beo-01"),
        "ca": _public(asyncssh.generate_private_key("ssh-ed25519"), "cluster host CA"),
        "user": _public(asyncssh.generate_private_key("ssh-ed25519"), "admin@laptop"),
    }


def _bare(key: str) -> str:
    """The key without its comment, as the generated lines carry it."""
    return " ".join(key.split()[:2])


def _inventory(keys: dict[str, str]) -> Inventory:
    networks = [
        Network("boot", "ether", primary=True, cidr="192.168.52.0/24"),
        Network("ib", "ib", suffix="ib"),
        Network("ipmi", "ipmi", suffix="ipmi", ssh=False),
        Network("extern", "ether", suffix="ext"),
    ]
    hosts = [
        Host(
            "beosrv-c",
            {"boot": "192.168.52.254", "ib": "192.168.53.254", "extern": "10.10.0.1"},
            aliases={"extern": ["www", "gw"], "boot": ["nfs"]},
            override="headnode",
            override_network="extern",
            host_keys=[keys["ed"], keys["ecdsa"]],
        ),
        Host(
            "beo-01",
            {"boot": "192.168.52.1", "ib": "192.168.53.1", "ipmi": "192.168.54.1"},
            host_keys=[keys["rsa"]],
        ),
        Host("beo-02", {"boot": "192.168.52.2", "ipmi": "192.168.54.2"}),
    ]
    return Inventory(networks, hosts, [keys["default"]])


@pytest.fixture
def inv(keys: dict[str, str]) -> Inventory:
    return _inventory(keys)


SRV_NAMES = (
    "beosrv-c,nfs,beosrv-c-ib,beosrv-c-ext,headnode,www,gw,192.168.52.254,192.168.53.254,10.10.0.1"
)


def test_known_hosts_golden(inv: Inventory, keys: dict[str, str]) -> None:
    header = "# extra hosts\ngit.example.org " + keys["user"]
    text = render("known_hosts", inv, FileOptions(header=header))
    assert text == (
        f"{header}\n"
        f"{BANNER}\n"
        f"{SRV_NAMES} {_bare(keys['ed'])}\n"
        f"{SRV_NAMES} {_bare(keys['ecdsa'])}\n"
        f"beo-01,beo-01-ib,192.168.52.1,192.168.53.1 {_bare(keys['rsa'])}\n"
        f"beo-02,192.168.52.2 {_bare(keys['default'])}\n"
    )
    assert "ipmi" not in text and "192.168.54." not in text  # ssh = false by default


def test_shosts_equiv_golden(inv: Inventory) -> None:
    text = render("shosts_equiv", inv, FileOptions(header="trusted.example.org\n"))
    expected = ["trusted.example.org", BANNER, *SRV_NAMES.split(",")]
    expected += ["beo-01", "beo-01-ib", "192.168.52.1", "192.168.53.1"]
    expected += ["beo-02", "192.168.52.2"]
    assert text == "\n".join(expected) + "\n"


def test_without_ips_and_chosen_networks(inv: Inventory, keys: dict[str, str]) -> None:
    text = render("shosts_equiv", inv, FileOptions(include_ips=False))
    assert text.splitlines()[1:] == [
        *["beosrv-c", "nfs", "beosrv-c-ib", "beosrv-c-ext", "headnode", "www", "gw"],
        "beo-01",
        "beo-01-ib",
        "beo-02",
    ]
    # An explicit list takes exactly those networks, in that order, IPMI included if asked.
    text = render("known_hosts", inv, FileOptions(networks=["ipmi", "ib"]))
    assert text.splitlines()[1:] == [
        f"beosrv-c-ib,192.168.53.254 {_bare(keys['ed'])}",
        f"beosrv-c-ib,192.168.53.254 {_bare(keys['ecdsa'])}",
        f"beo-01-ipmi,beo-01-ib,192.168.54.1,192.168.53.1 {_bare(keys['rsa'])}",
        f"beo-02-ipmi,192.168.54.2 {_bare(keys['default'])}",
    ]


def test_unknown_network_in_options(inv: Inventory) -> None:
    with pytest.raises(InvalidInput, match=r"shosts_equiv\.networks: unknown network 'nope'"):
        render("shosts_equiv", inv, FileOptions(networks=["boot", "nope"]))


def test_header_kept_verbatim_and_authorized_keys_is_the_header(
    inv: Inventory, keys: dict[str, str]
) -> None:
    header = "  # indented comment\n\nhost.example.org\tadmin"
    text = render("shosts_equiv", inv, FileOptions(header=header))
    assert text.startswith(header + "\n" + BANNER + "\n")
    assert render("shosts_equiv", inv, FileOptions()).startswith(BANNER + "\n")
    assert render("authorized_keys", inv, FileOptions(header=keys["user"])) == keys["user"] + "\n"
    assert render("authorized_keys", inv, FileOptions()) == ""


def test_output_is_deterministic(inv: Inventory, keys: dict[str, str]) -> None:
    for opts in (FileOptions(), FileOptions(hashed=True), FileOptions(ca_key=keys["ca"])):
        first = render("known_hosts", inv, opts)
        assert render("known_hosts", _inventory(keys), opts) == first
    assert render("shosts_equiv", inv, FileOptions()) == render(
        "shosts_equiv", _inventory(keys), FileOptions()
    )


def _hashed_entries(text: str) -> list[tuple[bytes, bytes, str]]:
    """(salt, hash, key) of every hashed line after the banner."""
    entries = []
    for line in text.split(BANNER + "\n", 1)[1].splitlines():
        pattern, key = line.split(" ", 1)
        empty, magic, salt, digest = pattern.split("|")
        assert (empty, magic) == ("", "1")
        entries.append((base64.b64decode(salt), base64.b64decode(digest), key))
    return entries


def _matches(entries: list[tuple[bytes, bytes, str]], name: str) -> list[str]:
    """The keys whose hashed name is `name`, computed as OpenSSH does."""
    return [
        key
        for salt, digest, key in entries
        if hmac.new(salt, name.encode(), hashlib.sha1).digest() == digest
    ]


def test_hashed_lines_verify(inv: Inventory, keys: dict[str, str], tmp_path: Path) -> None:
    text = render("known_hosts", inv, FileOptions(hashed=True))
    entries = _hashed_entries(text)
    assert len(entries) == 10 * 2 + 4 + 2  # names x keys per host
    assert all(len(salt) == 20 for salt, _, _ in entries)
    assert len({salt for salt, _, _ in entries}) == 16  # one salt per name
    assert _matches(entries, "headnode") == [_bare(keys["ed"]), _bare(keys["ecdsa"])]
    assert _matches(entries, "192.168.53.1") == [_bare(keys["rsa"])]
    assert _matches(entries, "beo-02-ipmi") == []
    assert "beo-01" not in text and "192.168" not in text

    path = tmp_path / "ssh_known_hosts"
    path.write_text(text)
    for name, key in (("beosrv-c-ext", keys["ecdsa"]), ("192.168.52.2", keys["default"])):
        found = subprocess.run(
            ["ssh-keygen", "-F", name, "-f", str(path)], capture_output=True, text=True, timeout=30
        )
        assert found.returncode == 0, found.stderr
        assert f"# Host {name} found" in found.stdout
        assert _bare(key) in found.stdout
    missing = subprocess.run(["ssh-keygen", "-F", "beo-03", "-f", str(path)], timeout=30)
    assert missing.returncode == 1


def test_hashed_with_a_random_salt_source(inv: Inventory, keys: dict[str, str]) -> None:
    text = render(
        "known_hosts", inv, FileOptions(hashed=True), salt_source=lambda _: os.urandom(20)
    )
    entries = _hashed_entries(text)
    assert _matches(entries, "beo-01-ib") == [_bare(keys["rsa"])]
    assert text != render("known_hosts", inv, FileOptions(hashed=True))


def test_ca_mode(inv: Inventory, keys: dict[str, str], tmp_path: Path) -> None:
    text = render("known_hosts", inv, FileOptions(ca_key=keys["ca"]))
    names = f"{SRV_NAMES},beo-01,beo-01-ib,192.168.52.1,192.168.53.1,beo-02,192.168.52.2"
    assert text == f"{BANNER}\n@cert-authority {names} {_bare(keys['ca'])}\n"
    path = tmp_path / "ssh_known_hosts"
    path.write_text(text)
    found = subprocess.run(
        ["ssh-keygen", "-F", "gw", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert found.returncode == 0 and "found: line 2 CA" in found.stdout

    hashed = render("known_hosts", inv, FileOptions(ca_key=keys["ca"], hashed=True))
    lines = hashed.splitlines()[1:]
    assert len(lines) == 16 and all(line.startswith("@cert-authority |1|") for line in lines)
    assert validate_rendered("known_hosts", hashed) == []

    with pytest.raises(InvalidInput, match=r"known_hosts\.ca_key: unknown key type 'ssh-foo'"):
        render("known_hosts", inv, FileOptions(ca_key="ssh-foo AAAA"))


def test_ca_mode_needs_no_host_keys(keys: dict[str, str]) -> None:
    inv = _inventory(keys)
    inv.default_host_keys = []
    assert "@cert-authority" in render("known_hosts", inv, FileOptions(ca_key=keys["ca"]))
    with pytest.raises(InvalidInput, match="beo-02: no host key"):
        render("known_hosts", inv, FileOptions())


def test_broken_inventory_lists_every_problem(keys: dict[str, str]) -> None:
    inv = _inventory(keys)
    inv.default_host_keys = []
    inv.hosts[1].ips["ib"] = "192.168.53.254"  # clashes with beosrv-c
    inv.hosts[1].aliases = {"boot": ["www"]}  # clashes with an alias of beosrv-c
    inv.hosts[0].host_keys = [keys["ed"], "ssh-ed25519 not!base64 root@x"]
    with pytest.raises(InvalidInput) as caught:
        render("known_hosts", inv, FileOptions())
    message = str(caught.value)
    assert message.startswith("inventory has 4 problems: ")
    assert "name 'www' used by beosrv-c (alias on extern), beo-01 (alias on boot)" in message
    assert "ip '192.168.53.254' used by beosrv-c (ib), beo-01 (ib)" in message
    assert "beosrv-c: host key 'ssh-ed25519 not!base64 root@x': the ssh-ed25519 key data" in message
    assert "beo-02: no host key (and no default host keys)" in message
    assert "\n" not in message
    # shosts.equiv needs no keys, but the clashes still stop it.
    with pytest.raises(InvalidInput, match=r"^inventory has 2 problems: "):
        render("shosts_equiv", inv, FileOptions())


def test_key_whose_data_is_another_type(inv: Inventory, keys: dict[str, str]) -> None:
    inv.hosts[1].host_keys = ["ssh-rsa " + keys["ed"].split()[1]]
    with pytest.raises(InvalidInput, match="is of type 'ssh-ed25519', not ssh-rsa"):
        render("known_hosts", inv, FileOptions())


def test_render_all_matches_render(inv: Inventory, keys: dict[str, str]) -> None:
    options = {
        "known_hosts": FileOptions(header="# kh"),
        "shosts_equiv": FileOptions(include_ips=False),
        "authorized_keys": FileOptions(header=keys["user"]),
    }
    files = render_all(inv, options)
    assert list(files) == list(FILES)
    assert files == {kind: render(kind, inv, opts) for kind, opts in options.items()}
    with pytest.raises(InvalidInput, match="unknown SSH file 'hosts'"):
        render("hosts", inv, FileOptions())


def test_rendered_files_parse(inv: Inventory, keys: dict[str, str]) -> None:
    options = FileOptions(header=f"@revoked old.example.org {keys['user']}\n")
    known_hosts = render("known_hosts", inv, options)
    assert validate_rendered("known_hosts", known_hosts) == []
    parsed = asyncssh.import_known_hosts(known_hosts)
    host_keys, *_ = parsed.match("beo-01-ib", "", None)
    assert [k.export_public_key().decode().split()[1] for k in host_keys] == [
        keys["rsa"].split()[1]
    ]
    assert len(parsed.match("old.example.org", "", None)[2]) == 1
    assert validate_rendered("shosts_equiv", render("shosts_equiv", inv, FileOptions())) == []
    assert validate_rendered("known_hosts", known_hosts.rstrip("\n")) == [
        LineProblem(6, known_hosts.splitlines()[-1], "no newline at the end")
    ]


def _reasons(kind: str, header: str) -> list[str]:
    return [str(p) for p in validate_header(kind, header)]


def test_known_hosts_header_accepts_openssh_lines(keys: dict[str, str]) -> None:
    salt = os.urandom(20)
    digest = hmac.new(salt, b"hidden.example.org", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    header = "\n".join(
        [
            "# admin's hosts",
            "",
            f"git.example.org,10.0.0.9 {keys['ed']}",
            f"[gw.example.org]:2222 {keys['rsa']}",
            f"*.example.org,!bad.example.org {keys['ecdsa']}",
            f"{hashed} {keys['ed']}",
            f"@cert-authority *.corp {keys['ca']}",
            f"   @revoked old.example.org {_bare(keys['user'])}",
            f"@revoked * {_bare(keys['rsa'])}",  # a revocation trusts nobody: no confirmation
        ]
    )
    assert validate_header("known_hosts", header, allow_patterns=True) == []
    assert _reasons("known_hosts", header) == [
        "line 5: '*.example.org' is a wildcard: allowed only with allow_patterns = true",
        "line 7: '*.corp' is a wildcard: allowed only with allow_patterns = true",
    ]


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("* {key}", "'*' is a wildcard"),
        ("beo-0? {key}", "'beo-0?' is a wildcard"),
        ("!beo-01,* {key}", "'!beo-01' is a negation"),
        ("beo-01,!beo-02 {key}", "'!beo-02' is a negation"),
        ("@cert-authority * {key}", "'*' is a wildcard"),
    ],
)
def test_known_hosts_header_patterns_need_confirmation(
    keys: dict[str, str], line: str, pattern: str
) -> None:
    header = line.format(key=keys["ed"])
    assert _reasons("known_hosts", header) == [
        f"line 1: {pattern}: allowed only with allow_patterns = true"
    ]
    assert validate_header("known_hosts", header, allow_patterns=True) == []


def test_known_hosts_header_problems(keys: dict[str, str]) -> None:
    data = keys["ed"].split()[1]
    header = "\n".join(
        [
            "# fine",
            f"a.example.org ssh-ed25519 {data[:-4]}",  # 2: truncated base64
            f"b.example.org ssh-foo {data}",  # 3: unknown type
            f"c.example.org {keys['ed']}\x07",  # 4: control character
            f"|1|c2FsdA==|aGFzaA==,d.example.org {keys['ed']}",  # 5: hashed name with others
            f"@trusted e.example.org {keys['ed']}",  # 6: unknown marker
            "f.example.org",  # 7: no key
            f"g.example.org ssh-ed25519 {data.replace('A', '!', 1)}",  # 8: not base64
            f"h.example.org ssh-rsa {data}",  # 9: data of another type
            f"|1|c2FsdA==|aGFzaA== {keys['ed']}",  # 10: salt too short
            f"i.example.org,,j.example.org {keys['ed']}",  # 11: empty name
            "k.example.org\tssh-ed25519",  # 12: type without data
            BANNER,  # 13: the banner would duplicate the generated part
        ]
    )
    assert _reasons("known_hosts", header) == [
        "line 2: the ssh-ed25519 key data is broken: invalid public key",
        "line 3: unknown key type 'ssh-foo'",
        "line 4: control character 0x07 in the line",
        "line 5: a hashed name (|1|salt|hash) must stand alone on its line",
        "line 6: unknown marker '@trusted' (only @cert-authority or @revoked)",
        "line 7: expected 'names keytype base64-key'",
        "line 8: the ssh-ed25519 key data is not valid base64",
        "line 9: the key data is of type 'ssh-ed25519', not ssh-rsa",
        "line 10: '|1|c2FsdA==|aGFzaA==' is not a hashed name (|1|base64 salt|base64 hash)",
        "line 11: empty name in 'i.example.org,,j.example.org'",
        "line 12: missing the base64 key data after 'ssh-ed25519'",
        "line 13: the generated-part banner cannot be part of the header",
    ]
    problem = validate_header("known_hosts", header)[2]
    assert problem.line == 4 and problem.text.endswith("\x07")


def test_control_characters_in_any_file() -> None:
    for kind in FILES:
        assert _reasons(kind, "# ok\n# bad\x1b[31m\n# cr\r") == [
            "line 2: control character 0x1b in the line",
            "line 3: control character 0x0d in the line",
        ]
    # A tab is fine, and \x0b is not taken for a line break.
    assert _reasons("shosts_equiv", "host.example.org\tadmin\nx\x0by") == [
        "line 2: control character 0x0b in the line"
    ]


def test_shosts_equiv_header() -> None:
    good = "\n".join(
        [
            "# trusted",
            "login.example.org",
            "10.0.0.7",
            "fe80::1",
            "gw.example.org admin",
            "+@compute",
            "+@trusted +@staff",
        ]
    )
    assert validate_header("shosts_equiv", good) == []
    patterns = "-untrusted.example.org\n-@students\n+\ngw.example.org +\ngw.example.org -bob"
    assert validate_header("shosts_equiv", patterns, allow_patterns=True) == []
    assert _reasons("shosts_equiv", patterns) == [
        "line 1: '-untrusted.example.org' is a negation: allowed only with allow_patterns = true",
        "line 2: '-@students' is a negation: allowed only with allow_patterns = true",
        "line 3: '+' is a wildcard: allowed only with allow_patterns = true",
        "line 4: '+' is a wildcard: allowed only with allow_patterns = true",
        "line 5: '-bob' is a negation: allowed only with allow_patterns = true",
    ]
    bad = "\n".join(
        [
            "+",  # 1
            "login.example.org root",  # 2
            "gw.example.org +",  # 3
            "a b c",  # 4
            "bad/host",  # 5
            "-",  # 6
            "+@",  # 7
            "host.example.org us:er",  # 8
            "host.example.org -root",  # 9
        ]
    )
    assert _reasons("shosts_equiv", bad) == [
        "line 1: '+' is a wildcard: allowed only with allow_patterns = true",
        "line 2: shosts.equiv never admits root (sshd ignores it for root)",
        "line 3: '+' is a wildcard: allowed only with allow_patterns = true",
        "line 4: expected 'host [user]', found 3 fields",
        "line 5: 'bad/host' is not a host name or IP address",
        "line 6: '-' must be followed by a host name or @netgroup",
        "line 7: '+@' is not a valid netgroup",
        "line 8: 'us:er' is not a user name",
        "line 9: shosts.equiv never admits root (sshd ignores it for root)",
    ]


def test_authorized_keys_header(keys: dict[str, str]) -> None:
    good = "\n".join(
        [
            "# admins",
            keys["user"],
            f'from="10.0.0.1",no-pty {keys["ed"]}',
            f'command="echo \\"hi there\\"",restrict {keys["rsa"]}',
            f'environment="LANG=C",NO-X11-FORWARDING {_bare(keys["ecdsa"])}',
        ]
    )
    assert validate_header("authorized_keys", good) == []
    data = keys["user"].split()[1]
    bad = "\n".join(
        [
            "garbage",  # 1
            "this is not a key",  # 2
            f'frm="10.0.0.1" {keys["user"]}',  # 3
            f'from="10.0.0.1 {keys["user"]}',  # 4
            f"ssh-ed25519 {data[:-4]}",  # 5
            f'environment="NOEQUALS" {keys["user"]}',  # 6
            f"no-pty ssh-dsa {data}",  # 7
        ]
    )
    assert _reasons("authorized_keys", bad) == [
        "line 1: not a public key line (expected '[options] keytype base64-key [comment]')",
        "line 2: unknown key type 'is'",
        "line 3: unknown option 'frm'",
        "line 4: unbalanced quote in the options",
        "line 5: the ssh-ed25519 key data is broken: invalid public key",
        "line 6: environment: 'NOEQUALS' is not NAME=value (NAME of letters, digits and '_')",
        "line 7: unknown key type 'ssh-dsa'",
    ]


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"unknown SSH file 'hosts\.equiv'"):
        validate_header("hosts.equiv", "")


def test_file_options_round_trip() -> None:
    opts = FileOptions(
        description="hosts of the cluster",
        header="# x\n",
        include_ips=False,
        networks=["boot", "ib"],
        hashed=True,
        ca_key="ssh-ed25519 AAAA",
        allow_patterns=True,
    )
    data = opts.to_dict()
    assert data == {
        "description": "hosts of the cluster",
        "header": "# x\n",
        "include_ips": False,
        "networks": ["boot", "ib"],
        "hashed": True,
        "ca_key": "ssh-ed25519 AAAA",
        "allow_patterns": True,
    }
    assert FileOptions.from_dict(data) == opts
    data["networks"].append("extern")
    assert opts.networks == ["boot", "ib"]  # to_dict hands out copies
    assert FileOptions.from_dict({}) == FileOptions()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"include_ips": "yes"}, "shosts_equiv.include_ips: must be true or false"),
        ({"header": 3}, "shosts_equiv.header: must be text"),
        ({"networks": "boot"}, "shosts_equiv.networks: must be a list of network names"),
        ({"networks": [1]}, "shosts_equiv.networks: must be a list of network names"),
        ({"hash": True}, "shosts_equiv: unknown setting 'hash'"),
    ],
)
def test_file_options_refuse_bad_values(data: dict, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        FileOptions.from_dict(data, "shosts_equiv")
    assert str(caught.value) == message


def test_options_from_toml() -> None:
    options = options_from_toml({"known_hosts": {"hashed": True}})
    assert options == {
        "known_hosts": FileOptions(hashed=True),
        "shosts_equiv": FileOptions(),
        "authorized_keys": FileOptions(),
    }
    with pytest.raises(InvalidInput, match="unknown file 'hosts'"):
        options_from_toml({"hosts": {}})
    with pytest.raises(InvalidInput, match="known_hosts must be a table"):
        options_from_toml({"known_hosts": 1})


# --- the second wall: the generated part read back (issue 15, item 1) ----------------------


def _generated(text: str) -> str:
    return text.split(BANNER + "\n", 1)[1]


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
def test_second_wall_passes_what_the_inventory_defines(inv: Inventory, hashed: bool) -> None:
    for kind in ("known_hosts", "shosts_equiv"):
        opts = FileOptions(hashed=hashed)
        text = render(kind, inv, opts)
        assert Defined.of(kind, inv, opts).problems(kind, _generated(text), opts) == []


def test_second_wall_refuses_lines_the_inventory_does_not_define(
    inv: Inventory, keys: dict[str, str]
) -> None:
    opts = FileOptions()
    generated = _generated(render("known_hosts", inv, opts))
    wall = Defined.of("known_hosts", inv, opts)
    rsa, other = _bare(keys["rsa"]), _bare(keys["user"])
    tampered = {
        f"* {rsa}": "'*' is not a name or IP of the inventory",
        f"beo-01,* {rsa}": "'*' is not a name or IP of the inventory",
        f"beo-01,beo-02 {rsa}": "names of several hosts",
        f"beo-01 {other}": "not a host key of beo-01",
        f"@cert-authority beo-01 {rsa}": "unexpected marker '@cert-authority'",
        f"beo-01\t{rsa}\x1b": "control character 0x1b",
        "beo-01": "expected 'names keytype base64-key'",
    }
    for line, reason in tampered.items():
        problems = wall.problems("known_hosts", generated + line + "\n", opts)
        assert [(p.text, p.reason) for p in problems] == [(line, reason)], line
    ca = FileOptions(ca_key=keys["ca"])
    ca_part = _generated(render("known_hosts", inv, ca))
    ca_wall = Defined.of("known_hosts", inv, ca)
    assert ca_wall.problems("known_hosts", ca_part, ca) == []
    forged = ca_part.replace(_bare(keys["ca"]), other)
    assert [p.reason for p in ca_wall.problems("known_hosts", forged, ca)] == [
        "not the configured host CA key"
    ]


def test_second_wall_refuses_shosts_lines_the_inventory_does_not_define(inv: Inventory) -> None:
    opts = FileOptions()
    generated = _generated(render("shosts_equiv", inv, opts))
    wall = Defined.of("shosts_equiv", inv, opts)
    for line in ("+", "beo-01 alice", "-beo-01", "elsewhere.example.org", "fd00::1%x", "@ng"):
        problems = wall.problems("shosts_equiv", generated + line + "\n", opts)
        assert [p.text for p in problems] == [line], line


# --- authorized_keys options as sshd parses them (issue 15, item 8) ------------------------


@pytest.mark.parametrize("options", SSHD_ACCEPTS)
def test_authorized_keys_options_sshd_accepts(options: str, keys: dict[str, str]) -> None:
    assert options_problem(options) is None
    assert validate_header("authorized_keys", f"{options} {keys['user']}") == []


@pytest.mark.parametrize("options", SSHD_REFUSES)
def test_authorized_keys_options_sshd_refuses(options: str, keys: dict[str, str]) -> None:
    assert _reasons("authorized_keys", f"{options} {keys['user']}") == [
        f"line 1: {SSHD_REFUSES[options]}"
    ]


def test_a_port_of_five_thousand_digits_is_a_reason_not_a_crash(keys: dict[str, str]) -> None:
    line = f'permitopen="h:{"1" * 5000}" {keys["user"]}'
    assert _reasons("authorized_keys", line)[0].startswith("line 1: permitopen: ")


# --- check == write (issue 15, item 10) ----------------------------------------------------


def test_check_files_refuses_what_write_refuses(inv: Inventory, keys: dict[str, str]) -> None:
    options = {kind: FileOptions() for kind in FILES}
    options["shosts_equiv"] = FileOptions(header="gw.example.org\n+\n")
    checked = check_files(inv, options)
    assert checked["known_hosts"].error is None and checked["authorized_keys"].error is None
    assert [str(p) for p in checked["shosts_equiv"].header] == [
        "line 2: '+' is a wildcard: allowed only with allow_patterns = true"
    ]
    assert checked["shosts_equiv"].text.startswith("gw.example.org\n+\n" + BANNER)
    allowed = {"shosts_equiv": FileOptions(header="gw.example.org\n+\n", allow_patterns=True)}
    assert check_files(inv, allowed)["shosts_equiv"].error is None

    data = keys["ed"].split()[1]
    inv.hosts[1].host_keys = [f"ssh-rsa {data} root@beo-01"]  # the blob is an ed25519 key
    checked = check_files(inv, options)
    error = checked["known_hosts"].error
    assert isinstance(error, Refusal) and checked["known_hosts"].text == ""
    assert error.problems == [
        f"beo-01: host key {shown(inv.hosts[1].host_keys[0])}:"
        " the key data is of type 'ssh-ed25519', not ssh-rsa"
    ]
    assert checked["authorized_keys"].error is None  # the inventory does not concern it


def test_header_names_the_generated_part_has_too(inv: Inventory, keys: dict[str, str]) -> None:
    """As ssh compares a host with a line: names in any case, an IP only when the file lists
    IPs, only the file's networks (ipmi: none); patterns, other ports, hashed names and
    revocations are not a second key for the host."""
    key = keys["user"]
    header = (
        f"# extra\nGW,git.example.org {key}\n192.168.52.2 {key}\nbeo-01-ipmi {key}\n"
        f"@revoked beo-01 {key}\n[beo-01]:2222 {key}\nbeo-0? {key}\n@cert-authority beo-02 {key}\n"
    )
    found = header_duplicates("known_hosts", inv, FileOptions(header=header))
    assert [str(p) for p in found] == [
        "line 2: 'GW' is also generated from the inventory (host beosrv-c)",
        "line 3: '192.168.52.2' is also generated from the inventory (host beo-02)",
        "line 8: 'beo-02' is also generated from the inventory (host beo-02)",
    ]
    no_ips = FileOptions(header=header, include_ips=False)
    assert [p.line for p in header_duplicates("known_hosts", inv, no_ips)] == [2, 8]
    checked = check_files(inv, {"known_hosts": FileOptions(header=header, allow_patterns=True)})
    assert checked["known_hosts"].error is None  # written anyway: a warning
    assert checked["known_hosts"].duplicates == found
    assert header_duplicates("shosts_equiv", inv, FileOptions(header="beo-01\n")) == []
