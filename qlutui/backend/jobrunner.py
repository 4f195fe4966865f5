"""Detached job runner for a head-node; stdlib only, sent as `python3 -c <source> <mode> ...`.

Modes: `start <jobdir> <plan-json>`, `follow <jobdir> <offset>`, `status <jobdir>`,
`kill <jobdir>`. A job directory holds `plan.json`, `identity`, `pgid`, `log` (lines
`<epoch> <o|e|m> <text>`: stdout, stderr, runner messages), `kill` once `kill` asked (a TERM
without it, e.g. at shutdown, fails the job rather than reading as killed) and, once the job
ended, `rc`.

`identity` tells the runner from a process that got its pid later (after a reboot, or once
pids wrapped around): the boot id, the runner's start time (/proc/<pid>/stat field 22), a
digest of its command line, and a random token every process of the job carries in its
environment (QLUTUI_JOB). The runner counts as alive only while the process `pgid` names
matches it; nothing else is ever signalled (a stranger keeps running, the job is interrupted).
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import select
import selectors
import shlex
import signal
import subprocess
import sys
import time

CHUNK = 1 << 20
FLUSH_EVERY = 0.05  # seconds between log flushes while output flows
IDLE_SLEEP = 0.03  # follow: poll interval when the log is idle
GRACE = 5.0  # kill: seconds between TERM and KILL
EXIT_INTERRUPTED = 3
EXIT_MISSING = 4
EXIT_LOCKED = 75
EXIT_KILLED = 143
KILLED_MESSAGE = "killed"  # the log's message once a job was killed (job_log reads it)
BOOT_ID = "/proc/sys/kernel/random/boot_id"
TOKEN = "QLUTUI_JOB"  # in the environment of every process the runner starts
# Characters str.splitlines() treats as line ends: they must not reach the log inside a line.
_BREAKS = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


class StepError(Exception):
    """A built-in op refused or failed; str() is the reason logged."""


class Log:
    """The job log, written in batches: many lines per write, at most FLUSH_EVERY late."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.pending = []
        self.size = 0
        self.last = time.monotonic()

    def add(self, tag, lines):
        prefix = f"{time.time():.3f} {tag} "
        chunk = prefix + ("\n" + prefix).join(lines) + "\n"
        self.pending.append(chunk)
        self.size += len(chunk)
        if self.size >= CHUNK or time.monotonic() - self.last >= FLUSH_EVERY:
            self.flush()

    def message(self, text):
        self.add("m", [clean(text)])
        self.flush()

    def flush(self):
        data = "".join(self.pending).encode("utf-8", "backslashreplace")
        self.pending, self.size, self.last = [], 0, time.monotonic()
        while data:
            data = data[os.write(self.fd, data) :]


def clean(line):
    """One log line from raw text: a carriage return keeps what a terminal would show."""
    if "\r" in line:
        parts = [p for p in line.split("\r") if p]
        line = parts[-1] if parts else ""
    return _BREAKS.sub(" ", line)


def split_lines(data):
    text = data.decode("utf-8", "backslashreplace")
    lines = text.split("\n")
    return [clean(x) for x in lines] if _BREAKS.search(text) else lines


