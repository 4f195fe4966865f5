"""Manage Chroots: a chroot selector, the selected chroot's details, and keys for New, Clone,
Edit (description), Remove, Rename, Run (a command inside the chroot), Upgrade, Tasks (add
catalog tasks), Release (upgrade a clone to a newer x.y), Shell (the TUI is suspended for an
interactive root shell inside the chroot, also on an SSH head-node) and the last job's log.

Every decision is a `ChrootsService` call. Builds, clones, renames and removals are jobs: the
screen starts one and opens its live log window at once (`app.show_job`). After each load a
worker checks that every ready chroot's tree is on its head-node (one stat each) and marks
the ones that are not; the selected chroot's size is probed (du) whenever the selection
changes.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from qlutui.backend.chroots import LOCK_EXIT, LOCK_HOLDERS, ChrootsService, ChrootsState, Probe
from qlutui.backend.job_records import phrase
from qlutui.errors import ConflictError, QlutuiError
from qlutui.model.names import counted, name_problem
from qlutui.model.versions import parse_version
from qlutui.widgets.blocking import closed, off_loop
from qlutui.widgets.dialogs import (
    Confirm,
    ErrorDialog,
    Field,
    FormDialog,
    submit_until_accepted,
)
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.hanging import Hanging, label_rows
from qlutui.widgets.state_watch import WatchedScreen, conflict_text

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.jobs import Job


SSH_FAILED = 255  # ssh's exit status when it could not connect (or the connection dropped)


def size_text(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def command_problem(text: str) -> str | None:
    """Why the Run form's command line cannot be split into an argv (None when it can)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:  # e.g. "No closing quotation"
        return f"cannot split the command: {exc}"
    return None if words else "enter a command"


