"""SSH Configs: pick a file, edit its header and description, set its modes, preview it.

The header is read-only until Edit (`e`); `ctrl+s` saves it, Escape goes back to the saved
header (asking first if it was changed). The editor keeps its own keys (`ctrl+u` deletes to the
line's start, `ctrl+z` undoes): a screen key there would end the edit under the admin's
fingers and hand the next typed letters to the screen. Bad lines are listed under the editor
once the keys pause (line number and reason) and a header with bad lines is not saved.
Preview renders the whole file in a worker (a big inventory takes tens of milliseconds) and
shows the header and the generated part apart.
Modes (`m`): hashed names and a host CA (`@cert-authority`) for known_hosts, IPs and the
networks taking part for both generated files; the line under the file names them.
sshfiles.toml changed elsewhere (the CLI, another admin) is shown again by itself
(`WatchedScreen`), but never over an edit in progress (the header editor open, a description
typed and not saved): that keeps its text, and its save is refused as a conflict once, then
saves over the new version.
Every decision is an `SSHFilesService` call.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Input, Label, Select, Static, TextArea

from qlutui.backend.sshfiles import FILES, TITLES, SSHFilesService, SSHFilesState
from qlutui.errors import ConflictError, QlutuiError
from qlutui.model.names import counted
from qlutui.model.sshfiles import MODES, ca_key_problem, problems_text
from qlutui.widgets.blocking import closed, off_loop
from qlutui.widgets.dialogs import (
    Confirm,
    ErrorDialog,
    Field,
    FormDialog,
    submit_until_accepted,
)
from qlutui.widgets.diff_view import FileView
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.pause import AfterPause
from qlutui.widgets.state_watch import WatchedScreen, conflict_text
from qlutui.widgets.text_input import TextInput

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.sshfiles import ScanResult

PROBLEMS_LISTED = 4
SWITCHES = (("Hashed names", "hashed"), ("IP addresses", "include_ips"))
SWITCH_HELP = {"hashed": "one hashed name (|1|salt|hmac) per line", "include_ips": "IPs too"}


class PreviewScreen(Screen):
    """The whole file as it would be written (authorized_keys: the file itself)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="ssh.preview.back")
    ]

    def __init__(self, title: str, preview: object) -> None:
        super().__init__()
        self.title = title
        self.preview = preview

    def compose(self) -> ComposeResult:
        yield Static(f"qlutui - {self.title}", classes="title-bar", markup=False)
        yield FileView()
        yield KeysFooter()

    def on_mount(self) -> None:
        view = self.query_one(FileView)
        view.show_preview(self.title, self.preview)  # type: ignore[arg-type]
        view.query_one("#view-header").focus()


