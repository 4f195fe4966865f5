"""Jobs: the recent jobs and the log window of the selected one.

The log pane is live while the job runs (it subscribes to the job) and shows the whole log
when it has finished. `app.show_job(job_id)` opens this screen on one job: that is the "log
window" every long action (create chroot, write files ...) opens.

The list shows the newest `SHOWN_JOBS` jobs that match the filter: job records are kept for
good, and a DataTable row costs ~0.1 ms to add (2,000 of them made opening take 0.25 s).
A row says where its job runs (Head-node) and when it started; the Title takes the rest of
the width (37 cells at 80 columns): the titles of jobs of one kind on different head-nodes
differ only past the cut. The job's id (what `qlutui jobs` verbs take) is on the log pane's
border; the filter finds a job by it.

A job of this process that starts, changes state or ends shows in the list and the log
header at once (`JobManager.watch`); the list is also re-read every `REFRESH_S` for the jobs
of other processes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from qlutui.backend.job_records import STATES, phrase
from qlutui.errors import QlutuiError
from qlutui.model.names import counted
from qlutui.widgets.dialogs import Confirm
from qlutui.widgets.filter_input import FilterInput
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.hanging import middle_cut
from qlutui.widgets.lists import RowTable
from qlutui.widgets.log_pane import LogPane, fitted

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.job_records import JobRecord
    from qlutui.backend.jobs import Job

REFRESH_S = 2.0  # how often the list is re-read (jobs of other processes)

STATE_WIDTH = max(map(len, STATES))  # "Interrupted"
WHERE_WIDTH = 11  # "beosrv-c +1"
STARTED_WIDTH = 11  # "09-22 12:00"
# each column pads a cell on either side; two cells stay free for the list's scrollbar
OTHERS_WIDTH = STATE_WIDTH + WHERE_WIDTH + STARTED_WIDTH + 4 * 2 + 2
SHOWN_JOBS = 200


def title_width(width: int) -> int:
    """The Title column's cells on a screen `width` wide: what the other columns leave."""
    return max(width - OTHERS_WIDTH, 20)


def started_text(record: JobRecord) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(record.created))


def matches(record: JobRecord, needle: str) -> bool:
    """`needle` (lower case) is in the job's state, title, kind, head-nodes, start or id."""
    where = " ".join(record.targets)
    text = f"{record.state} {record.title} {record.kind} {where} {started_text(record)} {record.id}"
    return needle in text.lower()


def count_text(shown: int, matched: int, total: int, filtered: bool) -> str:
    if filtered:
        return f"{matched:,} of {total:,} jobs match" + (
            f", newest {shown} shown" if shown < matched else ""
        )
    if shown < total:
        return f"newest {shown} of {total:,} jobs"
    return counted(total, "job")


def listed_title(record: JobRecord) -> str:
    """The title as its row shows it: " on SERVER" left out where the Head-node cell beside it
    names that one head-node ("Creating chroot bookworm-base ..."), so what varies gets the
    room; the filter still matches the whole title."""
    if len(record.targets) != 1:
        return record.title
    (target,) = record.targets
    return record.title.replace(f" on {target}", "", 1)


def where_text(targets: list[str]) -> str:
    """The head-nodes a job runs on, in `WHERE_WIDTH` cells: the first and how many more."""
    if not targets:  # a hand-edited job.toml
        return ""
    more = f" +{len(targets) - 1}" if len(targets) > 1 else ""
    return middle_cut(targets[0], WHERE_WIDTH - len(more)) + more


