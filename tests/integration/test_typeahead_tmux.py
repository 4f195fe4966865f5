"""Type-ahead in a real terminal: qlutui in tmux at 80x24 with TERM=linux, each burst of keys
written into its pty at once (`send-keys -l`), as a paste or a slow SSH link delivers them.
Every key must act where the keys before it left the user: the next form field, the node a
tree expand just filled, the row of a list that was still loading."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from terminal import CTRL_S, DOWN, ENTER, ESC, TAB, Pane, Tmux, qlutui
from waiting import wait_for

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return init_demo(tmp_path / "demo")


@pytest.fixture
def terminal(tmux: Tmux, demo: Path) -> Pane:
    pane = tmux.start("qlutui", qlutui(demo), env={"TERM": "linux"})
    pane.wait("the Manage menu", "Check")
    return pane


def test_new_image_form_takes_a_burst_field_by_field(terminal: Pane, demo: Path) -> None:
    # menu -> Images (still loading) -> New image, the fields, OK: all in one write
    terminal.burst("in" + "ta-img" + TAB * 4 + "post.sh" + TAB + "desc" + CTRL_S)
    images = demo.parent / "state" / "images.toml"

    def created() -> dict | None:
        return tomllib.loads(images.read_text()).get("images", {}).get("ta-img")

    image = wait_for("the new image", created)
    assert isinstance(image, dict)
    assert (image["postinst"], image["description"]) == ("post.sh", "desc")
    terminal.wait("the image in the tree", "ta-img")


def test_new_chroot_form_takes_a_burst(terminal: Pane) -> None:
    terminal.burst("cn" + "ta-chr" + TAB + "burst desc")
    shown = terminal.wait("the form filled", "New chroot", "burst desc")
    lines = [line.strip("| ").split() for line in shown.splitlines()]
    assert ["Name", "ta-chr"] in lines and ["Description", "burst", "desc"] in lines


def test_root_fs_tree_down_enter_burst_expands_each_child(terminal: Pane) -> None:
    # the list (loading) -> open gpu-setup -> expand etc/ -> down into it -> expand modprobe.d/
    terminal.burst("r" + ENTER + DOWN + ENTER + DOWN + ENTER)
    shown = terminal.wait("the second expand", "Root FS config gpu-setup", "nvidia.conf")
    assert "- etc/" in shown and "- modprobe.d/" in shown
    assert "+ lib/" in shown  # the sibling stayed closed: no key went past the new children


def test_root_fs_list_burst_opens_the_second_row(terminal: Pane) -> None:
    terminal.burst("r" + DOWN + ENTER)  # Down and Enter reach the list once it has its rows
    terminal.wait("the second config opened", "Root FS config ntp-tweaks")


def test_a_key_typed_with_the_one_that_opens_hosts_acts_once_it_loaded(terminal: Pane) -> None:
    # menu -> Hosts (its inventory loads after the first paint) -> Add, in one write
    terminal.burst("ha")
    terminal.wait("the Add hosts form", "Add hosts")


def test_escape_and_a_letter_in_one_write_are_both_keys(terminal: Pane) -> None:
    # Images -> Escape (the menu) -> c (Manage Chroots): the terminal's Alt+c on the wire
    terminal.burst("i")
    terminal.wait("the Images", "qlutui - Qlustar Images")
    terminal.burst(ESC + "c")
    terminal.wait("Manage Chroots", "qlutui - Manage Chroots", "1 chroot below")


def test_ssh_header_editor_takes_a_burst_and_checks_the_last_text(
    terminal: Pane, demo: Path
) -> None:
    # 146 keys in one write: six comment lines, then a line bad only once its last key came
    sshfiles = demo.parent / "state" / "sshfiles.toml"
    before = sshfiles.read_bytes()
    lines = [f"# typed ahead {n} ...." for n in range(1, 7)] + ["gw ssh-ed25519 AAAA!"]
    terminal.burst("s")
    terminal.wait("SSH Configs", "Header - the generated part follows it")
    terminal.keys("e")
    terminal.wait("the editor open", "Header (editing")
    terminal.burst(ENTER.join(lines))
    problem = "line 7: the ssh-ed25519 key data is not valid base64"
    shown = terminal.wait("the text and the check of its last line", *lines, problem)
    assert [line for line in shown.splitlines() if line.lstrip().startswith("line ")] == [
        f" {problem}"
    ]  # the check of the final text alone: none of a text typed on the way
    terminal.burst(CTRL_S)
    terminal.wait("the refusal", "Header not saved", "line 7: the ssh-ed25519 key data")
    assert sshfiles.read_bytes() == before


@pytest.mark.parametrize("leave", [ENTER, DOWN], ids=["enter", "down"])
def test_audit_filter_then_down_in_one_burst_acts_on_the_filtered_rows(
    terminal: Pane, demo: Path, leave: str
) -> None:
    # the trail is read again once the filter's keys pause, or at once on leaving the box
    # (Enter: to the list, Down: to its first row): Down after that moves over the rows of
    # the whole filter (newest first: greenish, green)
    cluster = Cluster.open(demo)
    for summary in ("red", "green", "greenish"):
        cluster.audit.record("job.start", "20260922-120000-ab12", f"chroots.create: {summary}")
    terminal.burst("a")
    terminal.wait("the Audit Trail", "Summary: chroots.create: greenish")
    terminal.burst("/green" + leave + DOWN)
    terminal.wait("the second row", "2 events matching 'green'", "Summary: chroots.create: green\n")


@pytest.mark.parametrize(
    ("after", "shown"),
    [("?", ("Keys: Manage", "Qlustar Images")), ("\x7f", ("qlutui - Manage", "Head-nodes"))],
    ids=["question-mark", "backspace"],
)
def test_escape_and_a_key_that_is_no_letter_in_one_write_are_both_keys(
    terminal: Pane, after: str, shown: tuple[str, ...]
) -> None:
    # Images -> Escape (the menu) -> ? (the menu's keys) / Backspace (nothing): Textual's
    # parser dropped the Escape before ? and read ESC DEL as ctrl+w
    terminal.burst("i")
    terminal.wait("the Images", "qlutui - Qlustar Images")
    terminal.burst(ESC + after)
    terminal.wait("the menu", *shown, gone=("qlutui - Qlustar Images",))
