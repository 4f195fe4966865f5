"""NO_COLOR on a serial console: every screen and dialog of a real demo cluster read by its text
and text attributes alone (the cursor row reversed, [x] / [ ] boxes, the focused field's label
reversed, an open drop-down in a box), and no colour reaching a real terminal (tmux)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from rich.segment import Segment
from terminal import Tmux, colours, qlutui, reversed_runs
from textual.widgets import Select, Static
from textual.widgets._toast import Toast
from waiting import on_screen, until

from qlutui.app import DIALOGS, QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.screens.chroots import ChrootsScreen
from qlutui.screens.menu import MenuScreen
from qlutui.screens.rootfs import ConfigScreen
from qlutui.widgets.dialogs import FormDialog
from qlutui.widgets.help import HelpScreen

SIZE = (80, 24)
# The cursor's row on each screen as it opens on the demo cluster.
CURSOR = {
    "menu": "i  Qlustar Images",
    "images": "Legacy-jammy",
    "chroots": "bookworm-base (!)",
    "ssh": "Known Hosts",
    "write_files": "SSH Configs",
    "rootfs": "gpu-setup",
}


@pytest.fixture(autouse=True)
def _no_colour_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "linux")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return init_demo(tmp_path / "demo")


def lines(app: QlutuiApp) -> list[list[Segment]]:
    """The screen as drawn, line filters (NO_COLOR, ASCII) applied."""
    return [list(strip) for strip in app.screen._compositor.render_strips()]


def text(app: QlutuiApp) -> str:
    return "\n".join("".join(s.text for s in line) for line in lines(app))


def reversed_text(app: QlutuiApp) -> list[str]:
    """Per line, the text drawn in reverse video (the rest blanked)."""
    return [
        "".join(s.text if s.style and s.style.reverse else " " * len(s.text) for s in line)
        for line in lines(app)
    ]


def coloured(app: QlutuiApp) -> set[str]:
    """Every colour a segment still carries (none may: only the terminal's own two)."""
    found = set()
    for line in lines(app):
        for segment in line:
            style = segment.style
            for colour in (style.color, style.bgcolor) if style else ():
                if colour is not None and not colour.is_default:
                    found.add(f"{segment.text!r}: {colour.name}")
    return found


async def settle(pilot, seconds: float = 0.3) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(seconds)


async def test_every_screen_reads_without_colour(demo: Path) -> None:
    """Each screen and its key help: no colour at all, the cursor row in reverse video, the
    title bar reversed (it was black on black)."""
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        assert app.no_color and app.serial
        for dialog in [None, *DIALOGS]:
            name = dialog.id if dialog else "menu"
            if dialog:
                await pilot.press(dialog.key)
            await settle(pilot)
            assert not coloured(app), name
            shown = reversed_text(app)
            assert "qlutui - " in shown[0], f"{name}: title bar not reversed"
            if name in CURSOR:
                row = next(
                    i for i, line in enumerate(text(app).splitlines()) if CURSOR[name] in line
                )
                assert CURSOR[name] in shown[row], f"{name}: cursor row not reversed"
            await pilot.press("question_mark")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen) and not coloured(app), name
            assert app.screen.query("#navigation"), name  # below the keys (it may scroll)
            await pilot.press("escape")
            if dialog:
                await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, MenuScreen)
    await cluster.aclose()


async def test_a_form_reads_without_colour(demo: Path) -> None:
    """New chroot: boxes [ ] / [x], the focused field's label reversed with its one-line help
    under the form, the open drop-down boxed over the rows beneath, its option reversed."""
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ChrootsScreen)
        await pilot.press("n")  # the dialog's worker waits for it: pause, not settle
        await on_screen(pilot, FormDialog, "the form")
        await pilot.pause(0.2)
        assert isinstance(app.screen, FormDialog) and not coloured(app)
        screen = text(app)
        assert "[ ] admin-tools" in screen and "|X|" not in screen
        assert "Name" in reversed_text(app)[screen.splitlines().index(_line(screen, "Name"))]
        assert "Letters, digits, '.', '_' and '-'" in screen  # the name field's help

        await pilot.press("tab", "tab")  # to the NFS server drop-down
        await pilot.pause(0.2)
        screen = text(app)
        assert "The head-node that keeps the chroot" in screen
        row = screen.splitlines().index(_line(screen, "NFS server"))
        assert "NFS server" in reversed_text(app)[row]
        assert "Name" not in reversed_text(app)[screen.splitlines().index(_line(screen, "Name"))]

        await pilot.press("enter")  # open it
        await pilot.pause(0.2)
        assert app.screen.query_one("#field-server", Select).expanded
        rows = text(app).splitlines()
        assert re.search(r"Flavour +\+-{20,}\+", rows[row + 1]), rows[row + 1]  # its top border
        assert (
            re.search(r"\|beosrv-c +\|", rows[row + 2])
            and "beosrv-c" in reversed_text(app)[row + 2]
        )
        assert re.search(r"\|beosrv-d +\|", rows[row + 3])
        await pilot.press("escape")

        await pilot.press("tab", "tab", "tab", "space")  # tick the first task
        await pilot.pause(0.2)
        screen = text(app)
        assert "[x] admin-tools" in screen and "[ ] debmed-imaging" in screen
        assert "Package sets installed in the chroot" in screen
        assert not coloured(app)
    await cluster.aclose()


