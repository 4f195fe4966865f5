"""Hosts & Networks: the inventory, editable. A host table (every name and IP of every host per
network, the cursor on a host, Space selects) and a networks table (Tab switches); forms add
and edit hosts and networks; bulk actions (add, set image, renumber, remove) take a node range
or the selected hosts and show a preview (how many hosts, their names folded, first and last
IP per network, every clash) before they apply as one edit.

The screen holds no rules: every edit is computed by `model/inventory_edit.py` and checked
and written by `backend.inventory.InventoryService` (a dry run gives the preview), in thread
workers. The host table is virtual (`RowsView` renders only the visible lines), so 10,000
hosts load and filter in milliseconds; rows of hosts named in a problem are highlighted.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any, ClassVar, overload

from rich.segment import Segment
from rich.style import Style
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import Reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static

from qlutui.backend.inventory import InventoryChange, InventoryService, InventoryState
from qlutui.errors import ConflictError, QlutuiError
from qlutui.model import inventory_edit as edits
from qlutui.model.inventory import (
    KINDS,
    Inventory,
    Network,
    Problem,
    check_unique,
    host_names,
    mac_key,
)
from qlutui.model.names import counted
from qlutui.model.noderange import expand, folded
from qlutui.widgets.blocking import off_loop
from qlutui.widgets.dialogs import (
    Confirm,
    ErrorDialog,
    Field,
    FormDialog,
    submit_until_accepted,
)
from qlutui.widgets.filter_input import FilterInput, up_to_filter
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.state_watch import WatchedScreen, conflict_text

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster

COLUMNS = ("Host", "Network", "IP", "Names")
NETWORK_COLUMNS = ("Network", "Kind", "Role", "Suffix", "SSH", "CIDR", "Hosts")
Row = tuple[str, ...]
MARK = "* "  # before a selected host's first row
PREVIEW_HOSTS = 60  # characters of the folded host names in a preview
_STYLED = ("header", "marked", "cursor")  # the component classes, in render_line's order
FILTERS_KEPT = 64  # filter texts whose matches are kept for the next key


@dataclass(frozen=True)
class HostEntry:
    name: str
    rows: list[Row]  # (host, network, ip, names) per network; the host only on the first
    haystack: str  # lower-cased names and IPs, for the filter
    marked: bool  # named in a uniqueness problem


def host_entries(inv: Inventory, problems: Sequence[Problem]) -> list[HostEntry]:
    """One entry per host: a row for each network the host has an IP on."""
    # Problem owners read "<host> (<where>)"; the host is the first word.
    troubled = {owner.split(" ", 1)[0] for p in problems for owner in p.owners}
    entries = []
    for host in inv.hosts:
        rows: list[Row] = []
        for network in inv.networks:
            names = host_names(inv, host, network)
            if names:
                first = "" if rows else host.name
                rows.append((first, network.name, host.ips[network.name], " ".join(names)))
        if not rows:  # a host with no IP on a known network still gets its line
            rows.append((host.name, "", "", ""))
        words = [host.name, *host.ips.values(), *(r[3] for r in rows)]
        entries.append(HostEntry(host.name, rows, " ".join(words).lower(), host.name in troubled))
    return entries


def group_starts(groups: Sequence[HostEntry]) -> list[int]:
    """Where each group's rows start in the table, and the row count last."""
    return list(accumulate((len(g.rows) for g in groups), initial=0))


def network_entries(inv: Inventory) -> list[HostEntry]:
    """One single-row group per network, for the networks table."""
    rows = [
        (
            n.name,
            n.kind,
            "primary" if n.primary else "slave",
            n.suffix or "-",
            "yes" if n.ssh else "no",
            n.cidr or "-",
            str(len(edits.network_users(inv, n.name))),
        )
        for n in inv.networks
    ]
    return [HostEntry(row[0], [row], "", False) for row in rows]


def _widths(rows: Sequence[Row]) -> list[int]:
    return [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]


def _problem(check: Callable[[str], object], value: str) -> str | None:
    """A form validator from a checking function that raises QlutuiError."""
    try:
        check(value)
    except QlutuiError as exc:
        return str(exc)
    return None


def _ip_field_problem(value: str) -> str | None:
    value = value.strip()
    if value in ("", edits.AUTO):
        return None
    return _problem(edits.parse_ip, value)


class _Flat(Sequence[Any]):
    """The rows (or their marks) of a list of groups as one flat, read-only sequence: the
    groups stay as they are, a row is found by bisecting the groups' starts."""

    def __init__(self, view: RowsView, marks: bool = False) -> None:
        self.view, self.marks = view, marks

    def __len__(self) -> int:
        return self.view.row_count

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        view = self.view
        group = bisect_right(view.starts, index) - 1
        entry = view.groups[group]
        return entry.marked if self.marks else entry.rows[index - view.starts[group]]


