"""Root FS Customization: the configs (directories on the head-nodes), and inside one config
a lazily loaded file tree with an editor, the boot-order panel and the node preview.

Every decision is a `RootfsService` call; changes run in workers and end in a notification
saying on which head-nodes they were applied (a head-node that failed is named).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Static, TextArea, Tree
from textual.widgets.tree import TreeNode

from qlutui.backend.rootfs import (
    Entry,
    FileConflict,
    OpenedFile,
    Outcome,
    RootfsService,
    RootfsState,
)
from qlutui.errors import ConflictError, QlutuiError
from qlutui.model.names import counted, name_problem
from qlutui.model.rootfs import INITD, mode_text, new_file_mode, normalize_relpath, size_text
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
from qlutui.widgets.hanging import Hanging, Line
from qlutui.widgets.lists import FoldTree, RowTable
from qlutui.widgets.state_watch import WatchedScreen, conflict_text

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster


def _path_problem(value: str) -> str | None:
    try:
        normalize_relpath(value)
    except QlutuiError as exc:
        return str(exc)
    return None


class _Actions(Screen):
    """What both screens share: running a change and reporting its outcome."""

    service: RootfsService

    async def _do(self, change: Callable[[], Awaitable[Any]], what: str) -> bool:
        """Run a change; an Outcome is reported per head-node, an error in a dialog (False:
        a form the change came from opens again, as it was filled)."""
        try:
            result = await change()
        except ConflictError as exc:
            self.notify(conflict_text(exc), severity="warning")
            return True
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(str(exc), title="Refused"))
            return False
        if isinstance(result, Outcome) and result.failed:
            self.notify(result.summary(what), severity="warning", timeout=10)
        else:
            self.notify(what)
        return True


class RootfsScreen(_Actions, WatchedScreen):
    TITLE = "Root FS Customization"
    DEFAULT_CSS = """
    #rootfs-table { height: 1fr; }
    #rootfs-info { height: auto; max-height: 6; padding: 0 1; }
    #rootfs-status { padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "open", "Open", id="rootfs.open"),
        Binding("n", "new", "New", id="rootfs.new"),
        Binding("d", "delete", "Delete", id="rootfs.delete"),
        Binding("e", "describe", "Description", id="rootfs.describe"),
        Binding("a", "assign", "Images", id="rootfs.assign"),
        Binding("s", "sync", "Sync", id="rootfs.sync"),
        Binding("ctrl+r", "reload", "Reload", id="rootfs.reload"),
    ]
    WATCHED = ("rootfs", "images")

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.store)
        self.cluster = cluster
        self.service = RootfsService(cluster)
        self.state: RootfsState | None = None

    def compose(self) -> ComposeResult:
        yield Static("qlutui - Root FS Customization", classes="title-bar")
        yield RowTable(id="rootfs-table", cursor_type="row", zebra_stripes=False)
        yield Static(id="rootfs-info", markup=False)
        yield Static("Reading the configs on the head-nodes ...", id="rootfs-status", markup=False)
        yield KeysFooter()

    @property
    def table(self) -> DataTable:
        return self.query_one("#rootfs-table", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns("Config", "Files", "Size", "Images", "Head-nodes")
        self.table.focus()
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.state is not None:  # back from a config: its files may have changed
            self.action_reload()

    @work(group="rootfs-load", exclusive=True)
    async def action_reload(self, focus: str | None = None) -> None:
        """Read the configs again; the cursor stays on its row, or goes to `focus`."""
        self.files.mark()
        try:
            state = await self.service.load()
        except QlutuiError as exc:
            self.query_one("#rootfs-status", Static).update(f"Cannot load: {exc}")
            return
        self._show(state, focus)

    def _show(self, state: RootfsState, focus: str | None = None) -> None:
        self.state = state
        table = self.table
        current = focus if focus in state.configs else self.current
        table.clear()
        for view in state.configs.values():
            short = view.status if view.agree else "(!) " + view.status.split(":")[0]
            ha = Text(short, style="" if view.agree else "bold yellow")
            images = ", ".join(view.images) or "-"
            table.add_row(
                view.name, str(view.files), size_text(view.size), images, ha, key=view.name
            )
        if current in state.configs:
            table.move_cursor(row=table.get_row_index(current))
        down = "; ".join(f"{n} not reachable" for n in state.down)
        text = f"{counted(len(state.configs), 'config')} in {self.service.base}"
        self.query_one("#rootfs-status", Static).update(f"{text} | {down}" if down else text)
        self._info()

    @property
    def current(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    @on(DataTable.RowHighlighted, "#rootfs-table")
    def _info(self) -> None:
        if self.state is None or (name := self.current) is None:
            self.query_one("#rootfs-info", Static).update("No configs: n creates one.")
            return
        view = self.state.configs[name]
        lines = [
            f"{name}: {view.description or '(no description)'}",
            f"Assigned to: {', '.join(view.images) or 'no image'}",
            f"Head-nodes: {view.status}",
        ]
        if not view.agree and (paths := self.service.differences(self.state, name)):
            lines.append(f"Differs: {', '.join(paths[:4])}" + (" ..." if len(paths) > 4 else ""))
        self.query_one("#rootfs-info", Static).update(Hanging(lines))

    def _selected(self) -> str | None:
        if self.state is None or self.current is None:
            self.notify("No config selected", severity="warning")
            return None
        return self.current

    def action_open(self) -> None:
        if (name := self._selected()) is not None:
            self.app.push_screen(ConfigScreen(self.service, name))

    @on(DataTable.RowSelected, "#rootfs-table")
    def _selected_row(self) -> None:
        self.action_open()

    @work(group="rootfs-action", exclusive=True)
    async def action_new(self) -> None:
        if self.state is None:
            return
        state = self.state
        fields = [
            Field.input("name", "Config name", validate=name_problem),
            Field.input("description", "Description"),
            Field.select(
                "initd",
                "Boot scripts",
                [("with lib/qlustar/init.d/", True), ("empty config", False)],
                True,
            ),
        ]
        detail = f"Created on {', '.join(self.cluster.headnode_names)}."

        async def create(values: dict[str, Any]) -> bool:
            name = values["name"]
            if done := await self._do(
                lambda: self.service.create(
                    state, name, values["description"], initd=bool(values["initd"])
                ),
                f"Config {name} created",
            ):
                self.action_reload(name)  # the cursor on the new config, to open it
            return done

        form = FormDialog("New root-fs config", fields, detail=detail)
        await submit_until_accepted(self.app, form, create)

    @work(group="rootfs-action", exclusive=True)
    async def action_delete(self) -> None:
        if (name := self._selected()) is None:
            return
        state = self.state
        view = state.configs[name]
        detail = (
            f"{counted(view.files, 'file')}, {size_text(view.size)}, "
            f"on {', '.join(view.present) or '-'}.\n"
            f"Assigned to: {', '.join(view.images) or 'no image'}"
            + (" (the assignments are removed too)." if view.images else ".")
        )
        if await self.app.push_screen_wait(Confirm(f"Delete root-fs config '{name}'?", detail)):
            await self._do(lambda: self.service.delete(state, name), f"Config {name} deleted")
            self.action_reload()

    @work(group="rootfs-action", exclusive=True)
    async def action_describe(self) -> None:
        if (name := self._selected()) is None:
            return
        state = self.state
        field = Field.input("description", "Description", state.configs[name].description)

        async def describe(values: dict[str, Any]) -> bool:
            async def save() -> None:
                await off_loop(self.service.describe, state, name, values["description"])

            if done := await self._do(save, f"Description of {name} saved"):
                self.action_reload()
            return done

        await submit_until_accepted(
            self.app, FormDialog(f"Description of {name}", [field]), describe
        )

    @work(group="rootfs-action", exclusive=True)
    async def action_assign(self) -> None:
        if (name := self._selected()) is None:
            return
        state = self.state
        before = set(state.configs[name].images)
        field = Field.multi("images", "Images", state.images, sorted(before))

        async def assign(values: dict[str, Any]) -> bool:
            async def save() -> None:
                await off_loop(self.service.set_images, state, name, set(values["images"]))

            if done := await self._do(save, f"Images of {name} saved"):
                self.action_reload()
            return done

        await submit_until_accepted(self.app, FormDialog(f"Images using {name}", [field]), assign)

    @work(group="rootfs-action", exclusive=True)
    async def action_sync(self) -> None:
        if (name := self._selected()) is None:
            return
        state = self.state
        view = state.configs[name]
        if not view.present:
            self.notify(f"{name} exists on no head-node", severity="warning")
            return
        options = [(f"{n} (make the others like {n})", n) for n in view.present]
        field = Field.select("source", "Sync from", options, view.present[0])
        detail = f"Head-nodes: {view.status}"

        async def sync(values: dict[str, Any]) -> bool:
            source = values["source"]
            try:
                lines = await self.service.sync_preview(state, name, source)
            except QlutuiError as exc:
                await self.app.push_screen_wait(ErrorDialog(str(exc), title="Refused"))
                return False
            title = f"Sync {name} from {source}: what changes"
            if not await self.app.push_screen_wait(
                DiffScreen(title, lines, confirm="Run the sync")
            ):
                return True
            try:
                job = await self.service.sync(state, name, source)
            except QlutuiError as exc:
                await self.app.push_screen_wait(ErrorDialog(str(exc), title="Refused"))
                return False
            self.notify(f"Sync of {name} started (job {job.id})")
            await job.wait()
            self.notify(f"Sync of {name}: {job.record.state}")
            self.action_reload()
            return True

        await submit_until_accepted(
            self.app, FormDialog(f"Sync {name}", [field], detail=detail), sync
        )


class FileTree(FoldTree[Entry]):
    """The files of a config."""


def _label(entry: Entry) -> Text:
    if entry.kind == "dir":
        return Text(entry.name + "/", style="bold")
    if entry.kind == "link":
        return Text(f"{entry.name} -> {entry.digest}", style="italic")
    executable = "*" if entry.mode & 0o111 else ""
    return Text(f"{entry.name}{executable}  ({entry.mode:04o}, {size_text(entry.size)})")


class ConfigScreen(_Actions):
    TITLE = "Root FS config"
    DEFAULT_CSS = """
    #config-tree { height: 1fr; }
    #config-info { padding: 0 1; height: 1; }
    #config-status { padding: 0 1; color: $text-muted; height: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        # the key bar shows the first that fit at 80 columns: the config's own work first
        Binding("e", "edit", "Edit", id="rootfs.edit"),
        Binding("x", "toggle_exec", "Exec bit", id="rootfs.exec"),
        Binding("b", "boot_order", "Boot order", id="rootfs.boot_order"),
        Binding("p", "preview", "Node gets", id="rootfs.preview"),
        Binding("n", "new_file", "New file", id="rootfs.new_file"),
        Binding("d", "delete", "Delete", id="rootfs.delete_path"),
        Binding("m", "mkdir", "Mkdir", id="rootfs.mkdir"),
        Binding("r", "rename", "Rename", id="rootfs.rename"),
        Binding("i", "import_file", "Import", id="rootfs.import"),
        Binding("ctrl+r", "reload", "Reload", id="rootfs.reload_files"),
    ]

    def __init__(self, service: RootfsService, name: str) -> None:
        super().__init__()
        self.service = service
        self.config_name = name
        self.expanded: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Static(f"qlutui - Root FS config {self.config_name}", classes="title-bar")
        tree = FileTree(f"{self.config_name}/", Entry("", "dir", 0o755, 0), id="config-tree")
        tree.auto_expand = True  # enter opens a directory, or edits a file
        yield tree
        yield Static(id="config-info", markup=False)
        yield Static(
            "Changes go to every head-node: " + ", ".join(self.service.cluster.headnode_names),
            id="config-status",
            markup=False,
        )
        yield KeysFooter()

    @property
    def tree(self) -> FileTree:
        return self.query_one(FileTree)

    def on_mount(self) -> None:
        self.tree.focus()
        self.action_reload()

    # -- the lazy tree -------------------------------------------------------------------

    @work(group="config-load", exclusive=True)
    async def action_reload(self, focus: str | None = None) -> None:
        tree = self.tree
        current = tree.cursor_node.data.path if tree.cursor_node and tree.cursor_node.data else ""
        try:
            nodes = {"": tree.root}
            await self._fill(tree.root, nodes)
        except (QlutuiError, FileNotFoundError) as exc:
            self.query_one("#config-info", Static).update(f"Cannot read: {exc}")
            return
        tree.root.expand()
        tree.last_line  # noqa: B018 (builds the tree lines so the cursor can be placed)
        want = nodes.get(focus if focus is not None else current) or tree.root
        tree.move_cursor(want)
        self._info()

    async def _fill(self, node: TreeNode[Entry], nodes: dict[str, TreeNode[Entry]]) -> None:
        """(Re)build a directory's children; directories that were open are filled too."""
        assert node.data is not None
        entries = await self.service.list_dir(self.config_name, node.data.path)
        node.remove_children()
        for entry in entries:
            child = node.add(_label(entry), entry, allow_expand=entry.kind == "dir")
            nodes[entry.path] = child
            if entry.kind == "dir" and entry.path in self.expanded:
                await self._fill(child, nodes)
                child.expand()

    @on(Tree.NodeExpanded, "#config-tree")
    async def _expanded(self, event: Tree.NodeExpanded[Entry]) -> None:
        entry = event.node.data
        if entry is None or not entry.path:
            return
        self.expanded.add(entry.path)
        if not event.node.children:  # filled already when it was re-opened by a reload
            self._load_dir(event.node)

    @on(Tree.NodeCollapsed, "#config-tree")
    def _collapsed(self, event: Tree.NodeCollapsed[Entry]) -> None:
        if event.node.data is not None:
            self.expanded.discard(event.node.data.path)

    @work(group="config-load")
    async def _load_dir(self, node: TreeNode[Entry]) -> None:
        try:
            await self._fill(node, {})
        except (QlutuiError, FileNotFoundError) as exc:
            self.notify(str(exc), severity="error")

    @on(Tree.NodeHighlighted, "#config-tree")
    def _info(self) -> None:
        entry = self._entry()
        text = ""
        if entry is not None and entry.path:
            size = "" if entry.kind == "dir" else f"{size_text(entry.size)}  "
            text = (
                f"{mode_text(entry.kind, entry.mode)} {entry.mode:04o}  {size}node: /{entry.path}"
            )
        elif entry is not None:
            text = f"The config directory {self.service.config_dir(self.config_name)}"
        self.query_one("#config-info", Static).update(text)

    @on(Tree.NodeSelected, "#config-tree")
    def _selected(self, event: Tree.NodeSelected[Entry]) -> None:
        if event.node.data is not None and event.node.data.kind == "file":
            self.action_edit()

    def _entry(self) -> Entry | None:
        node = self.tree.cursor_node
        return node.data if node is not None else None

    def _directory(self) -> str:
        """Where new things go: the selected directory, or the selected file's directory."""
        entry = self._entry()
        if entry is None or not entry.path:
            return ""
        return entry.path if entry.kind == "dir" else entry.path.rpartition("/")[0]

    def _target(self) -> Entry | None:
        entry = self._entry()
        if entry is None or not entry.path:
            self.notify("Select a file or directory inside the config", severity="warning")
            return None
        return entry

    # -- actions -------------------------------------------------------------------------

    async def _with_path(
        self,
        title: str,
        value: str,
        act: Callable[[str], Awaitable[bool]],
        label: str = "Path",
        *,
        extend: bool = True,
    ) -> None:
        """A path from a form, given to `act` (False: refused, the form again); `extend`:
        `value` is the directory the new path goes in."""
        field = Field.input("path", label, value, validate=_path_problem, extend=extend)
        await submit_until_accepted(
            self.app, FormDialog(title, [field]), lambda v: act(normalize_relpath(v["path"]))
        )

    @work(group="config-action", exclusive=True)
    async def action_edit(self) -> None:
        entry = self._target()
        if entry is None:
            return
        if entry.kind != "file":
            self.notify(
                f"{entry.path} is a {entry.kind}: only files are edited", severity="warning"
            )
            return
        await self._edit(entry)

    async def _edit(self, entry: Entry) -> None:
        try:
            opened = await self.service.open_file(self.config_name, entry.path)
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(str(exc)))
            return
        if _text(opened) is None:
            self.notify(f"{entry.path} is not a text file", severity="warning")
            return
        if diverged := opened.diverged():
            self.notify(
                f"{', '.join(diverged)} has another copy; shown: {opened.source}'s",
                severity="warning",
                timeout=10,
            )
        if missing := opened.missing():
            self.notify(f"{', '.join(missing)} has no copy: saving writes it there too")
        if await self.app.push_screen_wait(EditScreen(self.service, opened, entry.mode)):
            self.action_reload(entry.path)

    @work(group="config-action", exclusive=True)
    async def action_new_file(self) -> None:
        """An empty file (in init.d executable: a boot script), selected in the tree and
        opened in the editor, as it is made to be written."""
        directory = self._directory()
        created: list[Entry] = []

        async def create(path: str) -> bool:
            mode = new_file_mode(path)

            async def write() -> Outcome:
                outcome = await self.service.write_file(self.config_name, path, b"", expect="")
                created.append(Entry(path, "file", mode, 0))
                return outcome

            boot = ", executable: a boot script" if mode & 0o111 else ""
            return await self._do(write, f"File {path} created ({mode:04o}{boot})")

        await self._with_path("New file", f"{directory}/" if directory else "", create)
        if created:
            self._show(created[0].path)
            await self._edit(created[0])

    def _show(self, path: str) -> None:
        """Reload with `path` selected, every directory above it open."""
        parts = path.split("/")
        self.expanded.update("/".join(parts[:i]) for i in range(1, len(parts)))
        self.action_reload(path)

    @work(group="config-action", exclusive=True)
    async def action_mkdir(self) -> None:
        directory = self._directory()

        async def create(path: str) -> bool:
            if done := await self._do(
                lambda: self.service.mkdir(self.config_name, path), f"Directory {path} created"
            ):
                self._show(path)
            return done

        await self._with_path("New directory", f"{directory}/" if directory else "", create)

    @work(group="config-action", exclusive=True)
    async def action_delete(self) -> None:
        entry = self._target()
        if entry is None:
            return
        what = {
            "link": "the link (not what it points at)",
            "dir": "the directory and everything in it",
        }.get(entry.kind, "the file")
        detail = f"Removes {what} on every head-node."
        if await self.app.push_screen_wait(Confirm(f"Delete '{entry.path}'?", detail)):
            await self._do(
                lambda: self.service.remove(self.config_name, entry.path), f"{entry.path} deleted"
            )
            self.action_reload(entry.path.rpartition("/")[0])

    @work(group="config-action", exclusive=True)
    async def action_rename(self) -> None:
        entry = self._target()
        if entry is None:
            return

        async def rename(path: str) -> bool:
            if path == entry.path:
                return True
            if done := await self._do(
                lambda: self.service.rename(self.config_name, entry.path, path),
                f"{entry.path} renamed to {path}",
            ):
                self._show(path)
            return done

        title = f"Rename {entry.path}"
        await self._with_path(title, entry.path, rename, "New path", extend=False)

    @work(group="config-action", exclusive=True)
    async def action_toggle_exec(self) -> None:
        entry = self._target()
        if entry is None:
            return

        async def toggle() -> Outcome:
            return (await self.service.toggle_executable(self.config_name, entry.path))[1]

        if await self._do(toggle, f"Executable bit of {entry.path} toggled"):
            self.action_reload(entry.path)

    @work(group="config-action", exclusive=True)
    async def action_import_file(self) -> None:
        directory = self._directory()
        fields = [
            Field.input(
                "source",
                "Head-node file",
                "/",
                help="The file's absolute path on the head-node",
                extend=True,
            ),
            Field.input(
                "path",
                "Path",
                f"{directory}/" if directory else "",
                validate=_path_problem,
                extend=True,
            ),
        ]

        async def import_file(values: dict[str, Any]) -> bool:
            path = normalize_relpath(values["path"])
            if done := await self._do(
                lambda: self.service.import_file(self.config_name, path, values["source"]),
                f"{values['source']} imported as {path}",
            ):
                self._show(path)
            return done

        await submit_until_accepted(self.app, FormDialog("Import a file", fields), import_file)

    @work(group="config-action", exclusive=True)
    async def action_boot_order(self) -> None:
        try:
            scripts = await self.service.scripts(self.config_name)
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(str(exc)))
            return
        lines: list[Line] = [f"Scripts in {INITD}/, in the order run-parts runs them:", ""]
        for script in scripts:
            place = f"{script.position:>2}." if script.position else " -"
            lines.append(f"{place} {script.mode:04o} {script.name}")
            reasons = [("will not run", problem) for problem in script.problems]
            reasons += [("runs and fails", script.fails)] if script.fails else []
            # a reason continues under itself, not under its label
            lines += [(f"      {label}: {reason}", len(label) + 2) for label, reason in reasons]
        if not scripts:
            lines.append(f"(no {INITD}/ or no scripts in it)")
        self.app.push_screen(ReportScreen(f"Boot order of {self.config_name}", lines))

    def action_preview(self) -> None:
        self._preview()

    @work(group="config-action", exclusive=True)
    async def _preview(self) -> None:
        try:
            state = await self.service.load()
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(str(exc)))
            return
        files = self.service.node_files(state, self.config_name)
        lines: list[Line] = ["What a node gets (mode, size, destination):", ""]
        for f in files:
            target = f" -> {f.target}" if f.target else ""
            lines.append(f"{f.mode:04o} {size_text(f.size):>9}  {f.destination}{target}")
            if note := f.note(self.config_name):
                lines.append((f"  ! {note}", 4))
        self.app.push_screen(ReportScreen(f"{self.config_name} on the node", lines))


