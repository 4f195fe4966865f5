"""Serial consoles, keys of every screen, and the Audit screen and verb, on a real demo cluster.

Every registered dialog is opened in serial mode at 80x24 and 132x43 (with the key help and the
command palette over it) and must show ASCII only; SVG snapshots of the main screens in serial
mode; every binding of every screen class has an id and a key that is not an F-key."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.command import CommandPalette
from textual.widgets import Static
from tiny_chroot import present_tree
from waiting import opened, settled, until

from qlutui.app import DIALOGS, QlutuiApp, ascii_glyph
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.cli import main, serial_mode
from qlutui.screens.audit import AuditScreen
from qlutui.screens.menu import MenuScreen, menu_screen
from qlutui.widgets.help import HelpScreen

SIZE = (80, 24)
NOT_ASCII = re.compile(r"[^\x00-\x7f]")
F_KEY = re.compile(r"^f\d+$")


@pytest.fixture(autouse=True)
def _serial_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "linux")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("USER", "alice")
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    time.tzset()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return init_demo(tmp_path / "demo")


def screen_text(app: QlutuiApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def settle(pilot, seconds: float = 0.2) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(seconds)


def test_serial_detection_by_tty_and_setting() -> None:
    assert serial_mode(None, "xterm", "/dev/ttyS0") and serial_mode(None, "xterm", "/dev/ttyUSB1")
    assert serial_mode(None, "xterm", "/dev/ttyAMA0") and serial_mode(None, "vt102", "/dev/pts/3")
    assert not serial_mode(None, "xterm", "/dev/pts/3") and not serial_mode(False, "linux", None)


def test_ascii_glyphs_keep_the_width_and_the_letters() -> None:
    assert "".join(map(ascii_glyph, "╭──┬─╮│├┤└┘━┃▔▁▊▎█▼…")) == "+--+-+|++++-|--||#v~"
    assert ascii_glyph("🔎") == "> " and ascii_glyph("é") == "é" and ascii_glyph("ß") == "ß"


@pytest.mark.parametrize("size", [(80, 24), (132, 43)])
async def test_every_screen_is_ascii_only(demo: Path, size: tuple[int, int]) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=size) as pilot:
        assert app.serial and app.theme == "ansi-dark" and app.animation_level == "none"
        for dialog in [None, *DIALOGS]:
            if dialog:
                await pilot.press(dialog.key)
            await settle(pilot)
            name = dialog.title if dialog else "menu"
            for keys, shown in (([], None), (["question_mark"], HelpScreen), (["escape"], None)):
                await pilot.press(*keys)
                await settle(pilot)
                assert shown is None or isinstance(app.screen, shown)
                text = screen_text(app)
                assert not NOT_ASCII.search(text), f"{name}: {sorted(set(NOT_ASCII.findall(text)))}"
                assert not NOT_ASCII.search(app.export_screenshot()), name
            await pilot.press("ctrl+p")
            await settle(pilot, 0.4)
            assert isinstance(app.screen, CommandPalette)
            assert not NOT_ASCII.search(screen_text(app)), f"palette over {name}"
            await pilot.press("escape")
            if dialog:
                await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, MenuScreen)
    await cluster.aclose()


KEY_COLUMN = re.compile(r"^.*?\| (\S.*?)  +\S")  # a help row: "| e / enter   Edit"
# The ASCII filter's arrows and return on their own ("v" for down is a letter key here too)
STAND_INS = {"^", "<", ">", "*"}


async def test_help_names_the_keys_on_every_screen(demo: Path) -> None:
    """`?` in serial mode names keys (up, down, enter), never the ASCII stand-ins of
    Textual's glyphs (^ v *), which read as ctrl or as letter keys."""
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        for dialog in DIALOGS:
            await pilot.press(dialog.key)
            await settle(pilot)
            await pilot.press("question_mark")
            await settle(pilot)
            rows = [m[1] for line in screen_text(app).splitlines() if (m := KEY_COLUMN.match(line))]
            keys = {key for row in rows for key in row.split(" / ")}
            assert not keys & STAND_INS, f"{dialog.title}: {sorted(keys & STAND_INS)}"
            if dialog.id == "hosts":
                assert {"up", "down", "enter", "esc"} <= keys, sorted(keys)
            await pilot.press("escape", "escape")
            await settle(pilot)
            assert isinstance(app.screen, MenuScreen)
    await cluster.aclose()


