"""Qlustar OS images: flavour, version (release or meta-version), chroot, modules.

The rules of the Images dialog are pure functions: they return a new Image or raise
Refused / InvalidInput with the user's reason. Every image contains the module `core`, first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from qlutui.errors import InvalidInput, Refused
from qlutui.model.catalog import Catalog, flavour_problem, module_package, module_problem
from qlutui.model.chroots import Chroot
from qlutui.model.inventory import Inventory
from qlutui.model.names import label, line_problem, name_problem, shown
from qlutui.model.versions import Version, parse_version, resolve

CORE = "core"


@dataclass
class Image:
    name: str
    flavour: str
    version: str  # x (feature releases), x.y (maintenance releases) or x.y.z (pinned)
    chroot: str = ""  # "" = <None>
    modules: list[str] = field(default_factory=lambda: [CORE])
    postinst: str = ""
    description: str = ""
    rootfs: list[str] = field(default_factory=list)  # root-fs configs assigned to the image

    def __post_init__(self) -> None:
        # core first and exactly once, the other modules in their order, without repeats
        self.modules = [CORE, *dict.fromkeys(m for m in self.modules if m != CORE)]

    def to_dict(self) -> dict:
        """The images.toml table of this image (its name is the table key)."""
        return {
            "flavour": self.flavour,
            "version": self.version,
            "chroot": self.chroot,
            "modules": list(self.modules),
            "postinst": self.postinst,
            "description": self.description,
            "rootfs": list(self.rootfs),
        }


def images_from_dict(data: dict) -> dict[str, Image]:
    """The images of images.toml data, sorted by name; InvalidInput names the wrong entry."""
    table = data.get("images", {})
    if not isinstance(table, dict):
        raise InvalidInput("images: must be a table")
    return {name: _image(name, table[name]) for name in sorted(table)}


def image_problem(image: Image) -> str | None:
    """The first thing wrong with an image on its own ("field: reason"), None when fine."""
    try:
        parse_version(image.version)
        version_problem = None
    except InvalidInput as error:
        version_problem = str(error)
    checks = (
        ("name", name_problem(image.name)),
        ("flavour", flavour_problem(image.flavour)),
        ("version", version_problem),
        ("chroot", name_problem(image.chroot) if image.chroot else None),
        ("postinst", name_problem(image.postinst) if image.postinst else None),
        ("description", line_problem(image.description)),
    )
    for key, problem in checks:
        if problem:
            return f"{key}: {problem}"
    for module in image.modules:
        if problem := module_problem(module):
            return f"modules: {shown(module)} {problem}"
    for config in image.rootfs:
        if problem := name_problem(config):
            return f"rootfs: {shown(config)} {problem}"
    return None


def release_of(image: Image, catalog: Catalog) -> Version | None:
    """The release the image's version resolves to for its flavour, None when none does."""
    return resolve(parse_version(image.version), catalog.releases(image.flavour))


def add_module(image: Image, module: str, catalog: Catalog | None = None) -> Image:
    """The image with `module` added; with a catalog, only a module its release offers."""
    if problem := module_problem(module):
        raise InvalidInput(f"invalid module name {shown(module)}: {problem}")
    if module in image.modules:
        raise Refused(f"module {shown(module)} is already part of image {shown(image.name)}")
    if catalog is not None and module not in _offered(image, catalog):
        raise Refused(
            f"module {shown(module)} is not available for image {shown(image.name)}"
            f" ({image.flavour} {_release_text(image, catalog)})"
        )
    return dataclasses.replace(image, modules=[*image.modules, module])


def remove_module(image: Image, module: str) -> Image:
    """The image without `module`; `core` stays."""
    if module == CORE:
        raise Refused("module 'core' is part of every image and cannot be removed")
    if module not in image.modules:
        raise Refused(f"module {shown(module)} is not part of image {shown(image.name)}")
    return dataclasses.replace(image, modules=[m for m in image.modules if m != module])


def removable_modules(image: Image) -> list[str]:
    """The modules that can be removed: every chosen one but `core`."""
    return [m for m in image.modules if m != CORE]


def available_modules(image: Image, catalog: Catalog) -> list[str]:
    """The modules that can be added: offered for the image's flavour and release, not chosen."""
    return sorted(m for m in _offered(image, catalog) if m not in image.modules)


