"""Hosts (read-only): the networks, every name and IP of every host per network, and the
uniqueness problems of the inventory at the top.

The inventory is read and checked in a thread worker, so the screen paints at once. The host
table is virtual (`RowsView` renders only the visible lines), so 10,000 hosts load and filter
in milliseconds; rows of hosts named in a problem are highlighted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.segment import Segment
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static

from qlutui.errors import QlutuiError
from qlutui.model.inventory import Inventory, Problem, check_unique, host_names
from qlutui.widgets.footer import KeysFooter

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster

COLUMNS = ("Host", "Network", "IP", "Names")
Row = tuple[str, ...]


@dataclass(frozen=True)
class HostEntry:
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
        words = [host.name, *host.ips.values(), *(r[3] for r in rows)]
        entries.append(HostEntry(rows, " ".join(words).lower(), host.name in troubled))
    return entries


def networks_text(inv: Inventory) -> str:
    header = ("Network", "Kind", "Primary", "Suffix", "SSH", "CIDR")
    rows = [
        (n.name, n.kind, "yes" if n.primary else "", n.suffix, "yes" if n.ssh else "no", n.cidr)
        for n in inv.networks
    ]
    return "\n".join(_aligned([header, *rows], _widths([header, *rows])))


def _widths(rows: Sequence[Row]) -> list[int]:
    return [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]


def _aligned(rows: Sequence[Row], widths: Sequence[int]) -> list[str]:
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


class RowsView(ScrollView, can_focus=True):
    """A read-only table drawn line by line: only the visible rows cost anything."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"rows-view--header", "rows-view--marked"}

    def __init__(self, columns: Row, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = columns
        self.rows: list[Row] = []
        self.marked: list[bool] = []
        self.widths = [len(c) for c in columns]

    def set_rows(self, rows: list[Row], marked: list[bool], widths: Sequence[int]) -> None:
        self.rows, self.marked = rows, marked
        self.widths = [max(w, len(c)) for w, c in zip(widths, self.columns, strict=True)]
        self.virtual_size = Size(sum(self.widths) + 2 * len(self.widths), len(rows) + 1)
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:  # the header stays on top
            cells, style = self.columns, self.get_component_rich_style("rows-view--header")
        else:
            index = scroll_y + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, base)
            cells = self.rows[index]
            marked = self.marked[index]
            style = self.get_component_rich_style("rows-view--marked") if marked else base
        text = "  ".join(c.ljust(w) for c, w in zip(cells, self.widths, strict=True))
        return Strip([Segment(text, style)]).crop_extend(scroll_x, scroll_x + width, base)


class HostsScreen(Screen):
    TITLE = "Hosts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="hosts.filter"),
        Binding("r", "reload", "Reload", id="hosts.reload"),
    ]

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        self.cluster = cluster
        self.entries: list[HostEntry] = []
        self.widths: list[int] = [len(c) for c in COLUMNS]
        self.matching = 0

    def compose(self) -> ComposeResult:
        yield Static("qlutui - Hosts", classes="title-bar")
        yield Static(id="hosts-problems", markup=False)
        yield Static("Loading the inventory ...", id="hosts-networks", markup=False)
        yield Input(placeholder="/ filter by name or IP", id="hosts-filter", compact=True)
        yield RowsView(COLUMNS, id="hosts-table")
        yield Static(id="hosts-status", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#hosts-table").focus()
        self.action_reload()

    def action_filter(self) -> None:
        self.query_one("#hosts-filter").focus()

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="hosts-load")
    def _load(self) -> None:
        try:
            inv = self.cluster.inventory()
            problems = check_unique(inv)
            entries = host_entries(inv, problems)
        except QlutuiError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._loaded, inv, problems, entries)

    def _failed(self, message: str) -> None:
        self._show_problems([message], "Cannot read the inventory")
        self.query_one("#hosts-networks", Static).update("")

    def _loaded(self, inv: Inventory, problems: list[Problem], entries: list[HostEntry]) -> None:
        self.entries = entries
        rows = [row for e in entries for row in e.rows]
        self.widths = _widths([COLUMNS, *rows])
        heading = f"{len(problems)} uniqueness problem(s) in inventory.toml:"
        self._show_problems([str(p) for p in problems], heading)
        self.query_one("#hosts-networks", Static).update(networks_text(inv))
        self.apply_filter(self.query_one("#hosts-filter", Input).value)

    def _show_problems(self, problems: list[str], heading: str) -> None:
        panel = self.query_one("#hosts-problems", Static)
        panel.update("\n".join([heading, *problems]) if problems else "")
        panel.set_class(bool(problems), "-shown")

    @on(Input.Changed, "#hosts-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.apply_filter(event.value)

    @on(Input.Submitted, "#hosts-filter")
    def _filter_done(self) -> None:
        self.query_one("#hosts-table").focus()

    def apply_filter(self, text: str) -> None:
        """Show the hosts whose names or IPs contain `text` (all hosts when empty)."""
        needle = text.strip().lower()
        entries = [e for e in self.entries if needle in e.haystack] if needle else self.entries
        rows = [row for e in entries for row in e.rows]
        marked = [e.marked for e in entries for _ in e.rows]
        self.query_one(RowsView).set_rows(rows, marked, self.widths)
        self.matching = len(entries)
        total = len(self.entries)
        scope = f"{self.matching} of {total} hosts" if needle else f"{total} hosts"
        self.query_one("#hosts-status", Static).update(f"{scope}, {len(rows)} rows")
