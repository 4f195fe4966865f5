"""JobManager against real detached runners on local head-nodes (root-prefixed LocalTransport)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
from processes import alive, gone
from waiting import until_file_sh

from qlutui.backend import jobrunner
from qlutui.backend.job_records import (
    ERRORS,
    FAILED,
    INTERRUPTED,
    KILLED,
    RUNNING,
    SUCCESS,
    LogLine,
    Plan,
)
from qlutui.backend.jobs import RUNNER_GONE, UNFINISHED, Job, JobContext, JobManager
from qlutui.backend.transport_local import LocalTransport
from qlutui.errors import InvalidInput, Refused, TransportError

HEADNODES = ("beosrv-c", "beosrv-d")
JOBS_DIR = "/var/lib/qlutui/jobs"


@pytest.fixture
def transports(tmp_path: Path) -> dict[str, LocalTransport]:
    return {name: LocalTransport(name, tmp_path / "headnodes" / name) for name in HEADNODES}


@pytest.fixture
async def manager(tmp_path: Path, transports: dict[str, LocalTransport]):
    manager = new_manager(tmp_path, transports)
    yield manager
    await manager.close()


def new_manager(tmp_path: Path, transports: dict[str, LocalTransport]) -> JobManager:
    return JobManager(tmp_path / "state" / "jobs", transports.__getitem__, JOBS_DIR)


def sh(script: str) -> dict:
    return {"argv": ["sh", "-c", script]}


def remote(job: Job, transports: dict[str, LocalTransport], target: str) -> Path:
    return Path(transports[target].host_path(job.record.targets[target].remote_dir))


class Collector:
    def __init__(self) -> None:
        self.batches: list[list[LogLine]] = []

    def __call__(self, batch: list[LogLine]) -> None:
        assert isinstance(batch, list) and batch
        self.batches.append(batch)

    @property
    def lines(self) -> list[LogLine]:
        return [line for batch in self.batches for line in batch]


async def finished(job: Job, timeout: float = 30) -> Job:
    await asyncio.wait_for(job.wait(), timeout)
    assert job.done, job.record
    return job


async def until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


def texts(lines: list[LogLine], stream: str = "stdout") -> list[str]:
    return [line.text for line in lines if line.stream == stream]


def runner_pid(job: Job, transports: dict[str, LocalTransport], target: str) -> int:
    return int((remote(job, transports, target) / "pgid").read_text())


def sleep_pid(pgid: int) -> int:
    for pid in jobrunner.group_members(pgid):
        if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep":
            return pid
    raise AssertionError("no sleep running")


async def test_a_plan_succeeds_with_its_log_copied_byte_for_byte(manager, transports, tmp_path):
    collector = Collector()
    plan = Plan(
        steps=[sh("echo one; echo two >&2; echo three"), {"op": "mkdir", "path": "/srv/x"}],
        phases=["one", "three"],
    )
    job = await manager.start("chroots.create", "Creating x", {"beosrv-c": plan}, subject="x")
    job.subscribe(collector)
    await finished(job)

    target = job.record.targets["beosrv-c"]
    assert (target.state, target.rc, target.error) == (SUCCESS, 0, "")
    assert target.remote_dir == f"{JOBS_DIR}/{job.id}-beosrv-c"
    assert (tmp_path / "headnodes" / "beosrv-c" / "srv" / "x").is_dir()  # op path mapped
    local = tmp_path / "state" / "jobs" / job.id / "beosrv-c.log"
    assert local.read_bytes() == (remote(job, transports, "beosrv-c") / "log").read_bytes()

    lines = job.lines()
    assert texts(lines) == ["one", "three"] and texts(lines, "stderr") == ["two"]
    assert texts(lines, "message")[-1] == "Success: Creating x"
    assert [line.time for line in lines] == sorted(line.time for line in lines)
    assert collector.lines == lines  # subscribers saw everything, in batches
    assert job.record.state == SUCCESS and job.progress == 1.0 and job.elapsed > 0
    assert job.counts() == {
        "Pending": 0,
        "Running": 0,
        "Failed": 0,
        "Errors": 0,
        "Success": 1,
        "Interrupted": 0,
        "Killed": 0,
    }

    record = manager.list()[0]
    assert (record.id, record.kind, record.title, record.subject) == (
        job.id,
        "chroots.create",
        "Creating x",
        "x",
    )
    assert record.finished is not None and record.targets["beosrv-c"].state == SUCCESS
    assert record.to_dict()["state"] == SUCCESS


async def test_failure_errors_and_success_per_target_concurrently(manager, transports):
    targets = {
        "beosrv-c": Plan([sh("echo 'E: Unable to locate package foo' >&2")]),
        "beosrv-d": Plan(
            [sh("sleep 0.3; echo bad >&2; exit 3")], on_failure=[{"argv": ["echo", "cleaning"]}]
        ),
    }
    job = await finished(await manager.start("chroots.create", "Creating y", targets))
    c, d = job.record.targets["beosrv-c"], job.record.targets["beosrv-d"]
    assert (c.state, c.rc, c.error) == (ERRORS, 0, "error lines on stderr")
    assert (d.state, d.rc, d.error) == (FAILED, 3, "step 1/1: sh exited with 3")
    assert job.record.state == FAILED
    lines = job.lines()
    assert [x.text for x in lines if x.target == "beosrv-d" and x.stream == "stdout"] == [
        "cleaning"
    ]
    assert lines[-1] == LogLine(
        lines[-1].time, "", "message", "Failed on beosrv-d: step 1/1: sh exited with 3"
    )
    assert job.counts()["Errors"] == 1 and job.counts()["Failed"] == 1


async def test_progress_follows_the_plan_phases(manager, tmp_path: Path):
    progress: list[float] = []
    go = tmp_path / "go"  # the step waits (bounded) until the test saw two phases
    plan = Plan(
        [sh(f"echo Retrieving; echo Unpacking; {until_file_sh(go, 30)}; echo Configuring")],
        phases=["^Retrieving", "^Unpacking", "^Configuring"],
    )  # fmt: skip
    job = await manager.start("chroots.create", "Phases", {"beosrv-c": plan})
    job.subscribe(lambda batch: progress.append(job.progress))
    await until(lambda: 0.5 in progress)  # two of three phases matched, the step still running
    go.touch()
    await finished(job)
    assert progress == sorted(progress)
    assert job.progress == 1.0


async def test_in_process_work_logs_into_the_job(manager):
    async def write(ctx: JobContext) -> None:
        assert ctx.transport.name == "beosrv-c"
        ctx.message("writing /etc/ssh/ssh_known_hosts")
        ctx.log("stdout", "first\nsecond")
        ctx.progress(0.5)

    async def refuse(ctx: JobContext) -> None:
        ctx.log("stderr", "about to fail")
        raise Refused("beosrv-d: /etc/ssh is not writable")

    job = await manager.start("sshfiles.write", "Writing", {"beosrv-c": write, "beosrv-d": refuse})
    await finished(job)
    c, d = job.record.targets["beosrv-c"], job.record.targets["beosrv-d"]
    assert (c.state, c.rc, c.remote_dir) == (SUCCESS, 0, "")
    assert (d.state, d.error) == (FAILED, "beosrv-d: /etc/ssh is not writable")
    assert texts(job.lines()) == ["first", "second"]
    assert texts(job.lines(), "message")[-1] == (
        "Failed on beosrv-d: beosrv-d: /etc/ssh is not writable"
    )


async def test_kill_terminates_the_remote_group(manager, transports, tmp_path):
    plan = Plan([{"argv": ["sleep", "1000"]}], on_failure=[{"op": "mkdir", "path": "/cleaned"}])
    job = await manager.start("chroots.create", "Sleeping", {"beosrv-c": plan}, subject="s")
    pgid = runner_pid(job, transports, "beosrv-c")
    await until(
        lambda: any(
            Path(f"/proc/{p}/comm").read_text().strip() == "sleep"
            for p in jobrunner.group_members(pgid)
        )
    )
    sleep = sleep_pid(pgid)
    assert manager.running("s") is job
    await manager.kill(job.id)
    await finished(job)
    target = job.record.targets["beosrv-c"]
    assert (target.state, target.rc, target.error) == (KILLED, 143, "")
    assert job.record.state == KILLED
    assert gone(sleep) and gone(pgid)
    assert (tmp_path / "headnodes" / "beosrv-c" / "cleaned").is_dir()
    assert texts(job.lines(), "message")[-1] == "Killed on beosrv-c: Sleeping"
    assert manager.running("s") is None
    with pytest.raises(Refused, match="is not running"):
        await manager.kill(job.id)


async def test_a_kill_that_comes_as_the_job_ends_leaves_it_ended_once(tmp_path, transports):
    """`qlutui jobs kill` (or k in a Jobs list read a moment before) while another process
    follows the job, which ends just then: the killer found the job unlocked and ended it
    again: its last message twice in the log, two job.end audit entries, the completion hooks
    run twice (register_hook promises once)."""
    audited: list[tuple[str, str]] = []
    hooked: list[str] = []

    def follower_and_killer() -> list[JobManager]:
        return [
            JobManager(
                tmp_path / "state" / "jobs",
                transports.__getitem__,
                JOBS_DIR,
                audit=lambda action, target, summary: audited.append((action, target)),
            )
            for _ in range(2)
        ]

    async def hook(job: Job) -> None:
        hooked.append(job.id)

    follower, killer = follower_and_killer()
    for manager in (follower, killer):
        manager.register_hook("chroots.run", hook)
    try:
        plan = Plan([{"argv": ["sleep", "1000"]}])
        job = await follower.start("chroots.run", "Sleeping", {"beosrv-c": plan}, subject="s")
        pgid = runner_pid(job, transports, "beosrv-c")
        await until(lambda: any(True for _ in jobrunner.group_members(pgid)))
        stale = killer.get(job.id)  # read while it runs, as a Jobs list or `jobs kill` reads it
        os.killpg(pgid, signal.SIGTERM)  # the job ends before the kill lands (the race, made sure)
        await finished(job)
        assert not stale.done
        with contextlib.suppress(Refused):  # too late: nothing left to signal
            await killer.kill(job.id)
        messages = texts(job.lines(), "message")
        assert messages[-1] == "Failed on beosrv-c: terminated by signal 15"
        assert messages.count(messages[-1]) == 1, messages
        assert audited.count(("job.end", job.id)) == 1, audited
        assert hooked == [job.id]
    finally:
        await follower.close()
        await killer.close()


async def test_kill_cancels_in_process_work(manager):
    async def forever(ctx: JobContext) -> None:
        await asyncio.sleep(1000)

    job = await manager.start("rootfs.write", "Forever", {"beosrv-c": forever})
    await asyncio.sleep(0.05)
    await manager.kill(job.id)
    await finished(job)
    assert (job.record.state, job.record.targets["beosrv-c"].error) == (KILLED, "")
    assert texts(job.lines(), "message")[-1] == "Killed on beosrv-c: Forever"


async def test_a_second_job_on_the_same_subject_or_lock_is_refused(manager, transports):
    lock = "/srv/apps/chroots/.x.lock"
    sleeper = Plan([{"argv": ["sleep", "1000"]}], lock=lock)
    first = await manager.start("chroots.create", "First", {"beosrv-c": sleeper}, subject="x")
    with pytest.raises(Refused, match=f"x is busy: job {first.id} \\(First\\) is running"):
        await manager.start("chroots.remove", "Again", {"beosrv-c": sleeper}, subject="x")
    # Another process (here: another manager) is only stopped by the head-node lock.
    await until(lambda: any(x.text == "step 1/1: sleep 1000" for x in first.lines()))
    other = new_manager(Path(transports["beosrv-c"].root).parent.parent / "other", transports)
    try:
        second = await other.start("chroots.remove", "Second", {"beosrv-c": sleeper}, subject="x")
        await finished(second)
        host_lock = transports["beosrv-c"].host_path(lock)
        target = second.record.targets["beosrv-c"]
        assert (target.rc, target.error) == (75, f"locked: another job is running on {host_lock}")
    finally:
        await other.close()
        await manager.kill(first.id)
    await finished(first)


async def test_reattach_after_the_app_died_completes_the_log(tmp_path, transports):
    first = new_manager(tmp_path, transports)
    plan = Plan([sh("for i in $(seq 1 150); do echo line $i; sleep 0.01; done")])
    job = await first.start("chroots.create", "Creating z", {"beosrv-c": plan}, subject="z")
    await until(lambda: len(texts(job.lines())) >= 10)
    await first.close()  # the app dies: following stops, the runner goes on
    local = tmp_path / "state" / "jobs" / job.id / "beosrv-c.log"
    size_at_death = local.stat().st_size
    assert not (remote(job, transports, "beosrv-c") / "rc").exists()

    hooked: list[str] = []

    async def hook(done: Job) -> None:
        hooked.append(f"{done.id} {done.record.targets['beosrv-c'].state}")

    second = new_manager(tmp_path, transports)
    second.register_hook("chroots.create", hook)
    try:
        reattached = second.get(job.id)
        before = reattached.lines()
        collector = Collector()
        await second.resume()
        assert second.running("z") is reattached
        await asyncio.wait_for(reattached.follow(collector), 30)
        assert reattached.record.state == SUCCESS
        assert texts(reattached.lines()) == [f"line {i}" for i in range(1, 151)]
        assert len(before) + len(collector.lines) == len(reattached.lines())
        assert local.stat().st_size > size_at_death
        assert local.read_bytes() == (remote(job, transports, "beosrv-c") / "log").read_bytes()
        assert hooked == [f"{job.id} Success"]
        await second.resume()  # nothing left to do: the hook is not called again
        assert hooked == [f"{job.id} Success"]
    finally:
        await second.close()
    third = new_manager(tmp_path, transports)
    third.register_hook("chroots.create", hook)
    await third.resume()
    assert hooked == [f"{job.id} Success"]
    assert third.get(job.id).done


async def test_a_job_that_ended_while_the_app_was_away_is_finalized(tmp_path, transports):
    first = new_manager(tmp_path, transports)
    job = await first.start("chroots.create", "Quick", {"beosrv-c": Plan([sh("exit 4")])})
    await first.close()
    await until(lambda: (remote(job, transports, "beosrv-c") / "rc").exists())
    hooked: list[str] = []
    second = new_manager(tmp_path, transports)

    async def hook(done: Job) -> None:
        hooked.append(done.record.state)

    second.register_hook("chroots.create", hook)
    await second.resume()
    resumed = await finished(second.get(job.id))
    assert hooked == [FAILED]
    assert resumed.record.targets["beosrv-c"].error == "step 1/1: sh exited with 4"
    await second.close()


async def test_settle_ends_what_ended_once_and_leaves_the_running_alone(tmp_path, transports):
    """Jobs whose runners ended while no process followed them are completed by whoever
    settles first (a read verb) or re-attaches (a TUI starting): their hooks run once, however
    many managers settle them, at once or later. A job still running is not followed, and
    its record is not rewritten."""
    first = new_manager(tmp_path, transports)
    go = tmp_path / "go"
    two = {"beosrv-c": Plan([sh("echo built")]), "beosrv-d": Plan([sh("exit 3")])}
    running = await first.start(
        "chroots.create", "Going", {"beosrv-c": Plan([sh(until_file_sh(go))])}
    )
    ended = await first.start("chroots.create", "Ended", two)
    await first.close()  # at once (nothing followed `ended` yet): no process follows either
    for name in two:
        await until(lambda name=name: (remote(ended, transports, name) / "rc").exists())
    record = tmp_path / "state" / "jobs" / running.id / "job.toml"
    before = record.stat().st_mtime_ns, record.read_bytes()

    hooked: list[str] = []

    async def hook(done: Job) -> None:
        hooked.append(f"{done.id} {done.record.state}")

    managers = [new_manager(tmp_path, transports) for _ in range(4)]
    for manager in managers:
        manager.register_hook("chroots.create", hook)
    cli, tui, other_cli, later = managers
    try:
        await asyncio.wait_for(asyncio.gather(cli.settle(), tui.resume(), other_cli.settle()), 30)
        await finished(tui.get(ended.id))  # the TUI observed the end the CLI recorded
        assert hooked == [f"{ended.id} {FAILED}"]
        await later.settle()
        await later.resume()
        await finished(later.get(ended.id))
        assert hooked == [f"{ended.id} {FAILED}"]
        states = {n: t.state for n, t in later.get(ended.id).record.targets.items()}
        assert states == {"beosrv-c": SUCCESS, "beosrv-d": FAILED}
        final = [t for t in texts(later.get(ended.id).lines(), "message") if "Failed on" in t]
        assert final == ["Failed on beosrv-d: step 1/1: sh exited with 3"]  # written once

        assert cli.get(running.id).record.state == RUNNING  # settled, not followed
        assert (record.stat().st_mtime_ns, record.read_bytes()) == before
    finally:
        for manager in managers:
            await manager.close()
    go.touch()
    await until(lambda: (remote(running, transports, "beosrv-c") / "rc").exists())
    last = new_manager(tmp_path, transports)
    last.register_hook("chroots.create", hook)
    await last.settle()
    assert last.get(running.id).record.state == SUCCESS
    assert hooked == [f"{ended.id} {FAILED}", f"{running.id} {SUCCESS}"]
    await last.close()


async def test_a_job_settled_later_keeps_the_time_it_ended(tmp_path, transports):
    """Its elapsed time is the work's, not until whoever came to settle it."""
    first = new_manager(tmp_path, transports)
    job = await first.start("chroots.create", "Ended", {"beosrv-c": Plan([sh("echo built")])})
    await first.close()  # nothing follows it
    await until(lambda: (remote(job, transports, "beosrv-c") / "rc").exists())
    over = time.time()  # the runner wrote its last line before its rc file
    await asyncio.sleep(1.5)
    later = new_manager(tmp_path, transports)
    try:
        await later.settle()
        record = later.get(job.id).record
        assert record.state == SUCCESS
        assert record.created <= record.finished <= over
    finally:
        await later.close()