def _line(screen: str, label: str) -> str:
    return next(line for line in screen.splitlines() if f"| {label} " in line)


# -- in a real terminal ---------------------------------------------------------------------


def test_no_colour_reaches_a_linux_console(demo: Path, tmux: Tmux) -> None:
    """`NO_COLOR=1 TERM=linux` in tmux: the escape sequences qlutui writes carry no colour
    (they were black on black: 30 on 40), and the menu's cursor row is in reverse video."""
    pane = tmux.start("nc", qlutui(demo), env={"TERM": "linux", "NO_COLOR": "1"})
    pane.wait("the menu", "Qlustar Images", "no job running")  # the summary line too
    screen = pane.screen(escapes=True)
    assert not colours(screen), screen
    cursor = next(line for line in screen.splitlines() if "Qlustar Images" in line)
    assert "i  Qlustar Images" in "".join(reversed_runs(cursor)), cursor
    pane.keys("q")


# -- hints (placeholders) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "no_color", "marked"),
    [("linux", "1", True), ("xterm-256color", "1", True), ("linux", None, True),
     ("xterm-256color", None, False)],
)  # fmt: skip
async def test_hints_read_apart_from_values_where_dim_may_not_show(
    demo: Path, monkeypatch: pytest.MonkeyPatch, term: str, no_color: str | None, marked: bool
) -> None:
    """Add hosts: an empty field's hint is in angle brackets on a serial console or under
    NO_COLOR (dim may show as normal: 'IP ib  a start IP, auto, or empty' read as a value
    beside 'IP boot  auto'); a value is drawn as before, and the colour terminal's dim hints
    are unchanged. A filter box's hint too; an empty field's value stays empty."""
    monkeypatch.setenv("TERM", term)
    if no_color is None:
        monkeypatch.delenv("NO_COLOR")
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await settle(pilot)
        hint = "/ filter by name or IP"
        assert (f"<{hint}>" in text(app)) is marked and hint in text(app)
        await pilot.press("a")
        form = await on_screen(pilot, FormDialog, "the Add hosts form")
        await pilot.pause(0.2)
        rows = text(app).splitlines()
        boot, ib = (
            next(row for row in rows if f" {label}  " in row) for label in ("IP boot", "IP ib")
        )
        assert re.search(r" IP boot +auto +\S *$", boot), boot
        hint = "a start IP, auto, or empty"
        shown = f"<{hint}>" if marked else hint
        assert re.search(rf" IP ib +{re.escape(shown)} +\S *$", ib), ib
        assert form.value_of(next(f for f in form.fields if f.label == "IP ib")) == ""
    await cluster.aclose()


# -- toasts ---------------------------------------------------------------------------------


async def test_a_toast_leaves_the_status_and_key_lines_whole(demo: Path) -> None:
    """Root FS, a script's exec bit toggled: its notice shows at the top right, over the
    title bar's empty end; the file line under the tree (the node path) and the key bar stay
    whole. At the bottom right, where Textual puts it, it hid them for seconds at 80x24
    ('node: /lib/qlus')."""
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("down", "o")
        config = await on_screen(pilot, ConfigScreen, "the ntp-tweaks config")
        info = config.query_one("#config-info", Static)
        await pilot.press("down", "down")
        for folder in ("/lib", "/lib/qlustar", "/lib/qlustar/init.d"):
            await until(pilot, lambda f=folder: str(info.content).endswith(f), folder)
            await pilot.press("enter", "down")
        await until(pilot, lambda: str(info.content).endswith("10-chrony-wait"), "the script")
        await pilot.press("x")
        await until(pilot, lambda: bool(app.screen.query(Toast)), "the notice")
        await pilot.pause(0.3)
        rows = text(app).splitlines()
        assert rows[-3].rstrip().endswith("node: /lib/qlustar/init.d/10-chrony-wait"), rows[-3]
        assert rows[-2].rstrip() == " Changes go to every head-node: beosrv-c, beosrv-d"
        assert rows[-1].rstrip().endswith("? Keys  ^p Palette"), rows[-1]
        assert any("Executable bit of" in row for row in rows[:3]), rows[:3]
    await cluster.jobs.close()
    await cluster.aclose()
