"""Type-ahead: keys that arrive in one read (a burst over a slow link, a paste, `tmux send-keys
-l`) are handled one after the other, each by the screen and widget the keys before it left.

Textual hands every key to the widget focused when the app takes the key from its queue, and
a key is handled later, in that widget's own queue and then in each of its parents (the Tab
that moves the focus runs when it comes back to the app). A burst was therefore handed out
before its first key had any effect: `name<Tab>desc` all went into the name field, and a Down
after an Enter that expands a tree node moved over the node's children still being read.

`KeysInOrder` (a mixin of the App) hands out the next key only once the previous one is done:
every widget of the screen and the app have handled what it queued, a screen it opened is
mounted, and the workers it started have finished or wait for the user (a dialog it opened).
Work that goes on long without changing what the next key acts on (probing head-nodes,
writing files) does not hold keys: its screen names the worker groups in BACKGROUND_WORK.
A key never waits longer than KEY_HOLD_S, so nothing can freeze the keyboard.

An Escape and the key after it in one read (within the escape delay) reach the app as one
key, alt+<the key>, the way a terminal sends Alt: `EscapeParser` (Textual's XTermParser, as the
app's driver builds it) makes every ESC + character into that, where Textual's own parser
drops the Escape before Enter, space and punctuation, and reads ESC b, ESC f, ESC DEL and
ESC 1 as the Mac's ctrl+left, ctrl+right, ctrl+w and '¡'. ESC Tab stays Shift+Tab (the Linux
console's). An alt key that no binding of the screen takes is handled as that Escape, then
the key, each in turn like the rest of a burst: the key acts where the Escape left the user
(on the menu after leaving a screen, on the list after the filter was cleared) and is not
typed into the Input that had the focus. A binding of an alt key keeps it: `[ui.keymap]`,
a text field's alt+backspace (delete a word).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Iterable

from textual import events
from textual._xterm_parser import XTermParser
from textual.app import App
from textual.driver import Driver
from textual.message_pump import MessagePump
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.worker import Worker

KEY_HOLD_S = 10.0  # a loaded 2-core machine takes ~3 s to read a screen's content
POLL_S = 0.02


ESC = "\x1b"
# After an ESC, not the Alt of a key: CSI and SS3 start longer sequences (cursor keys, mouse),
# and ESC Tab is the Linux console's Shift+Tab (terminfo linux: kcbt=\E^I).
NOT_ALT = frozenset("[O\t")


class EscapeParser(XTermParser):
    """Textual's parser, where ESC + a character is alt+<the character's own key>, with the
    character: alt+c, alt+shift+c (ESC C), alt+enter, alt+space, alt+slash, alt+backspace."""

    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        # Textual calls this with each longer prefix of an escape sequence (ESC + a character
        # decides at once here), and with alt=True for the character after an ESC it gave up on
        if len(sequence) == 2 and sequence[0] == ESC and sequence[1] not in NOT_ALT:
            sequence, alt = sequence[1], True
        keys = super()._sequence_to_key_events(sequence, alt)
        if not alt:
            return keys
        # Textual adds alt+ to one-character key names only: enter, space, slash... had none
        return [
            key if key.key.startswith("alt+") else events.Key(f"alt+{key.key}", key.character)
            for key in keys
        ]


def use_escape_parser(driver: type[Driver]) -> None:
    """Have `driver` build an EscapeParser: Textual's terminal drivers build the parser
    named XTermParser in their module when their input thread starts."""
    module = sys.modules[driver.__module__]
    if getattr(module, "XTermParser", None) is XTermParser:
        module.XTermParser = EscapeParser  # type: ignore[attr-defined]


def after_escape(key: events.Key) -> events.Key | None:
    """The key typed after an Escape if `key` is what EscapeParser makes of the two
    (alt+<key> with the key's character), else None."""
    char, name = key.character, key.key.removeprefix("alt+")
    if name == key.key or char is None or len(char) != 1:
        return None  # no alt key, or one from a terminal that reports Alt (no character)
    return events.Key(char if name == f"shift+{char.lower()}" else name, char)


class KeysInOrder(App):
    """Holds each key (and paste) until the one before it has been handled."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._held: deque[events.Event] = deque()
        self._key_busy = False
        self._discarding = False

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        use_escape_parser(driver)
        return driver

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            if self._discarding:
                return
            if self._key_busy:
                self._held.append(event)
                return
            if isinstance(event, events.Key):
                event = self._escape_first(event)
            self._key_busy = True
            workers, screens = set(self.workers), list(self.screen_stack)
            await super().on_event(event)
            asyncio.get_running_loop().create_task(self._settle(workers, screens))
            return
        await super().on_event(event)

    def discard_typed_ahead(self) -> None:
        """Drop every key read and not handled yet: those held and those still in the app's
        queue (the loop was blocked). Called when a program that had the terminal (a chroot
        shell) ends: keys typed with the one that started it were meant for that program, and
        acted in qlutui afterwards (`echo hi<Enter>` became e Edit, 'cho hi' typed into the
        form, Enter saving it as the chroot's description)."""
        self._held.clear()
        self._discarding = True
        self.call_later(self._stop_discarding)  # runs after what is queued now

    def _stop_discarding(self) -> None:
        self._discarding = False

    def _escape_first(self, key: events.Key) -> events.Key:
        """An alt key no binding takes: the Escape now, the key after it next (held)."""
        after = after_escape(key)
        if after is None or key.key in self.screen.active_bindings:
            return key
        self._held.appendleft(after)
        return events.Key("escape", "\x1b")

    async def _settle(self, workers: set[Worker], screens: list) -> None:
        """Until the key's effects are done (bounded), then the next key. Done: a pass over
        every queue changed nothing (a binding's action or a pushed screen takes a pass or
        two more) and no worker the key started still runs."""
        deadline = time.monotonic() + KEY_HOLD_S
        seen = None
        try:
            while time.monotonic() < deadline:
                await self._drained(deadline)
                now = (
                    tuple(self.screen_stack),
                    self.focused,
                    frozenset(w for w in self.workers if not w.is_finished),
                )
                if now == seen:
                    if self.screen.is_mounted and not self._working(workers, screens):
                        break
                    await asyncio.sleep(POLL_S)  # a worker still reads: look again soon
                seen = now
        finally:
            self.call_later(self._next_key)

    def _working(self, before: set[Worker], screens: list) -> bool:
        """Whether a worker started since the key still runs and does not wait for the user."""
        top = self.screen
        pushed = top not in screens
        if pushed and isinstance(top, ModalScreen):
            return False  # it asks: the next keys are the answer
        return any(
            w not in before
            and not w.is_finished
            and w.group not in getattr(w.node, "BACKGROUND_WORK", ())
            # a screen the key opened: its own loading counts; a worker below it waits for
            # its result (push_screen_wait), which the next keys make
            and (not pushed or (isinstance(w.node, Widget) and w.node.screen is top))
            for w in self.workers
        )

    async def _drained(self, deadline: float) -> None:
        """Until the app and every widget of the screen handled what is queued now."""
        pumps: list[MessagePump] = [self, *self.screen.walk_children(with_self=True)]
        left = 0
        done = asyncio.Event()

        def one_done() -> None:
            nonlocal left
            left -= 1
            if left == 0:
                done.set()

        for pump in pumps:
            if pump.call_later(one_done):
                left += 1
        while left and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(done.wait(), POLL_S)
            except TimeoutError:
                if any(p._closing or p._closed for p in pumps):
                    return  # a widget went away under the key: its callback never comes

    async def _next_key(self) -> None:
        self._key_busy = False
        if self._held:
            await self.on_event(self._held.popleft())
