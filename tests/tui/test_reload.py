"""Screens show the truth after a change made elsewhere: `ctrl+r` reloads every screen that
reloads, and the screens showing state files reload by themselves when one changes on disk
(here: the CLI in another process), the cursor on the same item, never under an open form."""

from __future__ import annotations

import asyncio
import sys
import tomllib

import pytest
from textual.pilot import Pilot
from waiting import on_screen, opened, settled, until

from qlutui.app import QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.screens.audit import AuditScreen
from qlutui.screens.check import CheckScreen
from qlutui.screens.chroots import ChrootsScreen
from qlutui.screens.history import HistoryScreen
from qlutui.screens.hosts import HostsScreen
from qlutui.screens.images import ImagesScreen
from qlutui.screens.menu import MenuScreen
from qlutui.screens.rootfs import RootfsScreen
from qlutui.screens.write_files import WriteFilesScreen
from qlutui.widgets.dialogs import FormDialog

SIZE = (80, 24)
RELOADING = {
    "i": ImagesScreen,
    "c": ChrootsScreen,
    "w": WriteFilesScreen,
    "r": RootfsScreen,
    "h": HostsScreen,
    "a": AuditScreen,
    "k": CheckScreen,
    "y": HistoryScreen,
}


pytestmark = pytest.mark.usefixtures("plain_terminal")


async def cli(cluster: Cluster, *args: str) -> None:
    """`qlutui ARGS` in another process, as an admin in another shell runs it."""
    config = str(cluster.config.path)
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qlutui", "--config", config, *args
    )
    assert await asyncio.wait_for(other.wait(), 60) == 0


def messages(app: QlutuiApp) -> list[str]:
    return [n.message for n in app._notifications]


def images_on_disk(cluster: Cluster) -> dict:
    return tomllib.loads((cluster.config.state_dir / "images.toml").read_text())["images"]


async def open_images(pilot: Pilot) -> ImagesScreen:
    await opened(pilot, "i")
    screen = pilot.app.screen
    assert isinstance(screen, ImagesScreen) and screen.state is not None
    return screen


def image_at_cursor(screen: ImagesScreen) -> str:
    return screen.tree.cursor_node.data.image


async def test_ctrl_r_is_reload_on_every_screen_that_reloads(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        for key, kind in RELOADING.items():
            await opened(pilot, key)
            screen = app.screen
            assert isinstance(screen, kind)
            reload = screen.active_bindings["ctrl+r"].binding
            assert (reload.action, reload.description) == ("reload", "Reload"), kind
            r = screen.active_bindings.get("r")
            assert r is None or r.binding.action != "reload", kind
            await pilot.press("escape")
            await on_screen(pilot, MenuScreen)


async def test_ctrl_r_shows_what_the_cli_did_on_the_audit_and_history_screens(
    cluster: Cluster,
) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "a")
        audit = app.screen
        events = audit.table.row_count
        await opened(pilot, "escape", "y")
        history = app.screen
        versions = len(history.versions)
        await cli(cluster, "images", "set", "Standard-noble", "--description", "elsewhere")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(history.versions) == versions + 1, "the new version")
        await opened(pilot, "escape", "a")
        audit = app.screen
        assert audit.table.row_count == events + 1


async def test_images_screen_picks_up_a_cli_rename(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_images(pilot)
        await pilot.press("down", "down")
        assert image_at_cursor(screen) == "Standard-noble"
        await cli(cluster, "images", "rename", "Legacy-jammy", "Zeta-jammy")
        await until(pilot, lambda: "Zeta-jammy" in screen.state.images, "the reload")
        assert "images.toml changed on disk: reloaded" in messages(app)
        assert "Legacy-jammy" not in screen.state.images
        assert image_at_cursor(screen) == "Standard-noble"  # by name: now the second line
        await settled(pilot)
        # an edit now is based on the file as it is: saved, not refused as a conflict
        await pilot.press("e")
        await on_screen(pilot, FormDialog)
        await pilot.press("ctrl+u", *"mine", "ctrl+s")
        await until(
            pilot,
            lambda: images_on_disk(cluster)["Standard-noble"]["description"] == "mine",
            f"the edit on disk {messages(app)}",
        )
        assert "Zeta-jammy" in images_on_disk(cluster)


async def test_images_screen_reloads_once_the_open_form_closes(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_images(pilot)
        await pilot.press("down", "down", "e")
        await on_screen(pilot, FormDialog)
        await cli(cluster, "images", "rename", "Legacy-jammy", "Zeta-jammy")
        screen.check_files()  # what the periodic check does: nothing under the form
        assert "Legacy-jammy" in screen.state.images
        await pilot.press("escape")
        await until(pilot, lambda: "Zeta-jammy" in screen.state.images, "the reload")
        assert "images.toml changed on disk: reloaded" in messages(app)
        assert image_at_cursor(screen) == "Standard-noble"


async def test_hosts_screen_picks_up_a_cli_change(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "h")
        screen = app.screen
        assert isinstance(screen, HostsScreen)
        await pilot.press("down", "down", "down", "down")
        host = screen.current_host()
        first = screen.shown[0].name
        assert host == "beo-02" and first == "beosrv-c"
        await cli(cluster, "hosts", "rm", "login-c")
        await until(pilot, lambda: len(screen.entries) == 50, "the reload")
        assert "inventory.toml changed on disk: reloaded" in messages(app)
        assert "login-c" not in {e.name for e in screen.entries}
        assert screen.current_host() == "beo-02"  # one row up now