class SSHConfigsScreen(WatchedScreen):
    TITLE = "SSH Configs"
    BACKGROUND_WORK = ("ssh-check",)  # the bad lines listed: no key acts on them
    DEFAULT_CSS = """
    #ssh-top { height: 3; }
    #ssh-file { width: 24; }
    #ssh-description { width: 1fr; }
    #ssh-modes { height: auto; max-height: 2; padding: 0 1; }
    #ssh-header-caption { height: 1; padding: 0 1; color: $text-muted; }
    #ssh-header { height: 1fr; }
    #ssh-header.-editing { border: tall $accent; }
    #ssh-problems { display: none; max-height: 5; padding: 0 1; background: $error 20%;
                    color: $text-error; }
    #ssh-problems.-shown { display: block; }
    #ssh-status { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "edit", "Edit", id="ssh.edit"),
        Binding("ctrl+s", "save", "Save", id="ssh.save", priority=True),
        Binding("p", "preview", "Preview", id="ssh.preview"),
        Binding("m", "modes", "Modes", id="ssh.modes"),
        Binding("f", "focus_file", "File", id="ssh.file"),
        Binding("d", "focus_description", "Description", id="ssh.description"),
        Binding("w", "write_files", "Write Files", id="ssh.write"),
        Binding("k", "scan_keys", "Scan Keys", id="ssh.scan"),
        Binding("ctrl+r", "reload", "Reload", id="ssh.reload"),
        Binding("escape", "leave", "Back", id="ssh.back"),
    ]
    WATCHED = ("sshfiles",)

    def __init__(self, cluster: Cluster, kind: str = "known_hosts") -> None:
        super().__init__(cluster.store)
        self.cluster = cluster
        self.service = SSHFilesService(cluster)
        self.state: SSHFilesState | None = None
        self.kind = kind
        self.editing = False
        self._header_check = AfterPause(self, self._check_header)

    def compose(self) -> ComposeResult:
        yield Static("qlutui - SSH Configs", classes="title-bar")
        with Horizontal(id="ssh-top"):
            yield Select(
                [(TITLES[k], k) for k in FILES], value=self.kind, allow_blank=False, id="ssh-file"
            )
            yield TextInput(placeholder="Description (enter saves)", id="ssh-description")
        yield Static("", id="ssh-modes", markup=False)
        yield Label("", id="ssh-header-caption")
        yield TextArea("", id="ssh-header", read_only=True, soft_wrap=False, show_line_numbers=True)
        yield Static("", id="ssh-problems", markup=False)
        yield Static("Loading ...", id="ssh-status", markup=False)
        yield KeysFooter()

    @property
    def editor(self) -> TextArea:
        return self.query_one("#ssh-header", TextArea)

    def on_mount(self) -> None:
        self.query_one("#ssh-file", Select).focus()
        self._load()

    # -- loading and showing ---------------------------------------------------------------

    def action_reload(self) -> None:
        self._load()

    @work(group="ssh-load", exclusive=True)
    async def _load(self) -> None:
        """sshfiles.toml read again; an edit in progress keeps its text (`_unsaved`)."""
        self.files.mark()
        try:
            state = await off_loop(self.service.load)
        except QlutuiError as exc:
            self._status(f"Cannot load sshfiles.toml: {exc}")
            return
        kept = self._unsaved()  # against the state it was typed over
        self.state = state
        self._show_file(kept)

    def _saved(self, state: SSHFilesState) -> None:
        self.state = state
        self.files.mark({"sshfiles": state.token})  # the file as this save left it

    def _conflict(self, exc: ConflictError) -> None:
        """A save refused: sshfiles.toml changed since it was loaded. It is loaded again;
        what is being edited stays as typed, and saving it again puts it over the new one."""
        text = conflict_text(exc)
        if edit := self.edit_in_progress():
            text = (
                f"{exc.changed or exc} was changed meanwhile (by another admin or the CLI): "
                f"nothing saved. Your {edit} is kept as typed: saving it again puts it over "
                "the new version."
            )
        self.app.push_screen(ErrorDialog(text, title="Not saved"))
        self._load()

    def _unsaved(self) -> set[str]:
        """What a reload would overwrite: "header" while the editor is open, "description"
        while the one typed is not the saved one."""
        if self.state is None:
            return set()
        unsaved = {"header"} if self.editing else set()
        typed = self.query_one("#ssh-description", Input).value
        if typed != self.state.options[self.kind].description:
            unsaved.add("description")
        return unsaved

    def edit_in_progress(self) -> str:
        parts = sorted(self._unsaved(), reverse=True)  # header, description
        return f"{TITLES[self.kind]} {' and '.join(parts)}" if parts else ""

    def _show_file(self, keep: Collection[str] = ()) -> None:
        """The file's saved settings, but for the edits in progress named in `keep`."""
        if self.state is None:
            return
        options = self.state.options[self.kind]
        if "description" not in keep:
            self.query_one("#ssh-description", Input).value = options.description
        modes = self.service.modes_text(self.kind, options)
        self.query_one("#ssh-modes", Static).update(f"Modes: {modes}")
        if "header" in keep:
            self._header_check.now()  # its bad lines under the settings as they are now
            return
        self._set_editing(False)
        self.editor.load_text(options.header)
        self._header_check.now()
        self._status(
            f"{TITLES[self.kind]}: header of {counted(len(options.header.splitlines()), 'line')}; "
            "e edits it, p previews the whole file"
        )

    def _status(self, text: str) -> None:
        self.query_one("#ssh-status", Static).update(text)

    def _set_editing(self, editing: bool) -> None:
        self.editing = editing
        self.editor.read_only = not editing
        self.editor.set_class(editing, "-editing")
        caption = "Header (editing: ctrl+s saves, esc ends)" if editing else "Header"
        if self.kind == "authorized_keys":
            caption += " - the whole file"
        else:
            caption += " - the generated part follows it"
        self.query_one("#ssh-header-caption", Label).update(caption)
        self.refresh_bindings()

    @on(Select.Changed, "#ssh-file")
    def _file_changed(self, event: Select.Changed) -> None:
        if event.value == self.kind or event.value is Select.BLANK:
            return
        if self.editing and self._dirty():
            self.notify("Unsaved header changes were dropped", severity="warning")
        self.kind = str(event.value)
        self._show_file()

    @on(TextArea.Changed, "#ssh-header")
    def _header_changed(self) -> None:
        if self.editing:
            self._header_check.poke()

    @work(group="ssh-check", exclusive=True)
    async def _check_header(self) -> None:
        allowed = self.state is not None and self.state.options[self.kind].allow_patterns
        text = self.editor.text
        problems = await off_loop(self.service.header_problems, self.kind, text, allowed)
        if closed(self) or self.editor.text != text:
            return  # left, or typed meanwhile: the check of the newer text is due
        box = self.query_one("#ssh-problems", Static)
        lines = [f"line {p.line}: {p.reason}" for p in problems[:PROBLEMS_LISTED]]
        if len(problems) > PROBLEMS_LISTED:
            lines.append(f"... and {len(problems) - PROBLEMS_LISTED} more bad lines")
        box.update("\n".join(lines))
        box.set_class(bool(problems), "-shown")

    def _dirty(self) -> bool:
        return self.state is not None and self.editor.text != self.state.options[self.kind].header

    # -- actions -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save":
            return self.editing
        if action in ("edit", "reload"):
            return not self.editing
        if action == "modes":  # dimmed for authorized_keys, which has none
            return None if self.editing or not MODES[self.kind] else True
        return True

    def action_edit(self) -> None:
        self._set_editing(True)
        self.editor.move_cursor(self.editor.document.end)  # ready to append a line
        self.editor.focus()
        self._status(f"Editing the {TITLES[self.kind]} header")

    def _revert(self) -> None:
        self._show_file()
        self.query_one("#ssh-file", Select).focus()
        self._status("Back to the saved header")

    @work(group="ssh-save", exclusive=True)
    async def action_save(self) -> None:
        if self.state is None:
            return
        text = self.editor.text
        allow_patterns: bool | None = None
        if not self.state.options[self.kind].allow_patterns:
            patterns = await off_loop(self._patterns_only, text)
            if patterns:  # its only problems are wildcards and negations: ask
                question = (
                    f"The {TITLES[self.kind]} header has wildcards or negations: they trust"
                    " hosts it does not name. Allow patterns in this header and save it?"
                )
                detail = "\n".join(str(p) for p in patterns[:PROBLEMS_LISTED])
                if not await self.app.push_screen_wait(Confirm(question, detail, title="Patterns")):
                    return
                allow_patterns = True
        try:
            self._saved(
                await off_loop(
                    self.service.save_header,
                    self.state,
                    self.kind,
                    text,
                    allow_patterns=allow_patterns,
                )
            )
        except ConflictError as exc:
            self._conflict(exc)
            return
        except QlutuiError as exc:
            self.app.push_screen(ErrorDialog(str(exc), title="Header not saved"))
            return
        self._show_file()
        self.query_one("#ssh-file", Select).focus()
        self._status(f"{TITLES[self.kind]} header saved; w writes the files to the head-nodes")
        warnings = await off_loop(self.service.header_warnings, self.state, self.kind)
        if warnings and not closed(self):
            self.notify(
                f"{TITLES[self.kind]} header {problems_text(warnings)}",
                title="Saved, but",
                severity="warning",
            )

    def _patterns_only(self, text: str) -> list:
        """The header's problems when they are all wildcards and negations (to confirm),
        else [] (blocking: the key checks)."""
        problems = self.service.header_problems(self.kind, text)
        return (
            problems if problems and not self.service.header_problems(self.kind, text, True) else []
        )

    @work(group="ssh-save", exclusive=True)
    async def action_modes(self) -> None:
        """The modes form of the file; OK saves them (refused: why, then the form again)."""
        if self.state is None or not MODES[self.kind]:
            return
        kind, options = self.kind, self.state.options[self.kind]
        switches = [(label, mode) for label, mode in SWITCHES if mode in MODES[kind]]
        fields = [
            Field.multi(
                "switches",
                "Lines",
                switches,
                [mode for _, mode in switches if getattr(options, mode)],
                help="Space ticks: " + "; ".join(SWITCH_HELP[mode] for _, mode in switches),
            )
        ]
        if "ca_key" in MODES[kind]:
            fields.append(
                Field.input(
                    "ca_key",
                    "Host CA key",
                    options.ca_key,
                    validate=lambda text: ca_key_problem(text) if text.strip() else None,
                    placeholder="empty: the hosts' own keys",
                    help="The CA's public key (ssh-ed25519 AAAA...): one @cert-authority line",
                )
            )
        networks = await off_loop(self.service.network_names)
        fields.append(
            Field.multi(
                "networks",
                "Networks",
                networks,
                [n for n in options.networks if n in networks],
                help="Space ticks one; none ticked: every network with ssh = true",
            )
        )

        async def save(values: dict[str, Any]) -> bool:
            chosen = {mode: mode in values["switches"] for _, mode in switches}
            try:
                self._saved(
                    await off_loop(
                        self.service.set_modes,
                        self.state,
                        kind,
                        **chosen,
                        ca_key=values.get("ca_key"),
                        networks=values["networks"],
                    )
                )
            except ConflictError as exc:
                self._conflict(exc)
                return True
            except QlutuiError as exc:
                await self.app.push_screen_wait(ErrorDialog(str(exc), title="Modes not saved"))
                return False
            self._show_file()
            self._status(f"{TITLES[kind]} modes saved; p previews the file, w writes it")
            return True

        form = FormDialog(f"{TITLES[kind]} modes", fields, detail="ctrl+s saves, escape cancels")
        await submit_until_accepted(self.app, form, save)

    @on(Input.Submitted, "#ssh-description")
    @work(group="ssh-save", exclusive=True)
    async def _save_description(self, event: Input.Submitted) -> None:
        if self.state is None:
            return
        try:
            self._saved(
                await off_loop(self.service.save_description, self.state, self.kind, event.value)
            )
        except ConflictError as exc:
            self._conflict(exc)
            return
        except QlutuiError as exc:
            self.app.push_screen(ErrorDialog(str(exc)))
            return
        described = self.query_one("#ssh-description", Input)
        described.value = self.state.options[self.kind].description  # as saved: stripped
        self.query_one("#ssh-file", Select).focus()
        self._status(f"{TITLES[self.kind]} description saved")

    @work(group="ssh-leave", exclusive=True)
    async def action_leave(self) -> None:
        """Escape: closes the header editor back to this screen (unsaved changes dropped only
        when the admin says so); when not editing, back to the menu."""
        if not self.editing:
            self.app.pop_screen()
            return
        if self._dirty():
            question = f"Drop the unsaved changes of the {TITLES[self.kind]} header?"
            if not await self.app.push_screen_wait(Confirm(question)):
                return
        self._revert()

    def action_focus_file(self) -> None:
        """The file list, open: one enter takes the file chosen in it."""
        select = self.query_one("#ssh-file", Select)
        select.focus()
        select.action_show_overlay()

    def action_focus_description(self) -> None:
        self.query_one("#ssh-description", Input).focus()

    @work(group="ssh-preview", exclusive=True)
    async def action_preview(self) -> None:
        self._status("Rendering ...")
        try:
            preview = await self.service.preview(self.kind)
        except QlutuiError as exc:
            self._status("")
            await self.app.push_screen_wait(ErrorDialog(str(exc), title="Cannot render"))
            return
        verb = "View" if self.kind == "authorized_keys" else "Preview"
        self._status("")
        self.app.push_screen(PreviewScreen(f"{verb} {TITLES[self.kind]}", preview))

    def action_write_files(self) -> None:
        from qlutui.screens.write_files import WriteFilesScreen

        self.app.push_screen(WriteFilesScreen(self.cluster))

    @work(group="ssh-scan", exclusive=True)
    async def action_scan_keys(self) -> None:
        form = FormDialog(
            "Scan host keys",
            [
                Field.input("hosts", "Hosts"),
                Field.input("port", "SSH port", "22", validate=port_problem),
            ],
            detail="Connects to each host's primary-network IP and reads the keys it offers.",
        )

        async def scan(values: dict[str, Any]) -> bool:
            hosts, port = values["hosts"], int(values["port"])
            return (
                await scan_and_store(self, self.service, hosts, port, status=self._status)
                is not None
            )

        await submit_until_accepted(self.app, form, scan)


