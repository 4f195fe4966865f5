"""Hosts: the cluster's hosts table for name resolution (`/etc/dnsmasq.hosts` by default,
`[hosts_file]` in config.toml), made by model/hostsfile.py from the inventory and the admin's
header (`files.toml`, `[hosts] header`)."""

from __future__ import annotations

from qlutui.backend.files.base import FileClass, FileSpec, Rendered
from qlutui.errors import QlutuiError
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
            header, _ = hostsfile.options_from_dict(store.load("files").data)
            text: str | QlutuiError = hostsfile.render(
                Inventory.from_dict(store.load("inventory").data), header
            )
        except QlutuiError as error:
            text = error
        return {spec.id: text for spec in files}
