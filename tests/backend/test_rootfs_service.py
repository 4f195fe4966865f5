"""The Root FS service on real head-nodes: the demo's two local head-nodes, and a local plus
a real-sshd head-node (each with its own root-fs base), seeded with the demo's configs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sshd import free_port

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo, seed_rootfs
from qlutui.backend.rootfs import FileConflict, RootfsService
from qlutui.errors import ConflictError, InvalidInput, QlutuiError, Refused

BASE = "/var/lib/qlustar/root-fs"


def _ssh_config(demo: Path, tmp_path: Path, sshd, extra: str = "") -> None:
    """Rewrite the demo config: beosrv-c local, beosrv-d over SSH, base in tmp_path."""
    base = tmp_path / "rootfs-ssh"
    (demo / "config.toml").write_text(
        f'state_dir = "state"\nrootfs_base = "{base}"\njobs_dir = "{tmp_path / "jobs"}"\n'
        '[[headnodes]]\nname = "beosrv-c"\ntransport = "local"\nroot = "headnodes/beosrv-c"\n'
        '[[headnodes]]\nname = "beosrv-d"\ntransport = "ssh"\n'
        f'host = "{sshd.host}"\nport = {sshd.port}\nuser = "{sshd.user}"\n'
        f'known_hosts = "{sshd.known_hosts}"\nidentity = "{sshd.identity}"\n' + extra
    )
    seed_rootfs(demo / "headnodes/beosrv-c" / str(base).lstrip("/"), "beosrv-c")
    seed_rootfs(base, "beosrv-d")


@pytest.fixture(params=["local", pytest.param("ssh", marks=pytest.mark.ssh)])
async def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    config = init_demo(tmp_path / "demo")
    if request.param == "ssh":
        _ssh_config(tmp_path / "demo", tmp_path, request.getfixturevalue("sshd"))
    cluster = Cluster.open(config)
    try:
        yield cluster
    finally:
        await cluster.jobs.close()
        await cluster.aclose()


@pytest.fixture
def service(cluster: Cluster) -> RootfsService:
    return RootfsService(cluster)


def real(cluster: Cluster, headnode: str, rel: str = "") -> Path:
    """Where a path below the root-fs base really is on this machine."""
    base = cluster.config.rootfs_base
    return Path(cluster.transport(headnode).host_path(f"{base}/{rel}" if rel else base))


def tree_hash(path: Path) -> str:
    """Names, kinds, modes, contents and link targets of a whole tree, never following links."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            st = os.lstat(full)
            digest.update(f"{full} {st.st_mode:o}\n".encode())
            if os.path.islink(full):
                digest.update(os.readlink(full).encode())
            elif os.path.isfile(full):
                digest.update(Path(full).read_bytes())
    return digest.hexdigest()


def toml(cluster: Cluster, area: str) -> dict:
    return tomllib.loads((cluster.config.state_dir / f"{area}.toml").read_text())


# -- listing ------------------------------------------------------------------------------


async def test_load_joins_directories_descriptions_and_images(service: RootfsService) -> None:
    state = await service.load()
    assert list(state.configs) == ["gpu-setup", "ntp-tweaks"]
    ntp = state.config("ntp-tweaks")
    assert ntp.description == "Chrony pointing at the head-nodes"
    assert (ntp.files, ntp.size) == (2, 46 + 98)
    assert ntp.images == ("Standard-bookworm", "Standard-noble")
    assert ntp.agree and ntp.status == "in sync"
    gpu = state.config("gpu-setup")
    assert not gpu.agree and gpu.status == "differs: beosrv-c | beosrv-d"
    assert service.differences(state, "gpu-setup")[-1] == "etc/modprobe.d/nvidia.conf"
    assert state.down == {}


async def test_directory_without_description_and_description_without_directory(
    service: RootfsService, cluster: Cluster
) -> None:
    for node in cluster.headnode_names:
        (real(cluster, node) / "site-extra").mkdir()
    (real(cluster, "beosrv-c") / "not a config").mkdir()  # invalid name: ignored
    state = await service.load()
    with pytest.raises(InvalidInput, match="no root-fs config named 'only-described'"):
        service.describe(state, "only-described", "a typo, nowhere: never described")
    assert "only-described" not in toml(cluster, "rootfs")["configs"]

    def describe(doc) -> None:  # as another admin's hand or an old qlutui left it
        doc["configs"]["only-described"] = {"description": "no directory anywhere"}

    cluster.store.edit("rootfs", state.token, describe)
    state = await service.load()
    assert state.config("site-extra").description == ""
    assert state.config("only-described").status == "missing on every head-node"
    assert "not a config" not in state.configs
    service.describe(state, "only-described", "still described")  # it is listed: it can be


