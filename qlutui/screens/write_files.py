"""Write Files: every generated SSH file on every head-node and destination, with its state.

One row per file x head-node x path (unchanged / changed / missing / unreachable / invalid);
the view below shows the unified diff against the file on disk or the whole file. `space`
marks rows for Write Selected; Write Changed writes every row that differs. Writing is a
job (its log window opens); the job skips a file another admin changed since the diff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from qlutui.backend.sshfiles import TITLES, UNCHANGED, FileStatus, SSHFilesService, split_generated
from qlutui.errors import QlutuiError
from qlutui.model.names import counted
from qlutui.widgets.blocking import off_loop
from qlutui.widgets.dialogs import Confirm, ErrorDialog
from qlutui.widgets.diff_view import FileView
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.lists import RowTable

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster


class WriteFilesScreen(Screen):
    TITLE = "Write Files"
    DEFAULT_CSS = """
    #write-table { height: auto; max-height: 9; }
    #write-status { height: 1; padding: 0 1; color: $text-muted; }
    """
    BACKGROUND_WORK: ClassVar[frozenset[str]] = frozenset({"write-run"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "write(True)", "Write Changed", id="write.changed"),
        Binding("s", "write(False)", "Write Selected", id="write.selected"),
        Binding("d", "show('diff')", "Diff", id="write.diff"),
        Binding("v", "show('preview')", "Preview", id="write.preview"),
        Binding("n", "step(1)", "Next", id="write.next"),
        Binding("p", "step(-1)", "Prev", id="write.prev"),
        Binding("space", "mark", "Mark", id="write.mark"),
        Binding("o", "only_changed", "Only changed", id="write.only_changed"),
        Binding("ctrl+r", "refresh", "Refresh", id="write.refresh"),
    ]

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        self.service = SSHFilesService(cluster)
        self.rows: list[FileStatus] = []
        self.marked: set[tuple[str, str, str]] = set()
        self.only_changed = False
        self.mode = "diff"

    def compose(self) -> ComposeResult:
        yield Static("qlutui - Write Files", classes="title-bar")
        yield RowTable(id="write-table", cursor_type="row", zebra_stripes=True)
        yield FileView()
        yield Static("Comparing with the head-nodes ...", id="write-status", markup=False)
        yield KeysFooter()

    @property
    def table(self) -> DataTable:
        return self.query_one("#write-table", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns(" ", "Head-node", "State", "Path")
        self.table.focus()
        self.action_refresh()

    def on_screen_resume(self) -> None:
        if self.rows:  # back from a job's log window: the files may have changed
            self.action_refresh()

    # -- loading and showing ---------------------------------------------------------------

    @work(group="write-load", exclusive=True)
    async def action_refresh(self) -> None:
        self._status("Comparing with the head-nodes ...")
        try:
            self.rows = await self.service.statuses()
        except QlutuiError as exc:
            self._status(f"Cannot compare: {exc}")
            return
        keys = {r.key for r in self.rows}
        self.marked &= keys
        self._fill()

    def _visible(self) -> list[FileStatus]:
        if not self.only_changed:
            return self.rows
        return [r for r in self.rows if r.state != UNCHANGED]

    def _fill(self) -> None:
        table = self.table
        current = self._current()
        table.clear()
        for row in self._visible():
            mark = "*" if row.key in self.marked else " "
            table.add_row(mark, row.dest.headnode, row.state, row.dest.path, key="|".join(row.key))
        visible = self._visible()
        if current in visible:
            table.move_cursor(row=visible.index(current))
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        filtered = " (only changed shown)" if self.only_changed else ""
        self._status(f"{len(self.rows)} files: {summary}{filtered}")
        self._show_current()

    def _current(self) -> FileStatus | None:
        visible = self._visible()
        index = self.table.cursor_row
        return visible[index] if visible and 0 <= index < len(visible) else None

    def _status(self, text: str) -> None:
        self.query_one("#write-status", Static).update(text)

    @on(DataTable.RowHighlighted, "#write-table")
    def _highlighted(self) -> None:
        self._show_current()

    @work(group="write-view", exclusive=True)
    async def _show_current(self) -> None:
        view = self.query_one(FileView)
        row = self._current()
        if row is None:
            view.show_text("", "Nothing to show: every file is up to date." if self.rows else "")
            return
        where = f"{TITLES[row.dest.kind]} {row.dest.headnode}:{row.dest.path}"
        if row.state in ("unreachable", "invalid") and (self.mode == "diff" or not row.wanted):
            view.show_text(f"{where}: {row.state}", f"{row.error}\n")
        elif self.mode == "preview":
            view.show_preview(f"Preview {where}", split_generated(row.dest.kind, row.wanted))
        else:
            diff = await off_loop(row.diff)
            view.show_text(f"Diff {where} ({row.state})", diff or "(no differences)\n")

    # -- actions -----------------------------------------------------------------------------

    def action_show(self, mode: str) -> None:
        self.mode = mode
        self._show_current()

    def action_step(self, delta: int) -> None:
        count = len(self._visible())
        if count:
            self.table.move_cursor(row=(self.table.cursor_row + delta) % count)

    def action_mark(self) -> None:
        row = self._current()
        if row is None:
            return
        self.marked ^= {row.key}
        mark = "*" if row.key in self.marked else " "
        self.table.update_cell_at((self.table.cursor_row, 0), mark)

    def action_only_changed(self) -> None:
        self.only_changed = not self.only_changed
        self._fill()

    @work(group="write-run", exclusive=True)
    async def action_write(self, only_changed: bool) -> None:
        if only_changed:
            rows = self.rows
        else:
            rows = [r for r in self.rows if r.key in self.marked]
            rows = rows or [r for r in [self._current()] if r is not None]
        try:
            todo = self.service.to_write(rows, only_changed=only_changed)
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(str(exc), title="Cannot write"))
            return
        if not todo:
            self.notify("Nothing to write: the files are up to date")
            return
        nodes = sorted({r.dest.headnode for r in todo})
        listed = "\n".join(f"{r.dest.headnode}:{r.dest.path} ({r.state})" for r in todo[:8])
        more = f"\n... and {len(todo) - 8} more" if len(todo) > 8 else ""
        question = f"Write {counted(len(todo), 'file')} to {', '.join(nodes)}?"
        if not await self.app.push_screen_wait(Confirm(question, listed + more)):
            return
        try:
            job = await self.service.write(todo, only_changed=only_changed)
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(str(exc), title="Cannot write"))
            return
        self.marked.clear()
        self.app.show_job(job.id)  # type: ignore[attr-defined]  # the log window
