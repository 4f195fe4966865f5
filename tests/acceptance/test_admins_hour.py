"""An admin's hour on the demo cluster, in a real terminal: qlutui in tmux at 80x24 on a serial
console (TERM=linux), typed as a person types (one key, then waiting for the screen) and as a
slow SSH link or a paste delivers it (bursts: several keys in one write, Tabs between fields).

First session: create an image, add a module, build a chroot and watch its log, clone it.
Then the admin comes back on a console without colour (NO_COLOR=1): edit the known_hosts
header, write the files, create a root-fs config with an init.d script, read its boot order,
delete the config. Each step is checked by what the screen shows and by the files it leaves.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

import pytest
from terminal import CTRL_S, DOWN, ENTER, ESC, TAB, Pane, Tmux, colours, qlutui, reversed_runs
from waiting import wait_for

from qlutui.backend.demo import HEADNODES, init_demo

# A builder that takes a second instead of mmdebstrap's minutes (as tests/tui's chroot tests).
QUICK_BUILDER = """
[builders.debian]
argv = ["sh", "-c", "for i in 1 2 3; do echo step $i; sleep 0.3; done; mkdir -p \\"$0\\"",
        "{target}"]
phases = ["step 1", "step 2", "step 3"]
"""
SHIFT_TAB = "\x1b[Z"
ROOTFS = "var/lib/qlustar/root-fs"
SCRIPT = "#!/bin/sh\necho tuned for the hour\n"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    config = init_demo(tmp_path / "demo")
    config.write_text(config.read_text() + QUICK_BUILDER)
    return config


def state(demo: Path, name: str) -> dict:
    return tomllib.loads((demo.parent / "state" / f"{name}.toml").read_text())


def on(demo: Path, headnode: str, path: str) -> Path:
    return demo.parent / "headnodes" / headnode / path


def row(screen: str, start: str) -> list[str]:
    """The words of the first line that starts (after borders) with `start`."""
    line = next(line for line in screen.splitlines() if line.strip("|+ ").startswith(start))
    return line.strip("|+ ").split()


def session(tmux: Tmux, demo: Path, name: str, status: Path, **env: str) -> Pane:
    """qlutui on the serial console; its exit status goes to `status`. The pane then stays a
    minute (the fixture kills it): should qlutui exit early, the failing wait shows what it
    printed instead of "server exited unexpectedly"."""
    command = f"{qlutui(demo)}; echo $? > {shlex.quote(str(status))}; sleep 60"
    pane = tmux.start(name, command, env={"TERM": "linux", **env})
    pane.wait("the Manage menu", "Qlustar Images", "no job running")
    return pane


def quit_(pane: Pane, status: Path) -> None:
    """Once no job runs (Write Files' rebuild jobs may still), else q would ask first."""
    pane.wait("the jobs' end", "Qlustar Images", "no job running")
    pane.keys("q")
    try:
        wait_for("qlutui to exit", status.exists)
    except AssertionError as exc:  # what qlutui showed instead of exiting
        raise AssertionError(f"{exc}; the screen:\n{pane.screen()}") from None
    assert status.read_text() == "0\n"


def back(pane: Pane, what: str, *texts: str) -> str:
    """Escape, then the screen it leads to (where the test checks it on the way; else the
    Escape goes in one write with the keys after it)."""
    pane.keys("Escape")
    return pane.wait(what, *texts)


def test_an_admins_hour(tmux: Tmux, demo: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.status"
    pane = session(tmux, demo, "hour", first)
    assert pane.screen().isascii()  # serial mode: ASCII borders
    images_and_chroots(pane, demo)
    quit_(pane, first)

    second = tmp_path / "second.status"
    pane = session(tmux, demo, "console", second, NO_COLOR="1")
    ssh_header_and_write(pane, demo)
    rootfs_config(pane, demo)
    quit_(pane, second)


def images_and_chroots(pane: Pane, demo: Path) -> None:
    # Images (still loading) and its New image form in one write; then every field in one
    # more: drop-downs opened with Enter and chosen by typing, Tabs between the fields.
    pane.burst("in")
    pane.wait("the New image form", "New image", "Image name")
    pane.burst(
        "hour-img" + TAB + ENTER + "bookworm" + ENTER + TAB + TAB + ENTER + "bookworm-base"
        + ENTER + TAB + "post.sh" + TAB + "an hour of work"
    )  # fmt: skip
    form = pane.wait("the form filled", "an hour of work")
    assert row(form, "Image name") == ["Image", "name", "hour-img"]
    assert row(form, "Flavour") == ["Flavour", "bookworm", "v"]
    assert row(form, "UnionFS chroot")[2:5] == ["bookworm-base", "(bookworm", "13.1)"]
    assert row(form, "Postinst") == ["Postinst", "post.sh"]
    pane.burst(CTRL_S)
    pane.wait("the new image in the tree", "+ hour-img", "4 images", gone=("New image",))
    image = state(demo, "images")["images"]["hour-img"]
    assert (image["flavour"], image["chroot"], image["modules"]) == (
        "bookworm",
        "bookworm-base",
        ["core"],
    )
    assert (image["postinst"], image["description"]) == ("post.sh", "an hour of work")

    # Add module on the new image (the cursor went to it), chosen by name, then unfold it.
    pane.burst("a" + ENTER + "slurm" + ENTER + CTRL_S)
    pane.wait("the module added", "Module slurm added to hour-img")
    assert state(demo, "images")["images"]["hour-img"]["modules"] == ["core", "slurm"]
    pane.burst(ENTER)
    shown = pane.wait("the image unfolded", "Modules: core, slurm", "Postinst: post.sh")
    assert "- hour-img" in shown

    # A new chroot: the form filled and sent in one write; its build log in Jobs.
    pane.burst(ESC + "cn")  # back to the menu, Manage Chroots, New
    pane.wait("the New chroot form", "New chroot", "Qlustar tasks")
    pane.burst("hour-base" + TAB + "built this hour" + TAB * 4 + " " + CTRL_S)
    log = pane.wait(
        "the build's log to its end",
        "Creating chroot hour-base on beosrv-c",
        "finished: exit 0",
        "[Success]",
        "Creating chroot hour-base  ",  # its row in the job list (the server in Head-node)
    )
    output = [line.strip("|").strip() for line in log.splitlines()]
    steps = [line for line in output if line.startswith("step ")]
    assert steps == ["step 1", "step 2", "step 3"]  # the builder's own output, in order
    assert on(demo, "beosrv-c", "srv/apps/chroots/hour-base").is_dir()
    chroot = state(demo, "chroots")["chroots"]["hour-base"]
    assert (chroot["state"], chroot["tasks"]) == ("ready", ["admin-tools"])

    # Back on Chroots, the new chroot under the cursor: clone it.
    shown = back(pane, "the chroots", "hour-base (ready)", "Name:        hour-base")
    assert "State:       ready" in shown
    pane.burst("c")
    pane.wait("the clone form", "Clone chroot hour-base", "New name")
    pane.burst("hour-clone" + TAB + "clone of hour-base" + CTRL_S)
    pane.wait("the clone's log", "to hour-clone  [Success]", "finished: exit 0")
    shown = back(pane, "the clone in the list", "hour-clone (ready)", "3 chroots")
    assert "Description: clone of hour-base" in shown
    assert on(demo, "beosrv-c", "srv/apps/chroots/hour-clone").is_dir()
    assert state(demo, "chroots")["chroots"]["hour-clone"]["state"] == "ready"
    back(pane, "the Manage menu", "Qlustar Images", "3 chroots")


def no_colour(pane: Pane) -> str:
    """The screen with its escapes: not one colour on a NO_COLOR console."""
    screen = pane.screen(escapes=True)
    assert not colours(screen), screen
    return screen


def cancel_focused(pane: Pane) -> None:
    """A confirmation's focus, read by its reverse video: on No (Enter never says yes)."""
    line = next(line for line in no_colour(pane).splitlines() if " Yes " in line)
    runs = [run.strip() for run in reversed_runs(line)]  # a scrollbar's thumb may be one
    assert "No" in runs and "Yes" not in runs, line


def ssh_header_and_write(pane: Pane, demo: Path) -> None:
    pane.burst("s")
    pane.wait("SSH Configs", "Known Hosts: header of 0 lines")
    pane.burst("e")
    pane.wait("the header editor", "editing: ctrl+s saves")
    pane.burst("# site header of the hour" + ENTER + "# second line" + CTRL_S)
    shown = pane.wait("the header saved", "Known Hosts header saved")
    assert "1  # site header of the hour" in shown and "2  # second line" in shown
    header = state(demo, "sshfiles")["known_hosts"]["header"]
    assert header.startswith("# site header of the hour\n# second line")
    no_colour(pane)

    pane.burst("w")
    pane.wait("Write Files", "Write Files", "20 files: 20 missing")
    pane.burst("w")
    pane.wait("the confirmation", "Write 20 files to beosrv-c, beosrv-d?")
    cancel_focused(pane)
    pane.burst(SHIFT_TAB + ENTER)  # to Yes
    pane.wait("the write's log", "Writing 20 files to beosrv-c, beosrv-d  [Success]")
    for headnode in HEADNODES:
        known_hosts = on(demo, headnode, "etc/ssh/ssh_known_hosts").read_text()
        assert known_hosts.startswith("# site header of the hour\n# second line\n")
        assert "generated by qlutui" in known_hosts
        image = on(demo, headnode, "etc/qlustar/images/hour-img/qlutui.conf").read_text()
        assert 'modules = ["core", "slurm"]' in image
    back(pane, "Write Files again", "20 files: 20 unchanged")
    back(pane, "SSH Configs again", "Known Hosts")
    back(pane, "the Manage menu", "Qlustar Images")


def rootfs_config(pane: Pane, demo: Path) -> None:
    pane.burst("r")
    pane.wait("Root FS", "Root FS Customization", "2 configs")
    pane.burst("n")
    pane.wait("the New root-fs config form", "New root-fs config", "Config name")
    pane.burst("hour-fs" + TAB + "boot tweaks of the hour" + CTRL_S)
    shown = pane.wait("the new config", "3 configs", "hour-fs: boot tweaks of the hour")
    assert row(shown, "hour-fs")[:3] == ["hour-fs", "0", "0"]
    for headnode in HEADNODES:
        assert on(demo, headnode, f"{ROOTFS}/hour-fs/lib/qlustar/init.d").is_dir()

    # Open it (the cursor is on it), unfold lib/qlustar/init.d/, a script in it.
    pane.burst(ENTER)
    pane.wait("the config's tree", "Root FS config hour-fs", "+ lib/")
    pane.burst(DOWN + ENTER + DOWN + ENTER + DOWN + ENTER)
    pane.wait("init.d unfolded", "- init.d/", "node: /lib/qlustar/init.d")
    pane.burst("n")
    pane.wait("the New file form", "New file", "lib/qlustar/init.d/")
    pane.burst("20-hour-tune" + ENTER)  # in init.d/: a boot script, executable, in the editor
    pane.wait("the editor", "edit hour-fs/lib/qlustar/init.d/20-hour-tune (0755)")
    script = f"{ROOTFS}/hour-fs/lib/qlustar/init.d/20-hour-tune"
    for headnode in HEADNODES:
        assert on(demo, headnode, script).read_text() == ""
    pane.burst(SCRIPT.replace("\n", ENTER) + CTRL_S)
    pane.wait("the script saved", "Saved")
    for headnode in HEADNODES:
        assert on(demo, headnode, script).read_text() == SCRIPT
    lines = back(pane, "the tree", "20-hour-tune*  (0755, 34 B)").splitlines()
    below = next(i for i, line in enumerate(lines) if "- init.d" in line) + 1  # (a notice
    assert "`-- 20-hour-tune*  (0755, 34 B)" in lines[below]  # may hide its '/'): not the top

    # Without its exec bit the boot order says why it would not run; x gives it back.
    pane.burst("x")
    pane.wait("the exec bit off", "20-hour-tune  (0644, 34 B)")
    pane.burst("b")
    shown = pane.wait("the boot order", "Boot order of hour-fs", "20-hour-tune")
    assert "will not run: not executable: run-parts skips it" in shown
    no_colour(pane)
    pane.burst(ESC + "x")  # back to the tree, the exec bit
    pane.wait("the exec bit", "20-hour-tune*  (0755, 34 B)")
    pane.burst("b")
    shown = pane.wait("the boot order again", "1. 0755 20-hour-tune")
    assert "will not run" not in shown
    for headnode in HEADNODES:
        assert on(demo, headnode, script).stat().st_mode & 0o777 == 0o755

    # Delete the config: Enter on the confirmation keeps it, Yes deletes it everywhere.
    back(pane, "the tree", "20-hour-tune*")
    back(pane, "the configs", "Root FS Customization", "hour-fs: boot tweaks")
    wait_for(  # read again on the way back: the new script counted
        "the config's new size",
        lambda: row(pane.screen(), "hour-fs")[:4] == ["hour-fs", "1", "34", "B"],
    )
    pane.burst("d")
    shown = pane.wait("the confirmation", "Delete root-fs config 'hour-fs'?")
    assert "1 file, 34 B, on beosrv-c, beosrv-d." in shown
    cancel_focused(pane)
    pane.burst(ENTER)
    pane.wait("the confirmation gone", "3 configs", gone=("Delete root-fs config",))
    assert on(demo, "beosrv-c", f"{ROOTFS}/hour-fs").is_dir()
    pane.burst("d")
    pane.wait("the confirmation", "Delete root-fs config 'hour-fs'?")
    pane.burst(SHIFT_TAB + ENTER)
    shown = pane.wait("the config deleted", "2 configs", "Config hour-fs deleted")
    assert not [line for line in shown.splitlines() if line.startswith(" hour-fs")]
    for headnode in HEADNODES:
        assert not on(demo, headnode, f"{ROOTFS}/hour-fs").exists()
    assert "hour-fs" not in state(demo, "rootfs").get("configs", {})
    back(pane, "the Manage menu", "Qlustar Images")
