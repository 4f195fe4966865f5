"""Stale generated files: after an image is renamed (or deleted), its old config file on the
head-nodes is listed as stale and a write removes it (kept as a backup beside it, audited),
locally and over a real sshd; its old directory, when it holds nothing else but the file's
backups, is renamed whole to its backup name (the diff says so first). A file in the same
directory that qlutui did not generate (no marker, another image's marker), a symlink to a
directory or a file, a FIFO: never listed, never removed, nothing outside changed."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sshd import SSHD, free_port

from qlutui.backend import files
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.files.base import STALE, UNCHANGED, FileStatus
from qlutui.cli import main

IMAGES = "etc/qlustar/images"  # below a demo head-node's root
NODES = ("beosrv-c", "beosrv-d")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    config = init_demo(tmp_path / "demo")
    text = config.read_text()
    config.write_text(text[: text.index("[images]")] + "[images]\nrebuild = []\n")
    return config


@pytest.fixture
async def cluster(config: Path) -> AsyncIterator[Cluster]:
    c = Cluster.open(config)
    yield c
    await c.aclose()


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


async def write_all(service: files.FilesService) -> None:
    job = await service.write(await service.statuses())
    await asyncio.wait_for(job.wait(), 60)
    assert job.record.state == "Success", [line.text for line in job.lines()]


def stale(rows: list[FileStatus]) -> list[tuple[str, str, str]]:
    return [(r.dest.spec.id, r.dest.headnode, r.dest.path) for r in rows if r.state == STALE]


def tree_hash(root: Path) -> str:
    """Names, link targets and contents of everything below `root` (links not followed)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def plant_strangers(images: Path, outside: Path) -> None:
    """Entries in the images directory that qlutui did not generate there, and an outside
    tree two of them point into (its files carry the marker of the name they stand at)."""
    legacy = (images / "Legacy-jammy/qlutui.conf").read_text()
    (images / "Hand").mkdir()
    (images / "Hand/qlutui.conf").write_text("# the admin's own notes\nname = 'Hand'\n")
    (images / "Copied").mkdir()
    (images / "Copied/qlutui.conf").write_text(legacy)  # another image's marker
    for name in ("Linked", "Pointer"):
        (outside / name).mkdir(parents=True)
        (outside / name / "qlutui.conf").write_text(legacy.replace("Legacy-jammy", name))
    (images / "Linked").symlink_to(outside / "Linked")  # a link to a directory
    (images / "Pointer").mkdir()
    (images / "Pointer/qlutui.conf").symlink_to(outside / "Pointer/qlutui.conf")  # to a file
    (images / "Fifo").mkdir()
    os.mkfifo(images / "Fifo/qlutui.conf")


