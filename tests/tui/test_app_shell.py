"""The app shell on a real demo cluster: menu, keys, help, keymap, palette, serial mode,
quit confirmation, the Jobs and Hosts screens, and SVG snapshots of the main screens."""

from __future__ import annotations

import asyncio
import calendar
import gc
import json
import re
import time
from pathlib import Path

import pytest
import tomlkit
from textual.command import CommandPalette
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.widgets import Input, Tree
from tiny_chroot import present_tree
from waiting import on_screen, opened, settled, until, until_file_sh

from qlutui.app import QlutuiApp, serial_mode
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import build_inventory, init_demo, public_key
from qlutui.backend.job_records import STDERR, STDOUT, JobRecord, Plan, TargetRecord
from qlutui.backend.jobs import JobContext
from qlutui.backend.sshfiles import SSHFilesService
from qlutui.idle_gc import FULL_AFTER, interactive_gc
from qlutui.screens import jobs as jobs_screen
from qlutui.screens.check import CheckScreen
from qlutui.screens.chroots import ChrootsScreen
from qlutui.screens.hosts import HostsScreen, RowsView
from qlutui.screens.jobs import SHOWN_JOBS, JobsScreen, fitted
from qlutui.screens.menu import MenuScreen
from qlutui.widgets.dialogs import Confirm
from qlutui.widgets.filter_input import FilterInput
from qlutui.widgets.footer import FooterItem, KeysFooter
from qlutui.widgets.help import HelpScreen
from qlutui.widgets.lists import RowTable
from qlutui.widgets.log_pane import LogPane

SIZE = (80, 24)
BOX_AND_BLOCKS = re.compile("[\u2500-\u259f]")  # box drawing and block elements


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # serial mode only where a test asks
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo, its chroot's tree present: the state files are all there is to check."""
    config = init_demo(tmp_path / "demo")
    present_tree(config)
    return config


def add_ui(config: Path, text: str) -> None:
    config.write_text(config.read_text() + "\n[ui]\n" + text + "\n")


def write_job(
    cluster: Cluster, job_id: str, title: str, targets: dict[str, str], logs: dict[str, list[str]]
) -> None:
    """A finished job as the job manager leaves it on disk: job.toml and one log per target.

    Its times come from its id, so snapshots do not depend on the clock."""
    created = calendar.timegm(time.strptime(job_id[:15], "%Y%m%d-%H%M%S"))
    record = JobRecord(
        job_id,
        "chroots.create",
        title,
        created=created,
        finished=created + 75,
        targets={name: TargetRecord(state=state) for name, state in targets.items()},
    )
    directory = cluster.store.jobs_dir / job_id
    directory.mkdir(parents=True)
    (directory / "job.toml").write_text(tomlkit.dumps(record.to_dict()))
    for target, raws in logs.items():
        lines = [f"{created + i:.3f} {raw}\n" for i, raw in enumerate(raws)]
        (directory / f"{target}.log").write_text("".join(lines))


def demo_jobs(cluster: Cluster) -> None:
    write_job(
        cluster,
        "20260922-120000-ab12",
        "Creating chroot beosrv-c:/srv/apps/chroots/bookworm-base",
        {"beosrv-c": "Success"},
        {
            "beosrv-c": [
                "m step 1/2: mmdebstrap",
                "o I: Retrieving InRelease",
                "e W: no keyring",
                "o I: Base system installed successfully.",
                "m finished: exit 0",
            ]
        },
    )
    write_job(
        cluster,
        "20260922-130000-cd34",
        "Writing SSH host files",
        {"beosrv-c": "Success", "beosrv-d": "Failed"},
        {
            "beosrv-c": ["o wrote /etc/ssh/ssh_known_hosts"],
            "beosrv-d": ["e permission denied: /etc/ssh/ssh_known_hosts"],
        },
    )


