"""The key help screen (`?`): the keys of the screen it was opened on, read from its bindings.

Built from `Screen.active_bindings`, so it always shows what really works there, including
the user's keymap overrides from config.toml.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

# Keys every screen has that are not bindings of ours.
_ALWAYS = [("tab / shift+tab", "Next / previous field")]


def described_bindings(screen: Screen) -> list[tuple[list[str], ActiveBinding]]:
    """Our active bindings on `screen` (those with an id), with all the keys of each action."""
    app = screen.app
    merged: dict[tuple[int, str], tuple[list[str], ActiveBinding]] = {}
    for active in screen.active_bindings.values():
        if active.binding.id is None or not active.binding.description:
            continue  # Textual's own navigation keys (arrows, page keys ...) are not listed
        keys, _ = merged.setdefault((id(active.node), active.binding.action), ([], active))
        display = app.get_key_display(active.binding)
        if display not in keys:
            keys.append(display)
    return list(merged.values())


def key_rows(screen: Screen) -> list[tuple[str, str]]:
    """(keys, description) rows for the help screen of `screen`."""
    rows = [(" / ".join(keys), a.binding.description) for keys, a in described_bindings(screen)]
    return rows + _ALWAYS


class HelpScreen(ModalScreen[None]):
    """Lists the keys of one screen; any of escape, q, ? or enter closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,enter", "close", "Close", id="help.close")
    ]

    def __init__(self, title: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self._title = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        width = max(len(keys) for keys, _ in self.rows)
        text = "\n".join(f"{keys:<{width}}  {what}" for keys, what in self.rows)
        with Vertical(id="dialog"), VerticalScroll():
            yield Static(text, id="keys", markup=False)

    def on_mount(self) -> None:
        self.query_one("#dialog").border_title = f"Keys: {self._title}"

    def action_close(self) -> None:
        self.dismiss(None)