async def test_settle_reads_only_the_records_saved_unfinished(tmp_path, transports):
    """A year of ended jobs is not parsed by every read verb: settle finds the unfinished
    ones by their marker; a job's marker goes once its record says it ended."""
    first = new_manager(tmp_path, transports)
    ended = [await first.start("k", f"Old {i}", {"beosrv-c": Plan([sh("true")])}) for i in "AB"]
    for job in ended:
        await finished(job)
    unwatched = await first.start("k", "Unwatched", {"beosrv-c": Plan([sh("echo built")])})
    await first.close()
    await until(lambda: (remote(unwatched, transports, "beosrv-c") / "rc").exists())
    markers = sorted(p.parent.name for p in first.directory.glob(f"*/{UNFINISHED}"))
    assert markers == [unwatched.id]
    later = new_manager(tmp_path, transports)
    try:
        await later.settle()
        assert later.get(unwatched.id).record.state == SUCCESS
        assert not list(first.directory.glob(f"*/{UNFINISHED}"))
        assert later._records == {}  # no record listed (parsed) but the unfinished one's
        assert set(later._jobs) == {unwatched.id}
    finally:
        await later.close()


async def test_a_runner_killed_hard_is_interrupted(tmp_path, transports):
    first = new_manager(tmp_path, transports)
    job = await first.start("chroots.create", "Doomed", {"beosrv-c": Plan([sh("sleep 1000")])})
    await first.close()
    pgid = runner_pid(job, transports, "beosrv-c")
    await until(lambda: bool(jobrunner.group_members(pgid)))
    os.kill(pgid, signal.SIGKILL)
    await until(lambda: not alive(pgid))
    second = new_manager(tmp_path, transports)
    try:
        await second.resume()
        resumed = await finished(second.get(job.id))
        target = resumed.record.targets["beosrv-c"]
        assert (target.state, target.error) == (INTERRUPTED, RUNNER_GONE)
        assert resumed.record.state == INTERRUPTED
        assert texts(resumed.lines(), "message")[-1] == f"Interrupted on beosrv-c: {RUNNER_GONE}"
    finally:
        await second.close()
        jobdir = remote(job, transports, "beosrv-c")
        killed = subprocess.run([sys.executable, jobrunner.__file__, "kill", str(jobdir)])
        assert killed.returncode == jobrunner.EXIT_INTERRUPTED  # the orphaned sleep: killed