def screen_text(app: QlutuiApp) -> str:
    """The characters on the terminal right now, line by line."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def shown_whole(message: str, text: str) -> bool:
    """Whether `message` is on the screen with no word folded (broken between words only;
    a word too long for a line, a path, cut in its middle)."""
    shown = " ".join(line.strip(" \u2502") for line in text.splitlines()).split()
    words = message.split()
    return any(
        all(map(same_word, shown[start : start + len(words)], words))
        for start in range(len(shown) - len(words) + 1)
    )


def same_word(shown: str, word: str) -> bool:
    head, cut, tail = shown.partition("…")
    return shown == word or bool(cut and word.startswith(head) and word.endswith(tail))


async def settle(pilot, seconds: float = 0.1) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(seconds)


async def closed(cluster: Cluster) -> None:
    await cluster.aclose()


# -- menu, keys, help, keymap, palette --------------------------------------------------


async def test_menu_keys_enter_and_escape(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, MenuScreen)
        assert "Head-nodes: beosrv-c, beosrv-d" in screen_text(app)
        await pilot.press("h")
        assert isinstance(app.screen, HostsScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MenuScreen)
        await pilot.press("escape")  # nothing below the menu: escape does nothing
        assert isinstance(app.screen, MenuScreen)
        await pilot.press(*["down"] * 5, "enter")  # Jobs: the sixth entry
        assert isinstance(app.screen, JobsScreen)
        await pilot.press("escape", "j")
        assert isinstance(app.screen, JobsScreen)
        assert len(app.screen_stack) == 2
    await closed(cluster)


async def test_a_dialog_opened_at_once_does_not_share_the_cpu_with_the_menus_count(
    demo: Path,
) -> None:
    """The count (every generated file rendered) waits until the menu has stayed on screen:
    a dialog opened at once paints without it running beside; back on the menu, it counts."""
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        menu = app.screen
        assert isinstance(menu, MenuScreen)
        await opened(pilot, "h")
        before = set(app.workers)
        menu._count()  # the menu's timer, when it fires while a dialog is shown
        assert not [w for w in app.workers if w.group == "summary" and w not in before]
        await pilot.press("escape")
        await until(pilot, lambda: "hosts on" in screen_text(app), "the count, back on the menu")
    await closed(cluster)


async def test_menu_counts_the_cluster_and_counts_again_on_return(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    summary = "51 hosts on 4 networks, 3 images, 1 chroot, no job running"
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: summary in screen_text(app), "the cluster summary")
        job = await cluster.jobs.start("test.build", "Long build", {"beosrv-c": never_ending})
        await pilot.press("h", "escape")
        running = summary.replace("no job running", "1 job running")
        await until(pilot, lambda: running in screen_text(app), "the running job counted")
        await cluster.jobs.kill(job.id)
        await wait_done(job)
        assert "problem" not in screen_text(app)
        state = demo.parent / "state"
        images = state / "images.toml"
        images.write_text(images.read_text().replace("description =", "descripton =", 1))
        await pilot.press("h", "escape")
        problem = "(!) 1 problem in the state files: k lists them"
        await until(pilot, lambda: problem in screen_text(app), "the typo counted")
        (state / "chroots.toml").write_text("[chroots\n")  # broken by hand meanwhile
        await pilot.press("h", "escape")
        error = f"{state / 'chroots.toml'}:1:9: Expected ']' at the end of a table declaration"
        await until(pilot, lambda: shown_whole(error, screen_text(app)), "the file's error")
    await closed(cluster)


async def test_menu_counts_a_job_that_starts_or_ends_while_it_is_shown(demo: Path) -> None:
    """No need to leave the menu and come back: a job's start and end change its line."""
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "no job running" in screen_text(app), "the first count")
        job = await cluster.jobs.start("test.build", "Long build", {"beosrv-c": never_ending})
        await until(pilot, lambda: "1 job running" in screen_text(app), "the job counted")
        await cluster.jobs.kill(job.id)
        await wait_done(job)
        await until(pilot, lambda: "no job running" in screen_text(app), "the job's end")
    await closed(cluster)


async def test_menu_counts_the_end_of_a_job_started_before_the_app(demo: Path) -> None:
    """A job started before the app ran (Write Files' rebuilds of a script, a test's job)
    reports its end from outside Textual's context: the count still follows it, and the
    app closes cleanly (a timer set there raised LookupError when it fired)."""
    cluster = Cluster.open(demo)
    job = await cluster.jobs.start("test.build", "Long build", {"beosrv-c": never_ending})
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "1 job running" in screen_text(app), "the job counted")
        await cluster.jobs.kill(job.id)
        await wait_done(job)
        await until(pilot, lambda: "no job running" in screen_text(app), "the job's end")
    await closed(cluster)


async def test_check_screen_lists_the_problems_and_checks_again(demo: Path) -> None:
    images = demo.parent / "state/images.toml"
    images.write_text(images.read_text().replace("chroot =", "chrot =", 1))
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        await on_screen(pilot, CheckScreen, "the check screen")
        screen = app.screen
        await until(pilot, lambda: screen.problems is not None, "the check")
        problem = f"{images}:6: unknown key images.Standard-noble.chrot (not used)"  # its line
        assert screen.problems == [problem]
        shown = screen_text(app).replace("\n", "").replace(" ", "")  # wrapped at 80 columns
        assert problem.replace(" ", "") in shown and "1problem;^rchecksagain" in shown
        images.write_text(images.read_text().replace("chrot =", "chroot =", 1))
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.problems == [], "the second check")
        assert "No problem found." in screen_text(app)
    await closed(cluster)


