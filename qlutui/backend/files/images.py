"""Qlustar Images: one config file per image on the head-nodes (model/imagefile.py, the
`qlutui-image/1` format; `[images] destination` in config.toml), and after an image's file
changed on a head-node, the configured rebuild command there (`[images] rebuild`, an argv
template with {image}; empty: no rebuild), as a job with its live log: one step per image,
each run whether the ones before it failed or not, and a summary line naming the failed ones.
The file of an image renamed or deleted is stale (stale.py): a write removes it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from qlutui.backend.config import IMAGE
from qlutui.backend.files.base import FileClass, FileSpec, Rendered
from qlutui.backend.files.stale import Owned
from qlutui.backend.job_records import Plan
from qlutui.errors import InvalidInput, QlutuiError
from qlutui.model import imagefile
from qlutui.model.catalog import Catalog
from qlutui.model.images import release_of
from qlutui.model.names import counted, shown

if TYPE_CHECKING:
    from qlutui.backend.images import ImagesState

PREFIX = "images/"  # file ids: images/<image name>
_PLACEHOLDER = re.compile(r"\{(?:image|file|headnode)\}")


class ImageFiles(FileClass):
    id = "images"
    title = "Qlustar Images"

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.catalog: Catalog | None = None  # from the head-node, once prepared

    def _state(self) -> ImagesState:
        from qlutui.backend.images import ImagesService  # it imports the cluster module

        _, state = ImagesService(self.cluster).read_files()
        return state

    async def prepare(self) -> None:
        from qlutui.backend.images import ImagesService

        self.catalog = (await ImagesService(self.cluster).load()).catalog

    def files(self) -> list[FileSpec]:
        return [self._spec(name) for name in self._state().images]

    def _spec(self, name: str) -> FileSpec:
        config = self.cluster.config
        path = config.image_destination.replace(IMAGE, name)
        return FileSpec(self.id, PREFIX + name, f"Image {name}", (path,), config.image_mode)

    def owned(self) -> Owned:
        """An image's file is found by its name in the destination and its heading line:
        after a rename or delete, the old name's file is stale."""
        destination = self.cluster.config.image_destination
        return Owned(destination, IMAGE, self._spec, imagefile.is_generated)

    def render(self, files: list[FileSpec]) -> Rendered:
        from qlutui.model.noderange import fold

        state = self._state()
        catalog = self.catalog or state.catalog
        rendered: Rendered = {}
        for spec in files:
            image = state.image(spec.id.removeprefix(PREFIX))
            try:
                if release_of(image, catalog) is None:
                    raise InvalidInput(
                        f"version {image.version} resolves to no release of {image.flavour}"
                    )
                chroot = state.chroots.get(image.chroot) if image.chroot else None
                if image.chroot and chroot is None:
                    raise InvalidInput(f"chroot {shown(image.chroot)} does not exist")
                hosts = fold(state.users.get(image.name, []))
                rendered[spec.id] = imagefile.render(image, catalog, chroot, hosts)
            except QlutuiError as error:
                rendered[spec.id] = error
        return rendered

    def after_write(self, headnode: str, changed: list[FileSpec]) -> tuple[str, Plan] | None:
        argv = self.cluster.config.image_rebuild
        if not argv:
            return None
        steps = []
        for spec in changed:
            values = {IMAGE: spec.id.removeprefix(PREFIX), "{file}": spec.paths[0]}
            values["{headnode}"] = headnode
            words = [_PLACEHOLDER.sub(lambda m, v=values: v[m.group()], arg) for arg in argv]
            # cwd "/": a local head-node's root prefix, so a command may read its files;
            # keep_going: one image failing to rebuild does not stop the next ones
            steps.append({"argv": words, "cwd": "/", "keep_going": True, "name": values[IMAGE]})
        names = ", ".join(spec.id.removeprefix(PREFIX) for spec in changed)
        return f"Rebuilding {counted(len(changed), 'image')} on {headnode}: {names}", Plan(steps)
