"""The Qlustar OS Images service: what the Images screen and `qlutui images` both call.

`load()` reads images.toml, chroots.toml, rootfs.toml, the hosts' image assignments and the
catalog into one immutable `ImagesState`. The catalog comes from the module packages
installed on the first head-node when there are any, else from catalog.toml. Every change
takes the state the user saw, checks the rules against it and saves through the store with
that state's token (ConflictError when someone else changed images.toml meanwhile); it
returns the new state. Queries are cheap per call (the screen calls them per tree node).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from qlutui.backend.chroots import ChrootsService
from qlutui.backend.cluster import Cluster
from qlutui.errors import ConfigError, InvalidInput, QlutuiError, Refused
from qlutui.model import images as rules
from qlutui.model.catalog import Catalog, parse_module_package
from qlutui.model.chroots import Chroot, chroots_from_dict
from qlutui.model.images import Image, images_from_dict
from qlutui.model.names import check_name, counted, name_problem, no_such, shown
from qlutui.model.noderange import folded
from qlutui.model.versions import (
    Move,
    choices,
    default_choice,
    describe,
    describe_token,
    parse_version,
    upgrade_preview,
)

# The module packages known to dpkg on a head-node, "<status> <name>" per line: a removed
# package whose config files remain is listed too, with status "config-files".
DPKG_QUERY = ["dpkg-query", "-W", "-f", "${db:Status-Status} ${Package}\n", "qlustar-module-*"]
CATALOG_TIMEOUT = 30.0


@dataclass(frozen=True)
class ImagesState:
    """Everything the dialog shows, as loaded; `token` is images.toml's."""

    images: dict[str, Image]  # sorted by name
    token: str
    catalog: Catalog
    catalog_source: str  # where releases and modules came from, in words
    chroots: dict[str, Chroot]
    rootfs_configs: list[str]
    users: dict[str, list[str]]  # image name -> hosts assigned to it (inventory order)
    # chroot name -> why its tree is not on its head-node, for the ready chroots images use
    trees: dict[str, str] = field(default_factory=dict)

    def image(self, name: str) -> Image:
        try:
            return self.images[name]
        except KeyError:
            raise InvalidInput(no_such("image", name)) from None


def hosts_text(hosts: list[str]) -> str:
    """A host list for a one-line message, folded as a node range (`beo-[01-48]`)."""
    return folded(hosts)


