"""`qlutui images ...`: the Qlustar OS Images dialog for scripts (same service as the screen).

Read verbs (`list`, `show`, `versions`, `upgrade-preview`) take `--json`. A refused change
exits 1 with a one-line reason and leaves images.toml as it was.
"""

from __future__ import annotations

import argparse
from typing import Any

from qlutui import commands

FLAVOUR_HELP = "the Debian or Ubuntu release it is based on: bookworm, noble, ..."


def register(verbs: Any) -> None:
    sub = commands.add_verb(verbs, "images", "Qlustar OS images: list, show, create, change")
    p = sub.add_parser("list", help="every image with its version and resolved release")
    commands.json_flag(p)
    p.set_defaults(handler=list_images)
    p = sub.add_parser("show", help="one image: fields, packages, hosts, warnings")
    p.add_argument("name", help="the image's name")
    commands.json_flag(p)
    p.set_defaults(handler=show_image)
    p = sub.add_parser("new", help="create an image")
    p.add_argument("name", help="the image's name")
    p.add_argument("--flavour", required=True, help=FLAVOUR_HELP)
    p.add_argument("--version", required=True, help="x, x.y or x.y.z")
    _field_options(p)
    p.add_argument("--module", action="append", default=[], metavar="M", help="repeatable")
    p.set_defaults(handler=new_image)
    p = sub.add_parser("rename", help="rename an image (its hosts follow)")
    p.add_argument("name", help="the image's name")
    p.add_argument("new_name", help="the new name")
    p.set_defaults(handler=rename_image)
    p = sub.add_parser("rm", help="delete an image (refused while hosts use it)")
    p.add_argument("name", help="the image's name")
    commands.dry_run_flag(p)
    p.set_defaults(handler=remove_image)
    for verb, handler, text in (
        ("add-module", add_module, "add a module offered for the image's release"),
        ("rm-module", remove_module, "remove a module (never core)"),
    ):
        p = sub.add_parser(verb, help=text)
        p.add_argument("name", help="the image's name")
        p.add_argument("module", help="a Qlustar module of its release and flavour")
        p.set_defaults(handler=handler)
    p = sub.add_parser("set", help="change fields of an image")
    p.add_argument("name", help="the image's name")
    p.add_argument("--flavour", help=FLAVOUR_HELP)
    p.add_argument("--version", help="x, x.y or x.y.z")
    _field_options(p, setting=True)
    p.set_defaults(handler=set_image)
    p = sub.add_parser("versions", help="the version choices and what they resolve to")
    p.add_argument("--flavour", help="only this flavour's choices")
    commands.json_flag(p)
    p.set_defaults(handler=versions)
    p = sub.add_parser("upgrade-preview", help="images that would move to a new release")
    p.add_argument("release", help="x.y.z")
    commands.json_flag(p)
    p.set_defaults(handler=preview)


def _field_options(p: argparse.ArgumentParser, setting: bool = False) -> None:
    chroot = p.add_mutually_exclusive_group() if setting else p
    chroot.add_argument("--chroot", metavar="C", help="the UnionFS chroot its nodes get")
    if setting:
        chroot.add_argument("--no-chroot", action="store_true", help="set the chroot to <None>")
    p.add_argument("--postinst", metavar="P", help="the script run at the end of the build")
    p.add_argument("--description", metavar="D", help="free text shown beside the name")
    p.add_argument("--rootfs", nargs="*", metavar="CFG", help="root-fs configs (replaces all)")
    p.add_argument("--force", action="store_true", help="accept a chroot of another flavour")


async def _state(cluster: Any) -> tuple[Any, Any]:
    from qlutui.backend.images import ImagesService

    service = ImagesService(cluster)
    await cluster.jobs.settle()  # the states of chroots whose job ended unwatched
    return service, await service.load()


def _summary(service: Any, state: Any, name: str) -> dict:
    from qlutui.model.images import release_of

    image = state.images[name]
    return {
        "name": name,
        "flavour": image.flavour,
        "version": image.version,
        "version_text": service.version_text(state, image),
        "version_token": service.version_token(state, image),
        "resolved": str(release) if (release := release_of(image, state.catalog)) else None,
        "chroot": image.chroot,
        "modules": list(image.modules),
        "hosts": len(service.hosts_using(state, name)),
        "warnings": service.warnings(state, name),
    }


