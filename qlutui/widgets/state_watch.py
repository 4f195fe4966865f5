"""Screens that show state files reload themselves when one changes on disk (another admin,
the CLI): checked every `CHECK_S` (a stat per file, `store.Watch`), when the screen is shown
again and when one of its own workers ends (a form closed, an edit done); never under an open
dialog or while its own load or edit runs. Each screen's `action_reload` keeps the cursor on
its item by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.screen import Screen
from textual.worker import Worker

from qlutui.backend.store import Watch

if TYPE_CHECKING:
    from qlutui.backend.store import Store
    from qlutui.errors import ConflictError

CHECK_S = 2.0


def conflict_text(exc: ConflictError) -> str:
    """What a screen says when its save was refused as a conflict (and it reloaded)."""
    if exc.changed:
        return f"{exc.changed} was changed meanwhile (by another admin or the CLI): " + (
            "reloaded, nothing saved; try again"
        )
    return f"{exc}: reloaded, nothing saved; try again"


class WatchedScreen(Screen):
    """A screen showing the state files of `WATCHED` (areas); it defines `action_reload`,
    which calls `self.files.mark()` before it reads them."""

    WATCHED: ClassVar[tuple[str, ...]] = ()

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.files = Watch(store, self.WATCHED)

    def action_reload(self) -> None:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.set_interval(CHECK_S, self.check_files)

    def on_screen_resume(self) -> None:
        self.check_files()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.is_finished:
            self.check_files()

    def check_files(self) -> None:
        """Reload, saying so, when a file shown changed on disk since it was read."""
        if self.app.screen is not self or self._busy():
            return
        if changed := self.files.changed():
            self.notify(f"{', '.join(changed)} changed on disk: reloaded")
            self.action_reload()

    def _busy(self) -> bool:
        """Whether a load or an edit of this screen runs (it would show or save the files)."""
        background = getattr(self, "BACKGROUND_WORK", ())
        return any(
            w.node is self and not w.is_finished and w.group not in background for w in self.workers
        )
