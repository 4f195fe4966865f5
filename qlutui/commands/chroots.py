"""`qlutui chroots list|show|new|clone|edit|rm|rename|run|upgrade|clean|add-tasks|
release-upgrade|shell`: the Manage Chroots dialog for scripts (`shell`: an interactive root
shell inside a chroot, also on an SSH head-node).

`new`, `clone`, `rename`, `rm`, `run`, `upgrade`, `clean`, `add-tasks` and `release-upgrade`
start a job on the chroot's head-node and stream its log to stdout until it ends; the exit
status is 1 when the job failed (or was refused).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from functools import partial
from typing import Any

from qlutui import commands
from qlutui.commands.jobs import format_line


def register(verbs: Any) -> None:
    sub = commands.add_verb(verbs, "chroots", "UnionFS chroots: list, build, clone, remove")
    p = sub.add_parser("list", help="every chroot with its server, flavour, version and state")
    p.add_argument(
        "--check",
        action="store_true",
        help="also check that each ready chroot's tree is on its head-node (exit 1 if not)",
    )
    commands.json_flag(p)
    p.set_defaults(handler=list_chroots)
    p = sub.add_parser("show", help="one chroot: fields, tree size, images using it")
    p.add_argument("name", help="the chroot's name")
    commands.json_flag(p)
    p.set_defaults(handler=show_chroot)
    p = sub.add_parser("new", help="build a chroot (streams the build log)")
    p.add_argument("name", help="the chroot's name")
    p.add_argument("--server", help="head-node (default: the first configured)")
    p.add_argument("--flavour", required=True, help="the Debian or Ubuntu release: bookworm")
    p.add_argument("--version", required=True, help="x.y")
    p.add_argument("--task", action="append", default=[], metavar="T", help="repeatable")
    p.add_argument("--description", default="", help="free text shown beside the name")
    p.set_defaults(handler=new_chroot)
    p = sub.add_parser("clone", help="copy a chroot under a new name (streams the log)")
    p.add_argument("name", help="the chroot's name")
    p.add_argument("new_name", help="the new chroot's name")
    p.add_argument("--description", default="", help="free text shown beside the name")
    p.set_defaults(handler=clone_chroot)
    p = sub.add_parser("edit", help="change a chroot's description")
    p.add_argument("name", help="the chroot's name")
    p.add_argument("--description", required=True, help="the new description")
    p.set_defaults(handler=edit_chroot)
    p = sub.add_parser("rm", help="remove a chroot (refused while images use it)")
    p.add_argument("name", help="the chroot's name")
    commands.dry_run_flag(p)
    p.set_defaults(handler=remove_chroot)
    p = sub.add_parser("rename", help="move the tree to the new name, repoint its images")
    p.add_argument("name", help="the chroot's name")
    p.add_argument("new_name", help="the new chroot's name")
    p.set_defaults(handler=rename_chroot)
    p = sub.add_parser(
        "run",
        help="run a command inside a chroot (a job; streams its log)",
        usage="%(prog)s NAME -- ARGV...",
    )
    p.add_argument("name", help="the chroot's name")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="the command and its arguments")
    p.set_defaults(handler=run_in_chroot)
    p = sub.add_parser("shell", help="an interactive root shell inside a chroot")
    p.add_argument("name", help="the chroot's name")
    p.set_defaults(handler=chroot_shell)
    p = sub.add_parser(
        "add-tasks", help="install the packages of catalog tasks in a chroot (streams the log)"
    )
    p.add_argument("name", help="the chroot's name")
    p.add_argument("tasks", nargs="+", metavar="TASK", help="Qlustar tasks (package sets)")
    p.set_defaults(handler=add_tasks)
    p = sub.add_parser(
        "release-upgrade",
        help="clone a chroot, switch the clone to a newer release x.y, upgrade it (streams the "
        "log; the original is never touched)",
    )
    p.add_argument("name", help="the chroot's name")
    p.add_argument("version", help="the new release x.y")
    p.add_argument(
        "--clone",
        metavar="NEWNAME",
        help="the clone to upgrade: made from NAME unless a chroot of that name exists "
        "(default: NAME-VERSION)",
    )
    p.set_defaults(handler=release_upgrade)
    for action, text in (
        ("upgrade", "apt-get update + apt-get -y full-upgrade inside a chroot"),
        ("clean", "apt-get clean inside a chroot"),
    ):
        p = sub.add_parser(action, help=f"{text} (streams the log)")
        p.add_argument("name", help="the chroot's name")
        p.set_defaults(handler=partial(run_action, action))


async def _state(cluster: Any) -> tuple[Any, Any]:
    from qlutui.backend.chroots import ChrootsService

    service = ChrootsService(cluster)
    await cluster.jobs.settle()  # a build that ended unwatched is ready or failed, not building
    return service, await service.load()


def _summary(state: Any, name: str) -> dict:
    return state.chroot(name).to_dict() | {"name": name, "images": state.users(name)}


async def list_chroots(cluster: Any, args: argparse.Namespace) -> int:
    service, state = await _state(cluster)
    data = [_summary(state, name) for name in state.chroots]
    problems = await service.tree_problems(state) if args.check else {}
    rows = []
    for d in data:
        rows.append([d["name"], d["server"], d["flavour"], d["version"], d["state"], d["path"]])
        if args.check:  # the problem in words, last: the one column that may hold spaces
            d["problem"] = problems.get(d["name"], "")
            rows[-1].append(d["problem"])
    header = ["NAME", "SERVER", "FLAVOUR", "VERSION", "STATE", "PATH"]
    header += ["PROBLEM"] if args.check else []
    commands.emit(args, data, commands.table(rows, header) if rows else "no chroots")
    return 1 if any(problems.values()) else 0


async def show_chroot(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    probe = await service.probe(state.chroot(args.name))
    data = _summary(state, args.name) | {
        "present": probe.present,
        "size": probe.size,
        "problem": probe.problem,
    }
    lines = [args.name] + [
        f"  {label + ':':<13}{value}"
        for label, value in (
            ("Description", data["description"]),
            ("Server", data["server"]),
            ("Path", data["path"]),
            ("Flavour", data["flavour"]),
            ("Version", data["version"]),
            ("Tasks", ", ".join(data["tasks"]) or "-"),
            ("State", data["state"] + (f" ({probe.problem})" if probe.problem else "")),
            ("Size", "-" if probe.size is None else f"{probe.size} bytes"),
            ("Images", ", ".join(data["images"]) or "-"),
            ("Last job", data["job"] or "-"),
        )
    ]
    commands.emit(args, data, "\n".join(lines))


async def _stream(job: Any) -> int:
    """Print the job's log as it comes; 0 when it succeeded."""
    many = len(job.record.targets) > 1
    print(job.record.title, flush=True)
    await job.follow(
        lambda batch: print(*(format_line(x, many) for x in batch), sep="\n", flush=True)
    )
    return 0 if job.record.state in ("Success", "Errors") else 1