async def test_no_color_is_respected(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.no_color
        colours = set(re.findall(r"fill: (#[0-9a-f]{6})", app.export_screenshot()))
        rgb = {c: [int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours}
        grey = {c for c, v in rgb.items() if max(v) - min(v) <= 8}  # #c5c8c6: SVG default text
        assert len(colours) >= 2 and colours == grey, colours - grey  # monochrome only
    await cluster.aclose()


def screen_classes() -> list[type]:
    menu = type(menu_screen(DIALOGS, []))
    return [QlutuiApp, menu, HelpScreen, *(d.factory for d in DIALOGS)]


@pytest.mark.parametrize("owner", screen_classes(), ids=lambda c: c.__name__)
def test_every_binding_has_an_id_and_a_letter_key(owner: type) -> None:
    """Our bindings (declared by qlutui classes, not Textual's own navigation keys)."""
    # the menu's class is made at run time (its module reads as Textual's): include it
    ours = [c for c in owner.__mro__ if c is owner or c.__module__.startswith("qlutui")]
    bindings = [b for cls in ours for b in vars(cls).get("BINDINGS", [])]
    assert bindings, owner
    for binding in bindings:
        assert isinstance(binding, Binding) and binding.id, f"{owner.__name__}: {binding}"
        keys = [k.strip() for k in binding.key.split(",")]
        assert any(not F_KEY.match(k) for k in keys), f"{binding.id} needs a non-F-key"


async def test_keymap_and_help_on_a_dialog_screen(demo: Path) -> None:
    with demo.open("a") as f:
        f.write('\n[ui.keymap]\n"audit.reload" = "ctrl+l"\n"menu.audit" = "t"\n')
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        assert isinstance(app.screen, MenuScreen)  # a is no longer bound
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        await pilot.press("question_mark")
        text = screen_text(app)
        assert "^l               Reload" in text and "/                Filter" in text
        await pilot.press("escape", "ctrl+p")
        await pilot.press(*"Reload")
        await settle(pilot, 0.4)
        assert "key: ^l" in screen_text(app)  # the palette offers the screen's actions
    await cluster.aclose()


async def test_audit_screen_newest_first_with_filter(demo: Path) -> None:
    cluster = Cluster.open(demo)
    cluster.store.update("images", lambda doc: doc["images"].add("Extra", {"flavour": "noble"}))
    cluster.audit.record("job.start", "20260922-120000-ab12", "chroots.create: Creating chroot")
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await settle(pilot)
        table = app.screen.table
        assert [table.get_row_at(i)[2] for i in range(table.row_count)] == [
            "job.start",
            "state.edit",
        ]
        assert table.get_row_at(1)[1:] == [
            "alice",
            "state.edit",
            "images.toml",
            "added images.Extra",
        ]
        await pilot.press("slash", *"images")
        await settle(pilot)
        assert table.row_count == 1 and "1 event matching 'images'" in screen_text(app)
        await pilot.press("enter", "ctrl+r")
        await settle(pilot)
        assert table.row_count == 1 and app.focused is table
    await cluster.aclose()


def test_audit_verb(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = Cluster.open(demo)
    for i in range(3):
        cluster.audit.record("file.write", f"beosrv-c:/etc/f{i}", f"{i} bytes")
    assert main(["--config", str(demo), "audit", "-n", "2", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert [e["target"] for e in events] == ["beosrv-c:/etc/f2", "beosrv-c:/etc/f1"]
    assert events[0]["user"] == "alice" and events[0]["action"] == "file.write"
    assert main(["--config", str(demo), "audit", "--filter", "f0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["TIME", "USER", "ACTION", "TARGET", "SUMMARY"]
    assert len(out) == 2 and "beosrv-c:/etc/f0" in out[1]
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(demo), "audit", "-n", "0"])
    assert exit_info.value.code == 2


# -- SVG snapshots in serial mode -------------------------------------------------------


def serial_snapshot(demo: Path, snap_compare, *keys: str) -> bool:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)

    async def run_before(pilot) -> None:
        if keys:
            await opened(pilot, *keys)
        else:  # the menu counts once it has stayed on screen a moment (screens/menu.py)
            summary = pilot.app.screen.query_one("#menu-summary", Static)
            await until(pilot, lambda: str(summary.content), "the menu's count")
        await settled(pilot)

    return snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("dialog", ["menu", *(d.id for d in DIALOGS if d.id != "audit")])
def test_snapshot_serial(demo: Path, snap_compare, dialog: str) -> None:
    keys = [d.key for d in DIALOGS if d.id == dialog]
    if dialog == "check":
        present_tree(demo)  # no problem: no temporary path on the screen
    assert serial_snapshot(demo, snap_compare, *keys)


# A form (its field help, [ ] boxes, the focused label) and the key help over a screen.
DIALOG_KEYS = {"new_chroot": ["c", "n", "tab", "tab"], "help": ["i", "question_mark"]}


@pytest.mark.parametrize("dialog", list(DIALOG_KEYS))
def test_snapshot_serial_dialog(demo: Path, snap_compare, dialog: str) -> None:
    assert serial_snapshot(demo, snap_compare, *DIALOG_KEYS[dialog])


@pytest.mark.parametrize(
    "dialog", ["menu", *(d.id for d in DIALOGS if d.id != "audit"), *DIALOG_KEYS]
)
def test_snapshot_serial_no_colour(
    demo: Path, snap_compare, dialog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    keys = DIALOG_KEYS.get(dialog) or [d.key for d in DIALOGS if d.id == dialog]
    if dialog == "check":
        present_tree(demo)  # no problem: no temporary path on the screen
    assert serial_snapshot(demo, snap_compare, *keys)
