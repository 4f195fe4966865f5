"""The keys each state file may hold, and the ones it holds besides (a typo such as `chrot`
is otherwise silently without effect). Unknown keys are reported, not refused: an older qlutui
sharing the state directory must still read what a newer one wrote, and edits keep them.

The keys come from the model's dataclasses, so a new field is known here at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from qlutui.model.catalog import Flavour, Task
from qlutui.model.chroots import Chroot
from qlutui.model.images import Image
from qlutui.model.inventory import Host, Network
from qlutui.model.names import label
from qlutui.model.rootfs import RootfsConfig

# A spec maps each known key to the spec of its value, or None for any value. "*" stands
# for every key of a table of named entries, "[]" for every table of an array.
Spec = Mapping[str, "Spec | None"]
NAMED = "*"
ARRAY = "[]"


def _fields(cls: type, *, named: bool = True) -> dict[str, Spec | None]:
    """The TOML keys of a model dataclass; `named` entries take their name from the table
    key, not from a `name` field."""
    keys = [f.name for f in dataclasses.fields(cls) if not (named and f.name == "name")]
    return dict.fromkeys(keys)


SCHEMAS: dict[str, Spec] = {
    "images": {"images": {NAMED: _fields(Image)}},
    "chroots": {"chroots": {NAMED: _fields(Chroot)}},
    "rootfs": {"configs": {NAMED: _fields(RootfsConfig)}},
    "inventory": {
        "default_host_keys": None,
        "networks": {ARRAY: _fields(Network, named=False)},
        "hosts": {ARRAY: _fields(Host, named=False)},
    },
    "files": {"hosts": {"header": None, "description": None}},
    "catalog": {
        "releases": {ARRAY: {"version": None, "modules": None}},
        "flavours": {NAMED: _fields(Flavour)},
        "tasks": {NAMED: _fields(Task)},
    },
}


def unknown_keys(area: str, data: Mapping[str, object]) -> list[str]:
    """The dotted paths of the keys in `data` that `area`'s schema does not know, in file
    order (areas without a schema here check their keys themselves)."""
    found: list[str] = []
    if area in SCHEMAS:
        _walk(SCHEMAS[area], data, "", found)
    return found


def _walk(spec: Spec, value: object, path: str, found: list[str]) -> None:
    if ARRAY in spec:
        if isinstance(value, list):
            for i, entry in enumerate(value):
                _walk(spec[ARRAY] or {}, entry, f"{path}[{i}]", found)
        return
    if not isinstance(value, Mapping):
        return  # a wrong type is the model's to report
    for key, child in value.items():
        where = f"{path}.{label(key)}" if path else label(key)
        if NAMED in spec:
            _walk(spec[NAMED] or {}, child, where, found)
        elif key not in spec:
            found.append(where)
        elif (sub := spec[key]) is not None:
            _walk(sub, child, where, found)
