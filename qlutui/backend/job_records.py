"""A job's data: its states, its log lines, the record saved as job.toml and the plan that
jobrunner.py runs on a head-node."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from qlutui.backend.transport import Transport

PENDING, RUNNING, FAILED, ERRORS, SUCCESS = "Pending", "Running", "Failed", "Errors", "Success"
# Ended without an exit status: its runner is gone (head-node rebooted, runner killed), or
# qlutui quit while it ran in-process.
INTERRUPTED = "Interrupted"
# Ended by a kill of the job (k on the Jobs screen, `qlutui jobs kill`). A step that died of a
# signal from anything else is Failed, its reason naming the signal ("... killed by signal 9").
KILLED = "Killed"
STATES = (PENDING, RUNNING, FAILED, ERRORS, SUCCESS, INTERRUPTED, KILLED)
JOB_STATES = (RUNNING, SUCCESS, FAILED, KILLED, INTERRUPTED, ERRORS)  # a job's (not a target's)
STDOUT, STDERR, MESSAGE = "stdout", "stderr", "message"


def phrase(title: str) -> str:
    """A job's title as part of a sentence ("Kill job ...?", "Success: ...") or beside its
    state: without the " ..." that the titles of long work end in ("Creating chroot x ...")."""
    return title.removesuffix(" ...")


@dataclass
class Plan:
    """Work for jobrunner on one head-node. Paths in ops, `cwd` and `lock` are head-node paths
    (mapped with `Transport.host_path` here); argv words are passed verbatim."""

    steps: list[dict[str, Any]]
    on_failure: list[dict[str, Any]] = field(default_factory=list)
    lock: str | None = None
    phases: list[str] = field(default_factory=list)  # regexes on output lines, in order

    def to_json(self, transport: Transport) -> str:
        def mapped(step: dict[str, Any]) -> dict[str, Any]:
            keys = ("cwd",) if "argv" in step else ("src", "dst", "path", "base")
            return {k: transport.host_path(v) if k in keys else v for k, v in step.items()}

        plan: dict[str, Any] = {
            "steps": [mapped(s) for s in self.steps],
            "on_failure": [mapped(s) for s in self.on_failure],
        }
        if self.lock:
            plan["lock"] = transport.host_path(self.lock)
        return json.dumps(plan)


class LogLine(NamedTuple):
    """One parsed log line. A tuple: cheap to build, and the garbage collector stops tracking
    it once it has survived a collection, so a flood of lines does not trigger full
    collections of the whole app (100+ ms pauses)."""

    time: float
    target: str  # "" for the job's own messages
    stream: str  # STDOUT | STDERR | MESSAGE
    text: str


@dataclass
class TargetRecord:
    state: str = PENDING
    rc: int | None = None
    remote_dir: str = ""  # head-node job directory; "" for in-process work
    error: str = ""
    steps: int = 0
    phases: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetRecord:
        target = cls(**data)
        if (target.state, target.error) == (FAILED, "killed"):  # recorded before Killed was
            target.state, target.error = KILLED, ""
        return target


@dataclass
class JobRecord:
    id: str
    kind: str
    title: str
    subject: str = ""
    created: float = 0.0
    finished: float | None = None
    targets: dict[str, TargetRecord] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        states = {t.state for t in self.targets.values()}
        for state in (RUNNING, PENDING, FAILED, INTERRUPTED, KILLED, ERRORS):
            if state in states:
                return RUNNING if state == PENDING else state
        return SUCCESS

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state
        return _without_none(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        fields = {k: v for k, v in data.items() if k not in ("state", "targets")}
        targets = {n: TargetRecord.from_dict(t) for n, t in data.get("targets", {}).items()}
        return cls(**fields, targets=targets)


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value
