"""The one-line text field of qlutui's forms and filter boxes."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.widgets import Input


def hints_marked(app: App[object]) -> bool:
    """Serial consoles and NO_COLOR: dim text may show as normal there, so a hint would read
    as a value ('IP ib  a start IP, auto, or empty' beside 'IP boot  auto')."""
    return app.no_color or bool(getattr(app, "serial", False))


class TextInput(Input):
    """An Input whose alt+backspace deletes the word before the cursor, as ctrl+w, the
    editor (TextArea) and a shell do: Textual's Input deletes the word after it. Alt+Backspace
    on the wire is ESC DEL, which the app reads as alt+backspace (typeahead.EscapeParser).

    Its placeholder is shown in angle brackets where dim may not show (`hints_marked`):
    `<a start IP, auto, or empty>`, as a drop-down shows `<None>`; values look the same."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("alt+backspace", "delete_left_word", show=False),
    ]

    def on_mount(self) -> None:
        if self.placeholder and hints_marked(self.app):
            self.placeholder = f"<{self.placeholder}>"
