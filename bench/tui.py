"""The scenarios inside the TUI, driven by Pilot in this process: the Images tree (P5), a
job streaming into the log pane (P6), the Jobs screen on a long history (P9) and the Hosts
screen (P10). A key's latency runs from the key event reaching the app to the screen
refreshed after it; each has the bare Textual widget's own figure beside it (bench/bare.py),
and a screen's first paint is a ratio to a bare screen of the same widget types."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from textual.containers import Horizontal, Vertical
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Log, Static

from bench import bare, generate
from bench.bare import SIZE, send_key
from bench.bare import key as _key
from bench.bare import until as _until
from bench.core import Context, Result, key_row, ratio_row, timed

KEY_MS = 16.0
STREAM_KEY_MS = 50.0
OPEN_RATIO = 3.0  # a screen's first paint vs a bare screen of the same Textual widgets
STREAM_RATIO = {"local": 3.0, "ssh": 3.0}  # a job into the log pane vs the command | cat
FILLED_RATIO = 2.0  # the Hosts table filled vs tomllib parsing inventory.toml
# One log line of a typical build, numbered.
EMIT = (
    "import sys\n"
    "w = sys.stdout.write\n"
    "for i in range(int(sys.argv[1])):\n"
    "    w(f'{i:07d} Unpacking libexample{i % 997} (1.{i % 13}.{i % 7}-1) over (1.0-1) ...\\n')\n"
)


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
    bare_moves, bare_toggles = await bare.tree_keys(count, 6, keys)
    return [
        key_row(
            "P5",
            f"Images tree ({count} images): cursor move",
            "bare Tree",
            KEY_MS,
            moves,
            bare_moves,
        ),
        key_row(
            "P5",
            "Images tree: expand / collapse an image",
            "bare Tree",
            KEY_MS,
            expands + collapses,
            bare_toggles,
        ),
    ]


def _emit_argv(ctx: Context, transport: str, lines: int) -> list[str]:
    """The stream's command as an admin would run it by hand: here, or with ssh."""
    command = ["python3", "-c", EMIT, str(lines)]
    if transport == "local":
        return command
    sshd = ctx.sshd
    return [
        *("ssh", "-p", str(sshd.port), "-i", str(sshd.identity), "-o", "BatchMode=yes"),
        *("-o", f"UserKnownHostsFile={sshd.known_hosts}", f"{sshd.user}@{sshd.host}"),
        shlex.join(command),
    ]


def _through_cat(argv: list[str]) -> None:
    """`argv | cat`, read to its end through a pipe."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE) as source:
        subprocess.run(["cat"], stdin=source.stdout, stdout=subprocess.DEVNULL, check=True)
    if source.returncode:
        raise RuntimeError(f"{argv[0]} ended {source.returncode}")


def _while_streaming(argv: list[str], action):  # type: ignore[no-untyped-def]
    """`asyncio.run(action())` while `argv` streams into `cat` beside it (and is stopped
    after), so a bare screen opens on a machine as busy as qlutui's does."""
    with (
        subprocess.Popen(argv, stdout=subprocess.PIPE) as source,
        subprocess.Popen(["cat"], stdin=source.stdout, stdout=subprocess.DEVNULL) as cat,
    ):
        try:
            return asyncio.run(action())
        finally:
            source.terminate()
            cat.wait(timeout=30)


def log_stream(ctx: Context, transport: str) -> list[Result]:
    """P6: a job printing `lines` lines, followed by the job runner into the log pane of the
    Jobs screen while a key is pressed every ~20 ms from the screen's first paint on; against
    the same command piped through `cat` (over ssh for the SSH transport), interleaved. Keys
    beside a bare Log fed the same lines; the Jobs screen's first paint against a bare screen
    of the same widget types opening while the same command streams beside it."""
    os.environ.setdefault("TERM", "xterm-256color")
    config = ctx.config if transport == "local" else ctx.ssh_config()
    argv = _emit_argv(ctx, transport, ctx.scale.lines)
    longer = _emit_argv(ctx, transport, 10 * ctx.scale.lines)  # streams past a bare open
    runs, cats, bare_opens = [], [], []
    for _ in range(ctx.scale.reps):  # the opening's median moved 2-3.5x over 3 pairs
        runs.append(asyncio.run(_log_stream(config, ctx.scale.lines)))
        cats.append(timed(lambda: _through_cat(argv)))
        bare_opens.append(_while_streaming(longer, lambda: bare.open_screen(_jobs_widgets)) / 1000)
    bare_keys = asyncio.run(bare.log_keys(argv, 50))
    keys = [k for run in runs for k in run.keys]
    launches = sorted(run.launch_ms for run in runs)
    return [
        ratio_row(
            "P6",
            f"log pane, {transport} transport: {ctx.scale.lines:,} lines (job start to last line"
            " shown)",
            f"the same command{' over ssh' if transport == 'ssh' else ''} | cat",
            STREAM_RATIO[transport],
            [run.seconds for run in runs],
            cats,
            unit="s",
            factor=1,
        ),
        key_row(
            "P6",
            f"log pane, {transport}: key pressed during the stream",
            "bare Log fed the same lines",
            STREAM_KEY_MS,
            keys,
            bare_keys,
        ),
        ratio_row(
            "P6",
            f"log pane, {transport}: Jobs screen opens on the stream",
            "bare screen of the same tree: Input, DataTable, Log in a container, the command"
            " streaming beside it",
            OPEN_RATIO,
            [run.open_ms / 1000 for run in runs],
            bare_opens,
            detail=f"the job's launch before it: {launches[len(launches) // 2]:.0f} ms",
        ),
    ]