class JobsScreen(Screen):
    TITLE = "Jobs"
    AUTO_FOCUS = "#jobs-table"
    BACKGROUND_WORK: ClassVar[frozenset[str]] = frozenset({"jobs-kill"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "kill", "Kill", id="jobs.kill"),
        Binding("slash", "filter", "Filter", show=False, id="jobs.filter"),
        *LogPane.BINDINGS,
    ]

    def __init__(self, cluster: Cluster, *, job_id: str | None = None) -> None:
        super().__init__()
        self.cluster = cluster
        self.job_id = job_id  # the job shown in the log pane
        self._states: dict[str, str] = {}  # job id -> state, as the list shows them
        self._killable: bool | None = None  # Kill enabled, as the key bar last showed it
        self._changed: dict[str, Job] = {}  # jobs changed since the list last showed them
        self._title_width = 0  # the Title column's, as the list last showed it

    def compose(self) -> ComposeResult:
        yield Static("qlutui - Jobs", classes="title-bar")
        with Horizontal(id="jobs-filter-bar"):
            yield FilterInput(
                rows="jobs-table",
                placeholder="/ filter by title, head-node, kind, state or id",
                id="jobs-filter",
            )
            yield Static(id="jobs-count", markup=False)
        yield RowTable(id="jobs-table", cursor_type="row")
        yield LogPane(batch_ms=self.cluster.config.ui.log_batch_ms, id="job-log")
        yield KeysFooter()

    @property
    def pane(self) -> LogPane:
        return self.query_one(LogPane)

    @property
    def table(self) -> DataTable:
        return self.query_one("#jobs-table", DataTable)

    def on_mount(self) -> None:
        self._add_columns()
        self.refresh_list()
        if self.job_id is None and self.table.row_count:
            self.job_id = str(self.table.coordinate_to_cell_key((0, 0)).row_key.value)
        if self.job_id is not None:
            self.select_job(self.job_id)
        self.set_interval(REFRESH_S, self.refresh_list)
        self._unwatch = self.cluster.jobs.watch(self._job_changed)

    def on_unmount(self) -> None:
        self._unwatch()

    def _add_columns(self) -> None:
        table = self.table
        self._title_width = title_width(self.app.size.width)
        table.add_column("State", key="state", width=STATE_WIDTH)
        table.add_column("Title", width=self._title_width)  # with the kind: the filter has it
        table.add_column("Head-node", width=WHERE_WIDTH)
        table.add_column("Started", width=STARTED_WIDTH)

    def on_resize(self) -> None:
        """The titles are cut anew to the Title column's new width."""
        if title_width(self.app.size.width) != self._title_width:
            self.table.clear(columns=True)
            self._add_columns()
            self._states = {}  # every row again
            self.refresh_list()

    def _job_changed(self, job: Job) -> None:
        """Called by the job manager amid its work: the list and the header are redrawn
        right after it (once for a burst of changes)."""
        if not self._changed:
            self.call_later(self._show_changes)
        self._changed[job.id] = job

    def _show_changes(self) -> None:
        """A listed job's new state goes into its row as the job has it (no stat of every
        record: 8 ms with 2,000 jobs); a new job, or any change under a filter (the job may
        match or not now), re-reads the list."""
        changed, self._changed = self._changed, {}
        if self._needle() or not changed.keys() <= self._states.keys():
            self.refresh_list()
        else:
            for job_id, job in changed.items():
                self._show_state(job_id, job.record.state)
            self._update_kill()
        self.pane.render_header()

    def _needle(self) -> str:
        return self.query_one("#jobs-filter", Input).value.strip().lower()

    def _show_state(self, job_id: str, state: str) -> None:
        if self._states[job_id] != state:  # touch only what changed
            self.table.update_cell(job_id, "state", state)
            self._states[job_id] = state

    def refresh_list(self) -> None:
        """Re-read the job records: states update in place; other jobs rebuild the list
        (newest first) with the cursor kept on the same job."""
        table = self.table
        records = self.cluster.jobs.list()
        needle = self._needle()
        matched = [r for r in records if matches(r, needle)] if needle else records
        shown = matched[:SHOWN_JOBS]
        count = count_text(len(shown), len(matched), len(records), bool(needle))
        counter = self.query_one("#jobs-count", Static)
        if str(counter.content) != count:  # an update is a screen layout (its width is auto)
            counter.update(count)
        states = {r.id: r.state for r in shown}
        if list(states) == list(self._states):
            for job_id, state in states.items():
                self._show_state(job_id, state)
        else:
            current = self._cursor_job()
            table.clear()
            for r in shown:  # Text: no markup to parse (a job title may hold brackets)
                where = where_text(list(r.targets))
                title = fitted(listed_title(r), self._title_width)
                cells = (r.state, title, where, started_text(r))
                table.add_row(*map(Text, cells), key=r.id)
            if current is not None and current in table.rows:
                table.move_cursor(row=table.get_row_index(current), animate=False)
            if self.job_id is not None and self.job_id not in table.rows:
                self._follow_cursor()  # the filter hid the job shown: never show a hidden one
        self._states = states
        self._update_kill()

    def _update_kill(self) -> None:
        """Kill is dimmed once the shown job has ended: the key bar is redrawn when it does
        (not on every re-read of the list)."""
        killable = self.check_action("kill", ()) is True
        if killable != self._killable:
            self._killable = killable
            self.refresh_bindings()

    def _cursor_job(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def select_job(self, job_id: str) -> None:
        """Move the cursor to `job_id` and show its log."""
        table = self.table
        if job_id not in table.rows:
            self.refresh_list()
        if job_id in table.rows:
            table.move_cursor(row=table.get_row_index(job_id), animate=False)
        self.job_id = job_id
        try:
            self.pane.attach(self.cluster.jobs.get(job_id))
        except QlutuiError as exc:
            self.notify(str(exc), severity="error")
        self._update_kill()

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _follow_cursor(self) -> None:
        """The log pane shows the job under the cursor (none when the list is empty)."""
        job_id = self._cursor_job()
        if job_id is None:
            self.job_id = None
            self.pane.attach(None)
            self._update_kill()
        elif job_id != self.job_id:
            self.select_job(job_id)

    @on(DataTable.RowSelected, "#jobs-table")
    def _opened(self, event: DataTable.RowSelected) -> None:
        self.select_job(str(event.row_key.value))
        self.pane.log_widget.focus()

    # -- filter ------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterInput).start()

    @on(Input.Changed, "#jobs-filter")
    def _filter_changed(self) -> None:
        self.refresh_list()

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "kill":
            job = self.pane.job
            running = job is not None and not job.done
            return True if running else None  # None: shown dimmed
        return True

    def action_toggle_stream(self, stream: str) -> None:
        self.pane.action_toggle_stream(stream)

    def action_toggle_follow(self) -> None:
        self.pane.action_toggle_follow()

    def action_toggle_wrap(self) -> None:
        self.pane.action_toggle_wrap()

    @work(group="jobs-kill")
    async def action_kill(self) -> None:
        job = self.pane.job
        if job is None or job.done:
            return
        record = job.record
        question = f"Kill job {phrase(record.title)}?"
        detail = f"It runs on {', '.join(record.targets)}."
        if not await self.app.push_screen_wait(Confirm(question, detail, title="Kill job")):
            return
        try:
            await self.cluster.jobs.kill(record.id)
        except QlutuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"Killed {phrase(record.title)}")
        self.refresh_list()