# -- new / delete -------------------------------------------------------------------------


async def test_new_and_delete_on_every_headnode(service: RootfsService, cluster: Cluster) -> None:
    state = await service.load()
    outcome = await service.create(state, "site-x", "Site tweaks", initd=True)
    assert outcome.done == ["beosrv-c", "beosrv-d"] and not outcome.failed
    for node in cluster.headnode_names:
        assert (real(cluster, node, "site-x/lib/qlustar/init.d")).is_dir()
    assert toml(cluster, "rootfs")["configs"]["site-x"] == {"description": "Site tweaks"}
    state = await service.load()
    assert state.config("site-x").agree
    with pytest.raises(Refused, match="exists already on beosrv-c, beosrv-d"):
        await service.create(state, "site-x")
    service.assign(state, "site-x", "Legacy-jammy")
    state = await service.load()
    assert state.config("site-x").images == ("Legacy-jammy",)

    await service.delete(state, "site-x")
    for node in cluster.headnode_names:
        assert not real(cluster, node, "site-x").exists()
    assert "site-x" not in toml(cluster, "rootfs")["configs"]
    assert toml(cluster, "images")["images"]["Legacy-jammy"]["rootfs"] == []
    assert "site-x" not in (await service.load()).configs


async def test_config_names_are_checked(service: RootfsService) -> None:
    state = await service.load()
    for bad in ("../etc", "a/b", ".hidden", "-rf", ""):
        with pytest.raises(InvalidInput, match="invalid config name"):
            await service.create(state, bad)
        with pytest.raises(InvalidInput, match="invalid config name"):
            await service.list_dir(bad)


async def test_assign_and_unassign(service: RootfsService, cluster: Cluster) -> None:
    state = await service.load()
    service.assign(state, "gpu-setup", "Standard-noble")
    state = await service.load()
    assert toml(cluster, "images")["images"]["Standard-noble"]["rootfs"] == [
        "ntp-tweaks",
        "gpu-setup",
    ]
    service.assign(state, "ntp-tweaks", "Standard-noble", assigned=False)
    assert toml(cluster, "images")["images"]["Standard-noble"]["rootfs"] == ["gpu-setup"]
    with pytest.raises(InvalidInput, match="no image named 'nope'"):
        service.assign(state, "gpu-setup", "nope")


# -- files --------------------------------------------------------------------------------


async def test_file_operations_apply_to_every_headnode(
    service: RootfsService, cluster: Cluster
) -> None:
    name = "ntp-tweaks"
    outcome = await service.write_file(name, "etc/motd.d/hello", b"hello\n")
    assert outcome.done == ["beosrv-c", "beosrv-d"]
    assert await service.read_file(name, "etc/motd.d/hello") == b"hello\n"
    await service.mkdir(name, "usr/local/sbin")
    await service.rename(name, "etc/motd.d/hello", "etc/motd")
    mode, _ = await service.toggle_executable(name, "etc/motd")
    assert mode == 0o755
    await service.chmod(name, "etc/motd", 0o700)
    source = real(cluster, "beosrv-c").parent / "import-me"
    source.write_bytes(b"#!/bin/sh\n")
    source.chmod(0o750)
    parent = os.path.dirname(cluster.config.rootfs_base)
    await service.import_file(name, "usr/local/sbin/tool", f"{parent}/import-me")
    await service.remove(name, "etc/chrony")
    for node in cluster.headnode_names:
        root = real(cluster, node, name)
        assert (root / "etc/motd").read_bytes() == b"hello\n"
        assert (root / "etc/motd").stat().st_mode & 0o7777 == 0o700
        assert not (root / "etc/motd.d/hello").exists()
        assert (root / "usr/local/sbin/tool").stat().st_mode & 0o7777 == 0o750
        assert not (root / "etc/chrony").exists()
    entries = await service.list_dir(name, "etc")
    assert [(e.path, e.kind, e.mode) for e in entries] == [
        ("etc/motd", "file", 0o700),
        ("etc/motd.d", "dir", 0o755),
    ]
    state = await service.load()
    assert state.config(name).agree
    files = service.node_files(state, name)
    assert ("/usr/local/sbin/tool", 0o750, 10) in [(f.destination, f.mode, f.size) for f in files]


