"""The Root FS screens driven by the keyboard only, on a real demo cluster; plus a snapshot."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static
from waiting import on_screen, until

from qlutui.app import QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import HEADNODES, init_demo
from qlutui.screens.rootfs import (
    ConfigScreen,
    ConflictDialog,
    DiffScreen,
    EditScreen,
    FileTree,
    ReportScreen,
    RootfsScreen,
)
from qlutui.widgets.dialogs import Confirm, ErrorDialog, FormDialog
from qlutui.widgets.diff_view import FileView
from qlutui.widgets.help import HelpScreen

SIZE = (80, 24)
BASE = "var/lib/qlustar/root-fs"


pytestmark = pytest.mark.usefixtures("plain_terminal")


@pytest.fixture
async def cluster(tmp_path: Path):
    cluster = Cluster.open(init_demo(tmp_path / "demo"))
    yield cluster
    await cluster.jobs.close()
    await cluster.aclose()


def on(cluster: Cluster, node: str, rel: str) -> Path:
    return cluster.config.state_dir.parent / "headnodes" / node / BASE / rel


async def open_rootfs(pilot: Pilot) -> RootfsScreen:
    await pilot.press("r")
    await on_screen(pilot, RootfsScreen, "the Root FS screen")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.state is not None, "the configs to load")
    return screen


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


def labels(screen: ConfigScreen) -> list[str]:
    tree = screen.query_one(FileTree)
    return [str(tree.get_node_at_line(i).label) for i in range(tree.last_line + 1)]


async def test_list_shows_configs_sizes_images_and_divergence(cluster: Cluster) -> None:
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_rootfs(pilot)
        table = screen.table
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows[0][0] == "gpu-setup" and rows[0][4] == "(!) differs"
        assert rows[1][:4] == ["ntp-tweaks", "2", "144 B", "Standard-bookworm, Standard-noble"]
        info = text(screen, "#rootfs-info")
        assert "Head-nodes: differs: beosrv-c | beosrv-d" in info
        assert "etc/modprobe.d/nvidia.conf" in info


async def test_new_assign_and_delete_by_keyboard(cluster: Cluster) -> None:
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_rootfs(pilot)
        await pilot.press("n")
        await on_screen(pilot, FormDialog)
        await pilot.press(*"site", "enter", *"Site files", "ctrl+s")
        await until(pilot, lambda: "site" in (screen.state.configs or {}), "the new config")
        for node in HEADNODES:
            assert on(cluster, node, "site/lib/qlustar/init.d").is_dir()
        rootfs = tomllib.loads((cluster.config.state_dir / "rootfs.toml").read_text())
        assert rootfs["configs"]["site"] == {"description": "Site files"}

        await pilot.press("down", "down", "a")  # site is the third row
        await on_screen(pilot, FormDialog)
        await pilot.press("space", "ctrl+s")  # the first image: Legacy-jammy
        await until(
            pilot, lambda: screen.state.configs["site"].images == ("Legacy-jammy",), "assignment"
        )

        await pilot.press("d")
        confirm = await on_screen(pilot, Confirm)
        assert "Legacy-jammy" in str(confirm.query_one("#dialog").query(Static).last().render())
        await pilot.press("y")
        await until(pilot, lambda: "site" not in screen.state.configs, "the deletion")
        assert not any(on(cluster, node, "site").exists() for node in HEADNODES)
        images = tomllib.loads((cluster.config.state_dir / "images.toml").read_text())
        assert images["images"]["Legacy-jammy"]["rootfs"] == []


async def test_a_refused_new_config_opens_its_form_again_then_creates(cluster: Cluster) -> None:
    """A name taken: the refusal, then the form as it was filled; another name, created."""
    before = (cluster.config.state_dir / "rootfs.toml").read_bytes()
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_rootfs(pilot)
        await pilot.press("n")
        await on_screen(pilot, FormDialog)
        await pilot.press(*"ntp-tweaks", "enter", *"Site files", "ctrl+s")
        error = await on_screen(pilot, ErrorDialog, "the refusal")
        assert error.message.startswith("root-fs config ntp-tweaks exists already on ")
        await pilot.press("enter")
        form = await on_screen(pilot, FormDialog, "the form again")
        assert form.query_one("#field-name", Input).value == "ntp-tweaks"
        assert form.query_one("#field-description", Input).value == "Site files"
        assert (cluster.config.state_dir / "rootfs.toml").read_bytes() == before
        await pilot.press("ctrl+a", "ctrl+k", *"site", "ctrl+s")
        await until(pilot, lambda: "site" in (screen.state.configs or {}), "the new config")
        rootfs = tomllib.loads((cluster.config.state_dir / "rootfs.toml").read_text())
        assert rootfs["configs"]["site"] == {"description": "Site files"}


async def test_files_edit_exec_bit_and_boot_order(cluster: Cluster) -> None:
    script = "ntp-tweaks/lib/qlustar/init.d/10-chrony-wait"
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await open_rootfs(pilot)
        await pilot.press("down", "o")
        config = await on_screen(pilot, ConfigScreen)
        await until(pilot, lambda: len(labels(config)) == 3, "the top of the tree")
        await pilot.press("down", "down", "enter")  # lib/
        await until(pilot, lambda: len(labels(config)) == 4, "lib/")
        await pilot.press("down", "enter")  # qlustar/
        await until(pilot, lambda: len(labels(config)) == 5, "qlustar/")
        await pilot.press("down", "enter")  # init.d/
        await until(pilot, lambda: len(labels(config)) == 6, "init.d/")
        await pilot.press("down")
        assert labels(config)[-1] == "10-chrony-wait*  (0755, 98 B)"
        await pilot.press("x")
        await until(pilot, lambda: labels(config)[-1].endswith("(0644, 98 B)"), "the mode")
        for node in HEADNODES:
            assert on(cluster, node, script).stat().st_mode & 0o777 == 0o644

        await pilot.press("enter")  # a file: the editor
        editor = await on_screen(pilot, EditScreen)
        await pilot.press("down", "down", "down", *"true", "enter", "ctrl+s")
        await until(pilot, lambda: editor.saved, "the save")
        await pilot.press("escape")
        await on_screen(pilot, ConfigScreen)
        for node in HEADNODES:
            assert on(cluster, node, script).read_text().endswith("sync'\ntrue\n")

        await pilot.press("b")
        report = await on_screen(pilot, ReportScreen)
        shown = str(report.query_one("#report Static", Static).content)
        assert " - 0644 10-chrony-wait" in shown
        assert "will not run: not executable: run-parts skips it" in shown
        await pilot.press("question_mark")
        keys = await on_screen(pilot, HelpScreen, "the keys")
        assert keys.query_one("#dialog").border_title == "Keys: Boot order of ntp-tweaks"


async def test_new_file_is_shown_selected_and_opened_in_the_editor(cluster: Cluster) -> None:
    """From the top of the tree: the directories above the new file open, the cursor is on it
    and the editor is open on it; in init.d it is a boot script, executable at once."""
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await open_rootfs(pilot)
        await pilot.press("down", "o")
        config = await on_screen(pilot, ConfigScreen)
        await until(pilot, lambda: len(labels(config)) == 3, "the top of the tree")
        await pilot.press("n")
        await on_screen(pilot, FormDialog, "the New file form")
        await pilot.press(*"lib/qlustar/init.d/50-new", "enter")
        editor = await on_screen(pilot, EditScreen, "the editor on the new file")
        assert editor.opened.path == "lib/qlustar/init.d/50-new"
        await pilot.press(*"#!/bin/sh", "ctrl+s")
        await until(pilot, lambda: editor.saved, "the save")
        await pilot.press("escape")
        await on_screen(pilot, ConfigScreen)
        tree = config.query_one(FileTree)
        await until(pilot, lambda: tree.cursor_node.data.path.endswith("50-new"), "the cursor")
        assert str(tree.cursor_node.label) == "50-new*  (0755, 9 B)"
        for node in HEADNODES:
            script = on(cluster, node, "ntp-tweaks/lib/qlustar/init.d/50-new")
            assert script.stat().st_mode & 0o777 == 0o755 and script.read_text() == "#!/bin/sh"

        await pilot.press("home", "n")  # elsewhere: a plain file
        await on_screen(pilot, FormDialog, "the New file form")
        await pilot.press(*"etc/site/notes", "enter")
        await on_screen(pilot, EditScreen, "the editor on the new file")
        await pilot.press("escape")
        await on_screen(pilot, ConfigScreen)
        await until(pilot, lambda: tree.cursor_node.data.path == "etc/site/notes", "the cursor")
        assert (
            on(cluster, HEADNODES[0], "ntp-tweaks/etc/site/notes").stat().st_mode & 0o777 == 0o644
        )


async def test_renaming_a_directory_into_itself_is_refused_in_one_line(cluster: Cluster) -> None:
    before = sorted(str(p) for p in on(cluster, HEADNODES[0], "ntp-tweaks").rglob("*"))
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await open_rootfs(pilot)
        await pilot.press("down", "o")
        config = await on_screen(pilot, ConfigScreen)
        await until(pilot, lambda: len(labels(config)) == 3, "the top of the tree")
        await pilot.press("down", "r")  # etc/
        await on_screen(pilot, FormDialog, "the Rename form")
        await pilot.press("end", *"/chrony/x", "ctrl+s")
        await on_screen(pilot, ErrorDialog, "the refusal")
        assert pilot.app.screen.message == (
            "cannot move ntp-tweaks/etc to ntp-tweaks/etc/chrony/x: the new path is inside it"
        )
        await pilot.press("enter")
        await on_screen(pilot, FormDialog, "the form again, as it was filled")
        await pilot.press("escape")
        await on_screen(pilot, ConfigScreen)
    for node in HEADNODES:
        now = sorted(str(p) for p in on(cluster, node, "ntp-tweaks").rglob("*"))
        assert now == [path.replace(HEADNODES[0], node) for path in before]


async def test_import_form_types_after_its_prefilled_starts(cluster: Cluster) -> None:
    """The source "/" and the path's directory are starts to type on: keys add to them."""
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await open_rootfs(pilot)
        await pilot.press("down", "o")
        config = await on_screen(pilot, ConfigScreen)
        await until(pilot, lambda: len(labels(config)) == 3, "the top of the tree")
        await pilot.press("down", "down", "i")  # on lib/
        form = await on_screen(pilot, FormDialog, "the Import form")
        await pilot.press(*"etc/hostname", "tab", *"hostname")
        assert form.query_one("#field-source", Input).value == "/etc/hostname"
        assert form.query_one("#field-path", Input).value == "lib/hostname"
        await pilot.press("escape")
        await on_screen(pilot, ConfigScreen)