class RowsView(ScrollView, can_focus=True):
    """A table drawn line by line, in groups of rows (a host with its networks): only the
    visible lines cost anything and a new set of groups costs one pass over their sizes, so
    10,000 hosts show and filter in milliseconds. The cursor is on a group; groups whose
    names are in `chosen` carry the selection mark."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rows-view--header",
        "rows-view--marked",
        "rows-view--cursor",
    }
    # Its size (a new set of groups) asks for no layout of the whole screen, most of a filter
    # key's cost: the scrollbars are updated in place, as Textual does when no layout is
    # needed, and ask for a layout themselves when one appears or goes.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)
    # No descriptions: `?` lists these under "Moving around", as on every other screen, not
    # first among the Hosts screen's own keys (the ids keep them remappable)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", show=False, id="rows.up"),
        Binding("down", "move(1)", show=False, id="rows.down"),
        Binding("pageup", "page(-1)", show=False, id="rows.page_up"),
        Binding("pagedown", "page(1)", show=False, id="rows.page_down"),
        Binding("home", "jump(0)", show=False, id="rows.home"),
        Binding("end", "jump(-1)", show=False, id="rows.end"),
    ]

    def __init__(self, columns: Row, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = columns
        self.groups: Sequence[HostEntry] = []
        self.starts: list[int] = [0]  # the first row of each group, then the row count
        self.chosen: AbstractSet[str] = frozenset()  # names of the selected groups
        self.cursor = 0  # group index
        self.widths = [len(c) for c in columns]
        self.rows: Sequence[Row] = _Flat(self)
        self._styles: tuple[Style, ...] | None = None  # until the CSS changes
        self.marked: Sequence[bool] = _Flat(self, marks=True)

    @property
    def row_count(self) -> int:
        return self.starts[-1]

    def set_groups(
        self,
        groups: Sequence[HostEntry],
        widths: Sequence[int],
        starts: list[int] | None = None,
        chosen: AbstractSet[str] = frozenset(),
        cursor: int = 0,
    ) -> None:
        """Show `groups` (`starts`: their `group_starts`, when already worked out)."""
        self.groups = groups
        self.starts = group_starts(groups) if starts is None else starts
        self.chosen = chosen
        self.widths = [max(w, len(c)) for w, c in zip(widths, self.columns, strict=True)]
        width = len(MARK) + sum(self.widths) + 2 * len(self.widths)
        self.virtual_size = Size(width, self.row_count + 1)
        self.cursor = max(0, min(cursor, len(groups) - 1))
        self.scroll_to(0, 0, animate=False)
        self._show_cursor()
        self.refresh()

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)

    def set_chosen(self, chosen: AbstractSet[str]) -> None:
        self.chosen = chosen
        self.refresh()

    def _span(self, group: int) -> tuple[int, int]:
        return self.starts[group], self.starts[group + 1]

    def _show_cursor(self) -> None:
        if not self.groups:
            return
        start, end = self._span(self.cursor)
        height = max(1, self.size.height - 1)  # the header line stays on top
        top = self.scroll_offset.y
        if start < top:
            self.scroll_to(y=start, animate=False)
        elif end > top + height:
            self.scroll_to(y=min(start, end - height), animate=False)

    def move_to(self, group: int) -> None:
        if not self.groups:
            return
        self.cursor = max(0, min(group, len(self.groups) - 1))
        self._show_cursor()
        self.refresh()

    def action_move(self, step: int) -> None:
        if step < 0 and self.cursor == 0 and up_to_filter(self):
            return
        self.move_to(self.cursor + step)

    def to_first_row(self) -> None:
        self.move_to(0)

    def action_page(self, step: int) -> None:
        rows = max(1, self.size.height - 2)
        row = self.starts[self.cursor] + step * rows if self.groups else 0
        self.move_to(bisect_right(self.starts, max(0, row)) - 1)

    def action_jump(self, group: int) -> None:
        self.move_to(group if group >= 0 else len(self.groups) - 1)

    def notify_style_update(self) -> None:
        self._styles = None  # the CSS changed (a theme, the focus): looked up again
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if self._styles is None:  # each lookup walks the CSS: once, not once per line
            self._styles = (
                self.rich_style,
                *(self.get_component_rich_style(f"rows-view--{c}") for c in _STYLED),
            )
        base, header, marked, cursor = self._styles
        mark = " " * len(MARK)
        if y == 0:  # the header stays on top
            cells, style = self.columns, header
        else:
            index = scroll_y + y - 1
            if index >= self.row_count:
                return Strip.blank(width, base)
            group = bisect_right(self.starts, index) - 1
            entry = self.groups[group]
            cells = entry.rows[index - self.starts[group]]
            style = marked if entry.marked else base
            if group == self.cursor:
                style = style + cursor
            if index == self.starts[group] and entry.name in self.chosen:
                mark = MARK
        text = mark + "  ".join(c.ljust(w) for c, w in zip(cells, self.widths, strict=True))
        text = text.ljust(scroll_x + width)  # the cursor's style runs to the right edge
        return Strip([Segment(text, style)]).crop_extend(scroll_x, scroll_x + width, base)


class HostsScreen(WatchedScreen):
    TITLE = "Hosts"
    # Most used first: the key bar shows what fits at 80 columns (through ^r Reload) and
    # leaves out the rest whole; `?` lists them all. The filter line above says `/`.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "switch('networks')", "Networks", id="hosts.switch"),
        Binding("tab", "switch('hosts')", "Hosts", id="hosts.switch_back"),
        Binding("a", "add", "Add", id="hosts.add"),
        Binding("e,enter", "edit", "Edit", id="hosts.edit"),
        Binding("d", "delete", "Delete", id="hosts.delete"),
        Binding("m", "import_files", "Import", id="hosts.import"),
        Binding("n", "rename_network", "Rename", id="hosts.rename_network"),
        Binding("ctrl+r", "reload", "Reload", id="hosts.reload"),
        Binding("space", "select", "Select", id="hosts.select"),
        Binding("i", "set_image", "Image", id="hosts.image"),
        Binding("u", "renumber", "Renumber", id="hosts.renumber"),
        Binding("k", "scan_keys", "Scan keys", id="hosts.scan_keys"),
        Binding("slash", "filter", "Filter", id="hosts.filter"),
    ]
    WATCHED = ("inventory", "images")
    HOST_ONLY = frozenset({"select", "set_image", "renumber", "filter", "scan_keys"})
    NETWORK_ONLY = frozenset({"rename_network"})

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.store)
        self.cluster = cluster
        self.service = InventoryService(cluster)
        self.state: InventoryState | None = None
        self._first_load = asyncio.Event()
        self.images: list[str] = []
        self.entries: list[HostEntry] = []
        self.shown: list[HostEntry] = []  # the entries the filter lets through
        self.selected: set[str] = set()
        self.widths: list[int] = [len(c) for c in COLUMNS]
        # filter text -> (the entries it lets through, their group_starts): a key typed
        # narrows the longest cached text it contains, a key deleted finds its text here
        self._found: dict[str, tuple[list[HostEntry], list[int]]] = {}
        self.matching = 0
        self.networks_shown = False

    def compose(self) -> ComposeResult:
        yield Static("qlutui - Hosts", classes="title-bar")
        yield Static(id="hosts-problems", markup=False)
        yield FilterInput(
            rows="hosts-table", placeholder="/ filter by name or IP", id="hosts-filter"
        )
        yield RowsView(COLUMNS, id="hosts-table")
        networks = RowsView(NETWORK_COLUMNS, id="networks-table")
        networks.display = False  # before the mount: hiding it after costs another layout
        yield networks
        yield Static("Loading the inventory ...", id="hosts-status", markup=False)
        yield KeysFooter()

    @property
    def table(self) -> RowsView:
        return self.query_one("#hosts-table", RowsView)

    @property
    def networks_table(self) -> RowsView:
        return self.query_one("#networks-table", RowsView)

    def on_mount(self) -> None:
        self.table.focus()
        # after the first paint: the load's thread holds the GIL for most of its time
        self.call_after_refresh(self.action_reload)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "switch":  # Tab offers the table that is not shown
            return parameters == (("hosts",) if self.networks_shown else ("networks",))
        if action in self.NETWORK_ONLY:
            return self.networks_shown
        return not (action in self.HOST_ONLY and self.networks_shown)

    # -- loading and showing ---------------------------------------------------------

    def action_reload(self) -> None:
        self._load()

    async def _loaded_state(self) -> InventoryState | None:
        """The inventory once the first load is done: a key typed with the one that opened
        the screen (a burst: `ha`) acts on it instead of finding nothing yet. The load starts
        after the first paint, so the type-ahead cannot see it as the opening key's work."""
        await self._first_load.wait()
        return self.state

    @work(thread=True, exclusive=True, group="hosts-load")
    def _load(self) -> None:
        self.files.mark()
        try:
            state = self.service.load()
            images = self.service.image_names()
            problems = check_unique(state.inventory)
            entries = host_entries(state.inventory, problems)
            widths = _widths([COLUMNS, *(row for e in entries for row in e.rows)])
            found = {"": (entries, group_starts(entries))}
        except QlutuiError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._loaded, state, images, problems, found, widths)

    def _failed(self, message: str) -> None:
        self._first_load.set()
        self._show_problems([message], "Cannot read the inventory")
        self.query_one("#hosts-status", Static).update("")

    def _loaded(
        self,
        state: InventoryState,
        images: list[str],
        problems: list[Problem],
        found: dict[str, tuple[list[HostEntry], list[int]]],
        widths: list[int],
    ) -> None:
        self.state, self.images, self._found, self.widths = state, images, found, widths
        self._first_load.set()
        self.entries = found[""][0]
        if self.selected:
            self.selected &= {e.name for e in self.entries}
        heading = f"{counted(len(problems), 'uniqueness problem')} in inventory.toml:"
        self._show_problems([str(p) for p in problems], heading)
        networks = network_entries(state.inventory)
        self.networks_table.set_groups(
            networks,
            _widths([NETWORK_COLUMNS, *(n.rows[0] for n in networks)]),
            cursor=self.networks_table.cursor,
        )
        self.apply_filter(self.query_one("#hosts-filter", Input).value, keep_cursor=True)

    def _show_problems(self, problems: list[str], heading: str) -> None:
        panel = self.query_one("#hosts-problems", Static)
        panel.update("\n".join([heading, *problems]) if problems else "")
        panel.set_class(bool(problems), "-shown")

    @on(Input.Changed, "#hosts-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.apply_filter(event.value)

    def apply_filter(self, text: str, keep_cursor: bool = False) -> None:
        """Show the hosts whose names or IPs contain `text` (all hosts when empty)."""
        current = self.current_host() if keep_cursor else None
        needle = text.strip().lower()
        entries, starts = self._matches(needle)
        self.shown = entries
        cursor = 0
        if current is not None:
            cursor = next((i for i, e in enumerate(entries) if e.name == current), 0)
        self.table.set_groups(entries, self.widths, starts, self.selected, cursor)
        self.matching = len(entries)
        self._status(needle)

    def _matches(self, needle: str) -> tuple[list[HostEntry], list[int]]:
        """The entries whose haystack contains `needle`, and their starts (cached)."""
        if (known := self._found.get(needle)) is not None:
            return known
        # what a shorter text inside `needle` let through holds every match of `needle`
        base = max((t for t in self._found if t in needle), key=len, default="")
        entries = [e for e in self._found.get(base, ([], []))[0] if needle in e.haystack]
        if len(self._found) > FILTERS_KEPT:
            self._found = {"": self._found[""]}
        self._found[needle] = entries, group_starts(entries)
        return self._found[needle]

    def _status(self, needle: str = "") -> None:
        total = len(self.entries)
        if self.networks_shown:
            text = f"{counted(self.networks_table.row_count, 'network')} | tab: hosts"
        else:
            scope = f"{self.matching} of {total} hosts" if needle else f"{total} hosts"
            lines = self.table.row_count
            chosen = f", {len(self.selected)} selected" if self.selected else ""
            text = f"{scope}, {lines} rows{chosen} | tab: networks"
        # one line of fixed height: no layout pass of the screen on every filter key
        self.query_one("#hosts-status", Static).update(text, layout=False)

    def current_host(self) -> str | None:
        table = self.table
        return self.shown[table.cursor].name if self.shown else None

    def current_network(self) -> Network | None:
        if self.state is None or not self.state.inventory.networks:
            return None
        return self.state.inventory.networks[self.networks_table.cursor]

    def _targets(self) -> str:
        """The hosts a bulk action starts from: the selection, else the host under the cursor."""
        if self.selected:
            return folded((e.name for e in self.entries if e.name in self.selected), 10**6)
        return self.current_host() or ""

    # -- keys ------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterInput).start()

    def action_switch(self, table: str) -> None:
        self.networks_shown = table == "networks"
        self.table.display = not self.networks_shown
        self.query_one("#hosts-filter").display = not self.networks_shown
        self.networks_table.display = self.networks_shown
        (self.networks_table if self.networks_shown else self.table).focus()
        self._status(self.query_one("#hosts-filter", Input).value.strip())
        self.refresh_bindings()

    def close_panel(self) -> bool:
        """Escape (`App.action_back`): from the networks table back to the hosts first."""
        if not self.networks_shown:
            return False
        self.action_switch("hosts")
        return True

    def action_select(self) -> None:
        name = self.current_host()
        if name is None:
            return
        self.selected ^= {name}
        self.table.set_chosen(self.selected)
        self.table.action_move(1)
        self._status(self.query_one("#hosts-filter", Input).value.strip())

    def action_add(self) -> None:
        if self.networks_shown:
            self._network_form(None)
        else:
            self._add_hosts()

    def action_edit(self) -> None:
        if self.networks_shown:
            if network := self.current_network():
                self._network_form(network)
        elif name := self.current_host():
            self._edit_host(name)

    def action_delete(self) -> None:
        if self.networks_shown:
            if network := self.current_network():
                self._delete_network(network)
        else:
            self._remove_hosts()

    # -- edits -----------------------------------------------------------------------

    async def _edit(
        self, compute: Callable[[Inventory], Inventory], summary: str, question: str
    ) -> bool:
        """Preview an edit (a dry run, off the event loop), ask, then apply it. False when
        the service refused it (shown): a form it came from opens again, as it was filled."""
        state = self.state
        if state is None:
            return True

        def dry_run() -> tuple[Inventory, InventoryChange]:
            new = compute(state.inventory)
            return new, self.service.apply(state, new, summary=summary, dry_run=True)

        try:
            new, change = await off_loop(dry_run)
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(_lines(exc), title="Refused"))
            return False
        if change.empty:
            self.notify("No change")
            return True
        if not await self.app.push_screen_wait(
            Confirm(question, detail="\n".join(change.details(new, PREVIEW_HOSTS)))
        ):
            return True
        try:
            done = await off_loop(self.service.apply, state, new, summary=summary, dry_run=False)
        except ConflictError as exc:
            self.notify(conflict_text(exc), severity="error", timeout=8)
            self.action_reload()
            return True
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(_lines(exc), title="Refused"))
            return False
        self.notify(done.text()[:1].upper() + done.text()[1:])
        self.selected -= set(done.removed)
        self.action_reload()
        return True

    def _range_field(self, value: str) -> Field:
        return Field.input(
            "names",
            "Hosts",
            value,
            validate=lambda v: _problem(expand, v),
            placeholder="a node range: beo-[01-48]",
        )

    def _name_fields(self, nets: Sequence[Network]) -> list[Field]:
        """Aliases per network and the hostname override, `{name}` patterns allowed."""
        fields = [
            Field.input(
                f"aliases{i}",
                f"Aliases {n.name}",
                placeholder=f"extra names, e.g. {edits.NAME}-a",
                validate=_names_problem,
                help=_aliases_help(n.name),
            )
            for i, n in enumerate(nets)
        ]
        return [
            *fields,
            Field.input(
                "override", "Override", placeholder=f"hostname override, e.g. {edits.NAME}-ext"
            ),
            Field.select(
                "override_network", "Override on", [n.name for n in nets], None, allow_none=True
            ),
        ]

    def _image_field(self, value: str = "") -> Field:
        return Field.select(
            "image",
            "Image",
            self.images,
            value if value in self.images else None,
            allow_none=True,
        )

    @work(group="hosts-action", exclusive=True)
    async def _add_hosts(self) -> None:
        if await self._loaded_state() is None:
            return
        inv = self.state.inventory
        if not inv.networks:
            self.notify("Add a network first (tab, then a)", severity="warning")
            return
        primary = inv.primary
        fields = [self._range_field("")]
        for i, net in enumerate(inv.networks):
            start = edits.AUTO if net.primary else ""
            fields.append(
                Field.input(
                    f"ip{i}",
                    f"IP {net.name}",
                    start,
                    validate=_ip_field_problem,
                    placeholder="a start IP, auto, or empty",
                    help=f"The first host's IP on {net.name}, the next ones count up from it",
                )
            )
        fields.append(Field.input("mac", f"MAC {primary.name}", validate=_mac_problem))
        fields.append(self._image_field())
        fields += self._name_fields(inv.networks)
        detail = (
            f"Several hosts are numbered from the start IP; auto on {primary.name} takes the"
            " next free address, on a slave network the primary IP's host part. In aliases"
            f" and the override, {edits.NAME} is each host's name."
        )
        form = FormDialog("Add hosts", fields, detail=detail, validate=_one_mac)
        await submit_until_accepted(self.app, form, self._add_from)

    async def _add_from(self, values: dict[str, Any]) -> bool:
        """The Add hosts form's edit; False when it was refused."""
        inv = self.state.inventory
        primary = inv.primary
        names = expand(values["names"])
        host = edits.HostFields(
            ips={
                n.name: values[f"ip{i}"].strip()
                for i, n in enumerate(inv.networks)
                if values[f"ip{i}"].strip()
            },
            macs={primary.name: values["mac"].strip()} if values["mac"].strip() else {},
            image=values["image"] or "",
            aliases={
                n.name: words
                for i, n in enumerate(inv.networks)
                if (words := values[f"aliases{i}"].split())
            },
            override=values["override"].strip() or None,
            override_network=values["override_network"] or None,
        )
        return await self._edit(
            lambda inv: edits.add_hosts(inv, names, host),
            "hosts add (TUI)",
            f"Add {counted(len(names), 'host')} {folded(names, PREVIEW_HOSTS)}?",
        )

    @work(group="hosts-action", exclusive=True)
    async def _edit_host(self, name: str) -> None:
        if await self._loaded_state() is None:
            return
        inv = self.state.inventory
        host = next(h for h in inv.hosts if h.name == name)
        nets = inv.networks
        primary = next((n for n in nets if n.primary), None)
        fields = [
            Field.input(
                f"ip{i}",
                f"IP {n.name}",
                host.ips.get(n.name, ""),
                validate=_ip_field_problem,
                help=f"The host's IP on {n.name}; auto works it out; empty: none there",
            )
            for i, n in enumerate(nets)
        ]
        if primary is not None:
            mac = host.macs.get(primary.name, "")
            fields.append(Field.input("mac", f"MAC {primary.name}", mac, validate=_mac_problem))
        fields += [
            Field.input(
                f"aliases{i}",
                f"Aliases {n.name}",
                " ".join(host.aliases.get(n.name, [])),
                help=_aliases_help(n.name),
            )
            for i, n in enumerate(nets)
        ]
        fields += [
            Field.input("override", "Override", host.override, placeholder="hostname override"),
            Field.select(
                "override_network",
                "Override on",
                [n.name for n in nets],
                host.override_network or None,
                allow_none=True,
            ),
            self._image_field(host.image),
            Field.text("keys", "Host keys", "\n".join(host.host_keys)),
        ]
        form = FormDialog(f"Host {name}", fields)
        await submit_until_accepted(self.app, form, lambda values: self._save_host(name, values))

    async def _save_host(self, name: str, values: dict[str, Any]) -> bool:
        """The host form's edit; False when it was refused."""
        nets = self.state.inventory.networks
        primary = next((n for n in nets if n.primary), None)
        macs = {primary.name: values["mac"].strip()} if primary is not None else {}
        change = edits.HostFields(
            ips={n.name: values[f"ip{i}"].strip() for i, n in enumerate(nets)},
            macs=macs,
            aliases={n.name: values[f"aliases{i}"].split() for i, n in enumerate(nets)},
            override=values["override"].strip(),
            override_network=values["override_network"] or "",
            image=values["image"] or "",
            host_keys=[line.strip() for line in values["keys"].splitlines() if line.strip()],
        )
        return await self._edit(
            lambda inv: edits.set_hosts(inv, [name], change),
            "hosts set (TUI)",
            f"Save host {name}?",
        )

    @work(group="hosts-action", exclusive=True)
    async def action_set_image(self) -> None:
        if await self._loaded_state() is None:
            return
        if not self.images:
            self.notify(
                "No image defined yet: create one in Qlustar Images (i on the menu) first",
                severity="warning",
            )
            return
        fields = [self._range_field(self._targets()), self._image_field()]

        async def set_image(values: dict[str, Any]) -> bool:
            names, image = expand(values["names"]), values["image"] or ""
            return await self._edit(
                lambda inv: edits.set_hosts(inv, names, edits.HostFields(image=image)),
                "hosts set image (TUI)",
                f"Set image {image or '<None>'} on {counted(len(names), 'host')}?",
            )

        await submit_until_accepted(
            self.app, FormDialog("Set the image of hosts", fields), set_image
        )

    @work(group="hosts-action", exclusive=True)
    async def action_import_files(self) -> None:
        """Import hosts files, known_hosts and ethers (local or HEADNODE:PATH): what the
        import would do is shown first, then applied as one edit (`qlutui hosts import`)."""
        from qlutui.backend.inventory_import import import_files

        first = self.cluster.headnode_names[0]
        default = f"{first}:/etc/dnsmasq.hosts {first}:/etc/ssh/ssh_known_hosts"
        field = Field.input("paths", "Files", default, placeholder="PATH or HEADNODE:PATH ...")

        async def import_paths(values: dict[str, Any]) -> bool:
            if not (paths := values["paths"].split()):
                return True
            try:
                preview = await import_files(self.cluster, paths, dry_run=True)
            except QlutuiError as exc:  # a missing file, an unknown head-node: fix the list
                await self.app.push_screen_wait(ErrorDialog(str(exc), title="Cannot import"))
                return False
            detail = "\n".join(preview.lines())  # every host and line: the dialog scrolls
            if preview.plan.clashes or not preview.plan.changes:
                title = "Import refused" if preview.plan.clashes else "Nothing to import"
                await self.app.push_screen_wait(ErrorDialog(detail, title=title))
                return not preview.plan.clashes
            if not await self.app.push_screen_wait(Confirm("Import these hosts?", detail)):
                return True
            try:
                done = await import_files(self.cluster, paths)
            except QlutuiError as exc:
                await self.app.push_screen_wait(ErrorDialog(str(exc), title="Not imported"))
                return False
            self.notify(done.lines(listed=1)[0])
            self._load()
            return True

        await submit_until_accepted(self.app, FormDialog("Import hosts", [field]), import_paths)

    @work(group="hosts-action", exclusive=True)
    async def action_renumber(self) -> None:
        if await self._loaded_state() is None or not self.state.inventory.networks:
            return
        inv = self.state.inventory
        targets = self._targets()
        first = next((h for h in inv.hosts if targets and h.name == expand(targets)[0]), None)
        fields = [self._range_field(targets)]
        for i, net in enumerate(inv.networks):
            start = first.ips.get(net.name, "") if first and net.primary else ""
            if not net.primary and first and net.name in first.ips:
                start = edits.AUTO
            fields.append(
                Field.input(
                    f"ip{i}",
                    f"IP {net.name}",
                    start,
                    validate=_ip_field_problem,
                    placeholder="a start IP, auto, or empty: unchanged",
                    help=f"The first host's new IP on {net.name}, the next ones count up",
                )
            )

        async def renumber(values: dict[str, Any]) -> bool:
            names = expand(values["names"])
            ips = {
                n.name: values[f"ip{i}"].strip()
                for i, n in enumerate(inv.networks)
                if values[f"ip{i}"].strip()
            }
            return await self._edit(
                lambda inv: edits.set_hosts(inv, names, edits.HostFields(ips=ips)),
                "hosts renumber (TUI)",
                f"Renumber {counted(len(names), 'host')}?",
            )

        await submit_until_accepted(self.app, FormDialog("Renumber IPs", fields), renumber)

    @work(group="hosts-action", exclusive=True)
    async def action_scan_keys(self) -> None:
        """Fetch the host keys of hosts by a key scan (fingerprints shown to confirm)."""
        from qlutui.backend.sshfiles import SSHFilesService
        from qlutui.screens.ssh_configs import port_problem, scan_and_store

        form = FormDialog(
            "Scan host keys",
            [
                self._range_field(self._targets()),
                Field.input("port", "SSH port", "22", validate=port_problem),
            ],
            detail="Connects to each host's primary-network IP and reads the keys it offers.",
        )
        service = SSHFilesService(self.cluster)

        async def scan(values: dict[str, Any]) -> bool:
            stored = await scan_and_store(self, service, values["names"], int(values["port"]))
            if stored:
                self.action_reload()
            return stored is not None

        await submit_until_accepted(self.app, form, scan)

    @work(group="hosts-action", exclusive=True)
    async def _remove_hosts(self) -> None:
        if await self._loaded_state() is None:
            return

        async def remove(values: dict[str, Any]) -> bool:
            names = expand(values["names"])
            return await self._edit(
                lambda inv: edits.remove_hosts(inv, names),
                "hosts rm (TUI)",
                f"Really remove {counted(len(names), 'host')}?",
            )

        form = FormDialog("Remove hosts", [self._range_field(self._targets())])
        await submit_until_accepted(self.app, form, remove)

    @work(group="hosts-action", exclusive=True)
    async def _network_form(self, network: Network | None) -> None:
        if await self._loaded_state() is None:
            return
        old = network or Network("", "ether", primary=not self.state.inventory.networks)
        fields = [] if network else [Field.input("name", "Name", validate=_name_problem)]
        fields += [
            Field.select("kind", "Kind", KINDS, old.kind),
            Field.select("role", "Role", [("primary (boot)", True), ("slave", False)], old.primary),
            Field.input("cidr", "CIDR", old.cidr, placeholder="e.g. 192.168.53.0/24"),
            Field.input("suffix", "Suffix", old.suffix, placeholder="slave: beo-01-<suffix>"),
            Field.select("ssh", "SSH files", [("included", True), ("left out", False)], old.ssh),
            Field.select(
                "hosts_file",
                "Hosts table",
                [("included", True), ("left out", False)],
                old.hosts_file,
            ),
        ]
        title = f"Network {network.name}" if network else "New network"
        form = FormDialog(title, fields)
        await submit_until_accepted(
            self.app, form, lambda values: self._save_network(network, values)
        )

    async def _save_network(self, network: Network | None, values: dict[str, Any]) -> bool:
        """The network form's edit; False when it was refused."""
        changes = {
            "kind": values["kind"],
            "primary": values["role"],
            "cidr": values["cidr"].strip(),
            "suffix": values["suffix"].strip(),
            "ssh": values["ssh"],
            "hosts_file": values["hosts_file"],
        }
        if network is None:
            new = Network(name=values["name"].strip(), **changes)
            return await self._edit(
                lambda inv: edits.add_network(inv, new),
                "networks add (TUI)",
                f"Add network {new.name}?",
            )
        return await self._edit(
            lambda inv: edits.set_network(inv, network.name, **changes),
            "networks set (TUI)",
            f"Save network {network.name}?",
        )

    @work(group="hosts-action", exclusive=True)
    async def action_rename_network(self) -> None:
        """Rename the network under the cursor: hosts and the SSH files' settings follow."""
        state, network = self.state, self.current_network()
        if state is None or network is None:
            return
        field = Field.input("name", "New name", network.name, validate=_name_problem)
        form = FormDialog(f"Rename network {network.name}", [field])
        await submit_until_accepted(
            self.app, form, lambda values: self._rename_network(state, network.name, values)
        )

    async def _rename_network(
        self, state: InventoryState, old: str, values: dict[str, Any]
    ) -> bool:
        """The rename form's edit, previewed then applied; False when it was refused."""
        new = values["name"].strip()
        rename = self.service.rename_network
        try:
            change = await off_loop(rename, state, old, new, dry_run=True)
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(_lines(exc), title="Refused"))
            return False
        if change.empty:
            self.notify("No change")
            return True
        detail = [
            f"Hosts following: {len(change.changed)} ({folded(change.changed, PREVIEW_HOSTS)})",
            *(f"Setting: {s}" for s in change.settings),
            "The generated files name it: Write Files updates them.",
        ]
        if not await self.app.push_screen_wait(
            Confirm(f"Rename network {old} to {new}?", detail="\n".join(detail))
        ):
            return True
        try:
            done = await off_loop(rename, state, old, new)
        except ConflictError as exc:
            self.notify(conflict_text(exc), severity="error", timeout=8)
            self.action_reload()
            return True
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(_lines(exc), title="Refused"))
            return False
        self.notify(f"Renamed network {old} to {new}: {done.text()}")
        self.action_reload()
        return True

    @work(group="hosts-action", exclusive=True)
    async def _delete_network(self, network: Network) -> None:
        if await self._loaded_state() is None:
            return
        users = edits.network_users(self.state.inventory, network.name)
        question = f"Really remove network {network.name}?"
        if users:  # the preview names them: their IPs, MACs, aliases, override on it go
            question = (
                f"Network {network.name} is used by {counted(len(users), 'host')}: remove it and"
                " what they have on it?"
            )
        await self._edit(
            lambda inv: edits.remove_network(inv, network.name, drop_ips=bool(users)),
            "networks rm (TUI)",
            question,
        )


