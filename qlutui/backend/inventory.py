"""The inventory service: the one owner of inventory.toml (networks and hosts).

Every edit is: `load`, compute the new Inventory with the pure functions of
`model/inventory_edit.py`, `apply`. `apply` validates the new inventory whole (each changed
entry by `Inventory.from_dict`'s rules, the whole cluster by `check_unique`, the images the
hosts name) and refuses it naming every problem the edit would bring; otherwise it writes
only the entries that differ into the tomlkit document (the admin's comments and layout
survive) through the store: lock, conflict check against the loaded token, atomic write,
history, audit. Problems the file already had are not the edit's: they do not block it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qlutui.errors import InvalidInput, Refused
from qlutui.model.inventory import Inventory, check_unique
from qlutui.model.names import counted, shown
from qlutui.model.noderange import folded
from qlutui.model.tomlwrite import array_table_text

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster

PROBLEMS_SHOWN = 50  # problems named in a refusal's one line before "... and N more"


@dataclass(frozen=True)
class InventoryState:
    """The inventory as loaded, with the store's conflict token ("" for a missing file)."""

    inventory: Inventory
    token: str


@dataclass(frozen=True)
class InventoryChange:
    """What an edit did, or would do on a dry run."""

    added: list[str] = field(default_factory=list)  # host names
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)  # networks added, changed or removed
    summary: str = ""  # what the edit was, as the caller said it
    dry_run: bool = False
    default_keys: bool = False  # default_host_keys changed
    settings: list[str] = field(default_factory=list)  # other settings that follow the edit

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed or self.networks) and not (
            self.default_keys
        )

    def text(self) -> str:
        """One line: "added 48 hosts (beo-[01-48])" ..., or "no change"."""
        parts = [
            f"{verb} {counted(len(names), 'host')} ({folded(names)})"
            for verb, names in (
                ("added", self.added),
                ("changed", self.changed),
                ("removed", self.removed),
            )
            if names
        ]
        if self.networks:
            parts.append(f"networks {', '.join(self.networks)}")
        if self.default_keys:
            parts.append("default host keys")
        if self.settings:
            parts.append(f"settings {', '.join(self.settings)}")
        text = "; ".join(parts) or "no change"
        return f"would have {text}" if self.dry_run and not self.empty else text

    def details(self, new: Inventory, limit: int = 120) -> list[str]:
        """What the edit does, for a preview: the hosts (folded, cut at `limit` characters)
        and each network's first and last IP among the hosts it adds or changes."""
        lines = [
            f"{verb}: {len(names)} ({folded(names, limit)})"
            for verb, names in (
                ("Add", self.added),
                ("Change", self.changed),
                ("Remove", self.removed),
            )
            if names
        ]
        touched = set(self.added) | set(self.changed)
        hosts = [h for h in new.hosts if h.name in touched]
        for network in new.networks:
            net = network.name
            if ips := [h.ips[net] for h in hosts if net in h.ips]:
                lines.append(f"  {net}: {_span(ips)}")
            if aliases := [" ".join(h.aliases[net]) for h in hosts if h.aliases.get(net)]:
                lines.append(f"  aliases on {net}: {_span(aliases)}")
        if overrides := [f"{h.override} (on {h.override_network})" for h in hosts if h.override]:
            lines.append(f"  hostname override: {_span(overrides)}")
        if any(h.image for h in hosts):
            images = list(dict.fromkeys(h.image or "<None>" for h in hosts))
            more = " ..." if len(images) > 3 else ""
            lines.append(f"  image: {', '.join(images[:3])}{more}")
        if self.networks:
            lines.append(f"Networks: {', '.join(self.networks)}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "changed": list(self.changed),
            "removed": list(self.removed),
            "networks": list(self.networks),
            "default_host_keys": self.default_keys,
            "settings": list(self.settings),
            "summary": self.summary,
            "dry_run": self.dry_run,
            "text": self.text(),
        }


def _span(values: list[str]) -> str:
    """The first and the last of a preview's values."""
    return values[0] if len(values) == 1 else f"{values[0]} .. {values[-1]}"


