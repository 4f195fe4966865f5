"""jobrunner.py as the head-node runs it: real detached processes, real files, real signals."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import alive, gone

from qlutui.backend import jobrunner

RUNNER = jobrunner.__file__


def runner(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, RUNNER, *args], capture_output=True, text=True, timeout=timeout
    )


def start(jobdir: Path, plan: dict) -> int:
    result = runner("start", str(jobdir), json.dumps(plan))
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def wait_rc(jobdir: Path, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while not (jobdir / "rc").exists():
        assert time.monotonic() < deadline, (jobdir / "log").read_text()
        time.sleep(0.02)
    return int((jobdir / "rc").read_text())


def entries(jobdir: Path) -> list[tuple[str, str]]:
    """(tag, text) of every log line, checking the `<epoch> <tag> <text>` format."""
    result = []
    for line in (jobdir / "log").read_text().splitlines():
        stamp, tag, text = line.split(" ", 2)
        assert abs(float(stamp) - time.time()) < 60 and len(stamp.split(".")[1]) == 3
        result.append((tag, text))
    return result


def messages(jobdir: Path) -> list[str]:
    return [text for tag, text in entries(jobdir) if tag == "m"]


def group_of(pid: int) -> int | None:
    stat = jobrunner.proc_stat(pid)
    return None if stat is None or stat[0] == "Z" else stat[1]


def find_child(pgid: int, name: str, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in jobrunner.group_members(pgid):
            if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                return pid
        time.sleep(0.02)
    raise AssertionError(f"no {name} process in group {pgid}")


def sh(script: str) -> dict:
    return {"argv": ["sh", "-c", script]}


def test_start_tags_stdout_stderr_and_messages_in_order(tmp_path: Path) -> None:
    jobdir = tmp_path / "jobs" / "j1"  # the parent is created too
    script = (
        "for i in 1 2 3; do echo out $i; echo err $i >&2; done; printf 'a\\rb\\n'; echo -n tail"
    )
    pgid = start(jobdir, {"steps": [sh(script), {"argv": ["echo", "second"]}]})
    assert int((jobdir / "pgid").read_text()) == pgid
    assert wait_rc(jobdir) == 0
    log = entries(jobdir)
    assert [t for tag, t in log if tag == "o"] == ["out 1", "out 2", "out 3", "b", "tail", "second"]
    assert [t for tag, t in log if tag == "e"] == ["err 1", "err 2", "err 3"]
    assert log[0] == ("m", f"step 1/2: sh -c {shlex.quote(script)}")
    assert messages(jobdir)[1:] == ["step 2/2: echo second", "finished: exit 0"]
    assert log.index(("m", "step 2/2: echo second")) > log.index(("o", "tail"))
    assert json.loads(runner("status", str(jobdir)).stdout) == {
        "state": "finished",
        "rc": 0,
        "size": (jobdir / "log").stat().st_size,
    }


def test_start_refuses_an_existing_jobdir(tmp_path: Path) -> None:
    (tmp_path / "j").mkdir()
    result = runner("start", str(tmp_path / "j"), "{}")
    assert result.returncode == 1 and "File exists" in result.stderr


def test_failed_step_stops_the_plan_and_runs_on_failure(tmp_path: Path) -> None:
    jobdir, work = tmp_path / "j", tmp_path / "work"
    plan = {
        "steps": [
            {"op": "mkdir", "path": str(work / "partial")},
            sh("echo building; exit 7"),
            {"op": "mkdir", "path": str(work / "never")},
        ],
        "on_failure": [{"op": "rmtree", "path": str(work / "partial"), "base": str(work)}],
    }
    start(jobdir, plan)
    assert wait_rc(jobdir) == 7
    assert messages(jobdir)[2:] == [
        "failed: step 2/3: sh exited with 7",
        f"cleanup 1/1: remove {work / 'partial'}",
        "finished: exit 7",
    ]
    assert list(work.iterdir()) == []  # partial removed (not even its aside copy is left)


def test_a_keep_going_step_failing_does_not_stop_the_next_ones(tmp_path: Path) -> None:
    jobdir = tmp_path / "j"
    plan = {
        "steps": [
            sh("echo one; exit 3") | {"keep_going": True, "name": "one"},
            sh("echo two") | {"keep_going": True, "name": "two"},
            sh("exit 5") | {"keep_going": True},
        ],
        "on_failure": [sh("echo cleaning")],
    }
    start(jobdir, plan)
    assert wait_rc(jobdir) == 3  # the first failure's exit code
    assert [t for tag, t in entries(jobdir) if tag == "o"] == ["one", "two", "cleaning"]
    assert [m for m in messages(jobdir) if not m.startswith("step ")] == [
        "failed: step 1/3: sh exited with 3",
        "failed: step 3/3: sh exited with 5",
        "summary: 1 of 3 succeeded; failed: one, step 3/3",
        "cleanup 1/1: sh -c 'echo cleaning'",
        "finished: exit 3",
    ]


def test_a_missing_program_fails_with_127(tmp_path: Path) -> None:
    start(tmp_path / "j", {"steps": [{"argv": ["/nonexistent/tool"]}]})
    assert wait_rc(tmp_path / "j") == 127
    assert "failed: step 1/1: cannot run /nonexistent/tool: No such file or directory" in messages(
        tmp_path / "j"
    )


def test_rename_refuses_to_replace_and_cwd_is_used(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "keep").write_text("old")
    plan = {
        "steps": [
            {"argv": ["touch", "made-here"], "cwd": str(tmp_path / "src")},
            {"op": "rename", "src": str(tmp_path / "src"), "dst": str(tmp_path / "dst")},
        ]
    }
    start(tmp_path / "j", plan)
    assert wait_rc(tmp_path / "j") == 1
    assert f"failed: step 2/2: {tmp_path / 'dst'} already exists" in messages(tmp_path / "j")
    assert (tmp_path / "src" / "made-here").exists()
    assert (tmp_path / "dst" / "keep").read_text() == "old"


def rmtree_job(tmp_path: Path, name: str, path: Path, base: Path) -> tuple[int, list[str]]:
    start(tmp_path / name, {"steps": [{"op": "rmtree", "path": str(path), "base": str(base)}]})
    return wait_rc(tmp_path / name), messages(tmp_path / name)


def test_rmtree_is_confined_below_its_base(tmp_path: Path) -> None:
    base, outside = tmp_path / "base", tmp_path / "outside"
    (base / "tree" / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "precious").write_text("x")
    (base / "tree" / "escape").symlink_to(outside)  # a link inside: removed, not followed
    (base / "link").symlink_to(outside)
    (base / "tree" / "sub" / "file").write_text("x")

    for name, path, reason in [
        ("j1", base / "link", "it is a symbolic link"),
        ("j2", outside, f"not below {base}"),
        ("j3", base, f"not below {base}"),
        ("j4", base / ".." / "outside", f"not below {base}"),
    ]:
        rc, log = rmtree_job(tmp_path, name, path, base)
        assert rc == 1 and f"failed: step 1/1: refusing to remove {path}: {reason}" in log
    assert (outside / "precious").exists() and (base / "link").is_symlink()

    rc, log = rmtree_job(tmp_path, "j5", base / "tree", base)
    assert rc == 0, log
    assert sorted(p.name for p in base.iterdir()) == ["link"]
    assert (outside / "precious").exists()

    rc, log = rmtree_job(tmp_path, "j6", base / "gone", base)
    assert rc == 0 and f"nothing to remove at {base / 'gone'}" in log


def test_rmtree_refuses_a_tree_with_a_mount_below(tmp_path: Path) -> None:
    mnt = tmp_path / "base" / "tree" / "proc"
    mnt.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "qlutui-test", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        rc, log = rmtree_job(tmp_path, "j", tmp_path / "base" / "tree", tmp_path / "base")
        assert rc == 1
        assert f"failed: step 1/1: refusing to remove {tmp_path}/base/tree: {mnt} is mounted" in log
        assert mnt.is_dir()
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_lock_contention_gives_rc_75(tmp_path: Path) -> None:
    lock = tmp_path / "chroot.lock"
    first = start(tmp_path / "j1", {"steps": [{"argv": ["sleep", "1000"]}], "lock": str(lock)})
    try:
        find_child(first, "sleep")
        start(tmp_path / "j2", {"steps": [{"argv": ["true"]}], "lock": str(lock)})
        assert wait_rc(tmp_path / "j2") == 75
        assert messages(tmp_path / "j2") == [
            f"locked: another job is running on {lock}",
            "finished: exit 75",
        ]
    finally:
        assert runner("kill", str(tmp_path / "j1")).returncode == 0
    assert wait_rc(tmp_path / "j1") == 143
    start(tmp_path / "j3", {"steps": [{"argv": ["true"]}], "lock": str(lock)})
    assert wait_rc(tmp_path / "j3") == 0  # the lock died with the first job


def test_kill_terminates_the_group_and_runs_on_failure(tmp_path: Path) -> None:
    jobdir = tmp_path / "j"
    marker = tmp_path / "cleaned"
    plan = {
        "steps": [sh("sleep 1000 & sleep 1000; wait")],
        "on_failure": [{"argv": ["touch", str(marker)]}],
    }
    pgid = start(jobdir, plan)
    find_child(pgid, "sleep")
    time.sleep(0.1)
    sleeps = [
        p
        for p in jobrunner.group_members(pgid)
        if Path(f"/proc/{p}/comm").read_text().strip() == "sleep"
    ]
    assert len(sleeps) == 2
    assert json.loads(runner("status", str(jobdir)).stdout)["state"] == "running"
    assert runner("kill", str(jobdir)).returncode == 0
    assert wait_rc(jobdir) == 143
    assert all(gone(p) for p in sleeps)  # the background sleep too
    assert marker.exists()
    assert messages(jobdir)[-3:] == ["killed", f"cleanup 1/1: touch {marker}", "finished: exit 143"]
    assert gone(pgid)


def test_kill_escalates_to_sigkill_for_children_ignoring_term(tmp_path: Path) -> None:
    jobdir = tmp_path / "j"
    pgid = start(jobdir, {"steps": [sh("trap '' TERM; sleep 1000")]})
    sleep = find_child(pgid, "sleep")
    began = time.monotonic()
    assert runner("kill", str(jobdir)).returncode == 0
    assert time.monotonic() - began > jobrunner.GRACE - 0.5  # TERM first, KILL after the grace
    assert wait_rc(jobdir) == 143
    assert gone(sleep)


def test_follow_streams_from_an_offset_until_rc(tmp_path: Path) -> None:
    jobdir = tmp_path / "j"
    start(jobdir, {"steps": [sh("for i in $(seq 1 40); do echo line $i; sleep 0.01; done")]})
    time.sleep(0.15)
    offset = (jobdir / "log").stat().st_size
    result = subprocess.run(
        [sys.executable, RUNNER, "follow", str(jobdir), str(offset)],
        capture_output=True,
        timeout=20,
    )
    assert result.returncode == 0
    assert (jobdir / "rc").exists()
    assert result.stdout == (jobdir / "log").read_bytes()[offset:]
    assert result.stdout.endswith(b" m finished: exit 0\n")


def test_follow_and_status_of_a_missing_job(tmp_path: Path) -> None:
    assert runner("follow", str(tmp_path / "nope"), "0").returncode == jobrunner.EXIT_MISSING
    status = json.loads(runner("status", str(tmp_path / "nope")).stdout)
    assert status == {"state": "missing", "rc": None, "size": 0}


def test_a_killed_runner_is_interrupted(tmp_path: Path) -> None:
    jobdir = tmp_path / "j"
    pgid = start(jobdir, {"steps": [{"argv": ["sleep", "1000"]}]})
    sleep = find_child(pgid, "sleep")
    os.kill(pgid, signal.SIGKILL)  # the runner only: its child lives on
    try:
        assert gone(pgid)
        assert json.loads(runner("status", str(jobdir)).stdout)["state"] == "interrupted"
        follow = runner("follow", str(jobdir), "0")
        assert follow.returncode == jobrunner.EXIT_INTERRUPTED
        assert follow.stdout == (jobdir / "log").read_text()
        assert not (jobdir / "rc").exists()
        killed = runner("kill", str(jobdir))  # kills the orphaned child: it carries the token
        assert killed.returncode == jobrunner.EXIT_INTERRUPTED
        assert gone(sleep)
    finally:
        if alive(sleep):
            os.kill(sleep, signal.SIGKILL)


def test_follow_exits_when_its_reader_goes_away(tmp_path: Path) -> None:
    jobdir = tmp_path / "j"
    start(jobdir, {"steps": [{"argv": ["sleep", "1000"]}]})
    try:
        follow = subprocess.Popen(
            [sys.executable, RUNNER, "follow", str(jobdir), "0"], stdout=subprocess.PIPE
        )
        assert follow.stdout is not None
        follow.stdout.readline()
        follow.stdout.close()  # the session dropped
        assert follow.wait(timeout=5) == 0
    finally:
        runner("kill", str(jobdir))
    assert wait_rc(jobdir) == 143


def test_many_lines_are_logged_completely(tmp_path: Path) -> None:
    jobdir = tmp_path / "j"
    start(jobdir, {"steps": [{"argv": ["seq", "1", "200000"]}]})
    assert wait_rc(jobdir) == 0
    assert [t for tag, t in entries(jobdir) if tag == "o"] == [str(i) for i in range(1, 200001)]


def test_invalid_utf8_is_escaped_and_the_log_stays_utf8(tmp_path: Path) -> None:
    jobdir = tmp_path / "j"
    start(jobdir, {"steps": [sh(r"printf 'caf\303\251 \377 x\fy\n'")]})
    assert wait_rc(jobdir) == 0
    assert ("o", "café \\xff x y") in entries(jobdir)


def test_a_stranger_holding_the_recorded_pgid_is_never_signalled(tmp_path: Path) -> None:
    """After a reboot the recorded pgid can name another process group: the runner counts as
    gone (status, follow), kill signals nothing of it; a genuine kill still works."""
    jobdir = tmp_path / "j"
    pgid = start(jobdir, {"steps": [{"argv": ["sleep", "1000"]}]})
    child = find_child(pgid, "sleep")
    identity = json.loads((jobdir / "identity").read_text())
    assert identity == {**jobrunner.identity_of(pgid), "token": identity["token"]}
    assert f"{jobrunner.TOKEN}={identity['token']}".encode() in Path(
        f"/proc/{child}/environ"
    ).read_bytes().split(b"\0")
    stranger = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    try:
        (jobdir / "pgid").write_text(f"{stranger.pid}\n")
        assert json.loads(runner("status", str(jobdir)).stdout)["state"] == "interrupted"
        assert runner("follow", str(jobdir), "0").returncode == jobrunner.EXIT_INTERRUPTED
        killed = runner("kill", str(jobdir))
        assert killed.returncode == jobrunner.EXIT_INTERRUPTED
        assert killed.stderr == (
            f"the job runner is gone (process group {stranger.pid} is not the job's)\n"
        )
        assert stranger.poll() is None and alive(stranger.pid) and alive(child)

        (jobdir / "pgid").write_text(f"{pgid}\n")  # the runner again, but of another boot
        (jobdir / "identity").write_text(json.dumps({**identity, "boot_id": "0" * 32}))
        assert json.loads(runner("status", str(jobdir)).stdout)["state"] == "interrupted"
        (jobdir / "identity").write_text(json.dumps({**identity, "start_time": "1"}))
        assert json.loads(runner("status", str(jobdir)).stdout)["state"] == "interrupted"

        (jobdir / "identity").write_text(json.dumps(identity))  # the genuine runner
        assert json.loads(runner("status", str(jobdir)).stdout)["state"] == "running"
        assert runner("kill", str(jobdir)).returncode == 0
        assert wait_rc(jobdir) == 143
        assert gone(child) and gone(pgid)
        assert alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()
        if alive(pgid):
            os.killpg(pgid, signal.SIGKILL)


def test_a_failing_op_is_logged_in_words_never_as_a_python_repr(tmp_path: Path) -> None:
    jobdir, src, dst = tmp_path / "j", tmp_path / "gone", tmp_path / "new"
    step = {"op": "rename", "src": str(src), "dst": str(dst)}
    start(jobdir, {"steps": [step], "on_failure": [step, {"op": "rename"}]})
    assert wait_rc(jobdir) == 1
    missing = f"{src} -> {dst}: No such file or directory"
    log = messages(jobdir)
    assert f"failed: step 1/1: {missing}" in log
    assert f"cleanup failed: {missing}" in log
    assert "cleanup failed: the plan step has no dst" in log
    assert not [line for line in log if "Error(" in line]
