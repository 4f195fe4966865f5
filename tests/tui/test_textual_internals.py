"""The Textual internals qlutui's widgets rely on, checked so that a Textual upgrade fails
here, by name, not in front of a user.

A change of a scrolling widget's `virtual_size` makes Textual lay out the whole screen: the
filter box (FilterInput), the Hosts table (RowsView) and the job log (LogPane's log) declare
it without layout and update their scrollbars in place with `Widget._scroll_update`, Textual's
private method. An Escape read together with the next character is one alt key from Textual's
XTermParser, which typeahead.after_escape takes apart again. pyproject.toml allows only the
Textual these tests passed on."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from textual._xterm_parser import XTermParser
from textual.app import App, ComposeResult
from textual.events import Key
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from qlutui.screens.hosts import HostEntry, RowsView
from qlutui.typeahead import after_escape
from qlutui.widgets.filter_input import FilterInput
from qlutui.widgets.log_pane import _Log

ROOT = Path(__file__).resolve().parents[2]
QUIET = (FilterInput, RowsView, _Log)


def textual_requirement() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return next(r for r in map(Requirement, project["dependencies"]) if r.name == "textual")


def test_pyproject_allows_only_the_tested_textual_minor_release() -> None:
    allowed = textual_requirement().specifier
    installed = version("textual")
    assert installed in allowed, f"Textual {installed} is installed; pyproject allows {allowed}"
    major, minor = (int(part) for part in installed.split(".")[:2])
    assert f"{major}.{minor + 1}.0" not in allowed, (
        f"pyproject allows Textual {allowed}: releases after {major}.{minor} are untested "
        "with the internals this file checks"
    )


@pytest.mark.parametrize("widget", QUIET, ids=lambda w: w.__name__)
def test_virtual_size_asks_for_no_layout(widget: type[Widget]) -> None:
    assert callable(getattr(Widget, "_scroll_update", None)), (
        f"Textual {version('textual')} has no Widget._scroll_update: FilterInput, RowsView "
        "and LogPane's log call it when their virtual_size changes (see their docstrings)"
    )
    reactive = widget.__dict__.get("virtual_size")
    assert isinstance(reactive, Reactive) and not reactive._layout, (
        f"{widget.__name__}.virtual_size must be its own Reactive(layout=False)"
    )
    assert "watch_virtual_size" in widget.__dict__, f"{widget.__name__}: no scrollbar update"


def hosts(count: int) -> list[HostEntry]:
    return [HostEntry(f"n{i}", [(f"n{i}",)], f"n{i}", False) for i in range(count)]


class Boxes(App[None]):
    CSS = "Input { width: 20; } RowsView { height: 5; }"

    def compose(self) -> ComposeResult:
        yield Input(id="plain")
        yield FilterInput(rows="rows", placeholder="/ filter", id="box")
        yield RowsView(("Host",), id="rows")


async def test_filter_keys_and_new_rows_lay_out_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a Textual upgrade would break: typing into a plain Input lays the screen out
    (else FilterInput is no longer needed), into a FilterInput it does not; the box still
    scrolls with its text; new rows show the Hosts table's scrollbar without a layout of
    their own (the scrollbar's appearing asks for one)."""
    layouts = []
    refresh_layout = Screen._refresh_layout  # a Textual without it fails here, loudly

    def counted(self: Screen, *args: object, **kwargs: object) -> None:
        layouts.append(1)
        refresh_layout(self, *args, **kwargs)

    monkeypatch.setattr(Screen, "_refresh_layout", counted)
    app = Boxes()
    async with app.run_test(size=(40, 12)) as pilot:
        plain, box = app.query_one("#plain", Input), app.query_one(FilterInput)
        rows = app.query_one(RowsView)
        plain.focus()
        await pilot.pause()
        layouts.clear()
        await pilot.press(*"abc")
        assert layouts, "a plain Input's key no longer lays out the screen: drop FilterInput"

        box.focus()
        await pilot.pause()
        layouts.clear()
        await pilot.press(*"x" * 15)
        await pilot.pause()
        assert box.value == "x" * 15 and not layouts
        await pilot.press(*"x" * 25)  # past its width: it scrolls (laid out as it starts to)
        await pilot.pause()
        assert box.virtual_size.width == box.content_width and box.scroll_x > 0, "no scroll"
        layouts.clear()
        await pilot.press(*"x" * 5)
        await pilot.pause()
        assert box.value == "x" * 45 and not layouts
        await pilot.press("ctrl+u")
        await pilot.pause()
        assert not box.value and box.scroll_x == 0

        rows.set_groups(hosts(10), [8])
        await pilot.pause()
        assert rows.show_vertical_scrollbar
        layouts.clear()
        rows.set_groups(hosts(30), [8])  # more rows, the scrollbar there already
        await pilot.pause()
        assert not layouts and rows.vertical_scrollbar.window_virtual_size == 31


@pytest.mark.parametrize(
    ("burst", "alt"),
    [("\x1bc", ("alt+c", "c")), ("\x1bC", ("alt+shift+c", "C")), ("\x1bé", ("alt+é", "é"))],
)
def test_escape_and_a_character_read_together_are_one_alt_key(
    burst: str, alt: tuple[str, str]
) -> None:
    """What the parser makes of ESC + a character once the escape delay is over (the end of
    input takes the same path), and after_escape gives the character's own key back."""
    parser = XTermParser()
    keys = [e for e in (*parser.feed(burst + "n"), *parser.feed("")) if isinstance(e, Key)]
    assert [(k.key, k.character) for k in keys] == [alt, ("n", "n")]
    after = after_escape(keys[0])
    assert after is not None and (after.key, after.character) == (burst[1], burst[1])
    assert after_escape(keys[1]) is None
