"""A target's log as the job manager follows it: each line is parsed for progress, error
lines, the exit code and the failure reason, appended verbatim to the local copy and handed to
subscribers in batches.

A raw line is "<epoch> <tag> <text>", the tag o (stdout), e (stderr) or m (a message of
jobrunner.py or of the job itself)."""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from qlutui.backend.job_records import MESSAGE, STDERR, STDOUT, LogLine, TargetRecord
from qlutui.backend.jobrunner import KILLED_MESSAGE

STREAMS = {"o": STDOUT, "e": STDERR, "m": MESSAGE}
TAGS = {stream: tag for tag, stream in STREAMS.items()}
ERROR_LINE = re.compile(r"^(E:|ERROR|Error:)")
_STEP = re.compile(r"step (\d+)/\d+: ")
_FINISHED = re.compile(r"finished: exit (-?\d+)$")
BATCH = 5000  # lines handed over at once while output floods in
_fields = operator.methodcaller("split", " ", 2)  # "<epoch> <tag> <text>" -> its 3 fields


def _telling(line: LogLine) -> bool:
    return line.stream != STDOUT


class Tracker:
    """Reads one target's log lines as they pass: progress, error lines, exit code, reason."""

    def __init__(self, target: str, record: TargetRecord) -> None:
        self.target = target
        self.steps = record.steps
        self.phases = [re.compile(p) for p in record.phases]
        self.phase = 0  # phases matched so far (in order; a skipped one counts as passed)
        self.steps_done = 0
        self.error_lines = 0
        self.rc: int | None = None
        self.reason = ""
        self.killed = False  # the job was killed (jobrunner's or in-process work's message)
        self.fraction: float | None = None  # set by in-process work: JobContext.progress
        self.last_time = 0.0

    def parse(self, raw: str) -> LogLine:
        try:
            stamp, tag, text = raw.split(" ", 2)
            self.last_time = float(stamp)
            stream = STREAMS[tag]
        except (ValueError, KeyError):
            return LogLine(self.last_time, self.target, MESSAGE, raw)
        if tag == "m":
            self._message(text)
        else:
            if tag == "e" and ERROR_LINE.match(text):
                self.error_lines += 1
            self._match_phase(text)
        return LogLine(self.last_time, self.target, stream, text)

    def parse_all(self, raws: Iterable[str]) -> list[LogLine]:
        """`parse` of every line, in bulk: a line costs one split and one tuple, then the few
        lines that tell something (stderr, messages; every line while phases remain to be
        matched) are read again. A malformed line among them: each line parsed alone."""
        raws = list(raws)
        target, streams = self.target, STREAMS
        try:
            lines = [LogLine(float(s), target, streams[t], x) for s, t, x in map(_fields, raws)]
        except (ValueError, KeyError):
            return [self.parse(raw) for raw in raws]
        if not lines:
            return lines
        self.last_time = lines[-1].time
        for line in filter(_telling, lines):
            if line.stream == MESSAGE:
                self._message(line.text)
            elif ERROR_LINE.match(line.text):
                self.error_lines += 1
        if self.phase < len(self.phases):
            for line in lines:
                if line.stream != MESSAGE:
                    self._match_phase(line.text)
        return lines

    def _match_phase(self, text: str) -> None:
        for index in range(self.phase, len(self.phases)):
            if self.phases[index].search(text):
                self.phase = index + 1
                break

    def _message(self, text: str) -> None:
        if m := _STEP.match(text):
            self.steps_done = int(m[1]) - 1
        elif m := _FINISHED.match(text):
            self.rc = int(m[1])
            if self.rc == 0:  # else the step under way never ended: the count stays
                self.steps_done = self.steps
        elif text == KILLED_MESSAGE:
            self.killed = True
        elif not self.reason and text.startswith(("failed: ", "locked: ")):
            self.reason = text.removeprefix("failed: ")

    def progress(self) -> float | None:
        """How far the target got, 0..1, by its steps and phases; in-process work (neither)
        by the fraction it reported, None when it reported none (or ran in an earlier
        session: its fraction is not logged)."""
        units = self.steps + len(self.phases)
        if not units:
            return self.fraction
        return min(1.0, (self.steps_done + self.phase) / units)


class Sink:
    """A target's local log: raw lines appended verbatim, parsed and delivered in batches (a
    batch at a time is cheaper per line than one at a time; the tracker is current after
    `flush`)."""

    def __init__(self, path: Path, tracker: Tracker, deliver: Callable[[list[LogLine]], None]):
        self.file = path.open("ab")
        self.tracker = tracker
        self.deliver = deliver
        self.raw: list[str] = []

    @property
    def size(self) -> int:
        self.flush()
        return os.fstat(self.file.fileno()).st_size

    def feed(self, raws: list[str]) -> None:
        self.raw.extend(raws)
        if len(self.raw) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.raw:
            return
        raw, self.raw = self.raw, []
        self.file.write(("\n".join(raw) + "\n").encode("utf-8", "surrogateescape"))
        self.file.flush()
        self.deliver(self.tracker.parse_all(raw))

    def close(self) -> None:
        self.flush()
        self.file.close()
