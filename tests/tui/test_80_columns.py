"""80 columns on a real demo cluster: a key bar of whole keys, key help with the navigation
keys, a form field's one-line help, text that wraps with a hanging indent, a job header that
keeps its progress line, the log pane taking the Jobs screen's height, and the Audit Trail's
target and summary."""

from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

import pytest
from textual.app import App
from waiting import on_screen, until

import qlutui
from qlutui.app import DIALOGS, QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.job_records import STDOUT
from qlutui.backend.jobs import JobContext
from qlutui.screens.images import EDITABLE
from qlutui.screens.jobs import JobsScreen
from qlutui.widgets.dialogs import Field, FormDialog
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.hanging import label_rows, wrap
from qlutui.widgets.help import FIELD_HELP, NAVIGATION, HelpScreen

SIZE = (80, 24)
LONG_TITLE = "Cloning chroot bookworm-base on beosrv-c: to bookworm-gpu-cuda-experimental ..."


@pytest.fixture(autouse=True)
def _serial_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "linux")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return init_demo(tmp_path / "demo")


def screen_lines(app: App) -> list[str]:
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip) for strip in strips]


async def settle(pilot, seconds: float = 0.3) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(seconds)


async def press(pilot, *keys: str) -> None:
    """Each key once the screen it opened has loaded."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


def shown_keys(app: QlutuiApp) -> str:
    return app.screen.query_one(KeysFooter).render().plain


async def test_the_key_bar_shows_whole_keys_the_screens_own_first(demo: Path) -> None:
    """On every screen: each key shown with its whole description, `?` and the palette key
    always there; where not all fit (Images), the app-wide ones are left out first."""
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        for dialog in [None, *DIALOGS]:
            if dialog:
                await pilot.press(dialog.key)
            await settle(pilot)
            bar = shown_keys(app)
            name = dialog.id if dialog else "menu"
            assert len(bar) == 80 and "~" not in bar and "\u2026" not in bar, f"{name}: {bar!r}"
            assert bar.endswith(" ? Keys  ^p Palette "), f"{name}: {bar!r}"
            items, _ = app.screen.query_one(KeysFooter).items()
            shown = [i for i in items if f"{i.label} {i.description} " in bar]
            assert shown == items[: len(shown)], f"{name}: not a prefix of the ranking"
            descriptions = [i.description for i in items]
            if "Quit" in descriptions:  # the app's keys rank after the screen's own
                assert descriptions.index("Quit") >= len(descriptions) - 2, name
            if dialog:
                await pilot.press("escape")
        await press(pilot, "i")
        bar = shown_keys(app)
        assert bar.startswith("n New r Rename d Delete a Add module x Remove module ")
        assert "Quit" not in bar and "Back" not in bar  # left out whole, listed by ?
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = "\n".join(screen_lines(app))
        assert "Upgrade preview" in help_text and "Quit" in help_text
    await cluster.aclose()


async def test_the_drawn_key_bar_holds_only_whole_keys_on_every_screen(demo: Path) -> None:
    """What the terminal shows on the bottom row of every screen, not what the bar meant to
    draw: each key it shows with its whole description, nothing else but spaces, `?` and
    the palette key on the right (the Chroots screen's keys once cut `l Lo~`)."""
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        for dialog in [None, *DIALOGS]:
            if dialog:
                await pilot.press(dialog.key)
            await settle(pilot)
            name = dialog.id if dialog else "menu"
            line = screen_lines(app)[-1]
            assert len(line) == 80 and line.endswith(" ? Keys  ^p Palette "), (name, line)
            left = line.removesuffix(" ? Keys  ^p Palette ")
            items, _ = app.screen.query_one(KeysFooter).items()
            for item in items:
                left = left.replace(f"{item.label} {item.description}", "", 1)
            assert not left.strip(), f"{name}: a key not whole on the bar: {line!r}"
            if dialog:
                await pilot.press("escape")
    await cluster.aclose()


async def test_the_key_bar_shows_an_open_dialogs_keys_then_its_screens_again(
    demo: Path,
) -> None:
    """The bottom row under a form or a question shows the keys that act now (^s OK, esc
    Cancel; y Yes, n No), not the screen's beneath, and the screen's once it closes."""
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)

    def bottom_starts(text: str) -> bool:  # the spacing tightens when many keys are shown
        return " ".join(screen_lines(app)[-1].split()).startswith(text)

    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "i")
        screen_keys = "n New r Rename d Delete "
        assert bottom_starts(screen_keys)
        for key, keys, answer in [("n", "^s OK esc Cancel", "escape"), ("d", "y Yes n No", "n")]:
            await pilot.press(key)  # the New image form; Delete's question
            await until(pilot, lambda keys=keys: bottom_starts(keys), f"the keys of {key}")
            assert "Rename" not in screen_lines(app)[-1]
            await pilot.press(answer)
            await until(pilot, lambda: bottom_starts(screen_keys), "the screen's keys again")
    await cluster.aclose()


