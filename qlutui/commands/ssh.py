"""`qlutui ssh ...`: the generated SSH host files (render, diff, write, headers, host keys).

FILE is known_hosts, shosts_equiv or authorized_keys. `render`, `diff` and `write` are
`qlutui files render|diff|write` for these files (commands/files.py); `scan-keys` stores keys
only with --yes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from qlutui import commands
from qlutui.commands import files
from qlutui.model.names import counted

FILES = ("known_hosts", "shosts_equiv", "authorized_keys")


def _port(text: str) -> int:
    if not (text.isdigit() and len(text) <= 5 and 0 < int(text) < 65536):
        raise argparse.ArgumentTypeError(f"expected a port number (1-65535), got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def register(verbs: Any) -> None:
    sub = commands.add_verb(verbs, "ssh", "generated SSH host files: render, diff, write, keys")
    p = sub.add_parser("list", help="the files, their descriptions and destinations")
    commands.json_flag(p)
    p.set_defaults(handler=list_files)
    # render, diff and write are `qlutui files ...` for the SSH Configs class
    p = sub.add_parser("render", help="print a file as it would be written")
    p.add_argument("name", choices=FILES, metavar="FILE")
    p.set_defaults(handler=files.render, only="ssh")
    files.add_diff_write(sub, "FILE", only="ssh")
    p = sub.add_parser("header", help="print a file's header, or set it (--set PATH or -)")
    p.add_argument("file", choices=FILES, metavar="FILE")
    p.add_argument("--set", metavar="PATH|-", dest="source")
    p.add_argument(
        "--allow-patterns",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="confirm the wildcards and negations of the header (`*`, `?`, `!`; shosts.equiv"
        " `+`, `-`); --no-allow-patterns withdraws that",
    )
    p.set_defaults(handler=header)
    p = sub.add_parser("describe", help="set a file's description")
    p.add_argument("file", choices=FILES, metavar="FILE")
    p.add_argument("text")
    p.set_defaults(handler=describe)
    p = sub.add_parser("scan-keys", help="fetch host keys over the network, store with --yes")
    p.add_argument("hosts", nargs="*", metavar="RANGE", help="node ranges (default: every host)")
    p.add_argument("--port", type=_port, default=22, help="SSH port (default 22)")
    p.add_argument(
        "--address",
        action="append",
        default=[],
        metavar="HOST=IP[:PORT]",
        help="scan HOST there instead of at its primary-network IP (repeatable)",
    )
    p.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per handshake")
    p.add_argument("--yes", action="store_true", help="store new and changed keys")
    commands.json_flag(p)
    p.set_defaults(handler=scan_keys)


def _service(cluster: Any) -> Any:
    from qlutui.backend.sshfiles import SSHFilesService

    return SSHFilesService(cluster)


def list_files(cluster: Any, args: argparse.Namespace) -> None:
    service = _service(cluster)
    options = service.load().options
    data = [
        {
            "file": kind,
            "description": options[kind].description,
            "header_lines": len(options[kind].header.splitlines()),
            "destinations": list(cluster.config.ssh_destinations[kind]),
            "mode": f"{cluster.config.ssh_modes[kind]:04o}",
        }
        for kind in FILES
    ]
    rows = [[d["file"], str(d["header_lines"]), d["description"]] for d in data]
    commands.emit(args, data, commands.table(rows, ["FILE", "HEADER LINES", "DESCRIPTION"]))


def _parse_address(text: str) -> tuple[str, tuple[str, int | None]]:
    from qlutui.commands import UsageError

    host, sep, where = text.partition("=")
    if not sep or not host or not where:
        raise UsageError(f"--address {text}: expected HOST=IP[:PORT]")
    ip, port = where, None
    if where.startswith("["):  # [v6]:port
        ip, _, rest = where[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif where.count(":") == 1:
        ip, port = where.split(":")
    if port is not None and not (port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
        raise UsageError(f"--address {text}: bad port {port!r}")
    return host, (ip, int(port) if port else None)


def header(cluster: Any, args: argparse.Namespace) -> None:
    service = _service(cluster)
    if args.source is None and args.allow_patterns is None:
        sys.stdout.write(service.load().options[args.file].header)
        return
    if args.source is None:  # only the setting changes: the saved header is checked with it
        text = service.load().options[args.file].header
    else:
        text = sys.stdin.read() if args.source == "-" else Path(args.source).read_text()
    service.save_header(None, args.file, text, allow_patterns=args.allow_patterns)
    allowed = {None: "", True: ", patterns allowed", False: ", patterns refused"}
    print(
        f"{args.file}: header saved ({len(text.splitlines())} lines{allowed[args.allow_patterns]})"
    )


def describe(cluster: Any, args: argparse.Namespace) -> None:
    _service(cluster).save_description(None, args.file, args.text)
    print(f"{args.file}: description saved")


async def scan_keys(cluster: Any, args: argparse.Namespace) -> int:
    service = _service(cluster)
    addresses = dict(_parse_address(a) for a in args.address)
    from qlutui.model.noderange import expand_all

    hosts = expand_all(args.hosts) if args.hosts else []
    targets = service.scan_targets(hosts, port=args.port, addresses=addresses)
    results = await service.scan_keys(targets, timeout=args.timeout)
    stored = service.store_keys(results) if args.yes else []
    data = [
        {"host": r.host, "address": r.target.address, "state": r.state, "error": r.error,
         "keys": [{"key": k, "state": r.key_state(k)} for k in r.offered]}
        for r in results
    ]  # fmt: skip
    lines = []
    for r in results:
        lines.append(
            f"{r.host} {r.target.address}: {r.state}" + (f" ({r.error})" if r.error else "")
        )
        lines += [f"  {r.key_state(k):9} {k[:60]}" for k in r.offered]
        if r.state == "changed":
            lines.append("  WARNING: the host key changed: a reinstall, or an attack; check it")
    pending = [r.host for r in results if r.state in ("new", "changed")]
    if args.yes:
        lines.append(f"stored the keys of {counted(len(stored), 'host')} in inventory.toml")
    elif pending:
        lines.append(
            f"not stored: run again with --yes to store the keys of {counted(len(pending), 'host')}"
        )
    commands.emit(args, {"results": data, "stored": stored}, "\n".join(lines))
    return 1 if any(r.state == "unreachable" for r in results) else 0
