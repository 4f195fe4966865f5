"""The Textual application: the Manage menu, the dialog registry and the app-wide keys.

A new dialog is one entry in `DIALOGS`; it then appears in the menu (with its letter key)
and in the command palette. App-wide keys: `q` quit, `escape` back, `?` keys of the current
screen, `ctrl+p` command palette. Every binding has an id; `[ui.keymap]` in config.toml
remaps them (`"jobs.kill" = "ctrl+k"`).

Serial consoles (`ui.serial = true`, or unset and TERM is linux/vt100/vt102/vt220 or stdout a
serial tty; see cli.serial_mode): the terminal's own 16 colours (`ansi-dark`), ASCII borders,
scrollbars and glyphs, no animations, no mouse reporting (cli.py also lowers the frame rate
and raises the escape delay before Textual is imported).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events, on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.command import CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.filter import LineFilter, Monochrome, NoColor
from textual.screen import Screen
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.theme import BUILTIN_THEMES

from qlutui.backend.cluster import Cluster
from qlutui.backend.job_records import JobRecord, phrase
from qlutui.cli import serial_mode, stdout_tty
from qlutui.errors import QlutuiError
from qlutui.idle_gc import collect_if_due, interactive_gc
from qlutui.screens.menu import Dialog, MenuScreen, menu_screen
from qlutui.typeahead import KeysInOrder
from qlutui.widgets.dialogs import Confirm
from qlutui.widgets.filter_input import FilterInput
from qlutui.widgets.help import KEY_NAMES, HelpScreen, described_bindings, key_rows

# In the order of the original's Manage menus: the four dialogs, then the views.
DIALOGS: list[Dialog] = [
    Dialog("images", "Qlustar Images", "i", "OS images: flavour, version, chroot, modules",
           "images:ImagesScreen"),
    Dialog("chroots", "Manage Chroots", "c", "UnionFS chroots: build, clone, rename, remove",
           "chroots:ChrootsScreen"),
    Dialog("ssh", "SSH Configs", "s", "ssh_known_hosts, shosts.equiv, authorized_keys: headers",
           "ssh_configs:SSHConfigsScreen"),
    Dialog("write_files", "Write Files", "w",
           "SSH files, hosts table, image configs: diff, write",
           "write_files:WriteFilesScreen"),
    Dialog("rootfs", "Root FS", "r", "Root FS configs: files, boot scripts, head-node sync",
           "rootfs:RootfsScreen"),
    Dialog("jobs", "Jobs", "j", "Recent jobs, their logs, kill a running job", "jobs:JobsScreen"),
    Dialog("hosts", "Hosts", "h", "Networks and hosts: edit, node ranges", "hosts:HostsScreen"),
    Dialog("audit", "Audit Trail", "a", "Who changed what, newest first", "audit:AuditScreen"),
    Dialog("check", "Check", "k",
           "Problems in the state files: TOML, entries, clashes, keys", "check:CheckScreen"),
    Dialog("history", "History", "y",
           "Previous versions of the state files: diff, restore", "history:HistoryScreen"),
]  # fmt: skip


class AsciiScrollBarRender(ScrollBarRender):
    """Scrollbars without the eighth-block glyphs a serial console cannot show."""

    VERTICAL_BARS: ClassVar[list[str]] = [" "] * 8
    HORIZONTAL_BARS: ClassVar[list[str]] = [" "] * 8


_ASCII = {
    "\u2026": "~", "\u2013": "-", "\u2014": "-", "\u2022": "*", "\u00b7": ".",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2713": "x",
    "\u2714": "x", "\u2717": "X", "\u2718": "X", "\u25bc": "v", "\u25b2": "^",
    "\u25b6": ">", "\u25c0": "<", "\u25b8": ">", "\u25c2": "<", "\u2190": "<",
    "\u2192": ">", "\u2191": "^", "\u2193": "v", "\U0001f50e": ">", "\U0001f50d": ">",
}  # fmt: skip


@lru_cache(maxsize=1024)
def ascii_glyph(char: str) -> str:
    """An ASCII stand-in for a line-drawing glyph, symbol or emoji (as wide as the original);
    letters, digits and the like of any script are kept."""
    if char in _ASCII:
        ascii_char = _ASCII[char]
    elif "\u2500" <= char <= "\u257f":  # box drawing: corners, tees and crosses become +
        name = unicodedata.name(char, "")
        if "DIAGONAL" in name:
            ascii_char = "X" if "CROSS" in name else "/" if "UPPER RIGHT" in name else "\\"
        elif " AND " in name or " ARC " in name:
            ascii_char = "+"
        elif "HORIZONTAL" in name or name.endswith(("LEFT", "RIGHT")):
            ascii_char = "-"
        else:
            ascii_char = "|"
    elif "\u2580" <= char <= "\u259f":  # block elements (tall borders, bars)
        name = unicodedata.name(char, "")
        if name.startswith(("UPPER", "LOWER")):
            ascii_char = "-"
        elif name.startswith(("LEFT", "RIGHT")):
            ascii_char = "|"
        else:
            ascii_char = "#"
    elif unicodedata.category(char) == "So" or "\u2190" <= char <= "\u2bff":
        ascii_char = "*"  # other symbols, arrows, shapes, dingbats, emoji
    elif "\u2800" <= char <= "\u28ff":  # braille (spinners)
        ascii_char = "."
    else:
        return char
    return ascii_char.ljust(cell_len(char))


class AsciiFilter(LineFilter):
    """Serial consoles: every glyph a VT220 cannot show, whoever draws it (Textual's palette,
    Select arrows, Tree guides, borders a screen forgot), leaves as ASCII of the same width."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [
            seg if seg.text.isascii() else seg._replace(text="".join(map(ascii_glyph, seg.text)))
            for seg in segments
        ]