async def scan_and_store(
    screen: Screen,
    service: SSHFilesService,
    hosts: str,
    port: int = 22,
    *,
    status: Callable[[str], None] | None = None,
) -> list[str] | None:
    """Scan the host keys of `hosts` (a node range; blank: every host), show what is new or
    changed with its fingerprints, and store them once the admin confirms; the hosts stored,
    None when refused (a bad range, an unknown host: shown)."""
    from qlutui.model.noderange import expand_all

    app = screen.app
    say = status or screen.notify
    try:
        names = expand_all(hosts.split()) if hosts.strip() else []
        targets = service.scan_targets(names, port=port)
    except QlutuiError as exc:
        await app.push_screen_wait(ErrorDialog(str(exc)))
        return None
    say(f"Scanning {counted(len(targets), 'host')} ...")
    results = await service.scan_keys(targets)
    say(scan_summary(results))
    pending = [r for r in results if r.state in ("new", "changed")]
    if not pending or not await app.push_screen_wait(
        Confirm(f"Store the keys of {counted(len(pending), 'host')}?", scan_detail(results))
    ):
        return []
    try:
        stored = await off_loop(service.store_keys, results)
    except QlutuiError as exc:
        await app.push_screen_wait(ErrorDialog(str(exc)))
        return None
    say(f"Stored the keys of {counted(len(stored), 'host')} in inventory.toml")
    return stored


