"""SSHTransport: one asyncssh connection per head-node, exec channels and SFTP.

The connection is opened on first use and reused by every call (channels are cheap, handshakes
are not). Host keys are always checked against the configured known_hosts file. A connection
that was lost fails the call that was using it ("connection lost") and is opened again by the
next call.
"""

from __future__ import annotations

import asyncio
import math
import os
import posixpath
import shlex
import socket
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import TYPE_CHECKING, TypeVar

import asyncssh

from qlutui.backend.transport import (
    READ_LIMIT,
    FileInfo,
    RunFailed,
    RunResult,
    Transport,
    backup_name,
    check_readable,
    failure_message,
    io_error,
    kind_of,
    leftovers,
    merge_chunks,
    missing,
    temp_name,
    too_big,
)
from qlutui.errors import Refused, TransportError

if TYPE_CHECKING:
    from qlutui.backend.config import HeadNode

T = TypeVar("T")
# AES-GCM first, then asyncssh's defaults: with AES-NI it takes ~40% less client CPU than
# chacha20-poly1305 per byte, which bounds SFTP writes and log streams (bench P6, P8).
PREFERRED_CIPHER = "^aes128-gcm@openssh.com"
# SFTP requests in flight per file read or write (asyncssh's own parallel I/O uses 16-128)
SFTP_WINDOW = 16
_FALLBACK_READ = 1 << 15  # a server that sent no limits: SFTP's guaranteed packet size


