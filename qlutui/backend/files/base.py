"""What every generated-file class is, and the one way its files are compared and written.

A `FileClass` (SSH Configs, Hosts, Qlustar Images, ...) says which files it makes
(`FileSpec`: an id, a title, head-node paths and a mode), renders them from the state files
(validation included: a file that fails renders to the error saying why, and is never
written), and may name the work that runs on a head-node after some of its files were
written there (an image rebuild). `FilesService` does the rest for every class alike: one
status row per file x head-node x path, the diff, the write job that skips a file another
admin changed since the diff, and the after-write jobs.
"""

from __future__ import annotations

import asyncio
import difflib
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from qlutui.backend.job_records import STDERR, Plan
from qlutui.backend.jobs import Job, JobContext
from qlutui.errors import InvalidInput, QlutuiError, Refused
from qlutui.model.generated import Preview, split
from qlutui.model.names import counted, shown

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster

# Row states of Write Files.
UNCHANGED, CHANGED, MISSING, UNREACHABLE, INVALID = (
    "unchanged",
    "changed",
    "missing",
    "unreachable",
    "invalid",
)
WRITABLE = (CHANGED, MISSING)
READ_TIMEOUT = 30.0
WRITE_JOB = "files.write"
AFTER_JOB = "files.after"


@dataclass(frozen=True)
class FileSpec:
    """One generated file: `id` is unique over every class (`known_hosts`, `hosts`,
    `images/Standard-noble`) and is what the CLI takes."""

    cls: str  # the FileClass id
    id: str
    title: str
    paths: tuple[str, ...]  # head-node paths, the same on every head-node
    mode: int


Rendered = dict[str, "str | QlutuiError"]  # file id -> its text, or why it cannot be made


class FileClass(ABC):
    id: ClassVar[str]
    title: ClassVar[str]

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    async def prepare(self) -> None:
        """What a write needs beyond the state files, fetched before `render` (e.g. the
        releases installed on the head-node); `qlutui check` renders without it."""
        return None

    @abstractmethod
    def files(self) -> list[FileSpec]:
        """The files of the class, from the state (blocking: reads state files)."""

    @abstractmethod
    def render(self, files: list[FileSpec]) -> Rendered:
        """Each of `files` as it would be written (blocking), validated: a file that must not
        be written maps to the error saying why."""

    def problems(self) -> list[str]:
        """Why files of the class cannot be written, one line each (`qlutui check`)."""
        specs = self.files()
        rendered = self.render(specs)
        return [
            f"generated file {spec.id}: {text}"
            for spec in specs
            if not isinstance(text := rendered[spec.id], str)
        ]

    def split(self, spec: FileSpec, text: str) -> Preview:
        """Where the generated part of a rendered file starts (for the preview)."""
        return split(text)

    def header(self, spec: FileSpec) -> str | None:
        """The admin's editable header of `spec`, None when it has none edited here."""
        return None

    def header_problems(self, spec: FileSpec, text: str) -> list[str]:
        """Why `text` cannot be the header of `spec` (one line per bad line)."""
        return []

    def save_header(self, spec: FileSpec, text: str) -> None:
        raise NotImplementedError(f"{spec.id} has no header edited here")

    def after_write(self, headnode: str, changed: list[FileSpec]) -> tuple[str, Plan] | None:
        """The job (title, plan) to run on `headnode` once `changed` (files of this class)
        were written there with a new content; None when there is none."""
        return None


@dataclass(frozen=True)
class Destination:
    spec: FileSpec
    headnode: str
    path: str

    @property
    def label(self) -> str:
        return f"{self.spec.id} {self.headnode}:{self.path}"


