"""The scenarios without a TUI: start-up (P1, P2), SSH file rendering (P3), state files (P4),
job history (P9).

Each scenario takes the Context and returns its result rows. Sub-processes are timed from
just before they are spawned, so interpreter start and imports are included.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from functools import partial
from typing import Any

from bench import generate
from bench.core import ROOT, Context, Result, installed_env, median, timed

COLD_START_S = 0.5
COLD_START_RATIO = 1.5
CLI_S = 0.2
RENDER_MS = 150.0
LOAD_MS = 250.0
SAVE_MS = 50.0
CHECK_MS = 100.0
CLASH_RATIO = 10.0  # a cluster full of clashes vs. none: the check stays linear
JOB_LIST_MS = 20.0


def _until_ready(argv: list[str]) -> float:
    """Seconds from spawning `argv` to its `ready` line."""
    env = installed_env()
    start = time.perf_counter()
    with subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) as proc:
        line = proc.stdout.readline() if proc.stdout else ""
        elapsed = time.perf_counter() - start
        proc.wait(timeout=30)
    if line.strip() != "ready":
        raise RuntimeError(f"{' '.join(argv[:4])} did not get ready (exit {proc.returncode})")
    return elapsed


def cold_start(ctx: Context) -> list[Result]:
    """P1: process start to the Manage menu, headless, against a bare Textual app."""
    config = str(ctx.config)
    app, bare = [], []
    for _ in range(ctx.scale.reps):  # interleaved: both see the same machine load
        bare.append(_until_ready([sys.executable, "-m", "bench.startup", "bare"]))
        app.append(_until_ready([sys.executable, "-m", "bench.startup", "app", config]))
    ratio = median(app) / median(bare)
    return [
        Result(
            "P1",
            "cold start to the Manage menu (headless)",
            f"<= {COLD_START_S} s and <= {COLD_START_RATIO}x bare Textual app",
            median(app),
            "s",
            median(app) <= COLD_START_S and ratio <= COLD_START_RATIO,
            f"{ratio:.2f}x bare {median(bare):.3f} s",
            app,
        )
    ]


def cli_list(ctx: Context) -> list[Result]:
    """P2: `qlutui images list --json`, a whole process; Textual must stay unimported."""
    argv = [sys.executable, "-m", "qlutui", "--config", str(ctx.config), "images", "list"]
    run = partial(subprocess.run, cwd=ROOT, env=installed_env(), capture_output=True, check=True)
    run([*argv, "--json"])  # warm cache
    samples = [timed(lambda: run([*argv, "--json"])) for _ in range(ctx.scale.reps)]
    probe = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "qlutui", *argv[3:], "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    textual = any(" textual" in line for line in probe.stderr.splitlines())
    return [
        Result(
            "P2",
            "`qlutui images list --json` (whole process)",
            f"<= {CLI_S} s, Textual not imported",
            median(samples),
            "s",
            median(samples) <= CLI_S and not textual,
            "imports Textual!" if textual else "no Textual import",
            samples,
        )
    ]


def render(ctx: Context) -> list[Result]:
    """P3: ssh_known_hosts and shosts.equiv of the whole inventory."""
    from qlutui.backend.cluster import Cluster
    from qlutui.model.sshfiles import options_from_toml, render_all

    cluster = Cluster.open(ctx.config)
    inventory = cluster.inventory()
    options = options_from_toml(cluster.store.load("sshfiles").data)
    files: dict[str, str] = {}
    samples = [
        timed(lambda: files.update(render_all(inventory, options))) for _ in range(ctx.scale.reps)
    ]
    size = sum(len(text) for text in files.values()) / 1e6
    ms = [s * 1000 for s in samples]
    return [
        Result(
            "P3",
            "render ssh_known_hosts + shosts.equiv",
            f"<= {RENDER_MS:.0f} ms",
            median(ms),
            "ms",
            median(ms) <= RENDER_MS,
            f"{len(inventory.hosts)} hosts, {size:.1f} MB",
            ms,
        )
    ]


def state_files(ctx: Context) -> list[Result]:
    """P4: load the inventory (parse + model), check it for clashes; save one image change
    through the service."""
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.images import ImagesService

    config = ctx.config
    state = config.parent / "state"
    shutil.rmtree(state / ".cache", ignore_errors=True)
    cold = timed(lambda: Cluster.open(config).inventory())  # tomllib, then the cache written
    loads = [timed(lambda: Cluster.open(config).inventory()) for _ in range(ctx.scale.reps)]
    cluster = Cluster.open(config)
    service = ImagesService(cluster)
    images = asyncio.run(service.load())
    name = next(iter(images.images))
    others = {p.name: p.stat().st_mtime_ns for p in state.glob("*.toml") if p.stem != "images"}
    saves = []
    for i in range(ctx.scale.reps + 1):
        start = time.perf_counter()
        images = service.update(images, name, description=f"bench change {i}")
        saves.append(time.perf_counter() - start)
    first, saves = saves[0], saves[1:]  # the first edit of a session parses the file
    untouched = others == {
        p.name: p.stat().st_mtime_ns for p in state.glob("*.toml") if p.stem != "images"
    }
    load_ms, save_ms = [s * 1000 for s in loads], [s * 1000 for s in saves]
    hosts = len(cluster.inventory().hosts)
    return [
        *_inventory_check(ctx),
        Result(
            "P4",
            f"load the inventory ({hosts} hosts)",
            f"<= {LOAD_MS:.0f} ms",
            median(load_ms),
            "ms",
            median(load_ms) <= LOAD_MS,
            f"first load after a change (no cache) {cold * 1000:.0f} ms",
            load_ms,
        ),
        Result(
            "P4",
            f"save one image change ({len(images.images)} images)",
            f"<= {SAVE_MS:.0f} ms, only images.toml written",
            median(save_ms),
            "ms",
            median(save_ms) <= SAVE_MS and untouched,
            f"first save of a session {first * 1000:.0f} ms"
            + ("" if untouched else "; other state files rewritten!"),
            save_ms,
        ),
    ]


def _inventory_check(ctx: Context) -> list[Result]:
    """The inventory's uniqueness check (names, IPs, aliases), clean and full of clashes."""
    from qlutui.backend.cluster import Cluster
    from qlutui.model.inventory import check_unique

    inventory = Cluster.open(ctx.config).inventory()
    clean = [timed(lambda: check_unique(inventory)) for _ in range(ctx.scale.reps)]
    for host in inventory.hosts:  # every host shares one alias and one IP
        host.aliases = {inventory.networks[0].name: ["www"]}
        host.ips[inventory.networks[-1].name] = "127.60.255.254"
    clashing = [timed(lambda: check_unique(inventory)) for _ in range(ctx.scale.reps)]
    ms = [s * 1000 for s in clean]
    ratio = median(clashing) / median(clean)
    return [
        Result(
            "P4",
            f"check the inventory for clashes ({len(inventory.hosts)} hosts)",
            f"<= {CHECK_MS:.0f} ms, <= {CLASH_RATIO:.0f}x with every host clashing",
            median(ms),
            "ms",
            median(ms) <= CHECK_MS and ratio <= CLASH_RATIO,
            f"every host clashing {median(clashing) * 1000:.0f} ms ({ratio:.1f}x)",
            ms,
        )
    ]