def _text(opened: OpenedFile) -> str | None:
    """The file as text for the editor; None for binary content."""
    try:
        text = opened.data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\0" in text else text


class EditScreen(Screen[bool]):
    """A text file of a config in a TextArea; ctrl+s saves it atomically on every head-node,
    unless a head-node's copy is not the one the editor showed (changed on disk since it was
    opened, or different from the start): then the conflict dialog offers diff, overwrite,
    reload."""

    DEFAULT_CSS = """
    #edit-area { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="rootfs.save", priority=True),
        Binding("escape", "close", "Close", id="rootfs.close", priority=True),
    ]

    def __init__(self, service: RootfsService, opened: OpenedFile, mode: int) -> None:
        super().__init__()
        self.service = service
        self.opened = opened
        self.mode = mode
        self.saved_text = _text(opened) or ""
        self.saved = False
        self.title = f"edit {opened.name}/{opened.path} ({mode:04o})"

    def compose(self) -> ComposeResult:
        yield Static(
            f"qlutui - {self.title}",
            classes="title-bar",
            markup=False,
        )
        yield TextArea(
            self.saved_text, id="edit-area", soft_wrap=False, show_line_numbers=True, compact=True
        )
        yield KeysFooter()

    @property
    def area(self) -> TextArea:
        return self.query_one("#edit-area", TextArea)

    def on_mount(self) -> None:
        self.area.focus()

    @work(group="rootfs-edit", exclusive=True)
    async def action_save(self) -> None:
        try:
            await self._save()
        finally:
            if not closed(self):
                self.area.focus()  # back to typing after any dialog

    async def _save(self) -> None:
        text = self.area.text
        data, force = text.encode(), False
        while True:
            try:
                outcome = await self.service.save_file(self.opened, data, force=force)
                break
            except FileConflict as conflict:
                choice = await self.app.push_screen_wait(ConflictDialog(conflict))
                if choice == "diff":
                    lines = await self._diff(data, conflict)
                    await self.app.push_screen_wait(DiffScreen(f"{conflict.what}: copies", lines))
                elif choice == "overwrite":
                    force = True
                elif choice == "reload":
                    await self._reload()
                    return
                else:
                    return
            except QlutuiError as exc:
                await self.app.push_screen_wait(ErrorDialog(str(exc)))
                return
        self.opened = self.opened.saved(data, outcome)
        self.saved_text, self.saved = text, True
        summary = outcome.summary(f"Saved {self.opened.path}")
        self.notify(summary, severity="warning" if outcome.failed else "information")

    async def _diff(self, data: bytes, conflict: FileConflict) -> list[str]:
        try:
            return await self.service.conflict_diff(self.opened, data, conflict)
        except QlutuiError as exc:
            return [f"cannot read a copy: {exc}"]

    async def _reload(self) -> None:
        """The head-nodes' copy replaces the editor's text (what was typed is dropped)."""
        try:
            opened = await self.service.open_file(self.opened.name, self.opened.path)
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(str(exc)))
            return
        text = _text(opened)
        if text is None:
            self.notify(f"{opened.path} is not a text file any more", severity="warning")
            return
        self.opened, self.saved_text = opened, text
        self.area.load_text(text)
        self.notify(f"Reloaded {opened.path} from {opened.source}")

    @work(group="rootfs-edit", exclusive=True)
    async def action_close(self) -> None:
        if self.area.text != self.saved_text and not await self.app.push_screen_wait(
            Confirm("Discard the unsaved changes?", f"{self.opened.name}/{self.opened.path}")
        ):
            return
        self.dismiss(self.saved)


class ConflictDialog(ModalScreen[str]):
    """A head-node's copy is not the one the editor showed: diff, overwrite, reload or
    cancel (returns "diff", "overwrite", "reload" or "")."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "choose('diff')", "Diff", id="conflict.diff"),
        Binding("o", "choose('overwrite')", "Overwrite", id="conflict.overwrite"),
        Binding("r", "choose('reload')", "Reload", id="conflict.reload"),
        Binding("escape", "choose('')", "Cancel", id="conflict.cancel"),
    ]

    def __init__(self, conflict: FileConflict) -> None:
        super().__init__()
        self.conflict = conflict

    def compose(self) -> ComposeResult:
        found = ", ".join(
            f"{node}: {digest[:12] if digest else 'absent'}"
            for node, digest in self.conflict.copies.items()
        )
        with Vertical(id="dialog"):
            yield Static(
                f"{self.conflict.what} is not what the editor opened on every head-node.",
                classes="question",
                markup=False,
            )
            yield Static(
                f"Copies now: {found}\nd: see the diff, o: overwrite them all with the"
                " editor's text, r: reload (drops your changes), escape: back to editing",
                classes="detail",
                markup=False,
            )
            with Horizontal(classes="buttons"):
                for key, label in (
                    ("diff", "Diff"),
                    ("overwrite", "Overwrite"),
                    ("reload", "Reload"),
                ):
                    yield Button(label, id=key, compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#dialog").border_title = "Conflict"

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss("" if event.button.id == "cancel" else str(event.button.id))


class DiffScreen(Screen[bool]):
    """A content diff (scrollable); with `confirm`, y runs what it shows (True), escape
    does not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Run", id="diff.run"),
        Binding("escape", "answer(False)", "Back", id="diff.back"),
    ]

    def __init__(self, title: str, lines: list[str], confirm: str = "") -> None:
        super().__init__()
        self.title = title  # the help's title too
        self.lines = lines
        self.confirm = confirm

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return bool(self.confirm) or action != "answer" or parameters != (True,)

    def compose(self) -> ComposeResult:
        yield Static(f"qlutui - {self.title}", classes="title-bar", markup=False)
        yield FileView()
        yield KeysFooter()

    def on_mount(self) -> None:
        view = self.query_one(FileView)
        caption = "y: " + self.confirm + ", escape: cancel" if self.confirm else "escape: back"
        view.show_text(caption, "\n".join(self.lines) + "\n")
        view.query_one(TextArea).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ReportScreen(Screen):
    """A read-only list (boot order, node preview); escape goes back."""

    DEFAULT_CSS = """
    #report { height: 1fr; padding: 0 1; }
    """

    def __init__(self, title: str, lines: list[Line]) -> None:
        super().__init__()
        self.title = title  # the help's title too
        self.lines = lines

    def on_mount(self) -> None:
        self.query_one("#report").focus()

    def compose(self) -> ComposeResult:
        yield Static(f"qlutui - {self.title}", classes="title-bar", markup=False)
        with VerticalScroll(id="report"):
            yield Static(Hanging(self.lines, hang=4), markup=False)
        yield KeysFooter()
