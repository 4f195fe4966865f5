"""The Transport interface: commands and files on one head-node, local or over SSH.

All paths are head-node absolute paths. The implementations live in `transport_local.py`
(`LocalTransport`) and `transport_ssh.py` (`SSHTransport`); both names are importable from
here too, and `open_transport(headnode)` picks the right one for a configured head-node.

Errors: a missing file raises `FileNotFoundError` from `read_bytes`, `read_text` and
`list_dir` (absence is a normal answer there); everything else that fails raises
`TransportError` (or `Refused` when a safety rule says no) with a one-line message that
starts with the head-node name.

Reads are bounded: `read_bytes` stats first and reads regular files only (a FIFO would block
the reader forever, /dev/zero never ends), at most `limit` bytes (READ_LIMIT by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import posixpath
import re
import stat as stat_mod
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from qlutui.backend import confined as confined_ops
from qlutui.errors import ConflictError, InvalidInput, QlutuiError, Refused, TransportError

if TYPE_CHECKING:
    from qlutui.backend.config import HeadNode
    from qlutui.backend.transport_local import LocalTransport
    from qlutui.backend.transport_ssh import SSHTransport

__all__ = [
    "FileInfo",
    "LocalTransport",
    "RunFailed",
    "RunResult",
    "SSHTransport",
    "Transport",
    "open_transport",
]

BACKUPS_KEPT = 5
STALE_TEMP_AGE = confined_ops.STALE_TEMP_AGE  # temp names and their age: backend/confined.py
CONFINED_TIMEOUT = 300.0
_CHUNK = 1 << 16
READ_LIMIT = 64 << 20  # what read_bytes reads at most unless told otherwise
_SPECIAL = {
    stat_mod.S_IFIFO: "a FIFO",
    stat_mod.S_IFCHR: "a character device",
    stat_mod.S_IFBLK: "a block device",
    stat_mod.S_IFSOCK: "a socket",
    stat_mod.S_IFDIR: "a directory",
}
_QUEUE_CHUNKS = 64  # bounded: a slow consumer slows the reader down instead of using memory


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class FileInfo:
    name: str
    kind: str  # file | dir | link | other
    mode: int  # permission bits only
    size: int
    mtime: float
    target: str | None = None  # links only


class RunFailed(TransportError):
    """A command exited with a non-zero status."""

    def __init__(self, returncode: int, message: str | None = None) -> None:
        super().__init__(message or f"command exited with status {returncode}")
        self.returncode = returncode


@cache
def _confined_source() -> str:
    """The helper script sent to a head-node (read once, when first needed)."""
    return Path(confined_ops.__file__).read_text()


class NotFound(TransportError, FileNotFoundError):
    """A confined operation found nothing at `path` (below its base); a FileNotFoundError."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


_FAILURES: dict[str, type[QlutuiError]] = {
    "refused": Refused,
    "invalid": InvalidInput,
    "conflict": ConflictError,
}


def confined_failure(name: str, failure: confined_ops.Failure) -> QlutuiError:
    """The exception for a `confined` request that failed on head-node `name`."""
    if failure.kind == "missing":
        return NotFound(f"{name}: {failure}", failure.path)
    return _FAILURES.get(failure.kind, TransportError)(f"{name}: {failure}")


