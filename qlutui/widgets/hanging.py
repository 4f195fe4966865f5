"""Text wrapped between words at whatever width it is drawn: the one wrapping rule.

Lines break between words, never inside one (a path folded mid-word reads as two), and
continue with a hanging indent: a detail row `Description: a long text ...` continues under
its value, not under the label; a report line continues a little right of where it starts.
A word longer than a whole line (a long path) is either broken after a '/' (its parts stay
whole), or, with `cut_long`, kept on one line cut in its middle so both its start and its
end (the file name, `line:col`) stay visible. `middle_cut` is that cut for one line of text;
`start_cut` keeps only the end (a path in a table cell).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

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


def start_cut(text: str, width: int) -> str:
    """`text` in at most `width` cells, its start cut when longer: a path keeps its end."""
    if len(text) <= width:
        return text
    return ELLIPSIS + text[len(text) - width + 1 :] if width > 1 else text[len(text) - width :]


Line = str | tuple[str, int]  # a line, or a line and its own hang


class Hanging:
    """Plain lines; each one's continuation is indented `hang` cells (or the line's own,
    given with it) past the line's own leading spaces. `cut_long`: a word longer than a line
    stands on its own line, cut in its middle (`middle_cut`), instead of being broken after
    a '/'."""

    def __init__(self, lines: Iterable[Line], hang: int = 2, *, cut_long: bool = False) -> None:
        hung = (line if isinstance(line, tuple) else (line, hang) for line in lines)
        self.hung = [(part, own) for text, own in hung for part in text.split("\n")]
        self.lines = [text for text, _ in self.hung]
        self.hang = hang
        self.cut_long = cut_long

    def wrapped(self, width: int) -> list[str]:
        out: list[str] = []
        for line, hang in self.hung:
            lead = len(line) - len(line.lstrip(" "))
            indent = min(lead + hang, width // 2)
            out += wrap(line, max(width, 2), indent, cut_long=self.cut_long)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text("\n".join(self.wrapped(options.max_width)))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max((len(line) for line in self.lines), default=0)
        return Measurement(min(longest, options.max_width), options.max_width)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def wrap(line: str, width: int, indent: int, *, cut_long: bool = False) -> list[str]:
    """`line` in lines of at most `width` cells, broken between words, the continuation
    lines indented by `indent`. A word too long for a continuation line (a path) fills the
    line it starts on, cut after a '/' where it can; with `cut_long`, a word longer than a
    whole line stands on a line of its own, cut in its middle."""
    lines: list[str] = []
    current = ""
    for token in re.findall(r" *\S+", line) or [""]:
        if cut_long and len(token.lstrip(" ")) > width:
            if current.strip():
                lines.append(current)
            current = middle_cut(token.lstrip(" "), width)
            continue
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
