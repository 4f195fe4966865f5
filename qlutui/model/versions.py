"""Qlustar versions: releases are x.y.z; an image may follow a meta-version x or x.y.

`13` follows feature releases (the newest 13.y.z), `13.1` maintenance releases (the newest
13.1.z), `13.1.1` is pinned. Ordering is numeric and a prefix sorts before what it covers
(12 < 12.0 < 12.0.0 < 12.0.1 < 12.1 < 13), which is the order the choices are offered in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from qlutui.errors import InvalidInput
from qlutui.model.names import shown

_VERSION = re.compile(r"(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8})){0,2}")
_POLICIES = {1: "follows feature releases", 2: "maintenance releases", 3: "pinned"}


@dataclass(frozen=True, order=True)
class Version:
    parts: tuple[int, ...]  # 1..3 non-negative integers

    def __post_init__(self) -> None:
        if not 1 <= len(self.parts) <= 3 or any(
            not isinstance(p, int) or p < 0 for p in self.parts
        ):
            raise InvalidInput(f"invalid version parts {self.parts!r}")

    def __str__(self) -> str:
        return ".".join(map(str, self.parts))

    @property
    def is_release(self) -> bool:
        """A real release (x.y.z) rather than a meta-version."""
        return len(self.parts) == 3

    def covers(self, release: Version) -> bool:
        """Whether `release` is one this choice can resolve to."""
        return release.parts[: len(self.parts)] == self.parts

    def prefix(self, n: int) -> Version:
        """The first `n` parts, e.g. the x.y of a release."""
        return Version(self.parts[:n])


def parse_version(text: str) -> Version:
    """`x`, `x.y` or `x.y.z` with decimal parts (no leading zeros) -> Version."""
    if not isinstance(text, str) or not _VERSION.fullmatch(text):
        raise InvalidInput(f"invalid version {shown(text)}: expected x, x.y or x.y.z (numbers)")
    return Version(tuple(int(p) for p in text.split(".")))


def resolve(choice: Version, releases: Iterable[Version]) -> Version | None:
    """The newest release the choice follows, None when there is none."""
    return max((r for r in releases if r.is_release and choice.covers(r)), default=None)


def choices(releases: Iterable[Version]) -> list[Version]:
    """Every x, x.y and x.y.z derivable from the releases, in offering order."""
    found = {r.prefix(n) for r in releases if r.is_release for n in (1, 2, 3)}
    return sorted(found)


def default_choice(releases: Iterable[Version]) -> Version | None:
    """What a new image gets: the x.y meta-version of the newest release."""
    newest = max((r for r in releases if r.is_release), default=None)
    return newest.prefix(2) if newest else None


def policy(choice: Version) -> str:
    """The update policy of a choice, in words."""
    return _POLICIES[len(choice.parts)]


def describe(choice: Version, releases: Iterable[Version]) -> str:
    """The choice, what it resolves to now and its policy, e.g. `13 → 13.1.1 (follows ...)`."""
    resolved = resolve(choice, releases)
    if choice.is_release:
        if resolved is None:
            return f"{choice} (pinned, not available on the head-node)"
        return f"{choice} (pinned)"
    target = resolved if resolved is not None else "no release available"
    return f"{choice} → {target} ({policy(choice)})"


def describe_token(choice: Version, releases: Iterable[Version]) -> str:
    """The choice and what it resolves to as one ASCII word for a table: `13->13.1.1`,
    `13.1.1` (pinned, available), `13->none` / `12.0.1->none` (resolves to no release)."""
    resolved = resolve(choice, releases)
    if resolved is None:
        return f"{choice}->none"
    return str(choice) if choice.is_release else f"{choice}->{resolved}"


@dataclass(frozen=True)
class Move:
    """An image whose version would change when a release is added."""

    image: str
    choice: Version
    before: Version | None  # None: its choice resolves to nothing today
    after: Version


def upgrade_preview(
    images: Iterable[tuple[str, Version]], releases: Iterable[Version], new_release: Version
) -> list[Move]:
    """Which images would move (and from what to what) if `new_release` became available."""
    if not new_release.is_release:
        raise InvalidInput(f"a release is x.y.z, not {shown(str(new_release))}")
    current = list(releases)
    moves = []
    for image, choice in images:
        before = resolve(choice, current)
        after = resolve(choice, [*current, new_release])
        if after is not None and after != before:
            moves.append(Move(image, choice, before, after))
    return moves