class Runner:
    def __init__(self, jobdir, plan):
        self.jobdir = jobdir
        self.plan = plan
        self.log = Log(os.path.join(jobdir, "log"))
        self.killed = False
        self.proc = None

    def on_term(self, signum, frame):
        self.killed = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # a cleanup child lives in its own session: tell it too

    def main(self):
        signal.signal(signal.SIGTERM, self.on_term)
        try:
            rc = self.execute()
        except Exception as error:  # a runner bug must still end in an rc file
            self.log.message(f"failed: runner error: {reason_of(error)}")
            rc = 1
        self.log.message(f"finished: exit {rc}")
        write_atomic(os.path.join(self.jobdir, "rc"), f"{rc}\n")

    def execute(self):
        lock = self.plan.get("lock")
        if lock:
            try:
                os.makedirs(os.path.dirname(lock), exist_ok=True)
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.log.message(f"locked: another job is running on {lock}")
                return EXIT_LOCKED
            except OSError as error:
                self.log.message(f"failed: cannot lock {lock}: {error.strerror}")
                return 1
        steps = self.plan.get("steps", [])
        rc = 0
        failed, succeeded = [], []  # the names of the keep_going steps, by outcome
        for number, step in enumerate(steps, 1):
            if self.killed:
                break
            where = f"step {number}/{len(steps)}"
            self.log.message(f"{where}: {describe(step)}")
            code, reason = self.step(step, cleanup=False)
            if code and not self.killed:
                self.log.message(f"failed: {where}: {reason}")
            rc = rc or code
            if step.get("keep_going"):  # its failure does not stop the steps after it
                (failed if code else succeeded).append(step.get("name") or where)
            elif code:
                break
        if failed or succeeded:
            self.log.message(
                f"summary: {len(succeeded)} of {len(failed) + len(succeeded)} succeeded"
                + (f"; failed: {', '.join(failed)}" if failed else "")
            )
        if self.killed:
            asked = os.path.exists(os.path.join(self.jobdir, "kill"))
            self.log.message(KILLED_MESSAGE if asked else "failed: terminated by signal 15")
            rc = EXIT_KILLED
        if rc:
            cleanup = self.plan.get("on_failure", [])
            for number, step in enumerate(cleanup, 1):
                self.log.message(f"cleanup {number}/{len(cleanup)}: {describe(step)}")
                code, reason = self.step(step, cleanup=True)
                if code:
                    self.log.message(f"cleanup failed: {reason}")
        return EXIT_KILLED if self.killed else rc

    def step(self, step, cleanup):
        """Run one step; returns (exit code, reason for a failure)."""
        try:
            op = step.get("op")
            if op is None:
                return self.child(step["argv"], step.get("cwd"), cleanup, step.get("program"))
            if op == "rename":
                if os.path.lexists(step["dst"]):
                    raise StepError(f"{step['dst']} already exists")
                os.rename(step["src"], step["dst"])
            elif op == "mkdir":
                os.makedirs(step["path"], exist_ok=True)
            elif op == "unmounted":
                if busy := mounted_below(step["path"]):
                    raise StepError(f"refusing to copy {step['path']}: {busy} is mounted")
            elif op == "rmtree":
                aside = move_aside(step["path"], step["base"])
                if aside is None:
                    self.log.message(f"nothing to remove at {step['path']}")
                else:
                    return self.child(["rm", "-rf", "--one-file-system", aside], None, cleanup)
            else:
                raise StepError(f"unknown op {op!r}")
        except (StepError, OSError, KeyError, TypeError) as error:
            return 1, reason_of(error)
        return 0, ""

    def child(self, argv, cwd, cleanup, program=None):
        """Run argv (no shell), logging its output; cleanup children get their own session
        so a kill of the job's process group does not cut the cleanup short. A failure is
        reported under `program` (the command a wrapper such as unshare runs), else argv[0]."""
        program = program or argv[0]
        try:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=cleanup,
            )
        except OSError as error:
            return 127, f"cannot run {argv[0]}: {error.strerror or error}"
        if self.killed and not cleanup:
            self.proc.terminate()  # TERM arrived between the check and the start
        self.pump(self.proc)
        rc = self.proc.wait()
        self.proc = None
        if rc < 0:
            return 128 - rc, f"{program} killed by signal {-rc}"
        return rc, f"{program} exited with {rc}"

    def pump(self, proc):
        """Copy the child's stdout/stderr into the log until both close (or the child is gone
        and a background process of it keeps them open)."""
        selector = selectors.DefaultSelector()
        rest = {}
        for pipe, tag in ((proc.stdout, "o"), (proc.stderr, "e")):
            selector.register(pipe.fileno(), selectors.EVENT_READ, tag)
            rest[tag] = b""
        idle_since = None
        while selector.get_map():
            events = selector.select(FLUSH_EVERY)
            for key, _ in events:
                tag, data = key.data, os.read(key.fd, CHUNK)
                if not data:
                    selector.unregister(key.fd)
                    if rest[tag]:
                        self.log.add(tag, split_lines(rest[tag]))
                    continue
                data = rest[tag] + data
                cut = data.rfind(b"\n") + 1
                rest[tag] = data[cut:]
                if len(rest[tag]) > CHUNK:  # an endless line: log it in pieces
                    data, cut, rest[tag] = data + b"\n", len(data) + 1, b""
                if cut:
                    self.log.add(tag, split_lines(data[: cut - 1]))
            if events:
                idle_since = None
            elif proc.poll() is not None:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 1.0:
                    break
            if self.log.pending and time.monotonic() - self.log.last >= FLUSH_EVERY:
                self.log.flush()
        selector.close()
        proc.stdout.close()
        proc.stderr.close()
        self.log.flush()


