"""`qlutui chroots shell NAME` on a real terminal (tmux): the prompt names the chroot, a typed
command reads the chroot's own files, `exit` leaves it and nothing stays mounted."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from terminal import Tmux, qlutui
from tiny_chroot import BUSYBOX, NAME, busybox_tree, mounts_below
from waiting import wait_for

from qlutui.backend.demo import init_demo

pytestmark = pytest.mark.skipif(BUSYBOX is None, reason="needs busybox-static")


def test_shell_inside_the_chroot(tmux: Tmux, tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    busybox_tree(config)
    done = tmp_path / "done"
    errors, status = (shlex.quote(str(path)) for path in (tmp_path / "stderr", done))
    command = f"{qlutui(config, 'chroots', 'shell', NAME)} 2>{errors}; echo $? > {status}"
    pane = tmux.start("sh", command)

    prompt = f"(chroot-{NAME}) / #"  # capture-pane drops the trailing space
    pane.wait("the chroot's prompt", prompt)
    pane.keys("cat /etc/debian_version; ls /dev/pts; echo listed", "Enter")
    screen = pane.wait("the chroot's own file", "tiny-chroot-1.0", "\nlisted")
    assert "ptmx" in screen  # a devpts instance of its own
    assert mounts_below(config.parent) == []  # while the shell runs too
    pane.keys("exit", "Enter")
    wait_for("the shell to end", done.exists)
    assert done.read_text() == "0\n"
    assert mounts_below(config.parent) == []
    assert not (
        config.parent / "headnodes/beosrv-c/srv/apps/chroots" / NAME / "usr/sbin/policy-rc.d"
    ).exists()


def test_shell_key_suspends_the_tui_and_exit_returns(tmux: Tmux, tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    root = busybox_tree(config)
    pane = tmux.start("tui", qlutui(config), env={"TERM": "linux"})

    pane.wait("the main menu", "Manage Chroots")
    pane.keys("c")
    pane.wait("the chroots screen", "Last job:")
    pane.keys("s")
    pane.wait("the chroot's prompt", f"(chroot-{NAME}) / #")
    pane.keys("cat /etc/debian_version > /from-the-shell", "Enter")
    written = root / "from-the-shell"  # the redirection creates it before cat writes
    wait_for("the command", lambda: written.exists() and written.read_text().endswith("\n"))
    assert written.read_text() == "tiny-chroot-1.0\n"
    pane.keys("exit", "Enter")
    pane.wait("the TUI again", "Last job:", gone=("(chroot-",))
    assert mounts_below(config.parent) == []


def test_keys_typed_before_the_shell_started_do_not_act_after_it(
    tmux: Tmux, tmp_path: Path
) -> None:
    """`s` and a command in one write (a paste, a slow link): the command was typed for the
    shell, but qlutui had read it before it gave the terminal away. Those keys acted in
    Manage Chroots once the shell ended: `echo typed-ahead<Enter>` was e Edit, 'cho
    typed-ahead' typed into the form and Enter saving it as the chroot's description."""
    config = init_demo(tmp_path / "demo")
    busybox_tree(config)
    chroots = config.parent / "state" / "chroots.toml"
    pane = tmux.start("tui", qlutui(config), env={"TERM": "linux"})

    pane.wait("the main menu", "Manage Chroots")
    pane.keys("c")
    pane.wait("the chroots screen", "Last job:")
    before = chroots.read_text()
    pane.burst("secho typed-ahead\r")
    pane.wait("the chroot's prompt", f"(chroot-{NAME}) / #")
    pane.keys("exit", "Enter")
    pane.wait("the TUI again", "Last job:", gone=("(chroot-",))
    pane.keys("?")  # a key typed now still acts: the held ones were handled first
    pane.wait("the keys of the screen", "Keys: Manage Chroots")
    assert "typed-ahead" not in pane.screen()
    assert chroots.read_text() == before