async def new_chroot(cluster: Any, args: argparse.Namespace) -> int:
    service, state = await _state(cluster)
    server = args.server or cluster.headnode_names[0]
    job = await service.new(
        state, args.name, args.description, server, args.flavour, args.version, args.task
    )
    return await _stream(job)


async def clone_chroot(cluster: Any, args: argparse.Namespace) -> int:
    service, state = await _state(cluster)
    return await _stream(await service.clone(state, args.name, args.new_name, args.description))


async def edit_chroot(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    service.edit_description(state, args.name, args.description)
    print(f"chroot {args.name}: description saved")


async def remove_chroot(cluster: Any, args: argparse.Namespace) -> int:
    service, state = await _state(cluster)
    if args.dry_run:
        await service.check_remove(state, args.name)
        chroot = state.chroot(args.name)
        print(f"would remove chroot {args.name}: the tree {chroot.server}:{chroot.path}")
        return 0
    return await _stream(await service.remove(state, args.name))


async def rename_chroot(cluster: Any, args: argparse.Namespace) -> int:
    service, state = await _state(cluster)
    await service.check_tree(state, args.name, "renamed")
    images = service.check_rename(state, args.name, args.new_name)
    if images:
        print(f"images repointed to {args.new_name} on success: {', '.join(images)}")
    return await _stream(await service.rename(state, args.name, args.new_name))


async def run_in_chroot(cluster: Any, args: argparse.Namespace) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise commands.UsageError("no command given: qlutui chroots run NAME -- ARGV...")
    service, state = await _state(cluster)
    return await _stream(await service.run(state, args.name, argv))


async def run_action(action: str, cluster: Any, args: argparse.Namespace) -> int:
    service, state = await _state(cluster)
    return await _stream(await service.run_action(state, args.name, action))


async def add_tasks(cluster: Any, args: argparse.Namespace) -> int:
    service, state = await _state(cluster)
    return await _stream(await service.add_tasks(state, args.name, args.tasks))


async def release_upgrade(cluster: Any, args: argparse.Namespace) -> int:
    service, state = await _state(cluster)
    clone = args.clone or f"{args.name}-{args.version}"
    job = await service.release_upgrade(state, args.name, args.version, clone)
    if job.record.meta.get("cloned"):
        print(f"{args.name} is cloned to {clone} first; {args.name} itself is not touched")
    return await _stream(job)


async def chroot_shell(cluster: Any, args: argparse.Namespace) -> int:
    from qlutui.backend.chroots import LOCK_EXIT, LOCK_HOLDERS

    service, state = await _state(cluster)
    argv = await service.shell_command(state, args.name)
    print(f"entering chroot {args.name}; exit leaves it", file=sys.stderr, flush=True)
    proc = await asyncio.create_subprocess_exec(*argv)
    rc = await proc.wait()
    if rc == int(LOCK_EXIT):
        print(f"qlutui: chroot {args.name} is busy: {LOCK_HOLDERS}", file=sys.stderr)
        return 1
    print(f"left chroot {args.name}", file=sys.stderr)
    return rc  # the shell's, as `chroot` itself does