async def test_write_keeps_the_mode_of_an_existing_file(service: RootfsService, cluster) -> None:
    await service.write_file("ntp-tweaks", "lib/qlustar/init.d/10-chrony-wait", b"#!/bin/sh\n")
    path = real(cluster, "beosrv-d", "ntp-tweaks/lib/qlustar/init.d/10-chrony-wait")
    assert path.stat().st_mode & 0o777 == 0o755 and path.read_bytes() == b"#!/bin/sh\n"


async def test_a_headnode_that_is_down_is_reported_and_the_others_served(
    tmp_path: Path,
) -> None:
    config = init_demo(tmp_path / "demo")
    (tmp_path / "known_hosts").write_text("")
    with config.open("a") as f:
        f.write(
            '\n[[headnodes]]\nname = "beosrv-e"\ntransport = "ssh"\nhost = "127.0.0.1"\n'
            f'port = {free_port()}\nknown_hosts = "{tmp_path / "known_hosts"}"\n'
            "connect_timeout = 2.0\n"
        )
    cluster = Cluster.open(config)
    try:
        service = RootfsService(cluster)
        state = await service.load()
        assert list(state.down) == ["beosrv-e"]
        assert state.config("ntp-tweaks").agree  # the reachable copies agree
        outcome = await service.write_file("ntp-tweaks", "etc/issue", b"x\n")
        assert outcome.done == ["beosrv-c", "beosrv-d"]
        assert list(outcome.failed) == ["beosrv-e"]
        assert outcome.failed["beosrv-e"].startswith("beosrv-e")
        assert "beosrv-e" in outcome.summary("wrote etc/issue")
        assert (tmp_path / "demo/headnodes/beosrv-d" / BASE.lstrip("/")).joinpath(
            "ntp-tweaks/etc/issue"
        ).read_bytes() == b"x\n"
    finally:
        await cluster.aclose()


# -- boot order ---------------------------------------------------------------------------


async def test_scripts_in_run_parts_order_with_their_problems(service: RootfsService) -> None:
    name = "gpu-setup"
    await service.write_file(name, "lib/qlustar/init.d/05-broken", b"#!/bin/sh\nif then\n", 0o755)
    await service.write_file(
        name, "lib/qlustar/init.d/50-bash", b"#!/usr/bin/env bash\n[[ 1 ]]\n", 0o755
    )
    await service.write_file(name, "lib/qlustar/init.d/60-data", b"no shebang\n", 0o755)
    await service.write_file(name, "lib/qlustar/init.d/Z9", b"#!/usr/bin/python3\n", 0o755)
    scripts = await service.scripts(name)
    by_name = {s.name: s for s in scripts}
    assert [s.name for s in scripts] == [
        "05-broken",
        "20-nvidia-persistenced",
        "30-gpu-clocks.sh",
        "40-fabric-check",
        "50-bash",
        "60-data",
        "Z9",
    ]
    # a syntax error: run-parts still runs it (first), and the shell fails
    assert by_name["05-broken"].position == 1 and by_name["05-broken"].problems == ()
    assert by_name["05-broken"].fails.startswith("syntax error: ")
    assert "05-broken" in by_name["05-broken"].syntax and "/" not in by_name["05-broken"].syntax
    assert (by_name["20-nvidia-persistenced"].position, by_name["50-bash"].position) == (2, 3)
    assert by_name["50-bash"].syntax == "ok"  # bash syntax, checked by bash
    assert by_name["30-gpu-clocks.sh"].problems == (
        "name has characters other than letters, digits, '_' and '-': run-parts skips it",
    )
    assert by_name["40-fabric-check"].problems == ("not executable: run-parts skips it",)
    assert by_name["60-data"].problems == ("no '#!' line: the kernel cannot run it",)
    assert by_name["Z9"].position == 4 and by_name["Z9"].syntax.startswith("not checked")


