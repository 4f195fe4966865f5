"""`qlutui check [--json]`: what is wrong in the state files (and what the head-nodes say of
the chroots' trees); exit 1 when anything is."""

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


async def check_state(cluster: Any, args: argparse.Namespace) -> int:
    await cluster.jobs.settle()  # the states of chroots whose job ended unwatched
    problems = await cluster.all_problems()
    text = "\n".join(problems) or f"no problem found in {cluster.config.state_dir}"
    commands.emit(args, problems, text)
    return 1 if problems else 0