async def test_an_unreachable_head_node_keeps_the_job_running(tmp_path, transports):
    first = new_manager(tmp_path, transports)
    job = await first.start("chroots.create", "Far", {"beosrv-c": Plan([sh("sleep 0.5")])})
    await first.close()

    def down(name: str) -> LocalTransport:
        raise TransportError(f"{name}: connection refused")

    second = JobManager(tmp_path / "state" / "jobs", down, JOBS_DIR)
    await second.resume()
    waiting = second.get(job.id)
    await asyncio.wait_for(waiting.wait(), 5)  # nothing follows it any more
    target = second.list()[0].targets["beosrv-c"]
    assert (target.state, target.error) == (
        RUNNING,
        "head-node unreachable: beosrv-c: connection refused",
    )
    assert not waiting.done
    await second.close()

    third = new_manager(tmp_path, transports)
    await third.resume()
    resumed = await finished(third.get(job.id))
    assert resumed.record.targets["beosrv-c"].state == SUCCESS
    assert resumed.record.targets["beosrv-c"].error == ""
    await third.close()


async def test_a_second_process_observes_without_writing(tmp_path, transports):
    driver = new_manager(tmp_path, transports)
    plan = Plan([sh("for i in $(seq 1 60); do echo line $i; sleep 0.01; done")])
    job = await driver.start("chroots.create", "Watched", {"beosrv-c": plan})
    observer = new_manager(tmp_path, transports)  # e.g. `qlutui jobs log -f` beside the TUI
    try:
        watched = observer.get(job.id)
        before = watched.lines()
        collector = Collector()
        await observer.resume()
        await asyncio.wait_for(watched.follow(collector), 30)
        await finished(job)
        assert watched.done and watched.record.state == SUCCESS
        assert before + collector.lines == job.lines()
        local = tmp_path / "state" / "jobs" / job.id / "beosrv-c.log"
        assert local.read_bytes() == (remote(job, transports, "beosrv-c") / "log").read_bytes()
    finally:
        await observer.close()
        await driver.close()


