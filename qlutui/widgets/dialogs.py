"""The shared modal dialogs: every screen asks, warns and collects input through these.

Each one is a `ModalScreen[T]` that returns its answer through `dismiss()`, so a caller
either passes a callback or awaits it from a worker:

```python
# from a screen: callback style
self.app.push_screen(Confirm("Remove chroot 'x'?"), self._removed)

# from a worker (@work): await style
if await self.app.push_screen_wait(Confirm("Kill job build?", detail="It runs on beosrv-c.")):
    ...
values = await self.app.push_screen_wait(FormDialog("New chroot", [
    Field.input("name", "Name", validate=name_problem),
    Field.select("server", "NFS server", ["beosrv-c", "beosrv-d"]),
    Field.select("chroot", "UnionFS chroot", chroots, allow_none=True),
    Field.multi("tasks", "Tasks", [("Medical imaging", "debmed-imaging")]),
    Field.text("description", "Description"),
]))
if values is None:   # cancelled
    return
```

- `Confirm(question, detail="")` -> `bool`: `y` (or `enter` once Yes has the focus) -> True,
  `n` / `escape` / `enter` -> False: No has the focus first, so Enter never deletes.
- `ErrorDialog(message, title="Error")` -> `None`: `enter` / `escape` closes it.
- A Confirm's detail or an ErrorDialog's message longer than the box scrolls: up / down /
  pgup / pgdn, with "more: ..." on the bottom border.
- `FormDialog(title, fields, detail="", validate=None)` -> `dict | None`: one entry per field
  name (`input`/`text` -> str, `select` -> the option value or None for `<None>`, `multi` ->
  list of values in option order); `None` when cancelled. `tab` moves between fields, `enter`
  in an input goes to the next field (submits on the last one), `ctrl+s` or OK submits,
  `escape` cancels. A field's `validate(value) -> str | None` runs on every change and on
  submit; its error text shows under the field and blocks submission. The form-level
  `validate(values) -> str | None` runs on submit (cross-field rules, or a service check:
  a raised `QlutuiError` is shown the same way).
- `submit_until_accepted(app, form, attempt)`: what a form's answers go to; `attempt(values)`
  returns False when the service refused them (it has shown why): the form opens again as
  it was filled, until an attempt is done (True) or the form is cancelled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, SelectionList, Static, TextArea

from qlutui.errors import QlutuiError
from qlutui.widgets.blocking import closed
from qlutui.widgets.checklist import CheckList
from qlutui.widgets.help import FIELD_HELP
from qlutui.widgets.text_input import TextInput

MORE = "more: up/down pgup/pgdn"  # a long dialog's bottom border
FieldKind = Literal["input", "select", "multi", "text"]
Validator = Callable[[Any], str | None]
Options = Iterable[str | tuple[str, Any]]


def _options(options: Options) -> tuple[tuple[str, Any], ...]:
    """(label, value) pairs; a plain string is its own label."""
    return tuple((o, o) if isinstance(o, str) else (str(o[0]), o[1]) for o in options)


@dataclass(frozen=True)
class Field:
    """One field of a FormDialog; build it with the `input`/`select`/`multi`/`text` helpers."""

    name: str
    label: str
    kind: FieldKind = "input"
    value: Any = None
    options: tuple[tuple[str, Any], ...] = ()
    allow_none: bool = False
    validate: Validator | None = None
    placeholder: str = ""
    help: str = ""  # one line shown under the form while the field has the focus
    # The value is a start to type on (a directory): the cursor waits at its end, and what
    # is typed adds to it instead of replacing it (a whole old value is selected to replace).
    extend: bool = False

    def __post_init__(self) -> None:
        if not self.help:
            object.__setattr__(self, "help", FIELD_HELP.get(self.name, ""))

    @classmethod
    def input(
        cls,
        name: str,
        label: str,
        value: str = "",
        *,
        validate: Validator | None = None,
        placeholder: str = "",
        help: str = "",
        extend: bool = False,
    ) -> Field:
        return cls(
            name,
            label,
            "input",
            value,
            validate=validate,
            placeholder=placeholder,
            help=help,
            extend=extend,
        )

    @classmethod
    def select(
        cls,
        name: str,
        label: str,
        options: Options,
        value: Any = None,
        *,
        allow_none: bool = False,
        validate: Validator | None = None,
        help: str = "",
    ) -> Field:
        """A drop-down; with `allow_none` it offers `<None>` (result None)."""
        opts = _options(options)
        if value is None and not allow_none and opts:
            value = opts[0][1]
        return cls(name, label, "select", value, opts, allow_none, validate, help=help)

    @classmethod
    def multi(
        cls,
        name: str,
        label: str,
        options: Options,
        selected: Sequence[Any] = (),
        *,
        validate: Validator | None = None,
        help: str = "",
    ) -> Field:
        """A multi-select list; the result is the list of chosen values."""
        opts = _options(options)
        return cls(name, label, "multi", list(selected), opts, validate=validate, help=help)

    @classmethod
    def text(
        cls,
        name: str,
        label: str,
        value: str = "",
        *,
        validate: Validator | None = None,
        help: str = "",
    ) -> Field:
        """A multi-line text area."""
        return cls(name, label, "text", value, validate=validate, help=help)


class _Dialog(ModalScreen):
    """Common frame: a bordered box centred on the screen (styled in app.tcss)."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self._title = title

    def on_mount(self) -> None:
        self.query_one("#dialog").border_title = self._title


