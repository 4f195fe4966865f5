"""`qlutui rootfs ...`: Root FS customization configs for scripts (same service as the screen).

Changes go to every head-node; when one of them fails the others are still served, the failure
is printed on stderr and the exit status is 1. Paths inside a config are relative to it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from qlutui import commands
from qlutui.model.rootfs import INITD, mode_text, size_text

PATH_HELP = "a path inside the config, relative: etc/ntp.conf"


def register(verbs: Any) -> None:
    sub = commands.add_verb(verbs, "rootfs", "Root FS customization configs on the head-nodes")
    _config_verbs(sub)
    _file_verbs(sub)
    _boot_and_sync_verbs(sub)


def _config_verbs(sub: Any) -> None:
    """The configs themselves: the Root FS screen's list and its actions."""
    p = sub.add_parser("list", help="every config: files, size, images, head-node agreement")
    commands.json_flag(p)
    p.set_defaults(handler=list_configs)
    p = sub.add_parser("show", help="one config: status, differences, what the node gets")
    p.add_argument("name", help="the Root FS config's name")
    commands.json_flag(p)
    p.set_defaults(handler=show_config)
    p = sub.add_parser("new", help="create a config directory on every head-node")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument("--description", default="", metavar="D", help="free text shown beside the name")
    p.add_argument("--init-d", action="store_true", help="with an empty lib/qlustar/init.d/")
    p.set_defaults(handler=new_config)
    p = sub.add_parser("rm", help="delete a config on every head-node (and its assignments)")
    p.add_argument("name", help="the Root FS config's name")
    commands.dry_run_flag(p)
    p.set_defaults(handler=remove_config)
    p = sub.add_parser("describe", help="set a config's description")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument("text", help="the new description (one line; '' for none)")
    commands.json_flag(p)
    p.set_defaults(handler=describe)
    p = sub.add_parser("assign", help="set the images a config is assigned to")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument(
        "images", nargs="*", metavar="IMAGE", help="every image that gets it (none: no image)"
    )
    commands.json_flag(p)
    p.set_defaults(handler=assign)


def _file_verbs(sub: Any) -> None:
    """What is inside a config: the config screen's file tree and its actions."""
    p = sub.add_parser("ls", help="list a directory inside a config")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument(
        "path", nargs="?", default="", help="a directory inside the config (default: its top)"
    )
    commands.json_flag(p)
    p.set_defaults(handler=list_dir)
    p = sub.add_parser("cat", help="print a file of a config")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument("path", help=PATH_HELP)
    p.set_defaults(handler=cat_file)
    p = sub.add_parser("put", help="write a file into a config (atomically)")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument("path", help=PATH_HELP)
    p.add_argument("--from", dest="source", default="-", metavar="FILE", help="'-' = stdin")
    p.add_argument(
        "--mode",
        type=_mode,
        help=f"octal; default: keep, or for a new file 0755 in {INITD}/ (a boot script), else 0644",
    )
    p.add_argument(
        "--expect",
        type=_digest,
        metavar="SHA256",
        help="write only if every head-node's copy has this sha256 ('absent': none has it);"
        " without it, refused when the head-nodes' copies differ",
    )
    p.add_argument("--force", action="store_true", help="overwrite whatever the copies are")
    p.set_defaults(handler=put_file)
    p = sub.add_parser("import", help="copy a file of a head-node (and its mode) into a config")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument("source", help="the file's absolute path on the head-node: /etc/ntp.conf")
    p.add_argument("path", help=PATH_HELP)
    p.add_argument(
        "--headnode",
        metavar="HEADNODE",
        help="the head-node it is read from (default: the first that answers)",
    )
    p.set_defaults(handler=import_file)
    p = sub.add_parser("sum", help="the sha256 of a file's copy on every head-node")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument("path", help=PATH_HELP)
    commands.json_flag(p)
    p.set_defaults(handler=sum_file)
    p = sub.add_parser("mkdir", help="create a directory inside a config")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument("path", help=PATH_HELP)
    p.set_defaults(handler=make_dir)
    p = sub.add_parser("chmod", help="change the mode of a file or directory in a config")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument("path", help=PATH_HELP)
    p.add_argument("mode", type=_mode, help="octal, e.g. 755")
    p.set_defaults(handler=change_mode)
    p = sub.add_parser("mv", help="rename a file or directory inside a config")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument("path", help=PATH_HELP)
    p.add_argument("new_path", help="its new path in the config (refused if it exists already)")
    p.set_defaults(handler=move_path)
    p = sub.add_parser("rm-path", help="delete a file, link or directory tree inside a config")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument("path", help=PATH_HELP)
    commands.dry_run_flag(p)
    p.set_defaults(handler=remove_path)