async def test_watchers_learn_each_state_change_of_driven_and_observed_jobs(tmp_path, transports):
    driver = new_manager(tmp_path, transports)
    observer = new_manager(tmp_path, transports)  # another qlutui beside the one driving
    seen: dict[str, list[tuple[str, str, bool]]] = {"driver": [], "observer": []}
    for name, manager in (("driver", driver), ("observer", observer)):
        manager.watch(
            lambda job, name=name: seen[name].append((job.id, job.record.state, job.done))
        )
    go = tmp_path / "go"
    plan = Plan([sh(until_file_sh(go))])
    try:
        job = await driver.start("test.wait", "Waiting ...", {"beosrv-c": plan})
        assert seen["driver"][-1] == (job.id, RUNNING, False)
        watched = observer.get(job.id)
        await observer.resume()
        go.touch()
        await finished(job)
        assert seen["driver"][-1] == (job.id, SUCCESS, True)
        await asyncio.wait_for(watched.wait(), 30)
        assert seen["observer"][-1] == (job.id, SUCCESS, True)
    finally:
        await observer.close()
        await driver.close()


async def test_list_get_and_bad_input(manager):
    first = await manager.start("a.kind", "First", {"beosrv-c": Plan([{"argv": ["true"]}])})
    second = await manager.start("a.kind", "Second", {"beosrv-d": Plan([{"argv": ["true"]}])})
    await finished(first)
    await finished(second)
    assert [r.title for r in manager.list()] == ["Second", "First"]
    assert manager.get(first.id) is first
    with pytest.raises(InvalidInput, match=r"no job '\.\./etc'"):
        manager.get("../etc")
    with pytest.raises(InvalidInput, match="no job '20000101-000000-abcd'"):
        manager.get("20000101-000000-abcd")
    with pytest.raises(InvalidInput):
        await manager.start("a.kind", "Bad", {".hidden": Plan([])})
    with pytest.raises(InvalidInput, match="at least one target"):
        await manager.start("a.kind", "None", {})