ASCII_FILTER = AsciiFilter()


@lru_cache(maxsize=1024)
def _no_colour(style: Style) -> Style:
    bgcolor = style.bgcolor
    marked = bool(style.reverse) or (bgcolor is not None and not bgcolor.is_default)
    return style + Style(color="default", bgcolor="default", reverse=True if marked else None)


class NoColourFilter(LineFilter):
    """NO_COLOR on an ANSI theme: the terminal's own foreground and background only. What a
    background colour marked (the cursor row, the title bar, the input cursor, a scrollbar)
    is marked by reverse video instead; Textual bakes a `text-style: reverse` of some widgets
    into swapped colours, so stripping the colours alone would lose it."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [
            seg if seg.style is None else Segment(seg.text, _no_colour(seg.style), seg.control)
            for seg in segments
        ]


TERMINAL_CHECK_S = 1.0
IDLE_GC_S = 1.0  # no key or mouse event for this long: a full GC pass may run

# NO_COLOR: the terminal's own two colours, every state drawn with text attributes instead
# (cursor row reverse, a row of a list without the focus underlined, the input cursor
# reverse); app.tcss adds the rest under `:nocolor`.
_ANSI_DARK = BUILTIN_THEMES["ansi-dark"]
NO_COLOUR_THEME = replace(
    _ANSI_DARK,
    name="qlutui-nocolor",
    variables={
        **_ANSI_DARK.variables,
        "block-cursor-text-style": "reverse bold",
        "block-cursor-blurred-text-style": "underline",
        "input-cursor-text-style": "reverse",
        "button-focus-text-style": "reverse bold",
    },
)


class QlutuiCommands(Provider):
    """Command palette: every dialog, and every described key action of the current screen."""

    def _commands(self) -> Iterator[tuple[str, Callable[[], Any], str]]:
        app = self.app
        assert isinstance(app, QlutuiApp)
        for dialog in DIALOGS:
            yield dialog.title, partial(app.open_dialog, dialog.id), dialog.description
        for keys, active in described_bindings(self.screen):
            if active.binding.action in ("command_palette", "app.command_palette"):
                continue
            run = partial(app.run_action, active.binding.action, active.node)
            key = f"key: {' / '.join(keys)}"
            tooltip = active.binding.tooltip
            yield active.binding.description, run, f"{tooltip}; {key}" if tooltip else key

    async def discover(self) -> Hits:
        for name, command, help_text in self._commands():
            yield DiscoveryHit(name, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, command, help_text in self._commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), command, help=help_text)


class QlutuiApp(KeysInOrder):
    CSS_PATH = "app.tcss"
    TITLE = "qlutui"
    COMMANDS = App.COMMANDS | {QlutuiCommands}
    BACKGROUND_WORK: ClassVar[frozenset[str]] = frozenset({"jobs-resume"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_app", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit_app", "Quit", id="app.quit_now", show=False, priority=True),
        Binding("escape", "back", "Back", id="app.back"),
        Binding("question_mark", "help", "Keys", id="app.help"),
        # show=False: the Footer shows the palette key on its right already.
        Binding(
            "ctrl+p", "command_palette", "Palette", id="app.palette", show=False, priority=True
        ),
    ]

    def __init__(self, cluster: Cluster, *, serial: bool | None = None) -> None:
        super().__init__()
        self.cluster = cluster
        ui = cluster.config.ui
        setting = ui.serial if serial is None else serial
        self.serial = serial_mode(setting, os.environ.get("TERM"), stdout_tty())
        self._theme_problem = ""
        self._scrollbar_render = ScrollBar.renderer
        self.register_theme(NO_COLOUR_THEME)
        if self.no_color:
            self.theme = NO_COLOUR_THEME.name
        elif self.serial:
            self.theme = "ansi-dark"
        elif ui.theme in self.available_themes:
            self.theme = ui.theme
        else:  # config.py cannot know Textual's themes; say so instead of failing to start
            self._theme_problem = f"Unknown theme '{ui.theme}' in config.toml; using {self.theme}"
        if self.serial:
            self.animation_level = "none"
            self.add_class("-serial")
        self.set_keymap(ui.keymap)
        self._last_input = 0.0  # monotonic time of the last key or mouse event

    def watch_theme(self, theme: str) -> None:
        """NO_COLOR: Textual picks its filter once, for the theme App.__init__ starts with, and
        its Monochrome (for RGB themes) turns an ANSI theme's colours, 'default' included, into
        black on black. Pick it for each theme: an ANSI theme gets NoColourFilter."""
        if self.no_color:
            mono = NoColourFilter if self.native_ansi_color else Monochrome
            self._filters = [
                mono() if isinstance(f, (NoColor, NoColourFilter, Monochrome)) else f
                for f in self._filters
            ]

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self._last_input = time.monotonic()
        await super().on_event(event)

    def _collect_garbage(self) -> None:
        collect_if_due(idle=time.monotonic() - self._last_input >= IDLE_GC_S)

    def get_key_display(self, binding: Binding) -> str:
        """A key's name in the key bar and the help (`help.KEY_NAMES`: `up`, `enter`), the same
        in every mode, instead of Textual's glyphs."""
        modifiers, key = binding.parse_key()
        if binding.key_display or key not in KEY_NAMES:
            return super().get_key_display(binding)
        return "+".join([*modifiers, KEY_NAMES[key]])

    def get_line_filters(self) -> list[LineFilter]:
        filters = list(super().get_line_filters())
        return [*filters, ASCII_FILTER] if self.serial else filters

    def get_default_screen(self) -> Screen:
        return menu_screen(
            DIALOGS,
            self.cluster.headnode_names,
            self.cluster.status,
            lambda changed: self.cluster.jobs.watch(lambda _job: changed()),
        )

    def on_mount(self) -> None:
        if self._theme_problem:
            self.notify(self._theme_problem, severity="warning")
        loop = asyncio.get_running_loop()
        store = self.cluster.store

        def waiting(name: str) -> None:  # in the thread that waits (widgets/blocking.py)
            text = f"Waiting for the {name} lock (another qlutui or the CLI is saving it) ..."
            loop.call_soon_threadsafe(partial(self.notify, text, timeout=store.lock_timeout))

        store.on_wait = waiting
        self._resume_jobs()
        self.set_interval(IDLE_GC_S, self._collect_garbage)
        if self.serial:
            ScrollBar.renderer = AsciiScrollBarRender  # one app per process: class-wide is fine
        stdin = sys.__stdin__
        if not self.is_headless and stdin is not None and os.isatty(stdin.fileno()):
            self.set_interval(TERMINAL_CHECK_S, partial(self._check_terminal, stdin.fileno()))

    def _check_terminal(self, fd: int) -> None:
        """A hung-up terminal (closed SSH session or serial line, killed tmux) sends SIGHUP
        only to its session leader; whoever else runs on it notices the tty is gone."""
        if not os.isatty(fd):
            self.exit()

    def on_unmount(self) -> None:
        self.cluster.store.on_wait = None
        if self.serial:
            ScrollBar.renderer = self._scrollbar_render

    @work(group="jobs-resume")
    async def _resume_jobs(self) -> None:
        """Re-attach the jobs that were running when qlutui last stopped."""
        try:
            await self.cluster.jobs.resume()
        except QlutuiError as exc:
            self.notify(f"Could not re-attach running jobs: {exc}", severity="error")

    # -- dialogs -----------------------------------------------------------------------

    def open_dialog(self, dialog_id: str) -> None:
        """Show a dialog on top of the menu (replacing any other dialog screen)."""
        dialog = next(d for d in DIALOGS if d.id == dialog_id)
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(dialog.factory(self.cluster))

    def show_job(self, job_id: str) -> None:
        """The log window: the Jobs screen with `job_id` selected (pushed over the caller)."""
        from qlutui.screens.jobs import JobsScreen

        if isinstance(self.screen, JobsScreen):
            self.screen.select_job(job_id)
        else:
            self.push_screen(JobsScreen(self.cluster, job_id=job_id))

    @on(MenuScreen.Open)
    def _open(self, event: MenuScreen.Open) -> None:
        self.open_dialog(event.dialog_id)

    # -- app-wide actions --------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return len(self.screen_stack) > 1
        return True

    def action_back(self) -> None:
        """Escape, the same on every screen: first it clears the screen's filter (its
        FilterInput; from the box, the focus goes to the list), then it closes the screen's
        open panel (a screen's `close_panel()` that returns True: the Images upgrade
        preview), only then does it leave the screen. (A screen with an editor binds escape
        itself to close the editor first, asking before it drops changes: SSH Configs, Root
        FS.)"""
        screen = self.screen
        filters = [box for box in screen.query(FilterInput) if box.value]
        if not filters:
            close_panel = getattr(screen, "close_panel", None)
            if close_panel is None or not close_panel():
                self.pop_screen()
            return
        for box in filters:
            box.value = ""  # Input.Changed: the screen shows everything again
            if box.has_focus:
                box.rows.focus()

    def action_command_palette(self) -> None:
        """Textual's palette, its placeholder in ASCII: a serial console shows its '…' as '~'."""
        if self.use_command_palette and not CommandPalette.is_open(self):
            palette = CommandPalette(placeholder="Search for commands ...", id="--command-palette")
            self.push_screen(palette)

    def action_help(self) -> None:
        screen = self.screen
        title = screen.title or self.title
        self.push_screen(HelpScreen(title, key_rows(screen)))

    def action_quit_app(self) -> None:
        running = [r for r in self.cluster.jobs.list() if r.finished is None]
        if not running:
            self.exit()
            return
        # Plans run detached on the head-nodes; in-process work (no remote_dir) stops with us.
        detached = [r for r in running if all(t.remote_dir for t in r.targets.values())]
        inline = [r for r in running if r not in detached]
        detail = []
        if detached:
            detail.append(
                f"Running on the head-nodes: {_titles(detached)}. They continue; qlutui "
                "picks up their logs at the next start."
            )
        if inline:
            detail.append(f"Running inside qlutui, interrupted by quitting: {_titles(inline)}.")

        def answered(quit_app: bool | None) -> None:
            if quit_app:
                self.exit()

        self.push_screen(Confirm("Quit qlutui?", "\n".join(detail)), answered)


def _titles(records: list[JobRecord]) -> str:
    more = f" and {len(records) - 3} more" if len(records) > 3 else ""
    return ", ".join(phrase(r.title) for r in records[:3]) + more


def run_app(config: str | Path | None, *, serial: bool | None = None) -> int:
    """Open the cluster, run the TUI, close the connections (same event loop)."""
    cluster = Cluster.open(config)
    app = QlutuiApp(cluster, serial=serial)

    async def main() -> None:
        # A vanished terminal (SIGHUP) ends the app in order: the connections are closed and
        # detached jobs keep running, to be re-attached at the next start.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, app.exit)
        try:
            await app.run_async(mouse=not app.serial)
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            await cluster.aclose()

    with interactive_gc():  # the modules and classes loaded so far stay out of full passes
        asyncio.run(main())
    return app.return_code or 0