class ChrootsScreen(WatchedScreen):
    TITLE = "Manage Chroots"
    DEFAULT_CSS = """
    #chroots-body { height: 1fr; }
    #chroots-list { width: 26; height: 1fr; }
    #chroots-detail { width: 1fr; height: 1fr; padding: 0 1; overflow-y: auto; }
    #chroots-status { padding: 0 1; color: $text-muted; height: 1; }
    """
    BACKGROUND_WORK: ClassVar[frozenset[str]] = frozenset({"chroots-presence", "chroots-probe"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New", id="chroots.new"),
        Binding("c", "clone", "Clone", id="chroots.clone"),
        Binding("e", "edit", "Edit", id="chroots.edit"),
        Binding("d", "remove", "Remove", id="chroots.remove"),
        Binding("r", "rename", "Rename", id="chroots.rename"),
        Binding("x", "run", "Run", id="chroots.run"),
        Binding("u", "upgrade", "Upgrade", id="chroots.upgrade"),
        Binding("t", "add_tasks", "Tasks", id="chroots.add_tasks"),
        Binding("v", "release", "Release upgrade", id="chroots.release"),
        Binding("s", "shell", "Shell", id="chroots.shell"),
        Binding("l", "log", "Log", id="chroots.log"),
        Binding("ctrl+r", "reload", "Reload", id="chroots.reload"),
    ]
    WATCHED = ("chroots", "images", "catalog")

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.store)
        self.service = ChrootsService(cluster)
        self.state: ChrootsState | None = None
        self.probes: dict[str, Probe] = {}  # by name: presence and size, when selected
        self.problems: dict[str, str] = {}  # by name: presence of every ready chroot

    def compose(self) -> ComposeResult:
        yield Static("qlutui - Manage Chroots", classes="title-bar")
        with Horizontal(id="chroots-body"):
            yield OptionList(id="chroots-list")
            yield Static(id="chroots-detail", markup=False)
        yield Static("Loading the chroots ...", id="chroots-status", markup=False)
        yield KeysFooter()

    @property
    def selector(self) -> OptionList:
        return self.query_one("#chroots-list", OptionList)

    @property
    def selected(self) -> str | None:
        option = self.selector.highlighted_option
        return option.id if option is not None else None

    def on_mount(self) -> None:
        self.selector.focus()
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.state is not None:  # back from a log window: states may have changed
            self.action_reload()

    # -- loading and showing ---------------------------------------------------------------

    @work(group="chroots-load", exclusive=True)
    async def action_reload(self, select: str | None = None) -> None:
        self.files.mark()
        try:
            state = await self.service.load()
        except QlutuiError as exc:
            self._status(f"Cannot load: {exc}")
            return
        self._show(state, select)

    def _show(self, state: ChrootsState, select: str | None = None) -> None:
        self.state = state
        self.probes = {}  # the highlighted chroot is probed again below
        selector = self.selector
        keep = select or self.selected
        selector.clear_options()
        selector.add_options([Option(self._label(n), id=n) for n in state.chroots])
        names = list(state.chroots)
        if names:
            selector.highlighted = names.index(keep) if keep in names else 0
        self._status(f"{counted(len(names), 'chroot')} below {self.service.base}")
        self._render_detail()
        self._check_presence(state)

    def _label(self, name: str) -> Hanging:
        """The list entry: the chroot's state, or (!) for a ready chroot whose tree is not
        there (the detail says why: missing on the head-node, head-node unreachable); a long
        one continues indented."""
        assert self.state is not None
        state = self.state.chroot(name).state
        probe = self.probes.get(name)  # the fresher of the two
        problem = probe.problem if probe is not None else self.problems.get(name, "")
        return Hanging([f"{name} (!)" if state == "ready" and problem else f"{name} ({state})"])

    @work(group="chroots-presence", exclusive=True)
    async def _check_presence(self, state: ChrootsState) -> None:
        problems = await self.service.tree_problems(state)
        if self.state is not state or closed(self):  # reloaded, or closed, meanwhile
            return
        self.problems = problems
        for name in state.chroots:
            self.selector.replace_option_prompt(name, self._label(name))

    def _status(self, text: str) -> None:
        self.query_one("#chroots-status", Static).update(text)

    @on(OptionList.OptionHighlighted, "#chroots-list")
    def _highlighted(self) -> None:
        self._render_detail()
        if (name := self.selected) is not None:
            self._probe(name)

    @work(group="chroots-probe", exclusive=True)
    async def _probe(self, name: str) -> None:
        if self.state is None or name not in self.state.chroots:
            return
        self.probes[name] = await self.service.probe(self.state.chroot(name))
        if closed(self):
            return
        if name in self.state.chroots:  # a reload may have dropped it meanwhile
            self.selector.replace_option_prompt(name, self._label(name))
        self._render_detail()

    def _render_detail(self) -> None:
        detail = self.query_one("#chroots-detail", Static)
        name = self.selected
        if self.state is None or name is None or name not in self.state.chroots:
            detail.update("No chroot yet: press n to build one.")
            return
        chroot = self.state.chroot(name)
        probe = self.probes.get(name)
        state = chroot.state
        if busy := self.service.busy(name):
            state += f" - job running: {phrase(busy.title)}"
        elif probe is not None and probe.problem:
            state += f" ({probe.problem})"
        rows = [
            ("Name", name),
            ("Description", chroot.description or "-"),
            ("Server", chroot.server),
            ("Path", chroot.path),
            ("Flavour", chroot.flavour),
            ("Version", chroot.version),
            ("Tasks", ", ".join(chroot.tasks) or "-"),
            ("State", state),
            ("Size", "..." if probe is None else size_text(probe.size)),
            ("Images", ", ".join(self.state.users(name)) or "-"),
            ("Last job", chroot.job or "-"),
        ]
        detail.update(label_rows(rows))

    # -- actions ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in (
            "clone",
            "edit",
            "remove",
            "rename",
            "run",
            "upgrade",
            "add_tasks",
            "release",
            "shell",
            "log",
        ):
            return True if self.selected is not None else None
        return True

    async def _refused(self, exc: QlutuiError) -> bool:
        """Show why the service said no; a conflict reloads the list instead. Whether a form
        the answers came from is done: False opens it again, not after a conflict (the state
        it was filled from is gone)."""
        if isinstance(exc, ConflictError):
            self.notify(conflict_text(exc), severity="warning")
            self.action_reload()
            return True
        await self.app.push_screen_wait(ErrorDialog(str(exc), title="Refused"))
        return False

    async def _start(self, starting: Awaitable[Job], select: str) -> bool:
        """Await a service call that starts a job: its log window opens (the list reloaded
        on `select` behind it), or the refusal is shown (False: see `_refused`)."""
        try:
            job = await starting
        except QlutuiError as exc:
            return await self._refused(exc)
        self.action_reload(select)
        self.app.show_job(job.id)  # type: ignore[attr-defined]
        return True

    def _name_field(self, label: str, value: str = "") -> Field:
        def problem(name: str) -> str | None:
            if (state := self.state) and name in state.chroots:
                return f"a chroot named '{name}' already exists"
            return name_problem(name)

        return Field.input("name", label, value, validate=problem)

    @work(group="chroots-action", exclusive=True)
    async def action_new(self) -> None:
        state = self.state
        if state is None:
            return
        catalog = state.catalog
        flavours = catalog.flavours()
        flavour = next((f for f in flavours if f in catalog.flavour_defs), None)
        versions = sorted(
            {v for f in flavours for v in catalog.xy_versions(f)},
            key=lambda v: tuple(int(p) for p in v.split(".")),
        )
        default_version = (catalog.xy_versions(flavour) or [None])[-1] if flavour else None
        fields = [
            self._name_field("Name"),
            Field.input("description", "Description"),
            Field.select("server", "NFS server", self.service.cluster.headnode_names),
            Field.select("flavour", "Flavour", flavours, flavour),
            Field.select(
                "version",
                "Version",
                versions,
                default_version,
                help="The Qlustar release x.y the chroot is built from",
            ),
            Field.multi("tasks", "Qlustar tasks", self.service.task_choices(state)),
        ]

        def check(values: dict[str, Any]) -> str | None:
            self.service.check_new(
                state,
                values["name"],
                values["server"] or "",
                values["flavour"] or "",
                values["version"] or "",
                values["tasks"],
            )
            return None

        def new(values: dict[str, Any]) -> Awaitable[bool]:
            return self._start(
                self.service.new(
                    state,
                    values["name"],
                    values["description"],
                    values["server"],
                    values["flavour"],
                    values["version"],
                    values["tasks"],
                ),
                values["name"],
            )

        form = FormDialog("New chroot", fields, validate=check)
        await submit_until_accepted(self.app, form, new)

    @work(group="chroots-action", exclusive=True)
    async def action_clone(self) -> None:
        source, state = self.selected, self.state
        if source is None or state is None:
            return
        try:
            self.service.check_idle(state, source)
        except QlutuiError as exc:
            await self._refused(exc)
            return
        chroot = state.chroot(source)
        detail = f"Copy of {chroot.server}:{chroot.path} ({chroot.flavour} {chroot.version})"
        fields = [self._name_field("New name"), Field.input("description", "Description")]
        await submit_until_accepted(
            self.app,
            FormDialog(f"Clone chroot {source}", fields, detail=detail),
            lambda values: self._start(
                self.service.clone(state, source, values["name"], values["description"]),
                values["name"],
            ),
        )

    @work(group="chroots-action", exclusive=True)
    async def action_edit(self) -> None:
        name, state = self.selected, self.state
        if name is None or state is None:
            return
        field = Field.input("description", "Description", state.chroot(name).description)

        async def save(values: dict[str, Any]) -> bool:
            edit = self.service.edit_description
            try:
                new = await off_loop(edit, state, name, values["description"])
            except QlutuiError as exc:
                return await self._refused(exc)
            self.files.mark({"chroots": new.token})  # the files as this edit left them
            self._show(new)
            return True

        await submit_until_accepted(self.app, FormDialog(f"Edit chroot {name}", [field]), save)

    @work(group="chroots-action", exclusive=True)
    async def action_remove(self) -> None:
        name, state = self.selected, self.state
        if name is None or state is None:
            return
        try:
            await self.service.check_remove(state, name)
        except QlutuiError as exc:
            await self._refused(exc)
            return
        chroot = state.chroot(name)
        detail = f"Deletes {chroot.server}:{chroot.path} and everything below it."
        if not await self.app.push_screen_wait(
            Confirm(f"Really remove chroot '{name}'?", detail, title="Remove chroot")
        ):
            return
        await self._start(self.service.remove(state, name), name)

    @work(group="chroots-action", exclusive=True)
    async def action_rename(self) -> None:
        old, state = self.selected, self.state
        if old is None or state is None:
            return
        try:
            self.service.check_idle(state, old)
            await self.service.check_tree(state, old, "renamed")
        except QlutuiError as exc:
            await self._refused(exc)
            return

        async def rename(values: dict[str, Any]) -> bool:
            new = values["name"]
            try:
                images = self.service.check_rename(state, old, new)
            except QlutuiError as exc:
                return await self._refused(exc)
            detail = "Moves the tree (the same directory, nothing copied)."
            if images:
                detail += f" These Qlustar Images will use '{new}': {', '.join(images)}"
            if not await self.app.push_screen_wait(
                Confirm(f"Rename chroot '{old}' to '{new}'?", detail, title="Rename chroot")
            ):
                return True
            return await self._start(self.service.rename(state, old, new), new)

        form = FormDialog(f"Rename chroot {old}", [self._name_field("New name", old)])
        await submit_until_accepted(self.app, form, rename)

    @work(group="chroots-action", exclusive=True)
    async def action_run(self) -> None:
        name, state = self.selected, self.state
        if name is None or state is None:
            return
        try:
            chroot = self.service.check_runnable(state, name)
        except QlutuiError as exc:
            await self._refused(exc)
            return
        field = Field.input(
            "command", "Command", validate=command_problem, placeholder="apt-get -y install htop"
        )
        detail = (
            f"Runs as root inside {chroot.server}:{chroot.path} (split like a shell would, no "
            "shell itself); /proc, /sys and /dev are mounted for the run only."
        )
        await submit_until_accepted(
            self.app,
            FormDialog(f"Run in chroot {name}", [field], detail=detail),
            lambda values: self._start(
                self.service.run(state, name, shlex.split(values["command"])), name
            ),
        )

    @work(group="chroots-action", exclusive=True)
    async def action_upgrade(self) -> None:
        name, state = self.selected, self.state
        if name is None or state is None:
            return
        try:
            chroot = self.service.check_runnable(state, name)
        except QlutuiError as exc:
            await self._refused(exc)
            return
        detail = (
            f"apt-get update, then apt-get -y full-upgrade inside {chroot.server}:{chroot.path}; "
            "no service is started inside the chroot."
        )
        if not await self.app.push_screen_wait(
            Confirm(f"Upgrade chroot '{name}'?", detail, title="Upgrade chroot")
        ):
            return
        await self._start(self.service.run_action(state, name, "upgrade"), name)

    @work(group="chroots-action", exclusive=True)
    async def action_add_tasks(self) -> None:
        name, state = self.selected, self.state
        if name is None or state is None:
            return
        try:
            chroot = self.service.check_runnable(state, name)
        except QlutuiError as exc:
            await self._refused(exc)
            return
        choices = [c for c in self.service.task_choices(state) if c[1] not in chroot.tasks]
        if not choices:
            self.notify(f"chroot '{name}' has every task of the catalog", severity="warning")
            return
        field = Field.multi("tasks", "Qlustar tasks", choices)
        detail = (
            f"Installs the tasks' packages inside {chroot.server}:{chroot.path} (apt-get update, "
            f"apt-get install); it has: {', '.join(chroot.tasks) or 'none'}."
        )

        def check(values: dict[str, Any]) -> str | None:
            return None if values["tasks"] else "choose at least one task"

        await submit_until_accepted(
            self.app,
            FormDialog(f"Add tasks to chroot {name}", [field], detail=detail, validate=check),
            lambda values: self._start(self.service.add_tasks(state, name, values["tasks"]), name),
        )

    @work(group="chroots-action", exclusive=True)
    async def action_release(self) -> None:
        name, state = self.selected, self.state
        if name is None or state is None:
            return
        try:
            chroot = self.service.check_runnable(state, name)
            rule = self.service.release_rule(chroot)
        except QlutuiError as exc:
            await self._refused(exc)
            return
        current = parse_version(chroot.version)
        newer = [
            v
            for v in self.service.version_choices(state, chroot.flavour)
            if parse_version(v) > current
        ]
        if not newer:
            self.notify(f"no release newer than {chroot.version} is offered", severity="warning")
            return
        fields = [
            Field.select(
                "version",
                "New version",
                newer,
                newer[-1],
                help=f"A Qlustar release x.y of {chroot.flavour} newer than {chroot.version}",
            ),
            Field.input(
                "clone",
                "Clone name",
                help="Empty: <name>-<version>; an existing chroot of that name is upgraded",
            ),
        ]
        detail = (
            f"Upgrades a clone of {name} ({chroot.version}): its {rule.file} is switched to the "
            "new release, then apt-get update and full-upgrade. The original stays as it is."
        )

        def clone_of(values: dict[str, Any]) -> str:
            return values["clone"] or f"{name}-{values['version']}"

        def check(values: dict[str, Any]) -> str | None:
            self.service.release_target(state, name, values["version"] or "", clone_of(values))
            return None

        def upgrade(values: dict[str, Any]) -> Awaitable[bool]:
            clone = clone_of(values)
            return self._start(
                self.service.release_upgrade(state, name, values["version"], clone), clone
            )

        form = FormDialog(f"Release upgrade of {name}", fields, detail=detail, validate=check)
        await submit_until_accepted(self.app, form, upgrade)

    @work(group="chroots-action", exclusive=True)
    async def action_shell(self) -> None:
        name, state = self.selected, self.state
        if name is None or state is None:
            return
        try:
            argv = await self.service.shell_command(state, name)
            with self.app.suspend():
                print(f"entering chroot {name}; exit returns to qlutui", flush=True)
                rc = subprocess.run(argv).returncode
                if rc == SSH_FAILED:  # ssh's own error is on the screen: let it be read
                    input(f"ssh to {state.chroot(name).server} failed; press Enter to return")
            self.app.discard_typed_ahead()  # type: ignore[attr-defined]
        except (QlutuiError, SuspendNotSupported) as exc:
            await self._refused(QlutuiError(str(exc) or "this terminal cannot be suspended"))
            return
        if rc == int(LOCK_EXIT):
            self.notify(f"chroot '{name}' is busy: {LOCK_HOLDERS}", severity="warning")
        self.action_reload(name)  # what the shell changed: size and state

    def action_log(self) -> None:
        name, state = self.selected, self.state
        if name is None or state is None:
            return
        job_id = self.service.last_job(state, name)
        if not job_id:
            self.notify(f"chroot '{name}' has no job on record", severity="warning")
            return
        self.app.show_job(job_id)  # type: ignore[attr-defined]