async def test_list_parses_a_record_again_only_when_its_file_changed(manager, transports, tmp_path):
    """Another process's job appears, a state change is seen, a removed or broken record
    goes; an unchanged record is not parsed again (the same object comes back)."""
    jobs = [await manager.start("a.kind", t, {"beosrv-c": sh("true")}) for t in "ABC"]
    for job in jobs:
        await finished(job)
    first = {r.id: r for r in manager.list()}
    assert {r.id: r for r in manager.list()} == first
    assert all(r is first[r.id] for r in manager.list())  # cached
    other = new_manager(tmp_path, transports)  # a second admin's process
    running = await other.start("a.kind", "D", {"beosrv-c": Plan([sh("sleep 30")])})
    listed = {r.id: r for r in manager.list()}
    assert listed[running.id].state == "Running"
    await other.kill(running.id)
    await finished(running)
    assert {r.id: r for r in manager.list()}[running.id].state == "Killed"
    a, b, c = (job.id for job in jobs)
    (manager.directory / b / "job.toml").write_text("[broken\n")
    shutil.rmtree(manager.directory / c)
    listed = {r.id: r for r in manager.list()}
    assert set(listed) == {a, running.id} and listed[a] is first[a]
    await other.close()


async def test_an_unknown_head_node_fails_its_target_only(tmp_path, transports):
    def only_c(name: str) -> LocalTransport:
        if name != "beosrv-c":
            raise InvalidInput(f"unknown head-node '{name}'")
        return transports[name]

    manager = JobManager(tmp_path / "state" / "jobs", only_c, JOBS_DIR)
    plan = Plan([{"argv": ["true"]}])
    job = await finished(await manager.start("k", "T", {"beosrv-c": plan, "beosrv-x": plan}))
    assert job.record.targets["beosrv-c"].state == SUCCESS
    assert job.record.targets["beosrv-x"].error == (
        "head-node unreachable: unknown head-node 'beosrv-x'"
    )
    await manager.close()


