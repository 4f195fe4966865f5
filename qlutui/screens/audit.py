"""Audit: the audit trail (state/audit.log), newest first, with a filter on any field (read
again once the keys typed into it pause, or at once on Enter). A line appended by another
process (the CLI, another admin) is shown by itself, the cursor staying on its event."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from qlutui.model.names import counted
from qlutui.widgets.filter_input import FilterInput
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.hanging import label_rows
from qlutui.widgets.lists import RowTable
from qlutui.widgets.pause import AfterPause
from qlutui.widgets.state_watch import WatchedScreen

if TYPE_CHECKING:
    from qlutui.backend.audit import Event
    from qlutui.backend.cluster import Cluster

SHOW_MAX = 1000  # newest events listed; `qlutui audit -n N` reaches further back


def event_row(event: Event) -> tuple[str, str, str, str, str]:
    when = event.time.replace("T", " ").removesuffix("Z")
    return when, event.user, event.action, event.target, event.summary


class AuditScreen(WatchedScreen):
    TITLE = "Audit"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="audit.filter"),
        Binding("ctrl+r", "reload", "Reload", id="audit.reload"),
    ]

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.store, logs=[cluster.audit.path])
        self.cluster = cluster
        self._refilter = AfterPause(self, self.action_reload)

    def compose(self) -> ComposeResult:
        yield Static("qlutui - Audit trail (times in UTC)", classes="title-bar")
        hint = "/ filter: user, action, file, job ..."
        yield FilterInput(rows="audit-table", placeholder=hint, id="audit-filter")
        yield RowTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="audit-detail", markup=False)
        yield Static(id="audit-status", markup=False)
        yield KeysFooter()

    @property
    def table(self) -> DataTable:
        return self.query_one("#audit-table", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns("Time", "User", "Action", "Target", "Summary")
        self.table.focus()
        self.action_reload()

    def action_filter(self) -> None:
        self.query_one(FilterInput).start()

    @property
    def match(self) -> str:
        return self.query_one("#audit-filter", Input).value.strip()

    def action_reload(self) -> None:
        self._load(self.match)

    @on(Input.Changed, "#audit-filter")
    def _filter_changed(self) -> None:
        self._refilter.poke()

    @on(DataTable.RowHighlighted, "#audit-table")
    def _detail(self, event: DataTable.RowHighlighted) -> None:
        """The cursor's event in full: at 80 columns the table cuts its target and summary."""
        target, summary = self.table.get_row(event.row_key)[3:]
        self.query_one("#audit-detail", Static).update(
            label_rows([("Target", target), ("Summary", summary)])
        )

    @on(Input.Submitted, "#audit-filter")
    def _filter_done(self) -> None:
        self._refilter.now()  # the keys after Enter or down act on the rows of this filter

    @work(thread=True, exclusive=True, group="audit-load")
    def _load(self, match: str) -> None:
        self.files.mark()
        events = self.cluster.audit.read(limit=SHOW_MAX, match=match)
        self.app.call_from_thread(self._show, events, match)

    def _show(self, events: list[Event], match: str) -> None:
        if match != self.match:
            return  # typed meanwhile: the read of the newer filter is due
        table = self.table
        at = table.cursor_row
        cursor = table.get_row_at(at) if 0 <= at < table.row_count else None
        table.clear()
        rows = [event_row(e) for e in events]
        table.add_rows(rows)
        if cursor is not None and (same := [i for i, r in enumerate(rows) if r == tuple(cursor)]):
            table.move_cursor(row=next((i for i in same if i >= at), same[0]))  # newer ones above
        if not events:
            self.query_one("#audit-detail", Static).update("")
        more = " (the newest)" if len(events) == SHOW_MAX else ""
        where = f" matching '{match}'" if match else ""
        status = f"{counted(len(events), 'event')}{where}{more}; file: {self.cluster.audit.path}"
        self.query_one("#audit-status", Static).update(status)
