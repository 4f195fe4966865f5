"""Both transports against the real thing: subprocesses, files in tmp dirs, a real sshd."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import gone
from sshd import SSHD, _descendants

from qlutui.backend.config import HeadNode
from qlutui.backend.transport import (
    LocalTransport,
    RunFailed,
    SSHTransport,
    Transport,
    open_transport,
    parse_mountinfo,
)
from qlutui.errors import Refused, TransportError


async def collect(transport: Transport, argv: list[str]) -> list[tuple[str, str]]:
    return [item async for item in transport.stream(argv)]


def real(transport: Transport, path: str) -> Path:
    return Path(transport.host_path(path))


# -- commands --------------------------------------------------------------------------------


async def test_run_returns_exit_status_and_both_outputs(transport: Transport) -> None:
    result = await transport.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")


async def test_run_passes_arguments_verbatim_never_through_a_shell(transport: Transport) -> None:
    tricky = ["$HOME; touch /tmp/qlutui-pwned", "a  b", "'quoted'", "*", ""]
    result = await transport.run(["printf", "[%s]\\n", *tricky])
    assert result.stdout.decode().splitlines() == [f"[{arg}]" for arg in tricky]
    assert not os.path.exists("/tmp/qlutui-pwned")


async def test_run_feeds_input(transport: Transport) -> None:
    result = await transport.run(["cat"], input=b"hello\x00bytes")
    assert result.stdout == b"hello\x00bytes"


async def test_run_large_output(transport: Transport) -> None:
    result = await transport.run(["seq", "1", "300000"])
    lines = result.stdout.split(b"\n")
    assert len(lines) == 300001 and lines[-2] == b"300000"


async def test_run_timeout_is_an_error_and_does_not_wait(transport: Transport) -> None:
    with pytest.raises(TransportError, match=r"sleep timed out after 0\.3s"):
        await transport.run(["sleep", "20"], timeout=0.3)


async def test_run_checked_reports_the_last_stderr_line(transport: Transport) -> None:
    with pytest.raises(RunFailed) as failed:
        await transport.run_checked(["sh", "-c", "echo first >&2; echo the reason >&2; exit 2"])
    assert failed.value.returncode == 2
    assert str(failed.value) == f"{transport.name}: sh failed (exit status 2): the reason"
    ok = await transport.run_checked(["echo", "fine"])
    assert ok.stdout == b"fine\n"


async def test_run_checked_of_a_missing_program_fails(transport: Transport) -> None:
    with pytest.raises(TransportError, match="qlutui-no-such-program"):
        await transport.run_checked(["qlutui-no-such-program"])


async def test_stream_tags_lines_in_arrival_order(transport: Transport) -> None:
    script = "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; printf 'no newline'"
    assert await collect(transport, ["sh", "-c", script]) == [
        ("stdout", "one"),
        ("stderr", "two"),
        ("stdout", "three"),
        ("stdout", "no newline"),
    ]


async def test_stream_raises_run_failed_after_the_last_line(transport: Transport) -> None:
    seen = []
    with pytest.raises(RunFailed) as failed:
        async for item in transport.stream(["sh", "-c", "echo last words >&2; exit 4"]):
            seen.append(item)
    assert seen == [("stderr", "last words")]
    assert failed.value.returncode == 4
    assert str(failed.value) == f"{transport.name}: sh failed (exit status 4)"


async def test_stream_large_output_and_bad_utf8(transport: Transport) -> None:
    lines = await collect(transport, ["seq", "1", "200000"])
    assert len(lines) == 200000
    assert lines[0] == ("stdout", "1") and lines[-1] == ("stdout", "200000")
    assert await collect(transport, ["printf", "caf\\303\\251 \\377\\n"]) == [
        ("stdout", "café \ufffd")
    ]


async def test_abandoned_local_stream_kills_its_process_group(tmp_path: Path) -> None:
    transport = LocalTransport("beosrv-c")
    script = "sleep 30 & echo $!; echo $$; wait"
    stream = transport.stream(["sh", "-c", script])
    pids = [int((await anext(stream))[1]), int((await anext(stream))[1])]
    await stream.aclose()
    assert all(gone(pid) for pid in pids)  # the shell and its background child


# -- files -----------------------------------------------------------------------------------


async def test_write_atomic_then_read(transport: Transport, base: str) -> None:
    path = f"{base}/known_hosts"
    await transport.write_atomic(path, b"line 1\n", mode=0o600)
    assert await transport.read_bytes(path) == b"line 1\n"
    assert await transport.read_text(path) == "line 1\n"
    assert real(transport, path).read_bytes() == b"line 1\n"
    assert real(transport, path).stat().st_mode & 0o7777 == 0o600
    await transport.write_atomic(path, b"line 2\n", mode=0o644)
    assert real(transport, path).read_bytes() == b"line 2\n"
    assert real(transport, path).stat().st_mode & 0o7777 == 0o644
    assert os.listdir(real(transport, base)) == ["known_hosts"]  # no temp file left


async def test_write_atomic_keeps_the_last_five_backups(transport: Transport, base: str) -> None:
    path = f"{base}/hosts"
    await transport.write_atomic(path, b"v0")
    for version in range(1, 8):
        await transport.write_atomic(path, f"v{version}".encode(), backup=True)
    directory = real(transport, base)
    backups = sorted(n for n in os.listdir(directory) if n != "hosts")
    assert len(backups) == 5
    assert all(re.fullmatch(r"hosts\.bak-\d{8}T\d{6}\.\d{6}Z", n) for n in backups)
    assert [(directory / n).read_bytes() for n in backups] == [b"v2", b"v3", b"v4", b"v5", b"v6"]
    assert (directory / "hosts").read_bytes() == b"v7"


async def test_backup_of_a_new_file_is_nothing(transport: Transport, base: str) -> None:
    await transport.write_atomic(f"{base}/new", b"x", backup=True)
    assert os.listdir(real(transport, base)) == ["new"]


@contextlib.contextmanager
def fifo(path: Path) -> Iterator[Path]:
    """A FIFO at `path`; afterwards a writer opens it once, so a reader still blocked in
    open() (the old read_bytes in a thread, or the SFTP server) returns and the test ends."""
    os.mkfifo(path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):  # ENXIO: nobody is reading
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def test_read_bytes_refuses_what_is_not_a_regular_file(
    transport: Transport, base: str
) -> None:
    directory = real(transport, base)
    (directory / "ok").write_bytes(b"kept\n")
    (directory / "null").symlink_to("/dev/null")  # a symlink is followed, to a device here
    (directory / "zero").symlink_to("/dev/zero")  # read without a limit: never ends
    with fifo(directory / "fifo"):
        for name, what in [("fifo", "a FIFO"), ("null", "a character device"),
                           ("zero", "a character device"), ("", "a directory")]:  # fmt: skip
            path = f"{base}/{name}".rstrip("/")
            with pytest.raises(Refused, match=f"^{transport.name}: {path} is {what}, not a reg"):
                await asyncio.wait_for(transport.read_bytes(path), 30)
        assert await transport.read_bytes(f"{base}/ok") == b"kept\n"  # the session still works


async def test_read_bytes_limit(transport: Transport, base: str) -> None:
    data = secrets.token_bytes(5 * 1024 * 1024 + 17)  # many SFTP requests, a short last one
    await transport.write_atomic(f"{base}/big", data)
    assert real(transport, f"{base}/big").read_bytes() == data
    assert await transport.read_bytes(f"{base}/big", limit=len(data)) == data
    with pytest.raises(Refused, match=f"{base}/big is larger than 5,242,896 bytes: not read$"):
        await transport.read_bytes(f"{base}/big", limit=len(data) - 1)
    await transport.write_atomic(f"{base}/empty", b"")
    assert await transport.read_bytes(f"{base}/empty", limit=0) == b""


async def test_missing_files(transport: Transport, base: str) -> None:
    with pytest.raises(FileNotFoundError):
        await transport.read_bytes(f"{base}/nope")
    with pytest.raises(FileNotFoundError):
        await transport.read_text(f"{base}/nope")
    with pytest.raises(FileNotFoundError):
        await transport.list_dir(f"{base}/nope")
    assert await transport.stat(f"{base}/nope") is None
    assert not await transport.exists(f"{base}/nope")
    with pytest.raises(TransportError, match=f"^{transport.name}: {base}/nope/x: "):
        await transport.write_atomic(f"{base}/nope/x", b"")
    with pytest.raises(TransportError, match="No such file"):
        await transport.chmod(f"{base}/nope", 0o600)


async def test_stat_and_list_dir(transport: Transport, base: str) -> None:
    root = real(transport, base)
    (root / "file").write_bytes(b"12345")
    (root / "dir").mkdir()
    (root / "link").symlink_to("file")
    (root / "dangling").symlink_to("/nonexistent/target")
    os.mkfifo(root / "fifo")
    infos = await transport.list_dir(base)
    assert [(i.name, i.kind, i.target) for i in infos] == [
        ("dangling", "link", "/nonexistent/target"),
        ("dir", "dir", None),
        ("fifo", "other", None),
        ("file", "file", None),
        ("link", "link", "file"),
    ]
    info = await transport.stat(f"{base}/file")
    assert info is not None
    assert (info.name, info.kind, info.size) == ("file", "file", 5)
    assert info.mode == (root / "file").stat().st_mode & 0o7777
    assert abs(info.mtime - (root / "file").stat().st_mtime) < 1
    link = await transport.stat(f"{base}/link")
    assert link is not None and (link.kind, link.target) == ("link", "file")


async def test_mkdir(transport: Transport, base: str) -> None:
    await transport.mkdir(f"{base}/a/b/c", mode=0o750)
    assert real(transport, f"{base}/a/b/c").stat().st_mode & 0o7777 == 0o750
    await transport.mkdir(f"{base}/a/b/c")  # exists: fine with parents
    with pytest.raises(TransportError, match="File exists"):
        await transport.mkdir(f"{base}/a/b/c", parents=False)
    with pytest.raises(TransportError, match=f"^{transport.name}: {base}/x/y: "):
        await transport.mkdir(f"{base}/x/y", parents=False)
    (real(transport, base) / "plain").write_text("")
    with pytest.raises(TransportError):
        await transport.mkdir(f"{base}/plain")


async def test_rename_never_replaces(transport: Transport, base: str) -> None:
    root = real(transport, base)
    (root / "src").write_text("source")
    await transport.rename(f"{base}/src", f"{base}/moved")
    assert (root / "moved").read_text() == "source" and not (root / "src").exists()
    (root / "other").write_text("keep me")
    with pytest.raises(Refused, match=f"{base}/other already exists"):
        await transport.rename(f"{base}/moved", f"{base}/other")
    assert (root / "other").read_text() == "keep me" and (root / "moved").exists()
    (root / "d1").mkdir()
    (root / "d2").mkdir()  # an empty directory would be replaced by rename(2)
    with pytest.raises(Refused):
        await transport.rename(f"{base}/d1", f"{base}/d2")
    assert (root / "d1").is_dir()


async def test_chmod(transport: Transport, base: str) -> None:
    (real(transport, base) / "f").write_text("")
    await transport.chmod(f"{base}/f", 0o640)
    info = await transport.stat(f"{base}/f")
    assert info is not None and info.mode == 0o640


# -- remove_tree -----------------------------------------------------------------------------


def make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "sub" / "deeper" / "file").write_text("x")
    (root / "top").write_text("y")


async def test_remove_tree_below_base(transport: Transport, base: str) -> None:
    make_tree(real(transport, f"{base}/tree"))
    await transport.remove_tree(f"{base}/tree", base)
    assert os.listdir(real(transport, base)) == []  # gone, nothing left aside


async def test_remove_tree_refuses_outside_base(
    transport: Transport, base: str, outside: str
) -> None:
    make_tree(real(transport, f"{outside}/tree"))
    with pytest.raises(Refused, match=f"refusing to remove {outside}/tree: it is not below"):
        await transport.remove_tree(f"{outside}/tree", base)
    with pytest.raises(Refused, match="not below"):
        await transport.remove_tree(base, base)
    assert real(transport, f"{outside}/tree/top").exists()


async def test_remove_tree_refuses_dotdot(transport: Transport, base: str, outside: str) -> None:
    make_tree(real(transport, f"{outside}/tree"))
    for path in (f"{base}/../outside/tree", f"{base}/x/..", "data/tree"):
        with pytest.raises(Refused, match="not a plain absolute path"):
            await transport.remove_tree(path, base)
    assert real(transport, f"{outside}/tree/top").exists()


async def test_remove_tree_refuses_a_symlink(transport: Transport, base: str, outside: str) -> None:
    make_tree(real(transport, f"{base}/tree"))
    real(transport, f"{base}/link").symlink_to("tree")
    with pytest.raises(Refused, match=f"{base}/link: it is a symbolic link"):
        await transport.remove_tree(f"{base}/link", base)
    assert real(transport, f"{base}/tree/top").exists()


async def test_remove_tree_refuses_a_symlink_escape(
    transport: Transport, base: str, outside: str
) -> None:
    make_tree(real(transport, f"{outside}/tree"))
    real(transport, f"{base}/escape").symlink_to(transport.host_path(outside))
    with pytest.raises(Refused, match="not below"):
        await transport.remove_tree(f"{base}/escape/tree", base)
    assert real(transport, f"{outside}/tree/top").exists()


async def test_remove_tree_does_not_follow_symlinks_inside(
    transport: Transport, base: str, outside: str
) -> None:
    make_tree(real(transport, f"{outside}/precious"))
    make_tree(real(transport, f"{base}/tree"))
    real(transport, f"{base}/tree/sub/to-outside").symlink_to(
        transport.host_path(f"{outside}/precious")
    )
    await transport.remove_tree(f"{base}/tree", base)
    assert not real(transport, f"{base}/tree").exists()
    assert real(transport, f"{outside}/precious/sub/deeper/file").read_text() == "x"


async def test_remove_tree_refuses_a_mount_below(transport: Transport, base: str) -> None:
    make_tree(real(transport, f"{base}/tree"))
    mountpoint = real(transport, f"{base}/tree/sub/mnt")
    mountpoint.mkdir()
    source = f"qlutui-test-{secrets.token_hex(4)}"
    mounted = subprocess.run(["mount", "-t", "tmpfs", source, str(mountpoint)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (mountpoint / "on-tmpfs").write_text("z")
        with pytest.raises(Refused, match=f"{mountpoint} is mounted there"):
            await transport.remove_tree(f"{base}/tree", base)
        with pytest.raises(Refused, match="is mounted there"):
            await transport.remove_tree(f"{base}/tree/sub/mnt", base)
        assert (mountpoint / "on-tmpfs").read_text() == "z"
        assert real(transport, f"{base}/tree/top").exists()
    finally:
        unmount(source)
    await transport.remove_tree(f"{base}/tree", base)  # unmounted: now it goes
    assert not real(transport, f"{base}/tree").exists()


def unmount(source: str) -> None:
    """Unmount our tmpfs wherever it is now (a wrong rename would have moved it)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if line.split(" - ", 1)[1].split()[1] == source:
            subprocess.run(["umount", line.split()[4]], check=True)


