"""The cluster context: one object that gives services their config, store, transports and jobs.

The CLI and the TUI both open a `Cluster` and hand it to the per-dialog services. Transports are
created lazily (a head-node that is down must not slow down or break a screen that does not
need it) and reused: one connection per head-node for the life of the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import posixpath
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cached_property, partial, wraps
from pathlib import Path
from typing import Any, TypeVar

from qlutui.backend import confined as confined_ops
from qlutui.backend.audit import FILE_NAME, AuditLog
from qlutui.backend.config import Config, load_config
from qlutui.backend.jobs import JobManager
from qlutui.backend.store import AREAS, Store
from qlutui.backend.transport import Transport, open_transport
from qlutui.model.catalog import Catalog
from qlutui.model.inventory import Inventory

T = TypeVar("T")


class Stopped(Exception):
    """A count was stopped between two of its steps: whoever asked for it has gone."""


# (the call's arguments by name) -> (action, head-node path, summary), None: not a change
Describe = Callable[[dict[str, Any]], tuple[str, str, str] | None]


def _confined_event(args: dict[str, Any]) -> tuple[str, str, str] | None:
    request = args["request"]
    op = request.get("op")
    if op not in confined_ops.MUTATING:
        return None
    path = posixpath.join(request["base"], *request["parts"])
    summary = {
        "put": lambda: f"{len(args['data'])} bytes",
        "mkdir": lambda: f"mode {request.get('mode', 0o755):04o}",
        "chmod": lambda: f"mode {request['mode']:04o}",
        "rename": lambda: "to " + posixpath.join(request["base"], *request["dst"]),
        "symlink": lambda: f"link to {request['target']}",
        "rm": lambda: "removed",
    }[op]()
    action = {"put": "file.write", "rm": "file.remove"}.get(op, f"file.{op}")
    return action, path, summary


_MUTATIONS: dict[str, Describe] = {
    "write_atomic": lambda a: ("file.write", a["path"], f"{len(a['data'])} bytes"),
    "mkdir": lambda a: ("file.mkdir", a["path"], f"mode {a['mode']:04o}"),
    "chmod": lambda a: ("file.chmod", a["path"], f"mode {a['mode']:04o}"),
    "rename": lambda a: ("file.rename", a["src"], f"to {a['dst']}"),
    "remove_tree": lambda a: ("file.remove", a["path"], "tree removed"),
    "confined": _confined_event,
}


@dataclass(frozen=True)
class Summary:
    """What the cluster holds, counted from the state files as they are (not validated)."""

    hosts: int
    networks: int
    images: int
    chroots: int
    running_jobs: int
    problems: int  # lines `qlutui check` prints (`Cluster.status`; `summary`: state files only)


class Cluster:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.audit = AuditLog(Path(config.state_dir) / FILE_NAME)
        self.store = Store(config.state_dir, audit=self.audit.record)
        self._transports: dict[str, Transport] = {}
        # (what, area) -> (the file's signature, what was computed from it): see `_memo`
        self._memos: dict[tuple[str, str | tuple[str, ...]], tuple[Any, Any]] = {}

    @classmethod
    def open(cls, config_path: str | Path | None = None) -> Cluster:
        return cls(load_config(config_path))

    @property
    def headnode_names(self) -> list[str]:
        return [h.name for h in self.config.headnodes]

    def transport(self, name: str) -> Transport:
        if name not in self._transports:
            headnode = self.config.headnode(name)  # raises for an unknown head-node
            self._transports[name] = self._audited(open_transport(headnode))
        return self._transports[name]

    def _audited(self, transport: Transport) -> Transport:
        """Every change a service makes on a head-node goes to the audit trail: each
        mutating transport method is wrapped here, once (`_MUTATIONS`)."""
        for method, describe in _MUTATIONS.items():
            setattr(transport, method, self._audit_call(transport, method, describe))
        return transport

    def _audit_call(
        self, transport: Transport, method: str, describe: Describe
    ) -> Callable[..., Any]:
        call = getattr(transport, method)
        signature = inspect.signature(call)

        @wraps(call)
        async def audited(*args: Any, **kwargs: Any) -> Any:
            result = await call(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            if (event := describe(bound.arguments)) is not None:
                action, path, summary = event
                self.audit.record(action, f"{transport.name}:{path}", summary)
            return result

        return audited

    @cached_property
    def jobs(self) -> JobManager:
        from qlutui.backend.chroots import register_hooks  # the service imports Cluster

        manager = JobManager(
            self.store.jobs_dir, self.transport, self.config.jobs_dir, audit=self.audit.record
        )
        self.__dict__["jobs"] = manager  # register_hooks reaches back for cluster.jobs
        register_hooks(self)
        return manager

    def inventory(self) -> Inventory:
        return Inventory.from_dict(self.store.load("inventory").data)

    def catalog(self) -> Catalog:
        return Catalog.from_dict(self.store.load("catalog").data)

    def check_headnode(self, name: str) -> str:
        return self.config.headnode(name).name  # an unknown one refused there

    async def aclose(self) -> None:
        if "jobs" in self.__dict__:  # only when the job manager was ever created
            await self.jobs.close()
        transports, self._transports = self._transports, {}
        for transport in transports.values():
            await transport.close()

    def summary(self, stop: threading.Event | None = None) -> Summary:
        """The counts the menu shows (reads the state files that changed: call off the loop).

        Every step is memoized (`_memo`): once `stop` is set, the next step not done yet
        raises `Stopped` instead of running, and the next count starts from the steps done.
        The first count of a big cluster is ~1 s of work whose thread would take half the
        CPU from a dialog opened meanwhile."""
        hosts, networks = self._count("inventory", "hosts", "networks", stop=stop)
        (images,) = self._count("images", "images", stop=stop)
        (chroots,) = self._count("chroots", "chroots", stop=stop)
        running = sum(1 for r in self.jobs.list() if r.finished is None)
        return Summary(hosts, networks, images, chroots, running, len(self.problems(stop)))

    def problems(self, stop: threading.Event | None = None) -> list[str]:
        """What is wrong in the state files, one line each (`backend/state_check.py`); then,
        only once they are sound, what a write of the generated files would refuse, checked
        class by class as a write checks."""
        from qlutui.backend.state_check import area_problems  # CLI verbs start without it

        problems = [
            line
            for area in sorted(AREAS)
            for line in self._memo(
                "problems",
                area,
                partial(area_problems, self.store, area, self.config.chroots_base),
                stop,
            )
        ]
        if problems:
            return problems
        from qlutui.backend.files import files_service

        return [
            line
            for cls in files_service(self).classes.values()
            for line in self._memo(f"problems:{cls.id}", tuple(sorted(AREAS)), cls.problems, stop)
        ]

    async def all_problems(self) -> list[str]:
        """`problems()` and what only the head-nodes can tell (`state_check.headnode_problems`:
        the chroots' trees, the root-fs configs' clashes): what `qlutui check` prints and the
        Check screen shows."""
        problems = await asyncio.to_thread(self.problems)
        return problems + await self.headnode_problems()

    async def headnode_problems(self) -> list[str]:
        from qlutui.backend.state_check import headnode_problems

        return await headnode_problems(self)

    async def status(self, stop: threading.Event | None = None) -> AsyncIterator[Summary]:
        """The menu's line: `summary()` (the state files, read in a thread), then the same
        with the head-nodes' problems counted too (a head-node that is slow to answer does not
        hold the first). Ends early, quietly, once `stop` is set."""
        try:
            summary = await asyncio.to_thread(self.summary, stop)
        except Stopped:
            return
        yield summary
        if stop is not None and stop.is_set():
            return
        extra = await self.headnode_problems()
        yield dataclasses.replace(summary, problems=summary.problems + len(extra))

    def _count(self, area: str, *keys: str, stop: threading.Event | None = None) -> tuple[int, ...]:
        """Entries under each key of a state file (the same keys at every call for an area)."""

        def count() -> tuple[int, ...]:
            data = self.store.load(area).data
            return tuple(
                len(value) if isinstance(value := data.get(key), list | dict) else 0 for key in keys
            )

        return self._memo("count", area, count, stop)

    def _memo(
        self,
        what: str,
        area: str | tuple[str, ...],
        compute: Callable[[], T],
        stop: threading.Event | None = None,
    ) -> T:
        """`compute()`, again only when the area's state file (or one of the areas' files)
        changed: the menu asks each time it shows, and parsing 10,000 hosts takes ~40 ms.
        `Stopped` instead of computing once `stop` is set."""
        areas = (area,) if isinstance(area, str) else area
        signature = tuple(self.store.signature(a) for a in areas)
        cached = self._memos.get((what, area))
        if cached is not None and cached[0] == signature:
            return cached[1]
        if stop is not None and stop.is_set():
            raise Stopped(what)
        value = compute()
        self._memos[(what, area)] = (signature, value)
        return value
