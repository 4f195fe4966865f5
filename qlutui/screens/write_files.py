"""Write Files: every generated file of every class (SSH Configs, Hosts, Qlustar Images), on
every head-node and destination, with its state, as QluMan's Write Files window.

One row per class with its state (the worst of its files: invalid, unreachable, changed,
missing, unchanged), and below it, unless collapsed (enter), one row per file x head-node x
path. The view below shows the unified diff against the file on disk or the whole file.
`space` marks rows (on a class row: all its files) for Write Selected; `e` edits the header
of a class whose header lives here (the hosts table); Write Changed writes
every row that differs. Writing is a job (its log window opens); the job skips a file another
admin changed since the diff, and starts what a class runs after writing (image rebuilds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from qlutui.backend.files import files_service
from qlutui.backend.files.base import UNCHANGED, FileStatus, class_state
from qlutui.errors import QlutuiError
from qlutui.model.names import counted
from qlutui.widgets.blocking import off_loop
from qlutui.widgets.dialogs import Confirm, ErrorDialog, Field, FormDialog
from qlutui.widgets.diff_view import FileView
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.lists import RowTable

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster

Row = FileStatus | str  # a file row, or the id of a class row


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
        Binding("e", "edit_header", "Edit header", id="write.edit_header"),
        Binding("o", "only_changed", "Only changed", id="write.only_changed"),
        Binding("ctrl+r", "refresh", "Refresh", id="write.refresh"),
    ]

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        self.service = files_service(cluster)
        self.rows: list[FileStatus] = []
        self.marked: set[tuple[str, str, str]] = set()
        self.collapsed: set[str] = set()  # class ids
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
        self.table.add_columns(" ", "File", "Head-node", "State", "Path")
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

    def _files(self, cls: str) -> list[FileStatus]:
        return [r for r in self.rows if r.dest.spec.cls == cls]

    def _visible(self) -> list[Row]:
        visible: list[Row] = []
        for cls in self.service.classes:
            rows = self._files(cls)
            if self.only_changed:
                rows = [r for r in rows if r.state != UNCHANGED]
            if rows or not self.only_changed:
                visible.append(cls)
            if cls not in self.collapsed:
                visible += rows
        return visible

    def _fill(self) -> None:
        table = self.table
        current = self._current()
        table.clear()
        for row in self._visible():
            table.add_row(*self._cells(row))
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

    def _cells(self, row: Row) -> tuple[str, str, str, str, str]:
        if isinstance(row, str):
            files = self._files(row)
            fold = "+" if row in self.collapsed else "-"
            marked = "*" if files and all(r.key in self.marked for r in files) else " "
            title = f"{fold} {self.service.classes[row].title}"
            return marked, title, "", class_state(files), counted(len(files), "file")
        mark = "*" if row.key in self.marked else " "
        return mark, f"  {row.dest.spec.title}", row.dest.headnode, row.state, row.dest.path

    def _current(self) -> Row | None:
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
        if isinstance(row, str):
            files = self._files(row)
            lines = [f"{r.dest.headnode}:{r.dest.path}: {r.state}" for r in files]
            title = f"{self.service.classes[row].title}: {class_state(files)}"
            view.show_text(title, "\n".join(lines) + "\n")
            return
        where = f"{row.dest.spec.title} {row.dest.headnode}:{row.dest.path}"
        if row.state in ("unreachable", "invalid") and (self.mode == "diff" or not row.wanted):
            view.show_text(f"{where}: {row.state}", f"{row.error}\n")
        elif self.mode == "preview":
            view.show_preview(f"Preview {where}", self.service.preview(row.dest.spec, row.wanted))
        else:
            diff = await off_loop(row.diff)
            view.show_text(f"Diff {where} ({row.state})", diff or "(no differences)\n")

    # -- actions -----------------------------------------------------------------------------

    def action_show(self, mode: str) -> None:
        self.mode = mode
        self._show_current()

    def action_step(self, delta: int) -> None:
        """Prev/Next: the previous or next file row (class rows are passed over)."""
        visible = self._visible()
        files = [i for i, row in enumerate(visible) if not isinstance(row, str)]
        if not files:
            return
        at = self.table.cursor_row
        later = [i for i in files if (i > at if delta > 0 else i < at)]
        target = (later[0] if delta > 0 else later[-1]) if later else files[0 if delta > 0 else -1]
        self.table.move_cursor(row=target)

    def action_mark(self) -> None:
        row = self._current()
        if row is None:
            return
        keys = {r.key for r in self._files(row)} if isinstance(row, str) else {row.key}
        self.marked = self.marked - keys if keys <= self.marked else self.marked | keys
        self._fill()

    @on(DataTable.RowSelected, "#write-table")
    def _selected_row(self) -> None:
        """enter: a class row is collapsed or expanded."""
        row = self._current()
        if isinstance(row, str):
            self.collapsed ^= {row}
            self._fill()

    @work(group="write-header", exclusive=True)
    async def action_edit_header(self) -> None:
        """The admin's header of the file (or first file of the class) under the cursor,
        for a class whose header is edited here (the hosts table; SSH headers: SSH Configs)."""
        row = self._current()
        if row is None:
            return
        spec = self._files(row)[0].dest.spec if isinstance(row, str) else row.dest.spec
        cls = self.service.classes[spec.cls]
        header = await off_loop(cls.header, spec)
        if header is None:
            where = (
                "its header is edited in SSH Configs (s on the menu)"
                if spec.cls == "ssh"
                else "no header: the whole file is generated"
            )
            self.notify(f"{spec.title}: {where}", severity="warning")
            return

        def validate(text: str) -> str | None:
            return "; ".join(cls.header_problems(spec, text)[:2]) or None

        field = Field.text("header", "Header", header, validate=validate)
        result = await self.app.push_screen_wait(FormDialog(f"Header of {spec.title}", [field]))
        if result is None or result["header"] == header:
            return
        try:
            await off_loop(cls.save_header, spec, result["header"])
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(str(exc), title="Not saved"))
            return
        self.notify(f"{spec.title}: header saved")
        self.action_refresh()

    def action_only_changed(self) -> None:
        self.only_changed = not self.only_changed
        self._fill()

    def _selected(self) -> list[FileStatus]:
        """Write Selected: the marked rows, else the row (or class) under the cursor."""
        if marked := [r for r in self.rows if r.key in self.marked]:
            return marked
        row = self._current()
        if row is None:
            return []
        return self._files(row) if isinstance(row, str) else [row]

    @work(group="write-run", exclusive=True)
    async def action_write(self, only_changed: bool) -> None:
        rows = self.rows if only_changed else self._selected()
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
