"""The shared modal dialogs return their answers through dismiss()."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import Input, Select, SelectionList, Static, TextArea

import qlutui
from qlutui.errors import InvalidInput
from qlutui.widgets.dialogs import Confirm, ErrorDialog, Field, FormDialog

NO_RESULT = object()


class Harness(App):
    """Shows one dialog with the app's stylesheet and records what it returns."""

    CSS_PATH = Path(qlutui.__file__).with_name("app.tcss")

    def __init__(self, dialog) -> None:
        super().__init__()
        self.dialog = dialog
        self.result = NO_RESULT

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self._done)

    def _done(self, result) -> None:
        self.result = result


async def answer(dialog, *keys: str):
    app = Harness(dialog)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        return app.result


async def test_confirm_keys() -> None:
    assert await answer(Confirm("Remove?"), "y") is True
    assert await answer(Confirm("Remove?"), "n") is False
    assert await answer(Confirm("Remove?"), "escape") is False
    assert await answer(Confirm("Remove?"), "enter") is False  # No has the focus: Enter
    assert await answer(Confirm("Remove?"), "shift+tab", "enter") is True  # never deletes


async def test_confirm_shows_question_and_detail() -> None:
    app = Harness(Confirm("Kill job build?", detail="It runs on beosrv-c, beosrv-d."))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "Kill job build?" in text
        assert "It runs on beosrv-c, beosrv-d." in text


async def test_error_dialog_closes_with_enter() -> None:
    dialog = ErrorDialog("chroots.toml was changed by someone else")
    assert await answer(dialog, "enter") is None
    assert not dialog.is_attached


def name_problem(value: str) -> str | None:
    return None if value.isidentifier() else f"'{value}' is not a valid name"


def fields() -> list[Field]:
    return [
        Field.input("name", "Name", validate=name_problem),
        Field.select("server", "NFS server", ["beosrv-c", "beosrv-d"]),
        Field.select("chroot", "UnionFS chroot", [("Base", "base")], allow_none=True),
        Field.multi("tasks", "Tasks", [("Imaging", "img"), ("NGS", "ngs")], selected=["ngs"]),
        Field.text("description", "Description", "old"),
    ]


async def test_form_returns_every_kind_of_value() -> None:
    app = Harness(FormDialog("New chroot", fields()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.focused, Input)
        await pilot.press(*"bad name")
        await pilot.pause()
        error = app.screen.query_one("#error-name", Static)
        assert "'bad name' is not a valid name" in str(error.render())
        assert error.display
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.result is NO_RESULT  # refused: the dialog stays
        assert app.focused is app.screen.query_one("#field-name")
        for _ in range(5):
            await pilot.press("backspace")
        await pilot.press("enter")  # next field
        await pilot.pause()
        assert not error.display
        assert isinstance(app.focused, Select)
        await pilot.press("tab", "tab")  # past the <None> select to the selection list
        assert isinstance(app.focused, SelectionList)
        await pilot.press("space")  # select "Imaging" (highlighted first)
        await pilot.press("tab")
        assert isinstance(app.focused, TextArea)
        await pilot.press("end", *" text")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.result == {
        "name": "bad",
        "server": "beosrv-c",
        "chroot": None,
        "tasks": ["img", "ngs"],
        "description": "old text",
    }


async def test_form_escape_cancels() -> None:
    assert await answer(FormDialog("New chroot", fields()), *"x", "escape") is None


async def test_form_level_check_blocks_and_shows_service_error() -> None:
    def check(values: dict) -> str | None:
        if values["name"] == "taken":
            raise InvalidInput("chroot 'taken' already exists")
        return None

    app = Harness(FormDialog("Clone", [Field.input("name", "New name")], validate=check))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*"taken", "enter")  # enter in the last field submits
        await pilot.pause()
        assert app.result is NO_RESULT
        assert "chroot 'taken' already exists" in str(
            app.screen.query_one("#form-error", Static).render()
        )
        await pilot.press("backspace", "enter")
        await pilot.pause()
    assert app.result == {"name": "take"}


async def test_long_form_keeps_its_buttons_inside_the_box() -> None:
    """17 fields under a 3-line note (Add hosts) at 80x24: the fields scroll, the help line
    and OK / Cancel stay inside the border (they were drawn past it, out of sight)."""
    fields = [Field.input(f"f{i}", f"Field {i}", help=f"help of field {i}") for i in range(17)]
    app = Harness(FormDialog("Add hosts", fields, detail="one\ntwo\nthree"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        box = app.screen.query_one("#dialog").content_region
        for selector in ("#ok", "#cancel", "#form-help"):
            assert box.contains_region(app.screen.query_one(selector).region), selector
        await pilot.press(*["tab"] * 16)
        await pilot.pause()
        last = app.screen.query_one("#field-f16")
        assert last.has_focus
        assert app.screen.query_one(".fields").region.contains_region(last.region)
        assert "help of field 16" in str(app.screen.query_one("#form-help", Static).render())


async def test_a_form_answered_before_its_first_refresh_is_gone_quietly() -> None:
    """Keys typed ahead can close a form before the refresh after its mount: the deferred
    fitting of its fields then finds no box, and must not crash the app."""
    form = FormDialog("Quick", [Field.input("name", "Name")])
    app = Harness(form)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        form.dismiss(None)
        await pilot.pause()
        form._fit()  # what the refresh after its mount runs, once it has gone
    assert app.result is None
