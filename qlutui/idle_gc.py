"""The garbage collector's full passes, moved from the middle of a key to a pause.

A full pass walks every object the collector tracks: with 500 images or 10,000 hosts loaded
that is 3-15 ms, and CPython starts one every ~10 young collections, i.e. every second or two
while keys are pressed or a log streams (bench P5: they set the p95 of expand/collapse).
During a session the start-up objects are frozen out of the passes, the automatic full
passes are off, and the app asks for one when the user has paused (`collect_if_due`), or
anyway once it is long overdue (keys held down for minutes). The young generations are
collected as before, so short-lived cycles go at once.

`gc_paused` is the other half: no collection at all while a big structure is built (a
parse, an inventory made from its data), whose objects are all alive and would only be
walked again and again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

FULL_AFTER = 10  # middle-generation passes between full ones: CPython's own default
OVERDUE = 20 * FULL_AFTER  # then a full pass runs even while keys come in
_NEVER = 1 << 30  # a full-pass threshold that is never reached

_middle_passes_at_last_full = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off while the block builds a big structure, back on after (on error too).

    A 100,000-host inventory is ~1.5 million objects made in one go, none of them garbage:
    each young collection walks the ones made since the last, and the middle and full passes
    that follow walk the whole growing heap again, so the load grows worse than linearly
    (bench --scale: 1.8 s from the cache at 100,000 hosts, 0.9 s with the collector off).
    They are collected normally afterwards. A block inside another (or in another thread
    while one runs) leaves the switch to the outer one.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextmanager
def interactive_gc() -> Iterator[None]:
    """For the length of a session: start-up objects frozen, full passes only on request."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], _NEVER)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def collect_if_due(*, idle: bool) -> bool:
    """A full pass if CPython would have made one by now and the user is `idle`, or if it is
    long overdue; True when it ran."""
    global _middle_passes_at_last_full
    passes = gc.get_stats()[1]["collections"] - _middle_passes_at_last_full
    if passes < (FULL_AFTER if idle else OVERDUE):
        return False
    gc.collect()
    _middle_passes_at_last_full = gc.get_stats()[1]["collections"]
    return True