def unknown_modules(image: Image, catalog: Catalog) -> list[str]:
    """Chosen modules its resolved release does not offer ([] when nothing resolves: the
    version itself is then the problem)."""
    release = release_of(image, catalog)
    if release is None:
        return []
    offered = set(catalog.modules(image.flavour, release))
    return [m for m in image.modules if m not in offered]


def module_packages(image: Image, catalog: Catalog) -> list[str]:
    """The module packages the image is made of, for its resolved release."""
    release = release_of(image, catalog)
    if release is None:
        raise Refused(
            f"image {shown(image.name)}: version {image.version} resolves to no release"
            f" available for flavour {image.flavour}"
        )
    return [module_package(m, image.flavour, release) for m in image.modules]


def chroot_unusable(image: Image, chroots: Mapping[str, Chroot], trees: Mapping[str, str]) -> str:
    """Why the image's chroot cannot serve it ("" when it can, or the image has none): the
    chroot failed, or its tree is not on its head-node (`trees`: what the head-nodes said of
    the ready chroots, by name; a chroot not in it was not asked)."""
    chroot = chroots.get(image.chroot) if image.chroot else None
    if chroot is None:
        return ""
    if chroot.state == "failed":
        return f"chroot {shown(chroot.name)} is failed (no usable tree)"
    if chroot.state == "ready" and (problem := trees.get(chroot.name)):
        return f"chroot {shown(chroot.name)} cannot be used ({problem})"
    return ""


def validate_image(
    image: Image,
    catalog: Catalog,
    chroots: Mapping[str, Chroot],
    trees: Mapping[str, str] | None = None,
) -> list[str]:
    """Warnings about an image against what the head-nodes offer (empty when all is fine);
    `trees` as `chroot_unusable` takes it."""
    warnings = []
    if problem := image_problem(image):
        return [problem]
    if image.flavour not in catalog.flavours():
        warnings.append(f"flavour {shown(image.flavour)} is not offered by any release")
    release = release_of(image, catalog)
    if release is None:
        warnings.append(
            f"version {image.version} resolves to no release available for {image.flavour}"
        )
    elif unknown := unknown_modules(image, catalog):
        warnings.append(
            f"modules not available in {release} for {image.flavour}: {', '.join(unknown)}"
        )
    if image.chroot:
        chroot = chroots.get(image.chroot)
        if chroot is None:
            warnings.append(f"chroot {shown(image.chroot)} does not exist")
        else:
            if chroot.flavour != image.flavour:
                warnings.append(
                    f"chroot {shown(chroot.name)} is {chroot.flavour}, the image is {image.flavour}"
                )
            if release is not None and chroot.version != str(release.prefix(2)):
                warnings.append(
                    f"chroot {shown(chroot.name)} is version {chroot.version},"
                    f" the image resolves to {release}"
                )
            if unusable := chroot_unusable(image, chroots, trees or {}):
                warnings.append(unusable)
    return warnings


def hosts_using(image_name: str, inventory: Inventory) -> list[str]:
    """The hosts the image is assigned to, in inventory order."""
    return [host.name for host in inventory.hosts if host.image == image_name]


def _offered(image: Image, catalog: Catalog) -> list[str]:
    release = release_of(image, catalog)
    return catalog.modules(image.flavour, release) if release is not None else []


def _release_text(image: Image, catalog: Catalog) -> str:
    release = release_of(image, catalog)
    return str(release) if release is not None else f"{image.version}: no release available"


def _image(name: str, entry: object) -> Image:
    where = f"images.{label(name)}"
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where}: must be a table")
    texts = {}
    for key in ("flavour", "version", "chroot", "postinst", "description"):
        value = entry.get(key, "")
        if not isinstance(value, str):
            raise InvalidInput(f"{where}: {key}: must be text")
        texts[key] = value
    lists = {}
    for key in ("modules", "rootfs"):
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"{where}: {key}: must be a list of names")
        if len(set(value)) != len(value):
            raise InvalidInput(f"{where}: {key}: a name is listed twice")
        lists[key] = value
    image = Image(name=name, **texts, **lists)
    if problem := image_problem(image):
        raise InvalidInput(f"{where}: {problem}")
    return image
