"""`qlutui check [--json]`: what is wrong in the state files; exit 1 when anything is."""

from __future__ import annotations

import argparse
from typing import Any

from qlutui import commands


def register(verbs: Any) -> None:
    p = verbs.add_parser(
        "check",
        help="check the state files: malformed TOML, invalid entries, clashes, unknown keys",
    )
    commands.json_flag(p)
    p.set_defaults(handler=check_state)


def check_state(cluster: Any, args: argparse.Namespace) -> int:
    problems = cluster.problems()
    text = "\n".join(problems) or f"no problem found in {cluster.config.state_dir}"
    commands.emit(args, problems, text)
    return 1 if problems else 0
