"""FileView: a generated SSH file (header and generated part visibly apart) or a unified diff.

Two read-only TextAreas (they stay fast for files of ten thousand lines) with a caption
above each: the admin's header, then the part generated from the inventory. A diff or a
plain file uses the first area alone.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, TextArea

from qlutui.model.generated import Preview
from qlutui.model.names import counted


def _lines(text: str) -> str:
    count = text.count("\n") + (0 if not text or text.endswith("\n") else 1)
    return counted(count, "line")


class FileView(Vertical):
    DEFAULT_CSS = """
    FileView { height: 1fr; }
    FileView .caption { height: 1; padding: 0 1; background: $panel; color: $text; }
    FileView #view-generated-caption { background: $accent 40%; text-style: bold; }
    FileView TextArea { height: 1fr; border: none; padding: 0; }
    FileView #view-header.-short { height: auto; max-height: 8; }
    FileView .-hidden { display: none; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="view-caption", classes="caption", markup=False)
        yield TextArea("", id="view-header", read_only=True, soft_wrap=False)
        yield Static("", id="view-generated-caption", classes="caption", markup=False)
        yield TextArea("", id="view-generated", read_only=True, soft_wrap=False)

    def show_preview(self, title: str, preview: Preview) -> None:
        """The whole file: the header, then the generated part under its own caption."""
        header = preview.header or ("(empty header)\n" if preview.generated else "(empty)\n")
        self._show(f"{title} - header: {_lines(preview.header)}", header)
        generated = bool(preview.generated)
        self.query_one("#view-header").set_class(generated, "-short")
        self._second(generated, preview.generated, _lines(preview.generated))

    def show_text(self, caption: str, text: str) -> None:
        """One text under one caption (a diff, a message)."""
        self._show(caption, text)
        self.query_one("#view-header").set_class(False, "-short")
        self._second(False, "", "")

    @property
    def text(self) -> str:
        """Everything shown, captions included (what a test or a user reads)."""
        parts = []
        for caption, area in (
            ("#view-caption", "#view-header"),
            ("#view-generated-caption", "#view-generated"),
        ):
            if not self.query_one(area).has_class("-hidden"):
                parts += [
                    str(self.query_one(caption, Static).content),
                    self.query_one(area, TextArea).text,
                ]
        return "\n".join(parts)

    def _show(self, caption: str, text: str) -> None:
        self.query_one("#view-caption", Static).update(caption)
        area = self.query_one("#view-header", TextArea)
        area.load_text(text)
        area.scroll_home(animate=False)

    def _second(self, shown: bool, text: str, count: str) -> None:
        caption = self.query_one("#view-generated-caption", Static)
        caption.update(f"generated from the inventory (do not edit) - {count}")
        area = self.query_one("#view-generated", TextArea)
        area.load_text(text)
        for widget in (caption, area):
            widget.set_class(not shown, "-hidden")
