"""The Footer every screen uses: Textual's, recomposed less often.

Textual's Footer recomposes (tens of ms) on every binding change, once per change, and also
while its screen is hidden under another one. This one recomposes once per burst of changes
and only for the screen on top, so keys stay quick while a log streams.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeysFooter(Footer):
    _queued = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True  # what Footer.bindings_changed sets first
        if self._queued or not (self.app.app_focus and self.is_attached and screen is self.screen):
            return
        self._queued = True
        self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._queued = False
        # a hidden screen catches up when it is resumed (that refreshes its bindings)
        if self.is_attached and self.screen.is_current:
            await self.recompose()
