"""UnionFS chroots: a distribution tree on one head-node, merged below node images."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qlutui.errors import InvalidInput, Refused
from qlutui.model.catalog import flavour_problem
from qlutui.model.names import label, line_problem, name_problem, shown
from qlutui.model.versions import parse_version

if TYPE_CHECKING:
    from qlutui.model.images import Image

STATES = ("ready", "building", "failed")


@dataclass
class Chroot:
    name: str
    description: str = ""
    server: str = ""  # the head-node that builds and exports it
    path: str = ""  # absolute head-node path, by default /srv/apps/chroots/<name>
    flavour: str = ""
    version: str = ""  # always x.y
    tasks: list[str] = field(default_factory=list)
    state: str = "ready"  # ready | building | failed
    job: str = ""  # id of the last job that worked on it

    def job_title(self, doing: str, detail: str = "") -> str:
        """The title of a job on this chroot: '<doing> chroot NAME on SERVER: DETAIL'. What
        varies between jobs of one kind (the command, the new name) comes last, so a title
        cut in its middle (the Jobs list, the log header) keeps it."""
        title = f"{doing} chroot {self.name} on {self.server}"
        return f"{title}: {detail}" if detail else title

    def to_dict(self) -> dict:
        """The chroots.toml table of this chroot (its name is the table key)."""
        return {
            "description": self.description,
            "server": self.server,
            "path": self.path,
            "flavour": self.flavour,
            "version": self.version,
            "tasks": list(self.tasks),
            "state": self.state,
            "job": self.job,
        }


def chroot_problem(chroot: Chroot) -> str | None:
    """The first thing wrong with a chroot on its own ("field: reason"), None when fine."""
    checks = (
        ("name", name_problem(chroot.name)),
        ("server", name_problem(chroot.server)),
        ("path", _path_problem(chroot.path)),
        ("flavour", flavour_problem(chroot.flavour)),
        ("version", _xy_problem(chroot.version)),
        ("state", None if chroot.state in STATES else f"must be one of {', '.join(STATES)}"),
        ("job", name_problem(chroot.job) if chroot.job else None),
        ("description", line_problem(chroot.description)),
    )
    for name, problem in checks:
        if problem:
            return f"{name}: {problem}"
    for task in chroot.tasks:
        if problem := name_problem(task):
            return f"tasks: {shown(task)} {problem}"
    return None


def chroot_path(base: str, name: str) -> str:
    """Where the chroot `name` lives: `<chroots_base>/<name>`, the only path it may have."""
    return posixpath.join(base.rstrip("/") or "/", name)


def misplaced(chroot: Chroot, base: str) -> str | None:
    """Why the record's path is not `<chroots_base>/<name>` (None when it is): a hand-edited
    path could name another chroot's tree or /etc, and every operation would act on it."""
    place = chroot_path(base, chroot.name)
    if chroot.path == place:
        return None
    # printable absolute paths (chroot_problem), shown whole: a cut path would hide which
    return f"path {chroot.path!r} is not {place!r} (<chroots_base>/<name>)"


def chroots_from_dict(data: dict) -> dict[str, Chroot]:
    """The chroots of chroots.toml data, sorted by name; InvalidInput names the wrong entry."""
    table = data.get("chroots", {})
    if not isinstance(table, dict):
        raise InvalidInput("chroots: must be a table")
    chroots = {}
    for name in sorted(table):
        entry, where = table[name], f"chroots.{label(name)}"
        if not isinstance(entry, dict):
            raise InvalidInput(f"{where}: must be a table")
        texts = {}
        for key in ("description", "server", "path", "flavour", "version", "state", "job"):
            value = entry.get(key, "ready" if key == "state" else "")
            if not isinstance(value, str):
                raise InvalidInput(f"{where}: {key}: must be text")
            texts[key] = value
        tasks = entry.get("tasks", [])
        if not isinstance(tasks, list):
            raise InvalidInput(f"{where}: tasks: must be a list of task names")
        chroot = Chroot(name=name, tasks=list(tasks), **texts)
        if problem := chroot_problem(chroot):
            raise InvalidInput(f"{where}: {problem}")
        chroots[name] = chroot
    return chroots


def images_using(chroot_name: str, images: Mapping[str, Image] | Iterable[Image]) -> list[str]:
    """The names of the images that use the chroot, sorted."""
    values = images.values() if isinstance(images, Mapping) else images
    return sorted(image.name for image in values if image.chroot == chroot_name)


def check_removable(chroot_name: str, images: Mapping[str, Image] | Iterable[Image]) -> None:
    """Refuse to remove a chroot that images still use (listing them)."""
    users = images_using(chroot_name, images)
    if users:
        raise Refused(
            f"chroot {shown(chroot_name)} is still being used by the following Qlustar Images: "
            + ", ".join(users)
        )


def _xy_problem(text: str) -> str | None:
    try:
        if len(parse_version(text).parts) == 2:
            return None
    except InvalidInput:
        pass
    return f"{shown(text)} is not an x.y version"


def _path_problem(path: str) -> str | None:
    if not path.startswith("/"):
        return f"{shown(path)} is not an absolute path"
    if not path.isprintable():
        return f"{shown(path)} must not contain control characters"
    parts = [part for part in path.split("/") if part]
    if not parts:
        return "must be a directory below '/'"
    if any(part in (".", "..") for part in parts):
        return f"{shown(path)} must not contain '.' or '..'"
    return None