async def test_menu_and_check_warn_of_an_image_on_a_chroot_without_its_tree(
    tmp_path: Path,
) -> None:
    """The demo's bookworm-base, ready but with no tree on beosrv-c: the menu counts it and
    the image on it, Check lists both; with the tree there, neither."""
    config = init_demo(tmp_path / "demo")
    cluster = Cluster.open(config)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        problems = "(!) 2 problems in the state files: k lists them"
        await until(pilot, lambda: problems in screen_text(app), "the chroot problems counted")
        await pilot.press("k")
        await on_screen(pilot, CheckScreen, "the check screen")
        screen = app.screen
        await until(pilot, lambda: screen.problems is not None, "the check")
        assert [p.split(": ", 1)[1] for p in screen.problems] == [
            "chroots.bookworm-base: ready, but missing on beosrv-c",
            "images.Standard-bookworm: chroot 'bookworm-base' cannot be used (missing on beosrv-c)",
        ]
        present_tree(config)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.problems == [], "the second check")
        await pilot.press("escape")
        await until(pilot, lambda: "problem" not in screen_text(app), "no problem counted")
    await closed(cluster)


async def test_menu_and_check_list_rootfs_clashes_and_header_duplicates(demo: Path) -> None:
    """Two configs of Standard-bookworm both shipping etc/motd (asked of the head-nodes) and
    a known_hosts header line for beo-05: the menu counts both, Check lists both."""
    rootfs = demo.parent / "headnodes/beosrv-d/var/lib/qlustar/root-fs"
    for config in ("ntp-tweaks", "gpu-setup"):
        (rootfs / config / "etc").mkdir(exist_ok=True)
        (rootfs / config / "etc/motd").write_text("x\n")
    cluster = Cluster.open(demo)
    SSHFilesService(cluster).save_header(None, "known_hosts", f"beo-05 {public_key('root@x')}")
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        problems = "(!) 2 problems in the state files: k lists them"
        await until(pilot, lambda: problems in screen_text(app), "both problems counted")
        await pilot.press("k")
        await on_screen(pilot, CheckScreen, "the check screen")
        screen = app.screen
        await until(pilot, lambda: screen.problems is not None, "the check")
        assert [p.split(": ", 1)[1] for p in screen.problems] == [
            "known_hosts header line 1: 'beo-05' is also generated from the inventory"
            " (host beo-05)",
            "images.Standard-bookworm: /etc/motd is shipped by root-fs configs ntp-tweaks,"
            " gpu-setup: the node gets only one of them, which one is not defined",
        ]
    await closed(cluster)


async def test_help_lists_the_keys_of_the_current_screen(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.query_one("#dialog").border_title == "Keys: Manage"
        await pilot.press("escape", "j", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.query_one("#dialog").border_title == "Keys: Jobs"
        text = screen_text(app)
        for row in (
            "k                Kill",
            "o                Stdout",
            "f                Follow",
            "w                Wrap long lines on / off (off: tab, then left/right)",
            "left / right     Fold / unfold a tree; move in a field; scroll a log",
            "?                Keys",
            "esc              Back",
        ):
            assert row in text
        await pilot.press("escape")
        assert isinstance(app.screen, JobsScreen)
        await pilot.press("escape", "question_mark")
        text = screen_text(app)
        assert "h                Hosts" in text and "Kill" not in text
    await closed(cluster)


async def test_footer_shows_the_keys_and_runs_a_clicked_one(demo: Path) -> None:
    app = QlutuiApp(Cluster.open(demo))
    async with app.run_test(size=SIZE) as pilot:
        line = app.screen.query_one(KeysFooter).render().plain
        assert len(line) == SIZE[0]
        # the dialog keys are on the menu lines; the bar has room for the rest
        assert line.startswith(" q Quit ") and line.endswith(" ? Keys  ^p Palette ")
        assert "Qlustar Images" not in line
        await pilot.click(KeysFooter, offset=(line.index("? Keys"), 0))
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "c")
        await pilot.pause()
        assert isinstance(app.screen, ChrootsScreen)
        line = app.screen.query_one(KeysFooter).render().plain
        assert line.startswith("n New c Clone e Edit")  # tightened spacing
        assert "\u2026" not in line and "Quit" not in line  # left out whole: ? lists them
        assert line.endswith(" ? Keys  ^p Palette ")
    await closed(app.cluster)


def kill_key(screen: JobsScreen) -> FooterItem:
    items, _ = screen.query_one(KeysFooter).items()
    return next(item for item in items if item.description == "Kill")


async def test_keymap_from_config_changes_bindings(demo: Path) -> None:
    add_ui(demo, '[ui.keymap]\n"menu.hosts" = "n"\n"jobs.kill" = "ctrl+k"')
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        assert isinstance(app.screen, MenuScreen)  # h is no longer bound
        await pilot.press("n")
        assert isinstance(app.screen, HostsScreen)
        await pilot.press("escape", "j", "question_mark")
        assert "^k               Kill" in screen_text(app)
    await closed(cluster)


async def test_palette_offers_dialogs_and_screen_actions(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h", "ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"filter")
        await pilot.pause(0.3)
        assert "Filter" in screen_text(app)  # an action of the Hosts screen
        await pilot.press(*["backspace"] * 6, *"Jobs")
        await pilot.pause(0.3)
        assert "Recent jobs, their logs" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)
    await closed(cluster)


# -- serial consoles --------------------------------------------------------------------