async def test_remove_tree_of_nothing(transport: Transport, base: str) -> None:
    with pytest.raises(TransportError, match="No such file"):
        await transport.remove_tree(f"{base}/nothing", base)


def test_parse_mountinfo_decodes_escapes() -> None:
    text = (
        "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
        "40 22 0:5 / /srv/with\\040space rw - tmpfs tmpfs rw\n"
    )
    assert parse_mountinfo(text) == ["/", "/srv/with space"]


# -- construction ----------------------------------------------------------------------------


def test_local_host_path(tmp_path: Path) -> None:
    rooted = LocalTransport("beosrv-c", root=tmp_path)
    assert rooted.host_path("/x/y") == f"{tmp_path}/x/y"
    assert rooted.host_path("/") == str(tmp_path)
    assert rooted.host_path("/../../etc") == f"{tmp_path}/etc"
    assert LocalTransport("beosrv-c").host_path("/x/y") == "/x/y"
    with pytest.raises(ValueError):
        rooted.host_path("relative")


def test_open_transport_picks_the_kind(tmp_path: Path) -> None:
    local = open_transport(HeadNode(name="c", transport="local", root=tmp_path))
    assert isinstance(local, LocalTransport) and local.host_path("/a") == f"{tmp_path}/a"
    remote = open_transport(HeadNode(name="d", transport="ssh", host="127.0.0.1"))
    assert isinstance(remote, SSHTransport) and remote.name == "d"


