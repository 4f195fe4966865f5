"""Tracker.parse_all: a chunk of log lines parsed in bulk reads them as `parse` does one by
one (the lines, progress, error lines, exit code, reason), malformed lines included."""

from __future__ import annotations

from qlutui.backend.job_log import Tracker
from qlutui.backend.job_records import TargetRecord

RAWS = [
    "1000.001 m step 1/2: unpack",
    "1000.002 o Get:1 http://deb.debian.org bookworm InRelease",
    "1000.003 e E: Unable to locate package nope",
    "1000.004 e warning only",
    "1000.005 o Unpacking libexample (1.0-1) ...",
    "1000.006 m step 2/2: configure",
    "1000.007 o Setting up libexample (1.0-1) ...",
    "1000.008 o ",  # an empty stdout line
    "1000.009 m failed: configure ended 1",
    "1000.010 m finished: exit 1",
]
PHASES = ["^Get:", "^Unpacking ", "^Setting up "]


def state(tracker: Tracker) -> tuple[object, ...]:
    return (
        tracker.phase,
        tracker.steps_done,
        tracker.error_lines,
        tracker.rc,
        tracker.reason,
        tracker.last_time,
        tracker.progress(),
    )


def one_by_one(raws: list[str], record: TargetRecord) -> tuple[list, Tracker]:
    tracker = Tracker("beosrv-c", record)
    return [tracker.parse(raw) for raw in raws], tracker


def test_bulk_reads_lines_as_one_by_one() -> None:
    record = TargetRecord(steps=2, phases=PHASES)
    expected, alone = one_by_one(RAWS, record)
    bulk = Tracker("beosrv-c", record)
    assert bulk.parse_all(RAWS[:4]) + bulk.parse_all(RAWS[4:]) == expected
    assert state(bulk) == state(alone)
    assert (bulk.phase, bulk.steps_done, bulk.error_lines) == (3, 1, 1)  # step 2 failed
    assert (bulk.rc, bulk.reason, bulk.last_time) == (1, "configure ended 1", 1000.010)


def test_a_malformed_line_in_a_chunk() -> None:
    raws = [*RAWS[:3], "no stamp here", "1000.x o bad stamp", "1000.011 q unknown tag", *RAWS[3:]]
    expected, alone = one_by_one(raws, TargetRecord(steps=2, phases=PHASES))
    bulk = Tracker("beosrv-c", TargetRecord(steps=2, phases=PHASES))
    lines = bulk.parse_all(raws)
    assert lines == expected and state(bulk) == state(alone)
    assert lines[3].text == "no stamp here" and lines[3].time == 1000.003  # the previous stamp