def _boot_and_sync_verbs(sub: Any) -> None:
    """The boot order a node gets and the head-nodes' copies made one (HA)."""
    p = sub.add_parser("scripts", help="the boot scripts in run order, with their problems")
    p.add_argument("name", help="the Root FS config's name")
    commands.json_flag(p)
    p.set_defaults(handler=scripts)
    p = sub.add_parser("sync", help="make every other head-node's copy identical")
    p.add_argument("name", help="the Root FS config's name")
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="HEADNODE",
        help="the head-node whose copy wins",
    )
    commands.dry_run_flag(p, "print the content diff the sync would apply; change nothing")
    p.set_defaults(handler=sync)


def _mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal mode: {text!r}") from None
    if not 0 <= mode <= 0o7777:
        raise argparse.ArgumentTypeError(f"mode out of range: {text!r}")
    return mode


def _digest(text: str) -> str:
    if text == "absent":
        return ""
    if len(text) != 64 or not all(c in "0123456789abcdef" for c in text):
        raise argparse.ArgumentTypeError(f"not a sha256 (64 hex digits) or 'absent': {text!r}")
    return text


def _service(cluster: Any) -> Any:
    from qlutui.backend.rootfs import RootfsService

    return RootfsService(cluster)


async def _state(cluster: Any) -> tuple[Any, Any]:
    service = _service(cluster)
    state = await service.load()
    for name, error in state.down.items():
        print(f"qlutui: warning: {name} not read: {error}", file=sys.stderr)
    return service, state


def _report(outcome: Any, what: str) -> int:
    """Print what was done; failures on stderr and exit status 1."""
    if outcome.done:
        print(f"{what} on {', '.join(outcome.done)}")
    for error in outcome.failed.values():
        print(f"qlutui: {error}", file=sys.stderr)
    return 1 if outcome.failed else 0


def _view_dict(view: Any) -> dict:
    return {
        "name": view.name,
        "description": view.description,
        "files": view.files,
        "size": view.size,
        "images": list(view.images),
        "present": list(view.present),
        "missing": list(view.missing),
        "agree": view.agree,
        "status": view.status,
    }


def _agreement(view: Any) -> str:
    """The head-node agreement as one word for the table (`status` is the sentence):
    `in-sync`, `only:beosrv-c`, `missing:beosrv-d`, `differs:beosrv-c|beosrv-d` (groups
    of identical copies), `missing` (on every head-node), `unreachable`."""
    if not view.present:
        return "missing" if view.missing else "unreachable"
    if view.missing:
        return "missing:" + ",".join(view.missing)
    if len(view.differs) > 1:
        return "differs:" + "|".join(",".join(g) for g in view.differs)
    return "in-sync" if len(view.present) > 1 else f"only:{view.present[0]}"


async def list_configs(cluster: Any, args: argparse.Namespace) -> None:
    _, state = await _state(cluster)
    views = list(state.configs.values())
    data = [_view_dict(v) for v in views]
    rows = [
        [
            d["name"],
            str(d["files"]),
            size_text(d["size"], sep=""),
            ",".join(d["images"]),
            _agreement(view),
            d["description"],
        ]
        for d, view in zip(data, views, strict=True)
    ]
    header = ["NAME", "FILES", "SIZE", "IMAGES", "HEAD-NODES", "DESCRIPTION"]
    commands.emit(args, data, commands.table(rows, header) if rows else "no root-fs configs")


