"""The scenarios inside the TUI, driven by Pilot in this process: the Images tree (P5), a
job streaming into the log pane (P6) and the Jobs screen on a long history (P9). A key's
latency runs from the key event reaching the app to the screen refreshed after it."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from textual import events
from textual.pilot import Pilot

from bench import generate
from bench.core import Context, Result, median, p95, timed

KEY_MS = 16.0
STREAM_KEY_MS = 50.0
OPEN_MS = 150.0
LOCAL_LINES_S = 100_000
SSH_LINES_S = 20_000
SIZE = (100, 30)
_CHARS = {"space": " ", "enter": "\r"}
# One log line of a typical build, numbered.
EMIT = (
    "import sys\n"
    "w = sys.stdout.write\n"
    "for i in range(int(sys.argv[1])):\n"
    "    w(f'{i:07d} Unpacking libexample{i % 997} (1.{i % 13}.{i % 7}-1) over (1.0-1) ...\\n')\n"
)


async def _until(pilot, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the TUI did not get there in time")
        await pilot.pause(0.005)


def _send_key(app, key: str) -> None:
    """The key as the terminal driver delivers it (no Pilot idle waits)."""
    event = events.Key(key, key if len(key) == 1 else _CHARS.get(key))
    event.set_sender(app)
    app._driver.send_message(event)


async def _key(pilot, key: str) -> float:
    """Milliseconds from a key event reaching the app to the screen refreshed after it.

    Not `pilot.press` + `pause`: those wait for Textual's idle heuristic (three sleeps of
    20 ms at least), a floor far above the 16 ms being measured."""
    app = pilot.app
    refreshed = asyncio.Event()
    start = time.perf_counter()
    _send_key(app, key)
    app.call_after_refresh(refreshed.set)
    await asyncio.wait_for(refreshed.wait(), 10)
    elapsed = (time.perf_counter() - start) * 1000
    await asyncio.sleep(0.01)  # not pilot.pause(): it waits up to 1 s while a job streams
    return elapsed


@asynccontextmanager
async def _session(config: Path) -> AsyncIterator[Pilot]:
    """The TUI on `config` under Pilot, run as `run_app` runs it: in `interactive_gc`."""
    from qlutui.app import QlutuiApp
    from qlutui.backend.cluster import Cluster
    from qlutui.idle_gc import interactive_gc

    cluster = Cluster.open(config)
    app = QlutuiApp(cluster)
    try:
        with interactive_gc():
            async with app.run_test(size=SIZE) as pilot:
                yield pilot
    finally:
        await cluster.aclose()


def images_tree(ctx: Context) -> list[Result]:
    """P5: cursor moves and expand/collapse in the Images tree with every image loaded."""
    os.environ.setdefault("TERM", "xterm-256color")
    return asyncio.run(_images_tree(ctx.config, 10 * ctx.scale.reps))


async def _images_tree(config: Path, keys: int) -> list[Result]:
    from qlutui.screens.images import ImagesScreen, ImageTree

    async with _session(config) as pilot:
        app = pilot.app
        await pilot.press("i")
        await _until(pilot, lambda: isinstance(app.screen, ImagesScreen))
        screen = app.screen
        await _until(pilot, lambda: screen.state is not None)
        tree = screen.query_one(ImageTree)
        tree.focus()
        await pilot.pause()
        count = len(tree.root.children)
        moves = [await _key(pilot, "down") for _ in range(keys)]
        expands, collapses = [], []
        for _ in range(keys):
            expands.append(await _key(pilot, "space"))
            collapses.append(await _key(pilot, "space"))
            await _key(pilot, "down")
    return [
        Result(
            "P5",
            f"Images tree ({count} images): cursor move",
            f"p95 <= {KEY_MS:.0f} ms per key",
            p95(moves),
            "ms",
            p95(moves) <= KEY_MS,
            f"p95 of {len(moves)} keys; median {median(moves):.1f} ms",
            moves,
        ),
        Result(
            "P5",
            "Images tree: expand / collapse an image",
            f"p95 <= {KEY_MS:.0f} ms per key",
            p95(expands + collapses),
            "ms",
            p95(expands + collapses) <= KEY_MS,
            f"expand p95 {p95(expands):.1f} ms, collapse p95 {p95(collapses):.1f} ms",
            expands + collapses,
        ),
    ]


def log_stream(ctx: Context, transport: str) -> list[Result]:
    """P6: a job printing `lines` lines, followed by the job runner into the log pane of the
    Jobs screen while a key is pressed every ~20 ms from the screen's first paint on."""
    os.environ.setdefault("TERM", "xterm-256color")
    config = ctx.config if transport == "local" else ctx.ssh_config()
    reps = 1 if ctx.scale.reps < 3 else 3
    runs = [asyncio.run(_log_stream(config, ctx.scale.lines)) for _ in range(reps)]
    rates = [run.rate for run in runs]
    opens = [run.open_ms for run in runs]
    launches = [run.launch_ms for run in runs]
    keys = [k for run in runs for k in run.keys]
    target = LOCAL_LINES_S if transport == "local" else SSH_LINES_S
    return [
        Result(
            "P6",
            f"log pane, {transport} transport: {ctx.scale.lines:,} lines",
            f">= {target:,} lines/s",
            median(rates),
            "lines/s",
            median(rates) >= target,
            f"median of {len(rates)} runs, job start to the last line shown",
            rates,
        ),
        Result(
            "P6",
            f"log pane, {transport}: key pressed during the stream",
            f"p95 <= {STREAM_KEY_MS:.0f} ms",
            p95(keys),
            "ms",
            p95(keys) <= STREAM_KEY_MS,
            f"p95 of {len(keys)} keys; median {median(keys):.1f} ms",
            keys,
        ),
        Result(
            "P6",
            f"log pane, {transport}: Jobs screen opens on the stream",
            f"<= {OPEN_MS:.0f} ms",
            median(opens),
            "ms",
            median(opens) <= OPEN_MS,
            f"median of {len(opens)} runs; the job's launch before it: {median(launches):.0f} ms",
            opens,
        ),
    ]


