"""The one-line text field of qlutui's forms and filter boxes."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input


class TextInput(Input):
    """An Input whose alt+backspace deletes the word before the cursor, as ctrl+w, the
    editor (TextArea) and a shell do: Textual's Input deletes the word after it. Alt+Backspace
    on the wire is ESC DEL, which the app reads as alt+backspace (typeahead.EscapeParser)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("alt+backspace", "delete_left_word", show=False),
    ]