def test_serial_mode_detection() -> None:
    assert serial_mode(None, "vt220") and serial_mode(None, "linux")
    assert not serial_mode(None, "xterm-256color") and not serial_mode(None, None)
    assert serial_mode(True, "xterm") and not serial_mode(False, "linux")


async def test_serial_mode_is_ascii_only(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "vt220")
    cluster = Cluster.open(demo)
    demo_jobs(cluster)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        assert app.serial and app.theme == "ansi-dark" and app.animation_level == "none"
        assert app.has_class("-serial")
        seen = []
        for keys in ([], ["h"], ["escape", "j"], ["question_mark"], ["escape", "k"]):
            await pilot.press(*keys)
            await settle(pilot)
            text = screen_text(app)
            seen.append(type(app.screen).__name__)
            assert text.isascii(), text
            assert not BOX_AND_BLOCKS.search(app.export_screenshot())
        assert seen == ["MenuScreen", "HostsScreen", "JobsScreen", "HelpScreen", "JobsScreen"]
        assert "+----" in screen_text(app)  # ASCII borders are there
    assert ScrollBar.renderer is ScrollBarRender  # restored for the apps that follow
    await closed(cluster)


async def test_theme_from_config_and_unknown_theme(demo: Path) -> None:
    add_ui(demo, 'theme = "nord"')
    cluster = Cluster.open(demo)
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        assert pilot.app.theme == "nord"
    await closed(cluster)
    demo.write_text(demo.read_text().replace('"nord"', '"no-such-theme"'))
    cluster = Cluster.open(demo)
    async with QlutuiApp(cluster).run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        assert pilot.app.theme == "textual-dark"
        text = screen_text(pilot.app)  # the toast wraps: check its parts
        assert "Unknown theme" in text and "'no-such-theme'" in text
    await closed(cluster)


# -- quitting ---------------------------------------------------------------------------


async def never_ending(ctx: JobContext) -> None:
    ctx.log(STDOUT, "\n".join(f"building {i}" for i in range(60)))
    ctx.log(STDERR, "W: slow mirror")
    ctx.progress(0.5)
    await asyncio.Event().wait()  # runs until killed


async def wait_done(job, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if job.done:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job.record.title} still running after {seconds}s")


async def test_quit_asks_while_jobs_run(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        inline = await cluster.jobs.start("test.build", "Long build", {"beosrv-c": never_ending})
        sleep = Plan(steps=[{"argv": ["sleep", "30"]}])
        detached = await cluster.jobs.start("test.sleep", "Remote sleep", {"beosrv-d": sleep})
        await pilot.press("q")
        assert isinstance(app.screen, Confirm)
        text = " ".join(screen_text(app).split())
        assert "Quit qlutui?" in text
        assert "Running on the head-nodes: Remote sleep. They continue;" in text
        assert "Running inside qlutui, interrupted by quitting: Long build." in text
        await pilot.press("n")
        assert isinstance(app.screen, MenuScreen) and app.is_running
        for job in (inline, detached):
            await cluster.jobs.kill(job.id)
            await wait_done(job)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running  # nothing runs any more: no question
    await closed(cluster)


def full_passes() -> int:
    return gc.get_stats()[2]["collections"]


async def test_a_due_full_gc_pass_runs_once_the_user_pauses(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    with interactive_gc():  # as run_app runs the app: CPython makes no full pass itself
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(FULL_AFTER):  # a full pass is due
                gc.collect(1)
            before, pressed = full_passes(), time.monotonic()
            await pilot.press("down")
            assert app._last_input >= pressed  # the key counts as input: the pass waits
            await until(pilot, lambda: full_passes() > before, "a full pass after the keys", 5)
    await closed(cluster)


# -- Jobs -------------------------------------------------------------------------------


async def test_jobs_live_log_and_kill(demo: Path) -> None:
    cluster = Cluster.open(demo)
    demo_jobs(cluster)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        job = await cluster.jobs.start(
            "test.build", "Long build", {"beosrv-c": never_ending, "beosrv-d": never_ending}
        )
        app.show_job(job.id)  # the log window of a job
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        pane = screen.query_one(LogPane)
        assert pane.job is job
        for _ in range(50):
            if pane.log_widget.line_count >= 122:
                break
            await pilot.pause(0.05)
        lines = list(pane.log_widget.lines)
        assert "beosrv-d: building 59" in lines and "beosrv-c: W: slow mirror" in lines
        header = screen_text(app)
        assert "Pending 0  Running 2  Failed 0  Errors 0  Success 0" in header
        assert " 50%" in header
        await pilot.press("e")  # stderr off, with the focus in the job list
        assert "beosrv-c: W: slow mirror" not in pane.log_widget.lines
        keys = screen.query_one(KeysFooter).render().plain
        assert keys.startswith("k Kill o Stdout ") and keys.endswith("  ^p Palette ")  # fits
        assert " f Follow w Wrap " in keys
        await pilot.press("w")  # wrap, with the focus in the job list
        assert pane.wrap and "[x] wrap" in screen_text(app)
        await pilot.press("w")
        assert not pane.wrap
        assert kill_key(screen).enabled
        await pilot.press("k")
        assert isinstance(app.screen, Confirm)
        text = screen_text(app)
        assert "Kill job Long build?" in text and "It runs on beosrv-c, beosrv-d." in text
        await pilot.press("y")
        await wait_done(job)
        assert job.record.state == "Killed"
        assert {t.error for t in job.record.targets.values()} == {""}
        await pilot.pause(0.2)
        assert "beosrv-c: * killed" in pane.log_widget.lines
        await until(
            pilot, lambda: str(screen.table.get_cell(job.id, "state")) == "Killed", "row Killed"
        )
        await until(pilot, lambda: not kill_key(screen).enabled, "Kill dimmed: the job ended")

        table = screen.table
        screen.select_job("20260922-120000-ab12")  # a finished job: its whole log
        await pilot.pause()
        assert table.get_row_index("20260922-120000-ab12") == table.cursor_row
        assert list(pane.log_widget.lines) == [
            "* step 1/2: mmdebstrap",
            "I: Retrieving InRelease",
            "I: Base system installed successfully.",
            "* finished: exit 0",
        ]  # stderr is still filtered out
        assert screen.check_action("kill", ()) is None  # nothing to kill: dimmed
        assert not kill_key(screen).enabled
    await closed(cluster)


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("Writing SSH host files", "Writing SSH host files"),
        (
            "Creating chroot beosrv-c:/srv/apps/chroots/bookworm-base ...",
            "Creating chroot…/bookworm-base",
        ),
        ("Removing chroot beosrv-c:/srv/apps/chroots/c17 ...", "Removing chroot…ps/chroots/c17"),
        ("x" * 30, "x" * 30),
    ],
)
def test_job_titles_are_cut_in_the_middle_keeping_the_name(title: str, shown: str) -> None:
    assert fitted(title, 30) == shown and len(shown) <= 30


