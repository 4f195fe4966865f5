"""Waiting for a TUI condition in Pilot tests: bounded, with a message naming what never came."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.screen import ModalScreen

STEP_S = 0.02


async def until(
    pilot: Pilot, condition: Callable[[], bool], what: str, seconds: float = 8.0
) -> None:
    for _ in range(int(seconds / STEP_S)):
        await pilot.pause(STEP_S)
        if condition():
            return
    app = pilot.app
    raise AssertionError(
        f"timed out waiting for {what} (screens {app.screen_stack}, focus {app.focused})"
    )


async def on_screen(
    pilot: Pilot, kind: type | tuple[type, ...], what: str = "", seconds: float = 8.0
):
    """Until the screen on top is a `kind` and mounted (its widgets composed): a screen is on
    top as soon as it is pushed, before its widgets can be queried."""
    await until(
        pilot,
        lambda: isinstance(pilot.app.screen, kind) and pilot.app.screen.is_mounted,
        what or str(kind),
        seconds,
    )
    return pilot.app.screen


async def settled(pilot: Pilot, seconds: float = 8.0) -> None:
    """Until the screen on top is mounted and no worker is left (one that a finishing worker
    started is waited for too): the screen as it shows once it has loaded. With a dialog on
    top, the worker that opened it waits for its answer: only the dialog's own count."""
    app = pilot.app

    def busy() -> list:
        modal = isinstance(app.screen, ModalScreen)
        return [w for w in app.workers if not w.is_finished and (not modal or w.node is app.screen)]

    for _ in range(int(seconds / STEP_S)):
        await pilot.pause(STEP_S)
        if app.screen.is_mounted and not busy():
            await pilot.pause()  # what the last worker changed is laid out (DataTable widths)
            return
    raise AssertionError("timed out waiting for the screen's workers")


async def opened(pilot: Pilot, *keys: str) -> None:
    """Press `keys` that open a screen, then wait until it has loaded."""
    before = pilot.app.screen
    await pilot.press(*keys)
    await until(pilot, lambda: pilot.app.screen is not before, f"the screen {keys} open")
    await settled(pilot)


def wait_for(what: str, check: Callable[[], object], seconds: float = 20) -> object:
    """Outside an event loop (a process, a terminal): until `check()` is true, bounded."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def until_file_sh(path: object, seconds: int = 60) -> str:
    """A shell command waiting (bounded: a failed test never leaves it running) until `path`
    exists: a job step the test lets end when it is ready."""
    rounds = seconds * 20
    return f"i=0; while [ ! -e {path} ] && [ $i -lt {rounds} ]; do sleep 0.05; i=$((i+1)); done"
