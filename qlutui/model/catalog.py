"""What the head-nodes offer: Qlustar releases with their flavours and modules, flavours
(the distribution a chroot is built from) and tasks (package bundles for chroots).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from qlutui.errors import InvalidInput
from qlutui.model.names import label, line_problem, name_problem, shown
from qlutui.model.versions import Version, parse_version

# Module and flavour names end up in Debian package names (lower case, no '_'); a flavour
# has no '-' so that it can be told apart from the module in a package name.
_DEB_NAME = r"[a-z0-9][a-z0-9.+-]*"
_FLAVOUR_NAME = r"[a-z0-9][a-z0-9.+]*"
_MODULE = re.compile(_DEB_NAME)
_FLAVOUR = re.compile(_FLAVOUR_NAME)
_PACKAGE = re.compile(
    rf"qlustar-module-(?P<module>{_DEB_NAME})-(?P<flavour>{_FLAVOUR_NAME})"
    r"-amd64-(?P<version>[0-9]+\.[0-9]+\.[0-9]+)"
)


@dataclass(frozen=True)
class Flavour:
    name: str
    distribution: str  # decides the chroot builder, e.g. "debian", "ubuntu"
    suite: str


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    packages: tuple[str, ...]


@dataclass
class Catalog:
    release_modules: dict[Version, dict[str, list[str]]] = field(default_factory=dict)
    flavour_defs: dict[str, Flavour] = field(default_factory=dict)
    task_defs: dict[str, Task] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Catalog:
        """Build from catalog.toml data; InvalidInput names the entry that is wrong."""
        releases = _table_list(data, "releases")
        flavours = _table(data, "flavours", "flavours")
        tasks = _table(data, "tasks", "tasks")
        release_modules: dict[Version, dict[str, list[str]]] = {}
        for i, entry in enumerate(releases):
            version, modules = _release(i, entry)
            if version in release_modules:
                raise InvalidInput(f"releases[{i}]: version {version} is listed twice")
            release_modules[version] = modules
        return cls(
            release_modules,
            {name: _flavour(name, entry) for name, entry in flavours.items()},
            {name: _task(name, entry) for name, entry in tasks.items()},
        )

    @classmethod
    def from_packages(cls, packages: Iterable[str], base: Catalog) -> Catalog:
        """Releases and modules from installed module package names; flavours and tasks of
        `base`. Names that are not module packages are ignored."""
        found: dict[Version, dict[str, set[str]]] = {}
        for package in packages:
            parsed = parse_module_package(package)
            if parsed:
                module, flavour, version = parsed
                found.setdefault(version, {}).setdefault(flavour, set()).add(module)
        releases = {
            version: {f: _core_first(mods) for f, mods in sorted(per_flavour.items())}
            for version, per_flavour in sorted(found.items())
        }
        return cls(releases, dict(base.flavour_defs), dict(base.task_defs))

    def to_dict(self) -> dict:
        return {
            "releases": [
                {"version": str(v), "modules": {f: list(m) for f, m in mods.items()}}
                for v, mods in sorted(self.release_modules.items())
            ],
            "flavours": {
                f.name: {"distribution": f.distribution, "suite": f.suite}
                for f in self.flavour_defs.values()
            },
            "tasks": {
                t.name: {"description": t.description, "packages": list(t.packages)}
                for t in self.task_defs.values()
            },
        }

    def flavours(self) -> list[str]:
        """Every flavour: defined ones and those some release offers modules for."""
        found = set(self.flavour_defs)
        for per_flavour in self.release_modules.values():
            found.update(per_flavour)
        return sorted(found)

    def flavour(self, name: str) -> Flavour:
        return _lookup(self.flavour_defs, name, "flavour")

    def releases(self, flavour: str | None = None) -> list[Version]:
        """The releases, oldest first; with `flavour`: those that offer that flavour."""
        return sorted(
            v for v, mods in self.release_modules.items() if flavour is None or flavour in mods
        )

    def modules(self, flavour: str, release: Version) -> list[str]:
        """The modules a release offers for a flavour ([] when it offers none)."""
        return list(self.release_modules.get(release, {}).get(flavour, []))

    def xy_versions(self, flavour: str | None = None) -> list[str]:
        """The x.y versions a chroot can be built for, oldest first."""
        return [str(v) for v in sorted({r.prefix(2) for r in self.releases(flavour)})]

    def task_names(self) -> list[str]:
        return sorted(self.task_defs)

    def task(self, name: str) -> Task:
        return _lookup(self.task_defs, name, "task")


def module_problem(name: object) -> str | None:
    """Why `name` cannot be a module name (part of a Debian package name), None if it can."""
    if not isinstance(name, str) or not _MODULE.fullmatch(name):
        return (
            "must be lower-case letters, digits, '.', '+' and '-', starting with a letter or digit"
        )
    return None


def flavour_problem(name: object) -> str | None:
    """Why `name` cannot be a flavour name, None if it can."""
    if not isinstance(name, str) or not _FLAVOUR.fullmatch(name):
        return "must be lower-case letters, digits, '.' and '+', starting with a letter or digit"
    return None


def module_package(module: str, flavour: str, release: Version) -> str:
    return f"qlustar-module-{module}-{flavour}-amd64-{release}"


def parse_module_package(package: str) -> tuple[str, str, Version] | None:
    """`qlustar-module-<module>-<flavour>-amd64-<x.y.z>` -> (module, flavour, version)."""
    match = _PACKAGE.fullmatch(package) if isinstance(package, str) else None
    if not match:
        return None
    try:
        version = parse_version(match["version"])
    except InvalidInput:  # e.g. leading zeros: not a Qlustar release number
        return None
    return match["module"], match["flavour"], version


def _core_first(modules: Iterable[str]) -> list[str]:
    return sorted(modules, key=lambda m: (m != "core", m))


def _table_list(data: dict, key: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InvalidInput(f"{key}: must be a list of tables")
    return value


def _table(data: object, key: str, where: str) -> dict:
    value = data.get(key, {}) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: must be a table")
    return value


def _release(i: int, entry: object) -> tuple[Version, dict[str, list[str]]]:
    if not isinstance(entry, dict):
        raise InvalidInput(f"releases[{i}]: must be a table")
    text = entry.get("version")
    version = parse_version(text) if isinstance(text, str) else None
    if version is None or not version.is_release:
        raise InvalidInput(f"releases[{i}]: version {shown(text)} is not a release (x.y.z)")
    where = f"releases[{i}] ({version})"
    modules: dict[str, list[str]] = {}
    for flavour, names in _table(entry, "modules", f"{where}: modules").items():
        if problem := flavour_problem(flavour):
            raise InvalidInput(f"{where}: flavour {shown(flavour)} {problem}")
        if not isinstance(names, list):
            raise InvalidInput(f"{where}: modules.{flavour}: must be a list of module names")
        for name in names:
            if problem := module_problem(name):
                raise InvalidInput(f"{where}: modules.{flavour}: {shown(name)} {problem}")
        if len(set(names)) != len(names):
            raise InvalidInput(f"{where}: modules.{flavour}: a module is listed twice")
        modules[flavour] = list(names)
    return version, modules


def _flavour(name: str, entry: object) -> Flavour:
    where = f"flavours.{label(name)}"
    if problem := flavour_problem(name):
        raise InvalidInput(f"{where}: name {problem}")
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where}: must be a table")
    values = {}
    for key in ("distribution", "suite"):
        value = entry.get(key, name if key == "suite" else None)
        if not isinstance(value, str) or name_problem(value):
            raise InvalidInput(f"{where}: {key} {shown(value)} is missing or not a plain name")
        values[key] = value
    return Flavour(name, values["distribution"], values["suite"])


def _task(name: str, entry: object) -> Task:
    where = f"tasks.{label(name)}"
    if problem := name_problem(name):
        raise InvalidInput(f"{where}: name {problem}")
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where}: must be a table")
    description = entry.get("description", "")
    packages = entry.get("packages", [])
    if not isinstance(description, str):
        raise InvalidInput(f"{where}: description: must be text")
    if problem := line_problem(description):
        raise InvalidInput(f"{where}: description {problem}")
    if not isinstance(packages, list):
        raise InvalidInput(f"{where}: packages: must be a list of package names")
    for package in packages:
        if not isinstance(package, str) or not re.fullmatch(_DEB_NAME, package):
            raise InvalidInput(f"{where}: packages: {shown(package)} is not a package name")
    return Task(name, description, tuple(packages))


T = TypeVar("T")


def _lookup(table: Mapping[str, T], name: str, what: str) -> T:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        raise InvalidInput(f"unknown {what} {shown(name)} (defined: {known})") from None
