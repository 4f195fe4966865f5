"""The cluster context: one object that gives services their config, store, transports and jobs.

The CLI and the TUI both open a `Cluster` and hand it to the per-dialog services. Transports are
created lazily (a head-node that is down must not slow down or break a screen that does not
need it) and reused: one connection per head-node for the life of the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, wraps
from pathlib import Path

from qlutui.backend.audit import FILE_NAME, AuditLog
from qlutui.backend.config import Config, load_config
from qlutui.backend.jobs import JobManager
from qlutui.backend.store import Store
from qlutui.backend.transport import Transport, open_transport
from qlutui.errors import InvalidInput
from qlutui.model.catalog import Catalog
from qlutui.model.inventory import Inventory


@dataclass(frozen=True)
class Summary:
    """What the cluster holds, counted from the state files as they are (not validated)."""

    hosts: int
    networks: int
    images: int
    chroots: int
    running_jobs: int


class Cluster:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.audit = AuditLog(Path(config.state_dir) / FILE_NAME)
        self.store = Store(config.state_dir, audit=self.audit.record)
        self._transports: dict[str, Transport] = {}

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
        """Every file a service writes on a head-node goes to the audit trail."""
        write_atomic = transport.write_atomic

        @wraps(write_atomic)
        async def audited_write(
            path: str, data: bytes, *, mode: int = 0o644, backup: bool = False
        ) -> None:
            await write_atomic(path, data, mode=mode, backup=backup)
            self.audit.record("file.write", f"{transport.name}:{path}", f"{len(data)} bytes")

        transport.write_atomic = audited_write  # type: ignore[method-assign]
        return transport

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
        if name not in self.headnode_names:
            known = ", ".join(self.headnode_names)
            raise InvalidInput(f"unknown head-node '{name}' (configured: {known})")
        return name

    async def aclose(self) -> None:
        if "jobs" in self.__dict__:  # only when the job manager was ever created
            await self.jobs.close()
        transports, self._transports = self._transports, {}
        for transport in transports.values():
            await transport.close()

    def summary(self) -> Summary:
        """The counts the menu shows (reads every state file it counts: call off the loop)."""

        def count(data: dict, key: str) -> int:
            value = data.get(key)
            return len(value) if isinstance(value, list | dict) else 0

        inventory = self.store.load("inventory").data
        return Summary(
            hosts=count(inventory, "hosts"),
            networks=count(inventory, "networks"),
            images=count(self.store.load("images").data, "images"),
            chroots=count(self.store.load("chroots").data, "chroots"),
            running_jobs=sum(1 for r in self.jobs.list() if r.finished is None),
        )
