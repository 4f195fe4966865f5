"""Scenarios on head-nodes: a chroot clone against plain `cp -a` (P7), and Write Files to
four SSH head-nodes at once against one (P8)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

from bench.core import RESULTS, Context, Result, median

CLONE_RATIO = 1.15
FANOUT_RATIO = 1.5
CHROOT = "bench-bookworm"
BUILD_TIMEOUT = 900.0


# --- P7 -----------------------------------------------------------------------------------


def chroot_clone(ctx: Context) -> list[Result]:
    """P7: clone a real minbase bookworm chroot through the chroots service (the job and its
    `cp -a --reflink=auto`) against `cp -a` of the same tree, interleaved."""
    return asyncio.run(_chroot_clone(ctx.scale.reps))


async def _chroot_clone(reps: int) -> list[Result]:
    from qlutui.backend.chroots import ChrootsService
    from qlutui.backend.cluster import Cluster

    config = await _chroot_cluster()
    trees = config.parent / "headnodes/beosrv-c/srv/apps/chroots"
    clones, copies = [], []
    for i in range(max(3, reps // 2)):
        cluster = Cluster.open(config)
        try:
            service = ChrootsService(cluster)
            state = await service.load()
            os.sync()  # the previous removal's writeback must not land on this timing
            start = time.perf_counter()
            job = await service.clone(state, CHROOT, f"clone-{i}", "bench clone")
            await asyncio.wait_for(job.wait(), BUILD_TIMEOUT)
            clones.append(time.perf_counter() - start)
            if job.record.state != "Success":
                raise RuntimeError(f"the clone ended {job.record.state}: {job.record.targets}")
            state = await service.load()
            removal = await service.remove(state, f"clone-{i}")
            await asyncio.wait_for(removal.wait(), BUILD_TIMEOUT)
        finally:
            await cluster.aclose()
        copy = trees / f".plain-copy-{i}"
        os.sync()
        start = time.perf_counter()
        subprocess.run(["cp", "-a", str(trees / CHROOT), str(copy)], check=True)
        copies.append(time.perf_counter() - start)
        shutil.rmtree(copy)
    ratio = median(clones) / median(copies)
    return [
        Result(
            "P7",
            "chroot clone (service job) vs plain `cp -a`",
            f"<= {CLONE_RATIO}x cp -a",
            ratio,
            "x",
            ratio <= CLONE_RATIO,
            f"clone {median(clones):.2f} s, cp -a {median(copies):.2f} s, {_size(trees / CHROOT)}",
            [c / p for c, p in zip(clones, copies, strict=True)],
        )
    ]


async def _chroot_cluster() -> Path:
    """A demo cluster under bench/results with the chroot built once (then reused)."""
    import tomllib

    from qlutui.backend.chroots import ChrootsService
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.demo import init_demo

    directory = RESULTS / "chroot-cluster"
    config = directory / "config.toml"
    if config.exists():
        chroots = tomllib.loads((directory / "state/chroots.toml").read_text())["chroots"]
        if chroots.get(CHROOT, {}).get("state") == "ready":
            return config
        shutil.rmtree(directory)
    init_demo(directory)
    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        state = await service.load()
        job = await service.new(state, CHROOT, "bench source", "beosrv-c", "bookworm", "13.1", [])
        await asyncio.wait_for(job.wait(), BUILD_TIMEOUT)
        if job.record.state != "Success":
            raise RuntimeError(f"building the bench chroot ended {job.record.state}")
    finally:
        await cluster.aclose()
    return config


def _size(tree: Path) -> str:
    out = subprocess.run(["du", "-sh", "--apparent-size", str(tree)], capture_output=True)
    files = sum(1 for _ in tree.rglob("*"))
    return f"{out.stdout.decode().split()[0]}B, {files} entries"


# --- P8 -----------------------------------------------------------------------------------


def fanout(ctx: Context) -> list[Result]:
    """P8: the rendered ssh_known_hosts written to 4 head-nodes concurrently (4 SSH
    transports to the real sshd, one directory each) against writing it to one."""
    from qlutui.backend.cluster import Cluster
    from qlutui.model.sshfiles import options_from_toml, render_all

    cluster = Cluster.open(ctx.config)
    options = options_from_toml(cluster.store.load("sshfiles").data)
    data = render_all(cluster.inventory(), options)["known_hosts"].encode()
    return asyncio.run(_fanout(ctx, data))


async def _fanout(ctx: Context, data: bytes) -> list[Result]:
    from qlutui.backend.transport_ssh import SSHTransport

    sshd = ctx.sshd
    roots = [ctx.workdir / "fanout" / f"head-{i}" for i in range(4)]
    for root in roots:
        root.mkdir(parents=True, exist_ok=True)
    transports = [SSHTransport(sshd.headnode(f"head-{i}")) for i in range(4)]
    ones, fours = [], []
    cpus: list[float] = []  # this process's CPU per head-node written
    try:
        await asyncio.gather(*(t.run(["true"]) for t in transports))  # connected

        async def write(count: int) -> float:
            start, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(
                *(
                    t.write_atomic(f"{root}/ssh_known_hosts", data, backup=True)
                    for t, root in zip(transports[:count], roots, strict=False)
                )
            )
            cpus.append((time.process_time() - cpu) / count)
            return time.perf_counter() - start

        await write(4)  # warm-up: SFTP sessions opened
        for _ in range(ctx.scale.reps):
            ones.append(await write(1))
            fours.append(await write(4))
    finally:
        for t in transports:
            await t.close()
    ratio = median(fours) / median(ones)
    return [
        Result(
            "P8",
            "Write Files: 4 SSH head-nodes vs 1",
            f"<= {FANOUT_RATIO}x one head-node",
            ratio,
            "x",
            ratio <= FANOUT_RATIO,
            f"4 nodes {median(fours) * 1000:.0f} ms, 1 node {median(ones) * 1000:.0f} ms, "
            f"{len(data) / 1e6:.1f} MB each, {median(cpus) * 1000:.0f} ms client CPU per node",
            [f / o for f, o in zip(fours, ones, strict=True)],
        )
    ]
