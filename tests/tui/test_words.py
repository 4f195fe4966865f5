"""Text broken between words only: a path is never folded mid-word (`Hanging` with
`cut_long`, as the menu shows a message)."""

from __future__ import annotations

import pytest

from qlutui.widgets.hanging import ELLIPSIS, Hanging, middle_cut

REASON = "Expected ']' at the end of a table declaration"


def wrap_words(text: str, width: int) -> list[str]:
    return Hanging([text], hang=0, cut_long=True).wrapped(width)


@pytest.mark.parametrize("depth", range(1, 12))
def test_a_long_path_keeps_its_line_and_its_end(depth: int) -> None:
    path = "/tmp/pytest-of-root/" + "d/" * depth + "state/chroots.toml:1:9:"
    lines = wrap_words(f"{path} {REASON}", 60)
    assert all(len(line) <= 60 for line in lines)
    first, *rest = " ".join(lines).split()
    assert rest == REASON.split()  # the reason after it, word by word
    if len(path) <= 60:
        assert first == path
    else:  # on its own line, cut in the middle: its start and its end (file, line:col) whole
        head, _, tail = first.partition(ELLIPSIS)
        assert lines[0] == first and path.startswith(head) and tail.endswith("chroots.toml:1:9:")


def test_newlines_kept_and_short_words_joined() -> None:
    assert wrap_words("a b c\n(!) 1 problem", 3) == ["a b", "c", "(!)", "1", f"p{ELLIPSIS}m"]
    assert wrap_words("", 10) == [""]


def test_middle_cut() -> None:
    assert middle_cut("abcdef", 6) == "abcdef"
    assert middle_cut("abcdefgh", 5) == "ab" + ELLIPSIS + "gh"