async def test_a_renamed_images_file_is_stale_and_removed_the_rest_never(
    config: Path, cluster: Cluster, tmp_path: Path
) -> None:
    service = files.files_service(cluster)
    await write_all(service)
    images = config.parent / "headnodes/beosrv-c" / IMAGES
    old_text = (images / "Legacy-jammy/qlutui.conf").read_text()
    outside = tmp_path / "outside"
    plant_strangers(images, outside)
    strangers = {name: tree_hash(images / name) for name in ("Hand", "Copied", "Pointer")}
    outside_hash = tree_hash(outside)
    earlier = "qlutui.conf.bak-20260101T000000.000000Z"  # an earlier write's backup
    (images / "Legacy-jammy" / earlier).write_text("# an earlier version\n")
    old_d = config.parent / "headnodes/beosrv-d" / IMAGES / "Legacy-jammy"
    (old_d / "notes").write_text("the admin's\n")  # beosrv-d's directory holds more
    assert (
        await asyncio.to_thread(cli, config, "images", "rename", "Legacy-jammy", "Old-jammy") == 0
    )

    rows = await service.statuses()
    path = "/etc/qlustar/images/Legacy-jammy/qlutui.conf"
    assert stale(rows) == [
        ("images/Legacy-jammy", "beosrv-c", path),
        ("images/Legacy-jammy", "beosrv-d", path),
    ]
    directories = [r.directory for r in rows if r.state == STALE]
    assert directories == ["/etc/qlustar/images/Legacy-jammy", ""]
    row, row_d = (r for r in rows if r.state == STALE)
    assert row.diff().startswith(
        f"stale: beosrv-c:{path} (remove)\n"
        "# and its directory, kept as Legacy-jammy.bak-<time> (nothing else is in it)\n"
        f"--- beosrv-c:{path} (on disk)\n+++ /dev/null\n"
    )
    assert row_d.diff().startswith(f"stale: beosrv-d:{path} (remove)\n--- beosrv-d:{path}")
    assert files.files_service(cluster, ["ssh"]).classes["ssh"].owned() is None
    assert stale(await service.statuses(["images/Standard-noble"])) == []  # not the whole class

    await write_all(service)
    assert not (images / "Legacy-jammy").exists()  # beosrv-c: the directory renamed whole
    [aside] = images.glob("Legacy-jammy.bak-*")
    assert sorted(p.name for p in aside.iterdir()) == ["qlutui.conf", earlier]
    assert (aside / "qlutui.conf").read_text() == old_text
    assert (aside / earlier).read_text() == "# an earlier version\n"
    assert not (old_d / "qlutui.conf").exists()  # beosrv-d: the file alone, beside the notes
    [backup] = old_d.glob("qlutui.conf.bak-*")
    assert backup.read_text() == old_text and (old_d / "notes").read_text() == "the admin's\n"
    for node in ("beosrv-c", "beosrv-d"):
        assert (config.parent / "headnodes" / node / IMAGES / "Old-jammy/qlutui.conf").exists()
    audit = (config.parent / "state/audit.log").read_text()
    directory = "/etc/qlustar/images/Legacy-jammy"
    assert audit.count(f"\tfile.rename\tbeosrv-c:{directory}\tto {directory}.bak-") == 1
    assert audit.count(f"\tfile.rename\tbeosrv-d:{path}\tto {path}.bak-") == 1
    assert {r.state for r in await service.statuses()} == {UNCHANGED}  # the aside is no image's

    assert {name: tree_hash(images / name) for name in strangers} == strangers
    assert os.readlink(images / "Linked") == str(outside / "Linked")
    assert (images / "Fifo/qlutui.conf").is_fifo()
    assert tree_hash(outside) == outside_hash


async def test_a_stale_file_changed_or_made_a_link_since_the_diff_is_not_removed(
    config: Path, cluster: Cluster, tmp_path: Path
) -> None:
    """After the diff, beosrv-d's copy is edited and beosrv-c's is replaced by a link to an
    identical copy outside: neither is removed (the link is never followed, though what it
    points at is exactly what the diff showed)."""
    service = files.files_service(cluster, ["images"])
    await write_all(service)
    assert await asyncio.to_thread(cli, config, "images", "rm", "Legacy-jammy") == 0
    rows = await service.statuses()
    assert len(stale(rows)) == 2
    changed = config.parent / "headnodes/beosrv-d" / IMAGES / "Legacy-jammy/qlutui.conf"
    changed.write_text(changed.read_text() + "# kept by hand\n")
    linked = config.parent / "headnodes/beosrv-c" / IMAGES / "Legacy-jammy/qlutui.conf"
    outside = tmp_path / "outside.conf"
    outside.write_text(linked.read_text())
    linked.unlink()
    linked.symlink_to(outside)
    job = await service.write(rows)
    await asyncio.wait_for(job.wait(), 60)
    log = "\n".join(line.text for line in job.lines())
    assert f"Error: beosrv-d: /{IMAGES}/Legacy-jammy/qlutui.conf was changed since the diff" in log
    assert "Error: beosrv-c: Legacy-jammy/qlutui.conf is a symbolic link; refused" in log
    assert changed.read_text().endswith("# kept by hand\n")
    assert linked.is_symlink() and outside.read_text().startswith("# Qlustar image Legacy-jammy")
    assert not [p for p in linked.parent.iterdir() if ".bak-" in p.name]


