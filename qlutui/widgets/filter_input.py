"""The filter box above a list (Hosts, Images, Jobs, Audit): typing narrows the list, enter
goes to the list as it is, down goes to its first row; up on the list's first row comes back
(`up_to_filter`, called by the lists of widgets/lists.py and the Hosts table).

Its keys do not lay out the whole screen: Textual's Input sets its `virtual_size` (a reactive
with layout=True) on every change of its value, and each key typed would lay out and repaint
every widget of the screen, the larger part of a filter key's cost on a big table. The text's
width only concerns the Input's own scrolling: here the reactive asks for no layout and its
watcher updates the scrollbars in place (`Widget._scroll_update`, as Textual does when no
layout is needed), which ask for a layout themselves should one appear. An Input sized by its
text (auto width) still asks for one: Input's own watcher does.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, cast

from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widget import Widget

from qlutui.widgets.text_input import TextInput


class FilteredRows(Protocol):
    """The list a filter box is above."""

    def focus(self, scroll_visible: bool = True) -> Widget: ...
    def to_first_row(self) -> None: ...


class FilterInput(TextInput):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "to_rows", "First row", show=False),
    ]

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def __init__(self, *, rows: str, placeholder: str, id: str) -> None:
        super().__init__(placeholder=placeholder, id=id, compact=True, select_on_focus=False)
        self.rows_id = rows  # the id of the list it filters

    def start(self) -> None:
        """'/': the text selected, so that typing replaces it (the arrows keep it)."""
        self.select_all()
        self.focus()

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)

    @property
    def rows(self) -> FilteredRows:
        return cast("FilteredRows", self.screen.query_one(f"#{self.rows_id}"))

    async def action_submit(self) -> None:
        await super().action_submit()  # Input.Submitted: the screen acts on the filter now
        self.rows.focus()

    async def action_to_rows(self) -> None:
        await self.action_submit()
        self.rows.to_first_row()


def up_to_filter(rows: Widget) -> bool:
    """Up on the first row of `rows`: the focus goes to the filter box shown above it
    (True), if it has one, to type on."""
    for box in rows.screen.query(FilterInput):
        if box.rows_id == rows.id and box.display:
            box.focus()
            return True
    return False
