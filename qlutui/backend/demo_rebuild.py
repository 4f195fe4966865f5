#!/usr/bin/env python3
"""The demo's stand-in for `qlustar-image-reconfigure IMAGE` (stdlib only).

`qlutui init-demo` copies this file to DIR/bin/qlustar-image-reconfigure and sets it as the
demo's `[images] rebuild` command, so that writing an image's config file in Write Files
runs a rebuild job a newcomer can watch. It builds nothing: it checks the image file it is
given (run with the head-node's root as its working directory, as every rebuild is) and says
what a real rebuild would assemble:

    qlustar-image-reconfigure IMAGE FILE HEADNODE

- FILE (the image's qlutui-image/1 config, a head-node path) parses, and names IMAGE;
- its chroot (`server:path`), when this head-node exports it, is present here;
- each module package is one the demo's catalog (DIR/state/catalog.toml) offers.
Exit 0 when all holds, 1 with the reason on stderr otherwise.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PACKAGE = re.compile(r"qlustar-module-(?P<module>.+)-(?P<flavour>[^-]+)-amd64-(?P<version>[\d.]+)")


def offered(catalog: dict) -> set[tuple[str, str, str]]:
    """(module, flavour, release) of every module package the catalog knows."""
    return {
        (module, flavour, release["version"])
        for release in catalog.get("releases", [])
        for flavour, modules in release.get("modules", {}).items()
        for module in modules
    }


def check(image: str, file: str, headnode: str, catalog_path: Path) -> list[str]:
    """What a rebuild would assemble, line by line; ValueError says why it would fail."""
    try:
        conf = tomllib.loads(Path("." + file).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the image file {file}: {exc}") from None
    if conf.get("name") != image or conf.get("format") != "qlutui-image/1":
        raise ValueError(f"{file} is not the qlutui-image/1 file of image {image}")
    lines = [f"image {image}: {conf['flavour']} {conf['version']} -> release {conf['resolved']}"]
    known = offered(tomllib.loads(catalog_path.read_text()))
    for package in conf["packages"]:
        m = PACKAGE.fullmatch(package)
        if not m or (m["module"], m["flavour"], m["version"]) not in known:
            raise ValueError(f"module package {package} is not in the catalog")
        lines.append(f"  module package {package}: known")
    if conf["chroot"]:
        server, _, path = conf["chroot"].partition(":")
        if server != headnode:
            lines.append(f"  chroot {conf['chroot']}: exported by {server} (NFS), not checked here")
        elif not Path("." + path).is_dir():
            raise ValueError(f"chroot {conf['chroot']} is missing here: build it (Manage Chroots)")
        else:
            lines.append(f"  chroot {conf['chroot']}: present")
    lines.append(f"  root-fs configs: {', '.join(conf['rootfs']) or 'none'}")
    lines.append(f"  hosts: {conf['hosts'] or 'none'}")
    lines.append(f"rebuild of {image} on {headnode}: checked (demo stand-in: nothing was built)")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: qlustar-image-reconfigure IMAGE FILE HEADNODE (qlutui demo)", file=sys.stderr)
        return 2
    catalog = Path(__file__).resolve().parent.parent / "state" / "catalog.toml"
    try:
        lines = check(*argv, catalog)
    except ValueError as exc:
        print(f"qlustar-image-reconfigure (demo): {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
