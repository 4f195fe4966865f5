"""The log window of a job: header (title, elapsed, progress, per-target counters), the log,
and a footer showing the stream filters.

Lines arrive through `feed(lines)` from any task or thread. They are buffered and written at
most once every `batch_ms` with a single `Log.write_lines` call, so a build printing
thousands of lines a second costs the UI ~20 writes a second and typing stays responsive.
The widget keeps at most `max_lines` lines; toggling a filter re-renders from the job's lines
(or, without a job, from the last `max_lines` lines fed). Long lines run past the right edge
(left / right scroll there) unless Wrap is on: then each line is cut into pieces of the log's
width as it is written, and the log re-rendered when Wrap is toggled or the width changes; the
streaming path pays for that only while Wrap is on.

A screen hosting a LogPane adds `LogPane.BINDINGS` to its own BINDINGS (so the keys work
wherever the focus is on that screen) and forwards `action_toggle_stream`,
`action_toggle_follow` and `action_toggle_wrap` to the pane; the pane's own copies of the
bindings work when the log itself has the focus.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.cells import cell_len, chop_cells
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widget import Widget
from textual.widgets import Log, Static

from qlutui.backend.job_records import (
    INTERRUPTED,
    KILLED,
    MESSAGE,
    STATES,
    STDERR,
    STDOUT,
    LogLine,
    phrase,
)
from qlutui.backend.jobs import Job
from qlutui.widgets.hanging import middle_cut

RARE = (INTERRUPTED, KILLED)  # states the header counts only once one occurs
STREAMS = {STDOUT: "stdout", STDERR: "stderr", MESSAGE: "messages"}  # footer labels
HEADER_LIVE_S = 0.25  # the header is re-rendered at most this often while lines flow
HEADER_IDLE_S = 1.0  # and this often otherwise (the elapsed clock)


def format_line(line: LogLine, many_targets: bool) -> str:
    """One log line as shown: messages marked `* `, the target first when there are several
    (the job's own messages have no target)."""
    mark = "* " if line.stream == MESSAGE else ""
    where = f"{line.target}: " if many_targets and line.target else ""
    return f"{where}{mark}{line.text}"


def wrapped(texts: Iterable[str], width: int) -> list[str]:
    """The lines cut into pieces of at most `width` cells, as the log shows them: printable
    ASCII (nearly every line) by slicing, any other line after Log's own processing (tabs
    expanded, control characters replaced) by its cells."""
    pieces: list[str] = []
    for text in texts:
        if text.isascii() and text.isprintable():
            pieces += [text[i : i + width] for i in range(0, len(text), width)] or [""]
        else:
            for line in text.splitlines() or [""]:
                pieces += chop_cells(Log._process_line(line), width) or [""]
    return pieces


def progress_bar(fraction: float, width: int, ascii_only: bool) -> str:
    """A text progress bar of `width` cells, e.g. `[#####.....]` in ASCII mode."""
    fraction = min(max(fraction, 0.0), 1.0)
    inner = max(width - 2, 1)
    done = round(fraction * inner)
    full, empty = ("#", ".") if ascii_only else ("█", "░")
    return f"[{full * done}{empty * (inner - done)}]"


def fitted(title: str, width: int) -> str:
    """A job title in `width` cells, cut in the middle: its end names the chroot or files."""
    return middle_cut(phrase(title), width)  # " ...": the state beside it says it


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class _Log(Log):
    """Textual's Log, measuring the width of new lines in the event loop: plain ASCII lines
    (nearly all of a build log) are measured by `len`, at C speed. Log starts a thread per
    write for this, whose Python loop over thousands of lines holds the GIL against the UI.

    And new lines do not lay the screen out: Textual answers a change of a widget's virtual
    size with a layout of the whole screen and a full repaint (15-35 ms on the Jobs screen,
    at every write until `max_lines` lines are held). The log's own region does not move, so
    the scrollbars are updated in place; one appearing or going still lays the screen out
    (those reactives ask for it)."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)

    def _update_size(self, updates: int, lines: list[str]) -> None:
        if not lines:
            return
        if all(map(str.isascii, lines)) and not any("\t" in line for line in lines):
            width = max(map(len, lines))  # control characters show as one cell each
        else:
            width = max(cell_len(self._process_line(line)) for line in lines)
        self._update_maximum_width(updates, width)


class LogPane(Widget):
    """Header, log and filter footer of one job (or of lines fed without a job)."""

    # Fixed heights: header and footer updates then repaint without a screen layout (which
    # costs tens of ms with a live log and would delay keys).
    DEFAULT_CSS = """
    LogPane #log-header { height: 2; }
    LogPane #log-footer { height: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "o",
            f"toggle_stream('{STDOUT}')",
            "Stdout",
            id="log.stdout",
            tooltip="Stdout lines of the log: show / hide",
        ),
        Binding(
            "e",
            f"toggle_stream('{STDERR}')",
            "Stderr",
            id="log.stderr",
            tooltip="Stderr lines of the log: show / hide",
        ),
        Binding(
            "m",
            f"toggle_stream('{MESSAGE}')",
            "Messages",
            id="log.messages",
            show=False,
            tooltip="qlutui's own lines of the log (* ...): show / hide",
        ),
        Binding(
            "f",
            "toggle_follow",
            "Follow",
            id="log.follow",
            tooltip="Follow: keep the log at its newest line, or stay",
        ),
        Binding(
            "w",
            "toggle_wrap",
            "Wrap",
            id="log.wrap",
            tooltip="Wrap long lines on / off (off: tab, then left/right)",
        ),
    ]

    def __init__(
        self,
        *,
        batch_ms: int = 50,
        max_lines: int = 20_000,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.batch_ms = batch_ms
        self.max_lines = max_lines
        self.streams = set(STREAMS)
        self.follow = True
        self.wrap = False
        self._wrapped_at = 0  # the width the shown lines were wrapped to
        self.job: Job | None = None
        self.title = ""
        self.many_targets = False
        self.writes = 0  # write_lines calls so far (the bound the stream tests check)
        self.shown = 0  # lines written since the last clear
        self._pending: list[LogLine] = []
        self._lock = threading.Lock()
        self._fed: deque[LogLine] = deque(maxlen=max_lines)
        self._unsubscribe = None
        self._last_header = 0.0

    def compose(self) -> ComposeResult:
        yield Static(id="log-header", markup=False)
        yield _Log(max_lines=self.max_lines, id="log-lines")
        yield Static(id="log-footer", markup=False)

    def on_mount(self) -> None:
        self.set_interval(self.batch_ms / 1000, self._tick)
        self.render_header()
        self._render_footer()

    def on_unmount(self) -> None:
        self._detach()

    @property
    def log_widget(self) -> Log:
        return self.query_one("#log-lines", Log)

    # -- feeding -----------------------------------------------------------------------

    def feed(self, lines: Sequence[LogLine]) -> None:
        """Queue lines for the next flush; safe to call from any thread or task."""
        with self._lock:
            self._pending.extend(lines)
            if len(self._pending) > 2 * self.max_lines:  # a stalled UI never holds more
                del self._pending[: -self.max_lines]

    def _take(self) -> list[LogLine]:
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def _tick(self) -> None:
        pending = self._take()
        if pending:
            if self.job is None:  # with a job, filters re-render from the job's own lines
                self._fed.extend(pending)
            self._write(pending)
        now = time.monotonic()
        if now - self._last_header >= (HEADER_LIVE_S if pending else HEADER_IDLE_S):
            self.render_header()

    def _write(self, lines: Iterable[LogLine]) -> None:
        many, streams = self.many_targets, self.streams
        if many or len(streams) < len(STREAMS):
            texts = [format_line(line, many) for line in lines if line.stream in streams]
        else:  # format_line of one target, every stream shown: the flood's common case
            texts = [t if s != MESSAGE else f"* {t}" for _, _, s, t in lines]
        if self.wrap:
            texts = wrapped(texts, self._wrapped_at)
        texts = texts[-self.max_lines :]
        if texts:
            self.writes += 1
            self.shown += len(texts)
            self.log_widget.write_lines(texts, scroll_end=self.follow)

    # -- jobs --------------------------------------------------------------------------

    def attach(self, job: Job | None) -> None:
        """Show `job`: its lines so far, then live lines while it runs."""
        self._detach()
        self.job = job
        self.title = job.record.title if job else ""
        self.border_title = job.id if job else None  # what the `qlutui jobs` verbs take
        self.many_targets = bool(job) and len(job.record.targets) > 1
        self._take()
        self._fed.clear()
        self.rerender()
        if job is not None and not job.done:
            self._unsubscribe = job.subscribe(self.feed)
        self.render_header()

    def _detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def rerender(self) -> None:
        """Clear the log and write the source lines again through the current filters."""
        self._take()  # with a job, pending lines are already among job.lines()
        source = self.job.lines() if self.job is not None else self._fed
        self.log_widget.clear()
        self.shown = 0
        self._wrapped_at = self._wrap_width()
        self._write(source)
        self._render_footer()

    # -- filters -----------------------------------------------------------------------

    def action_toggle_stream(self, stream: str) -> None:
        self.streams ^= {stream}
        self.rerender()

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self.log_widget.auto_scroll = self.follow
        if self.follow:
            self.log_widget.scroll_end(animate=False)
        self._render_footer()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.rerender()

    def _wrap_width(self) -> int:
        """The log's width less a vertical scroll bar (there or not): no line is cut twice
        when one appears."""
        log = self.log_widget
        return max(log.outer_size.width - log.styles.scrollbar_size_vertical, 10)

    # -- header and footer -------------------------------------------------------------

    def on_resize(self) -> None:
        self.render_header()  # the title and the bar are fitted to the width
        if self.wrap and self._wrap_width() != self._wrapped_at:
            self.rerender()

    def render_header(self) -> None:
        """Also called by the host screen when the job's state changes (at once, not at the
        next tick)."""
        self._last_header = time.monotonic()
        job = self.job
        if job is None:
            self.query_one("#log-header", Static).update(
                self.title or "No job selected", layout=False
            )
            return
        record = job.record
        # one line each: a long title (clone, rename) is cut, never the state or the bar line
        status = f"  [{record.state}]  {_elapsed(job.elapsed)}"
        top = fitted(record.title, max(self.size.width - len(status), 10)) + status
        counts = job.counts()
        # Interrupted and Killed are rare: once one happened, only the states that occur fit
        # in 80 columns
        rare = any(counts[state] for state in RARE)
        counters = "  ".join(
            f"{state} {counts[state]}"
            for state in STATES
            if counts[state] or not (rare or state in RARE)
        )
        progress = job.progress
        if progress is None:  # ended early, and how far it got is not known: no bar
            header = f"{top}\n{counters}"
        else:
            width = max(self.size.width - len(counters) - 7, 10)
            bar = progress_bar(progress, width, getattr(self.app, "serial", False))
            header = f"{top}\n{bar} {round(progress * 100):3d}%  {counters}"
        self.query_one("#log-header", Static).update(header, layout=False)

    def _render_footer(self) -> None:
        def flag(on: bool) -> str:
            return "[x]" if on else "[ ]"

        parts = [f"{flag(s in self.streams)} {name}" for s, name in STREAMS.items()]
        parts.append(f"{flag(self.follow)} follow")
        parts.append(f"{flag(self.wrap)} wrap")
        self.query_one("#log-footer", Static).update("  ".join(parts), layout=False)