def describe(step):
    op = step.get("op")
    if op is None:  # a step may name itself when its argv is too long to read (a script)
        return step.get("title") or shlex.join(step.get("argv", []))
    if op == "rename":
        return f"rename {step.get('src')} -> {step.get('dst')}"
    if op == "rmtree":
        return f"remove {step.get('path')}"
    if op == "unmounted":
        return f"check that nothing is mounted below {step.get('path')}"
    return f"{op} {step.get('path', '')}".strip()


def mounts():
    try:
        with open("/proc/self/mountinfo") as file:
            fields = [line.split(" ")[4] for line in file]
    except OSError:
        return []
    unescape = re.compile(r"\\([0-7]{3})")
    return [unescape.sub(lambda m: chr(int(m.group(1), 8)), x) for x in fields]


def mounted_below(path):
    """The first mount point at or below `path` (resolved), None when there is none."""
    real = os.path.realpath(path)
    return next((m for m in mounts() if m == real or m.startswith(real + "/")), None)


def move_aside(path, base):
    """Check `path` may be removed and rename it to a hidden sibling; None if it is missing."""
    if os.path.islink(path):
        raise StepError(f"refusing to remove {path}: it is a symbolic link")
    real, top = os.path.realpath(path), os.path.realpath(base)
    if not real.startswith(top.rstrip("/") + "/"):
        raise StepError(f"refusing to remove {path}: not below {base}")
    if busy := mounted_below(real):
        raise StepError(f"refusing to remove {path}: {busy} is mounted")
    if not os.path.lexists(real):
        return None
    parent, name = os.path.split(real)
    aside = os.path.join(parent, f".{name}.removing-{os.getpid()}")
    os.rename(real, aside)
    return aside


def write_atomic(path, text):
    with open(path + ".tmp", "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.rename(path + ".tmp", path)


def read_pgid(jobdir):
    try:
        with open(os.path.join(jobdir, "pgid")) as file:
            return int(file.read())
    except (OSError, ValueError):
        return None


def proc_stat(pid):
    """(state, pgrp) of a live process from /proc, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[2])


def identity_of(pid):
    """Boot id, start time and command-line digest of a live process (None when it is gone)."""
    try:
        with open(BOOT_ID) as file:
            boot_id = file.read().strip()
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            cmdline = file.read()
    except OSError:
        return None
    if fields[0] == "Z":
        return None
    digest = hashlib.sha256(cmdline).hexdigest()
    return {"boot_id": boot_id, "start_time": fields[19], "cmdline_sha256": digest}


def read_identity(jobdir):
    try:
        with open(os.path.join(jobdir, "identity")) as file:
            recorded = json.load(file)
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def runner_pgid(jobdir):
    """The runner's process group id while the process `pgid` names is the job's runner (its
    recorded identity matches), else None: the runner is gone."""
    pgid, recorded = read_pgid(jobdir), read_identity(jobdir)
    stat = proc_stat(pgid) if pgid is not None else None
    if stat is None or stat[1] != pgid:
        return None
    current = identity_of(pgid)
    if current is None or any(recorded.get(key) != value for key, value in current.items()):
        return None
    return pgid


def runner_alive(jobdir):
    return runner_pgid(jobdir) is not None


def carries(pid, token):
    """Whether the process has the job's token in its environment (it is one of the job's)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            return f"{TOKEN}={token}".encode() in file.read().split(b"\0")
    except OSError:
        return False


def group_members(pgid):
    """Live processes of the group except its leader (the runner)."""
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != pgid:
            stat = proc_stat(name)
            if stat is not None and stat[1] == pgid and stat[0] != "Z":
                members.append(int(name))
    return members


