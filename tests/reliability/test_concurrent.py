"""Concurrent admins: several processes edit the same state files at once. Every edit lands or
gets a clear conflict, none is lost (counted), the files always parse, and two builds of the
same chroot never run at the same time (the head-node lock)."""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from qlutui.backend.chroots import ChrootsService
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.images import ImagesService
from qlutui.errors import ConflictError

WORKERS = 4
ROUNDS = 40  # per worker: one checked create and one unchecked append = 320 edits in all
CONFLICT = "images.toml was changed by someone else since it was loaded; reload and try again"


def _admin(config: str, worker: int, results: multiprocessing.Queue) -> None:
    """One admin: creates images from the state it loaded (may conflict) and appends its
    mark to a shared description under the lock (must always land)."""

    async def main() -> dict:
        cluster = Cluster.open(config)
        service = ImagesService(cluster)
        landed, conflicts, appended = [], [], []
        try:
            for i in range(ROUNDS):
                name = f"w{worker}-{i}"
                state = await service.load()
                await asyncio.sleep(0.001 * (i % 3))  # the admin looks at the screen
                try:
                    service.create(state, name, flavour="noble", version="13")
                    landed.append(name)
                except ConflictError as exc:
                    conflicts.append(str(exc))
                mark = f"{worker}.{i};"

                def append(doc, mark: str = mark) -> None:
                    doc["images"]["Standard-noble"]["description"] += mark

                cluster.store.update("images", append)
                appended.append(mark)
        finally:
            await cluster.aclose()
        return {"landed": landed, "conflicts": conflicts, "appended": appended}

    try:
        results.put(asyncio.run(main()))
    except BaseException as exc:  # the test fails at once, with the reason
        results.put({"error": repr(exc)})
        raise


def _reader(state: str, stop: multiprocessing.Event, results: multiprocessing.Queue) -> None:
    """Parses every state file over and over while the admins write."""
    reads = failures = 0
    while not stop.is_set():
        for path in Path(state).glob("*.toml"):
            try:
                tomllib.loads(path.read_text())
                reads += 1
            except (tomllib.TOMLDecodeError, OSError):
                failures += 1
    results.put({"reads": reads, "failures": failures})