class Transport(ABC):
    name: str

    @abstractmethod
    def host_path(self, path: str) -> str:
        """Where a head-node path really is, for use in command arguments."""

    @abstractmethod
    async def run(
        self, argv: list[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> RunResult: ...

    def terminal(self, argv: list[str]) -> list[str]:
        """The argv to run on this machine, attached to its terminal, that runs `argv` on the
        head-node (an interactive shell): here the command itself."""
        return argv

    @abstractmethod
    def stream_chunks(self, argv: list[str]) -> AsyncIterator[tuple[str, list[str]]]:
        """Yield ("stdout"|"stderr", lines) in arrival order, the lines of a chunk read at
        once (a log flooding in costs one step per chunk, not per line); RunFailed at the end
        if != 0."""

    async def stream(self, argv: list[str]) -> AsyncIterator[tuple[str, str]]:
        """Yield ("stdout"|"stderr", line) in arrival order; RunFailed at the end if != 0."""
        async with contextlib.aclosing(self.stream_chunks(argv)) as chunks:
            async for tag, lines in chunks:
                for line in lines:
                    yield tag, line

    @abstractmethod
    async def read_bytes(self, path: str, *, limit: int = READ_LIMIT) -> bytes:
        """The content of the regular file at `path` (a symlink is followed to it).

        Stats first: anything but a regular file (FIFO, device, socket, directory) is Refused
        without being opened, and so is a file of more than `limit` bytes (also one that grows
        past it while read). FileNotFoundError when nothing is there."""

    async def read_text(self, path: str, *, limit: int = READ_LIMIT) -> str:
        return (await self.read_bytes(path, limit=limit)).decode("utf-8", errors="replace")

    @abstractmethod
    async def write_atomic(
        self, path: str, data: bytes, *, mode: int = 0o644, backup: bool = False
    ) -> None: ...

    @abstractmethod
    async def stat(self, path: str) -> FileInfo | None:
        """lstat: None when nothing is there."""

    @abstractmethod
    async def list_dir(self, path: str) -> list[FileInfo]:
        """The entries (lstat) sorted by name."""

    @abstractmethod
    async def mkdir(self, path: str, *, parents: bool = True, mode: int = 0o755) -> None:
        """Create a directory (with parents: no error when it exists); a new leaf gets `mode`."""

    @abstractmethod
    async def rename(self, src: str, dst: str) -> None:
        """Rename; refuses to replace an existing dst."""

    @abstractmethod
    async def chmod(self, path: str, mode: int) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def remove_tree(self, path: str, base: str) -> None:
        """Delete the tree at `path`, which must lie strictly below `base`.

        Refused: `..` or a relative path, `path` itself a symbolic link, a real path (after
        resolving every symlink) not strictly below the real `base`, anything mounted at or below
        it. The tree is first renamed aside (`<parent>/.<name>.removing-<id>`) so a half-deleted
        tree never stays under its name, then deleted with `rm -rf --one-file-system` (which
        never follows symlinks inside the tree). The checks run on the head-node as argv commands.
        """
        check_tree_path(self.name, path)
        info = await self.stat(path)
        if info is None:
            raise io_error(self.name, path, "No such file or directory")
        if info.kind == "link":
            raise Refused(f"{self.name}: refusing to remove {path}: it is a symbolic link")
        resolved = await self.run_checked(
            ["realpath", "-e", "-z", "--", self.host_path(path), self.host_path(base)]
        )
        real, real_base = resolved.stdout.decode("utf-8", "surrogateescape").split("\0")[:2]
        mountinfo = await self.run_checked(["cat", "/proc/self/mountinfo"])
        mounts = parse_mountinfo(mountinfo.stdout.decode("utf-8", "surrogateescape"))
        check_removable(self.name, path, base, real, real_base, mounts)
        aside = aside_name(real)
        await self.run_checked(["mv", "-T", "--", real, aside])
        await self.run_checked(["rm", "-rf", "--one-file-system", "--", aside])

    async def confined(self, request: dict[str, Any], data: bytes = b"") -> bytes:
        """A file operation below `request["base"]` (a head-node path) that never follows a
        symbolic link (`backend/confined.py`), run on the head-node by its helper script."""
        request = {**request, "base": self.host_path(request["base"])}
        argv = ["python3", "-c", _confined_source(), json.dumps(request)]
        result = await self.run(argv, input=data, timeout=CONFINED_TIMEOUT)
        if result.returncode == 0:
            return result.stdout
        try:
            reply = json.loads(result.stderr.decode(errors="replace").strip().splitlines()[-1])
            failure = confined_ops.Failure(reply["kind"], reply["path"], reply["reason"])
        except (ValueError, IndexError, KeyError, TypeError):
            detail = last_line(result.stderr)
            raise RunFailed(
                result.returncode, failure_message(self.name, argv[:2], result.returncode, detail)
            ) from None
        raise confined_failure(self.name, failure)

    async def exists(self, path: str) -> bool:
        return await self.stat(path) is not None

    async def run_checked(
        self, argv: list[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> RunResult:
        """`run`, raising RunFailed with the last stderr line on a non-zero exit."""
        result = await self.run(argv, input=input, timeout=timeout)
        if result.returncode != 0:
            raise RunFailed(
                result.returncode,
                failure_message(self.name, argv, result.returncode, last_line(result.stderr)),
            )
        return result


def open_transport(headnode: HeadNode) -> Transport:
    """The transport of a configured head-node (not connected yet: SSH connects lazily)."""
    if headnode.transport == "local":
        from qlutui.backend.transport_local import LocalTransport

        return LocalTransport(headnode.name, headnode.root)
    from qlutui.backend.transport_ssh import SSHTransport

    return SSHTransport(headnode)


def __getattr__(name: str) -> Any:
    # Lazy re-export: the implementations import this module, and asyncssh is only loaded
    # when an SSH transport is really used.
    if name == "LocalTransport":
        from qlutui.backend.transport_local import LocalTransport

        return LocalTransport
    if name == "SSHTransport":
        from qlutui.backend.transport_ssh import SSHTransport

        return SSHTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- helpers shared by the implementations ---------------------------------------------------


def kind_of(mode: int) -> str:
    if stat_mod.S_ISLNK(mode):
        return "link"
    if stat_mod.S_ISDIR(mode):
        return "dir"
    if stat_mod.S_ISREG(mode):
        return "file"
    return "other"


def check_readable(name: str, path: str, mode: int, size: int, limit: int) -> None:
    """Refuse to read what is not a regular file, or is larger than `limit` bytes."""
    if not stat_mod.S_ISREG(mode):
        what = _SPECIAL.get(stat_mod.S_IFMT(mode), "of another kind")
        raise Refused(f"{name}: {path} is {what}, not a regular file: not read")
    if size > limit:
        raise too_big(name, path, limit)


def too_big(name: str, path: str, limit: int) -> Refused:
    return Refused(f"{name}: {path} is larger than {limit:,} bytes: not read")


def last_line(data: bytes) -> str:
    lines = data.decode("utf-8", errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else ""


def failure_message(name: str, argv: list[str], returncode: int, detail: str) -> str:
    message = f"{name}: {argv[0]} failed (exit status {returncode})"
    return f"{message}: {detail}" if detail else message


def io_error(name: str, path: str, reason: str) -> TransportError:
    return TransportError(f"{name}: {path}: {reason}")


def missing(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "No such file or directory", path)


def temp_name(path: str) -> str:
    """A fresh hidden name next to `path` for writing before the rename."""
    parent, base = posixpath.split(path)
    return posixpath.join(parent, confined_ops.temp_name(base))


def leftovers(path: str, mtimes: dict[str, float], backup: bool) -> list[str]:
    """What to delete after writing `path`, given its directory's names and mtimes: temp files
    of crashed writes (older than STALE_TEMP_AGE before the file just written) and, with
    `backup`, the backups beyond the newest few."""
    parent = posixpath.dirname(path)
    now = mtimes.get(posixpath.basename(path), 0.0)
    found = [posixpath.join(parent, n) for n in confined_ops.stale_temps(mtimes, now)]
    return found + (stale_backups(path, mtimes) if backup else [])


def backup_name(path: str) -> str:
    # Microseconds: two backups within one second must not collide; sorts by age.
    return f"{path}.bak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"


def stale_backups(path: str, names: Iterable[str]) -> list[str]:
    """The backups of `path` (among the names in its directory) beyond the newest few."""
    prefix = posixpath.basename(path) + ".bak-"
    backups = sorted(n for n in names if n.startswith(prefix))
    parent = posixpath.dirname(path)
    return [posixpath.join(parent, n) for n in backups[:-BACKUPS_KEPT]]


def check_tree_path(name: str, path: str) -> None:
    """Refuse relative paths and `..` before anything is resolved."""
    if not posixpath.isabs(path) or ".." in path.split("/"):
        raise Refused(f"{name}: refusing to remove {path}: not a plain absolute path")


def check_removable(
    name: str, path: str, base: str, real: str, real_base: str, mounts: list[str]
) -> None:
    """The confinement rules of remove_tree, applied to resolved (host) paths."""
    if posixpath.commonpath([real, real_base]) != real_base or real == real_base:
        raise Refused(f"{name}: refusing to remove {path}: it is not below {base}")
    below = [m for m in mounts if m == real or m.startswith(real + "/")]
    if below:
        raise Refused(f"{name}: refusing to remove {path}: {below[0]} is mounted there")


def aside_name(real: str) -> str:
    parent, base = posixpath.split(real)
    return posixpath.join(parent, confined_ops.aside_name(base))


def parse_mountinfo(text: str) -> list[str]:
    """The mount points of /proc/self/mountinfo (field 5, octal escapes decoded)."""
    points = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.append(_unescape(fields[4]))
    return points


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \040 \011 \012 \134
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


class _Reader(Protocol):
    async def read(self, n: int) -> bytes: ...


async def merge_chunks(readers: dict[str, _Reader]) -> AsyncIterator[tuple[str, list[str]]]:
    """Lines of several byte streams, tagged and in arrival order, a chunk's lines at a time.

    Reads big chunks and splits them here: per-line reads are too slow for build logs. Lines are
    decoded per chunk (a UTF-8 character never spans a newline) with errors replaced.
    """
    queue: asyncio.Queue[tuple[str, list[str]] | Exception | None] = asyncio.Queue(_QUEUE_CHUNKS)

    async def pump(tag: str, reader: _Reader) -> None:
        end: Exception | None = None
        try:
            pending = b""
            while chunk := await reader.read(_CHUNK):
                pending += chunk
                cut = pending.rfind(b"\n")
                if cut >= 0:
                    text = pending[:cut].decode("utf-8", errors="replace")
                    pending = pending[cut + 1 :]
                    await queue.put((tag, text.split("\n")))
            if pending:
                await queue.put((tag, [pending.decode("utf-8", errors="replace")]))
        except Exception as exc:  # handed to the consumer, which raises it
            end = exc
        await queue.put(end)

    tasks = [asyncio.create_task(pump(tag, reader)) for tag, reader in readers.items()]
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if isinstance(item, Exception):
                raise item
            if item is None:
                running -= 1
                continue
            yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