def state_cell(screen: JobsScreen, job_id: str) -> str:
    return str(screen.table.get_cell(job_id, "state"))


async def test_a_job_shows_its_start_and_end_at_once(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job of this process that starts or ends changes the list, the header and Kill at
    once: no re-read of the list can come (REFRESH_S is huge)."""
    monkeypatch.setattr(jobs_screen, "REFRESH_S", 1e6)
    go = tmp_path / "go"
    wait_go = Plan(steps=[{"argv": ["sh", "-c", until_file_sh(go)]}])
    cluster = Cluster.open(demo)
    demo_jobs(cluster)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        job = await cluster.jobs.start("test.wait", "Waiting for go ...", {"beosrv-c": wait_go})
        await until(pilot, lambda: job.id in screen.table.rows, "the new job listed")
        assert state_cell(screen, job.id) == "Running"
        screen.select_job(job.id)
        await until(pilot, lambda: "[Running]" in screen_text(app), "the header: Running")
        assert kill_key(screen).enabled
        go.touch()
        await wait_done(job)
        await until(pilot, lambda: state_cell(screen, job.id) == "Success", "the row: Success")
        await until(pilot, lambda: "[Success]" in screen_text(app), "the header: Success")
        await until(pilot, lambda: not kill_key(screen).enabled, "Kill dimmed")
        assert "* Success: Waiting for go" in screen.pane.log_widget.lines  # no " ..."
    await closed(cluster)


async def test_a_killed_job_shows_how_far_it_got(demo: Path, tmp_path: Path) -> None:
    """A two-step build killed in its second step: the header's bar stays at 50%, in the
    session that killed it and in the next one (read from its log); it showed 100%. In-process
    work killed after it reported half: 50% too."""
    wait = Plan(steps=[{"argv": ["true"]}, {"argv": ["sh", "-c", until_file_sh(tmp_path / "go")]}])
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        job = await cluster.jobs.start("test.build", "Two steps ...", {"beosrv-c": wait})
        inline = await cluster.jobs.start("test.build", "Inline", {"beosrv-d": never_ending})
        app.show_job(job.id)
        await until(pilot, lambda: "* step 2/2: " in screen_text(app), "the second step")
        await cluster.jobs.kill(job.id)
        await cluster.jobs.kill(inline.id)
        await wait_done(job)
        await wait_done(inline)
        await until(pilot, lambda: "[Killed]" in screen_text(app), "the header: Killed")
        assert " 50%  Killed 1" in screen_text(app) and "100%" not in screen_text(app)
        app.show_job(inline.id)
        await until(pilot, lambda: "Inline  [Killed]" in screen_text(app), "the inline job")
        assert " 50%  Killed 1" in screen_text(app)
    await closed(cluster)
    cluster = Cluster.open(demo)  # the next session opens the job after it ended
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        app.show_job(job.id)
        await until(pilot, lambda: "Two steps  [Killed]" in screen_text(app), "the header")
        assert " 50%  Killed 1" in screen_text(app) and "100%" not in screen_text(app)
        app.show_job(inline.id)  # its fraction is not in its log: no bar, no percentage
        await until(pilot, lambda: "Inline  [Killed]" in screen_text(app), "the inline job")
        assert "%" not in screen_text(app).split("Inline  [Killed]")[1].splitlines()[1]
    await closed(cluster)


async def test_jobs_of_one_kind_on_two_head_nodes_differ_at_80_columns(demo: Path) -> None:
    cluster = Cluster.open(demo)
    images = "Legacy-jammy, Standard-bookworm, Standard-noble"
    for job_id, node in (
        ("20260922-120000-aa01", "beosrv-c"),
        ("20260922-120000-aa02", "beosrv-d"),
    ):
        title = f"Rebuilding 3 images on {node}: {images}"
        write_job(cluster, job_id, title, {node: "Success"}, {})
    write_job(
        cluster,
        "20260922-110000-aa03",
        "Writing 18 files to beosrv-c, beosrv-d",
        {"beosrv-c": "Success", "beosrv-d": "Interrupted"},
        {},
    )
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "j")
        lines = screen_text(app).splitlines()
        rebuilds = [line.rstrip() for line in lines if line.startswith(" Success  ")]
        assert len(rebuilds) == 2 and all(r.endswith("  09-22 12:00") for r in rebuilds)
        assert {r.split()[-3] for r in rebuilds} == {"beosrv-c", "beosrv-d"}
        writes = next(line.rstrip() for line in lines if "Writing 18" in line)
        assert writes.startswith(" Interrupted ") and writes.endswith(" beosrv-c +1  09-22 11:00")
        await pilot.press("slash", *"beosrv-d")  # the filter finds a job by its head-node
        await until(pilot, lambda: "2 of 3 jobs match" in screen_text(app), "the filter")
    await closed(cluster)


async def test_job_titles_take_the_room_at_80_columns(demo: Path) -> None:
    """The Title column takes what State, Head-node and Started leave (37 cells at 80
    columns; it had 30 beside a 20-cell Id: 'Renaming chroot~ini2c to mini2'), and more on a
    wider screen; the id is on the log pane's border, and the filter finds a job by it."""
    cluster = Cluster.open(demo)
    job_id = "20260922-120000-aa01"
    title = "Renaming chroot beosrv-c:/srv/apps/chroots/mini2c to mini2 ..."
    write_job(cluster, job_id, title, {"beosrv-c": "Success"}, {})
    write_job(
        cluster, "20260922-110000-aa02", "Writing SSH host files", {"beosrv-c": "Success"}, {}
    )
    # the Head-node cell beside it names its one server: not said again in the title
    built = "Creating chroot bookworm-nvidia-base on beosrv-c ..."
    write_job(cluster, "20260922-100000-aa03", built, {"beosrv-c": "Success"}, {})
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "j")
        rows = screen_text(app).splitlines()
        row = next(line for line in rows if "Renaming" in line)
        assert " Renaming chroot be…ts/mini2c to mini2  beosrv-c " in row, row
        built_row = next(line for line in rows if "Creating" in line)
        assert " Creating chroot bookworm-nvidia-base  " in built_row, built_row
        assert " on " not in built_row
        assert row.rstrip().endswith(" beosrv-c     09-22 12:00"), row
        assert screen_text(app).splitlines()[6].startswith(f"╭─ {job_id} ─"), screen_text(app)
        await pilot.press("slash", *"0922-1200")  # the filter finds a job by its id
        await until(pilot, lambda: "1 of 3 jobs match" in screen_text(app), "the filter")
        await pilot.resize_terminal(100, 24)
        await until(
            pilot,
            lambda: "beosrv-c:/srv/apps/chroots/mini2c to mini2" in screen_text(app),
            "the whole title",
        )
    await closed(cluster)


