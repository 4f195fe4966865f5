"""Screens show the truth after a change made elsewhere: `ctrl+r` reloads every screen that
reloads, and the screens showing state files (and the audit trail) reload by themselves when
one changes on disk (here: the CLI in another process), the cursor on the same item, never
under an open form nor over an edit in progress (the SSH header editor: a notice, and its
save is refused as a conflict once, its text kept)."""

from __future__ import annotations

import asyncio
import sys
import tomllib
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static, TextArea
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
from qlutui.screens.ssh_configs import SSHConfigsScreen
from qlutui.screens.write_files import WriteFilesScreen
from qlutui.widgets.dialogs import Confirm, ErrorDialog, FormDialog

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
    "s": SSHConfigsScreen,
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


def known_hosts_header(cluster: Cluster) -> str:
    return tomllib.loads((cluster.config.state_dir / "sshfiles.toml").read_text())["known_hosts"][
        "header"
    ]


async def set_header_elsewhere(cluster: Cluster, tmp_path: Path, text: str) -> None:
    source = tmp_path / "header"
    source.write_text(text)
    await cli(cluster, "ssh", "header", "known_hosts", "--set", str(source))


def status_of(screen: SSHConfigsScreen) -> str:
    return str(screen.query_one("#ssh-status", Static).render())


async def open_ssh(pilot: Pilot) -> tuple[SSHConfigsScreen, TextArea]:
    await opened(pilot, "s")
    screen = pilot.app.screen
    assert isinstance(screen, SSHConfigsScreen) and screen.state is not None
    return screen, screen.query_one("#ssh-header", TextArea)


async def test_ssh_configs_screen_shows_a_header_the_cli_set(
    cluster: Cluster, tmp_path: Path
) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen, editor = await open_ssh(pilot)
        # a description saved here (stripped as it is saved) is no edit in progress
        await pilot.press("d", "ctrl+a", "ctrl+k", *"Ours  ", "enter")
        await until(pilot, lambda: "description saved" in status_of(screen), "saved")
        await set_header_elsewhere(cluster, tmp_path, "# set from the CLI\n")
        await until(pilot, lambda: editor.text == "# set from the CLI\n", "the reload")
        assert "sshfiles.toml changed on disk: reloaded" in messages(app)
        assert editor.read_only and not screen.editing
        assert screen.query_one("#ssh-description", Input).value == "Ours"


async def test_an_unsaved_header_is_never_reloaded_over_its_save_is_refused_once(
    cluster: Cluster, tmp_path: Path
) -> None:
    notice = (
        "sshfiles.toml changed on disk: not reloaded over your edit of the Known Hosts header;"
        " saving it reports the conflict"
    )
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen, editor = await open_ssh(pilot)
        await pilot.press("e", *"# mine")
        mine = editor.text
        await set_header_elsewhere(cluster, tmp_path, "# theirs\n")
        await until(pilot, lambda: notice in messages(app), "the notice")
        assert editor.text == mine and screen.editing and editor.has_focus
        await pilot.press("ctrl+s")
        dialog = await on_screen(pilot, ErrorDialog, "the conflict")
        assert dialog.message.startswith("sshfiles.toml was changed meanwhile (by another admin")
        assert "nothing saved. Your Known Hosts header is kept as typed" in dialog.message
        await pilot.press("enter")
        await settled(pilot)
        assert known_hosts_header(cluster) == "# theirs\n"  # nothing saved
        assert editor.text == mine and screen.editing
        await pilot.press("ctrl+s")  # now over the version it was shown the conflict with
        await until(pilot, lambda: not screen.editing, "saved")
        assert known_hosts_header(cluster) == mine + "\n"
        assert messages(app).count(notice) == 1


async def test_a_change_held_over_an_edit_is_shown_once_the_edit_ends(
    cluster: Cluster, tmp_path: Path
) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen, editor = await open_ssh(pilot)
        await pilot.press("e", *"# mine")
        await set_header_elsewhere(cluster, tmp_path, "# theirs\n")
        await until(pilot, lambda: "not reloaded over" in " ".join(messages(app)), "the notice")
        screen.check_files()  # checked again: still not reloaded, not said again
        assert "# mine" in editor.text
        await pilot.press("escape")
        await on_screen(pilot, Confirm, "drop the changes?")
        await pilot.press("y")
        await until(pilot, lambda: editor.text == "# theirs\n", "the reload")
        assert "sshfiles.toml changed on disk: reloaded" in messages(app)
        assert sum("not reloaded over" in m for m in messages(app)) == 1


async def test_history_screen_shows_new_versions_the_cursor_on_its_version(
    cluster: Cluster,
) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "y")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        versions = len(screen.versions)
        await cli(cluster, "images", "set", "Standard-noble", "--description", "elsewhere")
        await until(pilot, lambda: len(screen.versions) == versions + 1, "the images version")
        assert "images.toml changed on disk: reloaded" in messages(app)
        await settled(pilot)
        [first] = [v for v in screen.versions if v.area == "images"]
        screen.table.move_cursor(row=screen.versions.index(first))
        await cli(cluster, "hosts", "add", "extra-01", "--ip", "boot=auto")
        await cli(cluster, "images", "set", "Standard-noble", "--description", "again")
        await until(pilot, lambda: len(screen.versions) == versions + 3, "the new versions")
        assert screen.selected is not None and screen.selected.path == first.path
        assert screen.selected.number == 2  # a newer version of images.toml came
        # its diff is the one against the file as it is now
        now = cluster.store.token("images")
        await until(pilot, lambda: screen.shown == (screen.selected, now), "the diff")


async def test_audit_screen_shows_a_line_the_cli_appended_the_cursor_on_its_event(
    cluster: Cluster,
) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "a")
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        events = screen.table.row_count
        await cli(cluster, "images", "set", "Standard-noble", "--description", "elsewhere")
        await until(pilot, lambda: screen.table.row_count == events + 1, "the new line")
        assert not any("changed on disk" in m for m in messages(app))  # new lines just show
        await settled(pilot)
        row = screen.table.get_row_at(0)
        await cli(cluster, "images", "set", "Standard-noble", "--description", "again")
        await until(pilot, lambda: screen.table.row_count == events + 2, "the newer line")
        assert screen.table.cursor_row == 1 and screen.table.get_row_at(1) == row