class InventoryRefused(Refused):
    """An edit the rules refuse; `problems` lists every one (the message names them too)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown_ = problems[:PROBLEMS_SHOWN]
        more = len(problems) - len(shown_)
        tail = f"; ... and {more} more" if more > 0 else ""
        super().__init__(f"refused, {counted(len(problems), 'problem')}: {'; '.join(shown_)}{tail}")


class InventoryService:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    def load(self) -> InventoryState:
        snap = self.store.load("inventory")
        return InventoryState(Inventory.from_dict(snap.data), snap.token)

    def image_names(self) -> list[str]:
        """The images hosts can be assigned to (images.toml), sorted."""
        images = self.store.load("images").data.get("images", {})
        return sorted(images) if isinstance(images, dict) else []

    def apply(
        self,
        state: InventoryState,
        new: Inventory,
        *,
        summary: str,
        dry_run: bool = False,
        renamed: dict[str, str] | None = None,
    ) -> InventoryChange:
        """Validate `new` whole and write what differs from `state` (nothing on a dry run).
        `renamed` (old -> new network name): those networks' tables are renamed in place.

        Raises InventoryRefused naming every problem the edit brings (nothing written),
        ConflictError when inventory.toml changed since `state` was loaded."""
        old_data, new_data = state.inventory.to_dict(), new.to_dict()
        diff = _Diff(old_data, new_data, renamed or {})
        change = InventoryChange(
            added=diff.hosts.added,
            changed=diff.hosts.changed,
            removed=diff.hosts.removed,
            networks=diff.networks.added + diff.networks.changed + diff.networks.removed,
            summary=summary,
            dry_run=dry_run,
            default_keys=diff.default_keys,
        )
        if change.empty:
            return change
        self._validate(state.inventory, new, diff)
        if not dry_run:
            said = f"{summary}: {change.text()}"
            if not (diff.only_adds_hosts and self._append_hosts(state, diff, said)):
                self.store.edit("inventory", state.token, diff.write, summary=said)
        return change

    def rename_network(
        self, state: InventoryState, old: str, new: str, *, dry_run: bool = False
    ) -> InventoryChange:
        """Network `old` named `new`: in inventory.toml (its table renamed in place, every
        host's IPs, MACs, aliases and override on it) and in the SSH files' `networks`
        settings. The generated files that name it differ until Write Files writes them."""
        from qlutui.backend.sshfiles import SSHFilesService
        from qlutui.model.inventory_edit import rename_network

        renamed = rename_network(state.inventory, old, new)
        summary = f"networks rename {old} {new}"
        change = self.apply(state, renamed, summary=summary, dry_run=True, renamed={old: new})
        if change.empty:
            return change
        ssh = SSHFilesService(self.cluster)
        files = ssh.network_users(old)
        if not dry_run:
            self.apply(state, renamed, summary=summary, renamed={old: new})
            files = ssh.rename_network(old, new)
        return dataclasses.replace(
            change, dry_run=dry_run, settings=[f"sshfiles.toml {kind}.networks" for kind in files]
        )

    def _append_hosts(self, state: InventoryState, diff: _Diff, summary: str) -> bool:
        """Hosts only added: their tables go after the file's text as it is (fast, no
        tomlkit), when that means just these hosts more; False when it does not."""
        added = [diff.hosts.new[name] for name in diff.hosts.added]
        try:
            text = array_table_text("hosts", added)
        except TypeError:
            return False

        def expect(old: dict, new: dict) -> bool:
            hosts = old.get("hosts", [])
            rest = {k: v for k, v in new.items() if k != "hosts"}
            if not isinstance(hosts, list) or rest != {
                k: v for k, v in old.items() if k != "hosts"
            }:
                return False
            return new.get("hosts") == [*hosts, *added]

        return (
            self.store.append("inventory", state.token, text, expect, summary=summary) is not None
        )

    def _validate(self, old: Inventory, new: Inventory, diff: _Diff) -> None:
        before = {str(p) for p in check_unique(old)}
        problems = [text for p in check_unique(new) if (text := str(p)) not in before]
        problems += self._image_problems(diff)
        if not problems:  # the rules check_unique has no part of: MACs, keys, image names ...
            entries = {
                "networks": [diff.networks.new[n] for n in diff.networks.touched],
                "hosts": [diff.hosts.new[n] for n in diff.hosts.touched],
                "default_host_keys": diff.new_data["default_host_keys"],
            }
            try:
                Inventory.from_dict(entries)
            except InvalidInput as exc:
                problems.append(str(exc))
        if problems:
            raise InventoryRefused(problems)

    def _image_problems(self, diff: _Diff) -> list[str]:
        """Images named by added hosts or newly assigned that images.toml does not define."""
        wanted: dict[str, list[str]] = {}
        for name in diff.hosts.touched:
            image = diff.hosts.new[name].get("image", "")
            if image and image != diff.hosts.old.get(name, {}).get("image", ""):
                wanted.setdefault(image, []).append(name)
        if not wanted:
            return []
        known = set(self.image_names())
        return [
            f"unknown image {shown(image)} for {folded(hosts)}"
            for image, hosts in wanted.items()
            if image not in known
        ]


class _Entries:
    """The entries of one array of tables (networks or hosts) before and after, by name."""

    def __init__(self, old: list[dict], new: list[dict], renamed: dict[str, str]) -> None:
        self.renamed = renamed  # old name -> new: the same entry, its name changed
        # by the entries' names after the edit; the first of equal names wins
        self.old = {renamed.get(e["name"], e["name"]): e for e in reversed(old)}
        self.new = {e["name"]: e for e in reversed(new)}
        self.added = [e["name"] for e in new if e["name"] not in self.old]
        self.removed = [e["name"] for e in old if renamed.get(e["name"], e["name"]) not in self.new]
        self.changed = [
            e["name"] for e in new if e["name"] in self.old and self.old[e["name"]] != e
        ]
        self.touched = self.changed + self.added

    def write(self, doc: Any, key: str) -> None:
        """Update the tomlkit array `doc[key]` in place: removed entries deleted, changed
        ones updated key by key, new ones appended."""
        import tomlkit
        from tomlkit.items import AoT

        if not (self.added or self.changed or self.removed):
            return
        fresh = key not in doc  # tomlkit puts a blank line between a new array's tables
        if fresh:
            doc[key] = tomlkit.aot()
        elif not isinstance(doc[key], AoT):  # `hosts = [{...}]`: tables cannot join it
            doc[key] = _aot([_table(entry) for entry in doc[key].unwrap()])
        array = doc[key]
        gone, changed, done = set(self.removed), set(self.changed), set()
        for i in reversed(range(len(array))):
            name = self.renamed.get(array[i].get("name"), array[i].get("name"))
            if name in gone:
                del array[i]
            elif name in changed and name not in done:
                _update(array[i], self.old[name], self.new[name])
                done.add(name)
        for i, name in enumerate(self.added):
            array.append(_table(self.new[name], blank=not fresh or i == len(self.added) - 1))


class _Diff:
    def __init__(self, old_data: dict, new_data: dict, renamed: dict[str, str]) -> None:
        self.new_data = new_data
        self.networks = _Entries(old_data["networks"], new_data["networks"], renamed)
        self.hosts = _Entries(old_data["hosts"], new_data["hosts"], {})
        self.default_keys = old_data["default_host_keys"] != new_data["default_host_keys"]
        self.only_adds_hosts = (
            bool(self.hosts.added)
            and not (self.hosts.changed or self.hosts.removed or self.default_keys)
            and not (self.networks.added or self.networks.changed or self.networks.removed)
        )

    def write(self, doc: Any) -> None:
        if self.default_keys:
            doc["default_host_keys"] = self.new_data["default_host_keys"]
        self.networks.write(doc, "networks")
        self.hosts.write(doc, "hosts")


def _update(table: Any, old: dict, new: dict) -> None:
    """Set the model keys of one tomlkit table that differ; keys the model does not know stay."""
    for key, value in new.items():
        if old.get(key) != value:
            _set(table, key, value)
    for key in old.keys() - new.keys():
        table.pop(key, None)


def _set(table: Any, key: str, value: object) -> None:
    from tomlkit.items import InlineTable

    current = table.get(key)
    if isinstance(value, dict) and isinstance(current, dict):  # a table: update in place
        _update(current, dict(current), value)
        if list(current) != list(value) and isinstance(current, InlineTable):
            table[key] = _inline(value)  # a network renamed: its key stays where it was
    elif isinstance(value, dict):
        table[key] = _inline(value)
    else:
        table[key] = value


def _inline(value: dict) -> Any:
    import tomlkit

    inline = tomlkit.inline_table()
    inline.update(value)
    return inline


def _aot(tables: list[Any]) -> Any:
    import tomlkit

    array = tomlkit.aot()
    for table in tables:
        array.append(table)
    return array


def _table(entry: dict, blank: bool = True) -> Any:
    import tomlkit

    table = tomlkit.table()
    for key, value in entry.items():
        table[key] = _inline(value) if isinstance(value, dict) else value
    if blank:  # a blank line before the next entry, as the admin would write
        table.add(tomlkit.nl())
    return table
