"""Qlustar OS Images: a tree of images (sorted by name) with their fields, modules, module
packages and hosts, and keys for every change.

Image children are built only when an image is expanded (and the module, package and host
lists only when those are expanded), so a cluster with hundreds of images moves and expands
instantly. Every decision is a call to `ImagesService`; changes run in a thread and the tree
is rebuilt from the state they return, keeping expansions and the cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static, Tree
from textual.widgets.tree import TreeNode

from qlutui.backend.images import ImagesService, ImagesState
from qlutui.errors import ConflictError, QlutuiError
from qlutui.model.images import CORE
from qlutui.model.names import counted, name_problem
from qlutui.model.noderange import folded
from qlutui.model.versions import describe, parse_version
from qlutui.widgets.blocking import off_loop
from qlutui.widgets.dialogs import (
    Confirm,
    ErrorDialog,
    Field,
    FormDialog,
    submit_until_accepted,
)
from qlutui.widgets.filter_input import FilterInput
from qlutui.widgets.footer import KeysFooter
from qlutui.widgets.help import FIELD_HELP
from qlutui.widgets.lists import FoldTree
from qlutui.widgets.state_watch import WatchedScreen, conflict_text

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster

HOSTS_FOLDED = 50  # characters of the folded host list beside "Hosts: N"
LAZY = ("image", "modules", "packages", "hosts")  # nodes whose children are built on expand


@dataclass(frozen=True)
class Ref:
    """What a tree node stands for: an image, one of its fields, or an item of a list."""

    image: str
    kind: str  # image | flavour | version | chroot | modules | module | packages | package
    # | postinst | description | rootfs | hosts | host | warning
    item: str = ""


def _chroot_choices(state: ImagesState) -> list[tuple[str, str]]:
    """Every chroot for the drop-downs, its state named unless ready: a failed or unfinished
    build has no tree to give the image's nodes."""
    choices = []
    for c in state.chroots.values():
        note = "" if c.state == "ready" else f", {c.state}"
        choices.append((f"{c.name} ({c.flavour} {c.version}{note})", c.name))
    return choices


class ImageTree(FoldTree[Ref]):
    """The images tree."""

    # Builds a lazy node's children (set by the screen).
    fill_lazy: Callable[[TreeNode[Ref]], None] | None = None

    def action_toggle_node(self) -> None:
        """Children are built before the node expands: the tree lines are then rebuilt and laid
        out once, not once for the expand and again when the children arrive."""
        node = self.cursor_node
        if node is not None and not node.is_expanded and self.fill_lazy is not None:
            self.fill_lazy(node)
        super().action_toggle_node()

    def get_label_width(self, node: TreeNode[Ref]) -> int:
        """What `render_label` would measure, without rendering: Tree measures every line on
        each rebuild (every expand or collapse), ~30 us a line that way."""
        icon = ""
        if node.allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        return cell_len(icon) + node.label.cell_len