async def test_no_initd_means_no_scripts(service: RootfsService) -> None:
    state = await service.load()
    await service.create(state, "empty")
    assert await service.scripts("empty") == []


# -- HA -----------------------------------------------------------------------------------


async def test_divergence_is_detected_and_synced(service: RootfsService, cluster: Cluster) -> None:
    d = real(cluster, "beosrv-d", "gpu-setup")
    (d / "stale").write_text("only on d\n")
    (d / "lib/qlustar/init.d/20-nvidia-persistenced").chmod(0o644)
    (d / "etc").mkdir()
    (d / "etc/evil").symlink_to("/")
    c = real(cluster, "beosrv-c", "gpu-setup")
    (c / "etc/link").symlink_to("modprobe.d/nvidia.conf")
    state = await service.load()
    assert state.config("gpu-setup").status == "differs: beosrv-c | beosrv-d"

    job = await service.sync(state, "gpu-setup", "beosrv-c")
    await job.wait()
    assert job.record.state == "Success", [line.text for line in job.lines()]
    assert job.record.kind == "rootfs.sync" and list(job.record.targets) == ["beosrv-d"]
    texts = [line.text for line in job.lines()]
    assert "remove stale" in texts and "remove etc/evil" in texts
    state = await service.load()
    assert state.config("gpu-setup").agree
    assert not (d / "stale").exists()
    assert os.readlink(d / "etc/link") == "modprobe.d/nvidia.conf"
    assert (d / "lib/qlustar/init.d/20-nvidia-persistenced").stat().st_mode & 0o777 == 0o755
    assert (d / "etc/modprobe.d/nvidia.conf").read_text().startswith("options nvidia")


async def test_sync_refusals(service: RootfsService) -> None:
    state = await service.load()
    with pytest.raises(InvalidInput, match="unknown head-node 'beosrv-x'"):
        await service.sync(state, "gpu-setup", "beosrv-x")
    with pytest.raises(InvalidInput, match="beosrv-c has no root-fs config nope"):
        await service.sync(state, "nope", "beosrv-c")


# -- security -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../gpu-setup/etc", "/etc/passwd", "a/../../x", "etc/\n"])
async def test_paths_that_leave_the_config_are_refused(service: RootfsService, path) -> None:
    with pytest.raises(InvalidInput, match="invalid path"):
        await service.read_file("ntp-tweaks", path)
    with pytest.raises(InvalidInput, match="invalid path"):
        await service.write_file("ntp-tweaks", path, b"x")
    with pytest.raises(InvalidInput, match="invalid path"):
        await service.remove("ntp-tweaks", path)


@pytest.mark.parametrize("target", ["/", "../gpu-setup"])
async def test_symlinks_inside_a_config_are_never_followed(
    service: RootfsService, cluster: Cluster, tmp_path: Path, target: str
) -> None:
    """A link to `/` (the head-node's real root for SSH, the prefix root locally) or to
    another config: nothing outside the config is read, written or deleted."""
    for node in cluster.headnode_names:
        (real(cluster, node, "ntp-tweaks") / "escape").symlink_to(target)
        (real(cluster, node, "ntp-tweaks") / "etc/esc").symlink_to(target)
    watched = [real(cluster, n, "gpu-setup") for n in cluster.headnode_names]
    before = [tree_hash(p) for p in watched]
    refused = "is a symbolic link; refused"
    for rel in ("escape", "escape/etc", "etc/esc/lib", "escape/etc/modprobe.d/nvidia.conf"):
        with pytest.raises(Refused, match=refused):
            await service.read_file("ntp-tweaks", rel)
        with pytest.raises(Refused, match=refused):
            await service.write_file("ntp-tweaks", rel + "/new", b"pwned\n")
        with pytest.raises(Refused, match=refused):
            await service.chmod("ntp-tweaks", rel, 0o777)
        with pytest.raises(Refused, match=refused):
            await service.list_dir("ntp-tweaks", rel)
    with pytest.raises(Refused, match=refused):
        await service.remove("ntp-tweaks", "escape/etc")
    with pytest.raises(Refused, match=refused):
        await service.mkdir("ntp-tweaks", "escape/x")
    with pytest.raises(Refused, match=refused):
        await service.rename("ntp-tweaks", "etc/chrony", "escape/chrony")
    with pytest.raises(Refused, match=refused):
        await service.write_file("ntp-tweaks", "escape", b"x")
    # deleting the link removes the link only
    await service.remove("ntp-tweaks", "escape")
    # deleting the whole config never follows the link that is left inside
    state = await service.load()
    await service.delete(state, "ntp-tweaks")
    assert [tree_hash(p) for p in watched] == before
    for node in cluster.headnode_names:
        assert not real(cluster, node, "ntp-tweaks").exists()
        assert (real(cluster, node, "gpu-setup") / "lib/qlustar/init.d").is_dir()


