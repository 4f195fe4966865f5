"""A dropped session on a serial console: qlutui runs in tmux with TERM=linux, a job runs on the
head-node, the tmux session is killed mid-job (SIGHUP), and a new qlutui re-attaches the job
with its live log."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import time
from pathlib import Path

from terminal import Pane, Tmux, qlutui
from waiting import wait_for

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.job_records import RUNNING, Plan

TICKS = 90  # the job prints tick-1 .. tick-90, one a second (killed at the end of the test)
TICK = re.compile(r"tick-(\d+)")


def ticks(text: str) -> int:
    return max((int(n) for n in TICK.findall(text)), default=0)


def start_qlutui(tmux: Tmux, session: str, config: Path, status: Path) -> Pane:
    """qlutui in a new 80x24 tmux session; its exit status goes to `status`. The shell around
    it ignores SIGHUP so it outlives the terminal long enough to write that file (qlutui
    installs its own SIGHUP handler, so the inherited "ignore" does not hide it)."""
    script = f"trap '' HUP; {qlutui(config)}; echo $? > {shlex.quote(str(status))}"
    return tmux.start(session, script, env={"TERM": "linux"})


def open_jobs(pane: Pane) -> None:
    pane.wait("the Manage menu", "Jobs", "Hosts")
    pane.keys("j")
    pane.wait("the Jobs screen", "Ticker")


async def test_job_survives_a_dropped_session(tmp_path: Path, tmux: Tmux) -> None:
    config = init_demo(tmp_path / "demo")
    cluster = Cluster.open(config)
    headnode = cluster.headnode_names[0]
    loop = f"for i in $(seq 1 {TICKS}); do echo tick-$i; sleep 1; done"
    job = await cluster.jobs.start(
        "test.ticker", "Ticker", {headnode: Plan([{"argv": ["sh", "-c", loop]}])}
    )
    remote_dir = cluster.transport(headnode).host_path(job.record.targets[headnode].remote_dir)
    await cluster.aclose()  # this process lets go: the job runs on, detached
    try:
        status = tmp_path / "first.status"
        pane = start_qlutui(tmux, "first", config, status)
        open_jobs(pane)
        screen = pane.screen
        assert screen().isascii()  # TERM=linux: serial mode, no box drawing
        seen = wait_for("live ticks", lambda: ticks(screen()) >= 3 and ticks(screen()))

        tmux("kill-session", "-t", "first")  # the terminal vanishes: SIGHUP
        wait_for("qlutui to exit after SIGHUP", status.exists, seconds=15)
        assert status.read_text().strip() == "0"  # an orderly exit, not death by signal
        state_dir = Path(cluster.config.state_dir)
        assert not list(state_dir.rglob("*.tmp-*"))  # nothing half-written

        time.sleep(2)  # ticks printed while nobody watches must not be lost
        second = tmp_path / "second.status"
        pane = start_qlutui(tmux, "second", config, second)
        open_jobs(pane)
        screen = pane.screen
        text = wait_for(
            "new ticks after re-attaching", lambda: ticks(screen()) > seen + 2 and screen()
        )
        assert "Running" in str(text)
        later = wait_for("the log to stay live", lambda: ticks(screen()) > ticks(str(text)))
        assert later
        local_log = (state_dir / "jobs" / job.id / f"{headnode}.log").read_text()
        numbers = [int(n) for n in TICK.findall(local_log)]
        assert numbers == list(range(1, len(numbers) + 1))  # no gap from the dropped session
        record = Cluster.open(config).jobs.get(job.id).record
        assert record.targets[headnode].state == RUNNING

        shell = pane.pid()
        child = int(Path(f"/proc/{shell}/task/{shell}/children").read_text().split()[0])
        os.kill(child, signal.SIGHUP)  # the hang-up signal itself also ends it in order
        wait_for("qlutui to exit on SIGHUP", second.exists, seconds=15)
        assert second.read_text().strip() == "0"
        assert not (Path(remote_dir) / "rc").exists()  # and the job still runs
    finally:
        pgid = (Path(remote_dir) / "pgid").read_text().strip()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pgid), signal.SIGKILL)