class _Scrolled(_Dialog):
    """A dialog whose text scrolls in its `.body` when it is longer than the screen has room
    for (an import plan with every host, a long refusal): up / down / pgup / pgdn move it
    while a button keeps the focus, so Enter still answers as before."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_body(-1)", "Scroll up", show=False, id="dialog.scroll_up"),
        Binding("down", "scroll_body(1)", "Scroll down", show=False, id="dialog.scroll_down"),
        Binding("pageup", "scroll_body(-1, True)", "Page up", show=False, id="dialog.page_up"),
        Binding("pagedown", "scroll_body(1, True)", "Page down", show=False, id="dialog.page_down"),
    ]

    @staticmethod
    def body(text: str, classes: str) -> VerticalScroll:
        scroll = VerticalScroll(Static(text, classes=classes), classes="body")
        scroll.can_focus = False  # the focus stays on the buttons (Tab, Enter as before)
        return scroll

    def on_mount(self) -> None:  # after _Dialog's (Textual calls each class's handler)
        self.call_after_refresh(self._hint_more)

    def _hint_more(self) -> None:
        """Say that there is more below: a scroll bar does not show without colours."""
        bodies = self.query(".body").results(VerticalScroll)
        if any(body.max_scroll_y > 0 for body in bodies):
            self.query_one("#dialog").border_subtitle = MORE

    def action_scroll_body(self, step: int, page: bool = False) -> None:
        body = self.query_one(".body", VerticalScroll)
        lines = step * body.scrollable_content_region.height if page else step
        # at once: Textual's page keys move after the next refresh, each from where the
        # text was, so keys typed ahead in one burst (a serial line) moved it one page only
        body.scroll_to(y=body.scroll_y + lines, animate=False, immediate=True)


class Confirm(_Scrolled):
    """A yes/no question; returns True for yes. No has the focus: many are destructive."""

    AUTO_FOCUS = "#no"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, detail: str = "", title: str = "Confirm") -> None:
        super().__init__(title)
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, classes="question")
            if self.detail:
                yield self.body(self.detail, "detail")
            with Horizontal(classes="buttons"):
                yield Button("Yes", id="yes", variant="primary", compact=True)
                yield Button("No", id="no", compact=True)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ErrorDialog(_Scrolled):
    """A message the user must acknowledge."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", id="error.close")
    ]

    def __init__(self, message: str, title: str = "Error") -> None:
        super().__init__(title)
        self.message = message
        self.add_class("-error")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield self.body(self.message, "question")
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="error", compact=True)

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self) -> None:
        self.dismiss(None)


