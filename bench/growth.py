"""`python -m bench --scale N`: how the inventory work and the render of every generated-file
class grow from 1,000 hosts to N (10,000 or 100,000).

Each step generates the bench cluster at that many hosts (500 images, 50 chroots: the
inventory grows, nothing else), then runs each measure in a child process of its own
(`python -m bench.growth MEASURE CONFIG HOSTS REPS`), bounded in time: a measure that does not
finish within BOUND_S is reported as such, not waited for. A figure is the fastest of its
repetitions (the least disturbed by other work on the machine). Growth per 10x hosts is
t(10n) / t(n): 10 is linear; an exponent log10 of it above WORSE is worse than linear.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import ROOT, timed
from bench.generate import bulk_add, generate, wide_demo

SCALES = (1_000, 10_000, 100_000)
BOUND_S = 600.0
WORSE = 1.2  # exponent per 10x: n log n gives ~1.1 from 1,000 to 100,000
NOISE_S = 0.02  # below this a step's figure is fixed costs and noise: no verdict
LINEAR = f"linear (n^{WORSE} at most)"
SAME_AS_FLOOR = 0.15  # an exponent within this of its floor's grows as the floor does
MEASURES = ("load", "check", "bulk", "import", "render", "hosts")
# The floor each measure's growth is read against (measured in the same child process): a
# Python set, tomllib, a join grow worse than linearly too on this machine once the data
# outgrows the CPU caches, so a measure growing as its floor does is not an algorithm's fault.
TOMLLIB = "floor: tomllib parsing inventory.toml"
FLOORS = {
    "load the inventory, no cache": TOMLLIB,
    "load the inventory from its cache": TOMLLIB,
    "check: inventory clashes (check_unique)": "floor: one set over names, aliases, IPs",
    "check: every generated file (`qlutui check`'s files part)": TOMLLIB,
    "import a dnsmasq.hosts of the cluster": "floor: the hosts table split into words",
    "render ssh": "floor: the ssh lines joined, unchecked",
    "render hosts": "floor: the ssh lines joined, unchecked",
    "Hosts screen: table filled": TOMLLIB,
}
Figures = dict[str, float]


def _reps(hosts: int) -> int:
    return 5 if hosts <= 1_000 else 3 if hosts <= 10_000 else 2


def main(top: int, workdir: Path, only: list[str] | None = None) -> int:
    ladder = [n for n in SCALES if n <= top]
    measures = only or list(MEASURES)
    if unknown := [m for m in measures if m not in MEASURES]:
        print(f"unknown measure(s): {', '.join(unknown)} (of {', '.join(MEASURES)})")
        return 2
    table: dict[str, dict[int, float | None]] = {}
    for hosts in ladder:
        directory = workdir / f"growth-{hosts}"
        shutil.rmtree(directory, ignore_errors=True)
        start = time.perf_counter()
        config = generate(directory, hosts=hosts)
        print(f"{hosts:,} hosts generated in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        for measure in measures:
            print(f"  {measure} at {hosts:,} hosts ...", file=sys.stderr, flush=True)
            for name, seconds in _child(measure, config, hosts).items():
                table.setdefault(name, {})[hosts] = seconds
        shutil.rmtree(directory, ignore_errors=True)
    rows, worse = growth_rows(table, ladder)
    text = _format(rows)
    print(text)
    (workdir / "growth.md").write_text(text + "\n")
    (workdir / "growth.json").write_text(
        json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "figures": table}, indent=2)
    )
    for line in worse:
        print(line)
    return 1 if worse else 0


def _child(measure: str, config: Path, hosts: int) -> dict[str, float | None]:
    argv = [sys.executable, "-m", "bench.growth", measure, str(config), str(hosts)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("TERM", "xterm-256color")
    try:
        run = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=BOUND_S
        )
    except subprocess.TimeoutExpired:
        return {f"{measure}: (whole measure)": None}
    if run.returncode != 0:
        raise RuntimeError(f"{measure} at {hosts} hosts failed: {run.stderr.strip()[-500:]}")
    return json.loads(run.stdout.splitlines()[-1])


def growth_rows(
    table: dict[str, dict[int, float | None]], ladder: list[int]
) -> tuple[list[list[str]], list[str]]:
    """The rows to print (figures, growth per 10x, its floor's, verdict) and a line per
    measure that grew worse than linearly (and faster than its floor) or hit the bound."""
    head = [
        "measure",
        *(f"{n:,} hosts" for n in ladder),
        "per 10x hosts",
        "its floor per 10x",
        "growth",
    ]
    rows, worse = [head], []
    for name, figures in table.items():
        floor = table.get(FLOORS.get(name.split(":")[0], FLOORS.get(name, "")), {})
        cells = [_seconds(figures.get(n)) for n in ladder]
        factors, floors, exponents, verdict = [], [], [], LINEAR
        for low, high in itertools.pairwise(ladder):
            a, b = figures.get(low), figures.get(high)
            if a is None or b is None:
                factors.append("-")
                if b is None:
                    verdict = f"not done within {BOUND_S:.0f} s at {high:,} hosts"
                    worse.append(f"{name}: {verdict}")
                continue
            factors.append(f"{b / a:.1f}x")
            exponent = math.log10(b / a) / math.log10(high / low)
            fa, fb = floor.get(low), floor.get(high)
            own = math.log10(fb / fa) / math.log10(high / low) if fa and fb else None
            floors.append(f"{fb / fa:.1f}x" if fa and fb else "")
            exponents.append(exponent)
            if name.startswith("floor:"):
                continue
            if b < NOISE_S or exponent <= WORSE:
                continue
            if own is not None and exponent - own <= SAME_AS_FLOOR:
                verdict = f"as its floor (n^{exponent:.2f} vs n^{own:.2f}): the machine"
                continue
            verdict = f"WORSE than linear (n^{exponent:.2f} from {low:,} to {high:,})"
            worse.append(f"{name}: {verdict}: {_seconds(a)} -> {_seconds(b)}")
        if name.startswith("floor:") and exponents:
            verdict = f"a floor: n^{max(exponents):.2f}"
        if len(ladder) < 2:
            verdict = "-"
        elif all(figures.get(n) is not None and figures[n] < NOISE_S for n in ladder):
            verdict = "fixed cost (under 20 ms)"
        rows.append([name, *cells, ", ".join(factors), ", ".join(f for f in floors if f), verdict])
    return rows, worse


def _seconds(value: float | None) -> str:
    if value is None:
        return f"> {BOUND_S:.0f} s"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _format(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


# --- the measures, in the child process ---------------------------------------------------


def _best(reps: int, action: Callable[[], Any]) -> float:
    return min(timed(action) for _ in range(reps))


def _load(config: Path, hosts: int, reps: int) -> Figures:
    from qlutui.backend.cluster import Cluster

    cache = config.parent / "state" / ".cache"

    def cold() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        Cluster.open(config).inventory()

    raw = (config.parent / "state" / "inventory.toml").read_text()
    figures = {TOMLLIB: _best(reps, lambda: tomllib.loads(raw))}
    figures["load the inventory, no cache"] = _best(reps, cold)
    figures["load the inventory from its cache"] = _best(
        reps, lambda: Cluster.open(config).inventory()
    )
    return figures


def _check(config: Path, hosts: int, reps: int) -> Figures:
    from bench.scenarios import floor_unique
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.files import files_service
    from qlutui.model.inventory import check_unique

    cluster = Cluster.open(config)
    inventory = cluster.inventory()
    return {
        FLOORS["check: inventory clashes (check_unique)"]: _best(
            reps, lambda: floor_unique(inventory)
        ),
        "check: inventory clashes (check_unique)": _best(reps, lambda: check_unique(inventory)),
        "check: every generated file (`qlutui check`'s files part)": _best(
            max(1, reps - 1), lambda: files_service(Cluster.open(config)).problems()
        ),
    }


def _bulk(config: Path, hosts: int, reps: int) -> Figures:
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.inventory import InventoryService

    def one() -> float:
        target = wide_demo(config.parent.parent / f"bulk-{hosts}")
        service = InventoryService(Cluster.open(target))
        return timed(lambda: bulk_add(service, hosts))

    return {"bulk add of as many hosts (Hosts screen's bulk add)": min(one() for _ in range(reps))}


def _import(config: Path, hosts: int, reps: int) -> Figures:
    from bench.importing import hosts_table
    from qlutui.backend.cluster import Cluster
    from qlutui.model.inventory import Inventory
    from qlutui.model.inventory_import import ImportSource, plan_import

    text = hosts_table(Cluster.open(config).inventory())
    source = [ImportSource("hosts", "dnsmasq.hosts", text)]
    return {
        FLOORS["import a dnsmasq.hosts of the cluster"]: _best(
            reps, lambda: [line.split() for line in text.splitlines()]
        ),
        "import a dnsmasq.hosts of the cluster": _best(
            reps, lambda: plan_import(Inventory(), source)
        ),
    }


def _render(config: Path, hosts: int, reps: int) -> Figures:
    """Every class of the registry: each of its files when it has a few, else all at once."""
    from bench.scenarios import floor_ssh_lines
    from qlutui.backend.cluster import Cluster
    from qlutui.backend.files import CLASSES

    cluster = Cluster.open(config)
    inventory = cluster.inventory()

    def floor() -> None:
        known, shosts = floor_ssh_lines(inventory)
        "\n".join(known) + "\n".join(shosts)

    figures: Figures = {FLOORS["render ssh"]: _best(reps, floor)}
    for cls in CLASSES:
        instance = cls(cluster)
        specs = instance.files()
        groups = [[s] for s in specs] if len(specs) <= 5 else [specs]
        for group in groups:
            label = group[0].id if len(group) == 1 else f"{len(group)} files"
            rendered = instance.render(group)
            if bad := [k for k, v in rendered.items() if not isinstance(v, str)]:
                raise RuntimeError(f"{cls.id}: {bad[0]} did not render: {rendered[bad[0]]}")
            figures[f"render {cls.id}: {label}"] = _best(
                reps, lambda i=instance, g=group: i.render(g)
            )
    return figures


def _hosts(config: Path, hosts: int, reps: int) -> Figures:
    from bench.core import median
    from bench.tui import _open_hosts

    runs = [asyncio.run(_open_hosts(config, 3)) for _ in range(reps)]
    return {
        "Hosts screen: first paint": min(r[0] for r in runs) / 1000,
        "Hosts screen: table filled": min(r[1] for r in runs) / 1000,
        "Hosts screen: a filter key (median)": median([k for r in runs for k in r[2]]) / 1000,
    }


_MEASURES: dict[str, Callable[[Path, int, int], Figures]] = {
    "load": _load,
    "check": _check,
    "bulk": _bulk,
    "import": _import,
    "render": _render,
    "hosts": _hosts,
}


if __name__ == "__main__":
    measure, path, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    result = _MEASURES[measure](path, count, _reps(count))
    print(json.dumps(result))
