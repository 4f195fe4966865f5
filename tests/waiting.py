"""Waiting for a TUI condition in Pilot tests: bounded, with a message naming what never came."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

STEP_S = 0.02


async def until(
    pilot: Pilot, condition: Callable[[], bool], what: str, seconds: float = 8.0
) -> None:
    for _ in range(int(seconds / STEP_S)):
        await pilot.pause(STEP_S)
        if condition():
            return
    raise AssertionError(f"timed out waiting for {what}")