async def test_throughput_of_200000_lines_on_the_local_transport(manager):
    line = "Setting up libfoo-dev:amd64 (1.2.3-4ubuntu0.1) ..."
    plan = Plan([sh(f"yes '{line}' | head -n 200000")])
    collector = Collector()
    job = await manager.start("bench", "Flood", {"beosrv-c": plan})
    job.subscribe(collector)
    await finished(job, timeout=120)
    received = texts(collector.lines)
    assert len(received) == 200000 and set(received) == {line}
    assert len(collector.batches) < 1000  # the rate is measured in bench/ (P6)


# -- over SSH (a real sshd on 127.0.0.1) -----------------------------------------------------


@pytest.fixture
async def ssh(sshd):
    from qlutui.backend.transport_ssh import SSHTransport

    transport = SSHTransport(sshd.headnode("beosrv-d"))
    yield transport
    await transport.close()


def ssh_manager(tmp_path: Path, transport) -> JobManager:
    return JobManager(tmp_path / "state" / "jobs", lambda name: transport, str(tmp_path / "hn"))


@pytest.mark.ssh
async def test_throughput_of_200000_lines_over_ssh(tmp_path, ssh):
    manager = ssh_manager(tmp_path, ssh)
    line = "Setting up libfoo-dev:amd64 (1.2.3-4ubuntu0.1) ..."
    collector = Collector()
    job = await manager.start(
        "bench", "Flood", {"beosrv-d": Plan([sh(f"yes '{line}' | head -n 200000")])}
    )
    job.subscribe(collector)
    await finished(job, timeout=120)
    await manager.close()
    assert len(texts(collector.lines)) == 200000  # the rate is measured in bench/ (P6)
    local = tmp_path / "state" / "jobs" / job.id / "beosrv-d.log"
    assert (
        local.read_bytes() == (Path(job.record.targets["beosrv-d"].remote_dir) / "log").read_bytes()
    )