def start(jobdir, plan_json):
    plan = json.loads(plan_json)
    os.makedirs(os.path.dirname(jobdir.rstrip("/")) or "/", exist_ok=True)
    os.mkdir(jobdir, 0o755)
    write_atomic(os.path.join(jobdir, "plan.json"), plan_json)
    open(os.path.join(jobdir, "log"), "ab").close()
    reader, writer = os.pipe()
    if os.fork() == 0:
        try:
            os.close(reader)
            if os.fork():
                os._exit(0)
            os.setsid()  # new session and process group: the runner leads it
            os.chdir("/")
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            pgid = os.getpgrp()
            token = secrets.token_hex(16)
            os.environ[TOKEN] = token  # every step inherits it
            identity = {**(identity_of(os.getpid()) or {}), "token": token}
            write_atomic(os.path.join(jobdir, "identity"), json.dumps(identity) + "\n")
            write_atomic(os.path.join(jobdir, "pgid"), f"{pgid}\n")
            os.write(writer, str(pgid).encode())
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            Runner(jobdir, plan).main()
        finally:
            os._exit(0)
    os.close(writer)
    os.wait()
    with os.fdopen(reader, "rb") as pipe:
        pgid = pipe.read().decode()
    if not pgid:
        print(f"the job runner in {jobdir} did not start", file=sys.stderr)
        return 1
    print(pgid)
    return 0


def stdout_closed():
    poller = select.poll()
    poller.register(1, 0)  # POLLERR/POLLHUP are always reported
    return bool(poller.poll(0))


def follow(jobdir, offset):
    """Send the log from `offset` as it grows; exit 0 once `rc` exists and all is sent."""
    try:
        fd = os.open(os.path.join(jobdir, "log"), os.O_RDONLY)
    except FileNotFoundError:
        print(f"no job in {jobdir}", file=sys.stderr)
        return EXIT_MISSING
    rc_path = os.path.join(jobdir, "rc")
    while True:
        finished = os.path.exists(rc_path)  # checked before reading: then nothing can follow
        data = os.pread(fd, CHUNK, offset)
        if data:
            offset += len(data)
            while data:
                data = data[os.write(1, data) :]
            continue
        if finished:
            return 0
        if not runner_alive(jobdir) and not os.path.exists(rc_path):
            return EXIT_INTERRUPTED
        if stdout_closed():
            return 0
        time.sleep(IDLE_SLEEP)


def status(jobdir):
    try:
        size = os.stat(os.path.join(jobdir, "log")).st_size
    except FileNotFoundError:
        size = 0
    result = {"state": "missing", "rc": None, "size": size}
    try:
        with open(os.path.join(jobdir, "rc")) as file:
            result.update(state="finished", rc=int(file.read()))
    except FileNotFoundError:
        if os.path.isdir(jobdir):
            result["state"] = "running" if runner_alive(jobdir) else "interrupted"
    print(json.dumps(result))
    return 0


def kill(jobdir):
    """TERM the job's process group; KILL what is left of its children after GRACE. When the
    runner is gone, only the group's processes carrying the job's token (children the runner
    left behind) are signalled, never what else has the recorded pgid: EXIT_INTERRUPTED."""
    if os.path.exists(os.path.join(jobdir, "rc")):
        return 0
    pgid = runner_pgid(jobdir)
    if pgid is None:
        return kill_orphans(jobdir)
    open(os.path.join(jobdir, "kill"), "ab").close()
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    finish_off(lambda: group_members(pgid))
    return 0


def kill_orphans(jobdir):
    pgid, token = read_pgid(jobdir), read_identity(jobdir).get("token")

    def orphans():
        if pgid is None or not token:
            return []
        return [pid for pid in group_members(pgid) if carries(pid, token)]

    for pid in orphans():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    finish_off(orphans)
    print(f"the job runner is gone (process group {pgid} is not the job's)", file=sys.stderr)
    return EXIT_INTERRUPTED


def finish_off(members):
    """Wait up to GRACE for `members()` to end after a TERM, then KILL those left."""
    deadline = time.monotonic() + GRACE
    while members() and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in members():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def reason_of(error):
    """A failure as a log line says it, never a Python repr: 'path: No such file or directory'."""
    if isinstance(error, OSError) and error.strerror:
        where = " -> ".join(str(f) for f in (error.filename, error.filename2) if f is not None)
        return f"{where}: {error.strerror}" if where else error.strerror
    if isinstance(error, KeyError):
        return f"the plan step has no {error.args[0]}"
    if isinstance(error, StepError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def main(argv):
    modes = {"start": start, "follow": follow, "status": status, "kill": kill}
    if not argv or argv[0] not in modes:
        print("usage: jobrunner start|follow|status|kill <jobdir> ...", file=sys.stderr)
        return 2
    mode, args = argv[0], argv[1:]
    try:
        if mode == "follow":
            args = [args[0], int(args[1])]
        return modes[mode](*args)
    except (OSError, ValueError) as error:
        print(f"jobrunner {mode}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