async def test_sync_shows_the_content_diff_and_runs_only_when_confirmed(
    cluster: Cluster,
) -> None:
    target = on(cluster, "beosrv-d", "gpu-setup/etc/modprobe.d/nvidia.conf")
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_rootfs(pilot)
        await pilot.press("s")
        await on_screen(pilot, FormDialog)
        await pilot.press("ctrl+s")  # from beosrv-c, the first head-node
        diff = await on_screen(pilot, DiffScreen)
        shown = diff.query_one(FileView).text
        assert "=== beosrv-d becomes like beosrv-c" in shown
        assert "+++ beosrv-c:etc/modprobe.d/nvidia.conf" in shown and "+options nvidia" in shown
        await pilot.press("escape")  # cancelled: nothing synced
        await on_screen(pilot, RootfsScreen)
        assert not target.exists()

        await pilot.press("s")
        await on_screen(pilot, FormDialog)
        await pilot.press("ctrl+s")
        await on_screen(pilot, DiffScreen)
        await pilot.press("y")
        await until(pilot, lambda: screen.state.configs["gpu-setup"].agree, "the sync")
        assert target.is_file()


async def open_script(pilot: Pilot) -> EditScreen:
    """The editor on ntp-tweaks' lib/qlustar/init.d/10-chrony-wait, by keys."""
    await open_rootfs(pilot)
    await pilot.press("down", "o")
    config = await on_screen(pilot, ConfigScreen)
    for lines, keys in ((3, ()), (4, ("down", "down", "enter")), (5, ("down", "enter"))):
        await pilot.press(*keys)
        await until(pilot, lambda n=lines: len(labels(config)) == n, f"{lines} tree lines")
    await pilot.press("down", "enter")
    await until(pilot, lambda: len(labels(config)) == 6, "init.d/")
    await pilot.press("down", "enter")
    return await on_screen(pilot, EditScreen)


