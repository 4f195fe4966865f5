"""Type-ahead (qlutui/typeahead.py): a key waits for the work the key before it started, but
not for a worker that waits on the screen it opened (an editor pushed with push_screen_wait):
what is typed next goes into that screen at once."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from textual import events, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static, TextArea
from waiting import on_screen, opened, settled, until

import qlutui
from qlutui import typeahead
from qlutui.app import QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.screens.chroots import ChrootsScreen
from qlutui.screens.images import ImagesScreen
from qlutui.screens.menu import MenuScreen
from qlutui.typeahead import EscapeParser, KeysInOrder
from qlutui.widgets.dialogs import Field, FormDialog
from qlutui.widgets.filter_input import FilterInput
from qlutui.widgets.help import HelpScreen


class Editor(Screen):
    def compose(self) -> ComposeResult:
        yield TextArea(id="area")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()


class Files(Screen):
    BINDINGS: ClassVar = [("e", "edit")]

    def compose(self) -> ComposeResult:
        yield Static("files")

    @work
    async def action_edit(self) -> None:
        await self.app.push_screen_wait(Editor())  # waits until the editor is closed


class Harness(KeysInOrder):
    def on_mount(self) -> None:
        self.push_screen(Files())


async def test_keys_reach_a_screen_its_opener_waits_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(typeahead, "KEY_HOLD_S", 60.0)  # a held key would wait far longer
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, Files, "the files")
        await pilot.press("e", "a", "b")
        editor = await on_screen(pilot, Editor, "the editor")
        area = editor.query_one(TextArea)
        await until(pilot, lambda: area.text == "ab", "the typed keys in the editor")


class Opener(KeysInOrder):
    """The same from an app worker (a node that is no widget of any screen)."""

    BINDINGS: ClassVar = [("e", "edit")]

    @work
    async def action_edit(self) -> None:
        await self.push_screen_wait(Editor())


async def test_keys_reach_a_screen_an_app_worker_waits_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(typeahead, "KEY_HOLD_S", 60.0)
    app = Opener()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e", "a", "b")
        editor = await on_screen(pilot, Editor, "the editor")
        area = editor.query_one(TextArea)
        await until(pilot, lambda: area.text == "ab", "the typed keys in the editor")
        assert not app._held


# -- an Escape read together with the next key ----------------------------------------------
# The app's parser (EscapeParser) makes ESC + x, read within the escape delay, into alt+x.


def typed(app: QlutuiApp, burst: str) -> None:
    """`burst` as the app's parser reads it from the terminal in one read."""
    parser = EscapeParser()
    for message in (*parser.feed(burst), *parser.feed("")):
        app.post_message(message)


async def test_an_alt_key_nothing_binds_is_escape_then_the_key(cluster: Cluster) -> None:
    """On Images, ESC c: Escape leaves for the menu, where c opens Manage Chroots. Remapped
    to an alt key (`[ui.keymap]`), a binding keeps it."""
    app = QlutuiApp(cluster)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, "i")
        assert isinstance(app.screen, ImagesScreen)
        app.post_message(events.Key("alt+c", "c"))
        await on_screen(pilot, ChrootsScreen, "Manage Chroots, opened from the menu")
        menu, _chroots = app.screen_stack  # c reached the menu: the Escape had left Images
        assert isinstance(menu, MenuScreen)

        app.set_keymap({"app.help": "alt+c"})
        app.post_message(events.Key("alt+c", "c"))
        await on_screen(pilot, HelpScreen, "the keys, bound to alt+c")
        assert len(app.screen_stack) == 3


async def test_an_alt_key_in_a_filter_box_is_escape_then_the_key(cluster: Cluster) -> None:
    """ESC c in the Images filter box: the Escape clears the filter, the focus goes to the
    list, and c is the list's key (edit the image's chroot), not a letter of the filter."""
    app = QlutuiApp(cluster)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, "i")
        await pilot.press("slash", *"jammy")
        box = app.screen.query_one(FilterInput)
        await until(pilot, lambda: box.value == "jammy", "the filter typed")
        app.post_message(events.Key("alt+c", "c"))
        await on_screen(pilot, FormDialog, "the chroot form")
        assert not box.value


@pytest.mark.parametrize(
    ("after", "stack"),
    [
        ("?", [MenuScreen, HelpScreen]),
        ("\r", [MenuScreen, ImagesScreen]),  # Enter: the highlighted entry, Images again
        (" ", [MenuScreen]),
        ("\x7f", [MenuScreen]),
    ],
    ids=["question-mark", "enter", "space", "backspace"],
)
async def test_escape_and_any_key_in_one_read_are_both_keys(
    cluster: Cluster, after: str, stack: list[type]
) -> None:
    """On Images, ESC + ?, Enter, space or Backspace: the Escape leaves for the menu, where
    the key acts. Textual's parser dropped the Escape before the first three and made ESC
    DEL a ctrl+w nothing binds."""
    app = QlutuiApp(cluster)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, "i")
        images = app.screen
        typed(app, "\x1b" + after)

        def reached() -> bool:
            screens = app.screen_stack
            kinds = len(screens) == len(stack) and all(map(isinstance, screens, stack))
            return kinds and app.screen is not images and app.screen.is_mounted

        await until(pilot, reached, f"the screens {stack}")
        await settled(pilot)
        assert reached()


async def test_an_alt_key_the_filter_box_binds_stays_that_key(cluster: Cluster) -> None:
    """ESC DEL is the text field's alt+backspace in the filter box: the word before the
    cursor deleted (Textual's Input deletes the one after it); on the list, where nothing
    binds it, Escape (back to the menu) then Backspace."""
    app = QlutuiApp(cluster)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, "i")
        await pilot.press("slash", *"jammy", "space", *"x")
        box = app.screen.query_one(FilterInput)
        await until(pilot, lambda: box.value == "jammy x", "the filter typed")
        typed(app, "\x1b\x7f")
        await until(pilot, lambda: box.value == "jammy ", "the word deleted")
        assert isinstance(app.screen, ImagesScreen)
        await pilot.press("escape")  # clears the filter: the focus goes to the list
        await until(pilot, lambda: not box.value and not box.has_focus, "the list focused")
        typed(app, "\x1b\x7f")
        await on_screen(pilot, MenuScreen, "the menu")


class FormOpener(KeysInOrder):
    """A two-line form (as Clone chroot: New name, Description), its answer recorded."""

    BINDINGS: ClassVar = [("f", "form")]
    CSS_PATH = Path(qlutui.__file__).with_name("app.tcss")

    answer: dict | None = None

    @work
    async def action_form(self) -> None:
        fields = [Field.input("name", "New name"), Field.input("description", "Description")]
        self.answer = await self.push_screen_wait(FormDialog("Clone", fields))


async def test_enter_in_a_form_moves_on_before_the_next_key_of_a_burst() -> None:
    """`name<Enter>desc<Enter>` in one read: Enter goes to the next field (its Input's
    Submitted message bubbling up to the form), and the key after it is typed there, not into
    the name (a clone named 'mini2c', described 'lone of mini')."""
    app = FormOpener()
    async with app.run_test(size=(80, 24)) as pilot:
        app.post_message(events.Key("f", "f"))
        await on_screen(pilot, FormDialog, "the form")
        for char in "ab\rcd\r":
            key = "enter" if char == "\r" else char
            app.post_message(events.Key(key, char))
        await until(pilot, lambda: app.answer is not None, "the form answered")
        assert app.answer == {"name": "ab", "description": "cd"}
