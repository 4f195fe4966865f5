"""History: the previous versions of every state file (`state/.history/`), the diff of each
against the current file, and restore (`qlutui history ...` does the same from scripts).
Shown again by itself when a state file changes (each change makes a version), the cursor on
the same version."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from qlutui.backend.history import HistoryService, Version
from qlutui.backend.store import AREAS
from qlutui.errors import QlutuiError
from qlutui.model.names import counted
from qlutui.widgets.blocking import off_loop
from qlutui.widgets.dialogs import Confirm
from qlutui.widgets.diff_view import FileView
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.state_watch import WatchedScreen

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster


class HistoryScreen(WatchedScreen):
    TITLE = "History"
    AUTO_FOCUS = "#history-table"
    DEFAULT_CSS = """
    #history-table { height: auto; max-height: 9; }
    #history-status { padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("R", "restore", "Restore", id="history.restore"),
        Binding("ctrl+r", "reload", "Reload", id="history.reload"),
        Binding("home", "first", "First", show=False, id="history.first"),
        Binding("end", "last", "Last", show=False, id="history.last"),
    ]
    WATCHED = tuple(sorted(AREAS))

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.store)
        self.service = HistoryService(cluster)
        self.versions: list[Version] = []
        # the version whose diff is shown and the current file's token it was made against:
        # a restore is checked against what the admin saw
        self.shown: tuple[Version, str] | None = None

    def compose(self) -> ComposeResult:
        yield Static("qlutui - History of the state files (times in UTC)", classes="title-bar")
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield FileView(id="history-diff")
        yield Static(id="history-status", markup=False)
        yield KeysFooter()

    @property
    def table(self) -> DataTable:
        return self.query_one("#history-table", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns("File", "Version", "Replaced", "Bytes")
        self.action_reload()

    @work(thread=True, exclusive=True, group="history-load")
    def action_reload(self) -> None:
        self.files.mark()
        versions = [v for area in sorted(AREAS) for v in self.service.versions(area)]
        self.app.call_from_thread(self._show, versions)

    def _show(self, versions: list[Version]) -> None:
        selected, table = self.selected, self.table
        at = table.cursor_row
        self.versions = versions
        table.clear()
        table.add_rows((f"{v.area}.toml", str(v.number), v.replaced, str(v.size)) for v in versions)
        if selected is not None and versions:  # the same version (a newer one moves it down)
            paths = [v.path for v in versions]
            row = paths.index(selected.path) if selected.path in paths else at
            table.move_cursor(row=min(row, len(versions) - 1))
        status = f"{counted(len(versions), 'previous version')}; R restores the selected one"
        self.query_one("#history-status", Static).update(status)
        if not versions:
            self.query_one(FileView).show_text("History", "No state file was changed yet.\n")

    @property
    def selected(self) -> Version | None:
        row = self.table.cursor_row
        return self.versions[row] if 0 <= row < len(self.versions) else None

    @on(DataTable.RowHighlighted, "#history-table")
    def _highlighted(self) -> None:
        if (version := self.selected) is not None:
            self._diff(version)

    @work(thread=True, exclusive=True, group="history-diff")
    def _diff(self, version: Version) -> None:
        token = self.service.token(version.area)
        diff = self.service.diff(version) or "(the same as the current file)\n"
        caption = f"{version.area}.toml: current -> version {version.number}"
        self.app.call_from_thread(self._show_diff, version, token, caption, diff)

    def _show_diff(self, version: Version, token: str, caption: str, diff: str) -> None:
        self.shown = (version, token)
        self.query_one(FileView).show_text(caption, diff)

    def action_first(self) -> None:
        self.table.move_cursor(row=0)

    def action_last(self) -> None:
        self.table.move_cursor(row=len(self.versions) - 1)

    @work(group="history-restore")
    async def action_restore(self) -> None:
        if self.shown is None or self.shown[0] != self.selected:
            return  # its diff is not on the screen yet
        version, token = self.shown
        question = f"Restore {version.area}.toml as it was before {version.replaced}?"
        detail = "The current file is kept as a version too: a restore can be undone."
        if not await self.app.push_screen_wait(Confirm(question, detail, title="Restore")):
            return
        try:
            await off_loop(self.service.restore, version, token)
        except QlutuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"Restored {version.area}.toml version {version.number}")
        self.action_reload()
