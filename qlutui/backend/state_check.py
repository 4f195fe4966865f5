"""What is wrong in the state files, one line each: for `qlutui check` and the menu's count.

Every state file is read as the services read it: malformed TOML (path:line:col), entries the
model refuses (the first per file, as a service would stop there), the inventory's clashes,
keys no qlutui field reads (a typo such as `chrot` would otherwise go unnoticed), and chroots
whose path is not `<chroots_base>/<name>` (every chroot operation refuses them); those
name the line of their key or table (`path:line:`, as a syntax error does). The
generated files are checked by their classes (`backend/files/`); `ssh_files_problems` says
what `ssh write` would refuse in the SSH files, as `check_files` finds it.
`chroot_problems` and `rootfs_problems` add what only the head-nodes can tell: ready chroots
whose tree is not there, images on a chroot that cannot serve them (failed, or not there),
and node files that two root-fs configs of one image both ship.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from qlutui.backend.store import Store
from qlutui.errors import InvalidInput, QlutuiError
from qlutui.model.catalog import Catalog
from qlutui.model.chroots import Chroot, chroots_from_dict, misplaced
from qlutui.model.hostsfile import options_from_dict
from qlutui.model.images import chroot_unusable, images_from_dict
from qlutui.model.inventory import Inventory, check_unique
from qlutui.model.names import label
from qlutui.model.rootfs import configs_from_dict
from qlutui.model.schema import unknown_keys
from qlutui.model.sshfiles import Refusal, check_files, options_from_toml
from qlutui.model.toml_lines import lines_of

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster

PARSERS: dict[str, Callable[[Mapping], object]] = {
    "inventory": Inventory.from_dict,
    "images": images_from_dict,
    "chroots": chroots_from_dict,
    "rootfs": configs_from_dict,
    "catalog": Catalog.from_dict,
    "sshfiles": options_from_toml,
    "files": options_from_dict,
}


def area_problems(store: Store, area: str, chroots_base: str) -> list[str]:
    """The problems of one state file (none when it is missing: defaults apply)."""
    path = store.path(area)
    try:
        data = store.load(area).data
    except QlutuiError as exc:  # already names the file, line and column
        return [str(exc)]
    except OSError as exc:
        return [f"{path}: {exc.strerror or exc}"]
    try:
        parsed = PARSERS[area](data)
    except InvalidInput as exc:
        keyed, problems = [str(exc)], []
    else:
        clashes = check_unique(parsed) if isinstance(parsed, Inventory) else []
        keyed, problems = [], [f"{path}: {clash}" for clash in clashes]
        if area == "chroots":
            keyed += _misplaced(parsed, chroots_base)
    keyed += [f"unknown key {key} (not used)" for key in unknown_keys(area, data)]
    return problems + _placed(path, keyed)


def _placed(path: Path, problems: list[str]) -> list[str]:
    """`path:line: problem`, the line of the key or table the problem names (the text
    scanned only when there is a problem to place)."""
    if not problems:
        return []
    try:
        lines = lines_of(path.read_text(encoding="utf-8"), problems)
    except (OSError, UnicodeDecodeError):  # changed since it was loaded: no line then
        lines = [None] * len(problems)
    own = f"{path.name}: "  # a model's message may name its file already: said once
    return [
        f"{path}:{line}: {problem}" if line else f"{path}: {problem}"
        for problem, line in zip((p.removeprefix(own) for p in problems), lines, strict=True)
    ]


def _misplaced(chroots: Mapping[str, Chroot], base: str) -> list[str]:
    return [
        f"chroots.{label(name)}: {problem}"
        for name, chroot in chroots.items()
        if (problem := misplaced(chroot, base))
    ]


def ssh_files_problems(store: Store) -> list[str]:
    """What `ssh write` would refuse in the generated files (`check_files`, the function it
    uses), less what the inventory's own lines already say: one line per bad header line,
    per bad host key, per generated line the second wall refuses; and one per name of the
    known_hosts header that the generated part has too (`header_duplicates`)."""
    try:
        options = options_from_toml(store.load("sshfiles").data)
        inventory = Inventory.from_dict(store.load("inventory").data)
    except (QlutuiError, OSError):  # reported as the problem of the file itself
        return []
    sshfiles, inventory_path = store.path("sshfiles"), store.path("inventory")
    known = {str(p) for p in check_unique(inventory)}
    problems = []
    for kind, checked in check_files(inventory, options).items():
        header = sorted(checked.header + checked.duplicates, key=lambda p: p.line)
        problems += [f"{sshfiles}: {kind} header {p}" for p in header]
        if isinstance(checked.error, Refusal):
            reasons = [r for r in checked.error.problems if r not in known]
            problems += [f"{inventory_path}: {kind}: {r}" for r in reasons]
        elif checked.error is not None and not checked.header:
            problems.append(f"{sshfiles}: {checked.error}")
    return list(dict.fromkeys(problems))  # a bad host key concerns known_hosts only, once


async def chroot_problems(cluster: Cluster) -> list[str]:
    """Ready chroots whose tree is not on their head-node (one stat each, asked there) and
    the images whose chroot cannot serve them (`chroot_unusable`: failed, or not there).
    Nothing when the state files cannot be read (reported as their own problem)."""
    from qlutui.backend.images import ImagesService  # the services: only when asked

    service = ImagesService(cluster)
    try:
        _, state = await asyncio.to_thread(service.read_files)
    except (QlutuiError, OSError):
        return []
    base = cluster.config.chroots_base
    placed = [c for c in state.chroots.values() if not misplaced(c, base)]  # else: reported
    trees = await service.chroots.tree_problems_of(placed)
    chroots, images = cluster.store.path("chroots"), cluster.store.path("images")
    problems = [
        f"{chroots}: chroots.{label(name)}: ready, but {problem}"
        for name, problem in trees.items()
        if problem
    ]
    for name, image in state.images.items():
        if unusable := chroot_unusable(image, state.chroots, trees):
            problems.append(f"{images}: images.{label(name)}: {unusable}")
    return problems


async def rootfs_problems(cluster: Cluster) -> list[str]:
    """Node paths that several root-fs configs assigned to one image ship (the head-nodes'
    file lists, one `find` each, no hashing): the node gets one of them. A head-node that
    does not answer is left out (`rootfs list` names it); nothing when the state files
    cannot be read (reported as their own problem)."""
    from qlutui.backend.rootfs import RootfsService

    service = RootfsService(cluster)
    try:
        state = await service.load(contents=False)
    except (QlutuiError, OSError):
        return []
    images = cluster.store.path("images")
    return [f"{images}: images.{label(c.image)}: {c}" for c in service.clashes(state)]


async def headnode_problems(cluster: Cluster) -> list[str]:
    """What only the head-nodes can tell: `chroot_problems`, then `rootfs_problems`, asked
    at the same time."""
    chroots, rootfs = await asyncio.gather(chroot_problems(cluster), rootfs_problems(cluster))
    return chroots + rootfs