class SSHTransport(Transport):
    def __init__(self, headnode: HeadNode) -> None:
        self.name = headnode.name
        self.headnode = headnode
        self.connections_opened = 0
        self._lock = asyncio.Lock()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp_client: asyncssh.SFTPClient | None = None

    def host_path(self, path: str) -> str:
        return path

    # -- the connection ------------------------------------------------------------------------

    async def _connection(self) -> asyncssh.SSHClientConnection:
        async with self._lock:
            return await self._connected()

    async def _sftp(self) -> asyncssh.SFTPClient:
        async with self._lock:
            conn = await self._connected()
            if self._sftp_client is None:
                with self._errors():
                    self._sftp_client = await conn.start_sftp_client()
            return self._sftp_client

    async def _connected(self) -> asyncssh.SSHClientConnection:
        """The live connection, opened now if needed (call with the lock held)."""
        if self._conn is None or self._conn.is_closed():
            self._sftp_client = None
            self._conn = await self._connect()
            self.connections_opened += 1
        return self._conn

    async def _connect(self) -> asyncssh.SSHClientConnection:
        hn = self.headnode
        where = f"{hn.host}:{hn.port}"
        if hn.known_hosts is None:
            raise TransportError(f"{self.name}: no known_hosts file configured")
        # Read here (again at every connect) so a bad file gets its own message.
        known_hosts = self._load("known_hosts", hn.known_hosts, asyncssh.read_known_hosts)
        keys = {}
        if hn.identity is not None:
            key = self._load("identity", hn.identity, asyncssh.read_private_key)
            keys = {"client_keys": [key]}
        try:
            return await asyncssh.connect(
                hn.host,
                hn.port,
                username=hn.user,
                known_hosts=known_hosts,
                connect_timeout=hn.connect_timeout,
                keepalive_interval=hn.keepalive,
                config=[],  # config.toml is the only source of connection settings
                encryption_algs=PREFERRED_CIPHER,
                **keys,
            )
        except asyncssh.HostKeyNotVerifiable:
            trusted = known_hosts.match(hn.host, "", hn.port)
            if trusted[0] or trusted[1]:
                raise TransportError(
                    f"{self.name}: host key for {where} does not match known_hosts"
                    f" {hn.known_hosts} (possible attack or reinstall)"
                ) from None
            raise TransportError(
                f"{self.name}: host key for {where} not found in known_hosts {hn.known_hosts}"
            ) from None
        except asyncssh.PermissionDenied:
            raise TransportError(
                f"{self.name}: authentication failed for {hn.user}@{hn.host}"
            ) from None
        except TimeoutError:
            raise TransportError(
                f"{self.name}: cannot connect to {where}: timed out after {hn.connect_timeout:g}s"
            ) from None
        except OSError as exc:
            raise TransportError(
                f"{self.name}: cannot connect to {where}: {_reason(exc)}"
            ) from None
        except asyncssh.Error as exc:
            raise TransportError(f"{self.name}: cannot connect to {where}: {exc.reason}") from None

    def _load(self, what: str, path: str | os.PathLike[str], reader: Callable[[str], T]) -> T:
        try:
            return reader(os.fspath(path))
        except (OSError, ValueError, asyncssh.KeyImportError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise TransportError(f"{self.name}: cannot read {what} {path}: {reason}") from None

    @contextmanager
    def _errors(self, path: str = "", *, keep_missing: bool = False) -> Iterator[None]:
        """Turn asyncssh errors into one-line errors; forget a connection that was lost."""
        try:
            yield
        except (
            asyncssh.ConnectionLost,
            asyncssh.SFTPConnectionLost,
            asyncssh.SFTPNoConnection,  # the SFTP channel closed under a call in flight
            ConnectionError,
        ):
            self._forget()
            raise TransportError(f"{self.name}: connection lost") from None
        except asyncssh.SFTPNoSuchFile:
            if keep_missing:
                raise missing(path) from None
            raise io_error(self.name, path, "No such file or directory") from None
        except asyncssh.SFTPError as exc:
            raise io_error(self.name, path, exc.reason) from None
        except asyncssh.ChannelOpenError as exc:
            # e.g. more concurrent commands than the server's MaxSessions
            raise TransportError(f"{self.name}: cannot open a channel: {exc.reason}") from None
        except asyncssh.DisconnectError as exc:
            self._forget()
            raise TransportError(f"{self.name}: disconnected: {exc.reason}") from None

    def _forget(self) -> None:
        if self._conn is not None:
            self._conn.abort()
        self._conn = None
        self._sftp_client = None

    def _drop_sftp(self, sftp: asyncssh.SFTPClient) -> None:
        """Give up an SFTP session whose request was cancelled: the server may still be stuck
        in it (and answers requests in order), so the next call opens a fresh one."""
        if self._sftp_client is sftp:
            self._sftp_client = None
        sftp.exit()

    def _lost_unless(self, returncode: int | None) -> int:
        """An exit without a status means the channel died with the connection."""
        if returncode is None:
            self._forget()
            raise TransportError(f"{self.name}: connection lost")
        return returncode

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn, self._sftp_client = self._conn, None, None
        if conn is not None:
            conn.close()
            await conn.wait_closed()

    # -- commands ------------------------------------------------------------------------------

    def terminal(self, argv: list[str]) -> list[str]:
        """OpenSSH's `ssh -t` with this head-node's settings and nothing else (`-F none`: no
        ~/.ssh/config): the same host, port and user, its known_hosts as the only one, strict
        host key checking (an unknown or changed key fails, nothing is ever added), its
        identity only, no password prompt. OpenSSH gives the interactive shell its pty,
        window size changes and terminal modes; `argv` is quoted for the remote shell."""
        hn = self.headnode
        if hn.known_hosts is None:
            raise TransportError(f"{self.name}: no known_hosts file configured")
        options = {
            "BatchMode": "yes",
            "StrictHostKeyChecking": "yes",
            "UpdateHostKeys": "no",
            "UserKnownHostsFile": _ssh_path(hn.known_hosts),
            "GlobalKnownHostsFile": "none",
            "ConnectTimeout": str(max(1, math.ceil(hn.connect_timeout))),
            "ServerAliveInterval": str(math.ceil(hn.keepalive)),
        }
        if hn.identity is not None:
            options |= {"IdentityFile": _ssh_path(hn.identity), "IdentitiesOnly": "yes"}
        flags = [f"-o{key}={value}" for key, value in options.items()]
        return ["ssh", "-F", "none", "-t", "-p", str(hn.port), "-l", hn.user, *flags, "--",
                hn.host, shlex.join(argv)]  # fmt: skip

    async def run(
        self, argv: list[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> RunResult:
        conn = await self._connection()
        with self._errors():
            try:
                done = await conn.run(
                    shlex.join(argv), input=input, encoding=None, timeout=timeout, check=False
                )
            except asyncssh.TimeoutError:
                raise TransportError(
                    f"{self.name}: {argv[0]} timed out after {timeout:g}s"
                ) from None
        returncode = self._lost_unless(done.returncode)
        return RunResult(returncode, bytes(done.stdout or b""), bytes(done.stderr or b""))

    async def stream_chunks(self, argv: list[str]) -> AsyncIterator[tuple[str, list[str]]]:
        conn = await self._connection()
        with self._errors():
            proc = await conn.create_process(
                shlex.join(argv), stdin=asyncssh.DEVNULL, encoding=None
            )
        try:
            with self._errors():
                async for item in merge_chunks({"stdout": proc.stdout, "stderr": proc.stderr}):
                    yield item
                done = await proc.wait()
        finally:
            proc.close()  # an abandoned stream closes its channel
        returncode = self._lost_unless(done.returncode)
        if returncode != 0:
            raise RunFailed(returncode, failure_message(self.name, argv, returncode, ""))

    # -- files ---------------------------------------------------------------------------------

    async def read_bytes(self, path: str, *, limit: int = READ_LIMIT) -> bytes:
        sftp = await self._sftp()
        try:
            with self._errors(path, keep_missing=True):
                attrs = await sftp.stat(path)  # an SFTP open of a FIFO blocks the server
                check_readable(self.name, path, attrs.permissions or 0, attrs.size or 0, limit)
                async with _opened(sftp, path, "rb") as f:
                    attrs = await f.stat()  # still a regular file once opened?
                    size = attrs.size or 0
                    check_readable(self.name, path, attrs.permissions or 0, size, limit)
                    data = await _read_all(f, size, limit)
        except asyncio.CancelledError:
            self._drop_sftp(sftp)
            raise
        if data is None:
            raise too_big(self.name, path, limit)
        return data

    async def write_atomic(
        self, path: str, data: bytes, *, mode: int = 0o644, backup: bool = False
    ) -> None:
        sftp = await self._sftp()
        tmp = temp_name(path)
        try:
            with self._errors(path):
                await self._write(sftp, path, tmp, data, mode, backup)
        except asyncio.CancelledError:
            self._drop_sftp(sftp)  # the temp file left is removed by a later write
            raise

    async def _write(
        self, sftp: asyncssh.SFTPClient, path: str, tmp: str, data: bytes, mode: int, backup: bool
    ) -> None:
        try:
            async with _opened(sftp, tmp, "xb", asyncssh.SFTPAttrs(permissions=0o600)) as f:
                await _write_all(f, data)
                with suppress(asyncssh.SFTPOpUnsupported):  # no fsync@openssh.com
                    await f.fsync()
            await sftp.chmod(tmp, mode)
            if backup and await sftp.lexists(path):
                await sftp.link(path, backup_name(path))  # the old inode stays as the backup
            await sftp.posix_rename(tmp, path)
        except BaseException:
            if not _cancelling():  # else it would wait behind the cancelled request
                with suppress(Exception):
                    await sftp.remove(tmp)
            raise
        listing = await sftp.readdir(posixpath.dirname(path))
        mtimes = {n.filename: float(n.attrs.mtime or 0) for n in listing}
        for stale in leftovers(path, mtimes, backup):
            with suppress(asyncssh.SFTPNoSuchFile):  # another writer removed it first
                await sftp.remove(stale)

    async def _info(
        self, sftp: asyncssh.SFTPClient, path: str, attrs: asyncssh.SFTPAttrs
    ) -> FileInfo:
        perms = attrs.permissions or 0
        kind = kind_of(perms)
        return FileInfo(
            name=posixpath.basename(path),
            kind=kind,
            mode=stat.S_IMODE(perms),
            size=attrs.size or 0,
            mtime=float(attrs.mtime or 0),
            target=await sftp.readlink(path) if kind == "link" else None,
        )

    async def stat(self, path: str) -> FileInfo | None:
        sftp = await self._sftp()
        with self._errors(path):
            try:
                attrs = await sftp.lstat(path)
            except asyncssh.SFTPNoSuchFile:
                return None
            return await self._info(sftp, path, attrs)

    async def list_dir(self, path: str) -> list[FileInfo]:
        sftp = await self._sftp()
        with self._errors(path, keep_missing=True):
            names = await sftp.readdir(path)
            infos = [
                await self._info(sftp, posixpath.join(path, n.filename), n.attrs)
                for n in names
                if n.filename not in (".", "..")
            ]
        return sorted(infos, key=lambda info: info.name)

    async def mkdir(self, path: str, *, parents: bool = True, mode: int = 0o755) -> None:
        sftp = await self._sftp()
        with self._errors(path):
            if parents:
                await sftp.makedirs(posixpath.dirname(path), exist_ok=True)
            if await sftp.lexists(path):
                if parents and await sftp.isdir(path):
                    return
                raise io_error(self.name, path, "File exists")
            await sftp.mkdir(path, asyncssh.SFTPAttrs(permissions=mode))
            await sftp.chmod(path, mode)  # exactly `mode`, whatever the server's umask

    async def rename(self, src: str, dst: str) -> None:
        sftp = await self._sftp()
        with self._errors(src):
            if await sftp.lexists(dst):
                raise Refused(f"{self.name}: cannot rename {src} to {dst}: {dst} already exists")
            await sftp.rename(src, dst)  # plain SFTP rename never replaces an existing dst

    async def chmod(self, path: str, mode: int) -> None:
        sftp = await self._sftp()
        with self._errors(path):
            await sftp.chmod(path, mode)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@asynccontextmanager
async def _opened(
    sftp: asyncssh.SFTPClient, path: str, mode: str, attrs: asyncssh.SFTPAttrs | None = None
) -> AsyncIterator[asyncssh.SFTPClientFile]:
    """`sftp.open`, closed afterwards, but not on cancellation: the close would wait behind
    the request that was cancelled (the caller drops the session instead)."""
    f = await sftp.open(path, mode, attrs or asyncssh.SFTPAttrs())
    try:
        yield f
    finally:
        if not _cancelling():
            await f.close()


async def _windowed(count: int, start: Callable[[int], Awaitable[T]]) -> list[T]:
    """`start(0) .. start(count - 1)`, SFTP_WINDOW at a time; the results in order.

    Instead of asyncssh's parallel file I/O: when the connection drops, that raises the first
    request's error and leaves the others' unretrieved ("Task exception was never retrieved",
    once per request in flight). Here every request is awaited, and on the first error or a
    cancellation the rest are cancelled and awaited too."""
    results: dict[int, T] = {}
    pending: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        results[i] = await start(i)

    async def settle() -> None:
        nonlocal pending
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        errors = [task.exception() for task in done]  # each one retrieved
        if first := next((e for e in errors if e is not None), None):
            raise first

    try:
        for i in range(count):
            if len(pending) >= SFTP_WINDOW:
                await settle()
            pending.add(asyncio.create_task(one(i)))
        while pending:
            await settle()
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return [results[i] for i in range(count)]


async def _write_all(f: asyncssh.SFTPClientFile, data: bytes) -> None:
    step = f.write_len or len(data) or 1

    async def write(i: int) -> int:
        return await f.write(data[i * step : (i + 1) * step], i * step)

    await _windowed(-(-len(data) // step), write)


async def _read_all(f: asyncssh.SFTPClientFile, size: int, limit: int) -> bytes | None:
    """The file's bytes: `size` of them in parallel, then on to its end (a short read, a
    file that grew, /proc's size 0); None past `limit`."""
    step = f.read_len or _FALLBACK_READ

    async def read(i: int) -> bytes:
        return await f.read(min(step, size - i * step), i * step)

    parts, total = [], 0
    for part in await _windowed(-(-size // step), read):
        parts.append(part)
        total += len(part)
        if len(part) < step and total < size:
            break  # a short read: go on from here
    while total <= limit and (chunk := await f.read(step, total)):
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts) if total <= limit else None


def _ssh_path(path: os.PathLike[str]) -> str:
    """A path as an ssh_config value: quoted (whitespace separates values), `%` escaped
    (OpenSSH expands %-tokens in these file names)."""
    text = os.fspath(path)
    if '"' in text:
        raise TransportError(f"{text}: a path with a double quote cannot be given to ssh")
    return '"' + text.replace("%", "%%") + '"'


def _reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror) or not exc.errno:
        return exc.strerror or str(exc)
    return os.strerror(exc.errno)  # asyncio's own text names the address again