@pytest.mark.ssh
async def test_a_dropped_ssh_session_leaves_the_job_running_and_reattaches(tmp_path, ssh, sshd):
    manager = ssh_manager(tmp_path, ssh)
    plan = Plan([sh("for i in $(seq 1 200); do echo line $i; sleep 0.01; done")])
    job = await manager.start("chroots.create", "Remote", {"beosrv-d": plan})
    jobdir = Path(job.record.targets["beosrv-d"].remote_dir)
    stopped = False
    try:
        await until(lambda: len(texts(job.lines())) >= 10)
        stopped = True
        sshd.stop()  # the session drops: the follow process dies with it
        await asyncio.wait_for(job.wait(), 10)
        target = job.record.targets["beosrv-d"]
        assert target.state == RUNNING and target.error.startswith("head-node unreachable: ")
        assert not job.done
        status = subprocess.run(
            [sys.executable, jobrunner.__file__, "status", str(jobdir)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert '"state": "running"' in status.stdout  # the build goes on, detached
    finally:
        if stopped:
            sshd.start()
    await manager.resume()
    await finished(job)
    assert job.record.targets["beosrv-d"].state == SUCCESS
    assert texts(job.lines()) == [f"line {i}" for i in range(1, 201)]
    local = tmp_path / "state" / "jobs" / job.id / "beosrv-d.log"
    assert local.read_bytes() == (jobdir / "log").read_bytes()
    await manager.close()


async def test_prune_removes_old_head_node_job_directories(manager, transports):
    old = await finished(await manager.start("k", "Old", {"beosrv-c": Plan([{"argv": ["true"]}])}))
    new = await finished(await manager.start("k", "New", {"beosrv-c": Plan([{"argv": ["true"]}])}))
    old_dir, new_dir = remote(old, transports, "beosrv-c"), remote(new, transports, "beosrv-c")
    old.record.finished -= 8 * 86400
    old._save()
    assert await manager.prune() == [old.id]
    assert not old_dir.exists() and (new_dir / "log").exists()
    assert manager.list()[1].targets["beosrv-c"].remote_dir == ""
    assert old.lines()[-1].text == "Success: Old"  # the local copy stays
    assert await manager.prune() == []


async def test_kill_refuses_a_job_whose_pgid_now_names_a_stranger(tmp_path, transports):
    """The recorded pgid names another process (as after a reboot): the job's follower ends it
    Interrupted; with no follower, kill signals nothing of it and records the same."""
    strangers = {n: subprocess.Popen(["sleep", "1000"], start_new_session=True) for n in HEADNODES}
    manager = new_manager(tmp_path, transports)
    runners: dict[str, int] = {}
    try:
        jobs = {
            n: await manager.start("a.kind", n, {n: Plan([sh("sleep 1000")])}) for n in HEADNODES
        }
        runners.update((n, runner_pid(job, transports, n)) for n, job in jobs.items())
        for pgid in runners.values():
            await until(partial(jobrunner.group_members, pgid))
        followed, left = jobs["beosrv-c"], jobs["beosrv-d"]
        (remote(followed, transports, "beosrv-c") / "pgid").write_text(
            f"{strangers['beosrv-c'].pid}\n"
        )
        await finished(followed)  # its follower saw the runner gone
        target = followed.record.targets["beosrv-c"]
        assert (followed.record.state, target.error) == (INTERRUPTED, RUNNER_GONE)
        with pytest.raises(Refused, match="is not running"):
            await manager.kill(followed.id)

        await manager.close()  # nothing follows `left` any more
        (remote(left, transports, "beosrv-d") / "pgid").write_text(f"{strangers['beosrv-d'].pid}\n")
        manager = new_manager(tmp_path, transports)  # e.g. `qlutui jobs kill` on its own
        with pytest.raises(Refused) as refused:
            await manager.kill(left.id)
        assert str(refused.value) == (
            f"job {left.id} is interrupted on beosrv-d: {RUNNER_GONE}; "
            "no other process was signalled"
        )
        assert {r.id: r.state for r in manager.list()} == dict.fromkeys(
            (followed.id, left.id), INTERRUPTED
        )
        assert all(alive(s.pid) and s.poll() is None for s in strangers.values())
        assert all(alive(pid) for pid in runners.values())  # unknown to their jobs: left alone

        genuine = await manager.start("a.kind", "Genuine", {"beosrv-c": Plan([sh("sleep 1000")])})
        pgid = runner_pid(genuine, transports, "beosrv-c")
        await until(partial(jobrunner.group_members, pgid))
        await manager.kill(genuine.id)
        await finished(genuine)
        target = genuine.record.targets["beosrv-c"]
        assert (target.state, target.error) == (KILLED, "")
        assert gone(pgid)
    finally:
        await manager.close()
        for stranger in strangers.values():
            stranger.kill()
            stranger.wait()
        for pid in runners.values():
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)


async def test_a_job_record_naming_another_jobs_directory_is_refused(tmp_path, transports):
    """A hand-edited job.toml whose remote_dir is another (running) job's directory: kill
    refuses and signals nothing, and re-attaching fails that target."""
    manager = new_manager(tmp_path, transports)
    victim = thief = None
    try:
        victim = await manager.start("a.kind", "Victim", {"beosrv-c": Plan([sh("sleep 1000")])})
        thief = await manager.start("a.kind", "Thief", {"beosrv-c": Plan([sh("sleep 1000")])})
        pgid = runner_pid(victim, transports, "beosrv-c")
        await until(partial(jobrunner.group_members, pgid))
        await manager.kill(thief.id)
        await finished(thief)
        await manager.close()
        record = manager.directory / thief.id / "job.toml"
        stolen = victim.record.targets["beosrv-c"].remote_dir
        text = record.read_text()
        record.write_text(
            text.replace("finished = ", "# finished = ")
            .replace('state = "Killed"', 'state = "Running"')
            .replace(thief.record.targets["beosrv-c"].remote_dir, stolen)
        )
        manager = new_manager(tmp_path, transports)
        place = f"{JOBS_DIR}/{thief.id}-beosrv-c"
        refusal = f"job {thief.id}: beosrv-c: job directory '{stolen}' is not '{place}'"
        with pytest.raises(Refused) as refused:
            await manager.kill(thief.id)
        assert str(refused.value) == refusal
        assert alive(pgid)
        await manager.resume()
        resumed = await finished(manager.get(thief.id))
        assert resumed.record.targets["beosrv-c"].error == refusal
        assert not manager.get(victim.id).done and alive(pgid)
    finally:
        await manager.close()
        if victim is not None:
            jobdir = remote(victim, transports, "beosrv-c")
            subprocess.run([sys.executable, jobrunner.__file__, "kill", str(jobdir)])
