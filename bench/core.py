"""What every scenario shares: the result row, the scale, timing statistics and the context
(generated cluster, real sshd) that scenarios set up lazily and the runner tears down."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.generate import generate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Scale:
    hosts: int
    images: int
    chroots: int
    lines: int  # P6: lines streamed through a job
    jobs: int  # P9: job records on file (a long history)
    reps: int  # repetitions of a timed action (medians over them)


FULL = Scale(hosts=10_000, images=500, chroots=50, lines=200_000, jobs=2_000, reps=7)
SMOKE = Scale(hosts=200, images=40, chroots=5, lines=5_000, jobs=50, reps=2)


@dataclass
class Result:
    """One table row: `score` (a ratio to `reference` measured in the same run, or a p95 in
    ms for a key) against `limit`; `figures` are the absolute medians [min-max], for reading.
    """

    scenario: str
    what: str
    reference: str  # what the score is relative to (or, for a key's p95, shown beside)
    score: float
    limit: float
    unit: str  # "x" (a ratio of medians) or "ms" (a key's p95)
    passed: bool
    figures: str
    detail: str = ""  # counts, sizes, other checks
    samples: list[float] = field(default_factory=list)
    reference_samples: list[float] = field(default_factory=list)

    def target(self) -> str:
        if self.unit == "x":
            return f"<= {self.limit:g}x"
        return f"p95 <= {self.limit:g} ms (or {KEY_RATIO:g}x bare, over it)"

    def measured(self) -> str:
        return f"{self.score:.2f}x" if self.unit == "x" else f"{self.score:.1f} ms"


def spread(samples: list[float], unit: str) -> str:
    """`median [min-max] unit`, in a precision fit for reading."""

    def num(value: float) -> str:
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"

    return f"{num(median(samples))} [{num(min(samples))}-{num(max(samples))}] {unit}"


def ratio_row(
    scenario: str,
    what: str,
    reference: str,
    limit: float,
    samples: list[float],
    reference_samples: list[float],
    *,
    unit: str = "ms",
    factor: float = 1000.0,
    ok: bool = True,
    detail: str = "",
) -> Result:
    """A row whose score is median(samples) / median(reference_samples) (both in seconds,
    shown times `factor` in `unit`); it passes when the ratio is within `limit` and `ok`."""
    ratio = median(samples) / median(reference_samples)
    shown = [s * factor for s in samples], [s * factor for s in reference_samples]
    return Result(
        scenario,
        what,
        reference,
        ratio,
        limit,
        "x",
        ratio <= limit and ok,
        f"{spread(shown[0], unit)} vs {spread(shown[1], unit)}",
        detail,
        shown[0],
        shown[1],
    )


KEY_RATIO = 1.5  # a key's p95 over its bound still passes within this of the bare widget's


def key_row(
    scenario: str, what: str, bare: str, limit_ms: float, keys: list[float], bare_keys: list[float]
) -> Result:
    """A key's row: its p95 in ms against `limit_ms`, the bare Textual widget's p95 beside.

    When the bare widget's own p95 is over the bound too, the machine is what is slow: the
    row then passes within KEY_RATIO of the bare widget's p95."""
    ours, theirs = p95(keys), p95(bare_keys)
    ratio = ours / max(theirs, 1e-9)
    return Result(
        scenario,
        what,
        f"{bare}: p95 {theirs:.1f} ms",
        ours,
        limit_ms,
        "ms",
        ours <= limit_ms or (theirs > limit_ms and ratio <= KEY_RATIO),
        f"{spread(keys, 'ms')} vs {spread(bare_keys, 'ms')}",
        f"{len(keys)} keys; {ratio:.1f}x the bare widget's p95",
        keys,
        bare_keys,
    )


def interleaved(reps: int, subject: Callable[[], Any], reference: Callable[[], Any]):
    """Seconds of `subject` and of `reference`, run A B A B ... `reps` times each, so both
    see the same load of the machine."""
    a, b = [], []
    for _ in range(reps):
        a.append(timed(subject))
        b.append(timed(reference))
    return a, b


def installed_env() -> dict[str, str]:
    """The environment of an installed qlutui: byte code compiled and used (a session that
    sets PYTHONDONTWRITEBYTECODE would otherwise time the compiler on every start)."""
    import compileall

    compileall.compile_dir(ROOT / "qlutui", quiet=1)
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


async def atimed(action: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


class Context:
    """The bench's working directory, its generated cluster and (on demand) a real sshd."""

    def __init__(self, workdir: Path, scale: Scale) -> None:
        self.workdir = workdir
        self.scale = scale
        self._config: Path | None = None
        self._sshd: Any = None

    @property
    def config(self) -> Path:
        """config.toml of a freshly generated cluster at this scale."""
        if self._config is None:
            cluster = self.workdir / f"cluster-{self.scale.hosts}"
            shutil.rmtree(cluster, ignore_errors=True)
            self._config = generate(
                cluster,
                hosts=self.scale.hosts,
                images=self.scale.images,
                chroots=self.scale.chroots,
            )
        return self._config

    @property
    def sshd(self) -> Any:
        """The test suite's real OpenSSH sshd on 127.0.0.1, started once."""
        if self._sshd is None:
            sys.path.insert(0, str(ROOT / "tests"))
            from sshd import SSHD

            directory = self.workdir / "sshd"
            shutil.rmtree(directory, ignore_errors=True)  # fresh keys: SSHD refuses old ones
            server = SSHD(directory)
            server.start()
            self._sshd = server
        return self._sshd

    def ssh_config(self) -> Path:
        """A config.toml for the generated cluster whose head-node beosrv-c is reached over SSH
        (the sshd above); its jobs directory is a real directory of this machine."""
        sshd, cluster = self.sshd, self.config.parent
        path = cluster / "config-ssh.toml"
        path.write_text(
            f'state_dir = "state"\njobs_dir = "{cluster / "ssh-jobs"}"\n\n'
            f'[[headnodes]]\nname = "beosrv-c"\ntransport = "ssh"\nhost = "{sshd.host}"\n'
            f'port = {sshd.port}\nuser = "{sshd.user}"\nknown_hosts = "{sshd.known_hosts}"\n'
            f'identity = "{sshd.identity}"\n'
        )
        return path

    def close(self) -> None:
        if self._sshd is not None:
            self._sshd.stop()
            self._sshd = None
