"""`qlutui chroots shell NAME` on a real terminal (tmux): the prompt names the chroot, a typed
command reads the chroot's own files, `exit` leaves it and nothing stays mounted."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tiny_chroot import BUSYBOX, NAME, busybox_tree, mounts_below

from qlutui.backend.demo import init_demo

pytestmark = pytest.mark.skipif(
    not shutil.which("tmux") or BUSYBOX is None, reason="needs tmux and busybox-static"
)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[..., str]]:
    socket = str(tmp_path / "tmux.sock")

    def run(*args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", socket, *args], capture_output=True, text=True, timeout=10
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        yield run
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True, timeout=10)


def wait_for(what: str, check: Callable[[], object], seconds: float = 20) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def test_shell_inside_the_chroot(tmux: Callable[..., str], tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    busybox_tree(config)
    done = tmp_path / "done"
    qlutui = shlex.join([sys.executable, "-m", "qlutui", "--config", str(config)])
    errors = shlex.quote(str(tmp_path / "stderr"))
    command = f"{qlutui} chroots shell {NAME} 2>{errors}; echo $? > {shlex.quote(str(done))}"
    tmux("new-session", "-d", "-s", "sh", "-x", "80", "-y", "24", command)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "sh")

    prompt = f"(chroot-{NAME}) / #"  # capture-pane drops the trailing space
    wait_for("the chroot's prompt", lambda: prompt in screen())
    tmux("send-keys", "-t", "sh", "cat /etc/debian_version; ls /dev/pts", "Enter")
    wait_for("the chroot's own file", lambda: "tiny-chroot-1.0" in screen())
    assert "ptmx" in screen()  # a devpts instance of its own
    assert mounts_below(config.parent) == []  # while the shell runs too
    tmux("send-keys", "-t", "sh", "exit", "Enter")
    wait_for("the shell to end", done.exists)
    assert done.read_text() == "0\n"
    assert mounts_below(config.parent) == []
    assert not (
        config.parent / "headnodes/beosrv-c/srv/apps/chroots" / NAME / "usr/sbin/policy-rc.d"
    ).exists()


def test_shell_key_suspends_the_tui_and_exit_returns(
    tmux: Callable[..., str], tmp_path: Path
) -> None:
    config = init_demo(tmp_path / "demo")
    root = busybox_tree(config)
    command = shlex.join([sys.executable, "-m", "qlutui", "--config", str(config)])
    tmux("new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", f"TERM=linux {command}")

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "tui")

    wait_for("the main menu", lambda: "Manage Chroots" in screen())
    tmux("send-keys", "-t", "tui", "c")
    wait_for("the chroots screen", lambda: "Last job:" in screen())
    tmux("send-keys", "-t", "tui", "s")
    wait_for("the chroot's prompt", lambda: f"(chroot-{NAME}) / #" in screen())
    tmux("send-keys", "-t", "tui", "cat /etc/debian_version > /from-the-shell", "Enter")
    written = root / "from-the-shell"  # the redirection creates it before cat writes
    wait_for("the command", lambda: written.exists() and written.read_text().endswith("\n"))
    assert written.read_text() == "tiny-chroot-1.0\n"
    tmux("send-keys", "-t", "tui", "exit", "Enter")
    wait_for("the TUI again", lambda: "Last job:" in screen() and "(chroot-" not in screen())
    assert mounts_below(config.parent) == []
