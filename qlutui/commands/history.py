"""`qlutui history list|diff|restore STATEFILE [VERSION]`: previous versions of a state file.

VERSION is a number from `history list` (1 = the newest previous version; default 1).
`restore` is an audited, locked edit; the version it replaces is kept, so it can be undone.
"""

from __future__ import annotations

import argparse
from typing import Any

from qlutui import commands

VERSION_HELP = "a number from `history list`: 1 is the newest previous version (default)"


def register(verbs: Any) -> None:
    sub = commands.add_verb(
        verbs, "history", "previous versions of a state file: list, diff, restore"
    )
    p = sub.add_parser("list", help="the saved versions of a state file, newest first")
    p.add_argument("file", metavar="STATEFILE", help="images, images.toml, inventory, ...")
    commands.json_flag(p)
    p.set_defaults(handler=list_versions)
    for name, handler, help in (
        ("diff", show_diff, "what restoring a version would change (current -> version)"),
        ("restore", restore_version, "put a previous version back (itself undoable)"),
    ):
        p = sub.add_parser(name, help=help)
        p.add_argument("file", metavar="STATEFILE", help="images, images.toml, inventory, ...")
        p.add_argument(
            "version", nargs="?", type=int, default=1, metavar="VERSION", help=VERSION_HELP
        )
        commands.json_flag(p)
        p.set_defaults(handler=handler)


def _service(cluster: Any) -> Any:
    from qlutui.backend.history import HistoryService

    return HistoryService(cluster)


def list_versions(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.backend.history import state_area

    area = state_area(args.file)
    versions = _service(cluster).versions(area)
    rows = [[str(v.number), str(v.size), v.replaced] for v in versions]  # the spaced one last
    text = (
        commands.table(rows, ["VERSION", "BYTES", "REPLACED(UTC)"])
        if rows
        else (f"{area}.toml has no previous version")
    )
    commands.emit(args, [v.to_dict() for v in versions], text)


def show_diff(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.backend.history import state_area

    service = _service(cluster)
    version = service.version(state_area(args.file), args.version)
    diff = service.diff(version)
    data = {**version.to_dict(), "diff": diff}
    commands.emit(args, data, diff.rstrip("\n") or f"version {version.number} is the current file")


def restore_version(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.backend.history import state_area

    service = _service(cluster)
    version = service.version(state_area(args.file), args.version)
    changed = bool(service.diff(version))
    service.restore(version)
    text = (
        f"restored {version.area}.toml version {version.number} (replaced {version.replaced})"
        if changed
        else f"{version.area}.toml already is version {version.number}: nothing to restore"
    )
    commands.emit(args, {**version.to_dict(), "restored": changed}, text)
