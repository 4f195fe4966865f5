"""Hostile input: bad names in every verb, malformed and adversarial TOML in every state file,
broken header lines, clashing inventories, bad arguments. Never a traceback: a one-line
reason, exit 1 or 2, and nothing changed on disk (state directory and head-node roots)."""

from __future__ import annotations

import contextlib
import io
import tomllib
from pathlib import Path

import pytest
from conftest import one_line_reason, qlutui, tree_hash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.cli import main
from qlutui.model.names import name_problem

BAD_NAMES = [
    "..",
    ".",
    "../etc",
    "a/b",
    "/abs",
    "-rf",
    "has space",
    "new\nline",
    "tab\tname",
    "Stаndard",  # Cyrillic a: a look-alike
    "ｆｕｌｌwidth",
    "x" * 65,
    "",
    "nul\0byte",
    "$(touch x)",
    "`id`",
    "a;b",
    "é",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_demo(tmp_path_factory.mktemp("hostile") / "demo")


def cli(config: Path, *args: str) -> tuple[int, str]:
    """`qlutui --config CONFIG ARGS` in-process: (exit status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["--config", str(config), *args])
        except SystemExit as exc:  # argparse: bad usage
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


def refused(config: Path, *args: str) -> str:
    code, err = cli(config, *args)
    assert code in (1, 2), (args, code, err)
    assert "Traceback" not in err and "internal error" not in err, (args, err)
    lines = err.strip().splitlines()
    assert lines, args
    if code == 1:
        assert len(lines) == 1, (args, lines)
    return lines[-1]


def name_verbs(name: str) -> list[list[str]]:
    """Every verb that takes a user-chosen name, given `name` where the name goes."""
    return [
        ["images", "new", name, "--flavour", "noble", "--version", "13"],
        ["images", "show", name],
        ["images", "rename", "Standard-noble", name],
        ["images", "rm", name],
        ["images", "set", name, "--description", "x"],
        ["images", "set", "Standard-noble", "--chroot", name or "-"],  # "" is <None>
        ["images", "set", "Standard-noble", "--rootfs", name],
        ["images", "add-module", "Standard-noble", name],
        ["chroots", "new", name, "--flavour", "bookworm", "--version", "13.1"],
        ["chroots", "show", name],
        ["chroots", "clone", "bookworm-base", name],
        ["chroots", "rename", "bookworm-base", name],
        ["chroots", "rm", name],
        ["chroots", "edit", name, "--description", "x"],
        ["rootfs", "new", name],
        ["rootfs", "rm", name],
        ["rootfs", "show", name],
        ["rootfs", "ls", name],
        ["rootfs", "sync", "ntp-tweaks", "--from", name],
        ["jobs", "show", name],
        ["jobs", "log", name],
        ["jobs", "kill", name],
        ["ssh", "render", name],
    ]


def test_bad_names_in_every_verb_are_refused(demo: Path) -> None:
    before = tree_hash(demo.parent)
    for name in BAD_NAMES:
        for args in name_verbs(name):
            refused(demo, *args)
    assert tree_hash(demo.parent) == before


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(min_size=0, max_size=70))
def test_any_name_is_checked_before_anything_is_written(demo: Path, name: str) -> None:
    before = tree_hash(demo.parent)
    code, err = cli(demo, "rootfs", "new", name, "--description", "fuzz")
    assert "Traceback" not in err and "internal error" not in err
    if name_problem(name) is not None or name.startswith("-"):
        assert code in (1, 2), (name, err)
        assert tree_hash(demo.parent) == before
    elif code == 0:
        assert refused(demo, "rootfs", "new", name).startswith("qlutui:")
        assert cli(demo, "rootfs", "rm", name)[0] == 0


BAD_ARGS = [
    ["images", "new", "x", "--flavour", "noble", "--version", "13.x"],
    ["images", "new", "x", "--flavour", "nope", "--version", "13"],
    ["images", "new", "x", "--flavour", "noble", "--version", "-1"],
    ["images", "new", "x", "--flavour", "noble", "--version", "1" * 400],
    ["images", "upgrade-preview", "banana"],
    ["images", "upgrade-preview", "99999999999999999999999.1.1"],
    ["chroots", "new", "x", "--flavour", "noble", "--version", "13"],
    ["chroots", "new", "x", "--flavour", "bookworm", "--version", "13.1", "--server", "nope"],
    ["chroots", "new", "x", "--flavour", "bookworm", "--version", "13.1", "--task", "$(id)"],
    ["rootfs", "chmod", "ntp-tweaks", "etc", "999"],
    ["rootfs", "chmod", "ntp-tweaks", "etc", "-1"],
    ["rootfs", "put", "ntp-tweaks", "etc/x", "--from", "/nonexistent/file"],
    ["rootfs", "put", "ntp-tweaks", "etc/x", "--mode", "rwx"],
    ["rootfs", "sync", "ntp-tweaks", "--from", "beosrv-x"],
    ["ssh", "render", "nothing"],
    ["ssh", "header", "known_hosts", "--set", "/nonexistent"],
    ["ssh", "scan-keys", "--port", "0"],
    ["ssh", "scan-keys", "--port", "70000"],
    ["ssh", "scan-keys", "--timeout", "-1"],
    ["ssh", "scan-keys", "--timeout", "nan"],
    ["ssh", "scan-keys", "no-such-host"],
    ["jobs", "log", "../../etc/passwd"],
    ["audit", "-n", "minus"],
    ["nosuchverb"],
    ["images"],
    ["images", "set"],
]


@pytest.mark.parametrize("args", BAD_ARGS, ids=" ".join)
def test_bad_arguments_are_refused(demo: Path, args: list[str]) -> None:
    before = tree_hash(demo.parent)
    refused(demo, *args)
    assert tree_hash(demo.parent) == before


ADVERSARIAL_TOML = {
    "not toml": b"[[[ this is not toml\n",
    "binary": b"\xff\xfe\x00garbage\x00",
    "wrong types": b"images = 3\nchroots = 'x'\nconfigs = []\nhosts = 7\nnetworks = {}\n",
    "deep nesting": b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deep tables": b"x = " + b"{a = " * 3000 + b"1" + b"}" * 3000 + b"\n",
    "duplicate key": b"[images.a]\nflavour = 'noble'\nflavour = 'noble'\n",
    "bad entries": (
        b"[images.'../x']\nflavour = 1\n[chroots.'a b']\nserver = []\n"
        b"[configs.'-x']\n[[hosts]]\nname = '$(id)'\n[[networks]]\nname = 3\n"
        b"[known_hosts]\nheader = 5\n[releases]\n"
    ),
    "empty tables": (
        b"[images.x]\n[chroots.y]\n[configs.z]\n[[hosts]]\n[[networks]]\n[[releases]]\n"
    ),
    "control chars": b"[images.a]\nflavour = \"\\u0000\\u001b[2J\"\nversion = '13'\n",
    "huge number": b"[images.a]\nflavour = 'noble'\nversion = 99999999999999999999\n",
}

READ_VERBS = [
    ["images", "list"],
    ["images", "show", "Standard-noble"],
    ["images", "versions"],
    ["chroots", "list"],
    ["rootfs", "list"],
    ["ssh", "list"],
    ["ssh", "render", "known_hosts"],
    ["images", "set", "Standard-noble", "--description", "changed"],
    ["rootfs", "new", "fresh"],
    ["chroots", "edit", "bookworm-base", "--description", "changed"],
    ["ssh", "describe", "known_hosts", "changed"],
]


READS = {  # the verb that reads each state file
    "images": ["images", "list"],
    "chroots": ["chroots", "list"],
    "rootfs": ["rootfs", "list"],
    "sshfiles": ["ssh", "list"],
    "inventory": ["ssh", "render", "known_hosts"],
    "catalog": ["images", "versions"],
}


@pytest.mark.parametrize("area", READS)
def test_malformed_state_files_never_crash_and_are_never_overwritten(
    tmp_path: Path, area: str
) -> None:
    config = init_demo(tmp_path / "demo")
    path = config.parent / "state" / f"{area}.toml"
    for label, content in ADVERSARIAL_TOML.items():
        path.write_bytes(content)
        for args in READ_VERBS:
            code, err = cli(config, *args)
            assert "Traceback" not in err and "internal error" not in err, (label, args, err)
            if code != 0:
                assert code == 1 and len(err.strip().splitlines()) == 1, (label, args, err)
        if cli(config, *READS[area])[0] != 0:  # the service refuses the file ...
            assert path.read_bytes() == content, label  # ... and never overwrites it
        else:  # tolerated (e.g. unknown extra tables): edits keep it valid TOML
            tomllib.loads(path.read_text())


BAD_HEADERS = [
    "ssh-ed25519 AAAA-not-base64 root@x\n",
    "ssh-ed25519\n",
    "beo-01 ssh-rsa AAAAB3NzaC1yc2E\n",
    "\x1b[2J\x07 escape and bell\n",
    "line with nul \0 byte\n",
    "@cert-authority\n",
    "x" * 10000 + "\n",
]


@pytest.mark.parametrize("header", BAD_HEADERS, ids=range(len(BAD_HEADERS)))
def test_bad_header_lines_are_refused(demo: Path, header: str) -> None:
    before = tree_hash(demo.parent)
    result = qlutui(demo, "ssh", "header", "known_hosts", "--set", "-", input=header.encode())
    reason = one_line_reason(result)
    assert result.returncode == 1 and "line 1" in reason, reason
    assert tree_hash(demo.parent) == before


CLASHES = {
    "duplicate host": "[[hosts]]\nname = 'beo-01'\nips = { boot = '127.52.9.1' }\n",
    "alias is a host": "[[hosts]]\nname = 'zz-1'\nips = { boot = '127.52.9.2' }\n"
    "aliases = { boot = ['beo-02'] }\n",
    "same ip": "[[hosts]]\nname = 'zz-2'\nips = { boot = '127.52.1.1' }\n",
    "bad ip": "[[hosts]]\nname = 'zz-4'\nips = { boot = '127.52.1.999' }\n",
    "ip outside cidr": "[[hosts]]\nname = 'zz-7'\nips = { boot = '10.52.9.7' }\n",
    "unknown net": "[[hosts]]\nname = 'zz-5'\nips = { nonet = '127.52.9.5' }\n",
    "bad key": "[[hosts]]\nname = 'zz-6'\nhost_keys = ['ssh-ed25519 !!!']\n"
    "ips = { boot = '127.52.9.6' }\n",
}


@pytest.mark.parametrize("clash", CLASHES, ids=list(CLASHES))
def test_clashing_inventories_are_reported(tmp_path: Path, clash: str) -> None:
    config = init_demo(tmp_path / "demo")
    inventory = config.parent / "state/inventory.toml"
    inventory.write_text(inventory.read_text() + CLASHES[clash])
    before = tree_hash(config.parent)
    for args in (["ssh", "render", "known_hosts"], ["ssh", "write"], ["images", "list"]):
        _, err = cli(config, *args)
        assert "Traceback" not in err and "internal error" not in err, (args, err)
    assert refused(config, "ssh", "write")
    assert tree_hash(config.parent) == before


def test_cli_refusal_over_a_real_subprocess_is_one_line(demo: Path) -> None:
    result = qlutui(demo, "images", "new", "../../etc", "--flavour", "noble", "--version", "13")
    assert "image name" in one_line_reason(result)


# --- issue 15: hostile IPs and names, huge numbers, control characters, check == write -----

V6 = "[[networks]]\nname = 'v6'\nkind = 'ether'\nsuffix = 'v6'\n"
HOSTILE_INVENTORIES = {
    "scoped ipv6 with a line after it": V6 + "[[hosts]]\nname = 'zz-8'\n"
    "ips = { boot = '127.52.9.8', v6 = \"fd00::1%x\\n* ssh-ed25519 "
    'AAAAC3NzaC1lZDI1NTE5AAAAIGlucHV0IGludG8gdGhlIGtub3duIGhvc3RzIGZpbGU" }\n',
    "scoped ipv6 with a comma": V6 + "[[hosts]]\nname = 'zz-9'\n"
    "ips = { boot = '127.52.9.9', v6 = 'fd00::11%x,*' }\n",
    "ip with a nul": "[[hosts]]\nname = 'zz-10'\nips = { boot = \"127.52.9.10\\u0000\" }\n",
    "alias is another host's ip": "[[hosts]]\nname = 'zz-11'\nips = { boot = '127.52.9.11' }\n"
    "aliases = { boot = ['127.52.1.12'] }\n",
    "override is 0.0.0.0": "[[hosts]]\nname = 'zz-12'\nips = { boot = '127.52.9.12' }\n"
    "override = '0.0.0.0'\noverride_network = 'boot'\n",
}


@pytest.mark.parametrize("case", HOSTILE_INVENTORIES, ids=list(HOSTILE_INVENTORIES))
def test_hostile_inventories_are_refused_and_checked(tmp_path: Path, case: str) -> None:
    config = init_demo(tmp_path / "demo")
    inventory = config.parent / "state/inventory.toml"
    inventory.write_text(inventory.read_text() + HOSTILE_INVENTORIES[case])
    before = tree_hash(config.parent)
    reason = refused(config, "ssh", "write")
    assert "not an IP address" in reason or "is an IP address, not a host name" in reason
    code, err = cli(config, "check")
    assert code == 1 and "Traceback" not in err and "internal error" not in err
    assert tree_hash(config.parent) == before


HUGE = "9" * 5000


@pytest.mark.parametrize("area", READS)
def test_a_huge_integer_is_a_one_line_error_and_check_goes_on(tmp_path: Path, area: str) -> None:
    config = init_demo(tmp_path / "demo")
    state = config.parent / "state"
    path = state / f"{area}.toml"
    path.write_text(f"# a number too long for int()\nhuge = {HUGE}\n" + path.read_text())
    reason = refused(config, *READS[area])
    assert reason == f"qlutui: {path}:2:8: number too long (5,000 digits)", reason
    err = io.StringIO()
    out = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(["--config", str(config), "check"])
    assert code == 1 and err.getvalue() == "", err.getvalue()
    lines = out.getvalue().splitlines()
    assert f"{path}:2:8: number too long (5,000 digits)" in lines
    other = state / ("images.toml" if area != "images" else "chroots.toml")
    other.write_text(other.read_text().replace("description =", "descripton =", 1))
    _, text = cli_out(config, "check")
    assert any(str(other) in line and "descripton" in line for line in text.splitlines())
    assert path.read_text().startswith("# a number too long")  # never rewritten


def test_a_huge_integer_in_config_toml_is_a_one_line_error(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    config.write_text(config.read_text() + f"\n[ui]\nhuge = {HUGE}\n")
    reason = refused(config, "images", "list")
    assert reason.startswith(f"qlutui: {config}:") and "number too long (5,000 digits)" in reason


def cli_out(config: Path, *args: str) -> tuple[int, str]:
    """`qlutui --config CONFIG ARGS` in-process: (exit status, stdout + stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
        try:
            code = main(["--config", str(config), *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue()


CONTROL = ["\x1b[2J", "tab\there", "two\nlines", "bell\x07", "cr\rx", "\u202eevil", "nul\x00"]


@pytest.mark.parametrize("text", CONTROL, ids=repr)
def test_control_characters_are_refused_in_one_line_fields(demo: Path, text: str) -> None:
    before = tree_hash(demo.parent)
    for args in (
        ["images", "set", "Standard-noble", "--description", text],
        ["images", "new", "x1", "--flavour", "noble", "--version", "13", "--description", text],
        ["chroots", "edit", "bookworm-base", "--description", text],
        ["rootfs", "new", "x2", "--description", text],
        ["ssh", "describe", "known_hosts", text],
    ):
        assert "control characters" in refused(demo, *args), args
    assert tree_hash(demo.parent) == before


HAND_EDITED = {  # a description that would clear the terminal, in each file that has one
    "images": lambda doc: doc["images"]["Standard-noble"].update(description="a\x1b[2J"),
    "chroots": lambda doc: doc["chroots"]["bookworm-base"].update(description="a\x1b[2J"),
    "rootfs": lambda doc: doc["configs"]["ntp-tweaks"].update(description="a\x1b[2J"),
    "sshfiles": lambda doc: doc["known_hosts"].update(description="a\x1b[2J"),
}


@pytest.mark.parametrize("area", HAND_EDITED)
def test_hand_edited_control_characters_never_reach_the_terminal(tmp_path: Path, area: str) -> None:
    config = init_demo(tmp_path / "demo")
    Cluster.open(config).store.update(area, HAND_EDITED[area])  # as an editor would
    for args in (*READS.values(), ["images", "show", "Standard-noble"], ["check"]):
        _, output = cli_out(config, *args)
        assert "\x1b" not in output and "Traceback" not in output, (args, output)
    _, output = cli_out(config, "check")
    assert f"{area}.toml" in output and "without control characters (found '\\x1b')" in output


def test_printed_names_from_a_head_node_are_escaped(demo: Path) -> None:
    root = demo.parent / "headnodes/beosrv-c/var/lib/qlustar/root-fs/ntp-tweaks"
    (root / "evil\x1b[2J\nname").write_text("x")
    _, output = cli_out(demo, "rootfs", "ls", "ntp-tweaks")
    assert "\x1b" not in output and "evil\\x1b[2J\\nname" in output, output
    (root / "evil\x1b[2J\nname").unlink()


CHECK_EQUALS_WRITE = {
    "host key of another type": (
        "inventory",
        "[[hosts]]\nname = 'zz-13'\nips = { boot = '127.52.9.13' }\n"
        "host_keys = ['ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGlucHV0IGludG8gdGhlIGtub3duIGhvc3Rz']\n",
        "not ssh-rsa",
    ),
    "hand-edited bad header line": (
        "sshfiles",
        "",
        "line 1: '*' is a wildcard",
    ),
}


@pytest.mark.parametrize("case", CHECK_EQUALS_WRITE, ids=list(CHECK_EQUALS_WRITE))
def test_check_finds_what_write_refuses(tmp_path: Path, case: str) -> None:
    config = init_demo(tmp_path / "demo")
    area, extra, reason = CHECK_EQUALS_WRITE[case]
    path = config.parent / "state" / f"{area}.toml"
    if area == "sshfiles":  # as an editor would: qlutui itself refuses to save it
        header = "* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlucHV0IGludG8gdGhlIGtub3duIGhvc3Rz\n"
        Cluster.open(config).store.update(area, lambda d: d["known_hosts"].update(header=header))
    else:
        path.write_text(path.read_text() + extra)
    code, text = cli_out(config, "check")
    assert code == 1 and reason in text, text
    assert reason in refused(config, "ssh", "write")