class ImagesScreen(WatchedScreen):
    TITLE = "Qlustar Images"
    DEFAULT_CSS = """
    #images-filter { margin: 0 1; }
    #images-tree { height: 1fr; }
    #images-info { display: none; max-height: 7; padding: 0 1; overflow-y: auto; }
    #images-info.-shown { display: block; }
    #images-status { padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_image", "New", id="images.new"),
        Binding("r", "rename", "Rename", id="images.rename"),
        Binding("d", "delete", "Delete", id="images.delete"),
        Binding("a", "add_module", "Add module", id="images.add_module"),
        Binding("x", "remove_module", "Remove module", id="images.remove_module"),
        Binding("f", "edit('flavour')", "Flavour", id="images.flavour"),
        Binding("v", "edit('version')", "Version", id="images.version"),
        Binding("c", "edit('chroot')", "Chroot", id="images.chroot"),
        Binding("p", "edit('postinst')", "Postinst", id="images.postinst"),
        Binding("e", "edit('description')", "Description", id="images.description"),
        Binding("o", "edit('rootfs')", "Root FS", id="images.rootfs"),
        Binding("u", "upgrade_preview", "Upgrade preview", id="images.upgrade"),
        Binding("slash", "filter", "Filter", id="images.filter"),
        Binding("ctrl+r", "reload", "Reload", id="images.reload"),
    ]
    WATCHED = ("images", "inventory", "chroots", "rootfs", "catalog")

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.store)
        self.service = ImagesService(cluster)
        self.state: ImagesState | None = None
        self.expanded: set[Ref] = set()
        self.flagged: dict[str, bool] = {}  # image name -> has warnings, for this state
        self.preview: str | None = None  # the release of the upgrade preview shown

    def compose(self) -> ComposeResult:
        yield Static("qlutui - Qlustar Images", classes="title-bar")
        yield FilterInput(
            rows="images-tree", placeholder="/ filter images by name", id="images-filter"
        )
        tree = ImageTree("Images", id="images-tree")
        tree.show_root = False
        tree.auto_expand = False  # enter edits a field; space expands
        tree.fill_lazy = self._fill_lazy
        yield tree
        yield Static(id="images-info", markup=False)
        yield Static("Loading the images ...", id="images-status", markup=False)
        yield KeysFooter()

    @property
    def tree(self) -> ImageTree:
        return self.query_one(ImageTree)

    def on_mount(self) -> None:
        self.tree.focus()
        self.action_reload()

    # -- loading and the tree ----------------------------------------------------------

    @work(group="images-load", exclusive=True)
    async def action_reload(self) -> None:
        self.files.mark()
        try:
            state = await self.service.load()
        except QlutuiError as exc:
            self.query_one("#images-status", Static).update(f"Cannot load: {exc}")
            return
        self._show(state)

    def _show(self, state: ImagesState, focus: Ref | None = None) -> None:
        """Rebuild the tree from `state`, keeping expansions and the cursor (or `focus`)."""
        if state is not self.state:
            self.flagged = {}
        self.state = state
        tree = self.tree
        current = tree.cursor_node.data if tree.cursor_node else None
        needle = self.query_one("#images-filter", Input).value.strip().lower()
        names = [n for n in state.images if needle in n.lower()]
        tree.clear()
        self.expanded = {r for r in self.expanded if r.image in state.images}
        nodes: dict[Ref, TreeNode[Ref]] = {}
        for name in names:
            node = tree.root.add(self._image_label(name), Ref(name, "image"))
            nodes[node.data] = node
            if node.data in self.expanded:
                self._fill(node, nodes)
                node.expand()
        tree.last_line  # noqa: B018 (builds the tree lines so the cursor can be placed)
        want = focus or current
        target = (nodes.get(want) or nodes.get(Ref(want.image, "image"))) if want else None
        if target is not None:
            tree.move_cursor(target)
        elif names:
            tree.move_cursor_to_line(0)
        shown = counted(len(state.images), "image")
        shown = f"{len(names)} of {shown}" if needle else shown
        self.query_one("#images-status", Static).update(
            f"{shown} | catalog: {state.catalog_source}"
        )
        self._show_preview()  # of this state: never one naming an image renamed or deleted

    def _image_label(self, name: str) -> Text:
        assert self.state is not None
        if name not in self.flagged:  # kept per state: filtering re-labels every image
            self.flagged[name] = bool(self.service.warnings(self.state, name))
        flagged = " (!)" if self.flagged[name] else ""
        return Text(name + flagged, style="bold" if not flagged else "bold yellow")

    def _text(self, text: str) -> Text:
        return Text(text.replace("→", "->") if getattr(self.app, "serial", False) else text)

    def _fill(self, node: TreeNode[Ref], nodes: dict[Ref, TreeNode[Ref]] | None = None) -> None:
        """Build the children of a lazy node; while rebuilding (`nodes` collects every node
        made) the lists the user had open are opened again."""
        assert self.state is not None and node.data is not None
        state, ref, service = self.state, node.data, self.service
        image = state.image(ref.image)

        def add(label: str, kind: str, item: str = "", lazy: bool = False) -> None:
            child_ref = Ref(image.name, kind, item)
            child = node.add(self._text(label), child_ref, allow_expand=lazy)
            if nodes is not None:
                nodes[child_ref] = child
                if lazy and child_ref in self.expanded:
                    self._fill(child, nodes)
                    child.expand()

        if ref.kind == "image":
            mismatch = service.chroot_mismatch(state, image.flavour, image.chroot)
            hosts = service.hosts_using(state, image.name)
            for warning in service.warnings(state, image.name):
                add(f"! {warning}", "warning", warning)
            add(f"Flavour: {image.flavour}", "flavour")
            add(f"Version: {service.version_text(state, image)}", "version")
            marker = " (!) flavour differs" if mismatch else ""
            add(f"UnionFS Chroot: {image.chroot or '<None>'}{marker}", "chroot")
            add(f"Modules: {', '.join(image.modules)}", "modules", lazy=True)
            add(f"Packages: {len(service.packages(state, image.name))}", "packages", lazy=True)
            add(f"Postinst: {image.postinst}", "postinst")
            add(f"Description: {image.description}", "description")
            add(f"Root FS configs: {', '.join(image.rootfs) or '-'}", "rootfs")
            names = folded(hosts, HOSTS_FOLDED)
            add(f"Hosts: {len(hosts)}  {names}".rstrip(), "hosts", lazy=bool(hosts))
        elif ref.kind == "modules":
            unknown = set(service.unknown_modules(state, image.name))
            for module in image.modules:
                note = " (always present)" if module == CORE else ""
                note += " (!) not offered for this flavour and release" if module in unknown else ""
                add(module + note, "module", module)
        elif ref.kind == "packages":
            packages = service.packages(state, image.name)
            for package in packages or ["(the version resolves to no release)"]:
                add(package, "package", package)
        elif ref.kind == "hosts":
            for host in service.hosts_using(state, image.name):
                add(host, "host", host)

    def _fill_lazy(self, node: TreeNode[Ref]) -> None:
        if node.data is not None and node.data.kind in LAZY and not node.children:
            self._fill(node)

    @on(Tree.NodeExpanded)
    def _expanded(self, event: Tree.NodeExpanded[Ref]) -> None:
        ref = event.node.data
        if ref is None or ref.kind not in LAZY:
            return
        self.expanded.add(ref)
        self._fill_lazy(event.node)

    @on(Tree.NodeCollapsed)
    def _collapsed(self, event: Tree.NodeCollapsed[Ref]) -> None:
        self.expanded.discard(event.node.data)

    @on(Tree.NodeSelected)
    def _selected(self, event: Tree.NodeSelected[Ref]) -> None:
        """Enter on a field edits it; on a list or an image it opens/closes the node."""
        ref = event.node.data
        if ref is not None and ref.kind in EDITABLE:
            self.action_edit(ref.kind)
        else:
            event.node.toggle()

    # -- filter ------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterInput).start()

    @on(Input.Changed, "#images-filter")
    def _filter_changed(self) -> None:
        if self.state is not None:
            self._show(self.state)

    # -- actions -----------------------------------------------------------------------

    def _current(self) -> Ref | None:
        node = self.tree.cursor_node
        if self.state is None or node is None or node.data is None:
            self.notify("Choose an image first (or n for a new one)", severity="warning")
            return None
        return node.data

    async def _apply(
        self, change: Callable[[ImagesState], ImagesState], done: str, focus: Ref | None = None
    ) -> bool:
        """Run a change off the event loop, then show the state it returns. False when the
        service refused it (shown): a form it came from opens again, as it was filled."""
        assert self.state is not None
        try:
            state = await off_loop(change, self.state)
        except ConflictError as exc:
            self.notify(conflict_text(exc), severity="error", timeout=8)
            self.action_reload()
            return True
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(str(exc), title="Refused"))
            return False
        self.files.mark({"images": state.token})  # the files as this change left them
        self._show(state, focus)
        self.notify(done)
        return True

    async def _confirm_chroot(self, flavour: str, chroot: str) -> bool | None:
        """True when the chroot needs the flavour confirmation and got it; None = declined."""
        assert self.state is not None
        mismatch = self.service.chroot_mismatch(self.state, flavour, chroot)
        if not mismatch:
            return False
        question = f"Use chroot '{chroot}' anyway?"
        ok = await self.app.push_screen_wait(Confirm(question, detail=f"The {mismatch}."))
        return True if ok else None

    def _flavour_fields(self, flavour: str, version: str) -> list[Field]:
        assert self.state is not None
        versions = self.service.version_choices(self.state)
        return [
            Field.select("flavour", "Flavour", self.state.catalog.flavours(), flavour),
            Field.select("version", "Version", versions, version if version in versions else None),
        ]

    def _version_check(self, values: dict) -> str | None:
        assert self.state is not None
        return self.service.version_problem(self.state, values["flavour"], values["version"])

    @work(group="images-action", exclusive=True)
    async def action_new_image(self) -> None:
        if self.state is None:
            return
        state, service = self.state, self.service
        flavours = state.catalog.flavours()
        if not flavours:  # an empty catalog.toml: a form without a flavour cannot be filled
            path = self.service.store.path("catalog")
            await self.app.push_screen_wait(
                ErrorDialog(f"No flavour to build an image of: {path} defines none", title="New")
            )
            return
        flavour = flavours[-1]
        chroots = _chroot_choices(state)
        fields = [
            Field.input("name", "Image name", validate=lambda v: service.name_problem(state, v)),
            *self._flavour_fields(flavour, service.default_version(state, flavour)),
            Field.select("chroot", "UnionFS chroot", chroots, allow_none=True),
            Field.input("postinst", "Postinst", validate=lambda v: v and name_problem(v)),
            Field.input("description", "Description"),
        ]

        async def create(values: dict[str, Any]) -> bool:
            chroot = values["chroot"] or ""
            force = await self._confirm_chroot(values["flavour"], chroot)
            if force is None:  # declined: back to the form as it was filled
                return False
            name = values["name"]
            return await self._apply(
                lambda s: service.create(
                    s,
                    name,
                    flavour=values["flavour"],
                    version=values["version"],
                    chroot=chroot,
                    postinst=values["postinst"],
                    description=values["description"],
                    force=force,
                ),
                f"Image {name} created",
                Ref(name, "image"),
            )

        form = FormDialog("New image", fields, validate=self._version_check)
        await submit_until_accepted(self.app, form, create)

    @work(group="images-action", exclusive=True)
    async def action_rename(self) -> None:
        if not (ref := self._current()):
            return
        state, old = self.state, ref.image
        hosts = len(self.service.hosts_using(state, old))
        field = Field.input(
            "name", "New name", old, validate=lambda v: self.service.name_problem(state, v, old)
        )
        detail = (
            f"The hosts using it ({counted(hosts, 'host')}) follow the new name." if hosts else ""
        )

        async def rename(values: dict[str, Any]) -> bool:
            new = values["name"]
            return await self._apply(
                lambda s: self.service.rename(s, old, new),
                f"Image {old} renamed to {new}",
                Ref(new, "image"),
            )

        form = FormDialog(f"Rename image {old}", [field], detail=detail)
        await submit_until_accepted(self.app, form, rename)

    @work(group="images-action", exclusive=True)
    async def action_delete(self) -> None:
        if not (ref := self._current()):
            return
        try:
            self.service.check_delete(self.state, ref.image)
        except QlutuiError as exc:
            await self.app.push_screen_wait(ErrorDialog(str(exc), title="Refused"))
            return
        if await self.app.push_screen_wait(Confirm(f"Really delete image '{ref.image}'?")):
            await self._apply(
                lambda s: self.service.delete(s, ref.image), f"Image {ref.image} deleted"
            )

    @work(group="images-action", exclusive=True)
    async def action_add_module(self) -> None:
        if not (ref := self._current()):
            return
        addable = self.service.addable_modules(self.state, ref.image)
        if not addable:
            self.notify(f"No module left to add to {ref.image}", severity="warning")
            return
        field = Field.select("module", "Module", addable)

        async def add(values: dict[str, Any]) -> bool:
            module = values["module"]
            return await self._apply(
                lambda s: self.service.add_module(s, ref.image, module),
                f"Module {module} added to {ref.image}",
                Ref(ref.image, "module", module),
            )

        await submit_until_accepted(
            self.app, FormDialog(f"Add module to {ref.image}", [field]), add
        )

    @work(group="images-action", exclusive=True)
    async def action_remove_module(self) -> None:
        if not (ref := self._current()):
            return

        async def remove(module: str) -> bool:
            return await self._apply(
                lambda s: self.service.remove_module(s, ref.image, module),
                f"Module {module} removed from {ref.image}",
                Ref(ref.image, "modules"),
            )

        if ref.kind == "module":
            await remove(ref.item)
            return
        removable = self.service.removable_modules(self.state, ref.image)
        if not removable:
            self.notify(f"{ref.image} has only core, which stays", severity="warning")
            return
        field = Field.select("module", "Module", removable)
        form = FormDialog(f"Remove module from {ref.image}", [field])
        await submit_until_accepted(self.app, form, lambda values: remove(values["module"]))

    @work(group="images-action", exclusive=True)
    async def action_edit(self, kind: str) -> None:
        if not (ref := self._current()):
            return
        state, image = self.state, self.state.image(ref.image)

        async def save(values: dict[str, Any]) -> bool:
            changes = {**values, "chroot": values["chroot"] or ""} if kind == "chroot" else values
            force: bool | None = False
            if kind in ("flavour", "chroot"):
                chroot = changes.get("chroot", image.chroot)
                force = await self._confirm_chroot(changes.get("flavour", image.flavour), chroot)
            if force is None:  # declined: back to the form as it was filled
                return False
            return await self._apply(
                lambda s: self.service.update(s, image.name, force=force, **changes),
                f"Image {image.name}: {', '.join(changes)} saved",
                Ref(image.name, kind),
            )

        await submit_until_accepted(self.app, self._edit_form(kind, state, image.name), save)

    def _edit_form(self, kind: str, state: ImagesState, name: str) -> FormDialog:
        image = state.image(name)
        title = f"{EDITABLE[kind]} of {name}"
        if kind == "flavour":
            fields = self._flavour_fields(image.flavour, image.version)
            return FormDialog(title, fields, validate=self._version_check)
        if kind == "version":
            releases = state.catalog.releases(image.flavour)
            options = [
                (self._text(describe(parse_version(v), releases)).plain, v)
                for v in self.service.version_choices(state, image.flavour)
            ]
            current = image.version if any(v == image.version for _, v in options) else None
            detail = f"Now: {self._text(self.service.version_text(state, image)).plain}"
            field = Field.select("version", "Version", options, current)
            return FormDialog(title, [field], detail=detail)
        if kind == "chroot":
            field = Field.select(
                "chroot",
                "UnionFS chroot",
                _chroot_choices(state),
                image.chroot or None,
                allow_none=True,
            )
            return FormDialog(title, [field], detail=f"The image is {image.flavour}.")
        if kind == "rootfs":
            field = Field.multi("rootfs", "Root FS configs", state.rootfs_configs, image.rootfs)
            return FormDialog(title, [field])
        check = (lambda v: v and name_problem(v)) if kind == "postinst" else None
        help = FIELD_HELP[kind]  # the name is computed: its help is looked up, never blank
        field = Field.input(kind, EDITABLE[kind], getattr(image, kind), validate=check, help=help)
        return FormDialog(title, [field])

    @work(group="images-action", exclusive=True)
    async def action_upgrade_preview(self) -> None:
        if self.state is None:
            return
        field = Field.input("release", "New release", validate=_release_problem)
        values = await self.app.push_screen_wait(FormDialog("Upgrade preview", [field]))
        if values is None:
            return
        self.preview = values["release"]
        self._show_preview()

    def _show_preview(self) -> None:
        """The upgrade preview of `self.preview`, computed from the state shown."""
        if self.preview is None or self.state is None:
            return
        moves = self.service.upgrade_preview(self.state, self.preview)
        lines = [
            f"{m.image}: {m.before or 'none'} -> {m.after} (version {m.choice})" for m in moves
        ] or ["no image would move"]
        info = self.query_one("#images-info", Static)
        info.update("\n".join([f"If {self.preview} were added:", *lines]))
        info.add_class("-shown")

    def close_panel(self) -> bool:
        """Escape (`App.action_back`): closes the upgrade preview first; False when none is
        shown."""
        if self.preview is None:
            return False
        self.preview = None
        self.query_one("#images-info", Static).remove_class("-shown")
        return True


EDITABLE = {
    "flavour": "Flavour",
    "version": "Version",
    "chroot": "UnionFS chroot",
    "postinst": "Postinst",
    "description": "Description",
    "rootfs": "Root FS configs",
}


def _release_problem(text: str) -> str | None:
    try:
        version = parse_version(text)
    except QlutuiError as exc:
        return str(exc)
    return None if version.is_release else "a release is x.y.z"
