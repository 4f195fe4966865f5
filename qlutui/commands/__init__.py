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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qlutui.commands import (
    audit,
    check,
    chroots,
    files,
    history,
    hosts,
    images,
    init,
    jobs,
    networks,
    rootfs,
    serve,
    ssh,
)

AREAS = [
    jobs,
    images,
    chroots,
    ssh,
    files,
    rootfs,
    hosts,
    networks,
    audit,
    check,
    history,
    init,
    serve,
]


class UsageError(Exception):
    """Bad usage of a verb: reported by argparse, exit status 2."""


def add_verb(verbs: Any, name: str, help: str) -> argparse._SubParsersAction:
    """Add an area verb (`qlutui images ...`) and return its sub-verb collection."""
    parser = verbs.add_parser(name, help=help)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    return sub


def header_set_flag(parser: argparse.ArgumentParser) -> None:
    """`--set PATH|-` of the header verbs: where the new header's text is read from."""
    parser.add_argument(
        "--set",
        metavar="PATH|-",
        dest="source",
        help="set the header to the text of the local file PATH ('-': standard input)",
    )


def read_source(option: str, source: str) -> str:
    """The text of a `PATH|-` argument: the local file, or standard input for `-`; a file
    that cannot be read is one line saying why, as any bad input."""
    from pathlib import Path

    from qlutui.errors import InvalidInput

    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{option} {source}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{option} {source}: cannot read: not UTF-8 text") from None


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
    """A plain aligned text table; a cell is one line whatever it holds (`printable`) and an
    empty one is `-`, so `awk` splits every row into the same columns. Callers keep the
    cells one token (no spaces, ASCII) except in the last column."""
    cells = [[printable(str(cell)) or "-" for cell in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in cells)


def printable(text: str, keep: str = "") -> str:
    """`text` safe to print: every character that is not printable (ESC, CR, a newline, a
    bidi override ...) shown as its escape (`\\x1b`), except those in `keep`. The one
    output helper of the verbs: what a state file or a head-node holds never drives the
    terminal or fakes a table row."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


class _Printable:
    """A text stream whose writes go through `printable` (newlines and tabs kept); binary
    output (`.buffer`, e.g. `rootfs cat`) stays as it is."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text, "\n\t"))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def printable_output() -> Iterator[None]:
    """Everything a verb prints to stdout and stderr goes through `printable`."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Printable(out), _Printable(err)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


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

    with printable_output():
        return asyncio.run(call()) or 0