@dataclass
class _StreamRun:
    rate: float  # lines/s, job start to the last line shown
    launch_ms: float  # the job started on its head-node
    open_ms: float  # its Jobs screen asked for to painted
    keys: list[float]  # key latencies while the job streams


async def _log_stream(config: Path, lines: int) -> _StreamRun:
    from qlutui.backend.job_records import Plan
    from qlutui.screens.jobs import JobsScreen

    keys: list[float] = []
    painted = asyncio.Event()
    async with _session(config) as pilot:
        app = pilot.app
        cluster = app.cluster
        headnode = cluster.headnode_names[0]
        await cluster.transport(headnode).run(["true"])  # connected, as in a session
        plan = Plan([{"argv": ["python3", "-c", EMIT, str(lines)]}])
        start = time.perf_counter()
        job = await cluster.jobs.start("bench.stream", "Stream lines", {headnode: plan})
        launched = time.perf_counter()
        app.show_job(job.id)
        await _until(pilot, lambda: isinstance(app.screen, JobsScreen))
        app.screen.call_after_refresh(painted.set)
        await asyncio.wait_for(painted.wait(), 60)
        open_ms = (time.perf_counter() - launched) * 1000
        pane = app.screen.pane
        last = f"{lines - 1:07d} "  # the last line the job prints
        while True:  # one key at least: the smoke's short stream may be shown already
            keys.append(await _key(pilot, "f"))
            if any(text.startswith(last) for text in pane.log_widget.lines[-5:]):
                break
            if time.perf_counter() - start > 120:
                raise TimeoutError(f"the last line was not shown after 120 s ({pane.shown})")
        end = time.perf_counter()
        await asyncio.wait_for(job.wait(), 30)
        if job.record.state != "Success":
            raise RuntimeError(f"the streaming job ended {job.record.state}")
    return _StreamRun(lines / (end - start), (launched - start) * 1000, open_ms, keys)


