"""Screens that show state files reload themselves when one changes on disk (another admin,
the CLI): checked every `CHECK_S` (a stat per file, `store.Watch`), when the screen is shown
again and when one of its own workers ends (a form closed, an edit done); never under an open
dialog or while its own load or edit runs. An edit in progress on the screen itself (the SSH
header editor) is never reloaded over: the change is named once and the reload waits for the
edit to end; its save meanwhile is refused as a conflict. Each screen's `action_reload` keeps
the cursor on its item by name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual.screen import Screen
from textual.worker import Worker

from qlutui.backend.store import Watch

if TYPE_CHECKING:
    from pathlib import Path

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
    """A screen showing the state files of `WATCHED` (areas) and the `logs` it is given; it
    defines `action_reload`, which calls `self.files.mark()` before it reads them."""

    WATCHED: ClassVar[tuple[str, ...]] = ()

    def __init__(self, store: Store, logs: Iterable[Path] = ()) -> None:
        super().__init__()
        self.files = Watch(store, self.WATCHED, logs)

    def action_reload(self) -> None:
        raise NotImplementedError

    def edit_in_progress(self) -> str:
        """What the admin is editing on the screen itself, unsaved, that a reload would
        overwrite ("Known Hosts header"); "" when nothing."""
        return ""

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
        changed = self.files.changed()
        if edit := self.edit_in_progress():
            if changed:  # said once; reloaded once the edit ends
                self.files.held += changed
                self.notify(
                    f"{', '.join(changed)} changed on disk: not reloaded over your edit of "
                    f"the {edit}; saving it reports the conflict",
                    severity="warning",
                    timeout=8,
                )
            return
        if changed := list(dict.fromkeys([*self.files.held, *changed])):
            # a log only grows, and its new lines show: said only of the state files
            logs = {log.name for log in self.files.logs}
            if told := [name for name in changed if name not in logs]:
                self.notify(f"{', '.join(told)} changed on disk: reloaded")
            self.action_reload()

    def _busy(self) -> bool:
        """Whether a load or an edit of this screen runs (it would show or save the files)."""
        background = getattr(self, "BACKGROUND_WORK", ())
        return any(
            w.node is self and not w.is_finished and w.group not in background for w in self.workers
        )
