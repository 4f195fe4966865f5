"""Type-ahead (qlutui/typeahead.py): a key waits for the work the key before it started, but
not for a worker that waits on the screen it opened (an editor pushed with push_screen_wait):
what is typed next goes into that screen at once."""

from __future__ import annotations

from typing import ClassVar

import pytest
from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static, TextArea
from waiting import on_screen, until

from qlutui import typeahead
from qlutui.typeahead import KeysInOrder


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
