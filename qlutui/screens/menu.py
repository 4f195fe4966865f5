"""The Manage menu: the screen the app opens on, one entry per dialog.

Each entry has a letter key (binding id `menu.<dialog id>`) and can be chosen with the
arrow keys and Enter. Choosing posts `MenuScreen.Open`; the app opens the dialog.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from qlutui.errors import QlutuiError
from qlutui.model.names import counted
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.hanging import Hanging

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster, Summary

SUMMARY_DELAY_S = 0.3  # the menu's count starts once the menu has been shown this long
# the menu's count (`Cluster.status`): summaries, more exact each, until the event is set
Counter = Callable[[threading.Event], AsyncIterator["Summary"]]
# `watch(changed)`: `changed()` whenever a job starts or changes; returns the unwatch function
JobsWatch = Callable[[Callable[[], None]], Callable[[], None]]


@dataclass(frozen=True)
class Dialog:
    """One entry of the dialog registry (qlutui.app.DIALOGS)."""

    id: str  # also the area name: "hosts", "jobs", "images" ...
    title: str
    key: str  # one letter, unique in the menu
    description: str
    screen: str  # "module:Class" below qlutui.screens, imported when first opened, so
    # start-up pays for no dialog

    @property
    def factory(self) -> Callable[[Cluster], Screen]:
        module, _, name = self.screen.partition(":")
        return getattr(importlib.import_module(f"qlutui.screens.{module}"), name)


class MenuScreen(Screen):
    """Lists the dialogs; build it with `menu_screen(dialogs)` so each gets its key."""

    TITLE = "Manage"
    BACKGROUND_WORK: ClassVar[frozenset[str]] = frozenset({"summary"})  # see typeahead.py

    class Open(Message):
        """The user chose a dialog."""

        def __init__(self, dialog_id: str) -> None:
            super().__init__()
            self.dialog_id = dialog_id

    def __init__(
        self,
        dialogs: Sequence[Dialog],
        headnodes: Sequence[str],
        summary: Counter | None = None,
        jobs_watch: JobsWatch | None = None,
    ) -> None:
        super().__init__()
        self.dialogs = list(dialogs)
        self.headnodes = list(headnodes)
        self.summary = summary  # counts the cluster's state, more exactly each time
        self.jobs_watch = jobs_watch
        self._stop = threading.Event()  # set when the menu is left: the count stops
        self._unwatch: Callable[[], None] | None = None
        self._pending: Timer | None = None  # a count asked for by a job's change

    def compose(self) -> ComposeResult:
        yield Static(f"qlutui - {self.TITLE}", classes="title-bar")
        yield Static(f"Head-nodes: {', '.join(self.headnodes)}", id="menu-cluster")
        yield Static(id="menu-summary", markup=False)
        width = max(len(d.title) for d in self.dialogs)
        yield OptionList(
            *(
                Option(f"{d.key}  {d.title:<{width}}  {d.description}", id=d.id)
                for d in self.dialogs
            ),
            id="menu",
        )
        yield KeysFooter()

    def on_screen_resume(self) -> None:
        """Counted once the menu has stayed on screen SUMMARY_DELAY_S, and again whenever a
        dialog returns here. The first count of a big cluster is ~1 s of work in a thread
        (every generated file rendered, bench cluster): a dialog opened meanwhile would get
        half the CPU (bench P6 over SSH, the Jobs screen's first paint on a streaming job:
        7.9x a bare screen with the count, 3.1x without), so leaving the menu stops the count
        after its current step, and coming back carries on from the steps done
        (`Cluster.summary`). A key typed at once does not wait for it."""
        if self.summary is not None:
            self.set_timer(SUMMARY_DELAY_S, self._count)
        if self.jobs_watch is not None and self._unwatch is None:
            # a job started or ended while the menu is shown: its "N jobs running" counted
            # again (the state files' counts are memoized: only what changed is read). The
            # call comes in the job's task, whose context may lack Textual's active app (a
            # job started before the app ran): a timer set there fails when it fires, so the
            # timer is set from the screen's own message loop.
            self._unwatch = self.jobs_watch(lambda: self.call_later(self._count_soon))

    def on_screen_suspend(self) -> None:
        self._leave()

    def on_unmount(self) -> None:
        self._leave()  # the app quits: a count in its thread would hold the exit

    def _leave(self) -> None:
        self._stop.set()
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def _count_soon(self) -> None:
        """Once, however many of a job's changes come together."""
        if self._pending is None:
            self._pending = self.set_timer(SUMMARY_DELAY_S, self._count)

    def _count(self) -> None:
        self._pending = None
        if self.summary is not None and self.app.screen is self:  # no dialog opened meanwhile
            self._stop = threading.Event()
            counts = self.summary(self._stop)
            self.run_worker(self._show_summary(counts), group="summary", exclusive=True)

    async def _show_summary(self, counts: AsyncIterator[Summary]) -> None:
        try:
            async for summary in counts:  # the state files' first, then the head-nodes'
                self._put_summary(summary_text(summary))
        except (QlutuiError, OSError) as exc:  # the menu stays usable whatever the state
            self._put_summary(str(exc))

    def _put_summary(self, text: str) -> None:
        for shown in self.query("#menu-summary").results(Static):  # none once the app quits
            shown.update(Hanging([text], hang=0, cut_long=True))  # a path never folded

    def action_open(self, dialog_id: str) -> None:
        self.post_message(self.Open(dialog_id))

    @on(OptionList.OptionSelected, "#menu")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.action_open(event.option.id)


def summary_text(summary: Summary) -> str:
    jobs = summary.running_jobs
    text = (
        f"{counted(summary.hosts, 'host')} on {counted(summary.networks, 'network')}, "
        f"{counted(summary.images, 'image')}, {counted(summary.chroots, 'chroot')}, "
        + (f"{counted(jobs, 'job')} running" if jobs else "no job running")
    )
    if summary.problems:
        problems = counted(summary.problems, "problem")
        text += f"\n(!) {problems} in the state files: k lists them"
    return text


def menu_screen(
    dialogs: Sequence[Dialog],
    headnodes: Sequence[str],
    summary: Counter | None = None,
    jobs_watch: JobsWatch | None = None,
) -> MenuScreen:
    """The menu with one binding per dialog (a subclass, since Textual bindings are per class).

    The key bar leaves them out: each is shown on its menu line, and at 80 columns they would
    push Quit and Keys off the bar."""
    bindings = [
        Binding(d.key, f"open('{d.id}')", d.title, id=f"menu.{d.id}", show=False) for d in dialogs
    ]
    screen_class = type("MenuScreen", (MenuScreen,), {"BINDINGS": bindings})
    return screen_class(dialogs, headnodes, summary, jobs_watch)
