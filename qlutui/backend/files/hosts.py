"""Hosts: the cluster's hosts table for name resolution (`/etc/dnsmasq.hosts` by default,
`[hosts_file]` in config.toml), made by model/hostsfile.py from the inventory and the admin's
header (`files.toml`, `[hosts] header`)."""

from __future__ import annotations

import tomlkit

from qlutui.backend.files.base import FileClass, FileSpec, Rendered
from qlutui.errors import InvalidInput, QlutuiError
from qlutui.model import hostsfile
from qlutui.model.inventory import Inventory

FILE = "hosts"


class HostsFile(FileClass):
    id = "hosts"
    title = "Hosts"

    def files(self) -> list[FileSpec]:
        config = self.cluster.config
        return [
            FileSpec(self.id, FILE, "Hosts table", config.hosts_destinations, config.hosts_mode)
        ]

    def render(self, files: list[FileSpec]) -> Rendered:
        store = self.cluster.store
        try:
            text: str | QlutuiError = hostsfile.render(
                Inventory.from_dict(store.load("inventory").data), self.header(None)
            )
        except QlutuiError as error:
            text = error
        return {spec.id: text for spec in files}

    def header(self, spec: FileSpec | None = None) -> str:
        header, _ = hostsfile.options_from_dict(self.cluster.store.load("files").data)
        return header

    def header_problems(self, spec: FileSpec | None, text: str) -> list[str]:
        return [str(p) for p in hostsfile.header_problems(text)]

    def save_header(self, spec: FileSpec | None, header: str) -> None:
        """Save the admin's part of the hosts table; InvalidInput names every bad line."""
        if problems := self.header_problems(spec, header):
            raise InvalidInput(f"hosts header not saved: {'; '.join(problems[:3])}")
        if header and not header.endswith("\n"):
            header += "\n"

        def mutate(doc: tomlkit.TOMLDocument) -> None:
            hostsfile.options_from_dict(doc.unwrap())  # a file it cannot read is not rewritten
            doc.setdefault("hosts", tomlkit.table())["header"] = tomlkit.string(
                header, multiline="\n" in header
            )

        self.cluster.store.update("files", mutate)
