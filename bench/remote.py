"""Scenarios on head-nodes: a chroot clone against plain `cp -a` (P7), a chroot build against
raw mmdebstrap with the same arguments (P7build, opt-in: minutes, network), and Write Files
to four SSH head-nodes against parallel `scp` of the same file to the same sshd (P8)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

from bench.core import RESULTS, Context, Result, ratio_row

CLONE_RATIO = 1.15
BUILD_RATIO = 1.15
FANOUT_RATIO = 1.0  # wall time, 4 head-nodes at once, vs 4 scp at once
FANOUT_CPU_RATIO = 1.0  # client CPU per head-node vs scp's (and its ssh's)
HEADNODES = 4
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
    for i in range(max(3, reps)):  # the disk's noise is large beside a 161 MB copy
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
    return [
        ratio_row(
            "P7",
            "chroot clone (the service's job)",
            "`cp -a` of the same tree",
            CLONE_RATIO,
            clones,
            copies,
            unit="s",
            factor=1,
            detail=_size(trees / CHROOT),
        )
    ]


def chroot_build(ctx: Context) -> list[Result]:
    """P7build (opt-in): build a minbase bookworm chroot through the chroots service against
    raw mmdebstrap with the same arguments, interleaved (~20 s each with a mirror, network)."""
    return asyncio.run(_chroot_build(max(2, ctx.scale.reps // 3)))


async def _chroot_build(reps: int) -> list[Result]:
    from qlutui.backend.chroots import ChrootsService
    from qlutui.backend.cluster import Cluster

    config = await _chroot_cluster()
    trees = config.parent / "headnodes/beosrv-c/srv/apps/chroots"
    builds, raws = [], []
    for i in range(reps):
        cluster = Cluster.open(config)
        try:
            service = ChrootsService(cluster)
            state = await service.load()
            start = time.perf_counter()
            job = await service.new(
                state, f"b{i}", "bench build", "beosrv-c", "bookworm", "13.1", []
            )
            await asyncio.wait_for(job.wait(), BUILD_TIMEOUT)
            builds.append(time.perf_counter() - start)
            if job.record.state != "Success":
                raise RuntimeError(f"the build ended {job.record.state}")
            argv = await _build_argv(service, state, trees / f".raw-{i}")
            removal = await service.remove(await service.load(), f"b{i}")
            await asyncio.wait_for(removal.wait(), BUILD_TIMEOUT)
        finally:
            await cluster.aclose()
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, timeout=BUILD_TIMEOUT)
        raws.append(time.perf_counter() - start)
        shutil.rmtree(trees / f".raw-{i}")
    return [
        ratio_row(
            "P7build",
            "chroot build, minbase bookworm (the service's job)",
            "raw mmdebstrap, the same arguments",
            BUILD_RATIO,
            builds,
            raws,
            unit="s",
            factor=1,
        )
    ]


async def _build_argv(service, state, target: Path) -> list[str]:  # type: ignore[no-untyped-def]
    """The builder's argv as `ChrootsService.new` makes it, into `target`."""
    builder = service.builder(state, "bookworm")
    transport = service.cluster.transport("beosrv-c")
    mirror = await service._mirror(transport) if "{mirror}" in builder.argv else ""
    suite = state.catalog.flavour("bookworm").suite
    return builder.command(suite=suite, target=str(target), mirror=mirror, packages=[])


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
    """Wall time of each write (all head-nodes at once) and this process's CPU per
    head-node, qlutui then parallel scp, interleaved."""
    from qlutui.backend.transport_ssh import SSHTransport

    sshd = ctx.sshd
    roots = [ctx.workdir / "fanout" / f"head-{i}" for i in range(HEADNODES)]
    scp_roots = [ctx.workdir / "fanout" / f"scp-{i}" for i in range(HEADNODES)]
    for root in roots + scp_roots:
        root.mkdir(parents=True, exist_ok=True)
    source = ctx.workdir / "fanout" / "ssh_known_hosts"
    source.write_bytes(data)
    transports = [SSHTransport(sshd.headnode(f"head-{i}")) for i in range(HEADNODES)]
    masters = _Masters(sshd, ctx.workdir / "fanout", HEADNODES)
    walls, scp_walls, cpus, scp_cpus = [], [], [], []
    try:
        await asyncio.gather(*(t.run(["true"]) for t in transports))  # connected

        async def write() -> None:
            start, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(
                *(
                    t.write_atomic(f"{root}/ssh_known_hosts", data, backup=True)
                    for t, root in zip(transports, roots, strict=True)
                )
            )
            walls.append(time.perf_counter() - start)
            cpus.append((time.process_time() - cpu) / HEADNODES)

        await write()  # warm-up: SFTP sessions opened
        walls.clear()
        cpus.clear()
        for _ in range(ctx.scale.reps):
            await write()
            wall, cpu = _parallel_scp(masters, source, scp_roots)
            scp_walls.append(wall)
            scp_cpus.append(cpu / HEADNODES)
        _parallel_scp(masters, source, scp_roots)  # warm-up, outside the figures
    finally:
        masters.close()
        for t in transports:
            await t.close()
    for root in scp_roots:
        if (root / source.name).read_bytes() != data:
            raise RuntimeError(f"scp did not copy the file to {root}")
    detail = f"{len(data) / 1e6:.1f} MB to each, one sshd on this machine's {_cpus()} cores"
    return [
        ratio_row(
            "P8",
            f"Write Files to {HEADNODES} SSH head-nodes at once: wall time",
            f"{HEADNODES} `scp` at once (one ssh master each), same file and sshd",
            FANOUT_RATIO,
            walls,
            scp_walls,
            detail=detail,
        ),
        ratio_row(
            "P8",
            "Write Files: client CPU per head-node",
            "scp's, its ssh's and the master's CPU per head-node",
            FANOUT_CPU_RATIO,
            cpus,
            scp_cpus,
        ),
    ]