def _lines(exc: QlutuiError) -> str:
    """A refusal with every problem on its own line."""
    problems = getattr(exc, "problems", None)
    return "\n".join(problems) if problems else str(exc)


def _aliases_help(network: str) -> str:
    return f"Extra names of the host on {network}, separated by spaces; may be empty"


def _mac_problem(value: str) -> str | None:
    if value.strip() and mac_key(value.strip()) is None:
        return "not a MAC address like aa:bb:cc:dd:ee:ff"
    return None


def _one_mac(values: dict[str, Any]) -> str | None:
    several = len(expand(values["names"])) > 1
    if values["mac"].strip() and several:
        return "a MAC is for one host: leave it empty for a range"
    override = values["override"].strip()
    if override and several and edits.NAME not in override:
        return f"one override for several hosts: make it a pattern with {edits.NAME}"
    if override and not values["override_network"]:
        return "choose the network the override is on"
    return None


def _names_problem(value: str) -> str | None:
    from qlutui.model.inventory import hostname_problem

    for word in value.split():
        if problem := hostname_problem(edits.for_host(word, "host")):
            return f"{word} {problem}"
    return None


def _name_problem(value: str) -> str | None:
    from qlutui.model.names import name_problem

    problem = name_problem(value.strip())
    return f"name {problem}" if problem else None
