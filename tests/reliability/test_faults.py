"""Faults: sshd killed mid-write and mid-build, a full disk, a changed host key, one head-node
down. Each test asserts what is on disk afterwards: old or new content, never a mix."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import one_line_reason, qlutui, remote_root, ssh_demo, tree_hash
from sshd import SSHD, _descendants, _keygen

from qlutui.backend.chroots import ChrootsService
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.store import Store
from qlutui.backend.transport import STALE_TEMP_AGE, Transport
from qlutui.backend.transport_local import LocalTransport
from qlutui.backend.transport_ssh import SSHTransport
from qlutui.errors import QlutuiError, TransportError

pytestmark = pytest.mark.ssh

BIG = 64 * 1024 * 1024  # big enough to still be in flight when sshd is killed


def temps(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp-*"))


def age(path: Path, seconds: float) -> None:
    """Make `path` look untouched for `seconds` (the next run comes later than the crash)."""
    when = time.time() - seconds
    os.utime(path, (when, when))


async def test_sshd_killed_mid_write_keeps_old_content_and_next_write_cleans_up(
    own_sshd: SSHD, tmp_path: Path
) -> None:
    target_dir = tmp_path / "etc"
    target_dir.mkdir()
    target = target_dir / "ssh_known_hosts"
    transport = SSHTransport(own_sshd.headnode("beosrv-d"))
    try:
        await transport.write_atomic(str(target), b"old content\n")
        writing = asyncio.create_task(transport.write_atomic(str(target), b"x" * BIG))
        deadline = time.monotonic() + 30
        while not any(t.stat().st_size > 0 for t in temps(target_dir)):
            assert time.monotonic() < deadline and not writing.done(), "the write never started"
            await asyncio.sleep(0.01)
        own_sshd.stop()  # sshd and its session processes die: the connection drops mid-write
        with pytest.raises(TransportError, match=r"beosrv-d: (connection lost|disconnected)"):
            await writing
        assert target.read_bytes() == b"old content\n"  # old, never partial
        [leftover] = temps(target_dir)  # the dead write could not clean up after itself
        assert 0 < leftover.stat().st_size < BIG

        own_sshd.start()
        age(leftover, STALE_TEMP_AGE + 5)
        young = target_dir / ".shosts.equiv.tmp-0123abcd"  # another admin's write in flight
        young.write_bytes(b"in flight")
        await transport.write_atomic(str(target_dir / "other"), b"next run\n")
        assert not leftover.exists()  # the next write to the directory removed the stale temp
        assert young.exists()  # ... but not one that may still be written
        assert target.read_bytes() == b"old content\n"
        await transport.write_atomic(str(target), b"new content\n")
        assert target.read_bytes() == b"new content\n"
    finally:
        await transport.close()


async def test_local_write_removes_stale_temps_only(tmp_path: Path) -> None:
    transport = LocalTransport("beosrv-c", tmp_path / "hn")
    (tmp_path / "hn/etc").mkdir(parents=True)
    stale = tmp_path / "hn/etc/.hosts.tmp-deadbeef"
    stale.write_bytes(b"half")
    age(stale, STALE_TEMP_AGE + 5)
    mine = tmp_path / "hn/etc/.admin-notes.tmp-keep"  # not the temp pattern: never touched
    mine.write_bytes(b"notes")
    age(mine, 3600)
    await transport.write_atomic("/etc/hosts", b"127.0.0.1 localhost\n")
    assert not stale.exists() and mine.exists()


BUILDER = """#!/bin/sh
# a fake-but-real chroot builder: prints, sleeps, then creates the tree at $1
echo "I: running apt-get update"
for i in 1 2 3 4 5 6 7 8; do echo "I: working $i"; sleep 0.4; done
mkdir -p "$1/etc" && echo built > "$1/etc/built"
echo "I: success in 3s"
"""


async def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_connection_dropped_mid_chroot_build(own_sshd: SSHD, tmp_path: Path) -> None:
    script = tmp_path / "builder.sh"
    script.write_text(BUILDER)
    config = ssh_demo(tmp_path, own_sshd, builder=["sh", str(script), "{target}"])
    chroots = remote_root(tmp_path) / "chroots"
    state_file = config.parent / "state/chroots.toml"
    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        job = await service.new(
            await service.load(), "dropped", "", "beosrv-d", "bookworm", "13.1", []
        )
        log = config.parent / "state/jobs" / job.id / "beosrv-d.log"
        await wait_for(lambda: log.exists() and "I: working 2" in log.read_text())
        own_sshd.stop()  # the app's connection drops; the build goes on, detached
        target = job.record.targets["beosrv-d"]
        await wait_for(lambda: "unreachable" in target.error)
        assert not job.done  # neither success nor failure can be known now
        assert tomllib.loads(state_file.read_text())["chroots"]["dropped"]["state"] == "building"
        assert not (chroots / "dropped").exists()  # nothing under the real name meanwhile
        kept = log.read_text()
        assert "I: working 2" in kept  # the log up to the drop is kept
    finally:
        await cluster.jobs.close()
        await cluster.aclose()

    own_sshd.start()
    cluster = Cluster.open(config)  # the next start of the app
    try:
        service = ChrootsService(cluster)
        await cluster.jobs.resume()  # re-attached: the rest of the log is fetched
        job = cluster.jobs.get(job.id)
        await asyncio.wait_for(job.wait(), 30)
        assert job.record.state == "Success"
        text = log.read_text()
        assert text.startswith(kept) and "I: success in" in text  # nothing lost, no repeats
        assert text.count("I: working 2") == 1
        assert (chroots / "dropped/etc/built").read_text() == "built\n"
        assert not (chroots / "dropped.partial").exists()
        assert (await service.load()).chroot("dropped").state == "ready"
    finally:
        await cluster.jobs.close()
        await cluster.aclose()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (skipped when it cannot be mounted), unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(directory: Path) -> None:
    """Use up every free byte of the file system holding `directory`."""
    try:
        with open(directory / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:  # ENOSPC: full now
        pass


def test_full_disk_during_state_save(small_disk: Path, tmp_path: Path) -> None:
    demo = init_demo(tmp_path / "demo").parent
    shutil.copytree(demo / "state", small_disk / "state")
    config = demo / "config.toml"
    config.write_text(
        config.read_text().replace('state_dir = "state"', f'state_dir = "{small_disk}/state"')
    )
    images = small_disk / "state/images.toml"
    before = images.read_bytes()
    fill(small_disk)
    result = qlutui(config, "images", "set", "Standard-noble", "--description", "y" * 8000)
    assert "No space left on device" in one_line_reason(result)
    assert images.read_bytes() == before
    assert not list((small_disk / "state").rglob("*.tmp-*"))  # its temp files are gone

    with pytest.raises(QlutuiError, match=r"cannot save images\.toml: No space left"):
        Store(small_disk / "state").update("images", lambda doc: doc.add("note", "z" * 8000))
    assert images.read_bytes() == before
    (small_disk / "filler").unlink()  # space again: the same edit now works
    result = qlutui(config, "images", "set", "Standard-noble", "--description", "after")
    assert result.returncode == 0, result.stderr
    data = tomllib.loads(images.read_text())
    assert data["images"]["Standard-noble"]["description"] == "after"


async def test_full_disk_during_file_write(small_disk: Path) -> None:
    transport: Transport = LocalTransport("beosrv-c", small_disk)
    await transport.mkdir("/etc/ssh")
    await transport.write_atomic("/etc/ssh/ssh_known_hosts", b"old keys\n")
    fill(small_disk)
    with pytest.raises(TransportError, match="beosrv-c: /etc/ssh/ssh_known_hosts: No space left"):
        await transport.write_atomic("/etc/ssh/ssh_known_hosts", b"new keys\n" * 2000)
    assert (small_disk / "etc/ssh/ssh_known_hosts").read_bytes() == b"old keys\n"
    assert not temps(small_disk / "etc/ssh")


def new_host_keys(server: SSHD) -> None:
    """The head-node was reinstalled: new host keys, the same address."""
    for key in server.host_keys:
        key.unlink()
        key.with_suffix(".pub").unlink()
        _keygen(key, "ed25519" if "ed25519" in key.name else "rsa")
    server.restart()


async def test_changed_host_key_is_refused(own_sshd: SSHD, tmp_path: Path) -> None:
    config = ssh_demo(tmp_path, own_sshd)
    assert qlutui(config, "rootfs", "list").stderr == ""
    remote = remote_root(tmp_path)
    before = tree_hash(remote)
    new_host_keys(own_sshd)
    transport = SSHTransport(own_sshd.headnode("beosrv-d"))
    try:
        with pytest.raises(TransportError, match=r"host key for .* does not match known_hosts"):
            await transport.run(["true"])
    finally:
        await transport.close()
    result = qlutui(config, "rootfs", "put", "ntp-tweaks", "etc/evil", input=b"x")
    assert "does not match known_hosts" in result.stderr
    assert result.returncode == 1 and "Traceback" not in result.stderr
    listing = qlutui(config, "rootfs", "list")
    assert "beosrv-d not read" in listing.stderr and "does not match known_hosts" in listing.stderr
    assert tree_hash(remote) == before  # nothing reached the impostor


async def test_one_headnode_down_the_other_is_served(own_sshd: SSHD, tmp_path: Path) -> None:
    config = ssh_demo(tmp_path, own_sshd)
    own_sshd.stop()
    listing = qlutui(config, "rootfs", "list")
    assert listing.returncode == 0
    assert "ntp-tweaks" in listing.stdout and "only:beosrv-c" in listing.stdout
    assert "beosrv-d not read" in listing.stderr and "Connection refused" in listing.stderr
    diff = qlutui(config, "ssh", "diff")
    assert "+++ beosrv-c:" in diff.stdout  # the up head-node is diffed
    assert "beosrv-d" in diff.stderr and "unreachable" in diff.stderr
    assert "Traceback" not in diff.stderr

    write = qlutui(config, "ssh", "write")
    assert write.returncode == 1 and "Traceback" not in write.stderr
    written = config.parent / "headnodes/beosrv-c" / str(remote_root(tmp_path)).lstrip("/")
    assert (written / "ssh/known_hosts").read_text().count("beo-01") >= 1
    assert not (remote_root(tmp_path) / "ssh/known_hosts").exists()


def test_frozen_ssh_session_during_rootfs_put_ends_in_one_line(
    own_sshd: SSHD, tmp_path: Path
) -> None:
    """sshd's session processes stopped (SIGSTOP) while a 64 MB put is in flight: the
    keepalive gives up, and the put says so once (asyncssh's parallel write used to leave
    15 'Task exception was never retrieved' tracebacks behind)."""
    config = ssh_demo(tmp_path, own_sshd)
    text = config.read_text().replace(
        "connect_timeout = 3.0", "connect_timeout = 3.0\nkeepalive = 1.0"
    )
    config.write_text(text)
    config_dir = remote_root(tmp_path) / "rootfs/ntp-tweaks"
    source = tmp_path / "big"
    source.write_bytes(b"x" * BIG)
    put = subprocess.Popen(
        [sys.executable, "-m", "qlutui", "--config", str(config), "rootfs", "put", "ntp-tweaks",
         "big", "--from", str(source)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stopped: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not any(t.stat().st_size > 0 for t in temps(config_dir)):
            assert time.monotonic() < deadline and put.poll() is None, "the write never started"
            time.sleep(0.01)
        for pid in _descendants(own_sshd._proc.pid):  # type: ignore[union-attr]
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        _, err = put.communicate(timeout=120)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        if put.poll() is None:
            put.kill()
            put.wait(timeout=10)
    assert put.returncode == 1
    assert err.splitlines() == ["qlutui: beosrv-d: connection lost"], err
    assert not (config_dir / "big").exists()  # never partial


def test_fifo_in_place_of_a_destination_does_not_hang_ssh_diff(
    own_sshd: SSHD, tmp_path: Path
) -> None:
    """A FIFO as known_hosts on the local and on the SSH head-node: refused up front on both,
    the other files are diffed, and the command ends (it used to wait forever for a writer)."""
    config = ssh_demo(tmp_path, own_sshd)
    remote = remote_root(tmp_path) / "ssh"
    local = config.parent / "headnodes/beosrv-c" / str(remote).lstrip("/")
    fifos = [remote / "known_hosts", local / "known_hosts"]
    for fifo in fifos:
        fifo.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(fifo)
    try:
        diff = qlutui(config, "ssh", "diff", timeout=90)
    finally:
        for fifo in fifos:  # a reader still blocked in open() (the old code) gets its writer
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert diff.returncode == 1 and "Traceback" not in diff.stderr
    lines = diff.stderr.splitlines()
    assert len(lines) == 2 and all("is a FIFO, not a regular file: not read" in x for x in lines)
    for headnode in ("beosrv-c", "beosrv-d"):  # the other files were read and diffed
        assert f"+++ {headnode}:{remote}/authorized_keys (generated)" in diff.stdout
    assert all(stat.S_ISFIFO(fifo.lstat().st_mode) for fifo in fifos)  # a diff changes nothing
