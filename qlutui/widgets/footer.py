"""The key bar every screen docks at its bottom: the active bindings as one line of text.

Textual's Footer is a widget per key, mounted anew on every binding change: a screen's first
paint is followed by a second mount, CSS pass and layout (70-100 ms while a log streams,
during which keys wait). Here a change is a repaint of one line. When the keys do not fit,
the spacing tightens, then the least important keys are left out whole (the app-wide ones
first); `?` and the palette key stay on the right, and `?` lists them all. While a dialog
(a modal screen) is open over its screen, the bar shows the dialog's keys: those are the
ones that act (a form's ^s OK, a question's y / n), not the screen's beneath.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import ModalScreen, Screen
from textual.widget import Widget


class FooterItem(NamedTuple):
    key: str  # what `simulate_key` takes
    label: str  # the key as shown, e.g. "^p"
    description: str
    enabled: bool


ItemCells = tuple[int, int, FooterItem]  # the cells [start, end) an item takes
KEPT = {"app.help"}  # binding ids always shown, on the right beside the palette key


class KeysFooter(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"keys-footer--key", "keys-footer--description"}
    DEFAULT_CSS = """
    KeysFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        .keys-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .keys-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._spans: list[ItemCells] = []  # cells of each item, for clicks

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.app.screen_change_signal.subscribe(self, self._screen_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)
        self.app.screen_change_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen) -> None:
        self.refresh()

    def _screen_changed(self, top: Screen) -> None:
        """A dialog opened over this screen (its keys now, and as its focus moves) or closed."""
        if top is not self.screen and isinstance(top, ModalScreen):
            top.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.refresh()

    @property
    def shown(self) -> Screen:
        """The screen whose keys the bar shows: a dialog open over this one, else its own (a
        bar under another full screen is not seen)."""
        top = self.app.screen
        return top if isinstance(top, ModalScreen) and top is not self.screen else self.screen

    def items(self) -> tuple[list[FooterItem], list[FooterItem]]:
        """The shown bindings of the focused chain, one per action, most important first
        (the screen's own actions, then the app-wide ones and escape), and the keys always
        kept on the right: `?` (it lists every key) and the palette."""
        app = self.app
        right: list[FooterItem] = []
        seen: dict[str, tuple[bool, FooterItem]] = {}
        for key, (node, binding, enabled, _tip) in self.shown.active_bindings.items():
            item = FooterItem(key, app.get_key_display(binding), binding.description, enabled)
            if binding.id in KEPT or (
                key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE
            ):
                right.append(item)
            elif binding.show and binding.action not in seen:
                generic = node is app or key == "escape"
                seen[binding.action] = (generic, item)
        ranked = sorted(seen.values(), key=lambda pair: pair[0])  # stable: declared order
        return [item for _, item in ranked], right

    def render(self) -> Text:
        items, kept = self.items()
        styles = (
            self.get_component_rich_style("keys-footer--key"),
            self.get_component_rich_style("keys-footer--description"),
        )  # looked up once: each lookup walks the stylesheet
        right, right_spans = self._line(kept, 1, styles)
        room = self.size.width - right.cell_len
        # " key desc " per item, tighter "key desc" when that does not fit, then the least
        # important keys left out (never one cut mid-word)
        pad = 1 if _width(items, 1) <= room else 0
        while items and _width(items, pad) > room:
            items = items[:-1]
        left, left_spans = self._line(items, pad, styles)
        left.pad_right(max(room - left.cell_len, 0))
        self._spans = left_spans + [(s + room, e + room, i) for s, e, i in right_spans]
        return left + right

    def _line(
        self, items: list[FooterItem], pad: int, styles: tuple[Style, Style]
    ) -> tuple[Text, list[ItemCells]]:
        """The items as one line of text, and the cells each one takes."""
        key_style, text_style = styles
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        spans: list[ItemCells] = []
        for item in items:
            start = line.cell_len
            dim = Style(dim=not item.enabled)
            line.append(" " * pad + item.label, key_style + dim)
            if item.description:
                line.append(f" {item.description}", text_style + dim)
            line.append(" " * pad if pad else " ", text_style)
            spans.append((start, line.cell_len, item))
        return line, spans

    def on_click(self, event: events.Click) -> None:
        for start, end, item in self._spans:
            if start <= event.x < end:
                if item.enabled:
                    self.app.simulate_key(item.key)
                else:
                    self.app.bell()
                return


def _width(items: list[FooterItem], pad: int) -> int:
    """The cells `KeysFooter._line` takes for the items, without building the line."""
    return sum(
        pad
        + cell_len(item.label)
        + (1 + cell_len(item.description) if item.description else 0)
        + (pad or 1)
        for item in items
    )
