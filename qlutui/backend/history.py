"""The previous versions of the state files (`state/.history/`): list, diff, restore.

The store keeps the last versions of each file as `.history/<file>.<UTC stamp>`, newest
first (`Store.history`). Version 1 is the newest previous one. A restore goes through
`Store.restore`: locked, conflict-checked, audited, and the version it replaces is kept too,
so a restore can itself be undone.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from qlutui.backend.store import AREAS, HISTORY_STAMP, Snapshot, Store
from qlutui.errors import InvalidInput

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster


@dataclass(frozen=True)
class Version:
    area: str
    number: int  # 1 = the newest previous version
    replaced: str  # when a newer version replaced it, UTC "YYYY-MM-DD HH:MM:SS"
    size: int
    path: Path

    def to_dict(self) -> dict:
        return {
            "file": f"{self.area}.toml",
            "version": self.number,
            "replaced": self.replaced,
            "size": self.size,
            "path": str(self.path),
        }


def state_area(text: str) -> str:
    """`images` or `images.toml` -> `images`; InvalidInput for anything else."""
    area = text.removesuffix(".toml")
    if area not in AREAS:
        known = ", ".join(f"{a}.toml" for a in sorted(AREAS))
        raise InvalidInput(f"unknown state file {text!r} (known: {known})")
    return area


class HistoryService:
    def __init__(self, cluster: Cluster) -> None:
        self.store: Store = cluster.store

    def versions(self, area: str) -> list[Version]:
        return [
            Version(area, number, _replaced(area, path), path.stat().st_size, path)
            for number, path in enumerate(self.store.history(area), start=1)
        ]

    def version(self, area: str, number: int = 1) -> Version:
        versions = self.versions(area)
        if not versions:
            raise InvalidInput(f"{area}.toml has no previous version")
        if not 1 <= number <= len(versions):
            raise InvalidInput(
                f"{area}.toml has versions 1..{len(versions)} (1 = newest), not {number}"
            )
        return versions[number - 1]

    def diff(self, version: Version) -> str:
        """What restoring `version` would change: the current file -> that version."""
        current = self.store.path(version.area)
        old = current.read_text() if current.exists() else ""
        lines = difflib.unified_diff(
            old.splitlines(keepends=True),
            version.path.read_text().splitlines(keepends=True),
            f"{current.name} (current)",
            f"{current.name} (version {version.number}, replaced {version.replaced})",
        )
        return "".join(lines)

    def restore(self, version: Version, token: str | None = None) -> Snapshot:
        """Restore `version`; `token` is the current file's as the caller saw it (None: no
        conflict check, for one-shot CLI verbs)."""
        return self.store.restore(version.area, token, version.path)

    def token(self, area: str) -> str:
        return self.store.token(area)


def _replaced(area: str, path: Path) -> str:
    stamp = path.name.removeprefix(f"{area}.toml.")
    try:
        when = datetime.strptime(stamp, HISTORY_STAMP).replace(tzinfo=UTC)
    except ValueError:  # not named by the store: its file time
        when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S")
