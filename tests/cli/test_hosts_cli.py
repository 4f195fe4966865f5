"""`qlutui hosts ...` and `qlutui networks ...`: in-process for output and files, as a
subprocess for exit codes and stderr."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from qlutui.backend.demo import init_demo
from qlutui.cli import main


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return init_demo(tmp_path / "demo")


def inventory(config: Path) -> dict:
    return tomllib.loads((config.parent / "state/inventory.toml").read_text())


def hosts(config: Path) -> dict[str, dict]:
    return {h["name"]: h for h in inventory(config)["hosts"]}


def state_digest(config: Path) -> dict[str, str]:
    state = config.parent / "state"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in state.glob("*.toml")}


def run(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def cli(config: Path, capsys: pytest.CaptureFixture, *args: str) -> str:
    assert main(["--config", str(config), *args]) == 0
    return capsys.readouterr().out


def test_list_and_show(config: Path, capsys: pytest.CaptureFixture) -> None:
    listed = json.loads(cli(config, capsys, "hosts", "list", "beo-[01-03],login-c", "--json"))
    assert [h["name"] for h in listed] == ["beo-01", "beo-02", "beo-03", "login-c"]
    assert listed[0]["ips"]["boot"] == "127.52.1.11"
    text = cli(config, capsys, "hosts", "list")
    assert text.splitlines()[0].split() == ["NAME", "IP(boot)", "IMAGE", "NETWORKS"]
    assert len(text.splitlines()) == 52
    shown = json.loads(cli(config, capsys, "hosts", "show", "login-c", "--json"))
    assert shown[0]["names"]["extern"] == ["login-c-ext", "login", "gateway", "www"]
    assert "  Override:  login (on extern)" in cli(config, capsys, "hosts", "show", "login-c")
    nets = json.loads(cli(config, capsys, "networks", "list", "--json"))
    assert [(n["name"], n["hosts"]) for n in nets] == [
        ("boot", 51),
        ("ib", 51),
        ("ipmi", 50),
        ("extern", 3),
    ]
    shown = json.loads(cli(config, capsys, "networks", "show", "extern", "--json"))
    assert shown["host_names"] == ["beosrv-c", "beosrv-d", "login-c"]
    ib = cli(config, capsys, "networks", "show", "ib")
    assert "  Hosts (51): beo-[01-48],beosrv-c,beosrv-d,login-c\n" in ib


def test_add_a_range_with_mapped_slave_ips(config: Path, capsys: pytest.CaptureFixture) -> None:
    out = cli(
        config,
        capsys,
        "hosts",
        "add",
        "gpu-[01-48]",
        "--ip",
        "boot=127.52.2.10",
        "--ip",
        "ib=auto",
        "--ip",
        "ipmi=auto",
        "--image",
        "Standard-noble",
        "--json",
    )
    change = json.loads(out)
    assert change["added"] == [f"gpu-{i:02d}" for i in range(1, 49)]
    assert change["text"] == "added 48 hosts (gpu-[01-48])"
    found = hosts(config)
    assert found["gpu-01"] == {
        "name": "gpu-01",
        "image": "Standard-noble",
        "ips": {"boot": "127.52.2.10", "ib": "127.53.2.10", "ipmi": "127.54.2.10"},
    }
    assert found["gpu-48"]["ips"]["boot"] == "127.52.2.57"
    # numbered on past a used address: gpu-[49-50] from 127.52.2.57 skip gpu-48's
    cli(config, capsys, "hosts", "add", "gpu-[49-50]", "--ip", "boot=127.52.2.57")
    assert [hosts(config)[n]["ips"]["boot"] for n in ("gpu-49", "gpu-50")] == [
        "127.52.2.58",
        "127.52.2.59",
    ]


def test_set_on_a_range_and_on_one_host(
    config: Path, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    out = cli(config, capsys, "hosts", "set", "beo-[01-10]", "--image", "Legacy-jammy")
    assert out == "changed 10 hosts (beo-[01-10])\n"
    assert {hosts(config)[f"beo-{i:02d}"]["image"] for i in range(1, 11)} == {"Legacy-jammy"}
    assert hosts(config)["beo-11"]["image"] == "Standard-noble"
    key_file = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@beo-01", "-f", str(key_file)],
        check=True,
        timeout=60,
    )
    key = (tmp_path / "key.pub").read_text().strip()
    cli(
        config,
        capsys,
        "hosts",
        "set",
        "beo-01",
        "--ip",
        "extern=127.60.1.11",
        "--alias",
        "extern=www2 www3",
        "--override",
        "login2",
        "--override-network",
        "extern",
        "--mac",
        "boot=AA-BB-CC-DD-EE-01",
        "--host-key",
        key,
    )
    beo = hosts(config)["beo-01"]
    assert beo["ips"]["extern"] == "127.60.1.11"
    assert beo["aliases"] == {"extern": ["www2", "www3"]}
    assert (beo["override"], beo["override_network"]) == ("login2", "extern")
    assert beo["macs"] == {"boot": "aa:bb:cc:dd:ee:01"}
    assert beo["host_keys"] == [key]
    cli(
        config,
        capsys,
        "hosts",
        "set",
        "beo-01",
        "--no-override",
        "--no-host-keys",
        "--ip",
        "extern=",
    )
    beo = hosts(config)["beo-01"]
    assert "extern" not in beo["ips"] and "aliases" not in beo and "override" not in beo
    assert "host_keys" not in beo
    # renumber a range: the hosts' own addresses are free for them
    cli(config, capsys, "hosts", "set", "beo-[01-48]", "--ip", "boot=127.52.5.1", "--ip", "ib=auto")
    assert hosts(config)["beo-48"]["ips"] == {
        "boot": "127.52.5.48",
        "ib": "127.53.5.48",
        "ipmi": "127.54.1.58",
    }


def test_dry_run_changes_nothing(config: Path, capsys: pytest.CaptureFixture) -> None:
    before = state_digest(config)
    for args in (
        ["hosts", "rm", "beo-[40-48]", "--dry-run"],
        ["hosts", "add", "x-[1-3]", "--ip", "boot=auto", "--dry-run"],
        ["hosts", "set", "beo-[01-04]", "--image", "", "--dry-run"],
        ["networks", "add", "ib2", "--kind", "ib", "--suffix", "ib2", "--dry-run"],
        ["networks", "rm", "ib", "--drop-ips", "--dry-run"],
    ):
        out = cli(config, capsys, *args)
        assert out.startswith("would have "), out
        if args[:2] == [
            "hosts",
            "add",
        ]:  # the preview: the hosts and each network's first and last IP
            assert out.splitlines()[1:] == ["Add: 3 (x-[1-3])", "  boot: 127.52.0.1 .. 127.52.0.3"]
    assert json.loads(cli(config, capsys, "hosts", "rm", "beo-[40-48]", "--dry-run", "--json"))[
        "removed"
    ] == [f"beo-{i}" for i in range(40, 49)]
    assert state_digest(config) == before
    cli(config, capsys, "hosts", "rm", "beo-[40-48]")
    assert "beo-40" not in hosts(config) and "beo-39" in hosts(config)


def test_networks_add_set_rm(config: Path, capsys: pytest.CaptureFixture) -> None:
    out = cli(
        config,
        capsys,
        "networks",
        "add",
        "ib2",
        "--kind",
        "ib",
        "--suffix",
        "ib2",
        "--cidr",
        "127.55.0.0/16",
        "--no-ssh",
        "--json",
    )
    assert json.loads(out)["networks"] == ["ib2"]
    assert inventory(config)["networks"][-1] == {
        "name": "ib2",
        "kind": "ib",
        "primary": False,
        "suffix": "ib2",
        "ssh": False,
        "cidr": "127.55.0.0/16",
    }
    cli(config, capsys, "hosts", "set", "beo-[01-04]", "--ip", "ib2=auto")
    assert hosts(config)["beo-04"]["ips"]["ib2"] == "127.55.1.14"
    cli(config, capsys, "networks", "set", "ib2", "--ssh", "--cidr", "127.55.0.0/16")
    assert inventory(config)["networks"][-1]["ssh"] is True
    before = state_digest(config)
    result = run(config, "networks", "rm", "ib2")
    assert result.returncode == 1
    assert result.stderr == (
        "qlutui: network ib2 is used by 4 hosts: beo-[01-04]"
        " (--drop-ips removes what they have on it)\n"
    )
    assert state_digest(config) == before
    assert cli(config, capsys, "networks", "rm", "ib2", "--drop-ips") == (
        "changed 4 hosts (beo-[01-04]); networks ib2\n"
    )
    assert "ib2" not in hosts(config)["beo-01"]["ips"]
    assert [n["name"] for n in inventory(config)["networks"]] == ["boot", "ib", "ipmi", "extern"]


def test_comments_survive_cli_edits(config: Path, capsys: pytest.CaptureFixture) -> None:
    path = config.parent / "state/inventory.toml"
    path.write_text(
        path.read_text().replace(
            'name = "beo-05"', '# beo-05 is on loan to the physics group\nname = "beo-05"'
        )
    )
    cli(config, capsys, "hosts", "set", "beo-[01-10]", "--image", "Legacy-jammy")
    cli(config, capsys, "hosts", "rm", "beo-48")
    cli(config, capsys, "networks", "set", "ipmi", "--ssh")
    assert "# beo-05 is on loan to the physics group\n" in path.read_text()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (
            ["hosts", "add", "beo-[01-02]", "--ip", "boot=auto"],
            "2 hosts exist already: beo-[01-02]",
        ),
        (
            ["hosts", "add", "n1", "--ip", "boot=127.52.1.11"],
            "ip '127.52.1.11' used by beo-01 (boot), n1 (boot)",
        ),
        (["hosts", "add", "n1", "--ip", "boot=127.52.1.999"], "invalid IP on boot '127.52.1.999'"),
        (["hosts", "add", "n1", "--ip", "boot=10.0.0.1"], "outside boot's 127.52.0.0/16"),
        (["hosts", "add", "n1", "--ip", "ib=127.53.9.9"], "need an IP on the primary network"),
        (["hosts", "add", "bad_name", "--ip", "boot=auto"], "host name 'bad_name'"),
        (["hosts", "add", "beo-[", "--ip", "boot=auto"], "invalid node range 'beo-['"),
        (["hosts", "add", "n1", "--ip", "boot=auto", "--ip", "nope=auto"], "unknown network"),
        (
            ["hosts", "set", "beo-[01-03]", "--image", "Nope"],
            "unknown image 'Nope' for beo-[01-03]",
        ),
        (["hosts", "set", "beo-01", "--mac", "boot=zz"], "invalid MAC 'zz'"),
        (["hosts", "set", "beo-01", "--host-key", "ssh-ed25519 AAAAnope"], "host key"),
        (["hosts", "set", "beo-01", "--alias", "boot=beo-02"], "name 'beo-02' used by"),
        (["hosts", "set", "nope-[1-2]", "--image", ""], "no host named 'nope-[1-2]'"),
        (["hosts", "rm", "nope"], "no host named 'nope'"),
        (["hosts", "show", "nope"], "no host named 'nope'"),
        (["networks", "rm", "ib"], "network ib is used by 51 hosts"),
        (["networks", "add", "ib", "--kind", "ib", "--suffix", "x"], "network ib exists already"),
        (["networks", "add", "x", "--kind", "ib"], "a slave network needs a suffix"),
        (
            ["networks", "add", "x", "--kind", "ib", "--suffix", "x", "--cidr", "1.2.3"],
            "is not a network address",
        ),
        (["networks", "set", "nope", "--ssh"], "unknown network 'nope'"),
    ],
)
def test_refusals_exit_1_and_change_nothing(config: Path, args: list[str], reason: str) -> None:
    before = state_digest(config)
    result = run(config, *args)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("qlutui: ") and reason in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert state_digest(config) == before


@pytest.mark.parametrize(
    "args",
    [
        ["hosts", "add", "n1", "--ip", "boot"],
        ["hosts", "set", "beo-[01-02]", "--override", "x", "--override-network", "boot"],
        ["hosts", "add"],
        ["networks", "add", "x", "--kind", "token-ring"],
        ["networks", "set", "ib", "--primary", "--slave"],
    ],
)
def test_bad_usage_exits_2(config: Path, args: list[str]) -> None:
    before = state_digest(config)
    result = run(config, *args)
    assert result.returncode == 2, result.stderr
    assert state_digest(config) == before


def test_bulk_add_with_alias_and_override_patterns(
    config: Path, capsys: pytest.CaptureFixture
) -> None:
    """`{name}` in --alias and --override is each host's name; the dry run previews the
    first and last of them, a clash is refused by name with nothing written."""
    add = ["hosts", "add", "gpu-[01-03]", "--ip", "boot=127.52.2.1", "--ip", "ib=auto"]
    names = ["--alias", "ib={name}-hca", "--override", "{name}-x", "--override-network", "ib"]
    before = state_digest(config)
    preview = cli(config, capsys, *add, *names, "--dry-run")
    assert "  aliases on ib: gpu-01-hca .. gpu-03-hca" in preview.splitlines()
    assert "  hostname override: gpu-01-x (on ib) .. gpu-03-x (on ib)" in preview.splitlines()
    assert state_digest(config) == before
    cli(config, capsys, *add, *names)
    gpu = hosts(config)["gpu-02"]
    assert gpu["aliases"] == {"ib": ["gpu-02-hca"]}
    assert (gpu["override"], gpu["override_network"]) == ("gpu-02-x", "ib")
    before = state_digest(config)
    clash = run(config, "hosts", "add", "gpu-[04-05]", "--ip", "boot=auto", "--alias", "boot=www")
    assert clash.returncode == 1
    assert "name 'www' used by" in clash.stderr and "gpu-04 (alias on boot)" in clash.stderr
    assert state_digest(config) == before


def test_networks_rename(config: Path, capsys: pytest.CaptureFixture) -> None:
    """Every host's IPs, aliases and override on the network follow, in place; the SSH
    files' networks settings too; a taken name is refused with nothing changed."""
    sshfiles = config.parent / "state/sshfiles.toml"
    sshfiles.write_text('[known_hosts]\nnetworks = ["boot", "extern"]\n')
    before = state_digest(config)
    taken = run(config, "networks", "rename", "extern", "ib")
    assert taken.returncode == 1
    assert taken.stderr == "qlutui: network ib exists already: rename refused, nothing changed\n"
    preview = json.loads(
        cli(config, capsys, "networks", "rename", "extern", "wan", "--dry-run", "--json")
    )
    assert preview["settings"] == ["sshfiles.toml known_hosts.networks"]
    assert state_digest(config) == before
    out = cli(config, capsys, "networks", "rename", "extern", "wan")
    assert out.splitlines()[0] == (
        "changed 3 hosts (beosrv-c,beosrv-d,login-c); networks wan;"
        " settings sshfiles.toml known_hosts.networks"
    )
    assert "Write Files" in out
    data = inventory(config)
    assert [n["name"] for n in data["networks"]] == ["boot", "ib", "ipmi", "wan"]
    login = hosts(config)["login-c"]
    assert list(login["ips"]) == ["boot", "ib", "wan"]  # where extern was
    assert login["aliases"]["wan"] == ["gateway", "www"]
    assert login["override_network"] == "wan"
    assert tomllib.loads(sshfiles.read_text())["known_hosts"]["networks"] == ["boot", "wan"]
    assert "# Network: wan" in cli(config, capsys, "files", "render", "hosts")