async def test_key_help_explains_moving_around(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "c", "question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        moving = str(help_screen.query_one("#navigation").content)
        for keys in ("enter", "space", "up / down", "tab / shift+tab", "esc", "home / end", "/"):
            assert any(line.startswith(f"{keys} ") for line in moving.splitlines()), keys
        assert len(NAVIGATION) == len(moving.splitlines())
        assert "Rename" in str(help_screen.query_one("#keys").content)  # the screen's keys
    await cluster.aclose()


async def test_key_help_lists_each_screens_own_keys_not_the_moving_ones(demo: Path) -> None:
    """The keys part of `?` on every screen holds the screen's own keys: Hosts listed up,
    down, pgup, pgdn, home and end there first (their table's bindings), six of the 19 rows
    an 80x24 help shows, again under "Moving around"; Delete, Scan keys and Import came after."""
    moving = {"up", "down", "pgup", "pgdn", "home", "end"}
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        for dialog in DIALOGS:
            await press(pilot, dialog.key, "question_mark")
            help_screen = app.screen
            assert isinstance(help_screen, HelpScreen), dialog.id
            rows = str(help_screen.query_one("#keys").content).splitlines()
            listed = {key for row in rows for key in row.split("  ")[0].strip().split(" / ")}
            assert not listed & moving, f"{dialog.id}: {sorted(listed & moving)}"
            await press(pilot, "escape", "escape")
    await cluster.aclose()


class FormHarness(App):
    CSS_PATH = str(Path(__file__).parents[2] / "qlutui" / "app.tcss")

    def __init__(self, form: FormDialog) -> None:
        super().__init__()
        self.form = form

    def on_mount(self) -> None:
        self.push_screen(self.form)


async def test_each_field_has_its_help_while_it_has_the_focus() -> None:
    form = FormDialog(
        "New thing",
        [
            Field.input("name", "Name"),
            Field.select("server", "NFS server", ["a", "b"]),
            Field.input("port", "Port", help="Where it listens"),
        ],
    )
    app = FormHarness(form)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        shown = "\n".join(screen_lines(app))
        assert "Letters, digits, '.', '_' and '-'" in shown  # the name's help, by field name
        await pilot.press("tab")
        await pilot.pause(0.1)
        shown = "\n".join(screen_lines(app))
        assert "The head-node that keeps the chroot" in shown and "Letters, digits" not in shown
        await pilot.press("tab")
        await pilot.pause(0.1)
        assert "Where it listens" in "\n".join(screen_lines(app))  # a field's own help


FIELD_MAKERS = {"Field", "Field.input", "Field.select", "Field.multi", "Field.text"}
NETWORK = "x" * 10  # what a help's {...} (a network name) takes, as long as "extern-10g"


def field_helps() -> dict[str, str]:
    """Every form field the app defines (each Field(...) or Field.input/select/... call),
    by "file:line", with the help it shows: its own `help=`, else FIELD_HELP[its name]."""
    helps: dict[str, str] = {}
    for path in sorted(Path(qlutui.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or ast.unparse(node.func) not in FIELD_MAKERS:
                continue
            where = f"{path.name}:{node.lineno}"
            given = {k.arg: k.value for k in node.keywords}.get("help")
            name = node.args[0]
            if given is None:
                assert isinstance(name, ast.Constant), f"{where}: a computed name needs help="
                helps[where] = FIELD_HELP.get(name.value, "")
            elif isinstance(given, ast.Subscript) and ast.unparse(given.value) == "FIELD_HELP":
                continue  # looked up by a computed name: checked with FIELD_HELP below
            else:
                helps[where] = "".join(
                    p.value if isinstance(p, ast.Constant) else NETWORK
                    for p in (given.values if isinstance(given, ast.JoinedStr) else [given])
                )
    return helps


async def test_every_form_field_has_a_one_line_help() -> None:
    """No field shows a blank help line, and each help fits the form's one line at 80x24."""
    helps = field_helps()
    assert len(helps) > 50  # the walk found the app's forms
    blank = [where for where, text in helps.items() if not text]
    assert not blank, f"fields without a help: {blank}"
    assert set(EDITABLE) <= set(FIELD_HELP)  # the Images edit form's computed names
    app = FormHarness(FormDialog("Help", [Field.input("name", "Name")]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        width = app.screen.query_one("#form-help").content_region.width
    texts = {**helps, **{f"FIELD_HELP[{k!r}]": v for k, v in FIELD_HELP.items()}}
    long = {where: text for where, text in texts.items() if len(text) > width or "\n" in text}
    assert not long, f"more than one line of {width}: {long}"


def test_wrap_keeps_a_hanging_indent_and_breaks_between_words() -> None:
    assert wrap("Description: a copy of the base chroot with CUDA", 30, 13) == [
        "Description: a copy of the",
        "             base chroot with",
        "             CUDA",
    ]
    # a word too long for any line (a path) starts on its line, cut after a '/'
    assert wrap("Path:        /srv/apps/chroots/bookworm-gpu-cuda", 30, 13) == [
        "Path:        /srv/apps/",
        "             chroots/",
        "             bookworm-gpu-cuda",
    ]
    assert wrap("x" * 25, 10, 2) == ["xxxxxxxxxx", "  xxxxxxxx", "  xxxxxxx"]  # no '/': cut
    assert wrap("   will not run: not executable: run-parts skips it", 30, 5) == [
        "   will not run: not",
        "     executable: run-parts",
        "     skips it",
    ]
    assert wrap("", 10, 2) == [""] and wrap("short", 10, 2) == ["short"]
    rows = label_rows([("Name", "x"), ("Description", "y")])
    assert rows.lines == ["Name:        x", "Description: y"] and rows.hang == 13


async def test_chroot_detail_and_list_wrap_under_themselves(demo: Path) -> None:
    cluster = Cluster.open(demo)
    long_name = "bookworm-gpu-cuda-experimental"
    description = "A copy of the base chroot with the CUDA toolkit and the experimental drivers"

    def add(doc) -> None:
        base = dict(doc["chroots"]["bookworm-base"])
        doc["chroots"][long_name] = base | {"description": description, "path": f"/x/{long_name}"}

    cluster.store.update("chroots", add)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "c", "down")
        lines = screen_lines(app)
        at = next(i for i, line in enumerate(lines) if "Description: A copy of" in line)
        column = lines[at].index("A copy")
        continued = lines[at + 1][column - 13 :]
        assert continued.startswith(" " * 13) and continued[13] != " ", lines[at : at + 3]
        listed = [line[:26] for line in lines if line[:26].strip("| ")]
        name_at = next(i for i, line in enumerate(listed) if "bookworm-gpu-cuda" in line)
        assert listed[name_at + 1].startswith("|   "), listed  # its state continues indented
    await cluster.aclose()


async def long_clone(ctx: JobContext) -> None:
    ctx.log(STDOUT, "copying")
    ctx.progress(0.25)
    await asyncio.Event().wait()  # runs until killed


async def test_a_long_job_title_keeps_the_progress_line_and_the_log_the_height(
    demo: Path,
) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        job = await cluster.jobs.start("test.clone", LONG_TITLE, {"beosrv-c": long_clone})
        app.show_job(job.id)
        await on_screen(pilot, JobsScreen, "the Jobs screen")
        await until(pilot, lambda: "copying" in "\n".join(screen_lines(app)), "the log")
        lines = screen_lines(app)
        top = next(i for i, line in enumerate(lines) if "[Running]" in line)
        assert lines[top].startswith("|Cloning chroot bookw")  # cut in the middle:
        assert "gpu-cuda-experimental  [Running]" in lines[top]  # its end names the chroot
        assert " 25%  Pending 0  Running 1  Failed 0  Errors 0  Success 0" in lines[top + 1]
        # one job: its table is a heading and a row, the log pane's border right below it
        table = next(i for i, line in enumerate(lines) if line.startswith(" State "))
        assert lines[table + 2].startswith(f"+- {job.id} ---") and top == table + 3
        await cluster.jobs.kill(job.id)
        await pilot.pause(0.2)
    await cluster.aclose()


async def test_the_audit_trail_shows_the_whole_target_and_summary(demo: Path) -> None:
    cluster = Cluster.open(demo)
    target = "beosrv-c:/etc/qlustar/common/image-files/ssh/ssh_known_hosts"
    summary = "wrote 12,345 bytes: 51 hosts on 4 networks, header of 3 lines, hashed names"
    cluster.audit.record("file.write", target, summary)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "a")
        await until(pilot, lambda: "Target:" in "\n".join(screen_lines(app)), "the detail")
        shown = "\n".join(screen_lines(app))
        assert f" Target:  {target} " in shown
        assert (
            " Summary: wrote 12,345 bytes: 51 hosts on 4 networks, header of 3 lines, hashed"
            in (shown)
        )
        assert "\n          names " in shown  # under the summary, not under its label
    await cluster.aclose()


async def test_a_boot_order_reason_continues_under_itself(demo: Path) -> None:
    cluster = Cluster.open(demo)
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "r", "o", "b")  # gpu-setup, its boot order
        lines = screen_lines(app)
        at = next(i for i, line in enumerate(lines) if "will not run: name has" in line)
        column = lines[at].index("name has")
        continued = lines[at + 1]
        assert continued[:column].isspace() and continued[column] != " ", lines[at : at + 2]
        assert "run-parts skips it" in continued
    await cluster.aclose()
