"""The collector's full passes during a session: none by CPython itself, one on request when
the user pauses, one anyway when long overdue; everything restored after the session."""

from __future__ import annotations

import gc
import weakref

from qlutui.idle_gc import FULL_AFTER, OVERDUE, collect_if_due, gc_paused, interactive_gc

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


def test_gc_paused_turns_the_collector_off_and_back_on_even_on_error() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # an inner block leaves the switch to the outer one
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    try:
        with gc_paused():
            raise ValueError("a parse error")
    except ValueError:
        pass
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()


def collections_during(action) -> int:
    """How many times the collector ran while `action` did."""
    passes = [0]

    def count(phase: str, info: dict) -> None:
        passes[0] += phase == "start"

    gc.callbacks.append(count)
    try:
        action()
    finally:
        gc.callbacks.remove(count)
    return passes[0]


def test_a_big_inventory_loads_without_the_collector_walking_it_again_and_again(
    tmp_path,
) -> None:
    """Parse and build of 20,000 hosts (~300,000 objects): unpaused, CPython collects a few
    hundred times; paused, only the young pass after each of the two blocks."""
    from qlutui.backend.store import CACHE_MIN, Store
    from qlutui.model.inventory import Inventory

    lines = ['[[networks]]\nname = "boot"\nkind = "ether"\nprimary = true\n']
    lines += [
        f'[[hosts]]\nname = "n{i}"\nips = {{ boot = "10.0.{i // 250}.{i % 250 + 1}" }}\n'
        for i in range(20_000)
    ]
    text = "\n".join(lines)
    assert len(text) > CACHE_MIN  # the cached path (JSON) as well as the parse
    (tmp_path / "inventory.toml").write_text(text)
    store = Store(tmp_path)
    for _ in range(2):  # parsed (and cached), then from the cache
        passes = collections_during(lambda: Inventory.from_dict(store.load("inventory").data))
        assert passes <= 3
