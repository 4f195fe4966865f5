"""Check-then-use races on root-fs paths: a separate process flips a directory inside a config
with a symbolic link to a directory outside it, as fast as it can, while put, mkdir, chmod,
rename and rm run through the service again and again. Nothing outside the config may change.
Run on two local head-nodes and on a local plus a real-sshd head-node."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import ssh_demo, tree_hash

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.rootfs import RootfsService
from qlutui.errors import QlutuiError

CONFIG = "ntp-tweaks"
MAX_FLIPS = 1_000_000  # the flipper's own bound; it is stopped long before
MAX_SECONDS = 300.0

# Flip <dir> between a real directory and a link to <outside> until the stop file appears
# (checked every 50 flips) or a bound is reached; always end with the real directory.
FLIPPER = textwrap.dedent(
    """
    import os, shutil, sys, time
    stop, outside, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    flips, end = 0, time.monotonic() + float(os.environ["MAX_SECONDS"])
    limit = int(os.environ["MAX_FLIPS"])
    HOLD = 0.001

    def clear(d):
        # a put or mkdir may make a real d whenever it is missing: such a d is dropped
        if os.path.islink(d):
            os.unlink(d)
        elif os.path.isdir(d):
            shutil.rmtree(d, ignore_errors=True)

    def to_link(d):
        os.rename(d, d + ".aside")
        while True:
            try:
                return os.symlink(outside, d)
            except FileExistsError:
                clear(d)

    def restore(d):
        while os.path.lexists(d + ".aside"):
            try:
                clear(d)
                os.rename(d + ".aside", d)
            except OSError:
                continue

    print("ready", flush=True)
    try:
        while flips < limit and time.monotonic() < end:
            if flips % 50 == 0 and os.path.exists(stop):
                break
            for d in dirs:
                to_link(d)
            time.sleep(HOLD)  # a link about half of the time
            for d in dirs:
                restore(d)
            time.sleep(HOLD)
            flips += 1
    finally:
        for d in dirs:
            restore(d)
        print(flips, flush=True)
    """
)


@pytest.fixture(params=["local", pytest.param("ssh", marks=pytest.mark.ssh)])
async def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    if request.param == "local":
        config = init_demo(tmp_path / "demo")
    else:
        config = ssh_demo(tmp_path, request.getfixturevalue("sshd"))
    cluster = Cluster.open(config)
    try:
        yield cluster
    finally:
        await cluster.aclose()


def config_dir(cluster: Cluster, node: str) -> Path:
    base = cluster.config.rootfs_base
    return Path(cluster.transport(node).host_path(f"{base}/{CONFIG}"))


async def test_a_directory_flipped_to_a_symlink_never_lets_a_change_out(
    cluster: Cluster, tmp_path: Path
) -> None:
    service = RootfsService(cluster)
    outside = tmp_path / "outside"  # what the link points at: looks like the config's etc/d
    (outside / "sub").mkdir(parents=True)
    (outside / "x").write_text("outside\n")
    (outside / "sub" / "y").write_text("outside\n")
    kinds = {h.name: h.transport for h in cluster.config.headnodes}
    over = "ssh" if "ssh" in kinds.values() else "local"  # flipped on these head-nodes only
    dirs = []
    for node in (n for n, kind in kinds.items() if kind == over):
        d = config_dir(cluster, node) / "etc" / "d"
        (d / "sub").mkdir(parents=True)
        (d / "x").write_text("inside\n")
        dirs.append(str(d))
    before = tree_hash(outside)
    stop = tmp_path / "stop"
    env = {"MAX_FLIPS": str(MAX_FLIPS), "MAX_SECONDS": str(MAX_SECONDS)}
    rounds = 50 if over == "local" else 6
    flipper = subprocess.Popen(
        [sys.executable, "-c", FLIPPER, str(stop), str(outside), *dirs],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    done = failed = 0
    try:
        assert flipper.stdout is not None and flipper.stdout.readline() == "ready\n"
        for i in range(rounds):
            changes = [
                (service.write_file, "etc/d/x", b"pwned\n"),
                (service.write_file, f"etc/d/new-{i}", b"pwned\n"),
                (service.mkdir, f"etc/d/sub/made-{i}"),
                (service.chmod, "etc/d/x", 0o600),
                (service.chmod, "etc/d/sub", 0o700),
                (service.rename, f"etc/d/new-{i}", f"etc/d/sub/moved-{i}"),
                (service.remove, "etc/d/sub"),
                (service.remove, "etc/d/x"),
            ]
            for change, *args in changes:
                try:
                    outcome = await change(CONFIG, *args)
                except QlutuiError:
                    failed += 1  # refused or failed everywhere: fine, as long as it stayed in
                else:
                    done += len(outcome.done)
                    failed += len(outcome.failed)
            assert tree_hash(outside) == before, f"changed outside the config in round {i + 1}"
    finally:
        stop.touch()
        out, _ = flipper.communicate(timeout=60)
    assert flipper.returncode == 0
    flips = int(out.split()[-1])
    assert tree_hash(outside) == before
    assert flips > rounds and done > 0 and failed > 0  # the race really ran, both ways