async def list_images(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    data = [_summary(service, state, name) for name in state.images]
    rows = [
        [
            d["name"],
            d["flavour"],
            d["version_token"],
            d["chroot"],
            str(d["hosts"]),
            str(len(d["warnings"])),
        ]
        for d in data
    ]
    header = ["NAME", "FLAVOUR", "VERSION", "CHROOT", "HOSTS", "WARNINGS"]
    commands.emit(args, data, commands.table(rows, header) if rows else "no images")


async def show_image(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model.noderange import fold

    service, state = await _state(cluster)
    image = state.image(args.name)
    data = _summary(service, state, args.name) | {
        "postinst": image.postinst,
        "description": image.description,
        "rootfs": list(image.rootfs),
        "packages": service.packages(state, args.name),
        "host_names": service.hosts_using(state, args.name),
        "catalog": state.catalog_source,
    }
    lines = [
        f"{image.name}",
        f"  Flavour:        {image.flavour}",
        f"  Version:        {data['version_text']}",
        f"  UnionFS Chroot: {image.chroot or '<None>'}",
        f"  Modules:        {', '.join(image.modules)}",
        f"  Postinst:       {image.postinst}",
        f"  Description:    {image.description}",
        f"  Root FS:        {', '.join(image.rootfs)}",
        f"  Hosts ({data['hosts']}):     {fold(data['host_names'])}".rstrip(),
        "  Packages:",
        *(f"    {p}" for p in data["packages"]),
        *(f"  warning: {w}" for w in data["warnings"]),
    ]
    commands.emit(args, data, "\n".join(lines))


async def new_image(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    service.create(
        state,
        args.name,
        flavour=args.flavour,
        version=args.version,
        chroot=args.chroot or "",
        postinst=args.postinst or "",
        description=args.description or "",
        modules=args.module,
        rootfs=args.rootfs or [],
        force=args.force,
    )
    print(f"created image {args.name}")


async def rename_image(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    service.rename(state, args.name, args.new_name)
    print(f"renamed image {args.name} to {args.new_name}")


async def remove_image(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    if args.dry_run:
        service.check_delete(state, args.name)
        print(f"would delete image {args.name} (its entry in images.toml)")
        return
    service.delete(state, args.name)
    print(f"deleted image {args.name}")


async def add_module(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    service.add_module(state, args.name, args.module)
    print(f"added module {args.module} to image {args.name}")


async def remove_module(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    service.remove_module(state, args.name, args.module)
    print(f"removed module {args.module} from image {args.name}")


async def set_image(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    new = service.update(
        state,
        args.name,
        flavour=args.flavour,
        version=args.version,
        chroot="" if args.no_chroot else args.chroot,
        postinst=args.postinst,
        description=args.description,
        rootfs=args.rootfs,
        force=args.force,
    )
    print(f"updated image {args.name}" if new is not state else f"image {args.name} unchanged")


async def versions(cluster: Any, args: argparse.Namespace) -> None:
    from qlutui.model.versions import describe, parse_version, policy

    service, state = await _state(cluster)
    releases = state.catalog.releases(args.flavour)
    data = []
    for choice in service.version_choices(state, args.flavour):
        version = parse_version(choice)
        data.append(
            {"version": choice, "policy": policy(version), "text": describe(version, releases)}
        )
    scope = f"for {args.flavour}" if args.flavour else "for any flavour"
    text = "\n".join(
        [f"version choices {scope} ({state.catalog_source}):"] + [f"  {d['text']}" for d in data]
    )
    commands.emit(args, data, text if data else f"no releases {scope}")


async def preview(cluster: Any, args: argparse.Namespace) -> None:
    service, state = await _state(cluster)
    moves = service.upgrade_preview(state, args.release)
    data = [
        {
            "image": m.image,
            "version": str(m.choice),
            "from": str(m.before) if m.before else None,
            "to": str(m.after),
        }
        for m in moves
    ]
    rebuild = list(cluster.config.image_rebuild)
    for d in data:  # its config file changes: writing it runs the rebuild there
        d["rebuild"] = bool(rebuild)
    rows = [[d["image"], d["version"], d["from"] or "-", d["to"]] for d in data]
    text = (
        commands.table(rows, ["IMAGE", "VERSION", "FROM", "TO"])
        if rows
        else f"no image would move to {args.release}"
    )
    if rows and rebuild:
        names = ", ".join(d["image"] for d in data)
        text += f"\nWrite Files would rebuild: {names} (with {' '.join(rebuild)})"
    commands.emit(args, data, text)
