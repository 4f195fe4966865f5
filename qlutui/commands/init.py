"""`qlutui init DIR --headnode NAME=ssh://user@host[:port] ...`: set qlutui up for a cluster.

Shows each SSH head-node's host key fingerprint and asks, as ssh does, whether to trust it
("yes" on the terminal); `--trust-fingerprint SHA256:...` answers for scripts, and without a
terminal or a matching fingerprint nothing is trusted and nothing written. Then writes the
known_hosts file, DIR/config.toml and DIR/state with a commented catalog.toml (the Qlustar
releases, flavours and modules qlutui knows), and with `--import` imports the inventory from
the first head-node's files.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlutui.errors import QlutuiError, Refused
from qlutui.model.names import counted

if TYPE_CHECKING:
    from qlutui.backend.cluster_init import HeadNodeSpec


def register(verbs: Any) -> None:
    p = verbs.add_parser(
        "init",
        help="write a config.toml for a real cluster (confirming each head-node's host key)",
    )
    p.add_argument("dir", help="directory for config.toml, known_hosts and state/")
    p.add_argument(
        "--headnode",
        action="append",
        required=True,
        metavar="NAME=ssh://user@host[:port]",
        help="a head-node (repeat for each); NAME=local for this machine, NAME=local:ROOT "
        "with every head-node path below ROOT",
    )
    p.add_argument(
        "--trust-fingerprint",
        action="append",
        default=[],
        metavar="SHA256:...",
        help="trust a host key with this fingerprint without asking (repeat for each)",
    )
    p.add_argument(
        "--import",
        dest="do_import",
        action="store_true",
        help="import the inventory from the first head-node's dnsmasq.hosts (or hosts), "
        "ssh_known_hosts and ethers",
    )
    p.add_argument(
        "--known-hosts", metavar="PATH", help="known_hosts file to use (default DIR/known_hosts)"
    )
    p.add_argument("--identity", metavar="PATH", help="private key for the SSH head-nodes")
    p.set_defaults(standalone=init)


def init(args: argparse.Namespace) -> int:
    from qlutui.backend.cluster_init import parse_headnode
    from qlutui.commands import UsageError
    from qlutui.errors import InvalidInput

    try:
        specs = [parse_headnode(text) for text in args.headnode]
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise UsageError("--headnode: each head-node needs its own name")
    for fingerprint in args.trust_fingerprint:
        if not fingerprint.startswith("SHA256:") or len(fingerprint) < 20:
            raise UsageError(f"--trust-fingerprint {fingerprint!r}: expected SHA256:<base64>")
    return asyncio.run(_init(args, specs))


async def _init(args: argparse.Namespace, specs: list[HeadNodeSpec]) -> int:
    from qlutui.backend import cluster_init as setup
    from qlutui.model.qlustar import known_releases

    directory = Path(args.dir).absolute()
    setup.check_new_dir(directory)
    known_hosts = Path(args.known_hosts or directory / "known_hosts").absolute()
    identity = Path(args.identity).absolute() if args.identity else None
    setup.check_known_hosts(known_hosts, specs)
    accepted = []
    for spec in specs:
        if spec.transport != "ssh":
            continue
        key = await setup.fetch_host_key(spec)
        print(f"{spec.name}: the host key of {spec.address} ({spec.user}@{spec.host})")
        print(f"  {key.algorithm} key fingerprint is {key.fingerprint}")
        state = setup.known_state(known_hosts, spec, key)
        if state == "trusted":
            print(f"  already trusted in {known_hosts}")
        elif state == "other":
            raise Refused(
                f"{spec.name}: {known_hosts} holds a different key for {spec.address}"
                " (possible attack or reinstall): nothing written"
            )
        elif _confirmed(spec.name, key.fingerprint, args.trust_fingerprint, known_hosts):
            accepted.append((spec, key))
    setup.trust(known_hosts, accepted)
    config, catalog = setup.write_config(directory, specs, known_hosts, identity)
    keys = f" and {counted(len(accepted), 'host key')} to {known_hosts}" if accepted else ""
    print(f"wrote {config}{keys}")
    if catalog:
        print(f"wrote {catalog}: Qlustar {known_releases()} (edit it to match your head-nodes)")
    if args.do_import:
        await _import(config, specs[0].name)
    print(f"next: qlutui --config {config} check   (then `qlutui --config {config}` opens the TUI)")
    return 0


def _confirmed(name: str, fingerprint: str, given: list[str], known_hosts: Path) -> bool:
    """Whether the admin trusts the key: by --trust-fingerprint, else asked on the terminal."""
    if given:
        if fingerprint in given:
            print("  trusted: it matches --trust-fingerprint")
            return True
        raise Refused(
            f"{name}: the host key fingerprint is {fingerprint}, not the one given with"
            " --trust-fingerprint: not trusted, nothing written"
        )
    if not sys.stdin.isatty():
        raise Refused(
            f"{name}: host key not confirmed (no terminal to ask on): check {fingerprint} on"
            " the head-node (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and pass"
            " --trust-fingerprint; nothing written"
        )
    answer = input(f"  Trust it and add it to {known_hosts}? Type yes to accept: ")
    if answer.strip() != "yes":
        raise Refused(f"{name}: host key not trusted: nothing written")
    return True


async def _import(config: Path, headnode: str) -> None:
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.cluster_init import import_specs
    from qlutui.backend.inventory_import import import_files

    cluster = Cluster.open(config)
    found: list[str] = []
    try:
        specs = await import_specs(cluster, headnode)
        skipped = (await import_files(cluster, specs, missing_ok=True, dry_run=True)).skipped
        found = [spec for spec in specs if spec not in skipped]
        result = await import_files(cluster, specs, missing_ok=True)
    except QlutuiError as exc:  # the config stays: its trusted keys are good, and it is needed
        again = shlex.join(["qlutui", "--config", str(config), "hosts", "import", *found])
        raise Refused(f"{exc}; {config.name} is written, not the inventory: `{again}`") from None
    finally:
        await cluster.aclose()
    print("\n".join(result.lines()))
