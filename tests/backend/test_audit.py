"""The audit trail: state edits, head-node file writes and job start/end of a real demo cluster
land in state/audit.log, one parseable line each, also when many processes append at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from qlutui.backend.audit import AuditLog, current_user, describe_change
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.job_records import Plan


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setenv("USER", "alice")
    monkeypatch.delenv("SUDO_USER", raising=False)
    return Cluster.open(init_demo(tmp_path / "demo"))


def lines(cluster: Cluster) -> list[list[str]]:
    text = (Path(cluster.config.state_dir) / "audit.log").read_text()
    return [line.split("\t") for line in text.splitlines()]


def test_store_edit_is_audited_with_a_summary(cluster: Cluster) -> None:
    def mutate(doc) -> None:
        doc["images"]["Standard-noble"]["description"] = "changed\tby\ntest"
        doc["images"]["New-one"] = {"flavour": "noble", "version": "13"}

    snap = cluster.store.load("images")
    cluster.store.edit("images", snap.token, mutate)
    cluster.store.update("images", lambda doc: None)  # no change: nothing written, no event
    [event] = lines(cluster)
    stamp, user, action, target, summary = event
    assert stamp.endswith("Z") and stamp[:4].isdigit()
    assert (user, action, target) == ("alice", "state.edit", "images.toml")
    assert summary == "added images.New-one; changed images.Standard-noble"


def test_sudo_user_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "root")
    monkeypatch.setenv("SUDO_USER", "bob")
    assert current_user() == "bob"


async def test_file_writes_and_jobs_are_audited(cluster: Cluster) -> None:
    headnode = cluster.headnode_names[0]
    try:
        await cluster.transport(headnode).write_atomic("/etc/motd", b"hello\n")
        job = await cluster.jobs.start(
            "test.sleep", "Short sleep", {headnode: Plan([{"argv": ["sleep", "0.2"]}])}
        )
        for _ in range(200):
            if job.done:
                break
            await asyncio.sleep(0.05)
        assert job.done
    finally:
        await cluster.aclose()
    events = [(e[2], e[3], e[4]) for e in lines(cluster)]
    assert events == [
        ("file.write", f"{headnode}:/etc/motd", "6 bytes"),
        ("job.start", job.id, f"test.sleep: Short sleep on {headnode}"),
        ("job.end", job.id, "test.sleep: Short sleep: Success"),
    ]
    newest = cluster.audit.read(limit=2)
    assert [e.action for e in newest] == ["job.end", "job.start"]
    assert [e.action for e in cluster.audit.read(match="MOTD")] == ["file.write"]


async def test_a_job_whose_title_names_its_head_nodes_names_them_once(cluster: Cluster) -> None:
    names = cluster.headnode_names
    title = f"Write 2 files on {', '.join(names)} ..."
    plan = Plan([{"argv": ["true"]}])
    try:
        job = await cluster.jobs.start("files.write", title, dict.fromkeys(names, plan))
        await asyncio.wait_for(job.wait(), 30)
    finally:
        await cluster.aclose()
    started = [e[4] for e in lines(cluster) if e[2] == "job.start"]
    assert started == [f"files.write: Write 2 files on {', '.join(names)}"]


def test_concurrent_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    writer = (
        "import sys; from qlutui.backend.audit import AuditLog\n"
        "log = AuditLog(sys.argv[1])\n"
        "for i in range(300): log.record('state.edit', 'p' + sys.argv[2], 'x' * 150 + str(i))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(path), str(n)]) for n in range(4)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    events = AuditLog(path).read()
    assert len(events) == 1200 and len(path.read_text().splitlines()) == 1200
    for n in range(4):
        mine = [e.summary for e in events if e.target == f"p{n}"]
        assert mine == ["x" * 150 + str(i) for i in reversed(range(300))]


def test_read_backwards_across_chunks_and_skips_foreign_lines(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    assert log.read() == []  # no file yet
    for i in range(2000):
        log.record("job.start", f"job-{i}", "y" * 100)
    with log.path.open("a") as f:
        f.write("garbage without tabs\n")
    events = log.read()
    assert [e.target for e in events[:2]] == ["job-1999", "job-1998"]
    assert len(events) == 2000 and events[-1].target == "job-0"
    assert [e.target for e in log.read(limit=3, match="job-5")] == ["job-599", "job-598", "job-597"]


def test_unwritable_log_does_not_fail_the_change(tmp_path: Path) -> None:
    (tmp_path / "audit.log").mkdir()  # a directory where the file should be
    AuditLog(tmp_path / "audit.log").record("state.edit", "images.toml", "x")


def test_describe_change() -> None:
    old = {"images": {"a": {"v": 1}, "b": {}}, "default_host_keys": ["k"]}
    new = {"images": {"a": {"v": 2}, "c": {}}, "networks": []}
    assert describe_change(old, new) == (
        "added images.c, networks; changed images.a; removed default_host_keys, images.b"
    )
    assert describe_change({"x": 1}, {"x": 1}) == "rewritten"
