"""`python -m bench`: run the scenarios, each against its reference in the same run, print
one table, write bench/results/latest.json (and latest.md). `--scale N`: the growth table of
the inventory work and of every generated-file class at 1,000 ... N hosts instead.

Exit status 0 when every target held (a ratio, or a key's p95), 1 otherwise; with --scale, 0
when nothing grew worse than linearly.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path

from bench import growth, importing, remote, scenarios, tui
from bench.core import FULL, RESULTS, SMOKE, Context, Result

SCENARIOS: dict[str, Callable[[Context], list[Result]]] = {
    "P1": scenarios.cold_start,
    "P2": scenarios.cli_list,
    "P3": scenarios.render,
    "P4": scenarios.state_files,
    "P5": tui.images_tree,
    "P6": partial(tui.log_stream, transport="local"),
    "P6ssh": partial(tui.log_stream, transport="ssh"),
    "P7": remote.chroot_clone,
    "P8": remote.fanout,
    "P9": scenarios.job_history,
    "P9tui": tui.jobs_screen,
    "P10": scenarios.inventory_bulk,
    "P10tui": tui.hosts_screen,
    "P11": importing.import_hosts_table,
    "P7build": remote.chroot_build,
}
OPT_IN = {"P7build"}  # only with --only: minutes of mmdebstrap, network needed


COLUMNS = ["scenario", "score", "target", "what", "reference", "medians [min-max]: qlutui vs ref"]


def _rows(results: list[Result]) -> list[list[str]]:
    return [
        [
            r.scenario,
            r.measured(),
            r.target(),
            r.what + (f" ({r.detail})" if r.detail else ""),
            r.reference,
            r.figures,
            "pass" if r.passed else "FAIL",
        ]
        for r in results
    ]


def table(results: list[Result]) -> str:
    rows = [[*COLUMNS, "ok"], *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown(results: list[Result]) -> str:
    """The same table for the README."""
    rows = [[*COLUMNS, ""], ["---"] * (len(COLUMNS) + 1), *_rows(results)]
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a small cluster, few repetitions")
    parser.add_argument(
        "--only", metavar="IDS", help=f"comma-separated scenarios ({', '.join(SCENARIOS)})"
    )
    parser.add_argument("--reps", type=int, help="repetitions of each timed action")
    parser.add_argument("--dir", type=Path, default=RESULTS, help="working and results directory")
    parser.add_argument(
        "--scale",
        type=int,
        choices=growth.SCALES,
        help="the growth table up to this many hosts (instead of the scenarios)",
    )
    args = parser.parse_args(argv)
    if args.scale:
        args.dir.mkdir(parents=True, exist_ok=True)
        return growth.main(args.scale, args.dir, args.only.split(",") if args.only else None)
    chosen = args.only.split(",") if args.only else [s for s in SCENARIOS if s not in OPT_IN]
    if unknown := [s for s in chosen if s not in SCENARIOS]:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    scale = SMOKE if args.smoke else FULL
    if args.reps:
        scale = type(scale)(**(asdict(scale) | {"reps": args.reps}))
    args.dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(args.dir, scale)
    results: list[Result] = []
    errors: dict[str, str] = {}
    try:
        for sid in chosen:
            print(f"running {sid} ...", file=sys.stderr, flush=True)
            try:
                results += SCENARIOS[sid](ctx)
            except Exception as error:  # one broken scenario must not hide the others
                errors[sid] = f"{type(error).__name__}: {error}"
                print(f"{sid} failed: {errors[sid]}", file=sys.stderr)
    finally:
        ctx.close()
    print(table(results))
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "scale": asdict(scale),
        "results": [asdict(r) for r in results],
        "errors": errors,
    }
    (args.dir / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.dir / "latest.md").write_text(markdown(results) + "\n")
    return 0 if results and all(r.passed for r in results) and not errors else 1


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