class FormDialog(_Dialog):
    """A form of fields; returns {name: value} on OK, None on cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "OK", id="form.submit"),
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
    ]

    def __init__(
        self,
        title: str,
        fields: Sequence[Field],
        *,
        detail: str = "",
        validate: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> None:
        super().__init__(title)
        self.fields = list(fields)
        self.detail = detail
        self.validate = validate

    def again(self, values: dict[str, Any]) -> FormDialog:
        """The same form filled with `values` (what was typed): back to it after a question
        on the answers was declined or the service refused them."""
        fields = [replace(f, value=values.get(f.name, f.value)) for f in self.fields]
        return FormDialog(self._title, fields, detail=self.detail, validate=self.validate)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            if self.detail:
                yield Static(self.detail, classes="detail")
            with VerticalScroll(classes="fields") as scroll:
                scroll.can_focus = False  # tab goes from field to field
                for field in self.fields:
                    # label and widget on one row: a six-field form fits 80x24 unscrolled
                    with Horizontal(classes=f"field-row -{field.kind}"):
                        yield Label(field.label, classes="label")
                        yield self._widget(field)
                    yield Static("", id=f"error-{field.name}", classes="error")
            yield Static("", id="form-error", classes="error")
            yield Static("", id="form-help", classes="help", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.call_after_refresh(self._fit)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """The fields scroll within the room the box leaves them, so the help line and the
        buttons stay inside it: a long form (Add hosts: 17 fields under a 3-line note) would
        push them past the bottom border at 80x24, out of sight."""
        if closed(self):  # answered before this refresh came (keys typed ahead)
            return
        box = self.query_one("#dialog")
        fields = self.query_one(".fields")
        rest = sum(
            child.outer_size.height + child.styles.margin.top + child.styles.margin.bottom
            for child in box.children
            if child is not fields and child.display
        )
        limit = box.styles.max_height
        height = self.size.height
        if limit is not None:
            height = min(height, int(limit.resolve(self.size, self.app.size)))
        fields.styles.max_height = max(3, height - box.styles.gutter.height - rest)

    def _widget(self, field: Field) -> Widget:
        wid = f"field-{field.name}"
        if field.kind == "input":
            return FieldInput(
                field.value or "",
                placeholder=field.placeholder,
                id=wid,
                compact=True,
                select_on_focus=not field.extend,
            )
        if field.kind == "select":
            return Select(
                [(label, value) for label, value in field.options],
                value=Select.NULL if field.value is None else field.value,
                allow_blank=field.allow_none,
                prompt="<None>",
                id=wid,
                compact=True,
            )
        if field.kind == "multi":
            chosen = set(field.value)
            return CheckList(
                *((label, value, value in chosen) for label, value in field.options),
                id=wid,
                compact=True,
            )
        return TextArea(field.value or "", id=wid, compact=True, soft_wrap=True)

    def value_of(self, field: Field) -> Any:
        """The current value of one field, in the shape the result dict uses."""
        widget = self.query_one(f"#field-{field.name}")
        if isinstance(widget, Input):
            return widget.value
        if isinstance(widget, Select):
            return None if widget.value is Select.NULL else widget.value
        if isinstance(widget, SelectionList):
            chosen = set(widget.selected)
            return [value for _, value in field.options if value in chosen]
        assert isinstance(widget, TextArea)
        return widget.text

    def _check(self, field: Field) -> str | None:
        """Run the field's validator and show its verdict under the field."""
        error = field.validate(self.value_of(field)) if field.validate else None
        self._show(f"#error-{field.name}", error)
        return error

    def _show(self, selector: str, error: str | None) -> None:
        label = self.query_one(selector, Static)
        label.update(error or "")
        label.set_class(bool(error), "-shown")
        if selector == "#form-error":  # a line more or less under the fields
            self.call_after_refresh(self._fit)

    def _field_for(self, widget: Widget) -> Field | None:
        name = (widget.id or "").removeprefix("field-")
        return next((f for f in self.fields if f.name == name), None)

    @on(events.DescendantFocus)
    def _show_help(self, event: events.DescendantFocus) -> None:
        """The focused field's help line (a drop-down's open list belongs to its field)."""
        field = next(
            (f for w in event.widget.ancestors_with_self if (f := self._field_for(w))), None
        )
        self.query_one("#form-help", Static).update(field.help if field else "")

    @on(Input.Changed)
    @on(TextArea.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    def _changed(self, event: Any) -> None:
        field = self._field_for(event.control)
        if field is None:
            return
        if self.value_of(field) == field.value:  # untouched (also the event sent on mount)
            self._show(f"#error-{field.name}", None)
        else:
            self._check(field)

    def next_or_submit(self, field: Input) -> None:
        """Enter in a line field: the next field, or OK after the last one."""
        if field is self.query_one(f"#field-{self.fields[-1].name}"):
            self.action_submit()
        else:
            self.focus_next()

    @on(Button.Pressed, "#ok")
    def action_submit(self) -> None:
        errors = [f for f in self.fields if self._check(f)]
        if errors:
            self.query_one(f"#field-{errors[0].name}").focus()
            return
        values = {f.name: self.value_of(f) for f in self.fields}
        try:
            problem = self.validate(values) if self.validate else None
        except QlutuiError as exc:
            problem = str(exc)
        self._show("#form-error", problem)
        if not problem:
            self.dismiss(values)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class FieldInput(TextInput):
    """A line field of a FormDialog. Enter moves on while the key itself is handled: as an
    Input.Submitted message it reached the form only after the next key of a burst had been
    handed to this field (`name<Enter>desc` named a clone 'named', described 'esc')."""

    async def action_submit(self) -> None:
        form = self.screen
        assert isinstance(form, FormDialog)
        form.next_or_submit(self)


async def submit_until_accepted(
    app: App[Any], form: FormDialog, attempt: Callable[[dict[str, Any]], Awaitable[bool]]
) -> None:
    """Open `form`, and again as it was filled each time `attempt` refuses its answers
    (returns False after showing why), so a refusal never loses what was typed; ends when an
    attempt is done (True) or on cancel."""
    while (values := await app.push_screen_wait(form)) is not None:
        if await attempt(values):
            return
        form = form.again(values)
