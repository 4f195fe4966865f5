"""LocalTransport: the head-node is this machine, optionally below a root prefix.

Commands are asyncio subprocesses (argv, never a shell) in a new session, so a timeout or an
abandoned stream kills the whole process group. File operations run in a worker thread so a
slow disk never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import signal
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

from qlutui.backend import confined as confined_ops
from qlutui.backend.transport import (
    READ_LIMIT,
    FileInfo,
    RunFailed,
    RunResult,
    Transport,
    backup_name,
    check_readable,
    confined_failure,
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

T = TypeVar("T")
_READ_CHUNK = 1 << 20


class LocalTransport(Transport):
    def __init__(self, name: str, root: str | Path | None = None) -> None:
        self.name = name
        self.root = os.fspath(root).rstrip("/") if root else None

    def host_path(self, path: str) -> str:
        if not posixpath.isabs(path):
            raise ValueError(f"not an absolute head-node path: {path!r}")
        if self.root is None:
            return path
        relative = posixpath.normpath(path).lstrip("/")  # normalized: `..` cannot leave the root
        return posixpath.join(self.root, relative) if relative else self.root

    # -- commands ------------------------------------------------------------------------------

    async def _spawn(self, argv: list[str], stdin: int) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=stdin,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError(f"{self.name}: cannot run {argv[0]}: {exc.strerror}") from None

    async def _end(self, proc: asyncio.subprocess.Process) -> None:
        """Kill the process group of an abandoned command and reap it."""
        if proc.returncode is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def run(
        self, argv: list[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> RunResult:
        stdin = asyncio.subprocess.DEVNULL if input is None else asyncio.subprocess.PIPE
        proc = await self._spawn(argv, stdin)
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        except TimeoutError:
            raise TransportError(f"{self.name}: {argv[0]} timed out after {timeout:g}s") from None
        finally:
            await self._end(proc)
        assert proc.returncode is not None
        return RunResult(proc.returncode, out, err)

    async def stream_chunks(self, argv: list[str]) -> AsyncIterator[tuple[str, list[str]]]:
        proc = await self._spawn(argv, asyncio.subprocess.DEVNULL)
        try:
            assert proc.stdout is not None and proc.stderr is not None
            async for item in merge_chunks({"stdout": proc.stdout, "stderr": proc.stderr}):
                yield item
            returncode = await proc.wait()
        finally:
            await self._end(proc)
        if returncode != 0:
            raise RunFailed(returncode, failure_message(self.name, argv, returncode, ""))

    # -- files ---------------------------------------------------------------------------------

    async def _io(
        self, path: str, func: Callable[..., T], *args: object, keep_missing: bool = False
    ) -> T:
        """Run a blocking file operation in a thread, with one-line errors."""
        try:
            return await asyncio.to_thread(func, *args)
        except FileNotFoundError:
            if keep_missing:
                raise missing(path) from None
            raise io_error(self.name, path, "No such file or directory") from None
        except OSError as exc:
            raise io_error(self.name, path, exc.strerror or str(exc)) from None

    async def read_bytes(self, path: str, *, limit: int = READ_LIMIT) -> bytes:
        return await self._io(
            path, _read_regular, self.name, path, self.host_path(path), limit, keep_missing=True
        )

    async def write_atomic(
        self, path: str, data: bytes, *, mode: int = 0o644, backup: bool = False
    ) -> None:
        await self._io(path, _write_atomic, self.host_path(path), data, mode, backup)

    async def stat(self, path: str) -> FileInfo | None:
        return await self._io(path, _stat, self.host_path(path))

    async def list_dir(self, path: str) -> list[FileInfo]:
        return await self._io(path, _list_dir, self.host_path(path), keep_missing=True)

    async def mkdir(self, path: str, *, parents: bool = True, mode: int = 0o755) -> None:
        await self._io(path, _mkdir, self.host_path(path), parents, mode)

    async def rename(self, src: str, dst: str) -> None:
        if await self.exists(dst):
            raise Refused(f"{self.name}: cannot rename {src} to {dst}: {dst} already exists")
        await self._io(src, os.rename, self.host_path(src), self.host_path(dst))

    async def chmod(self, path: str, mode: int) -> None:
        await self._io(path, os.chmod, self.host_path(path), mode)

    async def confined(self, request: dict[str, Any], data: bytes = b"") -> bytes:
        """In-process: the same code the head-node helper runs, in a worker thread."""
        request = {**request, "base": self.host_path(request["base"])}
        try:
            return await asyncio.to_thread(confined_ops.execute, request, data)
        except confined_ops.Failure as failure:
            raise confined_failure(self.name, failure) from None

    async def close(self) -> None:
        pass


def _read_regular(name: str, path: str, real: str, limit: int) -> bytes:
    """stat, then open without blocking (a FIFO swapped in meanwhile cannot hold the thread)
    and check that it is still that regular file; read at most `limit` bytes."""
    st = os.stat(real)
    check_readable(name, path, st.st_mode, st.st_size, limit)
    fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        check_readable(name, path, opened.st_mode, opened.st_size, limit)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            raise Refused(f"{name}: {path} was replaced while being opened: not read")
        parts, size = [], 0
        while chunk := os.read(fd, min(_READ_CHUNK, limit + 1 - size)):
            parts.append(chunk)
            size += len(chunk)
            if size > limit:  # it grew while read
                raise too_big(name, path, limit)
        return b"".join(parts)
    finally:
        os.close(fd)


def _write_atomic(target: str, data: bytes, mode: int, backup: bool) -> None:
    tmp = temp_name(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if backup and os.path.lexists(target):
            os.link(target, backup_name(target))  # the old inode stays as the backup
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    parent = os.path.dirname(target)
    dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    for stale in leftovers(target, _mtimes(parent), backup):
        with suppress(FileNotFoundError):  # another writer removed it first
            os.unlink(stale)


def _mtimes(directory: str) -> dict[str, float]:
    found = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            with suppress(FileNotFoundError):  # renamed or removed meanwhile by another writer
                found[entry.name] = entry.stat(follow_symlinks=False).st_mtime
    return found


def _info(name: str, path: str, st: os.stat_result) -> FileInfo:
    kind = kind_of(st.st_mode)
    return FileInfo(
        name=name,
        kind=kind,
        mode=stat.S_IMODE(st.st_mode),
        size=st.st_size,
        mtime=st.st_mtime,
        target=os.readlink(path) if kind == "link" else None,
    )


def _stat(path: str) -> FileInfo | None:
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return _info(os.path.basename(path), path, st)


def _list_dir(path: str) -> list[FileInfo]:
    with os.scandir(path) as entries:
        infos = [_info(e.name, e.path, e.stat(follow_symlinks=False)) for e in entries]
    return sorted(infos, key=lambda info: info.name)


def _mkdir(path: str, parents: bool, mode: int) -> None:
    if parents:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        if parents and os.path.isdir(path):
            return
        raise
    os.chmod(path, mode)  # exactly `mode`, whatever the umask