def test_admins_editing_at_once_lose_nothing(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    state = config.parent / "state"
    ctx = multiprocessing.get_context("spawn")
    results, reads, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    reader = ctx.Process(target=_reader, args=(str(state), stop, reads), daemon=True)
    admins = [
        ctx.Process(target=_admin, args=(str(config), w, results), daemon=True)
        for w in range(WORKERS)
    ]
    started = time.monotonic()
    try:
        reader.start()
        for p in admins:
            p.start()
        outcomes = [results.get(timeout=60) for _ in admins]
        assert not [o["error"] for o in outcomes if "error" in o]
        for p in admins:
            p.join(10)
            assert p.exitcode == 0
        stop.set()
        parsed = reads.get(timeout=10)
    finally:
        stop.set()
        for p in [reader, *admins]:
            p.join(10)
            if p.is_alive():
                p.kill()
    assert time.monotonic() - started < 60

    landed = [n for o in outcomes for n in o["landed"]]
    conflicts = [c for o in outcomes for c in o["conflicts"]]
    marks = [m for o in outcomes for m in o["appended"]]
    assert len(landed) + len(conflicts) == WORKERS * ROUNDS  # each create: landed or conflict
    assert set(conflicts) <= {CONFLICT}  # a conflict says what happened and what to do
    assert len(marks) == WORKERS * ROUNDS

    images = tomllib.loads((state / "images.toml").read_text())["images"]
    created = {n for n in images if n.startswith("w")}
    assert created == set(landed)  # no lost update, nothing that was refused
    description = images["Standard-noble"]["description"]
    assert sorted(re.findall(r"\d+\.\d+;", description)) == sorted(marks)  # each exactly once
    assert parsed["failures"] == 0 and parsed["reads"] > 0  # always parseable
    audit = (state / "audit.log").read_text().splitlines()
    edits = [line for line in audit if "state.edit" in line and "images.toml" in line]
    assert len(edits) == len(landed) + len(marks)  # every landed edit is on record, once


def test_cli_admins_get_a_conflict_or_land(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    images = config.parent / "state/images.toml"
    argv = [sys.executable, "-m", "qlutui", "--config", str(config), "images", "set"]
    per_shell = 12
    procs = []
    for shell in range(3):
        # one shell per admin, each running its verbs back to back
        script = "; ".join(
            f"{' '.join(argv)} Standard-noble --description a{shell}-{i}"
            f" >/dev/null 2>>{tmp_path}/err{shell}; echo $? >>{tmp_path}/rc{shell}"
            for i in range(per_shell)
        )
        procs.append(subprocess.Popen(["sh", "-c", script]))
    for p in procs:
        assert p.wait(timeout=120) == 0
    codes = [int(c) for s in range(3) for c in (tmp_path / f"rc{s}").read_text().split()]
    errors = [e for s in range(3) for e in (tmp_path / f"err{s}").read_text().splitlines()]
    assert len(codes) == 3 * per_shell and set(codes) <= {0, 1}
    assert errors == [f"qlutui: {CONFLICT}"] * codes.count(1)
    audit = (config.parent / "state/audit.log").read_text().splitlines()
    assert len([a for a in audit if "images.toml" in a]) == codes.count(0)
    description = tomllib.loads(images.read_text())["images"]["Standard-noble"]["description"]
    assert description.startswith("a")


BUILDER = """#!/bin/sh
# records when each build runs; a second build overlapping the first would show in the log
echo "start $$" >> {record}
echo "I: building $1"
sleep 1.5
mkdir -p "$1/etc" && echo "$$" > "$1/etc/builder"
echo "end $$" >> {record}
"""


async def test_two_builds_of_one_chroot_never_run_at_once(tmp_path: Path) -> None:
    """Two admin workstations (separate state directories) build the same chroot on the
    same head-node: the head-node lock serializes them."""
    record = tmp_path / "builds.log"
    script = tmp_path / "builder.sh"
    script.write_text(BUILDER.format(record=record))
    shared_root = tmp_path / "headnode"
    configs = []
    for admin in ("a", "b"):
        config = init_demo(tmp_path / admin)
        if not shared_root.exists():
            shutil.copytree(config.parent / "headnodes/beosrv-c", shared_root)
        config.write_text(
            f'state_dir = "state"\n[[headnodes]]\nname = "beosrv-c"\ntransport = "local"\n'
            f'root = "{shared_root}"\n[builders.debian]\nargv = ["sh", "{script}", "{{target}}"]\n'
        )
        configs.append(config)
    clusters = [Cluster.open(c) for c in configs]
    try:
        services = [ChrootsService(c) for c in clusters]
        jobs = []
        for service in services:
            state = await service.load()
            jobs.append(await service.new(state, "twin", "", "beosrv-c", "bookworm", "13.1", []))
        await asyncio.wait_for(asyncio.gather(*(j.wait() for j in jobs)), 30)
    finally:
        for cluster in clusters:
            await cluster.jobs.close()
            await cluster.aclose()
    assert record.read_text().split()[::2] == ["start", "end"]  # the builder ran once
    first, second = sorted(jobs, key=lambda j: j.record.state, reverse=True)
    assert (first.record.state, second.record.state) == ("Success", "Failed")
    refused = [line.text for line in second.lines()]
    assert any("locked: another job is running on" in text for text in refused), refused
    tree = shared_root / "srv/apps/chroots/twin"
    assert (tree / "etc/builder").exists()
    assert not (shared_root / "srv/apps/chroots/twin.partial").exists()


@pytest.fixture(autouse=True)
def _bounded(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    assert time.monotonic() - started < 90, f"{request.node.name} is too slow"
