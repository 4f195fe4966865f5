"""Type-ahead in a real terminal: qlutui in tmux at 80x24 with TERM=linux, each burst of keys
written into its pty at once (`send-keys -l`), as a paste or a slow SSH link delivers them.
Every key must act where the keys before it left the user: the next form field, the node a
tree expand just filled, the row of a list that was still loading."""

from __future__ import annotations

import shlex
import shutil
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from waiting import wait_for

from qlutui.backend.demo import init_demo

pytestmark = pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")

ENTER, DOWN, TAB, CTRL_S = "\r", "\x1b[B", "\t", "\x13"
SESSION = "qlutui"


class Terminal:
    """qlutui in a tmux pane: what it shows, and bursts written into it."""

    def __init__(self, tmux: Callable[..., str], config: Path) -> None:
        self.tmux = tmux
        qlutui = shlex.join([sys.executable, "-m", "qlutui", "--config", str(config)])
        command = shlex.join(["env", "TERM=linux", "sh", "-c", qlutui])
        tmux("new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24", command)
        self.wait("the Manage menu", "Check")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", SESSION)

    def burst(self, keys: str) -> None:
        """`keys` in one write to the terminal."""
        self.tmux("send-keys", "-t", SESSION, "-l", keys)

    def wait(self, what: str, *texts: str) -> str:
        shown = wait_for(what, lambda: all(t in self.screen() for t in texts) and self.screen())
        return str(shown)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return init_demo(tmp_path / "demo")


@pytest.fixture
def terminal(tmux: Callable[..., str], demo: Path) -> Terminal:
    return Terminal(tmux, demo)


def test_new_image_form_takes_a_burst_field_by_field(terminal: Terminal, demo: Path) -> None:
    # menu -> Images (still loading) -> New image, the fields, OK: all in one write
    terminal.burst("in" + "ta-img" + TAB * 4 + "post.sh" + TAB + "desc" + CTRL_S)
    images = demo.parent / "state" / "images.toml"

    def created() -> dict | None:
        return tomllib.loads(images.read_text()).get("images", {}).get("ta-img")

    image = wait_for("the new image", created)
    assert isinstance(image, dict)
    assert (image["postinst"], image["description"]) == ("post.sh", "desc")
    terminal.wait("the image in the tree", "ta-img")


def test_new_chroot_form_takes_a_burst(terminal: Terminal) -> None:
    terminal.burst("cn" + "ta-chr" + TAB + "burst desc")
    shown = terminal.wait("the form filled", "New chroot", "burst desc")
    lines = [line.strip("| ").split() for line in shown.splitlines()]
    assert ["Name", "ta-chr"] in lines and ["Description", "burst", "desc"] in lines


def test_root_fs_tree_down_enter_burst_expands_each_child(terminal: Terminal) -> None:
    # the list (loading) -> open gpu-setup -> expand etc/ -> down into it -> expand modprobe.d/
    terminal.burst("r" + ENTER + DOWN + ENTER + DOWN + ENTER)
    shown = terminal.wait("the second expand", "Root FS config gpu-setup", "nvidia.conf")
    assert "- etc/" in shown and "- modprobe.d/" in shown
    assert "+ lib/" in shown  # the sibling stayed closed: no key went past the new children


def test_root_fs_list_burst_opens_the_second_row(terminal: Terminal) -> None:
    terminal.burst("r" + DOWN + ENTER)  # Down and Enter reach the list once it has its rows
    terminal.wait("the second config opened", "Root FS config ntp-tweaks")
