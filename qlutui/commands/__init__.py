"""The non-interactive verbs, one module per area, all calling the same services as the TUI.

Each area module has `register(verbs)` adding its sub-parsers; every leaf parser sets
`handler=<function(cluster, args) -> int | None | Awaitable>` with `set_defaults`. Handlers
get an opened `Cluster`; coroutines are run to completion and the cluster is closed after.
Only the standard library is imported here at top level (fast start, no Textual).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sys
from typing import Any

from qlutui.commands import audit, check, chroots, images, jobs, rootfs, serve, ssh

AREAS = [jobs, images, chroots, ssh, rootfs, audit, check, serve]


class UsageError(Exception):
    """Bad usage of a verb: reported by argparse, exit status 2."""


def add_verb(verbs: Any, name: str, help: str) -> argparse._SubParsersAction:
    """Add an area verb (`qlutui images ...`) and return its sub-verb collection."""
    parser = verbs.add_parser(name, help=help)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    return sub


def json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def dry_run_flag(
    parser: argparse.ArgumentParser, text: str = "print what would be removed; change nothing"
) -> None:
    parser.add_argument("--dry-run", action="store_true", help=text)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print `data` as JSON with --json, else the human text."""
    if getattr(args, "json", False):
        # indented for a person; compact for a pipe (only that uses json's C encoder)
        indent = 2 if sys.stdout.isatty() else None
        sys.stdout.write(json.dumps(data, indent=indent, default=str) + "\n")
    elif text:
        print(text)


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*map(str, r)).rstrip() for r in [header, *rows])


def run_handler(args: argparse.Namespace) -> int:
    from qlutui.backend.cluster import Cluster

    cluster = Cluster.open(args.config)

    async def call() -> int | None:
        try:
            result = args.handler(cluster, args)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            await cluster.aclose()

    return asyncio.run(call()) or 0
