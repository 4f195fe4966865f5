"""Fixtures the screen tests share: a demo cluster, and a terminal of known type and zone."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo


@pytest.fixture
def plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """TERM and TZ as the snapshots and times were taken with (a module uses it for all its
    tests with `pytestmark = pytest.mark.usefixtures("plain_terminal")`)."""
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """The demo cluster in a fresh directory (a module may define its own)."""
    cluster = Cluster.open(init_demo(tmp_path / "demo"))
    yield cluster
    await cluster.aclose()
