"""What is wrong in the state files, one line each: for `qlutui check` and the menu's count.

Every state file is read as the services read it: malformed TOML (path:line:col), entries the
model refuses (the first per file, as a service would stop there), the inventory's clashes,
keys no qlutui field reads (a typo such as `chrot` would otherwise go unnoticed), and chroots
whose path is not `<chroots_base>/<name>` (every chroot operation refuses them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from qlutui.backend.store import Store
from qlutui.errors import InvalidInput, QlutuiError
from qlutui.model.catalog import Catalog
from qlutui.model.chroots import Chroot, chroots_from_dict, misplaced
from qlutui.model.hostsfile import options_from_dict
from qlutui.model.images import images_from_dict
from qlutui.model.inventory import Inventory, check_unique
from qlutui.model.names import label
from qlutui.model.rootfs import configs_from_dict
from qlutui.model.schema import unknown_keys
from qlutui.model.sshfiles import options_from_toml

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
        problems = [f"{path}: {exc}"]
    else:
        clashes = check_unique(parsed) if isinstance(parsed, Inventory) else []
        problems = [f"{path}: {clash}" for clash in clashes]
        if area == "chroots":
            problems += [f"{path}: {line}" for line in _misplaced(parsed, chroots_base)]
    return problems + [f"{path}: unknown key {key} (not used)" for key in unknown_keys(area, data)]


def _misplaced(chroots: Mapping[str, Chroot], base: str) -> list[str]:
    return [
        f"chroots.{label(name)}: {problem}"
        for name, chroot in chroots.items()
        if (problem := misplaced(chroot, base))
    ]
