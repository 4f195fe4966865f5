"""ChrootsService on real files: plans, checks, the completion hook, and clone/remove over
the real SSH transport (a small tree, not a full chroot)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tomllib
from pathlib import Path

import pytest
import tomlkit
from sshd import SSHD

from qlutui.backend.chroots import ChrootsService, mirror_of
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.errors import InvalidInput, Refused


@pytest.fixture
async def service(tmp_path: Path):
    cluster = Cluster.open(init_demo(tmp_path / "demo"))
    yield ChrootsService(cluster)
    await cluster.jobs.close()
    await cluster.aclose()


def records(service: ChrootsService) -> dict:
    path = service.cluster.config.state_dir / "chroots.toml"
    return tomllib.loads(path.read_text())["chroots"]


async def test_checks_refuse_before_any_path_or_command(service: ChrootsService) -> None:
    state = await service.load()
    with pytest.raises(InvalidInput, match=r"invalid chroot name '\.\./etc'"):
        await service.new(state, "../etc", "", "beosrv-c", "bookworm", "13.1", [])
    with pytest.raises(Refused, match="already exists"):
        service.check_new(state, "bookworm-base", "beosrv-c", "bookworm", "13.1", [])
    with pytest.raises(InvalidInput, match=r"version '12\.5' is not offered for bookworm"):
        service.check_new(state, "x", "beosrv-c", "bookworm", "12.5", [])
    with pytest.raises(InvalidInput, match="unknown task 'nope'"):
        service.check_new(state, "x", "beosrv-c", "bookworm", "13.1", ["nope"])
    with pytest.raises(InvalidInput, match="unknown head-node 'beosrv-z'"):
        service.check_new(state, "x", "beosrv-z", "bookworm", "13.1", [])
    assert service.path("x") == "/srv/apps/chroots/x"
    assert service.lock("x") == "/srv/apps/chroots/.qlutui-locks/x.lock"
    assert list(records(service)) == ["bookworm-base"]


async def test_missing_tree_is_shown_honestly(service: ChrootsService) -> None:
    state = await service.load()
    probe = await service.probe(state.chroot("bookworm-base"))
    assert (probe.present, probe.problem) == (False, "missing on beosrv-c")


async def test_an_unreachable_head_node_is_asked_once_for_all_its_chroots(
    tmp_path: Path,
) -> None:
    """A head-node that accepts TCP but never speaks SSH: one connect timeout, not one per
    chroot; the chroots of the reachable head-node are checked as usual."""
    config = init_demo(tmp_path / "demo")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # never accepted: the handshake waits for the timeout
    port = silent.getsockname()[1]
    config.write_text(
        config.read_text()
        + f'\n[[headnodes]]\nname = "beosrv-x"\ntransport = "ssh"\nhost = "127.0.0.1"\n'
        f'port = {port}\nuser = "root"\nknown_hosts = "{tmp_path}/known_hosts"\n'
        "connect_timeout = 1\n"
    )
    (tmp_path / "known_hosts").write_text("")
    chroots = "".join(
        f'[chroots.x{i}]\nserver = "beosrv-x"\npath = "/srv/apps/chroots/x{i}"\n'
        'flavour = "bookworm"\nversion = "13.1"\nstate = "ready"\n'
        for i in range(3)
    )
    state_file = config.parent / "state/chroots.toml"
    state_file.write_text(state_file.read_text() + chroots)
    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        problems = await service.tree_problems(await service.load())
        assert problems["bookworm-base"] == "missing on beosrv-c"
        assert {problems[f"x{i}"] for i in range(3)} == {problems["x0"]}
        assert problems["x0"].startswith("beosrv-x unreachable: cannot ")  # named once
        silent.setblocking(False)
        attempts = 0
        with contextlib.suppress(BlockingIOError):
            while attempts < 10:
                silent.accept()[0].close()
                attempts += 1
        assert attempts == 1
    finally:
        silent.close()
        await cluster.jobs.close()
        await cluster.aclose()


async def test_edit_description_conflict(service: ChrootsService) -> None:
    state = await service.load()
    state = service.edit_description(state, "bookworm-base", "first")
    assert records(service)["bookworm-base"]["description"] == "first"
    service.edit_description(state, "bookworm-base", "second")
    with pytest.raises(Exception, match="changed by someone else"):
        service.edit_description(state, "bookworm-base", "third")


async def test_remove_refused_while_a_job_runs(service: ChrootsService, tmp_path: Path) -> None:
    root = tmp_path / "demo/headnodes/beosrv-c/srv/apps/chroots/bookworm-base"
    (root / "bin").mkdir(parents=True)
    state = await service.load()
    job = await service.clone(state, "bookworm-base", "other", "")
    state = await service.load()
    with pytest.raises(Refused, match=r"chroot 'other' is (busy|still being built)"):
        await service.remove(state, "other")
    await asyncio.wait_for(job.wait(), 60)
    assert records(service)["other"]["state"] == "ready"


async def test_load_completes_a_build_whose_hook_did_not_run(service: ChrootsService) -> None:
    # a job that ended while no process with hooks followed it
    state = await service.load()
    (service.cluster.config.state_dir / "images.toml").write_text("")  # no users
    job = await service.clone(state, "bookworm-base", "orphan", "")  # the copy fails: no tree
    await asyncio.wait_for(job.wait(), 60)

    def back_to_building(doc: tomlkit.TOMLDocument) -> None:
        doc["chroots"]["orphan"]["state"] = "building"

    service.store.update("chroots", back_to_building)
    assert (await service.load()).chroot("orphan").state == "failed"


def test_mirror_of_apt_sources() -> None:
    deb822 = "Types: deb\nURIs: http://deb.debian.org/debian-security\n\nURIs: http://m/debian\n"
    assert mirror_of(deb822) == "http://m/debian"
    assert mirror_of("# c\ndeb [arch=amd64] http://x/debian bookworm main\n") == "http://x/debian"
    assert mirror_of("") == ""


@pytest.mark.ssh
async def test_clone_and_remove_over_ssh(sshd: SSHD, tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    base, jobs = tmp_path / "remote/chroots", tmp_path / "remote/jobs"
    (base / "small/etc").mkdir(parents=True)
    (base / "small/etc/hostname").write_text("small\n")
    (base / "small/link").symlink_to("etc/hostname")
    hn = sshd.headnode("beosrv-s")
    config.write_text(
        f'state_dir = "state"\nchroots_base = "{base}"\njobs_dir = "{jobs}"\n'
        f'[[headnodes]]\nname = "beosrv-s"\ntransport = "ssh"\nhost = "{hn.host}"\n'
        f'port = {hn.port}\nuser = "{hn.user}"\nknown_hosts = "{hn.known_hosts}"\n'
        f'identity = "{hn.identity}"\n'
    )
    (config.parent / "state/chroots.toml").write_text(
        f'[chroots.small]\nserver = "beosrv-s"\npath = "{base}/small"\nflavour = "bookworm"\n'
        'version = "13.1"\nstate = "ready"\n'
    )
    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        state = await service.load()
        job = await service.clone(state, "small", "copy", "over ssh")
        await asyncio.wait_for(job.wait(), 60)
        assert job.record.state == "Success"
        assert (base / "copy/etc/hostname").read_text() == "small\n"
        assert (base / "copy/link").is_symlink()
        assert not (base / "copy.partial").exists()
        assert records(service)["copy"]["state"] == "ready"

        job = await service.remove(await service.load(), "copy")
        await asyncio.wait_for(job.wait(), 60)
        assert job.record.state == "Success"
        assert not (base / "copy").exists()
        assert "copy" not in records(service)
        assert (base / "small/etc/hostname").exists()
    finally:
        await cluster.jobs.close()
        await cluster.aclose()
