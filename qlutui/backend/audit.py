"""The audit trail: `state/audit.log`, one line per change, appended by every qlutui process.

A line is `<UTC time>\t<user>\t<action>\t<target>\t<summary>`. Each event is one `write` on a
descriptor opened with O_APPEND, so lines of concurrent processes never interleave (a local
file system appends a single write atomically). Fields are cleaned of tabs, newlines and other
control characters so a line always parses back.

Actions: `state.edit` and `state.restore` (target: the state file), `file.write`,
`file.mkdir`, `file.chmod`, `file.rename`, `file.symlink`, `file.remove`
(`<head-node>:<path>`), `job.start` and `job.end` (the job id).
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "audit.log"
SUMMARY_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_CHUNK = 64 * 1024

# The callback Store, JobManager and the Cluster's transports report changes through.
AuditHook = Callable[[str, str, str], None]  # (action, target, summary)


@dataclass(frozen=True)
class Event:
    time: str  # ISO 8601 UTC, seconds
    user: str
    action: str
    target: str
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, text: str) -> bool:
        """Case-insensitive substring match on any field ("" matches everything)."""
        needle = text.casefold()
        return any(needle in value.casefold() for value in asdict(self).values())


def current_user() -> str:
    """Who is acting: the admin behind sudo if any, else the login name."""
    for name in ("SUDO_USER", "USER"):
        if user := os.environ.get(name):
            return user
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _clean(text: str, limit: int | None = None) -> str:
    text = _CONTROL.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text or "-"


class AuditLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def record(self, action: str, target: str, summary: str = "") -> None:
        """Append one event. A failure to write is logged, never raised: the change it
        describes has already happened."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        fields = [stamp, current_user(), action, target]
        line = "\t".join([*map(_clean, fields), _clean(summary, SUMMARY_MAX)]) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as error:
            log.warning("cannot append to %s: %s", self.path, error)

    def read(self, limit: int | None = None, match: str = "") -> list[Event]:
        """Events newest first: at most `limit`, only those matching `match`. Reads the file
        backwards, so the newest events of a long log cost only what they need."""
        events: list[Event] = []
        for line in self._lines_backwards():
            fields = line.split("\t")
            if len(fields) != 5:
                continue  # not a line of ours (or cut by a full disk)
            event = Event(*fields)
            if event.matches(match):
                events.append(event)
                if limit is not None and len(events) >= limit:
                    break
        return events

    def _lines_backwards(self) -> Iterator[str]:
        try:
            f = self.path.open("rb")
        except FileNotFoundError:
            return
        with f:
            position = f.seek(0, os.SEEK_END)
            rest = b""
            while position > 0:
                step = min(_CHUNK, position)
                position -= step
                f.seek(position)
                lines = (f.read(step) + rest).split(b"\n")
                rest = lines.pop(0)  # maybe the tail of a line that starts further back
                for raw in reversed(lines):
                    if raw:
                        yield raw.decode("utf-8", errors="replace")
            if rest:
                yield rest.decode("utf-8", errors="replace")


def describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A short summary of a state file change: the entries added, changed and removed, at the
    second level where a table holds named entries (`images.Standard-noble`)."""
    added, changed, removed = [], [], []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            for name in sorted(before.keys() | after.keys()):
                if name not in after:
                    removed.append(f"{key}.{name}")
                elif name not in before:
                    added.append(f"{key}.{name}")
                elif before[name] != after[name]:
                    changed.append(f"{key}.{name}")
        elif key not in new:
            removed.append(key)
        elif key not in old:
            added.append(key)
        else:
            changed.append(key)
    parts = [
        f"{verb} {', '.join(names)}"
        for verb, names in (("added", added), ("changed", changed), ("removed", removed))
        if names
    ]
    return "; ".join(parts) or "rewritten"
