"""Bare Textual apps, the references of the TUI scenarios: the same Textual widget types doing
the same thing with nothing of qlutui's around them, driven and timed the same way (the key
helpers below are shared with bench/tui.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Input, Log, Static, Tree

SIZE = (100, 30)
_CHARS = {"space": " ", "enter": "\r"}


async def until(pilot, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the TUI did not get there in time")
        await pilot.pause(0.005)


def send_key(app: App, key: str) -> None:
    """The key as the terminal driver delivers it (no Pilot idle waits)."""
    event = events.Key(key, key if len(key) == 1 else _CHARS.get(key))
    event.set_sender(app)
    app._driver.send_message(event)


async def key(pilot, name: str) -> float:
    """Milliseconds from a key event reaching the app to the screen refreshed after it.

    Not `pilot.press` + `pause`: those wait for Textual's idle heuristic (three sleeps of
    20 ms at least), a floor far above the 16 ms being measured."""
    app = pilot.app
    refreshed = asyncio.Event()
    start = time.perf_counter()
    send_key(app, name)
    app.call_after_refresh(refreshed.set)
    await asyncio.wait_for(refreshed.wait(), 10)
    elapsed = (time.perf_counter() - start) * 1000
    await asyncio.sleep(0.01)  # not pilot.pause(): it waits up to 1 s while a job streams
    return elapsed


Changed = Callable[[Input.Changed], None]


class _Bare(App):
    def __init__(self, widgets: Callable[[], list[Widget]], changed: Changed | None = None):
        super().__init__()
        self.widgets = widgets
        self.changed = changed

    def get_default_screen(self) -> Screen:
        return _Screen(self.widgets, self.changed)


class _Screen(Screen):
    BINDINGS: ClassVar = [("f", "noop", "Follow"), ("o", "open", "Open")]

    def __init__(self, widgets: Callable[[], list[Widget]], changed: Changed | None = None):
        super().__init__()
        self.widgets = widgets
        self.changed = changed
        self.opened: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        yield from self.widgets()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.changed:
            self.changed(event)

    def action_noop(self) -> None:
        return None

    def action_open(self) -> None:
        if self.opened:
            self.opened()


async def tree_keys(roots: int, leaves: int, keys: int) -> tuple[list[float], list[float]]:
    """A Tree of `roots` collapsed nodes of `leaves` leaves: cursor moves, then expand and
    collapse (space), as P5 presses them."""
    tree: Tree[None] = Tree("images")
    tree.show_root = False
    for i in range(roots):
        node = tree.root.add(f"img-{i:04d}  bookworm 13.1  Bench image {i}")
        for j in range(leaves):
            node.add_leaf(f"module {j}")
    app = _Bare(lambda: [Static("title"), tree, Static("keys")])
    async with app.run_test(size=SIZE) as pilot:
        tree.focus()
        await pilot.pause()
        moves = [await key(pilot, "down") for _ in range(keys)]
        toggles = []
        for _ in range(keys):
            toggles.append(await key(pilot, "space"))
            toggles.append(await key(pilot, "space"))
            await key(pilot, "down")
    return moves, toggles


async def log_keys(argv: list[str], batch_ms: float) -> list[float]:
    """A Log fed with the lines `argv` prints (a batch every `batch_ms`, as qlutui's log pane
    batches them) while a key is pressed every ~20 ms until the end of the stream."""
    log = Log(max_lines=20_000)
    app = _Bare(lambda: [Static("title"), DataTable(), log, Static("keys")])
    keys: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
        pending: list[str] = []

        async def read() -> None:
            assert proc.stdout is not None
            async for line in proc.stdout:
                pending.append(line.decode().rstrip("\n"))

        async def show() -> None:
            while not reader.done() or pending:
                if pending:
                    batch = pending[:]
                    pending.clear()
                    log.write_lines(batch)
                await asyncio.sleep(batch_ms / 1000)

        reader = asyncio.create_task(read())
        shower = asyncio.create_task(show())
        while not shower.done():
            keys.append(await key(pilot, "f"))
        await proc.wait()
    return keys


async def open_screen(widgets: Callable[[], list[Widget]]) -> float:
    """Milliseconds from a key to the first paint of a screen of `widgets` it pushes."""
    app = _Bare(lambda: [Static("menu")])
    async with app.run_test(size=SIZE) as pilot:
        painted = asyncio.Event()
        screen = _Screen(widgets)
        app.screen.opened = lambda: app.push_screen(screen)  # type: ignore[attr-defined]
        start = time.perf_counter()
        send_key(app, "o")
        await until(pilot, lambda: app.screen is screen and screen.is_mounted)
        screen.call_after_refresh(painted.set)
        await asyncio.wait_for(painted.wait(), 30)
        return (time.perf_counter() - start) * 1000


def table_of(rows: list[tuple[str, ...]]) -> DataTable:
    table: DataTable = DataTable()
    table.add_columns(*(f"c{i}" for i in range(len(rows[0]) if rows else 1)))
    table.add_rows(rows)
    return table


async def filter_keys(rows: list[tuple[str, ...]], shown: int, rounds: int) -> list[float]:
    """An Input filtering `rows` into a DataTable (the first `shown` matches), keys typed as
    P10 types them."""
    made: list[Widget] = []

    def widgets() -> list[Widget]:
        made[:] = [Static("title"), Input(), table_of(rows[:shown]), Static("keys")]
        return made

    def changed(event: Input.Changed) -> None:
        needle = event.value
        matches = [r for r in rows if needle in r[0] or needle in r[1]][:shown]
        table = made[2]
        assert isinstance(table, DataTable)
        table.clear()
        table.add_rows(matches)

    app = _Bare(widgets, changed)
    keys = []
    async with app.run_test(size=SIZE) as pilot:
        made[1].focus()
        await pilot.pause()
        for _ in range(rounds):
            for name in ("0", "9", "9", "9", *["backspace"] * 4):
                keys.append(await key(pilot, name))
    return keys
