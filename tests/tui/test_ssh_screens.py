"""SSH Configs and Write Files with the keyboard only, on a real demo cluster (two local
head-nodes below the demo directory)."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Select, Static, TextArea
from waiting import on_screen, until

from qlutui.app import QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo, public_key
from qlutui.model.generated import BANNER
from qlutui.screens.jobs import JobsScreen
from qlutui.screens.ssh_configs import PreviewScreen, SSHConfigsScreen
from qlutui.screens.write_files import WriteFilesScreen
from qlutui.widgets.dialogs import Confirm, ErrorDialog, FormDialog
from qlutui.widgets.diff_view import FileView

SIZE = (80, 24)
SNAPSHOT_HEADER = "# extra hosts\ngw.example.org\n10.1.0.1 alice\n"


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    c = Cluster.open(init_demo(tmp_path / "demo"))
    yield c
    await c.jobs.close()
    await c.aclose()


def saved(cluster: Cluster) -> dict:
    return tomllib.loads((cluster.config.state_dir / "sshfiles.toml").read_text())


async def open_ssh(pilot: Pilot) -> SSHConfigsScreen:
    await pilot.press("s")
    await on_screen(pilot, SSHConfigsScreen, "SSH Configs")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.state is not None, "sshfiles.toml loaded")
    return screen


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_f_opens_the_file_list_one_enter_takes_the_choice(cluster: Cluster) -> None:
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_ssh(pilot)
        await pilot.press("f", "down", "enter")
        await until(pilot, lambda: screen.kind == "shosts_equiv", "SHosts Equiv shown")
        assert not screen.query_one("#ssh-file", Select).expanded


async def test_edit_save_and_undo_header(cluster: Cluster) -> None:
    line = f"gw.example.org {public_key('root@gw')}"
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_ssh(pilot)
        editor = screen.query_one("#ssh-header", TextArea)
        assert editor.read_only
        await pilot.press("e")
        assert not editor.read_only and editor.has_focus
        await pilot.press(*line, "ctrl+s")
        await until(pilot, lambda: not screen.editing, "saved")
        assert saved(cluster)["known_hosts"]["header"] == line + "\n"
        assert "header saved" in text_of(screen, "#ssh-status")
        # edit again: ctrl+u is the editor's (the line's start deleted) and the edit goes on,
        # the next letters typed into it; escape then goes back to the saved header
        await pilot.press("e", *"# more", "ctrl+u", *"# m")
        assert editor.text == line + "\n# m" and not editor.read_only and editor.has_focus
        await pilot.press("escape")
        await on_screen(pilot, Confirm, "drop the changes?")
        await pilot.press("y")
        await until(pilot, lambda: editor.read_only, "back to the saved header")
        assert editor.text == line + "\n"
        assert saved(cluster)["known_hosts"]["header"] == line + "\n"
        # the description: d focuses it, enter saves
        await pilot.press("d", "ctrl+a", "ctrl+k", *"Cluster host keys", "enter")
        await pilot.pause()
        assert saved(cluster)["known_hosts"]["description"] == "Cluster host keys"


async def test_the_check_shown_is_that_of_the_last_text(cluster: Cluster) -> None:
    """The header is checked once the keys pause; the bad lines listed are those of the text
    as it is now, never of a text typed on the way (the `!`, taken back with backspace)."""
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_ssh(pilot)
        await pilot.press("e", *"# typed", "enter", *"gw ssh-ed25519 AAAA!", "backspace")
        problem = "line 2: the key data is of type '?', not ssh-ed25519"
        await until(pilot, lambda: text_of(screen, "#ssh-problems") == problem, "the check")
        await pilot.pause(0.5)  # longer than the pause a check waits for: nothing else comes
        assert text_of(screen, "#ssh-problems") == problem
        await pilot.press("ctrl+s")
        await on_screen(pilot, ErrorDialog, "the refusal")
        assert pilot.app.screen.message == f"known_hosts header not saved: {problem}"


async def test_bad_line_is_marked_and_refused(cluster: Cluster) -> None:
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_ssh(pilot)
        before = saved(cluster)["known_hosts"]["header"]
        await pilot.press("e", "#", "enter", *"bad ssh-ed25519 AAAA!", "ctrl+s")
        await on_screen(pilot, ErrorDialog, "the refusal")
        message = pilot.app.screen.message
        assert message == (
            "known_hosts header not saved: line 2: the ssh-ed25519 key data is not valid base64"
        )
        await pilot.press("escape")
        await until(
            pilot,
            lambda: "line 2: the ssh-ed25519 key data" in text_of(screen, "#ssh-problems"),
            "the marked line",
        )
        assert screen.editing
        assert saved(cluster)["known_hosts"]["header"] == before
        await pilot.press("escape")  # unsaved changes: asks first
        await on_screen(pilot, Confirm, "the question")
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.screen is screen, "still editing")
        await pilot.press("escape", "y")  # the editor closes back to this screen ...
        await until(pilot, lambda: pilot.app.screen is screen and not screen.editing, "closed")
        assert saved(cluster)["known_hosts"]["header"] == before
        assert screen.editor.text == before  # the saved header shown again
        await pilot.press("escape")  # ... and only then does escape leave it
        await until(
            pilot, lambda: not isinstance(pilot.app.screen, (SSHConfigsScreen, Confirm)), "menu"
        )


async def test_preview_shows_generated_part_apart(cluster: Cluster) -> None:
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await open_ssh(pilot)
        await pilot.press("p")
        await on_screen(pilot, PreviewScreen, "the preview")
        view = pilot.app.screen.query_one(FileView)
        assert view.text.startswith("Preview Known Hosts - header: 0 lines\n(empty header)\n")
        assert "generated from the inventory (do not edit) - 52 lines\n" + BANNER in view.text
        assert "\nbeo-01,beo-01-ib,127.52.1.11,127.53.1.11 ssh-ed25519 " in view.text


async def test_bad_key_line_blocks_write(cluster: Cluster, tmp_path: Path) -> None:
    # a bad line typed into sshfiles.toml by hand (the screen would not save it)
    cluster.store.update(
        "sshfiles",
        lambda doc: doc["authorized_keys"].update({"header": "ssh-ed25519 AAAA!broken\n"}),
    )
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await on_screen(pilot, WriteFilesScreen, "Write Files")
        screen = pilot.app.screen
        await until(pilot, lambda: bool(screen.rows), "the comparison")
        assert "2 invalid, 16 missing" in text_of(screen, "#write-status")
        await pilot.press("w")
        await on_screen(pilot, ErrorDialog, "the refusal")
        assert pilot.app.screen.message == (
            "authorized_keys cannot be written: "
            "header line 1: the ssh-ed25519 key data is not valid base64"
        )
    assert not list((tmp_path / "demo" / "headnodes").rglob("ssh_known_hosts"))


async def test_write_files_diff_and_write_both_headnodes(cluster: Cluster, tmp_path: Path) -> None:
    headnodes = tmp_path / "demo" / "headnodes"
    old = headnodes / "beosrv-d" / "etc/ssh/shosts.equiv"
    old.write_text("old-node\n")
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await on_screen(pilot, WriteFilesScreen, "Write Files")
        screen = pilot.app.screen
        await until(pilot, lambda: bool(screen.rows), "the comparison")
        assert "1 changed, 17 missing" in text_of(screen, "#write-status")
        await pilot.press("o")  # only changed: all 18 still differ, under their 3 classes
        table = screen.query_one(DataTable)
        assert table.row_count == 21
        await pilot.press(*"nnnnnnnn")  # the 8th file: beosrv-d /etc/ssh/shosts.equiv
        view = screen.query_one(FileView)
        await until(pilot, lambda: "Diff SHosts Equiv beosrv-d:/etc/ssh/" in view.text, "diff")
        assert "(changed)\n--- beosrv-d:/etc/ssh/shosts.equiv (on disk)\n" in view.text
        assert "\n-old-node\n" in view.text and "\n+beo-01-ib\n" in view.text
        await pilot.press("w")
        await on_screen(pilot, Confirm, "the confirmation")
        assert pilot.app.screen.question == "Write 18 files to beosrv-c, beosrv-d?"
        await pilot.press("y")
        await on_screen(pilot, JobsScreen, "the log window")
        job = next(r for r in cluster.jobs.list() if r.kind == "files.write")
        await until(pilot, lambda: cluster.jobs.get(job.id).done, "the job", seconds=20)
        assert cluster.jobs.get(job.id).record.state == "Success"
        await pilot.press("escape")
        await until(
            pilot,
            lambda: text_of(screen, "#write-status") == "0 of 18 files shown (18 unchanged hidden)",
            "refresh",
        )
        assert table.row_count == 0  # only changed: nothing left
        await pilot.press("w")
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, WriteFilesScreen)  # nothing to confirm
    rendered = old.read_text()
    assert rendered.startswith(BANNER + "\nbeosrv-c\n")
    for node in ("beosrv-c", "beosrv-d"):
        for path in ("etc/ssh/ssh_known_hosts", "etc/ssh/shosts.equiv",
                     "etc/qlustar/common/image-files/ssh/authorized_keys"):  # fmt: skip
            assert (headnodes / node / path).is_file(), (node, path)
        assert (headnodes / node / "etc/ssh/shosts.equiv").read_text() == rendered
    assert [b.read_text() for b in old.parent.glob("shosts.equiv.bak-*")] == ["old-node\n"]


def test_snapshot_ssh_configs(snap_compare, tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    cluster = Cluster.open(config)
    cluster.store.update(
        "sshfiles", lambda doc: doc["shosts_equiv"].update({"header": SNAPSHOT_HEADER})
    )
    app = QlutuiApp(cluster)

    async def run_before(pilot: Pilot) -> None:
        await pilot.press("s")
        await on_screen(pilot, SSHConfigsScreen, "screen")
        screen = pilot.app.screen
        await until(pilot, lambda: screen.state is not None, "loaded")
        await pilot.press("enter", "down", "enter")  # the file selector: SHosts Equiv
        await until(pilot, lambda: screen.kind == "shosts_equiv", "SHosts Equiv")
        await pilot.press("e", "+")
        await until(pilot, lambda: "line 4" in text_of(screen, "#ssh-problems"), "marked")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_write_files(snap_compare, tmp_path: Path) -> None:
    cluster = Cluster.open(init_demo(tmp_path / "demo"))
    app = QlutuiApp(cluster)

    async def run_before(pilot: Pilot) -> None:
        await pilot.press("w")
        await on_screen(pilot, WriteFilesScreen, "screen")
        screen = pilot.app.screen
        await until(pilot, lambda: bool(screen.rows), "compared")
        await pilot.press(*"nnnnnn")  # beosrv-c /etc/ssh/shosts.equiv: names only, no keys
        view = screen.query_one(FileView)
        await until(pilot, lambda: "shosts.equiv (generated)" in view.text, "diff")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def test_header_patterns_are_saved_only_once_confirmed(cluster: Cluster) -> None:
    line = f"*.example.org {public_key('root@gw')}"
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_ssh(pilot)
        before = saved(cluster)["known_hosts"]
        await pilot.press("e", *line, "ctrl+s")
        await on_screen(pilot, Confirm, "the question")
        assert "'*.example.org' is a wildcard" in pilot.app.screen.detail
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.screen is screen, "back, not saved")
        assert saved(cluster)["known_hosts"] == before and screen.editing
        await pilot.press("ctrl+s")
        await on_screen(pilot, Confirm, "asked again")
        await pilot.press("y")
        await until(pilot, lambda: not screen.editing, "saved")
        assert saved(cluster)["known_hosts"]["header"] == line + "\n"
        assert saved(cluster)["known_hosts"]["allow_patterns"] is True


async def test_modes_set_in_the_screen_show_in_the_preview(cluster: Cluster) -> None:
    """m opens the file's modes: a bad CA key is named in the form and nothing is saved; a
    good one with hashed names is saved (audited), named on the modes line and previewed."""
    ca = public_key("host-ca")
    async with QlutuiApp(cluster).run_test(size=SIZE) as pilot:
        screen = await open_ssh(pilot)
        assert text_of(screen, "#ssh-modes").startswith("Modes: plain names, with IPs,")
        before = (cluster.config.state_dir / "sshfiles.toml").read_bytes()
        await pilot.press("m")
        await on_screen(pilot, FormDialog, "the modes form")
        form = pilot.app.screen
        await pilot.press("space", "tab", *"ssh-ed25519 AAAA!", "ctrl+s")
        await until(
            pilot,
            lambda: "not valid base64" in str(form.query_one("#error-ca_key", Static).render()),
            "the refused key",
        )
        assert pilot.app.screen is form
        assert (cluster.config.state_dir / "sshfiles.toml").read_bytes() == before
        await pilot.press(*["backspace"] * 17, *ca, "tab", "space", "ctrl+s")  # + boot only
        await until(pilot, lambda: pilot.app.screen is screen, "saved")
        await until(pilot, lambda: "modes saved" in text_of(screen, "#ssh-status"), "status")
        known = saved(cluster)["known_hosts"]
        assert (known["hashed"], known["ca_key"], known["networks"]) == (True, ca, ["boot"])
        assert "hashed names, with IPs, networks boot, @cert-authority SHA256:" in text_of(
            screen, "#ssh-modes"
        )
        audit = (cluster.config.state_dir / "audit.log").read_text().splitlines()[-1]
        assert "known_hosts modes: hashed on, ca_key SHA256:" in audit
        await pilot.press("p")
        await on_screen(pilot, PreviewScreen, "the preview")
        generated = pilot.app.screen.query_one(FileView).text.split(BANNER + "\n")[1]
        lines = generated.strip().splitlines()
        assert lines and all(line.startswith("@cert-authority |1|") for line in lines)
        assert all(line.endswith(ca.split()[1]) for line in lines)
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "back")
        # authorized_keys has no modes: the key is dimmed and does nothing
        await pilot.press("enter", "down", "down", "enter")
        await until(pilot, lambda: screen.kind == "authorized_keys", "Authorized Keys")
        assert text_of(screen, "#ssh-modes") == "Modes: no modes: the file is the header alone"
        assert screen.check_action("modes", ()) is None


async def test_saving_a_header_line_for_an_inventory_host_warns(cluster: Cluster) -> None:
    """The header is saved (it is valid), and the save says which name the generated part
    has too: the check `qlutui check` reports (`header_duplicates`)."""
    line = f"beo-07 {public_key('root@old')}"
    async with QlutuiApp(cluster).run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_ssh(pilot)
        await pilot.press("e", *line, "ctrl+s")
        await until(pilot, lambda: bool(pilot.app._notifications), "the warning")
        assert saved(cluster)["known_hosts"]["header"] == line + "\n"
        assert [(n.title, n.message, n.severity) for n in pilot.app._notifications] == [
            (
                "Saved, but",
                "Known Hosts header line 1: 'beo-07' is also generated from the inventory"
                " (host beo-07)",
                "warning",
            )
        ]
        assert not screen.editing