def _jobs_widgets(rows: int = 1) -> list:
    """The Jobs screen's tree in stock widgets: the filter bar, the list, the log pane (a
    header, the log and its footer in a container), the key bar."""
    return [
        Static("qlutui - Jobs"),
        Horizontal(Input(), Static("count")),
        bare.table_of(
            [(f"2026{i:04d}", "Success", "chroots.create", "title") for i in range(rows)]
        ),
        Vertical(Static("header"), Log(), Static("footer")),
        Static("keys"),
    ]


@dataclass
class _StreamRun:
    seconds: float  # job start to the last line shown
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
        await _counted(pilot)
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
    return _StreamRun(end - start, (launched - start) * 1000, open_ms, keys)


def jobs_screen(ctx: Context) -> list[Result]:
    """P9: the Jobs screen opened from the menu on a long job history, in a fresh session each
    time (the first session includes importing the screen), against a bare screen with a
    DataTable of as many rows as the Jobs screen shows, interleaved."""
    from qlutui.backend.demo import init_demo
    from qlutui.screens.jobs import SHOWN_JOBS

    os.environ.setdefault("TERM", "xterm-256color")
    directory = ctx.workdir / "jobs-cluster"
    shutil.rmtree(directory, ignore_errors=True)
    config = init_demo(directory)
    generate.job_history(config.parent / "state" / "jobs", ctx.scale.jobs)
    rows = min(SHOWN_JOBS, ctx.scale.jobs)
    opens, bares = [], []
    for _ in range(ctx.scale.reps):
        opens.append(asyncio.run(_open_jobs(config)) / 1000)
        bares.append(asyncio.run(bare.open_screen(lambda: _jobs_widgets(rows))) / 1000)
    return [
        ratio_row(
            "P9",
            f"Jobs screen opens on {ctx.scale.jobs:,} jobs (key to first paint)",
            f"bare screen, DataTable of {rows} rows",
            OPEN_RATIO,
            opens,
            bares,
        )
    ]


async def _counted(pilot: Pilot) -> None:
    """Until the menu shows its first count (the jobs listed): an admin sees the menu settle
    before acting, and a count still running would take half the CPU from what is timed."""
    summary = pilot.app.screen.query_one("#menu-summary", Static)
    await _until(pilot, lambda: "running" in str(summary.content))


async def _open_jobs(config: Path) -> float:
    from qlutui.screens.jobs import JobsScreen

    async with _session(config) as pilot:
        app = pilot.app
        await _counted(pilot)
        painted = asyncio.Event()
        start = time.perf_counter()
        send_key(app, "j")
        await _until(pilot, lambda: isinstance(app.screen, JobsScreen))
        app.screen.call_after_refresh(painted.set)
        await asyncio.wait_for(painted.wait(), 30)
        elapsed = (time.perf_counter() - start) * 1000
        if app.screen.table.row_count == 0:
            raise RuntimeError("the Jobs screen showed no job")
    return elapsed


def hosts_screen(ctx: Context) -> list[Result]:
    """P10: the Hosts screen on the bench cluster: first paint after its key (vs a bare screen
    of the same Textual widget types), the table filled (vs tomllib parsing inventory.toml),
    a filter key's p95 (beside a bare Input filtering the same hosts into a DataTable)."""
    from qlutui.backend.cluster import Cluster

    os.environ.setdefault("TERM", "xterm-256color")
    raw = (ctx.config.parent / "state" / "inventory.toml").read_text()
    runs, parses, bares = [], [], []
    for _ in range(max(2, ctx.scale.reps // 2)):
        runs.append(asyncio.run(_open_hosts(ctx.config, 4 * ctx.scale.reps)))
        parses.append(timed(lambda: tomllib.loads(raw)))
        bares.append(asyncio.run(bare.open_screen(_hosts_widgets)) / 1000)
    inventory = Cluster.open(ctx.config).inventory()
    rows = [(h.name, " ".join(h.ips.values()), h.image) for h in inventory.hosts]
    bare_keys = asyncio.run(bare.filter_keys(rows, SIZE[1], 4 * ctx.scale.reps))
    hosts = runs[0][3]
    return [
        ratio_row(
            "P10",
            f"Hosts screen ({hosts:,} hosts): first paint",
            "bare screen: Input, 2 DataTables",
            OPEN_RATIO,
            [r[0] / 1000 for r in runs],
            bares,
        ),
        ratio_row(
            "P10",
            "Hosts screen: the table filled (key to every host listed)",
            "tomllib parsing inventory.toml",
            FILLED_RATIO,
            [r[1] / 1000 for r in runs],
            parses,
        ),
        key_row(
            "P10",
            "Hosts screen: a filter key",
            "bare Input filtering into a DataTable",
            KEY_MS,
            [k for r in runs for k in r[2]],
            bare_keys,
        ),
    ]


def _hosts_widgets() -> list:
    return [
        Static("qlutui - Hosts"),
        Static("problems"),
        Input(),
        DataTable(),
        DataTable(),
        Static("status"),
        Static("keys"),
    ]


async def _open_hosts(config: Path, rounds: int) -> tuple[float, float, list[float], int]:
    from qlutui.screens.hosts import HostsScreen

    async with _session(config) as pilot:
        app = pilot.app
        painted = asyncio.Event()
        start = time.perf_counter()
        send_key(app, "h")
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
