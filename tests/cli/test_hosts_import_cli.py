"""`qlutui hosts import` as an admin runs it: real files on a local head-node (root prefix) and
over the real sshd, exit codes, what the dry run prints, what lands in inventory.toml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sshd import SSHD

from qlutui.cli import main

NODES = 48


def dnsmasq_hosts() -> str:
    lines = ["# Network: Boot"]
    lines += [f"10.1.0.{i}  beo-{i:02d}" for i in range(1, NODES + 1)]
    lines += ["10.1.0.254  beosrv-c nfs", "# Network: IB"]
    lines += [f"10.2.0.{i}  beo-{i:02d}-ib" for i in range(1, NODES + 1)]
    lines += ["10.2.0.77  beo-77-ib", "10.2.0.78  fd00::1%x,*"]
    return "\n".join(lines) + "\n"


def write_config(directory: Path, sshd: SSHD | None = None) -> Path:
    root = directory / "hn"
    (root / "etc").mkdir(parents=True)
    (root / "etc/dnsmasq.hosts").write_text(dnsmasq_hosts())
    (root / "etc/ethers").write_text("02:00:00:00:00:01 beo-01\n02:00:00:00:00:02 10.1.0.2\n")
    text = (
        f'state_dir = "state"\n[[headnodes]]\nname = "hn"\ntransport = "local"\nroot = "{root}"\n'
    )
    if sshd is not None:
        text += (
            f'[[headnodes]]\nname = "hs"\ntransport = "ssh"\nhost = "{sshd.host}"\n'
            f'port = {sshd.port}\nuser = "{sshd.user}"\nknown_hosts = "{sshd.known_hosts}"\n'
            f'identity = "{sshd.identity}"\n'
        )
    config = directory / "config.toml"
    config.write_text(text)
    return config


def qlutui(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def inventory(config: Path) -> dict:
    return tomllib.loads((config.parent / "state/inventory.toml").read_text())


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    done = qlutui(config, "hosts", "import", "--dry-run", "hn:/etc/dnsmasq.hosts", "hn:/etc/ethers")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "would create network boot (ether, primary, 10.1.0.0/24) from hn:/etc/dnsmasq.hosts:1",
        "would create network ib (ib, suffix ib, 10.2.0.0/24) from hn:/etc/dnsmasq.hosts:51",
        "would add 49 hosts: beo-[01-48],beosrv-c",
        "2 lines not used:",
        "  hn:/etc/dnsmasq.hosts:100: beo-77 (of beo-77-ib) has no line on boot",
        "  hn:/etc/dnsmasq.hosts:101: host name 'fd00::1%x,*' must be labels of letters,"
        " digits and '-' (not first or last), 1..63 characters each, separated by '.'",
    ]
    assert not (tmp_path / "state/inventory.toml").exists()


def test_import_then_again_changes_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    files = ["hn:/etc/dnsmasq.hosts", str(tmp_path / "hn/etc/ethers")]  # a local path too
    done = qlutui(config, "hosts", "import", *files)
    assert done.returncode == 0, done.stderr
    assert "added 49 hosts: beo-[01-48],beosrv-c" in done.stdout
    data = inventory(config)
    assert [n["name"] for n in data["networks"]] == ["boot", "ib"]
    assert data["hosts"][0] == {
        "name": "beo-01",
        "ips": {"boot": "10.1.0.1", "ib": "10.2.0.1"},
        "macs": {"boot": "02:00:00:00:00:01"},
    }
    assert data["hosts"][1]["macs"] == {"boot": "02:00:00:00:00:02"}
    assert data["hosts"][-1] == {
        "name": "beosrv-c",
        "ips": {"boot": "10.1.0.254"},
        "aliases": {"boot": ["nfs"]},
    }
    assert "fd00::1%x" not in (tmp_path / "state/inventory.toml").read_text()
    # the inventory is sound; only known_hosts cannot be made yet: no host key was imported
    problems = qlutui(config, "check").stdout.splitlines()
    assert problems and all("no host key" in line for line in problems), problems
    saved = tmp_path / "state/inventory.toml"
    before = (saved.read_bytes(), saved.stat().st_mtime_ns, saved.stat().st_ino)
    audit = (tmp_path / "state/audit.log").read_text()
    again = qlutui(config, "hosts", "import", "--json", *files)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["added"] == [] and result["changed"] == [] and not result["applied"]
    assert len(result["unchanged"]) == 49
    assert (saved.read_bytes(), saved.stat().st_mtime_ns, saved.stat().st_ino) == before
    assert (tmp_path / "state/audit.log").read_text() == audit


@pytest.mark.ssh
def test_import_over_ssh(tmp_path: Path, sshd: SSHD) -> None:
    config = write_config(tmp_path, sshd)
    remote = tmp_path / "remote.hosts"  # a real file the sshd's user reads over SFTP
    remote.write_text(dnsmasq_hosts())
    done = qlutui(config, "hosts", "import", "--json", f"hs:{remote}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["applied"]
    assert len(inventory(config)["hosts"]) == 49
    link = tmp_path / "link.hosts"
    link.symlink_to(remote)
    refused = qlutui(config, "hosts", "import", f"hs:{link}")
    assert refused.returncode == 1
    assert (
        refused.stderr == f"qlutui: hs:{link}: not a regular file (a symbolic link to {remote})\n"
    )


def test_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In-process (the same `main` as the command), one line on stderr each, exit 1."""
    config = write_config(tmp_path)
    etc = tmp_path / "hn/etc"
    os.mkfifo(etc / "fifo")
    (etc / "link").symlink_to(etc / "dnsmasq.hosts")
    with (etc / "big").open("wb") as big:
        big.truncate(64 * 1024 * 1024 + 1)  # sparse: no disk used
    (etc / "odd").write_text("what is this\n")
    cases = [
        ("hn:/etc/fifo", "hn:/etc/fifo: not a regular file (a device, FIFO or socket)"),
        (
            "hn:/etc/link",
            f"hn:/etc/link: not a regular file (a symbolic link to {etc}/dnsmasq.hosts)",
        ),
        ("hn:/etc/big", "hn:/etc/big: larger than 64 MiB, not imported"),
        ("hn:/etc/nope", "hn:/etc/nope: no such file"),
        ("hm:/etc/hosts", "hm:/etc/hosts: no such file ('hm' is not a head-node: hn)"),
        (
            "hn:/etc/odd",
            "hn:/etc/odd: cannot tell its format; pass --format (hosts|dnsmasq|known_hosts|ethers)",
        ),
        (str(etc / "fifo"), f"{etc}/fifo: not a regular file"),
        (str(etc / "link"), f"{etc}/link: is a symbolic link; name the file itself"),
        ("hn:etc/hosts", "'hn:etc/hosts': the path on hn must be absolute"),
    ]
    for path, message in cases:
        code = main(["--config", str(config), "hosts", "import", path])
        assert (code, capsys.readouterr().err) == (1, f"qlutui: {message}\n"), path
    for bad in (["--format", "yaml", "hn:/etc/ethers"], []):
        with pytest.raises(SystemExit) as usage:
            main(["--config", str(config), "hosts", "import", *bad])
        assert usage.value.code == 2
    assert "invalid choice: 'yaml'" in capsys.readouterr().err
    assert not (tmp_path / "state/inventory.toml").exists()


def test_clashes_refuse_the_import(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert qlutui(config, "hosts", "import", "hn:/etc/dnsmasq.hosts").returncode == 0
    before = (tmp_path / "state/inventory.toml").read_bytes()
    clash = tmp_path / "clash.hosts"
    clash.write_text("10.1.0.1 other\n10.1.0.200 nfs\n")
    dry = qlutui(config, "hosts", "import", "--dry-run", "--format", "hosts", str(clash))
    assert dry.returncode == 1
    assert "would add 2 hosts: nfs,other" in dry.stdout
    assert "2 problems (the import is refused until they are fixed):" in dry.stdout
    assert "  ip '10.1.0.1' used by beo-01 (boot), other (boot)" in dry.stdout
    assert "  name 'nfs' used by beosrv-c (alias on boot), nfs (node name)" in dry.stdout
    real = qlutui(config, "hosts", "import", str(clash))
    assert real.returncode == 1
    assert real.stderr.startswith("qlutui: import refused, nothing changed: 2 problems: ")
    assert real.stderr.count("\n") == 1
    assert (tmp_path / "state/inventory.toml").read_bytes() == before
