"""TEMPORARY STAND-IN for d1-inventory's InventoryService (the contract's exact signatures),
so d2-import's import can be built and tested before d1's branch is merged. The lead replaces
this whole file with d1's at merge; nothing here is meant to survive it.

It validates the new inventory whole and rewrites the `networks` and `hosts` arrays (d1's
version writes only the differences, keeping the admin's comments).
"""

from __future__ import annotations

from dataclasses import dataclass

import tomlkit

from qlutui.backend.cluster import Cluster
from qlutui.errors import Refused
from qlutui.model.inventory import Inventory, check_unique


@dataclass(frozen=True)
class InventoryState:
    inventory: Inventory
    token: str


@dataclass(frozen=True)
class InventoryChange:
    added: list[str]
    changed: list[str]
    removed: list[str]
    networks: list[str]
    summary: str = ""

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "networks": self.networks,
            "summary": self.summary,
        }


class InventoryService:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    def load(self) -> InventoryState:
        snap = self.store.load("inventory")
        return InventoryState(Inventory.from_dict(snap.data), snap.token)

    def apply(
        self, state: InventoryState, new: Inventory, *, summary: str, dry_run: bool = False
    ) -> InventoryChange:
        problems = check_unique(new)
        if problems:
            raise Refused(f"{summary}: refused: " + "; ".join(map(str, problems)))
        old = {h.name: h for h in state.inventory.hosts}
        names = {h.name for h in new.hosts}
        change = InventoryChange(
            added=[h.name for h in new.hosts if h.name not in old],
            changed=[h.name for h in new.hosts if h.name in old and old[h.name] != h],
            removed=[n for n in old if n not in names],
            networks=[
                n.name
                for n in (*new.networks, *state.inventory.networks)
                if n not in state.inventory.networks or n not in new.networks
            ],
            summary=summary,
        )
        if dry_run or not (change.added or change.changed or change.removed or change.networks):
            return change
        data = new.to_dict()

        def mutate(doc: tomlkit.TOMLDocument) -> None:
            for key in ("networks", "hosts"):
                array = tomlkit.aot()
                for entry in data[key]:
                    array.append(tomlkit.item(entry))
                doc[key] = array

        self.store.edit("inventory", state.token, mutate)
        return change