class _Masters:
    """One OpenSSH master connection per head-node (ControlMaster), opened before timing as
    qlutui's connections are, so that each `scp` reuses its head-node's connection."""

    def __init__(self, sshd, directory: Path, count: int) -> None:  # type: ignore[no-untyped-def]
        self.options = [
            *("-p", str(sshd.port), "-i", str(sshd.identity), "-o", "BatchMode=yes"),
            *("-o", f"UserKnownHostsFile={sshd.known_hosts}"),
        ]
        self.target = f"{sshd.user}@{sshd.host}"
        self.sockets = [directory / f"mux-{i}" for i in range(count)]
        self.procs = []
        for socket in self.sockets:
            socket.unlink(missing_ok=True)
            self.procs.append(
                subprocess.Popen(
                    ["ssh", "-M", "-N", "-S", str(socket), *self.options, self.target],
                    stdin=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 20
        while not all(s.exists() for s in self.sockets):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.close()
                raise RuntimeError("the ssh master connections did not come up")
            time.sleep(0.02)

    def cpu(self) -> float:
        """CPU seconds the masters used so far (they encrypt what scp sends)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for proc in self.procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)


def _parallel_scp(masters: _Masters, source: Path, roots: list[Path]) -> tuple[float, float]:
    """`scp` of `source` into each of `roots` at once (SFTP, as OpenSSH's scp does by
    default), each over its head-node's master connection: wall seconds and the CPU seconds
    of the scp processes, their ssh and the masters."""
    import resource

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime + masters.cpu()

    options = [o.replace("-p", "-P") if o == "-p" else o for o in masters.options]
    before, start = cpu(), time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                "scp",
                "-q",
                *options,
                "-o",
                f"ControlPath={socket}",
                str(source),
                f"{masters.target}:{root}/",
            ]
        )
        for socket, root in zip(masters.sockets, roots, strict=True)
    ]
    codes = [p.wait(timeout=120) for p in procs]
    wall = time.perf_counter() - start
    if any(codes):
        raise RuntimeError(f"scp ended {codes}")
    return wall, cpu() - before


def _cpus() -> int:
    return len(os.sched_getaffinity(0))
