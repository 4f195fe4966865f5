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
