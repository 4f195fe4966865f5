"""A multi-select list whose boxes read without colour: `[x]` chosen, `[ ]` not.

Textual's SelectionList draws the same `X` in every box and tells chosen from not by colour
alone, which a monochrome or serial console cannot show.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import OptionList, SelectionList
from textual.widgets.option_list import OptionDoesNotExist

CHOSEN = "[x]"
NOT_CHOSEN = "[ ]"


class CheckList(SelectionList):
    def _get_left_gutter_width(self) -> int:
        return len(CHOSEN) + 1

    def render_line(self, y: int) -> Strip:
        line = OptionList.render_line(self, y)  # the prompt, without SelectionList's box
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return line
        component = "selection-list--button"
        chosen = selection.value in self._selected
        if chosen:
            component += "-selected"
        if self.highlighted == self.scroll_offset.y + y:
            component += "-highlighted"
        base = next(iter(line)).style or self.rich_style
        box = base + self.get_component_rich_style(component).without_color
        return Strip([Segment(CHOSEN if chosen else NOT_CHOSEN, box), Segment(" ", base), *line])
