"""`Cluster.problems()`: every kind of problem in the state files, one line each, found
again after a file changes."""

from __future__ import annotations

import asyncio
import threading
import tomllib
from pathlib import Path

import pytest
import tomlkit

from qlutui.backend.cluster import Cluster, Stopped
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
    state_line = (state / "chroots.toml").read_text().splitlines().index("state = 5") + 1
    typo = (state / "images.toml").read_text().splitlines()
    typo_line = next(i for i, line in enumerate(typo, 1) if line.startswith("descripton ="))
    assert cluster.problems() == [  # by file name; an entry's or a key's at its line
        f"{state}/chroots.toml:{state_line}: chroots.bookworm-base: state: must be text",
        f"{state}/images.toml:{typo_line}: unknown key images.Standard-noble.descripton (not used)",
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


class _StopAfter(threading.Event):
    """Set as seen by the count after `steps` of its checks (the menu left mid-count)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def is_set(self) -> bool:
        self.steps -= 1
        return self.steps < 0


def test_a_stopped_count_ends_between_steps_and_the_next_carries_on(tmp_path: Path) -> None:
    cluster = Cluster.open(init_demo(tmp_path / "demo"))
    stopped = threading.Event()
    stopped.set()
    with pytest.raises(Stopped):  # nothing done yet: not even the first step runs
        cluster.summary(stopped)
    assert cluster._memos == {}

    with pytest.raises(Stopped):
        cluster.summary(_StopAfter(2))  # left after two steps: those two are kept
    assert len(cluster._memos) == 2
    with pytest.raises(Stopped):
        cluster.summary(_StopAfter(1))  # the steps done cost no check: one more done
    assert len(cluster._memos) == 3

    whole = cluster.summary()
    assert cluster.summary(stopped) == whole  # every step done: a stopped count is whole
    assert (whole.hosts, whole.images, whole.problems) == (51, 3, 0)


async def test_the_menu_status_ends_quietly_once_stopped(tmp_path: Path) -> None:
    cluster = Cluster.open(init_demo(tmp_path / "demo"))
    stopped = threading.Event()
    stopped.set()
    assert [s async for s in cluster.status(stopped)] == []
    counts = [s async for s in cluster.status(threading.Event())]
    assert [s.hosts for s in counts] == [51, 51]  # the state files', then with the head-nodes'
    await cluster.aclose()
