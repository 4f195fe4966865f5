"""`qlutui jobs list|show|log|kill`: the jobs of this cluster (builds, clones, file writes).

The read verbs first settle the jobs whose runner ended while no qlutui followed them
(`JobManager.settle`): what it shows is how they ended, their completion hooks run.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from qlutui import commands
from qlutui.backend.job_records import JOB_STATES, phrase


def register(verbs: Any) -> None:
    sub = commands.add_verb(verbs, "jobs", "list, show, follow and kill jobs")
    p = sub.add_parser("list", help="recent jobs, newest first")
    p.add_argument(
        "--state",
        type=_state,
        metavar="STATE",
        help=f"only jobs in STATE: {', '.join(JOB_STATES)} (any case)",
    )
    p.add_argument(
        "--kind", metavar="KIND", help="only jobs of KIND (chroots.create) or its area (chroots)"
    )
    commands.json_flag(p)
    p.set_defaults(handler=list_jobs)
    p = sub.add_parser("show", help="one job's record")
    p.add_argument("id", help="the job's id, as `qlutui jobs list` shows it")
    commands.json_flag(p)
    p.set_defaults(handler=show_job)
    p = sub.add_parser("log", help="print a job's log (--follow: until it ends)")
    p.add_argument("id", help="the job's id, as `qlutui jobs list` shows it")
    p.add_argument(
        "--follow", "-f", action="store_true", help="wait for new lines until the job ends"
    )
    p.set_defaults(handler=job_log)
    p = sub.add_parser("kill", help="terminate a running job on every head-node")
    p.add_argument("id", help="the job's id, as `qlutui jobs list` shows it")
    p.set_defaults(handler=kill_job)


def _state(text: str) -> str:
    """A job state, in any case (`failed`); another word is a usage error naming them."""
    for state in JOB_STATES:
        if state.lower() == text.lower():
            return state
    raise argparse.ArgumentTypeError(f"no job state {text!r} (one of: {', '.join(JOB_STATES)})")


def _record_dict(record: Any) -> dict:
    return record.to_dict()


def _wanted(record: Any, args: argparse.Namespace) -> bool:
    if args.state and record.state != args.state:
        return False
    return not args.kind or args.kind in (record.kind, record.kind.split(".")[0])


async def list_jobs(cluster: Any, args: argparse.Namespace) -> None:
    await cluster.jobs.settle()
    records = [r for r in cluster.jobs.list() if _wanted(r, args)]
    rows = [[r.id, r.kind, r.state, phrase(r.title)] for r in records]
    empty = "no matching jobs" if args.state or args.kind else "no jobs yet"
    text = commands.table(rows, ["ID", "KIND", "STATE", "TITLE"]) if rows else empty
    commands.emit(args, [_record_dict(r) for r in records], text)


async def show_job(cluster: Any, args: argparse.Namespace) -> None:
    job = cluster.jobs.get(args.id)  # an unknown id refused before anything is settled
    await cluster.jobs.settle()  # `job` among them: its record is then how it ended
    record = job.record
    lines = [f"{record.id}  {record.title}", f"kind: {record.kind}  state: {record.state}"]
    lines += [
        f"  {name}: {t.state}" + (f" ({t.error})" if t.error else "")
        for name, t in record.targets.items()
    ]
    commands.emit(args, _record_dict(record), "\n".join(lines))


def format_line(line: Any, many_targets: bool) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
    where = f"{line.target}: " if many_targets and line.target else ""
    return f"{stamp} {where}{line.text}"


async def job_log(cluster: Any, args: argparse.Namespace) -> int:
    job = cluster.jobs.get(args.id)
    await cluster.jobs.settle()  # the end of the log fetched when the job is over
    many = len(job.record.targets) > 1
    for line in job.lines():
        print(format_line(line, many))
    if args.follow and not job.done:
        await cluster.jobs.resume()
        await job.follow(lambda batch: print(*(format_line(x, many) for x in batch), sep="\n"))
    return 0 if job.record.state in ("Success", "Running") else 1


async def kill_job(cluster: Any, args: argparse.Namespace) -> None:
    await cluster.jobs.kill(args.id)
    print(f"killed {args.id}")
