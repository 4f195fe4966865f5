"""Stale files: files a class generated on a head-node that the state no longer makes (the
old config of an image renamed or deleted). Write Files lists them, and a write removes them.

Only a class whose files follow the state has them (`FileClass.owned()`: one file per image);
a class with fixed paths has none. A file is the class's only when all of these hold:
- it lies in the class's own directory (the destination up to the component that holds the
  placeholder), at the destination with a valid name (model/names.py) in its place;
- every component below that directory is opened without following a symbolic link
  (`Transport.confined`, backend/confined.py, with the directory as its trusted base): a link
  is never followed, and never the class's;
- it is a regular file (not a FIFO, not a device, at most READ_LIMIT bytes) whose content
  carries the class's generated marker for that name (`generated`).

The directory is listed with `list_dir` (one SFTP request over SSH); only an entry of the
right kind whose path the state does not make is read (one confined request each), so a
head-node without stale files costs the search one listing.

A removal renames the file to its backup name beside it (`<path>.bak-<time>`, the name a write
gives the version it replaces), through the same confined walk, and only while the file is
still what the diff showed: nothing is lost, and the audit trail has it (`file.rename`).
When the file lies in a directory of its own (`/etc/qlustar/images/OLD/qlutui.conf`) that
holds nothing else but the file and its backups (`qlutui.conf.bak-*`, regular files, listed
without following a link), the removal renames that directory whole to its backup name instead
(`/etc/qlustar/images/OLD.bak-<time>`, the file and its backups in it): the old image's
directory is gone under its name, its files are kept. The diff says so (`Found.directory`),
and the write does it only if the directory still holds nothing else; otherwise the file
alone is renamed, the directory left as it is.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from qlutui.backend.transport import backup_name
from qlutui.errors import ConflictError, InvalidInput, Refused
from qlutui.model.names import name_problem

if TYPE_CHECKING:
    from qlutui.backend.files.base import FileSpec
    from qlutui.backend.transport import Transport

READ_LIMIT = 1 << 20  # a generated file is a few hundred bytes: a larger one is not one


class Found(NamedTuple):
    """A stale file: its name, its text, and the directory of its own a removal renames aside
    with it ("" when it has none or that holds more than the file and its backups)."""

    name: str
    text: str
    directory: str


@dataclass(frozen=True)
class Owned:
    """Where a class's files lie on a head-node, and how one it generated is recognised."""

    destination: str  # the path template, `placeholder` once: /etc/qlustar/images/{image}/x.conf
    placeholder: str  # "{image}"
    spec: Callable[[str], FileSpec]  # a name -> the spec of its file (id, title, path, mode)
    generated: Callable[[str, str], bool]  # (text, name) -> whether qlutui generated it

    def _split(self) -> tuple[str, str, str, list[str]]:
        """The class's own directory; the prefix and suffix around the name in the
        component below it; the components after that one."""
        parts = self.destination.strip("/").split("/")
        at = next(i for i, part in enumerate(parts) if self.placeholder in part)
        prefix, suffix = parts[at].split(self.placeholder)
        return "/" + "/".join(parts[:at]), prefix, suffix, parts[at + 1 :]

    @property
    def directory(self) -> str:
        return self._split()[0]

    def path(self, name: str) -> str:
        return self.destination.replace(self.placeholder, name)

    def _request(self, path: str) -> dict[str, Any]:
        """A confined request for `path`, below the class's directory (its trusted base)."""
        return {"base": self.directory, "parts": posixpath.relpath(path, self.directory).split("/")}

    def own_directory(self, name: str) -> str:
        """The directory only `name`'s file is in (the component with the placeholder), ""
        when the file lies in the class's directory itself."""
        directory, prefix, suffix, rest = self._split()
        return posixpath.join(directory, prefix + name + suffix) if rest else ""

    async def _holds_only(self, transport: Transport, directory: str, path: str) -> bool:
        """Whether `directory` holds nothing but the way down to the file at `path`, the file
        and its backups (`<name>.bak-*`, regular files), each level listed without following
        a link."""
        top = self._request(directory)["parts"]
        *way, file = posixpath.relpath(path, directory).split("/")
        for depth in range(len(way) + 1):
            request = {"op": "ls", "base": self.directory, "parts": [*top, *way[:depth]]}
            listing = [
                (e["name"], e["kind"]) for e in json.loads(await transport.confined(request))
            ]
            if depth < len(way):
                if listing != [(way[depth], "dir")]:
                    return False
            elif any(kind != "file" or not _own(name, file) for name, kind in listing):
                return False
        return True

    async def find(self, transport: Transport, known: Collection[str]) -> list[Found]:
        """Every file of the class on `transport`'s head-node whose path is not in `known`
        (the files the state makes): the stale ones."""
        directory, prefix, suffix, rest = self._split()
        try:
            listing = await transport.list_dir(directory)
        except FileNotFoundError:
            return []
        kind = "dir" if rest else "file"  # lstat: a link is neither
        names = [
            name
            for entry in listing
            if entry.kind == kind
            and (name := _name(entry.name, prefix, suffix)) is not None
            and self.path(name) not in known
        ]
        texts = await asyncio.gather(*(self._read(transport, self.path(n)) for n in names))
        found = [
            (name, text)
            for name, text in zip(names, texts, strict=True)
            if text is not None and self.generated(text, name)
        ]
        alone = await asyncio.gather(*(self._alone(transport, name) for name, _ in found))
        return [Found(name, text, d) for (name, text), d in zip(found, alone, strict=True)]

    async def _alone(self, transport: Transport, name: str) -> str:
        """`name`'s own directory when it holds nothing but its file and backups, else ""."""
        directory = self.own_directory(name)
        try:
            alone = bool(directory) and await self._holds_only(
                transport, directory, self.path(name)
            )
        except (FileNotFoundError, Refused, InvalidInput):  # gone, or a link, meanwhile
            return ""
        return directory if alone else ""

    async def _read(self, transport: Transport, path: str) -> str | None:
        """The text at `path`; None when no regular file is there, reached without a link."""
        request = {"op": "read", "limit": READ_LIMIT, **self._request(path)}
        try:
            data = await transport.confined(request)
        except (FileNotFoundError, Refused, InvalidInput):  # gone, a link, a FIFO, too big
            return None
        return data.decode("utf-8", errors="replace")

    async def remove(
        self, transport: Transport, path: str, expect: str, directory: str
    ) -> tuple[str, bool]:
        """Rename the stale file at `path` to its backup name beside it if it is still
        `expect` (what the diff showed), or rename its own `directory` (when the diff said
        that goes with it) to its backup name, if that still holds nothing but the file and
        its backups; (the backup's path, whether the directory was renamed). ConflictError
        when the file is no longer `expect`, FileNotFoundError when it is gone, Refused when
        it became a link."""
        request = self._request(path)
        data = await transport.confined({"op": "read", "limit": READ_LIMIT, **request})
        if data.decode("utf-8", errors="replace") != expect:
            raise ConflictError(
                f"{transport.name}: {path} was changed since the diff was computed (another admin?)"
            )
        whole = bool(directory) and await self._holds_only(transport, directory, path)
        moved = directory if whole else path
        request = self._request(moved)
        backup = backup_name(moved)
        dst = [*request["parts"][:-1], posixpath.basename(backup)]
        await transport.confined({"op": "rename", **request, "dst": dst})
        return backup, whole


def _own(entry: str, file: str) -> bool:
    """Whether `entry` is the file named `file` or one of its backups."""
    return entry == file or entry.startswith(file + ".bak-")


def _name(entry: str, prefix: str, suffix: str) -> str | None:
    """The name in directory entry `entry` (`<prefix><name><suffix>`), None when there is none
    or it is no valid name (a hidden file, a crashed write's temp file)."""
    if len(entry) <= len(prefix) + len(suffix) or not entry.startswith(prefix):
        return None
    if not entry.endswith(suffix):
        return None
    name = entry[len(prefix) : len(entry) - len(suffix)]
    return name if name_problem(name) is None else None
