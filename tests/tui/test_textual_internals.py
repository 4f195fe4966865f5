"""The Textual internals qlutui's widgets rely on, checked so that a Textual upgrade fails
here, by name, not in front of a user.

A change of a scrolling widget's `virtual_size` makes Textual lay out the whole screen: the
filter box (FilterInput), the Hosts table (RowsView) and the job log (LogPane's log) declare
it without layout and update their scrollbars in place with `Widget._scroll_update`, Textual's
private method. An Escape read together with the next key is one alt key from
typeahead.EscapeParser, which typeahead.after_escape takes apart again: EscapeParser overrides
XTermParser._sequence_to_key_events(sequence, alt), which Textual's parse loop calls with each
longer prefix of an escape sequence and, for a sequence it gave up on, with alt=True for the
character after its ESC; the app has Textual's Linux drivers build it by replacing the name
XTermParser in their module. Textual's Input deletes the word after the cursor on
alt+backspace, which widgets/text_input.TextInput rebinds. pyproject.toml allows only the
Textual these tests passed on."""

from __future__ import annotations

import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from textual import constants
from textual._xterm_parser import XTermParser
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.driver import Driver
from textual.drivers import linux_driver, linux_inline_driver
from textual.drivers.linux_inline_driver import LinuxInlineDriver
from textual.events import Key
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from qlutui.screens.hosts import HostEntry, RowsView
from qlutui.typeahead import EscapeParser, KeysInOrder, after_escape
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


def keys(burst: str) -> list[tuple[str, str | None]]:
    """What EscapeParser makes of `burst` once the escape delay is over (the end of input
    takes the same path)."""
    parser = EscapeParser()
    parsed = (*parser.feed(burst), *parser.feed(""))
    return [(key.key, key.character) for key in parsed if isinstance(key, Key)]


@pytest.mark.parametrize(
    ("after", "alt", "alone"),
    [
        ("c", "alt+c", "c"),
        ("C", "alt+shift+c", "C"),
        ("é", "alt+é", "é"),
        # Textual's own parser: Enter, space, punctuation without the Escape; b and f as
        # ctrl+left and ctrl+right, DEL as ctrl+w, 1 as '¡'
        ("\r", "alt+enter", "enter"),
        (" ", "alt+space", "space"),
        ("/", "alt+slash", "slash"),
        ("?", "alt+question_mark", "question_mark"),
        ("b", "alt+b", "b"),
        ("f", "alt+f", "f"),
        ("\x7f", "alt+backspace", "backspace"),
        ("1", "alt+1", "1"),
    ],
    ids=repr,
)
def test_escape_and_a_key_read_together_are_one_alt_key(after: str, alt: str, alone: str) -> None:
    """ESC + a key, and the next key: the alt key carries the key's character, and
    after_escape gives the key back as it is read alone."""
    assert keys("\x1b" + after + "n") == [(alt, after), ("n", "n")]
    assert keys(after) == [(alone, after)]
    first = Key(alt, after)
    split = after_escape(first)
    assert split is not None and (split.key, split.character) == (alone, after)
    assert after_escape(Key("n", "n")) is None


def test_escape_sequences_and_linux_shift_tab_stay_keys() -> None:
    """ESC Tab is TERM=linux's Shift+Tab (terminfo kcbt); cursor keys and Escape Escape are
    what they were. ESC [ and ESC O start sequences: alt keys only if nothing follows. An
    Escape followed by more keys than Textual looks at for one sequence: it made the Escape
    a '^'."""
    assert keys("\x1b\t") == [("shift+tab", None)]
    assert keys("\x1b[A\x1bOB\x1b[1;5D") == [("up", None), ("down", None), ("ctrl+left", None)]
    assert keys("\x1b\x1b") == [("escape", "\x1b")] * 2
    assert keys("\x1b[") == [("alt+left_square_bracket", "[")]  # a CSI that never came
    typed = "abcdefghijklmnopqrstuvwxyz0123456789"
    assert keys("\x1bc" + typed) == [("alt+c", "c"), *((c, c) for c in typed)]
    assert after_escape(Key("alt+up", None)) is None  # a terminal that reports Alt itself


@pytest.mark.parametrize(
    ("module", "driver"),
    [(linux_driver, linux_driver.LinuxDriver), (linux_inline_driver, LinuxInlineDriver)],
    ids=["linux", "linux-inline"],
)
def test_the_app_has_the_linux_drivers_build_escape_parser(
    module: ModuleType, driver: type[Driver], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "XTermParser(" in inspect.getsource(driver.run_input_thread)
    monkeypatch.setattr(module, "XTermParser", XTermParser)
    monkeypatch.setattr(constants, "DRIVER", f"{driver.__module__}:{driver.__name__}")
    assert KeysInOrder().driver_class is driver
    assert module.XTermParser is EscapeParser


def test_textual_input_alt_backspace_deletes_the_word_after_the_cursor() -> None:
    """widgets/text_input.TextInput binds alt+backspace (ESC DEL) to delete the word before
    the cursor; once Textual's Input does so itself, TextInput is no longer needed."""
    actions = [
        binding.action
        for binding in Input.BINDINGS
        if isinstance(binding, Binding) and "alt+backspace" in binding.key.split(",")
    ]
    assert actions == ["delete_right_word"], f"Input's alt+backspace: {actions}"
