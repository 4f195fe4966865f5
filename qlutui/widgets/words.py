"""Text broken between words only, never inside one (a path folded mid-word reads as two).

A word longer than a whole line (a long path) stands on its own line, cut in the middle
so both its start and its end (the file name, `line:col`) stay visible."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

ELLIPSIS = "\u2026"


def middle_cut(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut in the middle when longer."""
    if len(text) <= width:
        return text
    if width < 2:
        return text[-width:] if width > 0 else ""
    head = width // 2
    return text[:head] + ELLIPSIS + text[len(text) - (width - 1 - head) :]


def wrap_words(text: str, width: int) -> list[str]:
    """The lines of `text` (its own newlines kept) at most `width` cells wide, broken
    only between words."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            if line and len(line) + 1 + len(word) <= width:
                line += " " + word
                continue
            if line:
                lines.append(line)
            line = middle_cut(word, width)
        lines.append(line)
    return lines


class Words:
    """A Rich renderable of `text` wrapped by `wrap_words` at the width it is given."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in wrap_words(self.text, options.max_width):
            yield Text(line, end="\n", no_wrap=True)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max((len(word) for word in self.text.split()), default=0)
        widest = max((len(line) for line in self.text.split("\n")), default=0)
        return Measurement(min(longest, options.max_width), min(widest, options.max_width))

    def __str__(self) -> str:  # what a test or the bench reads, as for a plain string
        return self.text
