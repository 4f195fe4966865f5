"""`python -m bench`: run the scenarios, print one table, write bench/results/latest.json.

Exit status 0 when every scenario met its target, 1 otherwise.
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

from bench import importing, remote, scenarios, tui
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
}


def table(results: list[Result]) -> str:
    rows = [["scenario", "what", "target", "measured (median)", "ok"]]
    rows += [
        [r.scenario, r.what, r.target, r.measured(), "pass" if r.passed else "FAIL"]
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a small cluster, few repetitions")
    parser.add_argument(
        "--only", metavar="IDS", help=f"comma-separated scenarios ({', '.join(SCENARIOS)})"
    )
    parser.add_argument("--reps", type=int, help="repetitions of each timed action")
    parser.add_argument("--dir", type=Path, default=RESULTS, help="working and results directory")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(SCENARIOS)
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
    return 0 if results and all(r.passed for r in results) and not errors else 1


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
