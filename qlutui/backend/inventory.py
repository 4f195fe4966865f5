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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from qlutui.errors import InvalidInput, QlutuiError, Refused
from qlutui.model.inventory import Inventory, check_unique
from qlutui.model.names import counted, shown
from qlutui.model.noderange import folded
from qlutui.model.tomlwrite import array_table_text

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.store import Snapshot

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
    token: str = field(default="", compare=False)  # inventory.toml's after the write, or ""

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
            done = self._edit_text(state, diff, said) if diff.only_hosts else None
            if done is None:
                done = self.store.edit("inventory", state.token, diff.write, summary=said)
            change = dataclasses.replace(change, token=done.token)
        return change

    def rename_network(
        self, state: InventoryState, old: str, new: str, *, dry_run: bool = False
    ) -> InventoryChange:
        """Network `old` named `new`: in inventory.toml (its table renamed in place, every
        host's IPs, MACs, aliases and override on it) and in the SSH files' `networks`
        settings. The generated files that name it differ until Write Files writes them.

        Both files or neither: sshfiles.toml is read (and refused if unreadable) before
        anything is written, and its edit is conflict checked against that read; when it
        still fails (another process edited or holds it), inventory.toml is put back."""
        from qlutui.backend.sshfiles import SSHFilesService
        from qlutui.model.inventory_edit import rename_network

        renamed = rename_network(state.inventory, old, new)
        summary = f"networks rename {old} {new}"
        change = self.apply(state, renamed, summary=summary, dry_run=True, renamed={old: new})
        if change.empty:
            return change
        ssh = SSHFilesService(self.cluster)
        files_state = ssh.load()
        files = [kind for kind, opts in files_state.options.items() if old in opts.networks]
        if not dry_run:
            before = self.store.history("inventory")
            done = self.apply(state, renamed, summary=summary, renamed={old: new})
            try:
                files = ssh.rename_network(old, new, files_state.token)
            except QlutuiError as exc:
                self._undo(done.token, before, exc)
        return dataclasses.replace(
            change, dry_run=dry_run, settings=[f"sshfiles.toml {kind}.networks" for kind in files]
        )

    def _undo(self, token: str, before: list[Path], failure: QlutuiError) -> NoReturn:
        """Put back the inventory.toml an edit replaced (the newest version in history, which
        was not there before it), then raise `failure` (its kind) saying so."""
        saved = [p for p in self.store.history("inventory") if p not in before]
        try:
            if not saved:
                raise QlutuiError("its previous version is not in the history")
            self.store.restore("inventory", token, saved[0])
        except QlutuiError as exc:
            raise QlutuiError(
                f"{failure}; inventory.toml was already changed and could not be put back"
                f" ({exc}): see `qlutui history`"
            ) from None
        raise type(failure)(f"{failure}: nothing changed") from None

    def _edit_text(self, state: InventoryState, diff: _Diff, summary: str) -> Snapshot | None:
        """Hosts only added, changed or removed: the file's text is edited where they are
        (each changed host's own block through tomlkit, the new ones written as text after
        the last host), the rest untouched: fast on 10,000 hosts. False when the file is not
        laid out for that or the result would not mean exactly this edit (then tomlkit):
        None then, else what was saved."""
        hosts = diff.hosts
        try:
            added = array_table_text("hosts", [hosts.new[name] for name in hosts.added])
        except TypeError:
            return None

        def expect(old: dict, new: dict) -> bool:
            entries = old.get("hosts", [])
            if not isinstance(entries, list) or any(not isinstance(e, dict) for e in entries):
                return False
            rest = {k: v for k, v in new.items() if k != "hosts"}
            if rest != {k: v for k, v in old.items() if k != "hosts"}:
                return False
            return new.get("hosts") == hosts.expected(entries)

        def change(text: str, data: dict) -> str | None:
            names = [e.get("name") for e in data.get("hosts", []) if isinstance(e, dict)]
            return _edited_hosts(text, names, hosts, added)

        return self.store.rewrite("inventory", state.token, change, expect, summary=summary)

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

    def expected(self, entries: list[dict]) -> list[dict]:
        """The raw `entries` (tomllib data) as `write` leaves them: removed ones gone, the
        first of a changed name updated (keys the model does not know kept), new ones last."""
        gone, changed, result, done = set(self.removed), set(self.changed), [], set()
        for entry in entries:
            name = self.renamed.get(entry.get("name"), entry.get("name"))
            if name in gone:
                continue
            if name in changed and name not in done:
                done.add(name)
                entry = _updated(entry, self.old[name], self.new[name])
            result.append(entry)
        return result + [self.new[name] for name in self.added]

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
        self.only_hosts = (
            not (self.default_keys or self.networks.added or self.networks.changed)
            and not self.networks.removed
        )

    def write(self, doc: Any) -> None:
        if self.default_keys:
            doc["default_host_keys"] = self.new_data["default_host_keys"]
        self.networks.write(doc, "networks")
        self.hosts.write(doc, "hosts")


def _updated(entry: dict, old: dict, new: dict) -> dict:
    """What `_update` makes of a table whose data is `entry`, as plain data."""
    result = dict(entry)
    for key, value in new.items():
        if old.get(key) != value:
            current = result.get(key)
            both = isinstance(value, dict) and isinstance(current, dict)
            result[key] = _updated(current, dict(current), value) if both else value
    for key in old.keys() - new.keys():
        result.pop(key, None)
    return result


_HEADER = re.compile(r"[ \t]*\[")  # a table header line (or an array's continuation: caught)
_HOSTS_ENTRY = re.compile(r"[ \t]*\[\[[ \t]*hosts[ \t]*\]\]")
_HOSTS_PART = re.compile(r"[ \t]*\[[ \t]*hosts[ \t]*\.")  # [hosts.ips]: the entry goes on


def _edited_hosts(text: str, names: list, hosts: _Entries, added: str) -> str | None:
    """`text` (whose hosts are `names`, in order) with the host edit done on it, or None
    when its hosts are not one run of `[[hosts]]` blocks (then tomlkit edits the document)."""
    import tomlkit

    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _HOSTS_ENTRY.match(line)]
    if not starts:
        if hosts.changed or hosts.removed:
            return None
        return text + ("\n" if text and not text.endswith("\n") else "") + added
    end = next(
        (
            j
            for j in range(starts[-1] + 1, len(lines))
            if _HEADER.match(lines[j]) and not _HOSTS_PART.match(lines[j])
        ),
        len(lines),
    )
    run = set(starts)
    if any(
        _HEADER.match(lines[j]) and not _HOSTS_PART.match(lines[j]) and j not in run
        for j in range(starts[0], end)
    ):
        return None  # another table between two hosts
    if len(starts) != len(names):
        return None
    blocks = ["".join(lines[a:b]) for a, b in zip(starts, [*starts[1:], end], strict=True)]
    gone, changed, done = set(hosts.removed), set(hosts.changed), set()
    kept = []
    for name, block in zip(names, blocks, strict=True):
        if name in gone:
            continue
        if name in changed and name not in done:  # the block alone through tomlkit
            done.add(name)
            doc = tomlkit.parse(block)
            _update(doc["hosts"][0], hosts.old[name], hosts.new[name])
            block = doc.as_string()
        kept.append(block)
    if kept and added and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    return "".join(lines[: starts[0]]) + "".join(kept) + added + "".join(lines[end:])


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
