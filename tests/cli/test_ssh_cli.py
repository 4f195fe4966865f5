"""`qlutui ssh ...` as a script uses it: exit codes, stderr, files and state on disk."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sshd import SSHD

from qlutui.backend.demo import init_demo
from qlutui.cli import main
from qlutui.model.sshfiles import BANNER


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return init_demo(tmp_path / "demo")


def qlutui(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), "ssh", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def sshfiles(config: Path) -> dict:
    return tomllib.loads((config.parent / "state" / "sshfiles.toml").read_text())


def test_diff_write_then_nothing_differs(config: Path) -> None:
    before = qlutui(config, "diff", "shosts_equiv")
    assert before.returncode == 1
    assert "+++ beosrv-d:/etc/ssh/shosts.equiv (generated)\n" in before.stdout
    written = qlutui(config, "write", "--only-changed")
    assert written.returncode == 0, written.stderr
    assert "beosrv-d: /etc/ssh/ssh_known_hosts: written (known_hosts, mode 0644)" in written.stdout
    root = config.parent / "headnodes"
    rendered = qlutui(config, "render", "known_hosts").stdout
    assert BANNER in rendered
    for node in ("beosrv-c", "beosrv-d"):
        assert (root / node / "etc/ssh/ssh_known_hosts").read_text() == rendered
    after = qlutui(config, "diff")
    up_to_date = "no differences: the files are up to date on beosrv-c, beosrv-d\n"
    assert (after.returncode, after.stdout) == (0, up_to_date)
    again = qlutui(config, "write", "--only-changed")
    assert (again.returncode, again.stdout) == (0, "nothing to write: the files are up to date\n")
    states = json.loads(qlutui(config, "diff", "--json").stdout)
    assert {s["state"] for s in states} == {"unchanged"} and len(states) == 10


def test_header_set_refuses_bad_lines(config: Path) -> None:
    bad = qlutui(config, "header", "shosts_equiv", "--set", "-", stdin="gw.example.org\n+\n")
    assert bad.returncode == 1
    assert bad.stderr == (
        "qlutui: shosts_equiv header not saved:"
        " line 2: '+' is a wildcard: allowed only with allow_patterns = true\n"
    )
    assert sshfiles(config)["shosts_equiv"]["header"] == ""
    good = qlutui(config, "header", "shosts_equiv", "--set", "-", stdin="gw.example.org\n")
    assert good.returncode == 0, good.stderr
    assert qlutui(config, "header", "shosts_equiv").stdout == "gw.example.org\n"
    assert qlutui(config, "describe", "shosts_equiv", "Trusted hosts").returncode == 0
    assert sshfiles(config)["shosts_equiv"]["description"] == "Trusted hosts"
    wrong = qlutui(config, "render", "hosts_equiv")
    assert wrong.returncode == 2 and "invalid choice: 'hosts_equiv'" in wrong.stderr


def test_header_and_ca_key_files_that_cannot_be_read_are_one_line(config: Path) -> None:
    before = sshfiles(config)
    missing = config.parent / "no-such-header"
    for args, option in [
        (["header", "known_hosts", "--set", str(missing)], "--set"),
        (["modes", "known_hosts", "--ca-key", str(missing)], "--ca-key"),
        (["header", "shosts_equiv", "--set", str(config.parent)], "--set"),  # a directory
    ]:
        refused = qlutui(config, *args)
        assert refused.returncode == 1
        where = args[-1]
        reason = "Is a directory" if where == str(config.parent) else "No such file or directory"
        assert refused.stderr == f"qlutui: {option} {where}: cannot read: {reason}\n"
    binary = config.parent / "header.bin"
    binary.write_bytes(b"\xff\xfe")
    refused = qlutui(config, "header", "known_hosts", "--set", str(binary))
    assert refused.stderr == f"qlutui: --set {binary}: cannot read: not UTF-8 text\n"
    assert sshfiles(config) == before


def test_write_refuses_invalid_header(config: Path, capsys: pytest.CaptureFixture) -> None:
    path = config.parent / "state" / "sshfiles.toml"
    text = path.read_text()
    start = text.index("[authorized_keys]")
    path.write_text(text[:start] + '[authorized_keys]\nheader = "ssh-rsa AAAA!\\n"\n')
    assert main(["--config", str(config), "ssh", "write"]) == 1
    assert capsys.readouterr().err == (
        "qlutui: authorized_keys cannot be written: "
        "header line 1: the ssh-rsa key data is not valid base64\n"
    )
    assert not list((config.parent / "headnodes").rglob("ssh_known_hosts"))
    path.write_text(text + "\n[shosts_equiv.extra]\n")  # broken by hand
    assert main(["--config", str(config), "ssh", "diff"]) == 1
    assert capsys.readouterr().err == f"qlutui: {path}: shosts_equiv: unknown setting 'extra'\n"


def test_scan_keys_stores_only_with_yes(config: Path, sshd: SSHD) -> None:
    where = f"beo-01=127.0.0.1:{sshd.port}"
    looked = qlutui(config, "scan-keys", "beo-01", "--address", where)
    assert looked.returncode == 0, looked.stderr
    assert f"beo-01 127.0.0.1:{sshd.port}: changed" in looked.stdout
    assert "WARNING: the host key changed" in looked.stdout
    assert "not stored: run again with --yes to store the keys of 1 host" in looked.stdout
    inventory = config.parent / "state" / "inventory.toml"
    before = inventory.read_text()
    stored = qlutui(config, "scan-keys", "beo-01", "--address", where, "--yes", "--json")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["stored"] == ["beo-01"]
    assert inventory.read_text() != before
    fixture_key = sshd.host_keys[0].with_suffix(".pub").read_text().split()[1]
    assert fixture_key in inventory.read_text()
    again = qlutui(config, "scan-keys", "beo-01", "--address", where)
    assert f"beo-01 127.0.0.1:{sshd.port}: unchanged" in again.stdout
    bad = qlutui(config, "scan-keys", "--address", "beo-01")
    assert bad.returncode == 2 and "expected HOST=IP[:PORT]" in bad.stderr


def test_header_patterns_need_allow_patterns(config: Path) -> None:
    header = "+@staff\n-untrusted.example.org\n"
    refused = qlutui(config, "header", "shosts_equiv", "--set", "-", stdin=header)
    assert refused.returncode == 1 and "'-untrusted.example.org' is a negation" in refused.stderr
    saved = qlutui(config, "header", "shosts_equiv", "--set", "-", "--allow-patterns", stdin=header)
    assert saved.returncode == 0 and "patterns allowed" in saved.stdout, saved.stderr
    assert sshfiles(config)["shosts_equiv"]["allow_patterns"] is True
    assert qlutui(config, "diff", "shosts_equiv").returncode == 1  # changed, not invalid
    withdrawn = qlutui(config, "header", "shosts_equiv", "--no-allow-patterns")
    assert withdrawn.returncode == 1 and "is a negation" in withdrawn.stderr
    assert sshfiles(config)["shosts_equiv"]["allow_patterns"] is True


def keygen_find(name: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh-keygen", "-F", name, "-f", str(path)], capture_output=True, text=True, timeout=30
    )


def test_modes_set_by_cli_and_found_by_ssh_keygen(config: Path, tmp_path: Path) -> None:
    state = config.parent / "state"
    assert qlutui(config, "modes", "known_hosts").stdout == (
        "known_hosts: modes: plain names, with IPs, every SSH network, host keys (no CA)\n"
    )
    done = qlutui(config, "modes", "known_hosts", "--hashed", "--no-ips")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("known_hosts: modes saved: hashed names, no IPs,")
    assert (sshfiles(config)["known_hosts"]["hashed"], sshfiles(config)["known_hosts"]
            ["include_ips"]) == (True, False)  # fmt: skip
    audit = (state / "audit.log").read_text().splitlines()[-1]
    assert audit.endswith("sshfiles.toml\tknown_hosts modes: hashed on, include_ips off")
    assert len(list((state / ".history").glob("sshfiles.toml.*"))) == 1
    written = qlutui(config, "write", "known_hosts")
    assert written.returncode == 0, written.stderr
    on_disk = config.parent / "headnodes/beosrv-c/etc/ssh/ssh_known_hosts"
    for name in ("beo-01", "beo-01-ib"):
        found = keygen_find(name, on_disk)
        assert found.returncode == 0 and f"# Host {name} found: line " in found.stdout
        assert found.stdout.splitlines()[1].startswith("|1|")
    for name in ("127.52.1.11", "beo-99"):  # no IPs; no such host
        assert keygen_find(name, on_disk).returncode == 1, name

    # shosts.equiv: only the boot network's names, no IPs
    done = qlutui(config, "modes", "shosts_equiv", "--no-ips", "--networks", "boot")
    assert done.returncode == 0, done.stderr
    rendered = qlutui(config, "render", "shosts_equiv").stdout.split(BANNER + "\n")[1]
    assert "beo-01\n" in rendered and "beo-01-ib" not in rendered and "127.52" not in rendered
    listed = json.loads(qlutui(config, "list", "--json").stdout)
    assert listed[1]["modes"] == {"include_ips": False, "networks": ["boot"]}

    # refused: one line on stderr, exit 1, nothing saved
    private = tmp_path / "ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(private)], check=True)
    before = (state / "sshfiles.toml").read_bytes()
    for args, reason in (
        (("known_hosts", "--ca-key", str(private)), "that is a private key"),
        (("shosts_equiv", "--hashed"), "shosts_equiv has no mode hashed"),
        (("authorized_keys", "--ips"), "authorized_keys has no modes"),
        (("known_hosts", "--networks", "boot,nope"), "no network 'nope'"),
    ):
        bad = qlutui(config, "modes", *args)
        assert bad.returncode == 1 and reason in bad.stderr, bad.stderr
        assert bad.stderr.count("\n") == 1
    assert (state / "sshfiles.toml").read_bytes() == before

    # the CA key from its .pub file (or stdin): one @cert-authority line per hashed name
    done = qlutui(config, "modes", "known_hosts", "--ca-key", "-",
                  stdin=private.with_suffix(".pub").read_text())  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "@cert-authority SHA256:" in done.stdout
    rendered = qlutui(config, "render", "known_hosts").stdout.split(BANNER + "\n")[1]
    assert all(line.startswith("@cert-authority |1|") for line in rendered.splitlines())
    assert qlutui(config, "modes", "known_hosts", "--no-ca-key", "--json").returncode == 0
    assert sshfiles(config)["known_hosts"]["ca_key"] == ""
