"""`qlutui audit [--json] [-n N] [--filter TEXT]`: the audit trail, newest first."""

from __future__ import annotations

import argparse
from typing import Any

from qlutui import commands


def register(verbs: Any) -> None:
    p = verbs.add_parser("audit", help="the audit trail of changes, newest first")
    p.add_argument("-n", type=int, default=50, metavar="N", help="at most N events (default 50)")
    p.add_argument("--filter", default="", metavar="TEXT", help="only events containing TEXT")
    commands.json_flag(p)
    p.set_defaults(handler=show_audit)


def show_audit(cluster: Any, args: argparse.Namespace) -> None:
    if args.n < 1:
        raise commands.UsageError("-n must be at least 1")
    events = cluster.audit.read(limit=args.n, match=args.filter)
    rows = [[e.time, e.user, e.action, e.target, e.summary] for e in events]
    text = commands.table(rows, ["TIME", "USER", "ACTION", "TARGET", "SUMMARY"])
    commands.emit(args, [e.to_dict() for e in events], text if rows else "no events")