async def test_kill_asks_about_a_title_as_a_sentence(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    title = "Creating chroot beosrv-c:/srv/apps/chroots/c1 ..."
    async with app.run_test(size=SIZE) as pilot:
        job = await cluster.jobs.start("test.build", title, {"beosrv-c": never_ending})
        app.show_job(job.id)
        await on_screen(pilot, JobsScreen, "the Jobs screen")
        await pilot.press("k")
        await on_screen(pilot, Confirm, "the Kill question")
        text = screen_text(app)
        assert "Kill job Creating chroot beosrv-c:/srv/apps/chroots/c1?" in text, text
        await pilot.press("y")
        await wait_done(job)
    await closed(cluster)


async def test_jobs_long_history_lists_the_newest_and_the_filter_finds_older(demo: Path) -> None:
    cluster = Cluster.open(demo)
    total = SHOWN_JOBS + 50
    base = calendar.timegm((2026, 1, 1, 0, 0, 0))
    for i in range(total):  # one job an hour, c0 the oldest
        job_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(base + i * 3600)) + f"-{i:04x}"
        write_job(cluster, job_id, f"Creating chroot beosrv-c:/c{i}", {"beosrv-c": "Success"}, {})
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        table = screen.table
        assert app.focused is table  # the job keys work at once, not typed into the filter
        assert table.row_count == SHOWN_JOBS
        await pilot.press("end")
        assert table.cursor_row == SHOWN_JOBS - 1
        await pilot.press("home")
        assert table.cursor_row == 0
        assert table.get_row_at(0)[1].plain == f"Creating chroot beosrv-c:/c{total - 1}"
        assert f"newest {SHOWN_JOBS} of {total} jobs" in screen_text(app)

        await pilot.press("slash", *"/c17")  # c17 is older than the newest 200
        await pilot.pause()
        titles = [table.get_row_at(row)[1].plain for row in range(table.row_count)]
        assert titles == [f"Creating chroot beosrv-c:/c{n}" for n in (*range(179, 169, -1), 17)]
        assert f"11 of {total} jobs match" in screen_text(app)
        pane = screen.query_one(LogPane)  # it follows the cursor: never a job the filter hid
        await until(pilot, lambda: pane.job.record.title.endswith("/c179"), "the first match")
        await pilot.press("enter", "end")  # back in the list, the last row
        await until(pilot, lambda: pane.job.record.title.endswith("/c17"), "the cursor's job")
        await pilot.press("enter")  # open
        await pilot.pause()
        assert pane.job is not None and pane.job.record.title.endswith("/c17")

        await pilot.press("slash", "ctrl+u", *"no such job")
        await pilot.pause()
        assert table.row_count == 0 and f"0 of {total} jobs match" in screen_text(app)
        await until(pilot, lambda: pane.job is None, "no log of a hidden job")
    await closed(cluster)


