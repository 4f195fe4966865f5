"""`Cluster.problems()`: every kind of problem in the state files, one line each, found
again after a file changes."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest
import tomlkit

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.cli import main


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_problems_of_each_kind_then_none_once_fixed(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    state = config.parent / "state"
    cluster = Cluster.open(config)
    assert cluster.problems() == []

    edit(state / "images.toml", "description =", "descripton =")  # a typo
    edit(state / "chroots.toml", 'state = "ready"', "state = 5")  # an entry the model refuses
    edit(state / "inventory.toml", 'boot = "127.52.1.2"', 'boot = "127.52.1.1"')  # a clash
    (state / "rootfs.toml").write_text("[configs\n")  # malformed
    assert cluster.problems() == [  # by file name
        f"{state}/chroots.toml: chroots.bookworm-base: state: must be text",
        f"{state}/images.toml: unknown key images.Standard-noble.descripton (not used)",
        f"{state}/inventory.toml: ip '127.52.1.1' used by beosrv-c (boot), beosrv-d (boot)",
        f"{state}/rootfs.toml:1:9: Expected ']' at the end of a table declaration",
    ]
    assert cluster.summary().problems == 4

    edit(state / "images.toml", "descripton =", "description =")
    (state / "rootfs.toml").write_text('[configs.ntp]\ndescription = ""\n')
    assert len(cluster.problems()) == 2


def test_hosts_without_a_host_key_are_one_line_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A freshly imported cluster has no host keys: one line per generated file names the
    hosts as a folded range, in `qlutui check` and the Check screen's list alike."""
    config = init_demo(tmp_path / "demo")
    path = config.parent / "state/inventory.toml"
    data = tomllib.loads(path.read_text())
    del data["default_host_keys"]
    for host in data["hosts"]:
        if host["name"].startswith("beo-0"):  # beo-01 .. beo-09
            del host["host_keys"]
    path.write_text(tomlkit.dumps(data))
    cluster = Cluster.open(config)
    expected = [
        f"{path}: {kind}: beo-[01-09]: no host key (and no default host keys)"
        for kind in ("known_hosts", "shosts_equiv")
    ]
    assert cluster.problems() == expected
    found = asyncio.run(cluster.all_problems())  # the Check screen's list
    assert [line for line in found if "host key" in line] == expected
    assert main(["--config", str(config), "check"]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert [line for line in printed if "host key" in line] == expected