class ImagesService:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.chroots = ChrootsService(cluster)  # where the chroots' trees are asked

    # -- loading -----------------------------------------------------------------------

    async def load(self) -> ImagesState:
        # the head-node queries and the state files overlap: neither waits for the other
        (base, state, trees), (packages, source) = await asyncio.gather(
            self._files_and_trees(), self._module_packages()
        )
        catalog = Catalog.from_packages(packages, base) if packages else base
        return dataclasses.replace(state, catalog=catalog, catalog_source=source, trees=trees)

    async def _files_and_trees(self) -> tuple[Catalog, ImagesState, dict[str, str]]:
        base, state = await asyncio.to_thread(self.read_files)
        return base, state, await self.trees(state)

    async def trees(self, state: ImagesState) -> dict[str, str]:
        """What the head-nodes say of the trees of the ready chroots the images use (one
        stat each): by chroot name, why the tree is not there."""
        used = {image.chroot for image in state.images.values()}
        chroots = [c for name, c in state.chroots.items() if name in used]
        return await self.chroots.tree_problems_of(chroots)

    def read_files(self) -> tuple[Catalog, ImagesState]:
        snap = self.store.load("images")
        inventory = self.store.load("inventory")
        hosts = inventory.data.get("hosts", [])
        if not isinstance(hosts, list):
            raise ConfigError(f"{inventory.path}: hosts: must be a list of tables ([[hosts]])")
        users: dict[str, list[str]] = {}
        for host in hosts:  # only the assignments: no need to validate the whole inventory
            if isinstance(host, dict) and host.get("image"):
                users.setdefault(host["image"], []).append(str(host.get("name", "?")))
        base = self.cluster.catalog()
        state = ImagesState(
            images=images_from_dict(snap.data),
            token=snap.token,
            catalog=base,
            catalog_source="catalog.toml",
            chroots=chroots_from_dict(self.store.load("chroots").data),
            rootfs_configs=sorted(self.store.load("rootfs").data.get("configs", {})),
            users=users,
        )
        return base, state

    async def _module_packages(self) -> tuple[list[str], str]:
        """The qlustar-module packages on the first head-node, and where the catalog comes
        from: the head-node, or catalog.toml and why."""
        if not self.cluster.headnode_names:
            return [], "catalog.toml (no head-node configured)"
        name = self.cluster.headnode_names[0]
        try:
            result = await self.cluster.transport(name).run(DPKG_QUERY, timeout=CATALOG_TIMEOUT)
        except (QlutuiError, OSError) as exc:
            return [], f"catalog.toml (cannot ask {name}: {exc})"
        # dpkg-query exits 1 when nothing matches the pattern
        output = result.stdout.decode(errors="replace") if result.returncode == 0 else ""
        packages = [
            name
            for status, _, name in (line.partition(" ") for line in output.splitlines())
            if status == "installed" and parse_module_package(name)
        ]
        if not packages:
            return [], f"catalog.toml (no qlustar-module packages on {name})"
        return packages, f"module packages installed on {name}"

    # -- queries -----------------------------------------------------------------------

    def version_choices(self, state: ImagesState, flavour: str | None = None) -> list[str]:
        """Every x, x.y, x.y.z derivable from the releases (of one flavour, or of any)."""
        return [str(v) for v in choices(state.catalog.releases(flavour))]

    def default_version(self, state: ImagesState, flavour: str | None = None) -> str:
        choice = default_choice(state.catalog.releases(flavour))
        return str(choice) if choice else ""

    def version_text(self, state: ImagesState, image: Image) -> str:
        """`13 → 13.1.1 (follows feature releases)`, `13.1.1 (pinned)` ..."""
        return describe(parse_version(image.version), state.catalog.releases(image.flavour))

    def version_token(self, state: ImagesState, image: Image) -> str:
        """`13->13.1.1`, `13.1.1`, `13->none`: the version as one word (a CLI table)."""
        return describe_token(parse_version(image.version), state.catalog.releases(image.flavour))

    def addable_modules(self, state: ImagesState, name: str) -> list[str]:
        """Modules not chosen yet and offered for the image's flavour and resolved release."""
        return rules.available_modules(state.image(name), state.catalog)

    def removable_modules(self, state: ImagesState, name: str) -> list[str]:
        return rules.removable_modules(state.image(name))

    def unknown_modules(self, state: ImagesState, name: str) -> list[str]:
        return rules.unknown_modules(state.image(name), state.catalog)

    def packages(self, state: ImagesState, name: str) -> list[str]:
        """The module packages the image resolves to ([] when its version resolves to none)."""
        try:
            return rules.module_packages(state.image(name), state.catalog)
        except Refused:
            return []

    def warnings(self, state: ImagesState, name: str) -> list[str]:
        image = state.image(name)
        found = rules.validate_image(image, state.catalog, state.chroots, state.trees)
        missing = [c for c in image.rootfs if c not in state.rootfs_configs]
        if missing:
            found.append(f"root-fs configs not in rootfs.toml: {', '.join(missing)}")
        return found

    def chroot_mismatch(self, state: ImagesState, flavour: str, chroot: str) -> str | None:
        """Why assigning `chroot` to an image of `flavour` needs a confirmation, else None."""
        found = state.chroots.get(chroot)
        if chroot and found is not None and found.flavour != flavour:
            return f"chroot {shown(chroot)} is {found.flavour}, the image is {flavour}"
        return None

    def version_problem(self, state: ImagesState, flavour: str, version: str) -> str | None:
        """Why `version` is not a choice for `flavour`, None when it is."""
        offered = self.version_choices(state, flavour)
        if version in offered:
            return None
        return (
            f"version {version} matches no release for {flavour}"
            f" (choices: {', '.join(offered) or 'none'})"
        )

    def hosts_using(self, state: ImagesState, name: str) -> list[str]:
        return list(state.users.get(name, []))

    def name_problem(self, state: ImagesState, name: str, old: str | None = None) -> str | None:
        """Why `name` cannot be a new image name (invalid, or taken), None when it can."""
        if problem := name_problem(name):
            return problem
        if name in state.images and name != old:
            return f"image {shown(name)} exists already"
        return None

    def upgrade_preview(self, state: ImagesState, release: str) -> list[Move]:
        """Images that would move if `release` were added (for every flavour), by name."""
        new = parse_version(release)
        moves: list[Move] = []
        for flavour in sorted({i.flavour for i in state.images.values()}):
            chosen = [
                (i.name, parse_version(i.version))
                for i in state.images.values()
                if i.flavour == flavour
            ]
            moves += upgrade_preview(chosen, state.catalog.releases(flavour), new)
        return sorted(moves, key=lambda m: m.image)

    # -- changes -----------------------------------------------------------------------

    def create(
        self,
        state: ImagesState,
        name: str,
        *,
        flavour: str,
        version: str,
        chroot: str = "",
        postinst: str = "",
        description: str = "",
        modules: Iterable[str] = (),
        rootfs: Iterable[str] = (),
        force: bool = False,
    ) -> ImagesState:
        check_name(name, "image name")
        if problem := self.name_problem(state, name):
            raise Refused(problem)
        image = Image(
            name,
            flavour,
            version,
            chroot=chroot,
            postinst=postinst,
            description=description,
            rootfs=list(dict.fromkeys(rootfs)),
        )
        self._check(state, image, None, force)
        for module in modules:
            if module not in image.modules:
                image = rules.add_module(image, module, state.catalog)

        def mutate(doc) -> None:
            import tomlkit

            if "images" not in doc:
                doc["images"] = tomlkit.table(is_super_table=True)
            entry = tomlkit.table()
            entry.update(image.to_dict())
            doc["images"][name] = entry

        return self._save(state, mutate)

    def update(
        self,
        state: ImagesState,
        name: str,
        *,
        flavour: str | None = None,
        version: str | None = None,
        chroot: str | None = None,
        postinst: str | None = None,
        description: str | None = None,
        rootfs: Iterable[str] | None = None,
        force: bool = False,
    ) -> ImagesState:
        """Change some fields (None = unchanged; chroot "" = <None>)."""
        old = state.image(name)
        image = dataclasses.replace(
            old,
            flavour=old.flavour if flavour is None else flavour,
            version=old.version if version is None else version,
            chroot=old.chroot if chroot is None else chroot,
            postinst=old.postinst if postinst is None else postinst,
            description=old.description if description is None else description,
            rootfs=old.rootfs if rootfs is None else list(dict.fromkeys(rootfs)),
        )
        self._check(state, image, old, force)
        return self._put(state, old, image)

    def add_module(self, state: ImagesState, name: str, module: str) -> ImagesState:
        old = state.image(name)
        return self._put(state, old, rules.add_module(old, module, state.catalog))

    def remove_module(self, state: ImagesState, name: str, module: str) -> ImagesState:
        old = state.image(name)
        return self._put(state, old, rules.remove_module(old, module))

    def check_delete(self, state: ImagesState, name: str) -> None:
        """Refuse to delete an image hosts are assigned to (naming them)."""
        state.image(name)
        if hosts := self.hosts_using(state, name):
            raise Refused(
                f"image {shown(name)} is still used by {counted(len(hosts), 'host')}: "
                + hosts_text(hosts)
            )

    def delete(self, state: ImagesState, name: str) -> ImagesState:
        self.check_delete(state, name)

        def mutate(doc) -> None:
            del doc["images"][name]

        return self._save(state, mutate)

    def rename(self, state: ImagesState, old: str, new: str) -> ImagesState:
        """Rename an image; hosts assigned to it follow (inventory.toml is updated too)."""
        state.image(old)
        check_name(new, "image name")
        if problem := self.name_problem(state, new, old):
            raise Refused(problem)
        if new == old:
            return state

        renamed = self._save(state, lambda doc: _rename_entry(doc, old, new))
        users = dict(renamed.users)
        if hosts := users.pop(old, []):
            try:
                from qlutui.backend.inventory import InventoryService  # `list` never needs it
                from qlutui.model.inventory_edit import with_image_renamed

                inventory = InventoryService(self.cluster)
                current = inventory.load()
                renamed_hosts = with_image_renamed(current.inventory, old, new)
                inventory.apply(current, renamed_hosts, summary=f"image {old} renamed to {new}")
            except QlutuiError as exc:
                # The hosts still name the old image: give it its name back, so no host is
                # left pointing at an image that does not exist.
                try:
                    self.store.update("images", lambda doc: _rename_entry(doc, new, old))
                except QlutuiError as undo:
                    raise QlutuiError(
                        f"image {shown(old)} is now {shown(new)} but its hosts could not follow"
                        f" ({exc}) and the rename could not be undone ({undo}): rename it back"
                    ) from None
                raise QlutuiError(f"image {shown(old)} not renamed: {exc}") from None
            users[new] = hosts
        return dataclasses.replace(renamed, users=users)

    # -- helpers -----------------------------------------------------------------------

    def _check(self, state: ImagesState, image: Image, old: Image | None, force: bool) -> None:
        """Check the fields that differ from `old` (all of a new image) against the catalog,
        the chroots and the root-fs configs: an image whose pinned release has gone can
        still get a new description."""

        def changed(*keys: str) -> bool:
            return old is None or any(getattr(old, k) != getattr(image, k) for k in keys)

        if problem := rules.image_problem(image):
            raise InvalidInput(problem)
        flavours = state.catalog.flavours()
        if changed("flavour") and image.flavour not in flavours:
            known = f"known: {', '.join(flavours)}" if flavours else "catalog.toml defines none"
            raise InvalidInput(f"unknown flavour {shown(image.flavour)} ({known})")
        if changed("flavour", "version") and (
            problem := self.version_problem(state, image.flavour, image.version)
        ):
            raise InvalidInput(problem)
        if changed("chroot") and image.chroot and image.chroot not in state.chroots:
            raise InvalidInput(no_such("chroot", image.chroot))
        mismatch = self.chroot_mismatch(state, image.flavour, image.chroot)
        if changed("flavour", "chroot") and mismatch and not force:
            raise Refused(f"{mismatch}: confirm to assign it anyway (--force)")
        if changed("rootfs"):
            for config in image.rootfs:
                if config not in state.rootfs_configs:
                    raise InvalidInput(no_such("root-fs config", config, "in rootfs.toml"))

    def _put(self, state: ImagesState, old: Image, new: Image) -> ImagesState:
        """Save the fields of `new` that differ from `old` (the other keys keep their
        layout and comments)."""
        before, after = old.to_dict(), new.to_dict()
        changed = {key: value for key, value in after.items() if before[key] != value}

        def mutate(doc) -> None:
            entry = doc["images"][old.name]
            for key, value in changed.items():
                entry[key] = value

        return self._save(state, mutate) if changed else state

    def _save(self, state: ImagesState, mutate: Callable) -> ImagesState:
        snap = self.store.edit("images", state.token, mutate)
        return dataclasses.replace(state, images=images_from_dict(snap.data), token=snap.token)


def _rename_entry(doc, old: str, new: str) -> None:
    table = doc["images"]
    entry = table[old]
    del table[old]
    table[new] = entry