# -- Hosts ------------------------------------------------------------------------------


def toml_inventory(data: dict) -> str:
    """inventory.toml for big generated clusters (tomlkit takes seconds for 10,000 hosts)."""

    def value(v: object) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)  # str, bool, list of str: the same in TOML

    out = [f"default_host_keys = {value(data['default_host_keys'])}"]
    for table in ("networks", "hosts"):
        for entry in data[table]:
            out.append(f"[[{table}]]")
            out += [f"{k} = {value(v)}" for k, v in entry.items()]
    return "\n".join(out) + "\n"


async def test_hosts_ten_thousand_filter_and_problems(demo: Path) -> None:
    data = build_inventory(10_000, key_source=lambda comment: f"ssh-ed25519 AAAAC3Nz {comment}")
    data["hosts"][5]["ips"]["ib"] = data["hosts"][6]["ips"]["ib"]  # an IP clash
    data["hosts"][7]["aliases"] = {"boot": ["beo-00001"]}  # a name clash
    state = demo.parent / "state"
    (state / "inventory.toml").write_text(toml_inventory(data))
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HostsScreen)
        view = screen.query_one(RowsView)
        assert screen.matching == 10_003
        assert len(view.rows) == 3 * 10_000 + 2 * 4 + 3  # computes, head-nodes, login
        text = screen_text(app)
        assert "2 uniqueness problems" in text
        ip = data["hosts"][6]["ips"]["ib"]
        assert f"ip '{ip}' used by beo-00003 (ib), beo-00004 (ib)" in text
        assert "name 'beo-00001' used by beo-00001 (node name), beo-00005 (alias on boot)" in text

        await pilot.press("slash", *"127.54.1.200")  # an IP narrows to its host
        await pilot.pause()
        assert screen.matching == 1
        assert view.rows[0][0] == "beo-00190" and not view.marked[0]
        await pilot.press("ctrl+u", *"beo-00003")
        await pilot.pause()
        assert screen.matching == 1 and list(view.marked) == [True] * 3  # named in a problem
        await pilot.press("ctrl+u", *"beo-0999")
        await pilot.pause()
        assert screen.matching == 10  # beo-09990 .. beo-09999
        assert "10 of 10003 hosts, 30 rows" in screen_text(app)
        await pilot.press("enter")
        assert app.focused is view
        await pilot.press("q")  # keys of the app work again outside the filter
        await pilot.pause()
        assert not app.is_running
    await closed(cluster)


# -- snapshots --------------------------------------------------------------------------


def snapshot_app(demo: Path) -> QlutuiApp:
    cluster = Cluster.open(demo)
    demo_jobs(cluster)
    return QlutuiApp(cluster)


def keys_then_settle(*keys: str):
    async def run_before(pilot) -> None:
        if keys:  # the first opens a dialog
            await opened(pilot, keys[0])
            await pilot.press(*keys[1:])
        else:  # the menu counts once it has stayed on screen a moment
            await until(pilot, lambda: "hosts on" in screen_text(pilot.app), "the menu's count")
        await settled(pilot)

    return run_before


def test_snapshot_menu(demo: Path, snap_compare) -> None:
    app = snapshot_app(demo)
    assert snap_compare(app, terminal_size=SIZE, run_before=keys_then_settle())


def test_snapshot_hosts(demo: Path, snap_compare) -> None:
    app = snapshot_app(demo)
    assert snap_compare(app, terminal_size=SIZE, run_before=keys_then_settle("h"))


