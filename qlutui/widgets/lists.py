"""The list widgets every screen shares, so a key does the same in each of them.

Textual's Tree and OptionList already go to the first and last entry with home and end; its
DataTable scrolls sideways with them instead. `RowTable` is the DataTable of every row list
(Root FS configs, Write Files, Jobs, Audit Trail): home and end go to the first and last row.
`FoldTree` is the Tree of every tree (Qlustar Images, a Root FS config's files): right and
left unfold and fold, as the help screen says (Textual's Tree binds neither). Under a filter
box (widgets/filter_input.py) up on the first row goes back to the box.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Tree
from textual.widgets.tree import TreeDataType

from qlutui.widgets.filter_input import up_to_filter


class RowTable(DataTable):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First", show=False),
        Binding("end", "scroll_bottom", "Last", show=False),
    ]

    def to_first_row(self) -> None:
        self.action_scroll_top()

    def action_cursor_up(self) -> None:
        if self.cursor_row > 0 or not up_to_filter(self):
            super().action_cursor_up()


class FoldTree(Tree[TreeDataType]):
    """Right unfolds the node under the cursor (into it when open), left folds it (to its
    parent when closed); ASCII guides and icons on a serial console."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right", "unfold", "Unfold", show=False),
        Binding("left", "fold", "Fold", show=False),
    ]

    def on_mount(self) -> None:
        if getattr(self.app, "serial", False):
            self.ICON_NODE, self.ICON_NODE_EXPANDED = "+ ", "- "
            self.LINES = dict.fromkeys(Tree.LINES, ("  ", "| ", "`-", "|-"))

    def to_first_row(self) -> None:
        self.action_scroll_home()

    def action_cursor_up(self) -> None:
        if self.cursor_line > 0 or not up_to_filter(self):
            super().action_cursor_up()

    def action_unfold(self) -> None:
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if node.is_expanded:
            self.action_cursor_down()
        else:
            self.action_toggle_node()  # a subclass may fill the node first

    def action_fold(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded and node.allow_expand:
            self.action_toggle_node()
        else:
            self.action_cursor_parent()