# -- SSH connection handling -----------------------------------------------------------------


async def expect_error(headnode: HeadNode) -> str:
    transport = SSHTransport(headnode)
    try:
        with pytest.raises(TransportError) as error:
            await transport.run(["true"])
        return str(error.value)
    finally:
        await transport.close()


@pytest.mark.ssh
async def test_ssh_cannot_connect(sshd: SSHD) -> None:
    from sshd import free_port

    port = free_port()
    message = await expect_error(sshd.headnode("beosrv-d", port=port))
    assert message == f"beosrv-d: cannot connect to 127.0.0.1:{port}: Connection refused"


@pytest.mark.ssh
async def test_ssh_connect_timeout(sshd: SSHD) -> None:
    with socket.socket() as silent:  # accepts TCP, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        message = await expect_error(sshd.headnode("beosrv-d", port=port, connect_timeout=0.5))
    assert message == f"beosrv-d: cannot connect to 127.0.0.1:{port}: timed out after 0.5s"


@pytest.mark.ssh
async def test_ssh_host_key_mismatch(sshd: SSHD, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    # a valid key, but not the server's
    known_hosts.write_text(sshd.known_hosts_line(sshd.identity.with_suffix(".pub")))
    message = await expect_error(sshd.headnode("beosrv-d", known_hosts=known_hosts))
    assert message == (
        f"beosrv-d: host key for 127.0.0.1:{sshd.port} does not match known_hosts"
        f" {known_hosts} (possible attack or reinstall)"
    )


@pytest.mark.ssh
async def test_ssh_host_key_not_known(sshd: SSHD, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    message = await expect_error(sshd.headnode("beosrv-d", known_hosts=known_hosts))
    assert message == (
        f"beosrv-d: host key for 127.0.0.1:{sshd.port} not found in known_hosts {known_hosts}"
    )


@pytest.mark.ssh
async def test_ssh_unreadable_known_hosts(sshd: SSHD, tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    message = await expect_error(sshd.headnode("beosrv-d", known_hosts=missing))
    assert message == f"beosrv-d: cannot read known_hosts {missing}: No such file or directory"


@pytest.mark.ssh
async def test_ssh_wrong_identity(sshd: SSHD, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger], check=True)
    message = await expect_error(sshd.headnode("beosrv-d", identity=stranger))
    assert message == f"beosrv-d: authentication failed for {sshd.user}@127.0.0.1"


@pytest.mark.ssh
async def test_ssh_reuses_one_connection(sshd: SSHD, tmp_path: Path) -> None:
    transport = SSHTransport(sshd.headnode("beosrv-d"))
    try:
        show = ["sh", "-c", 'echo "$SSH_CONNECTION"']
        sequential = [(await transport.run(show)).stdout for _ in range(5)]
        concurrent = await asyncio.gather(*(transport.run(show) for _ in range(10)))
        await transport.write_atomic(str(tmp_path / "f"), b"x")
        assert await transport.read_bytes(str(tmp_path / "f")) == b"x"
        # SSH_CONNECTION names the client's port: one TCP connection served every call
        assert len({*sequential, *(r.stdout for r in concurrent)}) == 1
        assert transport.connections_opened == 1
    finally:
        await transport.close()


@pytest.mark.ssh
async def test_ssh_prefers_aes_gcm(sshd: SSHD) -> None:
    transport = SSHTransport(sshd.headnode("beosrv-d"))
    try:
        conn = await transport._connection()
        ciphers = {conn.get_extra_info("send_cipher"), conn.get_extra_info("recv_cipher")}
        assert ciphers == {"aes128-gcm@openssh.com"}
    finally:
        await transport.close()


@pytest.fixture
def own_sshd(tmp_path: Path) -> Iterator[SSHD]:
    """A private sshd that a test may stop and restart."""
    server = SSHD(tmp_path / "own-sshd")
    server.start()
    yield server
    server.stop()


@pytest.mark.ssh
async def test_ssh_lost_connection_then_reconnect(own_sshd: SSHD) -> None:
    transport = SSHTransport(own_sshd.headnode("beosrv-d"))
    try:
        stream = transport.stream(["sh", "-c", "echo started; sleep 30"])
        assert await anext(stream) == ("stdout", "started")
        own_sshd.stop()
        with pytest.raises(TransportError, match=r"^beosrv-d: connection lost$"):
            await asyncio.wait_for(anext(stream), 10)
        with pytest.raises(TransportError, match=r"cannot connect.*Connection refused"):
            await transport.run(["true"])
        own_sshd.restart()
        assert (await transport.run(["echo", "back"])).stdout == b"back\n"
        assert transport.connections_opened == 2
    finally:
        await transport.close()


@pytest.mark.ssh
async def test_ssh_closed_sftp_channel_is_a_lost_connection_then_reopened(
    sshd: SSHD, tmp_path: Path
) -> None:
    transport = SSHTransport(sshd.headnode("beosrv-d"))
    target = tmp_path / "f"
    try:
        await transport.write_atomic(str(target), b"one\n")
        sftp = await transport._sftp()
        sftp.exit()  # the channel closes, the connection stays: as when sshd drops mid-write
        await sftp.wait_closed()
        with pytest.raises(TransportError, match=r"^beosrv-d: connection lost$"):
            await transport.write_atomic(str(target), b"two\n")
        assert target.read_bytes() == b"one\n"
        await transport.write_atomic(str(target), b"three\n")
        assert target.read_bytes() == b"three\n"
    finally:
        await transport.close()


async def ended_by_its_timeout(call: Coroutine[Any, Any, object]) -> None:
    """`call` under a 2 s timeout ends with TimeoutError; watched from outside for 30 s, since
    a cancellation that waits for the stuck server would hold wait_for itself."""
    task = asyncio.ensure_future(asyncio.wait_for(call, 2))
    done, _ = await asyncio.wait([task], timeout=30)
    assert done, "the timeout did not end the call"
    with pytest.raises(TimeoutError):
        task.result()


@pytest.mark.ssh
async def test_ssh_timed_out_read_gives_up_its_stuck_sftp_session(
    own_sshd: SSHD, tmp_path: Path
) -> None:
    """The SFTP server answers in order: a request stuck in it (a frozen server process)
    holds every later one. A read cancelled by its timeout drops that session for real."""
    transport = SSHTransport(own_sshd.headnode("beosrv-d"))
    (tmp_path / "f").write_bytes(b"content\n")
    stopped: list[int] = []
    try:
        await transport.run(["true"])
        before = set(_descendants(own_sshd._proc.pid))  # type: ignore[union-attr]
        await transport.stat(str(tmp_path))  # starts the SFTP session: one more process
        [sftp_server] = set(_descendants(own_sshd._proc.pid)) - before  # type: ignore[union-attr]
        os.kill(sftp_server, signal.SIGSTOP)
        stopped.append(sftp_server)
        await ended_by_its_timeout(transport.read_bytes(str(tmp_path / "f")))
        read = transport.read_bytes(str(tmp_path / "f"))
        assert await asyncio.wait_for(read, 30) == b"content\n"  # a new session answers

        [sftp_server] = set(_descendants(own_sshd._proc.pid)) - before - {sftp_server}  # type: ignore[union-attr]
        os.kill(sftp_server, signal.SIGSTOP)  # the same for a write: stuck, timed out, given up
        stopped.append(sftp_server)
        await ended_by_its_timeout(transport.write_atomic(str(tmp_path / "f"), b"lost\n"))
        write = transport.write_atomic(str(tmp_path / "f"), b"new\n")
        await asyncio.wait_for(write, 30)
        assert (tmp_path / "f").read_bytes() == b"new\n"
        assert (await transport.run(["echo", "same connection"])).returncode == 0
        assert transport.connections_opened == 1
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        await transport.close()


@pytest.mark.ssh
async def test_ssh_reconnects_after_the_server_dropped_an_idle_connection(
    own_sshd: SSHD,
) -> None:
    transport = SSHTransport(own_sshd.headnode("beosrv-d"))
    try:
        assert (await transport.run(["echo", "one"])).stdout == b"one\n"
        own_sshd.restart()
        await asyncio.sleep(0.2)  # the client notices the closed socket
        assert (await transport.run(["echo", "two"])).stdout == b"two\n"
        assert transport.connections_opened == 2
    finally:
        await transport.close()