def test_snapshot_jobs(demo: Path, snap_compare) -> None:
    app = snapshot_app(demo)
    run_before = keys_then_settle("j", "down", "enter")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


# -- keys that behave the same everywhere -------------------------------------------------


@pytest.mark.parametrize("key", ["r", "w", "a"])  # Root FS, Write Files, Audit Trail
async def test_home_and_end_go_to_the_first_and_last_row_of_every_table(
    demo: Path, key: str
) -> None:
    cluster = Cluster.open(demo)
    cluster.audit.record("job.start", "20260922-120000-ab12", "chroots.create: one")
    cluster.audit.record("job.end", "20260922-120000-ab12", "chroots.create: two")
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, key)
        table = app.focused
        assert isinstance(table, RowTable)
        await until(pilot, lambda: table.row_count > 1, "the rows")
        await pilot.press("end")
        await until(pilot, lambda: table.cursor_row == table.row_count - 1, "the last row")
        await pilot.press("home")
        await until(pilot, lambda: table.cursor_row == 0, "the first row")
    await closed(cluster)


async def test_escape_clears_the_filter_before_it_leaves(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "i")
        screen = app.screen
        await pilot.press("slash", *"noble")
        await until(pilot, lambda: "Legacy-jammy" not in screen_text(app), "the filter")
        await pilot.press("escape")
        await until(pilot, lambda: "Legacy-jammy" in screen_text(app), "everything again")
        assert app.screen is screen and screen.query_one("#images-filter", Input).value == ""
        assert app.focused is not None and app.focused.id == "images-tree"
        await pilot.press("escape")
        await on_screen(pilot, MenuScreen, "the menu")
    await closed(cluster)


def row_of(rows: object) -> int:
    """The cursor's row in a list of any kind (Hosts' groups, a tree's lines, a table's rows)."""
    if isinstance(rows, RowsView):
        return rows.cursor
    if isinstance(rows, Tree):
        return rows.cursor_line
    assert isinstance(rows, RowTable)
    return rows.cursor_row


@pytest.mark.parametrize(
    ("key", "rows_id"),
    [("h", "hosts-table"), ("i", "images-tree"), ("j", "jobs-table"), ("a", "audit-table")],
)
async def test_down_in_a_filter_goes_to_the_first_row_and_up_comes_back(
    demo: Path, key: str, rows_id: str
) -> None:
    cluster = Cluster.open(demo)
    demo_jobs(cluster)
    cluster.audit.record("job.start", "20260922-120000-ab12", "chroots.create: one")
    cluster.audit.record("job.end", "20260922-120000-ab12", "chroots.create: two")
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, key)
        rows = app.screen.query_one(f"#{rows_id}")
        box = app.screen.query_one(FilterInput)
        rows.focus()
        await pilot.press("down")
        await until(pilot, lambda: row_of(rows) == 1, "the cursor a row down")
        await pilot.press("slash")  # nothing typed: down leaves the rows as they are
        await until(pilot, lambda: box.has_focus, "the filter box")
        await pilot.press("down")
        await until(pilot, lambda: rows.has_focus and row_of(rows) == 0, "the first row")
        await pilot.press("down")  # the list's own keys again
        await until(pilot, lambda: row_of(rows) == 1, "the second row")
        await pilot.press("up")
        await until(pilot, lambda: rows.has_focus and row_of(rows) == 0, "the first row again")
        await pilot.press("up")
        await until(pilot, lambda: box.has_focus, "back in the filter box")
        await pilot.press("end", *"e")  # typed on: the filter kept, down to its first row
        await until(pilot, lambda: box.value == "e", "the filter")
        await pilot.press("down")
        await until(pilot, lambda: rows.has_focus and row_of(rows) == 0, "the filtered rows")
        assert box.value == "e"
        await pilot.press("up", "escape")  # escape in the box: cleared, to the list
        await until(pilot, lambda: rows.has_focus and not box.value, "the filter cleared")
        assert isinstance(app.screen, type(rows.screen))
    await closed(cluster)


async def test_filter_keys_in_a_burst_on_the_hosts(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "h")
        screen = app.screen
        assert isinstance(screen, HostsScreen)
        box = screen.query_one(FilterInput)
        await pilot.press("slash", *"beo-0", "down", "down", "down", "up", "up", "up", "up", "x")
        await until(pilot, lambda: box.value == "beo-0x", "typed on")  # kept, not replaced
        assert box.has_focus
        await pilot.press("backspace", "down", "down")
        await until(pilot, lambda: screen.table.has_focus and screen.table.cursor == 1, "row 2")
        assert screen.current_host() == "beo-02" and box.value == "beo-0"
    await closed(cluster)


async def test_palette_placeholder_reads_well_on_a_serial_console(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM", "linux")
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await on_screen(pilot, CommandPalette, "the palette")
        await pilot.pause()
        assert "Search for commands ..." in screen_text(app)
    await closed(cluster)
