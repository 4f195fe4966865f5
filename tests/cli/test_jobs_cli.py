"""`qlutui jobs ...` on the demo cluster: a job whose recorded runner is now another process,
and jobs that ended while no qlutui followed them, settled by the read verbs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from processes import alive

from qlutui.backend.chroots import ChrootsService
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.job_records import Plan
from qlutui.backend.jobs import RUNNER_GONE


def command(config: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "qlutui", "--config", str(config), *argv]


def run(config: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(config, *argv), capture_output=True, text=True, timeout=120)


def qlutui(config: Path, *argv: str) -> subprocess.CompletedProcess:
    return run(config, "jobs", *argv)


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


def chroot_states(config: Path) -> dict[str, str]:
    data = tomllib.loads((config.parent / "state/chroots.toml").read_text())["chroots"]
    return {name: entry["state"] for name, entry in data.items()}


def job_ends(config: Path, job_id: str) -> list[str]:
    audit = (config.parent / "state/audit.log").read_text().splitlines()
    return [line for line in audit if f"\tjob.end\t{job_id}\t" in line]


async def clone_unwatched(config: Path) -> str:
    """Clone the demo's chroot (a tiny tree) from a process that goes away at once, as
    `init-demo` leaves its build or an interrupted verb its job; returns the job's id once
    its runner has ended on the head-node, nothing having recorded that end."""
    tree = config.parent / "headnodes/beosrv-c/srv/apps/chroots/bookworm-base"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/os-release").write_text("ID=debian\n")
    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        job = await service.clone(await service.load(), "bookworm-base", "copy", "")
        jobdir = cluster.transport("beosrv-c").host_path(job.record.targets["beosrv-c"].remote_dir)
    finally:
        await cluster.aclose()
    deadline = time.monotonic() + 60
    while not (Path(jobdir) / "rc").exists():
        assert time.monotonic() < deadline, "the clone never ended"
        time.sleep(0.05)
    assert chroot_states(config)["copy"] == "building"
    assert job_ends(config, job.id) == []
    return job.id


async def test_read_verbs_show_a_job_that_ended_unwatched_as_ended(tmp_path: Path) -> None:
    """A polling script sees the end without any TUI: the first read verb completes the job
    (log, end state, the chroot's completion hook), and no other head-node is contacted (an
    SSH head-node that never answers, with no job on it, gets no connection)."""
    config = init_demo(tmp_path / "demo")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    config.write_text(
        config.read_text()
        + f'\n[[headnodes]]\nname = "beosrv-x"\ntransport = "ssh"\nhost = "127.0.0.1"\n'
        f'port = {silent.getsockname()[1]}\nuser = "root"\n'
        f'known_hosts = "{tmp_path}/known_hosts"\nconnect_timeout = 1\n'
    )
    (tmp_path / "known_hosts").write_text("")
    try:
        job_id = await clone_unwatched(config)
        listed = run(config, "chroots", "list")
        assert listed.returncode == 0, listed.stderr
        rows = {line.split()[0]: line.split()[4] for line in listed.stdout.splitlines()[1:]}
        assert rows == {"bookworm-base": "ready", "copy": "ready"}
        shown = qlutui(config, "show", job_id).stdout.splitlines()
        assert shown[1:] == ["kind: chroots.clone  state: Success", "  beosrv-c: Success"]
        log = qlutui(config, "log", job_id).stdout.splitlines()
        assert log[-1].endswith(" Success: Cloning chroot bookworm-base on beosrv-c: to copy")
        assert len(job_ends(config, job_id)) == 1
        silent.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            silent.accept()[0].close()
            raise AssertionError("a read verb connected to beosrv-x")
    finally:
        silent.close()


async def test_read_verbs_at_once_end_a_job_once(tmp_path: Path) -> None:
    """Several read verbs settling the same ended job at the same time, then again: one of
    them records its end and runs its hook (the job's lock), the others leave it; the end is
    recorded once."""
    config = init_demo(tmp_path / "demo")
    job_id = await clone_unwatched(config)
    verbs = [("jobs", "list"), ("chroots", "list"), ("jobs", "show", job_id), ("check",)]
    for _ in range(2):
        readers = [subprocess.Popen(command(config, *v), stdout=subprocess.DEVNULL) for v in verbs]
        assert [reader.wait(timeout=120) for reader in readers] == [0, 0, 0, 0]
    assert len(job_ends(config, job_id)) == 1
    assert chroot_states(config) == {"bookworm-base": "ready", "copy": "ready"}
    messages = (config.parent / "state/jobs" / job_id / ".job.log").read_text()
    assert messages.count("Success: Cloning chroot") == 1


async def test_kill_of_a_job_that_ended_unwatched_says_it_had_ended(tmp_path: Path) -> None:
    """Not 'killed': the runner had ended before the kill came; the end is recorded as it was."""
    config = init_demo(tmp_path / "demo")
    job_id = await clone_unwatched(config)
    killed = qlutui(config, "kill", job_id)
    assert (killed.returncode, killed.stdout) == (1, "")
    assert killed.stderr.strip().endswith(f"job {job_id} had already ended: Success")
    shown = qlutui(config, "show", job_id).stdout.splitlines()
    assert shown[1] == "kind: chroots.clone  state: Success"
    assert len(job_ends(config, job_id)) == 1


async def test_list_filters_by_state_and_kind_and_titles_end_without_dots(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    cluster = Cluster.open(config)
    try:
        passed = await cluster.jobs.start(
            "a.pass", "Passing ...", {"beosrv-c": Plan([{"argv": ["true"]}])}
        )
        failed = await cluster.jobs.start(
            "b.fail", "Failing ...", {"beosrv-c": Plan([{"argv": ["false"]}])}
        )
        await passed.wait()
        await failed.wait()
    finally:
        await cluster.aclose()
    listed = qlutui(config, "list").stdout.splitlines()
    assert listed[1:] == [
        f"{failed.id}  b.fail  Failed   Failing",
        f"{passed.id}  a.pass  Success  Passing",
    ]
    assert qlutui(config, "list", "--state", "fAILED").stdout.splitlines()[1:] == [
        f"{failed.id}  b.fail  Failed  Failing"
    ]
    shown = json.loads(qlutui(config, "list", "--state", "success", "--json").stdout)
    assert [j["id"] for j in shown] == [passed.id]
    assert shown[0]["title"] == "Passing ..."  # --json: the record as it is
    assert qlutui(config, "list", "--kind", "a").stdout.splitlines()[1:] == [
        f"{passed.id}  a.pass  Success  Passing"
    ]
    assert qlutui(config, "list", "--kind", "b.fail", "--state", "Running").stdout == (
        "no matching jobs\n"
    )
    bad = qlutui(config, "list", "--state", "done")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines()[-1] == (
        "qlutui jobs list: error: argument --state: no job state 'done' "
        "(one of: Running, Success, Failed, Killed, Interrupted, Errors)"
    )
