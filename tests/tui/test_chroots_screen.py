"""The Manage Chroots screen with the keyboard only, on a real demo cluster whose Debian
builder is a quick shell script (a real job on the head-node, without a 16 s mmdebstrap)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from tiny_chroot import BUSYBOX, NAME, busybox_tree, mounts_below, open_shell
from waiting import on_screen, until

from qlutui.app import QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.screens.chroots import ChrootsScreen
from qlutui.screens.jobs import JobsScreen
from qlutui.widgets.dialogs import Confirm, ErrorDialog, FormDialog
from qlutui.widgets.help import HelpScreen
from qlutui.widgets.log_pane import LogPane

SIZE = (80, 24)
QUICK_BUILDER = """
[builders.debian]
argv = ["sh", "-c", "for i in 1 2 3; do echo step $i; sleep 0.3; done; mkdir -p \\"$0\\"",
        "{target}"]
phases = ["step 1", "step 2", "step 3"]
"""


pytestmark = pytest.mark.usefixtures("plain_terminal")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = init_demo(tmp_path / "demo")
    path.write_text(path.read_text() + QUICK_BUILDER)
    return path


@pytest.fixture
async def cluster(config: Path):
    cluster = Cluster.open(config)
    yield cluster
    await cluster.jobs.close()
    await cluster.aclose()


def chroots(cluster: Cluster) -> dict:
    return tomllib.loads((cluster.config.state_dir / "chroots.toml").read_text())["chroots"]


async def open_chroots(pilot: Pilot) -> ChrootsScreen:
    await pilot.press("c")
    await on_screen(pilot, ChrootsScreen, "the screen")
    screen = pilot.app.screen
    await until(pilot, lambda: "bookworm-base" in screen.probes, "the probe")
    return screen


def detail(screen: ChrootsScreen) -> str:
    return str(screen.query_one("#chroots-detail", Static).content)


def add_chroot(cluster: Cluster, name: str, state: str, *, tree: bool) -> None:
    path = f"/srv/apps/chroots/{name}"
    entry = {"server": "beosrv-c", "path": path, "flavour": "bookworm", "version": "13.1"}
    cluster.store.update("chroots", lambda doc: doc["chroots"].add(name, entry | {"state": state}))
    if tree:
        (cluster.config.path.parent / "headnodes/beosrv-c" / path.lstrip("/")).mkdir(parents=True)


async def test_details_show_the_missing_tree_and_the_list_marks_every_one(
    cluster: Cluster,
) -> None:
    add_chroot(cluster, "here", "ready", tree=True)
    add_chroot(cluster, "gone", "ready", tree=False)
    add_chroot(cluster, "wip", "building", tree=False)  # no tree yet: nothing to mark
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_chroots(pilot)
        text = detail(screen)
        assert "Server:      beosrv-c" in text
        assert "Path:        /srv/apps/chroots/bookworm-base" in text
        assert "State:       ready (missing on beosrv-c)" in text
        assert "Images:      Standard-bookworm" in text
        await until(pilot, lambda: len(screen.problems) == 3, "every ready chroot checked")
        labels = [str(o.prompt) for o in screen.selector.options]
        assert labels == ["bookworm-base (!)", "gone (!)", "here (ready)", "wip (building)"]
        assert screen.problems["gone"] == "missing on beosrv-c"


async def test_new_with_keyboard_opens_the_following_log_window(cluster: Cluster) -> None:
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await open_chroots(pilot)
        await pilot.press("n")
        await on_screen(pilot, FormDialog, "the form")
        await pilot.press(*"fast", "enter", *"quick one", "enter")
        await pilot.press("ctrl+s")
        await on_screen(pilot, JobsScreen, "the log window")
        pane = pilot.app.screen.query_one(LogPane)
        title = "Creating chroot fast on beosrv-c ..."
        await until(pilot, lambda: pane.title == title, "the job in the log window")
        assert pane.follow
        assert chroots(cluster)["fast"]["state"] == "building"
        await until(pilot, lambda: pane.job is not None and pane.job.done, "the build")
        await until(
            pilot,
            lambda: "Success: Creating chroot" in "\n".join(pane.log_widget.lines),
            "the final line",
        )
        text = "\n".join(pane.log_widget.lines)
        assert text.index("step 1") < text.index("step 3") < text.index("Success")
        record = chroots(cluster)["fast"]
        assert (record["state"], record["description"]) == ("ready", "quick one")
        assert (cluster.config.path.parent / "headnodes/beosrv-c/srv/apps/chroots/fast").is_dir()
        await pilot.press("escape")
        await on_screen(pilot, ChrootsScreen, "going back")
        screen = pilot.app.screen
        await until(
            pilot,
            lambda: "fast (ready)" in [str(o.prompt) for o in screen.selector.options],
            "the new chroot listed",
        )


async def test_a_refused_new_chroot_opens_its_form_again_then_builds(cluster: Cluster) -> None:
    """A name whose tree is on the head-node already: the refusal, then the form as it was
    filled; another name, the build starts."""
    trees = cluster.config.path.parent / "headnodes/beosrv-c/srv/apps/chroots"
    (trees / "taken").mkdir(parents=True)
    before = (cluster.config.state_dir / "chroots.toml").read_bytes()
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await open_chroots(pilot)
        await pilot.press("n")
        await on_screen(pilot, FormDialog, "the form")
        await pilot.press(*"taken", "enter", *"quick one", "enter", "ctrl+s")
        await on_screen(pilot, ErrorDialog, "the refusal")
        assert pilot.app.screen.message == (
            "beosrv-c:/srv/apps/chroots/taken already exists; remove it or choose another name"
        )
        await pilot.press("enter")
        await on_screen(pilot, FormDialog, "the form again")
        form = pilot.app.screen
        assert form.query_one("#field-name", Input).value == "taken"
        assert form.query_one("#field-description", Input).value == "quick one"
        assert (cluster.config.state_dir / "chroots.toml").read_bytes() == before
        await pilot.press("ctrl+a", "ctrl+k", *"fast", "ctrl+s")
        await on_screen(pilot, JobsScreen, "the log window")
        assert chroots(cluster)["fast"]["description"] == "quick one"
        pane = pilot.app.screen.query_one(LogPane)
        await until(pilot, lambda: pane.job is not None and pane.job.done, "the build")


async def test_remove_refusal_lists_the_images(cluster: Cluster) -> None:
    before = (cluster.config.state_dir / "chroots.toml").read_bytes()
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await open_chroots(pilot)
        await pilot.press("d")
        await on_screen(pilot, ErrorDialog, "the refusal")
        assert pilot.app.screen.message == (
            "chroot 'bookworm-base' is still being used by the following Qlustar Images: "
            "Standard-bookworm"
        )
        await pilot.press("enter")
        await on_screen(pilot, ChrootsScreen, "closing it")
    assert (cluster.config.state_dir / "chroots.toml").read_bytes() == before


@pytest.mark.skipif(BUSYBOX is None, reason="busybox-static is not installed")
async def test_rename_is_refused_while_a_shell_is_open_in_the_chroot(cluster: Cluster) -> None:
    busybox_tree(cluster.config.path)
    before = (cluster.config.state_dir / "chroots.toml").read_bytes()
    shell = open_shell(cluster.config.path)  # `qlutui chroots shell`, another process
    try:
        async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
            await open_chroots(pilot)
            await pilot.press("r")
            await on_screen(pilot, ErrorDialog, "the refusal")
            assert pilot.app.screen.message == (
                "chroot 'bookworm-base' cannot be renamed: it is in use (a shell in it or a job "
                "holds its lock, beosrv-c:/srv/apps/chroots/.qlutui-locks/bookworm-base.lock)"
            )
            await pilot.press("enter")
            await on_screen(pilot, ChrootsScreen, "closing it")
    finally:
        shell.communicate("exit\n", timeout=60)
    assert (cluster.config.state_dir / "chroots.toml").read_bytes() == before


@pytest.mark.skipif(BUSYBOX is None, reason="busybox-static is not installed")
async def test_run_and_upgrade_open_the_log_window(cluster: Cluster) -> None:
    busybox_tree(cluster.config.path)
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await open_chroots(pilot)
        await pilot.press("x")
        await on_screen(pilot, FormDialog, "the Run form")
        await pilot.press(*"cat '/etc/debian_version", "ctrl+s")
        form = pilot.app.screen
        assert isinstance(form, FormDialog)  # an unclosed quote: the form stays, says why
        await pilot.press("end", "'", "ctrl+s")
        await on_screen(pilot, JobsScreen, "the log window")
        pane = pilot.app.screen.query_one(LogPane)
        title = f"Running in chroot {NAME} on beosrv-c: cat /etc/debian_version"
        await until(pilot, lambda: pane.title == title, "the job in the log window")
        table = pilot.app.screen.query_one("#jobs-table", DataTable)
        job_id = pane.job.id if pane.job else ""
        await until(pilot, lambda: job_id in table.rows, "the job in the list")
        cell = str(table.get_row(job_id)[1])  # cut in its middle at 80 columns
        assert cell.startswith("Running in chro") and cell.endswith("debian_version"), cell
        await until(pilot, lambda: pane.job is not None and pane.job.done, "the run", 30)
        await until(
            pilot, lambda: "tiny-chroot-1.0" in "\n".join(pane.log_widget.lines), "the output"
        )
        await pilot.press("escape")
        await on_screen(pilot, ChrootsScreen, "going back")
        await pilot.press("u")
        await on_screen(pilot, Confirm, "the confirmation")
        await pilot.press("y")
        await on_screen(pilot, JobsScreen, "the log window")
        pane = pilot.app.screen.query_one(LogPane)
        await until(pilot, lambda: pane.job is not None and pane.job.done, "the upgrade", 30)
        assert pane.title == f"Upgrading chroot {NAME} on beosrv-c"
        table = pilot.app.screen.query_one("#jobs-table", DataTable)
        cell = str(table.get_row(pane.job.id)[1])  # the server is in the Head-node cell
        assert cell == f"Upgrading chroot {NAME}", cell
        assert pane.job.record.state == "Failed"  # busybox has no apt-get
        await until(pilot, lambda: "apt-get" in "\n".join(pane.log_widget.lines), "the log")
    assert mounts_below(cluster.config.path.parent / "headnodes") == []


APT_GET = '#!/bin/sh\necho "apt-get $*" >> /var/log/apt-calls\n'
RELEASE_RULE = """
[release_sources.bookworm]
file = "/etc/qlustar.list"
text = "qlustar/{version}/"
"""


@pytest.mark.skipif(BUSYBOX is None, reason="busybox-static is not installed")
async def test_add_tasks_and_release_upgrade_with_the_keyboard(config: Path) -> None:
    """t: the tasks the chroot lacks, one chosen, installed in a job, recorded; v: a newer
    release chosen, the clone made, switched and upgraded, the clone's version recorded."""
    root = busybox_tree(config)
    (root / "bin/apt-get").write_text(APT_GET)
    (root / "bin/apt-get").chmod(0o755)
    (root / "var/log").mkdir(parents=True)
    (root / "etc/qlustar.list").write_text("deb http://repo.example/qlustar/13.0/ main\n")
    config.write_text(config.read_text() + RELEASE_RULE)
    records = config.parent / "state/chroots.toml"
    records.write_text(records.read_text().replace('version = "13.1"', 'version = "13.0"'))
    cluster = Cluster.open(config)
    try:
        async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
            await open_chroots(pilot)
            await pilot.press("t")
            await on_screen(pilot, FormDialog, "the tasks form")
            await pilot.press("ctrl+s")
            assert isinstance(pilot.app.screen, FormDialog)  # nothing chosen: stays
            await pilot.press("space", "ctrl+s")
            await on_screen(pilot, JobsScreen, "the log window")
            pane = pilot.app.screen.query_one(LogPane)
            await until(pilot, lambda: pane.job is not None and pane.job.done, "the job", 30)
            assert pane.title == f"Adding tasks to chroot {NAME} on beosrv-c: debmed-imaging"
            assert pane.job.record.state == "Success"
            tasks = ["admin-tools", "debmed-imaging"]
            await until(pilot, lambda: chroots(cluster)[NAME]["tasks"] == tasks, "the record")
            await pilot.press("escape")
            screen = await on_screen(pilot, ChrootsScreen, "going back")
            await until(pilot, lambda: "debmed-imaging" in detail(screen), "the tasks shown")

            await pilot.press("v")
            await on_screen(pilot, FormDialog, "the release form")
            await pilot.press("ctrl+s")
            await on_screen(pilot, JobsScreen, "the log window")
            pane = pilot.app.screen.query_one(LogPane)
            await until(pilot, lambda: pane.job is not None and pane.job.done, "the job", 60)
            assert pane.job.record.state == "Success", "\n".join(pane.log_widget.lines)
            clone = f"{NAME}-13.1"
            assert pane.title == f"Upgrading the release of chroot {clone} on beosrv-c: to 13.1"
            assert chroots(cluster)[clone]["version"] == "13.1"
            assert chroots(cluster)[NAME]["version"] == "13.0"
            tree = root.parent / clone
            assert (tree / "etc/qlustar.list").read_text() == (
                "deb http://repo.example/qlustar/13.1/ main\n"
            )
            assert "apt-get -y full-upgrade" in (tree / "var/log/apt-calls").read_text()
            await pilot.press("escape")
            screen = await on_screen(pilot, ChrootsScreen, "going back")
            await until(pilot, lambda: screen.selected == clone, "the clone selected")
    finally:
        await cluster.jobs.close()
        await cluster.aclose()
    assert mounts_below(config.parent / "headnodes") == []


