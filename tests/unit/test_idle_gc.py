"""The collector's full passes during a session: none by CPython itself, one on request when
the user pauses, one anyway when long overdue; everything restored after the session."""

from __future__ import annotations

import gc
import weakref

from qlutui.idle_gc import FULL_AFTER, OVERDUE, collect_if_due, interactive_gc

MAX_OBJECTS = 5_000_000  # bounds the allocation loop


class Cycle:
    """Only a full pass frees it once it has grown old."""

    def __init__(self) -> None:
        self.me = self


def full_passes() -> int:
    return gc.get_stats()[2]["collections"]


def allocate_until(middle_passes: int) -> list[list]:
    """Keep allocating (and keep it alive) until CPython itself has collected the middle
    generation `middle_passes` more times."""
    start = gc.get_stats()[1]["collections"]
    kept: list[list] = []
    for _ in range(MAX_OBJECTS):
        kept.append([])
        if gc.get_stats()[1]["collections"] - start >= middle_passes:
            return kept
    raise AssertionError(f"{MAX_OBJECTS} objects made fewer than {middle_passes} passes")


def old_cycle() -> weakref.ref:
    cycle = Cycle()
    gc.collect(1)  # the cycle survives into the oldest generation
    return weakref.ref(cycle)


def test_cpython_alone_makes_full_passes() -> None:
    """The baseline the next test departs from."""
    gc.collect()
    before = full_passes()
    kept = allocate_until(3 * FULL_AFTER)
    assert full_passes() > before
    del kept


def test_full_passes_wait_for_a_pause_or_until_long_overdue() -> None:
    defaults = gc.get_threshold()
    with interactive_gc():
        assert gc.get_freeze_count() > 0  # the objects so far are out of the passes
        collect_if_due(idle=True)  # start from a full pass
        gone = old_cycle()
        before = full_passes()
        kept = allocate_until(3 * FULL_AFTER)
        assert full_passes() == before  # none by CPython itself ...
        assert gone() is not None
        assert not collect_if_due(idle=False)  # ... nor while keys come in
        assert collect_if_due(idle=True)  # the user paused
        assert gone() is None and full_passes() == before + 1
        assert not collect_if_due(idle=True)  # nothing due right after one

        del kept
        gone = old_cycle()
        for _ in range(2 * FULL_AFTER):  # a pass would be due, were the user idle
            gc.collect(1)
        assert not collect_if_due(idle=False)
        for _ in range(OVERDUE):
            gc.collect(1)
        assert collect_if_due(idle=False)  # keys held down for long: it runs anyway
        assert gone() is None
    assert gc.get_threshold() == defaults and gc.get_freeze_count() == 0
