"""The key help screen (`?`): the keys of the screen it was opened on, read from its bindings.

Built from `Screen.active_bindings`, so it always shows what really works there, including
the user's keymap overrides from config.toml.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

# How to move around: Textual's own keys, the same on every screen (not bindings of ours).
NAVIGATION = [
    ("up / down", "Move the cursor; pgup / pgdn a page"),
    ("home / end", "First / last row of a list, table or tree"),
    ("left / right", "Fold / unfold a tree; move in a field; scroll a log"),
    ("enter", "Open or choose the item under the cursor; next field"),
    ("space", "Tick or untick [ ] / [x] the item under the cursor"),
    ("tab / shift+tab", "Next / previous field or pane"),
    ("esc", "Clear a filter, close a panel or dialog, or go back"),
    ("/", "Filter: type to narrow the list; enter or down goes back to it"),
]

# Keys Textual shows as glyphs (arrows, return, backspace), shown by name as NAVIGATION names
# them: a serial console's ASCII stand-ins for those glyphs (^ v < > *) read as other keys.
KEY_NAMES = {
    "up": "up",
    "down": "down",
    "left": "left",
    "right": "right",
    "enter": "enter",
    "backspace": "backspace",
}

# The one-line help a form shows under its fields for the focused one, by field name (a
# Field's own `help` replaces it where the name means something else in that form).
FIELD_HELP = {
    "name": "Letters, digits, '.', '_' and '-' (at most 64), not first '-' or '.'",
    "description": "Free text shown beside the name; may be empty",
    "flavour": "The Debian or Ubuntu release the image or chroot is based on",
    "version": "x follows feature releases, x.y its bug-fix releases, x.y.z stays put",
    "chroot": "The UnionFS chroot the image's nodes get; <None> for none",
    "postinst": "Name of the script run at the end of the image build; empty for none",
    "module": "A Qlustar module of the image's release and flavour",
    "rootfs": "Root FS configs whose files the image's nodes get (space ticks one)",
    "server": "The head-node that keeps the chroot and exports it over NFS",
    "tasks": "Package sets installed in the chroot (space ticks one)",
    "hosts": "Host names separated by spaces; blank scans every host",
    "port": "The port sshd listens on there (1-65535)",
    "images": "The images whose nodes get this config (space ticks one)",
    "initd": "Start the config with lib/qlustar/init.d/ for boot scripts, or empty",
    "source": "The head-node whose copy the others are made like",
    "path": "A path inside the config, relative: etc/ntp.conf",
    "release": "A release x.y.z not in the catalog yet: which images would move to it",
    "command": "A command run as root inside the chroot: apt-get -y install htop",
    "header": "The hand-written lines above the generated part of the file",
    "names": "Host names separated by spaces, or a node range: beo-[01-48]",
    "mac": "The MAC address of the boot NIC, aa:bb:cc:dd:ee:ff; empty for none",
    "image": "The Qlustar image the host boots; <None> for none",
    "override": "A host name used instead of the node name, on the Override on network",
    "override_network": "The network whose IP the hostname override stands for",
    "keys": "The host's SSH public keys, one a line; empty: the default host keys",
    "paths": "dnsmasq.hosts, hosts, ssh_known_hosts or ethers: PATH or HEADNODE:PATH",
    "kind": "The NIC kind: ether (Ethernet), ib (InfiniBand) or ipmi (BMC)",
    "role": "Primary: the boot network, node names; slave: <node>-<suffix> names",
    "cidr": "The network's address and prefix length: 192.168.53.0/24",
    "suffix": "On a slave network node beo-01 is beo-01-<suffix>; empty on the primary",
    "ssh": "Whether the network's names and IPs go into the generated SSH files",
    "hosts_file": "Whether the network has its section in the generated hosts table",
}


def described_bindings(screen: Screen) -> list[tuple[list[str], ActiveBinding]]:
    """Our active bindings on `screen` (those with an id), with all the keys of each action."""
    app = screen.app
    merged: dict[tuple[int, str], tuple[list[str], ActiveBinding]] = {}
    for active in screen.active_bindings.values():
        if active.binding.id is None or not active.binding.description:
            continue  # Textual's own navigation keys (arrows, page keys ...) are not listed
        keys, _ = merged.setdefault((id(active.node), active.binding.action), ([], active))
        display = app.get_key_display(active.binding)
        if display not in keys:
            keys.append(display)
    return list(merged.values())


def key_rows(screen: Screen) -> list[tuple[str, str]]:
    """(keys, description) rows for the help screen of `screen`: a binding's tooltip, when
    it has one, says more than the key bar's short description (what the key acts on)."""
    return [
        (" / ".join(keys), a.binding.tooltip or a.binding.description)
        for keys, a in described_bindings(screen)
    ]


class HelpScreen(ModalScreen[None]):
    """Lists the keys of one screen, then how to move around; any of escape, q, ? or enter
    closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,enter", "close", "Close", id="help.close")
    ]

    def __init__(self, title: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self._title = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        width = max(len(keys) for keys, _ in self.rows + NAVIGATION)
        keys, moving = (
            "\n".join(f"{key:<{width}}  {what}" for key, what in rows)
            for rows in (self.rows, NAVIGATION)
        )
        with Vertical(id="dialog"), VerticalScroll():
            yield Static(keys, id="keys", markup=False)
            yield Static("Moving around", classes="heading")
            yield Static(moving, id="navigation", markup=False)

    def on_mount(self) -> None:
        self.query_one("#dialog").border_title = f"Keys: {self._title}"

    def action_close(self) -> None:
        self.dismiss(None)
