"""The one rule for blocking calls from the TUI: a screen never runs one on the event loop.

A store edit waits up to `Store.lock_timeout` (10 s) for another process's lock, a load of
10,000 hosts takes ~0.2 s: every synchronous service call a screen makes goes through
`off_loop`, which runs it in a thread, so the screen keeps answering keys meanwhile. Async
service methods do the same inside (`Store.edit_async`). While an edit waits for a lock the
app says so (`Store.on_wait`, set in app.py): "Waiting for the chroots.toml lock ...".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from textual.screen import Screen

P = ParamSpec("P")
T = TypeVar("T")


async def off_loop(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`call(*args, **kwargs)` in a thread."""
    return await asyncio.to_thread(call, *args, **kwargs)


def closed(screen: Screen) -> bool:
    """Whether `screen` was closed while a worker of it waited (left, or the app quits: its
    widgets go one by one before its workers are cancelled): then the worker must not touch
    its widgets."""
    return not screen.app.is_running or screen not in screen.app.screen_stack
