"""The list widgets every screen shares, so a key does the same in each of them.

Textual's Tree and OptionList already go to the first and last entry with home and end; its
DataTable scrolls sideways with them instead. `RowTable` is the DataTable of every row list
(Root FS configs, Write Files, Jobs, Audit Trail): home and end go to the first and last row.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class RowTable(DataTable):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First", show=False),
        Binding("end", "scroll_bottom", "Last", show=False),
    ]
