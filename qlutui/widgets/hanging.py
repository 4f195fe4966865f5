"""Text whose wrapped lines keep a hanging indent, at whatever width it is drawn.

A detail row `Description: a long text ...` continues under its value, not under the label;
a report line continues a little right of where it starts. Lines break between words (a
word longer than the line is cut), never fold back to the left edge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text


class Hanging:
    """Plain lines; each one's continuation is indented `hang` cells past the line's own
    leading spaces."""

    def __init__(self, lines: Iterable[str], hang: int = 2) -> None:
        self.lines = [part for line in lines for part in line.split("\n")]
        self.hang = hang

    def wrapped(self, width: int) -> list[str]:
        out: list[str] = []
        for line in self.lines:
            lead = len(line) - len(line.lstrip(" "))
            out += wrap(line, max(width, 2), min(lead + self.hang, width // 2))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text("\n".join(self.wrapped(options.max_width)))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max((len(line) for line in self.lines), default=0)
        return Measurement(min(longest, options.max_width), options.max_width)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def wrap(line: str, width: int, indent: int) -> list[str]:
    """`line` in lines of at most `width` cells, broken between words, the continuation
    lines indented by `indent`. A word too long for a continuation line (a path) fills the
    line it starts on, cut after a '/' where it can."""
    lines: list[str] = []
    current = ""
    for token in re.findall(r" *\S+", line) or [""]:
        while token:
            if not current.strip():  # a fresh line: no spaces before its first word
                current, token = current + token.lstrip(" ") if current else token, ""
                if len(current) <= width:
                    break
                at = _cut(current, width)
                token, current = current[at:], current[:at]
            elif len(current) + len(token) <= width:
                current, token = current + token, ""
                break
            elif len(token.lstrip(" ")) <= width - indent:
                token = token.lstrip(" ")
            else:  # too long for any line: fill this one
                at = _cut(token, width - len(current))
                current, token = current + token[:at], token[at:].lstrip(" ")
            lines.append(current)
            current = " " * indent
    lines.append(current)
    return lines


def _cut(word: str, room: int) -> int:
    """Where to cut a word longer than a line: after its last '/' within `room` (a path
    breaks between its parts), else where the line ends."""
    at = word.rfind("/", 0, room) + 1
    return at if at > room // 2 else room


def label_rows(rows: Sequence[tuple[str, str]]) -> Hanging:
    """`Label: value` rows, the values in one column, each continuing under itself."""
    width = max((len(label) for label, _ in rows), default=0) + 2
    return Hanging((f"{label + ':':<{width}}{value}" for label, value in rows), hang=width)
