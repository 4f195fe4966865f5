"""The chroot shell on an SSH head-node (the real sshd on 127.0.0.1), in a real terminal
(tmux): from the TUI's Chroots screen and from `qlutui chroots shell`, a typed command runs
inside the chroot, `exit` returns, and nothing stays mounted."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import waiting
from sshd import SSHD
from tiny_chroot import BUSYBOX, mounts_below, ssh_cluster

pytestmark = [
    pytest.mark.ssh,
    pytest.mark.skipif(
        not shutil.which("tmux") or BUSYBOX is None, reason="needs tmux and busybox-static"
    ),
]
wait_for = partial(waiting.wait_for, seconds=30)  # an SSH round trip per step, under load
PROMPT = "(chroot-small) / #"  # capture-pane drops the trailing space
SIZE = re.compile(r"Size: +(\d\S* \S+)")


def test_shell_key_over_ssh(tmux: Callable[..., str], sshd: SSHD, tmp_path: Path) -> None:
    config, remote = ssh_cluster(tmp_path, sshd)
    command = shlex.join([sys.executable, "-m", "qlutui", "--config", str(config)])
    tmux("new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", f"TERM=linux {command}")

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "tui")

    wait_for("the main menu", lambda: "Manage Chroots" in screen())
    tmux("send-keys", "-t", "tui", "c")
    wait_for("the chroots screen", lambda: "Last job:" in screen())
    before = wait_for("the chroot's size", lambda: SIZE.search(screen()))
    tmux("send-keys", "-t", "tui", "s")
    wait_for("the chroot's prompt over ssh", lambda: PROMPT in screen())
    line = "cat /etc/debian_version > /from-the-shell; head -c 300000 /dev/zero > /grown"
    tmux("send-keys", "-t", "tui", line, "Enter")
    grown = remote / "small/grown"
    wait_for("the command", lambda: grown.exists() and grown.stat().st_size == 300000)
    assert (remote / "small/from-the-shell").read_text() == "tiny-chroot-1.0\n"
    assert mounts_below(remote) == []  # the shell's mounts are in its own namespace
    tmux("send-keys", "-t", "tui", "exit", "Enter")
    wait_for("the TUI again", lambda: "Last job:" in screen() and "(chroot-" not in screen())

    def size() -> str:
        found = SIZE.search(screen())
        return found.group(1) if found else ""

    assert size() != "..."
    wait_for("the size reloaded (300 kB more)", lambda: size() not in ("", before.group(1)))
    assert mounts_below(remote) == []
    assert not (remote / "small/usr/sbin/policy-rc.d").exists()


def test_cli_shell_over_ssh(tmux: Callable[..., str], sshd: SSHD, tmp_path: Path) -> None:
    config, remote = ssh_cluster(tmp_path, sshd)
    done = tmp_path / "done"
    qlutui = shlex.join([sys.executable, "-m", "qlutui", "--config", str(config)])
    errors = shlex.quote(str(tmp_path / "stderr"))
    command = f"{qlutui} chroots shell small 2>{errors}; echo $? > {shlex.quote(str(done))}"
    tmux("new-session", "-d", "-s", "sh", "-x", "80", "-y", "24", command)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "sh")

    wait_for("the chroot's prompt over ssh", lambda: PROMPT in screen())
    line = "cat /etc/debian_version; [ -t 0 ] && echo on-a-terminal-$((6 * 7))"
    tmux("send-keys", "-t", "sh", line, "Enter")
    wait_for("the chroot's own file", lambda: "tiny-chroot-1.0" in screen())
    wait_for("stdin a terminal (ssh -t)", lambda: "on-a-terminal-42" in screen())
    tmux("send-keys", "-t", "sh", "exit 3", "Enter")
    wait_for("the shell to end", lambda: done.exists() and done.read_text())
    assert done.read_text() == "3\n"
    assert mounts_below(remote) == []
