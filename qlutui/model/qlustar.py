"""The Qlustar releases, flavours and module packages qlutui knows, and catalog.toml as the
admin reads it: `qlutui init` writes it for a real cluster, the demo for its own (with its
tasks). One source for both.

On a head-node with `qlustar-module-<module>-<flavour>-amd64-<x.y.z>` packages installed the
Images service takes the releases and modules from those packages instead; the flavours (and
tasks) always come from catalog.toml.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

# Modules every flavour offers in every release below.
_BASE_MODULES = ("core", "ofed", "slurm", "beegfs-7-client", "ws-base", "ha")

# release x.y.z -> flavour -> the modules it offers (core first)
RELEASES: dict[str, dict[str, list[str]]] = {
    "12.0.0": {
        "jammy": [*_BASE_MODULES, "nvidia", "lustre-client"],
        "bookworm": [*_BASE_MODULES],
    },
    "12.0.1": {
        "jammy": [*_BASE_MODULES, "nvidia", "lustre-client"],
        "bookworm": [*_BASE_MODULES],
    },
    "13.0.0": {
        "noble": [*_BASE_MODULES, "nvidia", "beegfs-7-server", "gridengine"],
        "jammy": [*_BASE_MODULES, "nvidia", "lustre-client"],
        "bookworm": [*_BASE_MODULES, "nvidia", "samba"],
    },
    "13.1.0": {
        "noble": [*_BASE_MODULES, "nvidia", "beegfs-7-server", "gridengine", "containers"],
        "jammy": [*_BASE_MODULES, "nvidia", "lustre-client", "lustre-2.12"],
        "bookworm": [*_BASE_MODULES, "nvidia", "samba", "containers"],
    },
    "13.1.1": {
        "noble": [
            *_BASE_MODULES,
            *("nvidia", "beegfs-7-server", "gridengine", "containers", "ws-xfce", "ws-nvidia"),
        ],
        "jammy": [*_BASE_MODULES, "nvidia", "lustre-client", "lustre-2.12"],
        "bookworm": [*_BASE_MODULES, "nvidia", "samba", "containers", "ws-xfce"],
    },
}

# flavour -> the distribution its chroots are built from (decides the builder) and its suite
FLAVOURS: dict[str, dict[str, str]] = {
    "bookworm": {"distribution": "debian", "suite": "bookworm"},
    "jammy": {"distribution": "ubuntu", "suite": "jammy"},
    "noble": {"distribution": "ubuntu", "suite": "noble"},
}

WIDTH = 88  # columns the written arrays are wrapped at

_HEAD = """\
# Qlustar releases, flavours, modules and tasks: what Images and Chroots offer.
# Edit it to match your head-nodes (remove the releases you do not run, add new ones).
# When the first head-node has qlustar-module-<module>-<flavour>-amd64-<x.y.z> packages
# installed, the releases and modules come from those; flavours and tasks from here.
"""
_FLAVOURS = """
# A flavour: the distribution its chroots are built from (decides the chroot builder of
# config.toml) and the suite.
"""
_RELEASES = """
# A release x.y.z and per flavour the modules it offers. An image's version may be a
# meta-version: x follows the newest x.*.*, x.y the newest x.y.*, x.y.z is pinned.
"""
_TASKS = """
# Tasks: package bundles a chroot can be built with or given later.
"""
_NO_TASKS = """
# Tasks: package bundles a chroot can be built with or given later, e.g.
# [tasks.debmed-imaging]
# description = "Medical imaging tools"
# packages = ["dcmtk", "xmedcon"]
"""


def known_releases() -> str:
    """In words: "releases 12.0.0 .. 13.1.1 of bookworm, jammy, noble"."""
    versions = list(RELEASES)
    return f"releases {versions[0]} .. {versions[-1]} of {', '.join(sorted(FLAVOURS))}"


def catalog_data(tasks: Mapping[str, Mapping] | None = None) -> dict:
    """catalog.toml's data: the known releases and flavours, and `tasks` if any."""
    data: dict = {
        "flavours": FLAVOURS,
        "releases": [{"version": v, "modules": mods} for v, mods in RELEASES.items()],
    }
    return data | ({"tasks": dict(tasks)} if tasks else {})


def catalog_toml(tasks: Mapping[str, Mapping] | None = None) -> str:
    """catalog.toml, commented, holding `catalog_data(tasks)`."""
    lines = [_HEAD, _FLAVOURS]
    for name, flavour in FLAVOURS.items():
        lines.append(f"\n[flavours.{name}]\n{_fields(flavour)}")
    lines.append(_RELEASES)
    for version, modules in RELEASES.items():
        lines.append(f"\n[[releases]]\nversion = {_q(version)}\n[releases.modules]\n")
        lines.append(_fields(modules))
    if not tasks:
        lines.append(_NO_TASKS)
    else:
        lines.append(_TASKS)
        lines += [f"\n[tasks.{_key(name)}]\n{_fields(task)}" for name, task in tasks.items()]
    return "".join(lines)


def _fields(table: Mapping[str, object]) -> str:
    return "".join(f"{_key(key)} = {_value(value)}\n" for key, value in table.items())


def _value(value: object, width: int = WIDTH) -> str:
    """A string, or a list of them wrapped at `width` columns (4 spaces in)."""
    if not isinstance(value, list) or len(_q(value)) + 20 <= width:
        return _q(value)
    lines, line = [], "   "
    for item in value:
        if len(line) + len(_q(item)) + 2 > width:
            lines.append(line)
            line = "   "
        line += f" {_q(item)},"
    return "[\n" + "\n".join([*lines, line]) + "\n]"


def _key(key: str) -> str:
    """A bare TOML key when it can be one, else quoted."""
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else _q(key)


def _q(value: object) -> str:
    return json.dumps(value)  # a TOML basic string, or an array of them
