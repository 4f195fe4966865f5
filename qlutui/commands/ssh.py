"""`qlutui ssh ...`: the generated SSH host files (render, diff, write, headers, modes, keys).

FILE is known_hosts, shosts_equiv or authorized_keys. `render`, `diff` and `write` are
`qlutui files render|diff|write` for these files (commands/files.py); `scan-keys` stores keys
only with --yes.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from qlutui import commands
from qlutui.commands import files
from qlutui.model.names import counted

FILES = ("known_hosts", "shosts_equiv", "authorized_keys")
FILE_HELP = "which file: %(choices)s (a name, not a path)"


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
    files.add_render(sub, "FILE", only="ssh", choices=FILES)
    files.add_diff_write(sub, "FILE", only="ssh")
    p = sub.add_parser("header", help="print a file's header, or set it (--set PATH or -)")
    p.add_argument("file", choices=FILES, metavar="FILE", help=FILE_HELP)
    commands.header_set_flag(p)
    p.add_argument(
        "--allow-patterns",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="confirm the wildcards and negations of the header (`*`, `?`, `!`; shosts.equiv"
        " `+`, `-`); --no-allow-patterns withdraws that",
    )
    commands.json_flag(p)
    p.set_defaults(handler=header)
    p = sub.add_parser(
        "modes",
        help="print a file's modes, or set them (hashed names, host CA, IPs, networks)",
        description="Without an option, print the modes of FILE; with options, set them"
        " (known_hosts: all four; shosts_equiv: --ips and --networks).",
    )
    p.add_argument("file", choices=FILES, metavar="FILE", help=FILE_HELP)
    p.add_argument(
        "--hashed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="known_hosts: one hashed name (|1|salt|hmac) per line",
    )
    p.add_argument(
        "--ips",
        action=argparse.BooleanOptionalAction,
        default=None,
        dest="include_ips",
        help="the hosts' IPs beside their names",
    )
    ca = p.add_mutually_exclusive_group()
    ca.add_argument(
        "--ca-key",
        metavar="PATH|-",
        help="known_hosts: one @cert-authority line for every name with this CA public key"
        " (its .pub file, or - for stdin) instead of the host keys",
    )
    ca.add_argument("--no-ca-key", action="store_true", help="known_hosts: host keys again")
    nets = p.add_mutually_exclusive_group()
    nets.add_argument("--networks", metavar="NET[,NET...]", help="only these networks")
    nets.add_argument(
        "--all-networks", action="store_true", help="every network with ssh = true (default)"
    )
    commands.json_flag(p)
    p.set_defaults(handler=modes)
    p = sub.add_parser("describe", help="set a file's description")
    p.add_argument("file", choices=FILES, metavar="FILE", help=FILE_HELP)
    p.add_argument("text", help="the new description (one line; '' for none)")
    commands.json_flag(p)
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
            "modes": _modes_of(kind, options[kind]),
        }
        for kind in FILES
    ]
    rows = [[d["file"], str(d["header_lines"]), d["description"]] for d in data]
    commands.emit(args, data, commands.table(rows, ["FILE", "HEADER-LINES", "DESCRIPTION"]))


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
        options = service.load().options[args.file]
        if args.json:
            data = {"file": args.file, "header": options.header}
            commands.emit(args, data | {"allow_patterns": options.allow_patterns}, "")
        else:
            sys.stdout.write(options.header)
        return
    if args.source is None:  # only the setting changes: the saved header is checked with it
        text = service.load().options[args.file].header
    else:
        text = commands.read_source("--set", args.source)
    state = service.save_header(None, args.file, text, allow_patterns=args.allow_patterns)
    allowed = {None: "", True: ", patterns allowed", False: ", patterns refused"}
    lines = len(text.splitlines())
    data = {"file": args.file, "saved": True, "lines": lines}
    data["allow_patterns"] = state.options[args.file].allow_patterns
    said = f"{args.file}: header saved ({lines} lines{allowed[args.allow_patterns]})"
    for warning in service.header_warnings(state, args.file):
        print(f"qlutui: warning: {args.file} header {warning}", file=sys.stderr)
    commands.emit(args, data, said)


def _ca_key(args: argparse.Namespace) -> str | None:
    """The CA key line given (None: unchanged, "": none); comment lines are skipped."""
    from qlutui.errors import InvalidInput

    if args.no_ca_key:
        return ""
    if args.ca_key is None:
        return None
    text = commands.read_source("--ca-key", args.ca_key)
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if lines and lines[0].startswith("-----BEGIN"):
        return lines[0]  # a private key: refused with its own reason
    if len(lines) != 1:
        raise InvalidInput(
            f"--ca-key {args.ca_key}: expected one public key line, found {len(lines)}"
        )
    return lines[0]


def modes(cluster: Any, args: argparse.Namespace) -> None:
    service = _service(cluster)
    networks = None
    if args.all_networks:
        networks = []
    elif args.networks is not None:
        networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    given = {"hashed": args.hashed, "include_ips": args.include_ips, "ca_key": _ca_key(args)}
    given["networks"] = networks
    changing = {k: v for k, v in given.items() if v is not None}
    before = _modes_of(args.file, service.load().options[args.file])
    state = service.set_modes(None, args.file, **changing) if changing else service.load()
    options = state.options[args.file]
    now = _modes_of(args.file, options)
    changed = [mode for mode in now if now[mode] != before[mode]]
    data = {"file": args.file, **now, "changed": changed}
    said = ("modes saved" if changed else "modes unchanged") if changing else "modes"
    commands.emit(args, data, f"{args.file}: {said}: {service.modes_text(args.file, options)}")


def _modes_of(kind: str, options: Any) -> dict[str, Any]:
    from qlutui.model.sshfiles import MODES

    return {mode: getattr(options, mode) for mode in MODES[kind]}


def describe(cluster: Any, args: argparse.Namespace) -> None:
    state = _service(cluster).save_description(None, args.file, args.text)
    data = {"file": args.file, "description": state.options[args.file].description}
    commands.emit(args, data, f"{args.file}: description saved")


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