def job_history(ctx: Context) -> list[Result]:
    """P9: a long job history listed as the Jobs screen does every 2 s, one job changing
    between two lists (a running job saving its record)."""
    from qlutui.backend.jobs import JobManager

    directory = ctx.workdir / "job-history"
    shutil.rmtree(directory, ignore_errors=True)
    job_id = generate.job_history(directory, ctx.scale.jobs)
    manager = JobManager(directory, lambda name: None, "/var/lib/qlutui/jobs")  # lists only
    first = timed(manager.list)
    newest = directory / job_id / "job.toml"
    lists = []
    for i in range(ctx.scale.reps):
        state = ("Running", "Success")[i % 2]
        newest.write_text(re.sub(r'state = "\w+"', f'state = "{state}"', newest.read_text()))
        lists.append(timed(manager.list) * 1000)
        if manager.list()[0].state != state:  # the cache must not hide a change
            raise RuntimeError(f"the changed job {job_id} was listed with a stale state")
    return [
        Result(
            "P9",
            f"list {ctx.scale.jobs:,} job records (the Jobs screen, every 2 s)",
            f"<= {JOB_LIST_MS:.0f} ms",
            median(lists),
            "ms",
            median(lists) <= JOB_LIST_MS,
            f"first list {first * 1000:.0f} ms",
            lists,
        )
    ]


BULK_RATIO = 15.0  # a bulk add (model, checks, tomlkit write) vs tomllib reading the result


def _bulk_add(service: Any, names: list[str], fields: Any) -> None:
    from qlutui.model.inventory_edit import add_hosts

    state = service.load()
    service.apply(state, add_hosts(state.inventory, names, fields), summary="bench")


def inventory_bulk(ctx: Context) -> list[Result]:
    """P10: a bulk add of as many hosts as the scale has (a node range numbered from a start
    IP, ib and ipmi mapped) through the inventory service: load, edit, validate whole, write.
    The reference, measured in the same run, interleaved: tomllib parsing the resulting file."""
    import tomllib

    from qlutui.backend.cluster import Cluster
    from qlutui.backend.demo import init_demo
    from qlutui.backend.inventory import InventoryService
    from qlutui.model.inventory_edit import AUTO, HostFields
    from qlutui.model.noderange import expand

    count = ctx.scale.hosts
    names = expand(f"bulk-[00001-{count:05d}]")
    fields = HostFields(ips={"boot": "127.52.64.1", "ib": AUTO, "ipmi": AUTO}, image="")
    adds, parses = [], []
    for _ in range(max(2, ctx.scale.reps // 2)):
        directory = ctx.workdir / "bulk-cluster"
        shutil.rmtree(directory, ignore_errors=True)
        config = init_demo(directory)
        adds.append(
            timed(partial(_bulk_add, InventoryService(Cluster.open(config)), names, fields))
        )
        raw = (config.parent / "state" / "inventory.toml").read_text()
        parses.append(timed(lambda: tomllib.loads(raw)))  # noqa: B023 (called at once)
    ratio = median(adds) / median(parses)
    return [
        Result(
            "P10",
            f"bulk add of {count:,} hosts (range, IPs numbered and mapped)",
            f"<= {BULK_RATIO:.0f}x tomllib reading the result",
            median(adds),
            "s",
            ratio <= BULK_RATIO,
            f"{ratio:.1f}x tomllib {median(parses) * 1000:.0f} ms;"
            f" spread {min(adds):.2f}-{max(adds):.2f} s",
            adds,
        )
    ]
