"""Jobs: long work on head-nodes that survives the app (docs/architecture.md, "Jobs").

A target is either a `Plan`, run detached on its head-node by `jobrunner.py` in
`<jobs_dir>/<id>-<target>`, or an async function run in this process. This module follows
each target's log into `state/jobs/<id>/<target>.log` (a byte-exact copy of the head-node's
log, so re-attaching resumes at the local size), hands parsed lines to subscribers in
batches, and writes `state/jobs/<id>/job.toml` whenever a target changes state.

One process drives a job at a time (a `flock` on `state/jobs/<id>/.lock`): it appends to the
logs, decides the end state and runs the completion hooks. Any other process that resumes
the job only observes it (tails the local files) until the lock becomes free.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import heapq
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from qlutui.backend import jobrunner
from qlutui.backend.audit import AuditHook
from qlutui.backend.job_log import TAGS, Sink, Tracker
from qlutui.backend.job_records import (
    ERRORS,
    FAILED,
    INTERRUPTED,
    KILLED,
    MESSAGE,
    PENDING,
    RUNNING,
    STATES,
    STDOUT,
    SUCCESS,
    JobRecord,
    LogLine,
    Plan,
    TargetRecord,
    phrase,
)
from qlutui.backend.store import Signature, file_signature, parse_toml
from qlutui.backend.transport import RunFailed, Transport
from qlutui.errors import InvalidInput, QlutuiError, Refused, TransportError
from qlutui.model.names import check_name

log = logging.getLogger(__name__)

SOURCE = Path(jobrunner.__file__).read_text()

_JOB_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")
JOB_LOG = ".job.log"  # job-level messages; a target name cannot start with "."
TICK = 0.05  # seconds: the longest a line waits before subscribers see it
OBSERVE_EVERY = 0.2
REMOTE_TIMEOUT = 60.0
KEEP_DAYS = 7.0  # head-node job directories of ended jobs are kept this long (see prune)
RUNNER_GONE = "its runner on the head-node is gone, rebooted or killed"
# an empty file beside job.toml while the record says unfinished: a read verb settling jobs
# looks for it instead of parsing a year of job records (2,000: +0.4 s per CLI call)
UNFINISHED = "unfinished"
WELL = (SUCCESS, ERRORS)  # target states of work that ran to its end


def _tell(callbacks: list[Callable[[Any], None]], value: object, job_id: str, who: str) -> None:
    """Call each of `callbacks` with `value`; one that raises is logged: a broken viewer must
    not stop the job being recorded."""
    for callback in list(callbacks):  # a callback may unsubscribe itself
        try:
            callback(value)
        except Exception:
            log.exception("job %s: a %s failed", job_id, who)


class Job:
    """A job as this process sees it: its record, its logs and the subscribers to new lines.
    `changed(job)` is called whenever its record changes (see `JobManager.watch`)."""

    def __init__(self, record: JobRecord, directory: Path, changed: Callable[[Job], None]) -> None:
        self.record = record
        self.directory = directory
        self._changed = changed
        self.trackers = self._new_trackers()
        self._tracked = False  # the trackers have read the logs (followed or replayed)
        self._subscribers: list[Callable[[list[LogLine]], None]] = []
        self._sinks: dict[str, Sink] = {}
        self._seen: dict[str, int] = {}  # file name -> bytes already read back (observers)
        self._idle = asyncio.Event()  # set while nothing in this process follows the job
        self._idle.set()
        self._lock_fd: int | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}  # in-process targets
        self.killing = False

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def done(self) -> bool:
        return self.record.finished is not None

    @property
    def elapsed(self) -> float:
        return (self.record.finished or time.time()) - self.record.created

    @property
    def progress(self) -> float | None:
        """How far the job got, 0..1: a target that ended well counts whole, one running or
        ended early (Failed, Killed, Interrupted) as far as its log shows (a killed build
        showed 100%); None when the log of one that ended early cannot tell."""
        targets = self.record.targets
        early = {n for n, t in targets.items() if t.state not in (PENDING, RUNNING, *WELL)}
        if early and not self._tracked:  # opened after it ended: read its logs once
            self._replay()
        parts = []
        for name, target in targets.items():
            part = 1.0 if target.state in WELL else self.trackers[name].progress()
            if part is None and name in early:
                return None
            parts.append(part or 0.0)
        return sum(parts) / len(parts)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for target in self.record.targets.values():
            counts[target.state] += 1
        return counts

    def subscribe(self, callback: Callable[[list[LogLine]], None]) -> Callable[[], None]:
        """Call `callback` with each batch of new lines; returns the unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    async def wait(self) -> None:
        """Until the job is done, or nothing in this process follows it any more."""
        await self._idle.wait()

    async def follow(self, callback: Callable[[list[LogLine]], None]) -> None:
        unsubscribe = self.subscribe(callback)
        try:
            await self.wait()
        finally:
            unsubscribe()

    def lines(self) -> list[LogLine]:
        """The whole log read back from the local files, targets merged by time."""
        per_file = []
        for name in self._files():
            raws, self._seen[name] = self._read_lines(name, 0)
            tracker = Tracker(self.trackers[name].target, TargetRecord())
            per_file.append(tracker.parse_all(raws))
        return list(heapq.merge(*per_file, key=lambda line: line.time))

    # -- internals used by JobManager --------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.directory / (name if name == JOB_LOG else f"{name}.log")

    def _files(self) -> list[str]:
        return [*self.record.targets, JOB_LOG]

    def _read_lines(self, name: str, offset: int) -> tuple[list[str], int]:
        """The complete lines of a local log from `offset`, and the offset after them."""
        try:
            with self._path(name).open("rb") as file:
                file.seek(offset)
                data = file.read()
        except FileNotFoundError:
            return [], offset
        data = data[: data.rfind(b"\n") + 1]
        text = data.decode("utf-8", "surrogateescape")
        return text.split("\n")[:-1], offset + len(data)

    def _deliver(self, batch: list[LogLine]) -> None:
        _tell(self._subscribers, batch, self.id, "log subscriber")

    def _sink(self, name: str) -> Sink:
        if name not in self._sinks:
            self._sinks[name] = Sink(self._path(name), self.trackers[name], self._deliver)
        return self._sinks[name]

    def _flush(self) -> None:
        for sink in self._sinks.values():
            sink.flush()

    def _message(self, text: str) -> None:
        raw = f"{time.time():.3f} m {jobrunner.clean(text)}"
        with self._path(JOB_LOG).open("ab") as file:
            file.write(raw.encode("utf-8", "backslashreplace") + b"\n")
        self._deliver([self.trackers[JOB_LOG].parse(raw)])

    def _save(self) -> None:
        import tomlkit  # deferred: read-only CLI verbs import this module and never save

        path = self.directory / "job.toml"
        marker = self.directory / UNFINISHED
        if not self.done:  # before the record: a crash in between leaves no job unmarked
            marker.touch()
        tmp = path.with_name(f"job.toml.tmp-{os.getpid()}")
        with tmp.open("w") as file:
            file.write(tomlkit.dumps(self.record.to_dict()))
            file.flush()
            os.fsync(file.fileno())
        tmp.replace(path)
        if self.done:
            marker.unlink(missing_ok=True)
        self._changed(self)

    def _try_lock(self) -> bool:
        if self._lock_fd is not None:
            return True
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _release(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _new_trackers(self) -> dict[str, Tracker]:
        trackers = {name: Tracker(name, t) for name, t in self.record.targets.items()}
        trackers[JOB_LOG] = Tracker("", TargetRecord())
        return trackers

    def _replay(self) -> None:
        """Bring the trackers up to date with what the local logs already hold."""
        self.trackers = self._new_trackers()
        for name, tracker in self.trackers.items():
            tracker.parse_all(self._read_lines(name, 0)[0])
        self._tracked = True

    def _end_target(
        self, name: str, rc: int | None, error: str = "", interrupted: bool = False
    ) -> None:
        if sink := self._sinks.get(name):
            sink.flush()  # the tracker has seen every line
        target, tracker = self.record.targets[name], self.trackers[name]
        target.rc = rc
        if interrupted:
            target.state, target.error = INTERRUPTED, error
        elif error or rc is None:
            target.state, target.error = FAILED, error or "no exit status in the log"
        elif tracker.killed:
            target.state, target.error = KILLED, ""
        elif rc == 0:
            target.state = ERRORS if tracker.error_lines else SUCCESS
            target.error = "error lines on stderr" if tracker.error_lines else ""
        else:
            target.state, target.error = FAILED, tracker.reason or f"exit {rc}"
        self._save()

    def _final_message(self) -> str:
        targets = self.record.targets
        for state in (FAILED, INTERRUPTED):
            ended = [n for n, t in targets.items() if t.state == state]
            if not ended:
                continue
            if len(ended) == 1:
                reasons = targets[ended[0]].error
            else:
                reasons = "; ".join(f"{n}: {targets[n].error}" for n in ended)
            return f"{state} on {', '.join(ended)}: {reasons}"
        title = phrase(self.record.title)
        if killed := [n for n, t in targets.items() if t.state == KILLED]:
            return f"{KILLED} on {', '.join(killed)}: {title}"
        if errors := [n for n, t in targets.items() if t.state == ERRORS]:
            return f"Finished with errors on {', '.join(errors)}: {title}"
        return f"Success: {title}"


class JobContext:
    """What in-process work gets: its target name and a way to log into the job."""

    def __init__(self, job: Job, target: str, transports: Callable[[str], Transport]) -> None:
        self.job = job
        self.target = target
        self._transports = transports
        self._sink = job._sink(target)

    @property
    def transport(self) -> Transport:
        return self._transports(self.target)

    def log(self, stream: str, text: str) -> None:
        prefix = f"{time.time():.3f} {TAGS[stream]} "
        self._sink.feed([prefix + jobrunner.clean(line) for line in text.split("\n")])

    def message(self, text: str) -> None:
        self.log(MESSAGE, text)

    def progress(self, fraction: float) -> None:
        self._sink.tracker.fraction = max(0.0, min(1.0, fraction))


Work = Plan | Callable[[JobContext], Awaitable[None]]
Hook = Callable[[Job], Awaitable[None]]


class JobManager:
    def __init__(
        self,
        state_jobs_dir: Path,
        transports: Callable[[str], Transport],
        jobs_dir: str,
        audit: AuditHook | None = None,
    ) -> None:
        self.directory = Path(state_jobs_dir)
        self.audit = audit  # told of every job start and end: ("job.start"|"job.end", id, ...)
        self.jobs_dir = jobs_dir.rstrip("/")
        self._transports = transports
        self._jobs: dict[str, Job] = {}
        self._hooks: dict[str, list[Hook]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watchers: list[Callable[[Job], None]] = []
        # job id -> (job.toml's signature, its record) as `list` last read it
        self._records: dict[str, tuple[Signature, JobRecord]] = {}

    # -- queries ------------------------------------------------------------------------------

    def list(self) -> list[JobRecord]:
        """Every job record, newest first (shared: read them, do not change them).

        A record is parsed again only when its job.toml changed: the Jobs screen lists every
        2 s, and a year of history (2,000 jobs) would otherwise cost ~170 ms of parsing."""
        base = os.fspath(self.directory)
        try:
            names = [name for name in os.listdir(base) if _JOB_ID.fullmatch(name)]
        except FileNotFoundError:
            names = []
        seen: dict[str, tuple[Signature, JobRecord]] = {}
        for name in names:
            try:
                signature = file_signature(f"{base}/{name}/job.toml")
            except OSError:  # not a job (yet), or removed meanwhile
                continue
            cached = self._records.get(name)
            if cached is not None and cached[0] == signature:
                seen[name] = cached
                continue
            try:
                seen[name] = (signature, self._read_record(name))
            except (OSError, QlutuiError, TypeError) as error:
                log.warning("skipping job %s: %s", name, error)
        self._records = seen
        records = [record for _, record in seen.values()]
        return sorted(records, key=lambda r: (r.created, r.id), reverse=True)

    def get(self, job_id: str) -> Job:
        if job_id not in self._jobs:
            if not _JOB_ID.fullmatch(job_id) or not (self.directory / job_id / "job.toml").exists():
                raise InvalidInput(f"no job '{job_id}'")
            record = self._read_record(job_id)
            self._jobs[job_id] = Job(record, self.directory / job_id, self._changed)
        return self._jobs[job_id]

    def running(self, subject: str) -> Job | None:
        for job in self._jobs.values():
            if job.record.subject == subject and not job.done:
                return job
        return None

    def watch(self, callback: Callable[[Job], None]) -> Callable[[], None]:
        """Call `callback(job)` whenever the record of a job this process knows changes: it
        started, a target's state changed, it ended (saved, or re-read while another process
        drives it). Returns the unwatch function. Jobs this process never opened are seen
        only by `list()`."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback)

    def register_hook(self, kind: str, hook: Hook) -> None:
        """`hook(job)` runs once when a job of `kind` ends, live or when re-attached."""
        self._hooks.setdefault(kind, []).append(hook)

    # -- actions ------------------------------------------------------------------------------

    async def start(
        self,
        kind: str,
        title: str,
        targets: dict[str, Work],
        subject: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Job:
        """Create the job and launch every target (a target that cannot start is Failed);
        returns while the work goes on."""
        if not targets:
            raise InvalidInput("a job needs at least one target")
        for name in targets:
            check_name(name, "job target")
        if subject and (busy := self.running(subject)):
            raise Refused(
                f"{subject} is busy: job {busy.id} ({phrase(busy.record.title)}) is running"
            )
        job_id = self._new_id()
        record = JobRecord(job_id, kind, title, subject or "", time.time(), meta=dict(meta or {}))
        for name, work in targets.items():
            if isinstance(work, Plan):
                record.targets[name] = TargetRecord(
                    remote_dir=f"{self.jobs_dir}/{job_id}-{name}",
                    steps=len(work.steps),
                    phases=list(work.phases),
                )
            else:
                record.targets[name] = TargetRecord()
        job = Job(record, self.directory / job_id, self._changed)
        job._tracked = True  # its trackers read every line from the first
        job.directory.mkdir(parents=True)
        job._try_lock()
        job._save()
        self._jobs[job_id] = job
        launched = await asyncio.gather(*(self._launch(job, n, w) for n, w in targets.items()))
        job._save()
        if self.audit:
            where = ", ".join(targets)
            named = where in title  # "Write 2 files on beosrv-c, beosrv-d": said once
            self.audit(
                "job.start", job_id, f"{kind}: {phrase(title)}{'' if named else f' on {where}'}"
            )
        self._drive(job, {n: run for n, run in zip(targets, launched, strict=True) if run})
        return job

    async def kill(self, job_id: str) -> None:
        """Terminate every running target (remote process groups; in-process work cancelled)."""
        job = self.get(job_id)
        if job.done:
            raise Refused(f"job {job_id} is not running")
        running = {n: t for n, t in job.record.targets.items() if t.state in (PENDING, RUNNING)}
        for name, target in running.items():
            if target.remote_dir:
                self._remote_dir(job, name)
        job.killing = True

        async def kill_target(name: str, target: TargetRecord) -> bool:
            """Signal the target's runner; False when it is gone (nothing else signalled)."""
            if not target.remote_dir:
                if task := job._tasks.get(name):
                    task.cancel()
                return True
            transport = self._transports(name)
            argv = self._runner(transport, "kill", target.remote_dir)
            result = await transport.run(argv, timeout=jobrunner.GRACE + REMOTE_TIMEOUT)
            if result.returncode == jobrunner.EXIT_INTERRUPTED:
                return False
            if result.returncode:
                raise TransportError(result.stderr.decode(errors="replace").strip())
            return True

        results = await asyncio.gather(
            *(kill_target(n, t) for n, t in running.items()), return_exceptions=True
        )
        outcomes = dict(zip(running, results, strict=True))
        failures = [f"{n}: {r}" for n, r in outcomes.items() if isinstance(r, BaseException)]
        if failures:
            raise TransportError(f"could not kill job {job_id} on " + "; ".join(failures))
        gone = [n for n, r in outcomes.items() if r is False]
        # the end recorded now when no process follows the job (`qlutui jobs kill`): else a
        # list would say Running until a session re-attaches it
        await self._settle(job, [n for n, t in running.items() if t.remote_dir])
        if gone:
            raise Refused(
                f"job {job_id} is interrupted on {', '.join(gone)}: {RUNNER_GONE}; "
                "no other process was signalled"
            )
        targets = job.record.targets
        if job.done and not any(targets[name].state == KILLED for name in running):
            # every runner had ended before the kill came (the job ended unwatched)
            raise Refused(f"job {job_id} had already ended: {job.record.state}")

    async def _settle(self, job: Job, gone: list[str]) -> None:
        """Record now that the runners of `gone` are, unless another process or task follows
        the job (it sees the same the next time it looks)."""
        if not job._idle.is_set() or not self._take(job):
            return
        await self._reattach(job)
        ending = [job._tasks[name] for name in gone if name in job._tasks]
        if ending:
            await asyncio.wait(ending, timeout=REMOTE_TIMEOUT)
        if all(t.state not in (PENDING, RUNNING) for t in job.record.targets.values()):
            with contextlib.suppress(TimeoutError):  # the completion hooks have run
                await asyncio.wait_for(job.wait(), REMOTE_TIMEOUT)

    async def resume(self) -> None:
        """At start: re-attach every unfinished job (or observe it if another process drives
        it); jobs that ended meanwhile are completed and their hooks run."""
        reattach = []
        for record in self.list():
            if record.finished is not None:
                continue
            job = self.get(record.id)
            if not job._idle.is_set():
                continue  # already followed by this process
            if self._take(job):
                reattach.append(self._reattach(job))
            else:  # driven elsewhere (or just ended there: observing sees the end)
                job._idle.clear()
                self._spawn(self._observe(job))
        await asyncio.gather(*reattach)

    async def settle(self) -> None:
        """Complete the jobs whose runners ended while no process followed them, as `resume`
        does at start, but leave the runners still running alone: what a read verb calls
        first, so it never shows Running (or a chroot "building") for a job that is over.
        A job another process drives is left to it; a head-node is asked only about jobs
        recorded as running there."""
        taken = []
        for job_id in self._marked_unfinished():
            try:
                job = self.get(job_id)
                if job.done:  # ended just before its marker went: the marker goes now
                    (job.directory / UNFINISHED).unlink(missing_ok=True)
                elif job._idle.is_set() and self._take(job):
                    taken.append(job)
            except PermissionError:  # a reader who may not write the state: as recorded
                continue
            except (QlutuiError, TypeError) as error:  # a record removed or broken meanwhile
                log.warning("skipping job %s: %s", job_id, error)
        await asyncio.gather(*(self._reattach(job, running=False) for job in taken))
        await asyncio.gather(*(job.wait() for job in taken))

    async def prune(self, days: float = KEEP_DAYS) -> list[str]:
        """Remove the head-node directories of jobs that ended more than `days` ago (the local
        records and logs stay); returns the ids of the jobs pruned. Unreachable head-nodes are
        skipped until the next call."""
        cutoff = time.time() - days * 86400
        pruned = []
        for record in self.list():
            if record.finished is None or record.finished > cutoff:
                continue
            job = self.get(record.id)
            for name, target in job.record.targets.items():
                if not target.remote_dir:
                    continue
                try:
                    self._remote_dir(job, name)
                    transport = self._transports(name)
                    if await transport.exists(target.remote_dir):
                        await transport.remove_tree(target.remote_dir, self.jobs_dir)
                except QlutuiError as error:
                    log.warning("job %s: cannot prune on %s: %s", job.id, name, error)
                    continue
                target.remote_dir = ""
                job._save()
                if job.id not in pruned:
                    pruned.append(job.id)
        return pruned

    async def close(self) -> None:
        """Stop following (the app is leaving; remote jobs keep running)."""
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for job in self._jobs.values():
            for task in job._tasks.values():
                task.cancel()
            job._release()
            job._idle.set()
        self._jobs.clear()

    # -- internals ----------------------------------------------------------------------------

    def _new_id(self) -> str:
        while True:
            job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
            if not (self.directory / job_id).exists():
                return job_id

    def _read_record(self, job_id: str) -> JobRecord:
        path = self.directory / job_id / "job.toml"
        return JobRecord.from_dict(parse_toml(path, path.read_bytes()))

    def _marked_unfinished(self) -> list[str]:
        """The ids of the jobs whose record was last saved unfinished (`UNFINISHED`): a stat
        each, no record parsed. A record saved before the marker existed is found by
        `resume` (a session's start), which reads them all."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        marked = (n for n in names if _JOB_ID.fullmatch(n))
        return [n for n in marked if os.path.exists(f"{self.directory}/{n}/{UNFINISHED}")]

    def _take(self, job: Job) -> bool:
        """Drive `job` from now on: its lock taken, its record re-read. False when another
        process holds the lock, or ended the job between our reading and locking it (its
        hooks ran there: they must not run twice)."""
        if not job._try_lock():
            return False
        record = self._read_record(job.id)
        if record.finished is not None:
            job._release()
            return False
        job.record = record
        return True

    def _changed(self, job: Job) -> None:
        _tell(self._watchers, job, job.id, "watcher")

    def _reread(self, job: Job) -> None:
        """The record as the process driving the job saved it last."""
        record = self._read_record(job.id)
        if record != job.record:
            job.record = record
            self._changed(job)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remote_dir(self, job: Job, name: str) -> str:
        """The target's head-node job directory, refused unless it is `<jobs_dir>/<id>-<name>`
        (a hand-edited job.toml naming another job's directory would have kill signal it)."""
        remote_dir = job.record.targets[name].remote_dir
        place = f"{self.jobs_dir}/{job.id}-{name}"
        if remote_dir != place:
            raise Refused(f"job {job.id}: {name}: job directory {remote_dir!r} is not {place!r}")
        return remote_dir

    def _runner(self, transport: Transport, mode: str, remote_dir: str, *extra: str) -> list[str]:
        # -I -S: the standard library only (no site, no PYTHON* variables, no current
        # directory on sys.path), which also halves the interpreter's start (~80 -> ~35 ms)
        return ["python3", "-I", "-S", "-c", SOURCE, mode, transport.host_path(remote_dir), *extra]

    async def _launch(
        self, job: Job, name: str, work: Work
    ) -> Callable[[], Awaitable[None]] | None:
        """Start one target; returns what follows it to the end (None: it failed to start)."""
        target = job.record.targets[name]
        if not isinstance(work, Plan):
            target.state = RUNNING
            return lambda: self._run_inline(job, name, work)
        try:
            transport = self._transports(name)
            argv = self._runner(transport, "start", target.remote_dir, work.to_json(transport))
            result = await transport.run(argv, timeout=REMOTE_TIMEOUT)
        except QlutuiError as error:
            job._end_target(name, None, f"head-node unreachable: {error}")
            return None
        if result.returncode != 0:
            reason = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
            job._end_target(name, None, f"could not start: {reason}")
            return None
        target.state = RUNNING
        return lambda: self._follow(job, name)

    def _drive(self, job: Job, runners: dict[str, Callable[[], Awaitable[None]]]) -> None:
        """Follow the targets to their ends, then finalize (in a task of its own)."""
        job._idle.clear()
        for name, run in runners.items():
            job._tasks[name] = asyncio.ensure_future(run())
        self._spawn(self._supervise(job))

    async def _supervise(self, job: Job) -> None:
        async def tick() -> None:
            while True:
                await asyncio.sleep(TICK)
                job._flush()

        ticker = asyncio.ensure_future(tick())
        try:
            names = list(job._tasks)
            results = await asyncio.gather(*job._tasks.values(), return_exceptions=True)
        finally:
            ticker.cancel()
            job._tasks.clear()
        for name, result in zip(names, results, strict=True):
            if isinstance(result, Exception):  # a bug or a local I/O error: resume() retries
                log.error("job %s: following %s failed", job.id, name, exc_info=result)
                job.record.targets[name].error = f"following failed: {result}"
                job._save()
        job._flush()
        if all(t.state not in (PENDING, RUNNING) for t in job.record.targets.values()):
            await self._finalize(job)
        else:  # a head-node is unreachable: the next resume() tries again
            job._release()
        job._idle.set()

    async def _finalize(self, job: Job) -> None:
        # when the work ended: its logs' last line, not now (a job that ended unwatched is
        # finalized whenever a read verb or a session comes: its elapsed time stays true)
        ended = max((tracker.last_time for tracker in job.trackers.values()), default=0.0)
        for hook in self._hooks.get(job.record.kind, []):
            try:
                await hook(job)
            except Exception as error:
                log.exception("job %s: completion hook failed", job.id)
                job._message(f"completion hook failed: {error}")
        job._message(job._final_message())
        job.record.finished = max(ended, job.record.created) if ended else time.time()
        job._save()
        job._release()
        if self.audit:
            record = job.record
            self.audit("job.end", job.id, f"{record.kind}: {phrase(record.title)}: {record.state}")

    async def _follow(self, job: Job, name: str) -> None:
        """Stream the head-node's log from the local size to the end; then end the target."""
        target = job.record.targets[name]
        sink = job._sink(name)
        stderr: list[str] = []
        code = 0
        try:
            transport = self._transports(name)
            argv = self._runner(transport, "follow", target.remote_dir, str(sink.size))
            async for stream, lines in transport.stream_chunks(argv):
                if stream == STDOUT:
                    sink.feed(lines)
                    await asyncio.sleep(0)  # a flood of buffered output must not hold the loop
                else:
                    stderr.extend(lines)
        except RunFailed as error:
            code = error.returncode
        except QlutuiError as error:
            target.error = f"head-node unreachable: {error}"
            job._save()
            return
        finally:
            sink.flush()
        if code == jobrunner.EXIT_INTERRUPTED:
            job._end_target(name, None, RUNNER_GONE, interrupted=True)
        elif code == jobrunner.EXIT_MISSING:
            job._end_target(name, None, "job directory missing on the head-node")
        elif code:
            job._end_target(name, None, f"following failed: {' '.join(stderr) or code}")
        else:
            job._end_target(name, job.trackers[name].rc)

    async def _run_inline(self, job: Job, name: str, work: Callable[[JobContext], Any]) -> None:
        context = JobContext(job, name, self._transports)
        try:
            await work(context)
        except asyncio.CancelledError:
            if not job.killing:
                raise  # the app is closing: the next resume() marks it interrupted
            context.message(jobrunner.KILLED_MESSAGE)
            job._end_target(name, jobrunner.EXIT_KILLED)
            return
        except QlutuiError as error:
            context.message(f"failed: {error}")
            job._end_target(name, 1, str(error))
            return
        except Exception as error:
            log.exception("job %s: %s failed", job.id, name)
            context.message(f"failed: {type(error).__name__}: {error}")
            job._end_target(name, 1, f"{type(error).__name__}: {error}")
            return
        finally:
            context._sink.flush()
        job._end_target(name, 0)

    async def _reattach(self, job: Job, running: bool = True) -> None:
        """Follow the job's unfinished targets to their ends (`running=False`: only those
        whose runner is no longer running) and finalize it once all have ended."""
        job._replay()
        runners = {}

        async def check(name: str, target: TargetRecord) -> None:
            if not target.remote_dir:
                job._end_target(name, None, "qlutui ended while it ran", interrupted=True)
                return
            try:
                self._remote_dir(job, name)
            except Refused as error:
                job._end_target(name, None, str(error))
                return
            try:
                transport = self._transports(name)
                argv = self._runner(transport, "status", target.remote_dir)
                result = await transport.run(argv, timeout=REMOTE_TIMEOUT)
            except QlutuiError as error:
                target.error = f"head-node unreachable: {error}"
                return
            try:
                state = json.loads(result.stdout)["state"]
            except (ValueError, KeyError):
                reason = result.stderr.decode(errors="replace").strip() or result.returncode
                target.error = f"job status unavailable: {reason}"
                return
            target.error = ""
            if state == "missing":
                job._end_target(name, None, "job directory missing on the head-node")
            elif running or state != "running":  # `follow` fetches the rest and tells
                runners[name] = lambda: self._follow(job, name)

        unfinished = {n: t for n, t in job.record.targets.items() if t.state in (PENDING, RUNNING)}
        errors = {n: t.error for n, t in unfinished.items()}
        await asyncio.gather(*(check(n, t) for n, t in unfinished.items()))
        if any(t.error != errors[n] for n, t in unfinished.items()):
            job._save()  # an ended target saved itself; an unchanged record is not rewritten
        self._drive(job, runners)

    async def _observe(self, job: Job) -> None:
        """Another process drives the job: tail the local files until it ends or the lock
        frees (then take over)."""
        job._replay()
        for name in job._files():  # subscribers get what `lines()` did not return
            job._seen.setdefault(name, job._read_lines(name, 0)[1])
        try:
            while True:
                finished = self._read_record(job.id).finished is not None
                for name in job._files():
                    raws, job._seen[name] = job._read_lines(name, job._seen[name])
                    if raws:
                        job._deliver(job.trackers[name].parse_all(raws))
                self._reread(job)
                if finished:
                    return
                if self._take(job):
                    await self._reattach(job)
                    return
                await asyncio.sleep(OBSERVE_EVERY)
        finally:
            if job._lock_fd is None:
                job._idle.set()
