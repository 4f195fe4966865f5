"""`Cluster.problems()`: every kind of problem in the state files, one line each, found
again after a file changes."""

from __future__ import annotations

from pathlib import Path

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo


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
