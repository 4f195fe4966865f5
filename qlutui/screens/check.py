"""Check: every problem in the state files, one line each, as `qlutui check` prints them
(malformed TOML, an entry the model refuses, inventory clashes, unknown keys, chroots whose
tree is not there and the images on them). The state files are read in a thread: the
10,000-host inventory takes ~0.2 s to check the first time."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from qlutui.backend.store import AREAS
from qlutui.model.names import counted
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.hanging import Hanging
from qlutui.widgets.state_watch import WatchedScreen

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster


class CheckScreen(WatchedScreen):
    TITLE = "Check"
    AUTO_FOCUS = "#check-scroll"
    DEFAULT_CSS = """
    #check-scroll { height: 1fr; padding: 0 1; }
    #check-status { padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "reload", "Reload", id="check.reload"),
    ]
    WATCHED = tuple(sorted(AREAS))

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.store)
        self.cluster = cluster
        self.problems: list[str] | None = None  # None until checked

    def compose(self) -> ComposeResult:
        yield Static("qlutui - Check the state files", classes="title-bar")
        with VerticalScroll(id="check-scroll"):
            yield Static("Checking ...", id="check-list", markup=False)
        yield Static(id="check-status", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.action_reload()

    @work(exclusive=True, group="check")
    async def action_reload(self) -> None:
        self.files.mark()
        self._show(await self.cluster.all_problems())

    def _show(self, problems: list[str]) -> None:
        self.problems = problems
        self.query_one("#check-list", Static).update(Hanging(problems or ["No problem found."]))
        self.query_one("#check-status", Static).update(
            f"{counted(len(problems), 'problem')}; ^r checks again"
        )
