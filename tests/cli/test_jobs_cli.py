"""`qlutui jobs ...` on the demo cluster: a job whose recorded runner is now another process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from processes import alive

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.job_records import Plan
from qlutui.backend.jobs import RUNNER_GONE


def qlutui(config: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), "jobs", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_kill_refuses_a_stranger_and_the_job_reads_interrupted(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    cluster = Cluster.open(config)
    stranger = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    runner = 0
    try:
        job = await cluster.jobs.start(
            "a.kind", "Sleeper", {"beosrv-c": Plan([{"argv": ["sleep", "1000"]}])}
        )
        jobdir = Path(
            cluster.transport("beosrv-c").host_path(job.record.targets["beosrv-c"].remote_dir)
        )
        runner = int((jobdir / "pgid").read_text())
        await cluster.aclose()  # the app is gone; the runner goes on
        (jobdir / "pgid").write_text(f"{stranger.pid}\n")  # as after a reboot

        killed = qlutui(config, "kill", job.id)
        assert (killed.returncode, killed.stdout) == (1, "")
        assert killed.stderr == (
            f"qlutui: job {job.id} is interrupted on beosrv-c: {RUNNER_GONE}; "
            "no other process was signalled\n"
        )
        assert alive(stranger.pid) and stranger.poll() is None
        shown = qlutui(config, "show", job.id).stdout.splitlines()
        assert shown[1:] == [
            "kind: a.kind  state: Interrupted",
            f"  beosrv-c: Interrupted ({RUNNER_GONE})",
        ]
        listed = qlutui(config, "list").stdout.splitlines()
        assert listed[1].split()[:3] == [job.id, "a.kind", "Interrupted"]
    finally:
        await cluster.aclose()
        stranger.kill()
        stranger.wait()
        if runner and alive(runner):
            os.killpg(runner, signal.SIGKILL)


async def test_a_job_killed_from_the_cli_lists_as_killed(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    cluster = Cluster.open(config)
    try:
        job = await cluster.jobs.start(
            "a.kind", "Sleeper", {"beosrv-c": Plan([{"argv": ["sleep", "1000"]}])}
        )
        await cluster.aclose()  # the app is gone; the runner goes on
        killed = qlutui(config, "kill", job.id)
        assert (killed.returncode, killed.stdout) == (0, f"killed {job.id}\n")
        listed = qlutui(config, "list").stdout.splitlines()
        assert listed[1].split()[:3] == [job.id, "a.kind", "Killed"]
        shown = qlutui(config, "list", "--json").stdout
        assert json.loads(shown)[0]["state"] == "Killed"
    finally:
        await cluster.aclose()