def test_snapshot(snap_compare, tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    app = QlutuiApp(Cluster.open(config))

    async def ready(pilot: Pilot) -> None:
        await open_chroots(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


async def test_an_edit_waiting_for_the_lock_leaves_the_screen_answering(cluster: Cluster) -> None:
    """Another process holds chroots.toml's lock: the edit waits off the event loop, the
    screen says so and answers keys, and the edit lands once the lock is free."""
    lock = cluster.config.state_dir / "chroots.toml.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys\n"
            f"f = open({str(lock)!r}, 'w'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            "print('locked', flush=True); sys.stdin.read()",  # held until stdin closes
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        app = QlutuiApp(cluster)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            screen = await open_chroots(pilot)
            await pilot.press("e", "ctrl+u", *"while locked", "ctrl+s")

            def toasts() -> str:
                return " ".join(str(n.message) for n in app._notifications)

            await until(pilot, lambda: "Waiting for the chroots.toml lock" in toasts(), "wait")
            await pilot.press("question_mark")  # the loop is free: a key is answered
            await on_screen(pilot, HelpScreen, "the help")
            assert chroots(cluster)["bookworm-base"]["description"] != "while locked"
            await pilot.press("escape")
            holder.stdin.close()  # the other process lets go
            await until(pilot, lambda: "while locked" in detail(screen), "the saved edit")
        assert chroots(cluster)["bookworm-base"]["description"] == "while locked"
    finally:
        holder.kill()
        holder.wait(timeout=10)


async def test_help_names_the_release_upgrade(cluster: Cluster) -> None:
    """`?` reads "v  Release upgrade", as the README calls it (it read "v  Release")."""
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await open_chroots(pilot)
        await pilot.press("question_mark")
        await on_screen(pilot, HelpScreen, "the keys")
        strips = app.screen._compositor.render_strips()
        text = "\n".join("".join(segment.text for segment in strip) for strip in strips)
        assert "v                Release upgrade" in text