async def test_a_copy_changed_on_disk_stops_the_save_with_diff_reload_overwrite(
    cluster: Cluster,
) -> None:
    script = "ntp-tweaks/lib/qlustar/init.d/10-chrony-wait"
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        editor = await open_script(pilot)
        opened = on(cluster, "beosrv-c", script).read_text()
        on(cluster, "beosrv-d", script).write_text(opened + "echo changed on d\n")
        await pilot.press(*"true", "ctrl+s")
        await on_screen(pilot, ConflictDialog)
        await pilot.press("d")  # the diff: d's line is not in the editor's text
        diff = await on_screen(pilot, DiffScreen)
        shown = diff.query_one(FileView).text
        assert "beosrv-d: its copy changed since it was opened" in shown
        assert "-echo changed on d" in shown and "+true" in shown
        await pilot.press("escape")  # back: asked again
        await on_screen(pilot, ConflictDialog)
        await pilot.press("escape")  # cancelled: nothing written anywhere
        await on_screen(pilot, EditScreen)
        assert on(cluster, "beosrv-c", script).read_text() == opened
        assert on(cluster, "beosrv-d", script).read_text().endswith("echo changed on d\n")

        on(cluster, "beosrv-c", script).write_text(opened + "echo changed on c\n")
        await pilot.press("ctrl+s")
        await on_screen(pilot, ConflictDialog)
        await pilot.press("r")  # reload: the first head-node's copy
        await on_screen(pilot, EditScreen)
        await until(pilot, lambda: editor.area.text.endswith("changed on c\n"), "the reload")
        assert not editor.saved

        await pilot.press("ctrl+s")  # d still has another copy: asked again
        await on_screen(pilot, ConflictDialog)
        await pilot.press("o")
        await until(pilot, lambda: editor.saved, "the save")
        for node in HEADNODES:
            assert on(cluster, node, script).read_text() == opened + "echo changed on c\n"
        await until(pilot, lambda: pilot.app.focused is editor.area, "the editor's focus")
        await pilot.press(*"more", "ctrl+s")  # now in agreement: saved at once
        await until(
            pilot,
            lambda: on(cluster, "beosrv-d", script).read_text().startswith("more#!"),
            "2nd save",
        )


def test_snapshot(cluster: Cluster, snap_compare) -> None:
    async def open_list(pilot: Pilot) -> None:
        await open_rootfs(pilot)
        await pilot.pause()

    assert snap_compare(QlutuiApp(cluster), terminal_size=SIZE, run_before=open_list)


async def test_node_gets_marks_a_file_another_config_of_the_image_ships(
    cluster: Cluster,
) -> None:
    for config in ("ntp-tweaks", "gpu-setup"):
        on(cluster, "beosrv-c", f"{config}/etc/motd").write_text("x\n")
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await open_rootfs(pilot)
        await pilot.press("o")  # gpu-setup, the first config
        await on_screen(pilot, ConfigScreen)
        await pilot.press("p")
        report = await on_screen(pilot, ReportScreen)
        shown = str(report.query_one("#report Static", Static).content).splitlines()
        motd = shown.index(next(line for line in shown if line.endswith(" /etc/motd")))
        assert shown[motd + 1] == (
            "  ! also in ntp-tweaks on Standard-bookworm: the node gets one of them"
        )
        assert sum("also in" in line for line in shown) == 1
