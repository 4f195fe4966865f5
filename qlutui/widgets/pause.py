"""Work on text being typed once the keys pause, not on every key.

A check or a search started per key costs each key a worker, and the type-ahead holds the
next key until that worker is done (`typeahead.KeysInOrder`): 150 keys written into the SSH
header editor at once took ~3 s to show (0.6 s now), all but the last result thrown away.
`AfterPause.poke()` on every change runs the work once no change came for `PAUSE_S`; `now()`
runs it at once (Enter leaving a filter, a file loaded). The work reads the text when it
runs, so the latest text wins; work whose text changed while it ran must drop its result
(another run is due).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.message_pump import MessagePump
from textual.timer import Timer

PAUSE_S = 0.15  # keys of a burst come ms apart; a typist's pause is longer


class AfterPause:
    """`call()` once `poke()` has not been called for `pause` seconds (a timer of `owner`,
    stopped with it)."""

    def __init__(self, owner: MessagePump, call: Callable[[], object], pause: float = PAUSE_S):
        self.owner = owner
        self.call = call
        self.pause = pause
        self._timer: Timer | None = None

    def poke(self) -> None:
        """A change: the wait starts again."""
        self._stop()
        self._timer = self.owner.set_timer(self.pause, self._fire)

    def now(self) -> None:
        """The work at once; a wait still running is dropped."""
        self._stop()
        self.call()

    def _fire(self) -> None:
        self._timer = None
        self.call()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
