"""The scenarios without a TUI: start-up (P1, P2), SSH file rendering (P3), state files (P4),
job history (P9), bulk add (P10). Each is a ratio to a reference run in the same invocation,
interleaved with it (A B A B ...).

Each scenario takes the Context and returns its result rows. Sub-processes are timed from
just before they are spawned, so interpreter start and imports are included.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from functools import partial
from pathlib import Path
from typing import Any

from bench import generate
from bench.core import ROOT, Context, Result, installed_env, interleaved, ratio_row, timed

COLD_START_RATIO = 1.5
CLI_RATIO = 4.5
RENDER_RATIO = 12.0
HASHED_RATIO = 4.0
LOAD_RATIO = 1.5  # a load with no cache: tomllib, the model, the cache written
CACHED_RATIO = 0.5  # a load from the cache: twice as fast as tomllib parsing the file
SAVE_RATIO = 6.0
CHECK_RATIO = 8.0
CLASH_RATIO = 10.0  # a cluster full of clashes vs. none: the check stays linear
JOB_LIST_RATIO = 2.0
FIRST_LIST_RATIO = 2.0
BULK_RATIO = 15.0  # a bulk add (model, checks, tomlkit write) vs tomllib reading the result
# The interpreter's floor of a read command: start, import what parses and prints, read the
# same state files, print them as JSON.
FLOOR = (
    "import json, sys, tomllib\n"
    "print(json.dumps([tomllib.load(open(p, 'rb')) for p in sys.argv[1:]]))\n"
)


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
    """P1: process start to the Manage menu, headless, against a bare Textual app with the
    same widget types (bench/startup.py), interleaved."""
    config = str(ctx.config)
    app, bare = [], []
    for _ in range(ctx.scale.reps):
        bare.append(_until_ready([sys.executable, "-m", "bench.startup", "bare"]))
        app.append(_until_ready([sys.executable, "-m", "bench.startup", "app", config]))
    return [
        ratio_row(
            "P1",
            "cold start to the Manage menu (headless)",
            "bare Textual app, same widget types",
            COLD_START_RATIO,
            app,
            bare,
            unit="s",
            factor=1,
        )
    ]


def cli_list(ctx: Context) -> list[Result]:
    """P2: `qlutui images list --json`, a whole process, against the interpreter's floor:
    `python -c` importing tomllib and json, parsing the state files the list shows (images,
    chroots) and printing them as JSON. Textual must stay unimported."""
    state = ctx.config.parent / "state"
    files = [str(state / f"{n}.toml") for n in ("images", "chroots")]
    argv = [sys.executable, "-m", "qlutui", "--config", str(ctx.config), "images", "list"]
    run = partial(subprocess.run, cwd=ROOT, env=installed_env(), capture_output=True, check=True)
    run([*argv, "--json"])  # warm cache
    samples, floor = interleaved(
        ctx.scale.reps,
        lambda: run([*argv, "--json"]),
        lambda: run([sys.executable, "-c", FLOOR, *[f for f in files if Path(f).exists()]]),
    )
    probe = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "qlutui", *argv[3:], "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    textual = any(" textual" in line for line in probe.stderr.splitlines())
    return [
        ratio_row(
            "P2",
            "`qlutui images list --json` (whole process), Textual not imported",
            '`python -c "import tomllib, json"` parsing images + chroots',
            CLI_RATIO,
            samples,
            floor,
            unit="s",
            factor=1,
            ok=not textual,
            detail="imports Textual!" if textual else "no Textual import",
        )
    ]


def floor_ssh_lines(inventory: Any) -> tuple[list[str], list[str]]:
    """The lines of known_hosts and shosts.equiv from the inventory in the fewest steps
    (every name of a host on its SSH networks, then its IPs; one key per line), no checks:
    the floor of rendering them."""
    networks = [n for n in inventory.networks if n.ssh]
    known, shosts = [], []
    for host in inventory.hosts:
        names, ips = [], []
        for net in networks:
            ip = host.ips.get(net.name)
            if ip:
                names.append(host.name if net.primary else f"{host.name}-{net.suffix}")
                if host.override and host.override_network == net.name:
                    names.append(host.override)
                names += host.aliases.get(net.name, ())
                ips.append(ip)
        names = list(dict.fromkeys(names + ips))
        joined = ",".join(names)
        known += [f"{joined} {key}" for key in (host.host_keys or inventory.default_host_keys)]
        shosts += names
    return known, shosts


def render(ctx: Context) -> list[Result]:
    """P3: ssh_known_hosts and shosts.equiv of the whole inventory (checked twice: the
    inventory, then every generated line read back) against the floor: the same lines made
    and `"\n".join`ed with no check; hashed known_hosts against `ssh-keygen -H` hashing the
    plain file (OpenSSH's own way)."""
    from dataclasses import replace

    from qlutui.backend.cluster import Cluster
    from qlutui.model.sshfiles import options_from_toml, render_all

    cluster = Cluster.open(ctx.config)
    inventory = cluster.inventory()
    options = options_from_toml(cluster.store.load("sshfiles").data)
    plain = {k: replace(options[k], hashed=False) for k in ("known_hosts", "shosts_equiv")}
    files: dict[str, str] = {}

    def floor() -> None:
        known, shosts = floor_ssh_lines(inventory)
        files["floor"] = "\n".join(known) + "\n" + "\n".join(shosts)

    samples, floors = interleaved(
        ctx.scale.reps, lambda: files.update(render_all(inventory, plain)), floor
    )
    size = (len(files["known_hosts"]) + len(files["shosts_equiv"])) / 1e6
    lines = files["known_hosts"].count("\n") + files["shosts_equiv"].count("\n")
    hashed = {"known_hosts": replace(options["known_hosts"], hashed=True)}
    work = ctx.workdir / "keygen"
    work.mkdir(exist_ok=True)
    text = files["known_hosts"].encode()

    def keygen() -> None:
        target = work / "known_hosts"
        target.write_bytes(text)
        subprocess.run(["ssh-keygen", "-H", "-f", str(target)], capture_output=True, check=True)

    hashes, keygens = interleaved(
        max(3, ctx.scale.reps // 2), lambda: render_all(inventory, hashed), keygen
    )
    return [
        ratio_row(
            "P3",
            "render ssh_known_hosts + shosts.equiv",
            'the same lines "\\n".join-ed, unchecked',
            RENDER_RATIO,
            samples,
            floors,
            detail=f"{len(inventory.hosts):,} hosts, {lines:,} lines, {size:.1f} MB",
        ),
        ratio_row(
            "P3",
            "render hashed ssh_known_hosts",
            "`ssh-keygen -H` on the plain file",
            HASHED_RATIO,
            hashes,
            keygens,
        ),
    ]


def _atomic_save(path: Path) -> None:
    """The floor of a safe save of a state file: parse it, write it to a temporary file,
    fsync, rename over it, fsync the directory."""
    data = path.read_bytes()
    tomllib.loads(data.decode())
    temp = path.with_name(f".{path.name}.floor")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def state_files(ctx: Context) -> list[Result]:
    """P4: load the inventory (no cache, and from the cache) against tomllib parsing
    inventory.toml; check it for clashes; save one image change through the service against
    the floor of a safe save (parse, write, fsync, rename)."""
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.images import ImagesService

    config = ctx.config
    state = config.parent / "state"
    raw = (state / "inventory.toml").read_text()

    def cold() -> None:
        shutil.rmtree(state / ".cache", ignore_errors=True)
        Cluster.open(config).inventory()

    colds, parses = interleaved(ctx.scale.reps, cold, lambda: tomllib.loads(raw))
    Cluster.open(config).inventory()  # the cache written
    loads, parses2 = interleaved(
        ctx.scale.reps, lambda: Cluster.open(config).inventory(), lambda: tomllib.loads(raw)
    )
    cluster = Cluster.open(config)
    service = ImagesService(cluster)
    images = asyncio.run(service.load())
    name = next(iter(images.images))
    others = {p.name: p.stat().st_mtime_ns for p in state.glob("*.toml") if p.stem != "images"}
    first = timed(lambda: service.update(images, name, description="bench change"))
    images = asyncio.run(service.load())
    count = [0]

    def save() -> None:
        nonlocal images
        count[0] += 1
        images = service.update(images, name, description=f"bench change {count[0]}")

    saves, floors = interleaved(ctx.scale.reps, save, lambda: _atomic_save(state / "images.toml"))
    untouched = others == {
        p.name: p.stat().st_mtime_ns for p in state.glob("*.toml") if p.stem != "images"
    }
    hosts = len(cluster.inventory().hosts)
    return [
        *_inventory_check(ctx),
        ratio_row(
            "P4",
            f"load the inventory, no cache ({hosts:,} hosts)",
            "tomllib parsing inventory.toml",
            LOAD_RATIO,
            colds,
            parses,
        ),
        ratio_row(
            "P4",
            "load the inventory from its cache",
            "tomllib parsing inventory.toml",
            CACHED_RATIO,
            loads,
            parses2,
        ),
        ratio_row(
            "P4",
            f"save one image change ({len(images.images)} images), only images.toml written",
            "parse + write + fsync + rename images.toml",
            SAVE_RATIO,
            saves,
            floors,
            ok=untouched,
            detail=f"first save of a session {first * 1000:.0f} ms"
            + ("" if untouched else "; other state files rewritten!"),
        ),
    ]


def floor_unique(inventory: Any) -> int:
    """The floor of a uniqueness check: every name, alias and IP into one set."""
    seen: set[str] = set()
    clashes = 0
    for host in inventory.hosts:
        for word in (host.name, *host.ips.values(), *(a for v in host.aliases.values() for a in v)):
            if word in seen:
                clashes += 1
            seen.add(word)
    return clashes


def _inventory_check(ctx: Context) -> list[Result]:
    """The inventory's uniqueness check (names, IPs, aliases) against one set over the same
    words; then every host clashing against the clean check."""
    from qlutui.backend.cluster import Cluster
    from qlutui.model.inventory import check_unique

    inventory = Cluster.open(ctx.config).inventory()
    clean, floors = interleaved(
        ctx.scale.reps, lambda: check_unique(inventory), lambda: floor_unique(inventory)
    )
    full = copy.deepcopy(inventory)
    for host in full.hosts:  # every host shares one alias and one IP
        host.aliases = {full.networks[0].name: ["www"]}
        host.ips[full.networks[-1].name] = "10.48.255.254"
    clashing, clean2 = interleaved(
        ctx.scale.reps, lambda: check_unique(full), lambda: check_unique(inventory)
    )
    return [
        ratio_row(
            "P4",
            f"check the inventory for clashes ({len(inventory.hosts):,} hosts)",
            "one Python set over the same names, aliases, IPs",
            CHECK_RATIO,
            clean,
            floors,
        ),
        ratio_row(
            "P4",
            "the check with every host clashing",
            "the check of the clean inventory",
            CLASH_RATIO,
            clashing,
            clean2,
        ),
    ]


def job_history(ctx: Context) -> list[Result]:
    """P9: a long job history listed as the Jobs screen does every 2 s, one job changing
    between two lists (a running job saving its record), against the floor of noticing a
    change: one stat of every record. The first list against tomllib parsing every record."""
    from qlutui.backend.jobs import JobManager

    directory = ctx.workdir / "job-history"
    shutil.rmtree(directory, ignore_errors=True)
    job_id = generate.job_history(directory, ctx.scale.jobs)
    records = sorted(directory.glob("*/job.toml"))

    def parse_all() -> None:
        for path in records:
            tomllib.loads(path.read_text())

    def stat_all() -> None:
        for entry in os.scandir(directory):
            os.stat(os.path.join(entry.path, "job.toml"))

    def first_list() -> None:
        JobManager(directory, lambda name: None, "/var/lib/qlutui/jobs").list()

    firsts, parses = interleaved(max(3, ctx.scale.reps // 2), first_list, parse_all)
    manager = JobManager(directory, lambda name: None, "/var/lib/qlutui/jobs")  # lists only
    manager.list()
    newest = directory / job_id / "job.toml"
    step = [0]

    def change_and_list() -> None:
        step[0] += 1
        state = ("Running", "Success")[step[0] % 2]
        newest.write_text(re.sub(r'state = "\w+"', f'state = "{state}"', newest.read_text()))
        start = time.perf_counter()
        listed = manager.list()
        lists.append(time.perf_counter() - start)
        if listed[0].state != state:  # the cache must not hide a change
            raise RuntimeError(f"the changed job {job_id} was listed with a stale state")

    lists: list[float] = []
    _, stats = interleaved(ctx.scale.reps, change_and_list, stat_all)
    return [
        ratio_row(
            "P9",
            f"list {ctx.scale.jobs:,} job records, one changed (the Jobs screen, every 2 s)",
            "one stat of every record",
            JOB_LIST_RATIO,
            lists,
            stats,
        ),
        ratio_row(
            "P9",
            "the first list of a session",
            "tomllib parsing every record",
            FIRST_LIST_RATIO,
            firsts,
            parses,
        ),
    ]


def inventory_bulk(ctx: Context) -> list[Result]:
    """P10: a bulk add of as many hosts as the scale has (a node range numbered from a start
    IP, ib and ipmi mapped) through the inventory service: load, edit, validate whole, write.
    The reference, interleaved: tomllib parsing the resulting file."""
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.inventory import InventoryService

    count = ctx.scale.hosts
    adds, parses = [], []
    for _ in range(max(2, ctx.scale.reps - 2)):
        config = generate.wide_demo(ctx.workdir / "bulk-cluster")
        service = InventoryService(Cluster.open(config))
        adds.append(timed(partial(generate.bulk_add, service, count)))
        raw = (config.parent / "state" / "inventory.toml").read_text()
        parses.append(timed(lambda: tomllib.loads(raw)))  # noqa: B023 (called at once)
    return [
        ratio_row(
            "P10",
            f"bulk add of {count:,} hosts (range, IPs numbered and mapped)",
            "tomllib reading the resulting inventory.toml",
            BULK_RATIO,
            adds,
            parses,
            unit="s",
            factor=1,
        )
    ]