async def test_an_old_directory_is_renamed_only_while_it_holds_nothing_else(
    config: Path, cluster: Cluster, tmp_path: Path
) -> None:
    """beosrv-c's old directory holds a link named like a backup (to a file outside): the
    directory is not offered, the file alone is removed, the link stays. beosrv-d's held
    only the file at the diff, but an admin put a file in it since: the file alone is
    removed, the directory kept, and the job's log says why."""
    service = files.files_service(cluster, ["images"])
    await write_all(service)
    old_c, old_d = (config.parent / "headnodes" / n / IMAGES / "Legacy-jammy" for n in NODES)
    outside = tmp_path / "outside.conf"
    outside.write_text("# outside\n")
    link = old_c / "qlutui.conf.bak-20260101T000000.000000Z"
    link.symlink_to(outside)
    assert await asyncio.to_thread(cli, config, "images", "rm", "Legacy-jammy") == 0
    rows = await service.statuses()
    directory = "/etc/qlustar/images/Legacy-jammy"
    assert [(r.dest.headnode, r.directory) for r in rows if r.state == STALE] == [
        ("beosrv-c", ""),
        ("beosrv-d", directory),
    ]
    (old_d / "README").write_text("mine\n")
    job = await service.write(rows)
    await asyncio.wait_for(job.wait(), 60)
    assert job.record.state == "Success", [line.text for line in job.lines()]
    log = "\n".join(line.text for line in job.lines())
    assert f"{directory}: kept: it holds more than {directory}/qlutui.conf and its backups" in log
    for old in (old_c, old_d):
        assert not (old / "qlutui.conf").exists()
        assert len([p for p in old.glob("qlutui.conf.bak-*") if not p.is_symlink()]) == 1
    assert os.readlink(link) == str(outside) and outside.read_text() == "# outside\n"
    assert (old_d / "README").read_text() == "mine\n"
    assert not list(old_c.parent.glob("Legacy-jammy.bak-*"))


async def test_a_flat_destination_finds_its_files_by_prefix_and_suffix(
    config: Path, tmp_path: Path
) -> None:
    """`destination = /etc/qlustar/img-{image}.conf`: the directory is /etc/qlustar, a file
    is `img-<name>.conf`; backups, the admin's `img-Hand.conf` and other files stay."""
    text = config.read_text().replace(
        "[images]\n", '[images]\ndestination = "/etc/qlustar/img-{image}.conf"\n'
    )
    config.write_text(text)
    cluster = Cluster.open(config)
    directory = config.parent / "headnodes/beosrv-c/etc/qlustar"
    try:
        service = files.files_service(cluster, ["images"])
        await write_all(service)
        legacy = (directory / "img-Legacy-jammy.conf").read_text()
        (directory / "img-Hand.conf").write_text("# mine\n")
        (directory / "Legacy-jammy.conf").write_text(legacy)  # no prefix
        (directory / "img-.conf").write_text(legacy)  # no name
        await asyncio.to_thread(cli, config, "images", "rename", "Legacy-jammy", "Old")
        await write_all(service)  # writes Old, removes Legacy-jammy's (its backup stays)
        await asyncio.to_thread(cli, config, "images", "rename", "Old", "Older")
        rows = await service.statuses()
        path = "/etc/qlustar/img-Old.conf"
        assert stale(rows) == [("images/Old", "beosrv-c", path), ("images/Old", "beosrv-d", path)]
        names = sorted(p.name for p in directory.glob("*.conf*") if "Standard" not in p.name)
        assert [n[:25] for n in names] == [
            "Legacy-jammy.conf",
            "img-.conf",
            "img-Hand.conf",
            "img-Legacy-jammy.conf.bak",
            "img-Old.conf",
        ]
    finally:
        await cluster.aclose()


