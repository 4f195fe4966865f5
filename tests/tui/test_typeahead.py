"""KeysInOrder on its own: which work holds the next key and which does not."""

from __future__ import annotations

from typing import ClassVar

import pytest
from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Input
from waiting import on_screen, until

from qlutui import typeahead
from qlutui.typeahead import KeysInOrder


class Editor(Screen[str]):
    def compose(self) -> ComposeResult:
        yield Input(id="text")

    def on_mount(self) -> None:
        self.query_one(Input).focus()


class Opener(KeysInOrder):
    """`e` opens the editor from a worker that waits for its result, as the Root FS
    screen opens its file editor."""

    BINDINGS: ClassVar = [("e", "edit", "Edit")]

    def __init__(self) -> None:
        super().__init__()
        self.result: str | None = None

    @work
    async def action_edit(self) -> None:
        self.result = await self.push_screen_wait(Editor())


@pytest.fixture(autouse=True)
def _long_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    # a held key would wait this long: far beyond every bound below
    monkeypatch.setattr(typeahead, "KEY_HOLD_S", 600.0)


async def test_a_screen_opened_by_a_waiting_worker_takes_the_next_keys() -> None:
    app = Opener()
    async with app.run_test() as pilot:
        await pilot.press("e")
        editor = await on_screen(pilot, Editor)
        await pilot.press(*"abc")
        field = editor.query_one(Input)
        await until(pilot, lambda: field.value == "abc", "the keys in the editor")
        assert not app._held
