"""`qlutui files list|render|diff|write [CLASS|FILE ...]`: every generated file (SSH Configs,
Hosts, Qlustar Images), from the registry in backend/files/.

A CLASS (`ssh`, `hosts`, `images`) stands for all its files; a FILE is a file id from `files
list` (`known_hosts`, `hosts`, `images/Standard-noble`). `diff` exits 1 when anything differs
(like diff(1)); `write` writes only what changed (`--all`: everything again), waits for its
job and exits 1 unless every file was written or already up to date.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from qlutui import commands

NAMES_HELP = "classes or files, as `qlutui files list` names them (default: all)"


def register(verbs: Any) -> None:
    sub = commands.add_verb(verbs, "files", "generated files of every class: list, diff, write")
    p = sub.add_parser("list", help="the classes, their files and destinations")
    p.add_argument("names", nargs="*", metavar="CLASS|FILE", help=NAMES_HELP)
    commands.json_flag(p)
    p.set_defaults(handler=list_files)
    add_render(sub, "FILE")
    add_diff_write(sub, "CLASS|FILE")
    p = sub.add_parser("header", help="print the hosts table's header, or set it (--set PATH|-)")
    p.add_argument("name", choices=["hosts"], metavar="hosts", help="the hosts table")
    commands.header_set_flag(p)
    commands.json_flag(p)
    p.set_defaults(handler=header)


def add_render(sub: Any, metavar: str, only: str | None = None, **names: Any) -> None:
    """The render verb, for `files` or (with `only`) its alias; `names` e.g. `choices=`."""
    p = sub.add_parser("render", help="print a file as it would be written")
    p.add_argument("name", metavar=metavar, help="the generated file's name", **names)
    commands.json_flag(p)
    p.set_defaults(handler=render, only=only)


def add_diff_write(sub: Any, metavar: str, only: str | None = None) -> None:
    """The diff and write verbs, for `files` or (with `only`, a class id) its aliases."""
    p = sub.add_parser("diff", help="unified diff against every head-node (exit 1 if any differ)")
    p.add_argument("names", nargs="*", metavar=metavar, help=NAMES_HELP)
    commands.json_flag(p)
    p.set_defaults(handler=diff, only=only)
    p = sub.add_parser("write", help="write what changed to every head-node (a job)")
    p.add_argument("names", nargs="*", metavar=metavar, help=NAMES_HELP)
    p.add_argument("--all", action="store_true", help="also write files that are up to date")
    p.add_argument("--only-changed", action="store_true", help=argparse.SUPPRESS)  # the default
    commands.json_flag(p)
    p.set_defaults(handler=write, only=only)


def _service(cluster: Any, args: argparse.Namespace) -> Any:
    from qlutui.backend.files import files_service

    only = getattr(args, "only", None)
    return files_service(cluster, [only] if only else None)


def list_files(cluster: Any, args: argparse.Namespace) -> None:
    specs = _service(cluster, args).select(args.names)
    data = [
        {
            "class": s.cls,
            "file": s.id,
            "title": s.title,
            "destinations": list(s.paths),
            "mode": f"{s.mode:04o}",
        }
        for s in specs
    ]
    rows = [[d["class"], d["file"], ", ".join(d["destinations"])] for d in data]
    commands.emit(args, data, commands.table(rows, ["CLASS", "FILE", "DESTINATIONS"]))


async def render(cluster: Any, args: argparse.Namespace) -> None:
    text = await _service(cluster, args).rendered(args.name)
    if args.json:
        commands.emit(args, {"file": args.name, "text": text}, "")
    else:
        sys.stdout.write(text)


async def diff(cluster: Any, args: argparse.Namespace) -> int:
    rows = await _service(cluster, args).statuses(args.names)
    if args.json:
        commands.emit(args, [r.to_dict() for r in rows], "")
    else:
        for row in rows:
            if row.state in ("unreachable", "invalid"):
                print(f"qlutui: {row.dest.label}: {row.state}: {row.error}", file=sys.stderr)
            else:
                sys.stdout.write(row.diff())
    return 0 if all(r.state == "unchanged" for r in rows) else 1


async def write(cluster: Any, args: argparse.Namespace) -> int:
    from qlutui.commands.jobs import format_line

    service = _service(cluster, args)
    rows = await service.statuses(args.names)
    skipped = [r for r in rows if r.state == "unreachable"]
    for row in skipped:
        print(f"qlutui: {row.dest.label}: not written: {row.error}", file=sys.stderr)
    todo = service.to_write(rows, only_changed=not args.all)  # refuses invalid files
    if not todo:
        data = {"jobs": [], "files": [], "skipped": [r.to_dict() for r in skipped]}
        commands.emit(args, data, "nothing to write: the files are up to date")
        return 1 if skipped else 0
    job = await service.write(todo, only_changed=not args.all)
    await job.wait()
    jobs = [job]
    for after in job.record.meta.get("after", []):  # e.g. image rebuilds, one per head-node
        jobs.append(cluster.jobs.get(after))
        await jobs[-1].wait()
    if args.json:
        data = {
            "jobs": [{"id": j.id, "title": j.record.title, "state": j.record.state} for j in jobs],
            "files": [r.to_dict() for r in todo],
            "skipped": [r.to_dict() for r in skipped],
        }
        commands.emit(args, data, "")
    else:
        for line in (line for j in jobs for line in j.lines()):
            print(format_line(line, True))
    return 0 if all(j.record.state == "Success" for j in jobs) and not skipped else 1


def header(cluster: Any, args: argparse.Namespace) -> None:

    from qlutui.backend.files.hosts import HostsFile

    hosts = HostsFile(cluster)
    if args.source is None:
        text = hosts.header(None)
        if args.json:
            commands.emit(args, {"file": "hosts", "header": text}, "")
        else:
            sys.stdout.write(text)
        return
    text = commands.read_source("--set", args.source)
    hosts.save_header(None, text)
    lines = len(text.splitlines())
    data = {"file": "hosts", "saved": True, "lines": lines}
    commands.emit(args, data, f"hosts: header saved ({lines} lines)")