@dataclass(frozen=True)
class FileStatus:
    """One file on one head-node at one path, compared with what would be written.

    `current` is what was on disk when compared (None: missing or unreachable); the write
    job refuses to overwrite a file that is no longer exactly that.
    """

    dest: Destination
    state: str
    wanted: str
    current: str | None
    error: str = ""  # unreachable: why; invalid: what is wrong

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dest.spec.id, self.dest.headnode, self.dest.path)

    def diff(self) -> str:
        """Unified diff from the file on disk to the generated file ("" when equal)."""
        if self.current is None and self.state == UNREACHABLE:
            return ""
        where = f"{self.dest.headnode}:{self.dest.path}"
        lines = difflib.unified_diff(
            (self.current or "").splitlines(keepends=True),
            self.wanted.splitlines(keepends=True),
            fromfile=f"{where} (on disk)" if self.current is not None else "/dev/null",
            tofile=f"{where} (generated)",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def to_dict(self) -> dict:
        return {
            "class": self.dest.spec.cls,
            "file": self.dest.spec.id,
            "headnode": self.dest.headnode,
            "path": self.dest.path,
            "state": self.state,
            "error": self.error,
        }


def class_state(rows: Iterable[FileStatus]) -> str:
    """A class's state in Write Files, from its rows: the worst one wins."""
    states = {r.state for r in rows}
    for state in (INVALID, UNREACHABLE, CHANGED, MISSING):
        if state in states:
            return state
    return UNCHANGED if states else MISSING


class FilesService:
    """Statuses and writes over every class of the registry, or some of them."""

    def __init__(self, cluster: Cluster, classes: list[FileClass]) -> None:
        self.cluster = cluster
        self.classes = {c.id: c for c in classes}

    def specs(self) -> list[FileSpec]:
        return [spec for cls in self.classes.values() for spec in cls.files()]

    def render(self, specs: list[FileSpec]) -> Rendered:
        """The files rendered (blocking: call it in a thread), each by its class."""
        rendered: Rendered = {}
        for cls_id, cls in self.classes.items():
            mine = [s for s in specs if s.cls == cls_id]
            if mine:
                rendered.update(cls.render(mine))
        return rendered

    def problems(self) -> list[str]:
        """What a write would refuse, one line each, class by class (`qlutui check`, the
        menu's count): the same render and validation a write runs."""
        return [line for cls in self.classes.values() for line in cls.problems()]

    def _rendered(self, specs: list[FileSpec]) -> list[tuple[FileSpec, str | QlutuiError]]:
        rendered = self.render(specs)
        return [(spec, rendered[spec.id]) for spec in specs]

    def preview(self, spec: FileSpec, text: str) -> Preview:
        return self.classes[spec.cls].split(spec, text)

    def select(self, names: Iterable[str] | None = None) -> list[FileSpec]:
        """The files named (a class id stands for all its files; none: every file), in
        registry order; InvalidInput for a name that is neither (blocking: reads state)."""
        specs = self.specs()
        if not names:
            return specs
        names = list(names)
        by_id = [s.id for s in specs]
        if unknown := [n for n in names if n not in self.classes and n not in by_id]:
            known = ", ".join([*self.classes, *by_id])
            raise InvalidInput(f"unknown class or file {shown(unknown[0])} (known: {known})")
        return [s for s in specs if s.cls in names or s.id in names]

    async def rendered(self, name: str) -> str:
        """One file as a write would write it; its error when it must not be written."""
        specs = await asyncio.to_thread(self.select, [name])
        if len(specs) != 1:
            raise InvalidInput(f"{shown(name)} is a class: name one of its files")
        await self._prepare(specs)
        text = (await asyncio.to_thread(self.render, specs))[name]
        if isinstance(text, QlutuiError):
            raise text
        return text

    async def _prepare(self, specs: list[FileSpec]) -> None:
        classes = dict.fromkeys(spec.cls for spec in specs)
        await asyncio.gather(*(self.classes[c].prepare() for c in classes))

    async def statuses(self, names: Iterable[str] | None = None) -> list[FileStatus]:
        """One row per file x head-node x path, in that order, for the files `select`s."""
        specs = await asyncio.to_thread(self.select, names)
        await self._prepare(specs)
        rendered = await asyncio.to_thread(self._rendered, specs)
        return list(
            await asyncio.gather(
                *(
                    self._status(Destination(spec, node, path), text)
                    for spec, text in rendered
                    for node in self.cluster.headnode_names
                    for path in spec.paths
                )
            )
        )

    async def _status(self, dest: Destination, wanted: str | QlutuiError) -> FileStatus:
        if isinstance(wanted, QlutuiError):
            return FileStatus(dest, INVALID, "", None, str(wanted))
        try:
            current = await self._read(dest)
        except QlutuiError as error:
            return FileStatus(dest, UNREACHABLE, wanted, None, str(error))
        if current is None:
            return FileStatus(dest, MISSING, wanted, None)
        return FileStatus(dest, UNCHANGED if current == wanted else CHANGED, wanted, current)

    async def _read(self, dest: Destination) -> str | None:
        transport = self.cluster.transport(dest.headnode)
        try:
            data = await asyncio.wait_for(transport.read_bytes(dest.path), READ_TIMEOUT)
        except FileNotFoundError:
            return None
        except TimeoutError:
            raise Refused(f"{dest.headnode}: no answer within {READ_TIMEOUT:.0f} s") from None
        return data.decode("utf-8", errors="replace")

    @staticmethod
    def to_write(rows: Iterable[FileStatus], *, only_changed: bool = True) -> list[FileStatus]:
        """The rows a write would touch: Refused when any of them is invalid; unreachable rows
        are left out (what is on disk there is unknown), unchanged ones with `only_changed`."""
        rows = list(rows)
        invalid = [r for r in rows if r.state == INVALID]
        if invalid:
            r = invalid[0]
            raise Refused(f"{r.dest.spec.id} cannot be written: {r.error}")
        states = WRITABLE if only_changed else (*WRITABLE, UNCHANGED)
        return [r for r in rows if r.state in states]

    async def write(self, rows: Iterable[FileStatus], *, only_changed: bool = True) -> Job:
        """Start a Job writing `to_write(rows)`, one target per head-node, all at once.

        Refused when nothing is left to write. Without `only_changed`, files already up to
        date are written again too (new backup, configured mode). When a head-node's files
        are written, the after-write work of their classes starts there as its own job.
        """
        todo = self.to_write(rows, only_changed=only_changed)
        if not todo:
            raise Refused("nothing to write: the files are up to date")
        per_node: dict[str, list[FileStatus]] = {}
        for row in todo:
            per_node.setdefault(row.dest.headnode, []).append(row)
        count = counted(len(todo), "file")
        return await self.cluster.jobs.start(
            WRITE_JOB,
            f"Writing {count} to {', '.join(per_node)}",
            {
                node: self._writer(node, node_rows, only_changed)
                for node, node_rows in per_node.items()
            },
            meta={"files": [r.dest.label for r in todo]},
        )

    def _writer(
        self, node: str, rows: list[FileStatus], only_changed: bool
    ) -> Callable[[JobContext], Awaitable[None]]:
        """The in-process work of one head-node's target: its files, one after the other,
        then the after-write jobs of the files written."""

        async def work(ctx: JobContext) -> None:
            changed: list[FileSpec] = []
            for done, row in enumerate(rows):
                if await _write_one(ctx, row, only_changed):
                    changed.append(row.dest.spec)
                ctx.progress((done + 1) / len(rows))
            for cls in self.classes.values():
                mine = list(dict.fromkeys(s for s in changed if s.cls == cls.id))
                after = cls.after_write(node, mine) if mine else None
                if after is not None:
                    title, plan = after
                    job = await self.cluster.jobs.start(AFTER_JOB, title, {node: plan})
                    ctx.job.record.meta.setdefault("after", []).append(job.id)
                    ctx.message(f"{title}: job {job.id} (see Jobs)")

        return work


async def _write_one(ctx: JobContext, row: FileStatus, only_changed: bool) -> bool:
    """Write one file if it is still what the diff was made against; whether its content
    changed by it."""
    transport = ctx.transport
    path = row.dest.path
    try:
        data = await transport.read_bytes(path)
        now: str | None = data.decode("utf-8", errors="replace")
    except FileNotFoundError:
        now = None
    if now == row.wanted and only_changed:
        ctx.message(f"{path}: already up to date, not written")
        return False
    if now != row.current:
        ctx.log(
            STDERR,
            f"Error: {path} was changed on {ctx.target} since the diff was computed "
            "(another admin?); skipped: refresh and review the new diff",
        )
        return False
    mode = row.dest.spec.mode
    await transport.mkdir(posixpath.dirname(path))
    await transport.write_atomic(path, row.wanted.encode(), mode=mode, backup=True)
    ctx.message(f"{path}: written ({row.dest.spec.id}, mode {mode:04o})")
    return now != row.wanted
