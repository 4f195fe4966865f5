"""The History screen (y on the menu): every previous version of the state files, its diff
against the current file, and restore by keys, checked against what another admin did."""

from __future__ import annotations

import asyncio
import sys
import tomllib
from pathlib import Path

import pytest
from waiting import on_screen, until

from qlutui.app import QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.cli import main
from qlutui.screens.history import HistoryScreen
from qlutui.widgets.diff_view import FileView

SIZE = (80, 24)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    config = init_demo(tmp_path / "demo")
    assert main(["--config", str(config), "images", "rm", "Legacy-jammy"]) == 0
    return config


def image_names(config: Path) -> list[str]:
    return sorted(tomllib.loads((config.parent / "state/images.toml").read_text())["images"])


async def open_history(app: QlutuiApp, pilot) -> HistoryScreen:
    await pilot.press("y")
    await on_screen(pilot, HistoryScreen, "the history screen")
    screen = app.screen
    await until(pilot, lambda: screen.shown is not None, "the first diff")
    return screen


async def test_shows_the_diff_and_restores_by_keys(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(app, pilot)
        assert [(v.area, v.number) for v in screen.versions] == [("images", 1)]
        assert "+[images.Legacy-jammy]" in screen.query_one(FileView).text
        await pilot.press("R")
        await until(pilot, lambda: app.screen is not screen, "the confirmation")
        await pilot.press("n")  # no: nothing restored
        await until(pilot, lambda: app.screen is screen, "back on the screen")
        assert "Legacy-jammy" not in image_names(demo)
        await pilot.press("R")
        await until(pilot, lambda: app.screen is not screen, "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: len(screen.versions) == 2, "the list after the restore")
        assert "Legacy-jammy" in image_names(demo)
    await cluster.aclose()


async def test_restore_refuses_when_the_file_changed_after_the_diff(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(app, pilot)
        # another admin changes images.toml while this diff is on the screen
        other = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "qlutui", "--config", str(demo), "images", "set"],
            *["Standard-noble", "--description", "meanwhile"],
        )
        assert await asyncio.wait_for(other.wait(), 60) == 0
        before = (demo.parent / "state/images.toml").read_bytes()
        await pilot.press("R")
        await until(pilot, lambda: app.screen is not screen, "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: bool(app._notifications), "the refusal")
        messages = [n.message for n in app._notifications]
        assert any("changed by someone else" in m for m in messages), messages
        assert (demo.parent / "state/images.toml").read_bytes() == before
    await cluster.aclose()
