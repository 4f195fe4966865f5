"""Import the inventory from an existing cluster's files: read them, plan, apply as one edit.

A PATH is a local file or `HEADNODE:PATH`, read through that head-node's transport. Only
regular files up to MAX_BYTES are read (a symlink, a device or a FIFO is refused, so a
`/dev/zero` or a link planted in /etc cannot make the import hang or read elsewhere). The
plan is pure (`model/inventory_import.py`); the edit goes through `InventoryService.apply`,
the one writer of inventory.toml.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from dataclasses import dataclass, field

from qlutui.backend.cluster import Cluster
from qlutui.backend.inventory import InventoryChange, InventoryService
from qlutui.errors import InvalidInput, Refused
from qlutui.model.inventory_import import KINDS, ImportPlan, ImportSource, guess_kind, plan_import
from qlutui.model.names import counted, shown
from qlutui.model.noderange import fold

MAX_BYTES = 64 * 1024 * 1024
CLASHES_SHOWN = 3


@dataclass
class ImportResult:
    plan: ImportPlan
    dry_run: bool
    change: InventoryChange | None = None  # what the edit did (None: nothing written)
    skipped: list[str] = field(default_factory=list)  # missing files, when allowed

    def to_dict(self) -> dict:
        return {
            **self.plan.to_dict(),
            "dry_run": self.dry_run,
            "applied": self.change is not None,
            "change": None if self.change is None else self.change.to_dict(),
            "skipped": self.skipped,
        }

    def lines(self, listed: int | None = None) -> list[str]:
        """The plan as text (the CLI prints it, a screen shows it): hosts added, changed and
        left alone (folded), networks created, every clash and every line not used (the
        first `listed` of each, or all)."""
        plan = self.plan
        add, change, create = (
            ("would add", "would change", "would create")
            if self.dry_run
            else ("added", "changed", "created")
        )
        lines = [f"{spec}: no such file, skipped" for spec in self.skipped]
        lines += [f"{create} network {note}" for note in plan.networks]
        lines += [f"{add} {_hosts(plan.added)}"] if plan.added else []
        lines += [f"{change} {_hosts(plan.changed)}"] if plan.changed else []
        if plan.unchanged:
            lines.append(f"left alone (already as imported): {_hosts(plan.unchanged)}")
        if not plan.changes:
            lines.append(
                "nothing to change: the inventory already holds what these files say"
                if plan.unchanged
                else "nothing to import from these files"
            )
        refused = "the import is refused until they are fixed"
        problems = counted(len(plan.clashes), "problem")
        lines += _listed(f"{problems} ({refused})", plan.clashes, listed)
        lines += _listed(f"{counted(len(plan.unusable), 'line')} not used", plan.unusable, listed)
        return lines


def _hosts(names: list[str]) -> str:
    return f"{counted(len(names), 'host')}: {fold(names)}"


def _listed(title: str, items: list[str], listed: int | None) -> list[str]:
    if not items:
        return []
    shown_ = items if listed is None else items[:listed]
    more = len(items) - len(shown_)
    return [f"{title}:", *(f"  {item}" for item in shown_)] + (
        [f"  ... and {more} more"] if more > 0 else []
    )


def split_spec(cluster: Cluster, spec: str) -> tuple[str | None, str]:
    """(head-node, path) of `HEADNODE:PATH`; (None, path) for a local file."""
    node, sep, path = spec.partition(":")
    if sep and node in cluster.headnode_names:
        if not path.startswith("/"):
            raise InvalidInput(f"{shown(spec)}: the path on {node} must be absolute")
        return node, path
    return None, spec


def _no_such_file(cluster: Cluster, spec: str) -> str:
    """The refusal of a missing `spec`; a `NAME:/path` whose NAME is no head-node was read
    as a local path: say so, it is most likely a mistyped head-node."""
    node, sep, path = spec.partition(":")
    if sep and path.startswith("/") and node not in cluster.headnode_names:
        nodes = ", ".join(cluster.headnode_names)
        return f"{spec}: no such file ({shown(node)} is not a head-node: {nodes})"
    return f"{spec}: no such file"


async def read_source(cluster: Cluster, spec: str, kind: str | None = None) -> ImportSource:
    """One file as an ImportSource; FileNotFoundError when it does not exist."""
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"unknown format {shown(kind)} (one of {', '.join(KINDS)})")
    node, path = split_spec(cluster, spec)
    if node is None:
        data = await asyncio.to_thread(_read_local, path)
    else:
        data = await _read_remote(cluster, node, path, spec)
    text = data.decode("utf-8", errors="replace")
    kind = kind or guess_kind(spec, text)
    if kind is None:
        raise InvalidInput(f"{spec}: cannot tell its format; pass --format ({'|'.join(KINDS)})")
    return ImportSource(kind, spec, text)


def _read_local(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(path) from None
        if exc.errno == errno.ELOOP:
            raise Refused(f"{path}: is a symbolic link; name the file itself") from None
        raise Refused(f"{path}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{path}: not a regular file")
        _check_size(path, info.st_size)
        data = file.read(MAX_BYTES + 1)
    _check_size(path, len(data))
    return data


async def _read_remote(cluster: Cluster, node: str, path: str, spec: str) -> bytes:
    transport = cluster.transport(node)
    info = await transport.stat(path)
    if info is None:
        raise FileNotFoundError(spec)
    if info.kind != "file":
        what = {"link": f"a symbolic link to {info.target}", "dir": "a directory"}.get(
            info.kind, "a device, FIFO or socket"
        )
        raise Refused(f"{spec}: not a regular file ({what})")
    _check_size(spec, info.size)
    data = await transport.read_bytes(path)
    _check_size(spec, len(data))
    return data


def _check_size(where: str, size: int) -> None:
    if size > MAX_BYTES:
        raise Refused(f"{where}: larger than {MAX_BYTES // (1024 * 1024)} MiB, not imported")


async def import_files(
    cluster: Cluster,
    specs: list[str],
    *,
    kind: str | None = None,
    dry_run: bool = False,
    missing_ok: bool = False,
) -> ImportResult:
    """Import `specs` (local paths or HEADNODE:PATH) into the inventory as one edit.

    The dry run only plans. A real run with clashes is Refused naming them (nothing
    written); one that changes nothing writes nothing. With `missing_ok` a missing file is
    listed in `skipped` instead of failing the import.
    """
    sources, skipped = [], []
    for spec in specs:
        try:
            sources.append(await read_source(cluster, spec, kind))
        except FileNotFoundError:
            if not missing_ok:
                raise Refused(_no_such_file(cluster, spec)) from None
            skipped.append(spec)
    service = InventoryService(cluster)
    state = await asyncio.to_thread(service.load)
    plan = await asyncio.to_thread(plan_import, state.inventory, sources)
    result = ImportResult(plan, dry_run, skipped=skipped)
    if dry_run or not plan.changes:
        return result
    if plan.clashes:
        shown_ = "; ".join(plan.clashes[:CLASHES_SHOWN])
        more = len(plan.clashes) - CLASHES_SHOWN
        raise Refused(
            f"import refused, nothing changed: {counted(len(plan.clashes), 'problem')}: {shown_}"
            + (f" ... and {more} more (--dry-run lists them)" if more > 0 else "")
        )
    summary = (
        f"import of {', '.join(s.path for s in sources)}: {len(plan.added)} added,"
        f" {len(plan.changed)} changed"
    )
    result.change = await asyncio.to_thread(
        service.apply, state, plan.inventory, summary=summary, dry_run=False
    )
    return result