async def test_a_deeper_destination_renames_the_images_directory_only_when_all_is_its(
    config: Path,
) -> None:
    """`destination = /etc/qlustar/images/{image}/conf/qlutui.conf`: the image's directory is
    renamed when its only entry is `conf` holding the file; beosrv-d's also holds `extra`
    beside `conf`, so there the file alone is renamed."""
    text = config.read_text().replace(
        "[images]\n", '[images]\ndestination = "/etc/qlustar/images/{image}/conf/qlutui.conf"\n'
    )
    config.write_text(text)
    cluster = Cluster.open(config)
    try:
        service = files.files_service(cluster, ["images"])
        await write_all(service)
        old_c, old_d = (config.parent / "headnodes" / n / IMAGES / "Legacy-jammy" for n in NODES)
        (old_d / "extra").mkdir()
        await asyncio.to_thread(cli, config, "images", "rm", "Legacy-jammy")
        rows = await service.statuses()
        assert [r.directory for r in rows if r.state == STALE] == [
            "/etc/qlustar/images/Legacy-jammy",
            "",
        ]
        await write_all(service)
        assert not old_c.exists()
        assert [p.name for p in old_c.parent.glob("Legacy-jammy.bak-*/conf/*")] == ["qlutui.conf"]
        assert sorted(p.name[:16] for p in old_d.rglob("*")) == [
            "conf",
            "extra",
            "qlutui.conf.bak-",
        ]
    finally:
        await cluster.aclose()


async def test_a_headnode_down_is_named_the_others_stale_files_removed(
    config: Path, tmp_path: Path
) -> None:
    (tmp_path / "known_hosts").write_text("")
    config.write_text(
        config.read_text().replace(
            "[images]",
            f'[[headnodes]]\nname = "beosrv-x"\ntransport = "ssh"\nhost = "127.0.0.1"\n'
            f'port = {free_port()}\nknown_hosts = "{tmp_path}/known_hosts"\n[images]',
        )
    )
    cluster = Cluster.open(config)
    try:
        service = files.files_service(cluster, ["images"])
        job = await service.write(await service.statuses())
        await asyncio.wait_for(job.wait(), 60)
        assert await asyncio.to_thread(cli, config, "images", "rm", "Legacy-jammy") == 0
        rows = await service.statuses()
        down = [r for r in rows if r.dest.spec.id == "images/*"]
        assert [(r.dest.headnode, r.dest.path, r.state) for r in down] == [
            ("beosrv-x", "/etc/qlustar/images", "unreachable")
        ]
        assert down[0].error.startswith("stale files not searched: beosrv-x: cannot connect")
        assert [node for _, node, _ in stale(rows)] == ["beosrv-c", "beosrv-d"]
        await asyncio.wait_for((await service.write(rows)).wait(), 60)
        assert stale(await service.statuses()) == []
    finally:
        await cluster.aclose()


@pytest.mark.ssh
async def test_stale_files_over_ssh(sshd: SSHD, tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    remote = tmp_path / "remote"
    hn = sshd.headnode("beosrv-s")
    config.write_text(
        f'state_dir = "state"\njobs_dir = "{remote}/jobs"\n'
        f'[[headnodes]]\nname = "beosrv-s"\ntransport = "ssh"\nhost = "{hn.host}"\n'
        f'port = {hn.port}\nuser = "{hn.user}"\nknown_hosts = "{hn.known_hosts}"\n'
        f'identity = "{hn.identity}"\n'
        f'[images]\ndestination = "{remote}/images/{{image}}/qlutui.conf"\nrebuild = []\n'
    )
    cluster = Cluster.open(config)
    try:
        service = files.files_service(cluster, ["images"])
        await write_all(service)
        images = remote / "images"
        outside = tmp_path / "outside"
        plant_strangers(images, outside)
        strangers = {name: tree_hash(images / name) for name in ("Hand", "Copied", "Pointer")}
        outside_hash = tree_hash(outside)
        assert await asyncio.to_thread(cli, config, "images", "rename", "Standard-noble", "N") == 0
        rows = await service.statuses()
        path = f"{images}/Standard-noble/qlutui.conf"
        assert stale(rows) == [("images/Standard-noble", "beosrv-s", path)]
        await write_all(service)
        assert not Path(path).exists() and (images / "N/qlutui.conf").exists()
        assert not (images / "Standard-noble").exists()  # renamed whole: only its file was in it
        [aside] = images.glob("Standard-noble.bak-*")
        assert [p.name for p in aside.iterdir()] == ["qlutui.conf"]
        assert {r.state for r in await service.statuses()} == {UNCHANGED}
        assert {name: tree_hash(images / name) for name in strangers} == strangers
        assert (images / "Linked").is_symlink() and (images / "Fifo/qlutui.conf").is_fifo()
        assert tree_hash(outside) == outside_hash
    finally:
        await cluster.aclose()