async def test_a_config_directory_that_is_a_symlink_is_refused(
    service: RootfsService, cluster: Cluster
) -> None:
    for node in cluster.headnode_names:
        (real(cluster, node) / "linked").symlink_to("gpu-setup")
    state = await service.load()
    assert "linked" not in state.configs  # not a directory: not a config
    before = [tree_hash(real(cluster, n, "gpu-setup")) for n in cluster.headnode_names]
    with pytest.raises(Refused, match="is a symbolic link; refused"):
        await service.write_file("linked", "x", b"x")
    with pytest.raises(QlutuiError):
        await service.delete(state, "linked")
    assert [tree_hash(real(cluster, n, "gpu-setup")) for n in cluster.headnode_names] == before
    assert all((real(cluster, n) / "linked").is_symlink() for n in cluster.headnode_names)


# -- no edit lost (issue 15 item 12) ------------------------------------------------------


async def test_a_write_never_overwrites_a_copy_it_did_not_see(
    service: RootfsService, cluster: Cluster
) -> None:
    rel = "ntp-tweaks/etc/chrony/conf.d/qlustar.conf"
    c, d = real(cluster, "beosrv-c", rel), real(cluster, "beosrv-d", rel)
    shown = c.read_bytes()
    d.write_bytes(shown + b"# only on d\n")
    path = rel.partition("/")[2]
    with pytest.raises(ConflictError, match="copies differ"):  # another copy on d
        await service.write_file("ntp-tweaks", path, b"new\n")
    assert (c.read_bytes(), d.read_bytes()) == (shown, shown + b"# only on d\n")

    d.write_bytes(shown)
    opened = await service.open_file("ntp-tweaks", path)
    assert opened.data == shown and opened.diverged() == []
    d.write_bytes(shown + b"# changed while the editor was open\n")
    with pytest.raises(FileConflict, match="beosrv-d") as conflict:
        await service.save_file(opened, b"edited\n")
    assert d.read_bytes().endswith(b"open\n") and c.read_bytes() == shown
    diff = await service.conflict_diff(opened, b"edited\n", conflict.value)
    assert "=== beosrv-d: its copy changed since it was opened (- beosrv-d, + the editor)" in diff
    assert "-# changed while the editor was open" in diff and "+edited" in diff
    assert [line for line in diff if line.startswith("===")] == [diff[0]]  # c is as shown

    outcome = await service.save_file(opened, b"edited\n", force=True)  # "overwrite"
    assert outcome.done == ["beosrv-c", "beosrv-d"]
    assert c.read_bytes() == d.read_bytes() == b"edited\n"
    again = opened.saved(b"edited\n", outcome)
    await service.save_file(again, b"edited twice\n")  # what it saved is what it expects
    digest = hashlib.sha256(b"edited twice\n").hexdigest()
    await service.write_file("ntp-tweaks", path, b"3\n", expect=digest)
    with pytest.raises(FileConflict, match="not the expected"):
        await service.write_file("ntp-tweaks", path, b"4\n", expect=digest)
    assert d.read_bytes() == b"3\n"


# -- leftovers and special files (issue 15 item 9) ------------------------------------------


async def test_a_crashed_writes_temp_file_is_not_content_and_the_next_write_removes_it(
    service: RootfsService, cluster: Cluster
) -> None:
    for node in cluster.headnode_names:
        temp = real(cluster, node, "ntp-tweaks/etc/.motd.tmp-0123abcd")
        temp.write_text("half a write\n")
        os.utime(temp, (1, 1))  # long dead
    real(cluster, "beosrv-d", "ntp-tweaks/etc/.issue.tmp-89abcdef").write_text("only on d\n")
    state = await service.load()
    assert state.config("ntp-tweaks").agree  # the temp only on d does not make it differ
    node_gets = [f.destination for f in service.node_files(state, "ntp-tweaks")]
    assert not [p for p in node_gets if ".tmp-" in p]
    await service.write_file("ntp-tweaks", "etc/motd", b"hello\n")
    for node in cluster.headnode_names:
        assert not real(cluster, node, "ntp-tweaks/etc/.motd.tmp-0123abcd").exists()
    assert real(cluster, "beosrv-d", "ntp-tweaks/etc/.issue.tmp-89abcdef").exists()  # fresh