async def show_config(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    view = state.config(args.name)
    files = service.node_files(state, args.name)
    differences = service.differences(state, args.name)
    data = _view_dict(view) | {
        "differences": differences,
        "node_files": [
            {
                "path": f.destination,
                "kind": f.kind,
                "mode": f"{f.mode:04o}",
                "size": f.size,
                "target": f.target,
                "clashes": [{"image": c.image, "configs": list(c.configs)} for c in f.clashes],
            }
            for f in files
        ],
    }
    lines = [
        view.name,
        f"  Description: {view.description}",
        f"  Files:       {view.files} ({size_text(view.size)})",
        f"  Images:      {', '.join(view.images) or '-'}",
        f"  Head-nodes:  {view.status}",
        *(f"    differs: {commands.printable(p)}" for p in differences),
        "  The node gets:",
        *(
            f"    {f.mode:04o} {f.size:>8} {commands.printable(f.destination)}"
            + (f" -> {commands.printable(f.target)}" if f.target else "")
            + (f"  ({commands.printable(note)})" if (note := f.note(view.name)) else "")
            for f in files
        ),
    ]
    commands.emit(args, data, "\n".join(lines))


async def new_config(cluster: Any, args: argparse.Namespace) -> int:
    service, state = await _state(cluster)
    outcome = await service.create(state, args.name, args.description, initd=args.init_d)
    return _report(outcome, f"created root-fs config {args.name}")


async def remove_config(cluster: Any, args: argparse.Namespace) -> int:
    service, state = await _state(cluster)
    view = state.config(args.name)
    what = f"root-fs config {args.name} ({view.files} files, {size_text(view.size)})"
    if args.dry_run:
        where = ", ".join(view.present) or "no head-node"
        print(f"would delete {what} on {where}")
        if view.images:
            print(f"would unassign it from {', '.join(view.images)}")
        return 0
    outcome = await service.delete(state, args.name)
    what = f"deleted {what}"
    if view.images and not outcome.failed:
        what += f"; unassigned from {', '.join(view.images)}"
    return _report(outcome, what)


async def list_dir(cluster: Any, args: argparse.Namespace) -> None:
    entries = await _service(cluster).list_dir(args.name, args.path)
    data = [
        {
            "path": e.path,
            "kind": e.kind,
            "mode": f"{e.mode:04o}",
            "size": e.size,
            "target": e.digest,
        }
        for e in entries
    ]
    lines = [
        f"{mode_text(e.kind, e.mode)} {e.size:>8} {commands.printable(e.name)}"
        + (
            "/"
            if e.kind == "dir"
            else f" -> {commands.printable(e.digest)}"
            if e.kind == "link"
            else ""
        )
        for e in entries
    ]
    commands.emit(args, data, "\n".join(lines))


async def cat_file(cluster: Any, args: argparse.Namespace) -> None:
    data = await _service(cluster).read_file(args.name, args.path)
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


async def put_file(cluster: Any, args: argparse.Namespace) -> int:
    from qlutui.backend.rootfs import read_local

    data = read_local(None if args.source == "-" else args.source)
    outcome = await _service(cluster).write_file(
        args.name, args.path, data, args.mode, expect=args.expect, force=args.force
    )
    return _report(outcome, f"wrote {args.name}/{args.path} ({len(data)} bytes)")


async def sum_file(cluster: Any, args: argparse.Namespace) -> None:
    copies = await _service(cluster).copies(args.name, args.path)
    lines = [f"{digest or 'absent':<64}  {node}" for node, digest in copies.items()]
    commands.emit(args, copies, "\n".join(lines))


async def make_dir(cluster: Any, args: argparse.Namespace) -> int:
    outcome = await _service(cluster).mkdir(args.name, args.path)
    return _report(outcome, f"created directory {args.name}/{args.path}")


async def change_mode(cluster: Any, args: argparse.Namespace) -> int:
    outcome = await _service(cluster).chmod(args.name, args.path, args.mode)
    return _report(outcome, f"mode of {args.name}/{args.path} is {args.mode:04o}")


async def move_path(cluster: Any, args: argparse.Namespace) -> int:
    outcome = await _service(cluster).rename(args.name, args.path, args.new_path)
    return _report(outcome, f"renamed {args.name}/{args.path} to {args.new_path}")


async def remove_path(cluster: Any, args: argparse.Namespace) -> int:
    service = _service(cluster)
    if args.dry_run:
        entries = await service.removal(args.name, args.path)
        for node, entry in entries.items():
            what = f"{entry.kind} {args.name}/{entry.path}" if entry else "nothing"
            tree = " and everything in it" if entry and entry.kind == "dir" else ""
            print(f"would delete {what}{tree} on {node}")
        return 0
    outcome = await service.remove(args.name, args.path)
    return _report(outcome, f"deleted {args.name}/{args.path}")


async def import_file(cluster: Any, args: argparse.Namespace) -> int:
    service = _service(cluster)
    outcome = await service.import_file(args.name, args.path, args.source, args.headnode)
    return _report(outcome, f"imported {args.source} as {args.name}/{args.path}")


async def describe(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    service.describe(state, args.name, args.text)
    data = {"name": args.name, "description": args.text}
    commands.emit(args, data, f"{args.name}: description saved")


async def assign(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    service.set_images(state, args.name, args.images)
    images = sorted(set(args.images))
    data = {"name": args.name, "images": images}
    commands.emit(args, data, f"{args.name}: assigned to {', '.join(images) or 'no image'}")


async def scripts(cluster: Any, args: argparse.Namespace) -> int:
    found = await _service(cluster).scripts(args.name)
    data = [
        {
            "name": s.name,
            "position": s.position,
            "mode": f"{s.mode:04o}",
            "size": s.size,
            "problems": list(s.problems),
            "syntax": s.syntax,
            "fails": s.fails,
        }
        for s in found
    ]
    lines = []
    for s in found:
        lines.append(f"{s.position or '-':>3} {s.mode:04o} {commands.printable(s.name)}")
        lines += [f"      will not run: {problem}" for problem in s.problems]
        lines += [f"      runs and fails: {s.fails}"] if s.fails else []
    commands.emit(args, data, "\n".join(lines) or f"{args.name} has no boot scripts")
    return 0


async def sync(cluster: Any, args: argparse.Namespace) -> int:
    from qlutui.commands.jobs import format_line

    service, state = await _state(cluster)
    if args.dry_run:
        print("\n".join(await service.sync_preview(state, args.name, args.source)).rstrip())
        return 0
    job = await service.sync(state, args.name, args.source)
    many = len(job.record.targets) > 1
    await job.follow(lambda batch: print(*(format_line(x, many) for x in batch), sep="\n"))
    print(f"job {job.id}: {job.record.state}")
    return 0 if job.record.state == "Success" else 1