def port_problem(value: str) -> str | None:
    return None if value.isdigit() and 0 < int(value) < 65536 else "a port number (1-65535)"


def scan_summary(results: list[ScanResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.state] = counts.get(r.state, 0) + 1
    text = "Scan: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    failed = next((r for r in results if r.error), None)
    return text + (f" ({failed.host} {failed.target.address}: {failed.error})" if failed else "")


def scan_detail(results: list[ScanResult], shown: int = 8) -> str:
    """The hosts whose keys would be stored, changed keys first with a warning, and the
    fingerprints of the keys to compare with the hosts' own (`ssh-keygen -lf`)."""
    from qlutui.model.sshfiles import fingerprint

    changed = [r for r in results if r.state == "changed"]
    new = [r for r in results if r.state == "new"]
    lines = []
    for title, group in (
        ("WARNING: changed keys (a reinstall, or an attack):", changed),
        ("New keys:", new),
    ):
        if not group:
            continue
        more = len(group) - shown
        lines.append(f"{title} {', '.join(r.host for r in group[:shown])}")
        lines[-1] += f" and {more} more" if more > 0 else ""
        for r in group[:shown]:
            lines += [
                f"  {r.host} {key.split()[0]} {fingerprint(key)}"
                for key in r.offered
                if r.key_state(key) != "unchanged"
            ]
    return "\n".join(lines)