def jobs_screen(ctx: Context) -> list[Result]:
    """P9: the Jobs screen opened from the menu on a long job history, in a fresh session each
    time (the first session includes importing the screen)."""
    from qlutui.backend.demo import init_demo

    os.environ.setdefault("TERM", "xterm-256color")
    directory = ctx.workdir / "jobs-cluster"
    shutil.rmtree(directory, ignore_errors=True)
    config = init_demo(directory)
    generate.job_history(config.parent / "state" / "jobs", ctx.scale.jobs)
    opens = [asyncio.run(_open_jobs(config)) for _ in range(ctx.scale.reps)]
    return [
        Result(
            "P9",
            f"Jobs screen opens on {ctx.scale.jobs:,} jobs",
            f"<= {OPEN_MS:.0f} ms",
            median(opens),
            "ms",
            median(opens) <= OPEN_MS,
            f"median of {len(opens)} sessions, key to first paint",
            opens,
        )
    ]


async def _open_jobs(config: Path) -> float:
    from textual.widgets import Static

    from qlutui.screens.jobs import JobsScreen

    async with _session(config) as pilot:
        app = pilot.app
        summary = app.screen.query_one("#menu-summary", Static)
        await _until(pilot, lambda: "running" in str(summary.content))  # the jobs were listed
        painted = asyncio.Event()
        start = time.perf_counter()
        _send_key(app, "j")
        await _until(pilot, lambda: isinstance(app.screen, JobsScreen))
        app.screen.call_after_refresh(painted.set)
        await asyncio.wait_for(painted.wait(), 30)
        elapsed = (time.perf_counter() - start) * 1000
        if app.screen.table.row_count == 0:
            raise RuntimeError("the Jobs screen showed no job")
    return elapsed


def hosts_screen(ctx: Context) -> list[Result]:
    """P10: the Hosts screen on the bench cluster (10,000 hosts): first paint after its key,
    the table filled (vs tomllib parsing inventory.toml, the same run), a filter key's p95."""
    import tomllib

    os.environ.setdefault("TERM", "xterm-256color")
    raw = (ctx.config.parent / "state" / "inventory.toml").read_text()
    runs = [asyncio.run(_open_hosts(ctx.config, 4 * ctx.scale.reps)) for _ in range(2)]
    parses = [timed(lambda: tomllib.loads(raw)) * 1000 for _ in range(len(runs))]
    paints = [r[0] for r in runs]
    filled = [r[1] for r in runs]
    keys = [k for r in runs for k in r[2]]
    hosts = runs[0][3]
    ratio = median(filled) / median(parses)
    return [
        Result(
            "P10",
            f"Hosts screen ({hosts:,} hosts): first paint",
            f"<= {OPEN_MS:.0f} ms",
            median(paints),
            "ms",
            median(paints) <= OPEN_MS,
            f"table filled after {median(filled):.0f} ms, {ratio:.1f}x tomllib"
            f" {median(parses):.0f} ms",
            paints,
        ),
        Result(
            "P10",
            f"Hosts screen ({hosts:,} hosts): a filter key",
            f"p95 <= {KEY_MS:.0f} ms per key",
            p95(keys),
            "ms",
            p95(keys) <= KEY_MS,
            f"p95 of {len(keys)} keys; median {median(keys):.1f} ms",
            keys,
        ),
    ]


async def _open_hosts(config: Path, rounds: int) -> tuple[float, float, list[float], int]:
    from qlutui.screens.hosts import HostsScreen

    async with _session(config) as pilot:
        app = pilot.app
        painted = asyncio.Event()
        start = time.perf_counter()
        _send_key(app, "h")
        await _until(pilot, lambda: isinstance(app.screen, HostsScreen))
        screen = app.screen
        screen.call_after_refresh(painted.set)
        await asyncio.wait_for(painted.wait(), 30)
        paint = (time.perf_counter() - start) * 1000
        await _until(pilot, lambda: screen.matching > 0)
        filled = (time.perf_counter() - start) * 1000
        hosts = screen.matching
        await pilot.press("slash")
        keys = []
        for _ in range(rounds):  # type 0999 (10 hosts match), then delete it again
            for key in ("0", "9", "9", "9", *["backspace"] * 4):
                keys.append(await _key(pilot, key))
        if screen.matching != hosts:
            raise RuntimeError("the filter did not come back to every host")
    return paint, filled, keys, hosts
