"""An Input for filter text whose keys do not lay out the whole screen.

Textual's Input sets its `virtual_size` (a reactive with layout=True) on every change of its
value: each key typed lays out and repaints every widget of the screen, the larger part of
a filter key's cost on a big table. The text's width only concerns the Input's own
scrolling, so the size is set first as Textual does when no layout is needed
(`set_reactive`, then the scrollbars, which ask for a layout themselves should one appear);
Input's own watcher then finds it unchanged and does the rest (the Changed message ...).
"""

from __future__ import annotations

from textual.geometry import Size
from textual.widgets import Input


class FilterInput(Input):
    def _watch_value(self, value: str) -> None:
        size = Size(self.content_width, 1)
        if size != self.virtual_size and not self.styles.auto_dimensions:
            self.set_reactive(Input.virtual_size, size)
            self._scroll_update(size)
        super()._watch_value(value)