async def test_a_fifo_or_a_device_is_never_imported(
    service: RootfsService, cluster: Cluster, tmp_path: Path
) -> None:
    parent = real(cluster, "beosrv-c").parent
    os.mkfifo(parent / "fifo")
    with pytest.raises(InvalidInput, match="fifo is a FIFO, not a regular file"):
        await asyncio.wait_for(
            service.import_file(
                "ntp-tweaks", "etc/x", f"{os.path.dirname(cluster.config.rootfs_base)}/fifo"
            ),
            30,
        )
    os.mknod(parent / "zero", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # like /dev/zero
    with pytest.raises(InvalidInput, match="zero is a character device, not a regular file"):
        await asyncio.wait_for(
            service.import_file(
                "ntp-tweaks", "etc/x", f"{os.path.dirname(cluster.config.rootfs_base)}/zero"
            ),
            30,
        )
    assert not real(cluster, "beosrv-c", "ntp-tweaks/etc/x").exists()


# -- audit (issue 15 item 13) ---------------------------------------------------------------


async def test_every_change_on_a_headnode_is_audited(
    service: RootfsService, cluster: Cluster
) -> None:
    await service.mkdir("ntp-tweaks", "opt/site")
    await service.write_file("ntp-tweaks", "opt/site/a", b"a\n")
    await service.chmod("ntp-tweaks", "opt/site/a", 0o600)
    await service.rename("ntp-tweaks", "opt/site/a", "opt/site/b")
    await service.remove("ntp-tweaks", "opt/site/b")
    await service.delete(await service.load(), "gpu-setup")
    changes = [e for e in cluster.audit.read() if e.action.startswith("file.")]
    events = [(e.action, e.target.split(":", 1)[1], e.summary) for e in changes]
    base = cluster.config.rootfs_base
    for node in cluster.headnode_names:
        assert len([e for e in changes if e.target.startswith(node + ":")]) == 6, changes
    expected = [
        ("file.mkdir", f"{base}/ntp-tweaks/opt/site", "mode 0755"),
        ("file.write", f"{base}/ntp-tweaks/opt/site/a", "2 bytes"),
        ("file.chmod", f"{base}/ntp-tweaks/opt/site/a", "mode 0600"),
        ("file.rename", f"{base}/ntp-tweaks/opt/site/a", f"to {base}/ntp-tweaks/opt/site/b"),
        ("file.remove", f"{base}/ntp-tweaks/opt/site/b", "removed"),
        ("file.remove", f"{base}/gpu-setup", "removed"),
    ]
    for event in expected:
        assert event in events


async def test_a_file_absent_on_a_head_node_when_opened_is_saved_there_too(
    service: RootfsService, cluster: Cluster
) -> None:
    """Absent on beosrv-d then and at the save: not a conflict, nor "another copy"; the save
    writes it there. A copy that appeared on d meanwhile is one (never overwritten unseen)."""
    rel = "ntp-tweaks/etc/chrony/conf.d/qlustar.conf"
    c, d = real(cluster, "beosrv-c", rel), real(cluster, "beosrv-d", rel)
    d.unlink()
    path = rel.partition("/")[2]
    opened = await service.open_file("ntp-tweaks", path)
    assert (opened.diverged(), opened.missing()) == ([], ["beosrv-d"])
    outcome = await service.save_file(opened, b"edited\n")
    assert outcome.done == ["beosrv-c", "beosrv-d"]
    assert c.read_bytes() == d.read_bytes() == b"edited\n"

    d.unlink()
    opened = await service.open_file("ntp-tweaks", path)
    d.write_bytes(b"made on d meanwhile\n")
    with pytest.raises(FileConflict, match="beosrv-d"):
        await service.save_file(opened, b"edited again\n")
    assert d.read_bytes() == b"made on d meanwhile\n"
