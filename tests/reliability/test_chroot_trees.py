"""A chroot's tree is only ever `<chroots_base>/<name>`, and never copied through a mount.

A hand-edited chroots.toml record whose path is another chroot's tree, the head-node's /etc
or a directory outside the base is reported by `qlutui check` and refused by every chroot verb
with one line, nothing touched, on the local transport (rooted) and over SSH. A tree with a
real bind mount or tmpfs below it is refused by clone and rename up front (the mount point
named); the job checks again, and the copy stays on one file system."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import one_line_reason, qlutui, remote_root, ssh_demo, tree_hash
from sshd import SSHD

from qlutui.backend.chroots import PARTIAL, ChrootsService
from qlutui.backend.cluster import Cluster
from qlutui.errors import Refused

pytestmark = pytest.mark.ssh


def record(name: str, server: str, path: Path | str) -> str:
    return (
        f'[chroots.{name}]\nserver = "{server}"\npath = "{path}"\nflavour = "bookworm"\n'
        'version = "13.1"\nstate = "ready"\n'
    )


def tree(root: Path, marker: str) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/shadow").write_text(f"{marker}\n")
    return root


@contextmanager
def mounted(target: Path, source: Path | None = None) -> Iterator[Path]:
    """`source` bind-mounted on `target` (a tmpfs when None); always unmounted after."""
    target.mkdir(parents=True, exist_ok=True)
    argv = ["mount", "--bind", str(source), str(target)] if source else None
    argv = argv or ["mount", "-t", "tmpfs", "qlutui-test", str(target)]
    if subprocess.run(argv, capture_output=True, timeout=10).returncode:
        pytest.skip("cannot mount here (needs root)")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True, timeout=10)


async def test_a_path_that_is_not_base_slash_name_is_reported_and_refused(
    own_sshd: SSHD, tmp_path: Path
) -> None:
    config = ssh_demo(tmp_path, own_sshd)
    base = remote_root(tmp_path) / "chroots"  # chroots_base, the same path on both head-nodes
    local = config.parent / "headnodes/beosrv-c"  # beosrv-c's root prefix
    in_use = tree(local / str(base).lstrip("/") / "bookworm-base", "in use")
    tree(local / "etc", "head-node shadow")  # beosrv-c's /etc
    outside = tree(tmp_path / "outside", "outside")  # beosrv-d: a real directory, not below base
    misplaced = {  # name -> (server, recorded path)
        "thief": ("beosrv-c", base / "bookworm-base"),  # another chroot's tree (in use)
        "etc": ("beosrv-c", "/etc"),
        "far": ("beosrv-d", outside),
        "twin": ("beosrv-d", base / "bookworm-base"),
    }
    chroots_toml = config.parent / "state/chroots.toml"
    chroots_toml.write_text(
        record("bookworm-base", "beosrv-c", base / "bookworm-base")
        + "".join(record(name, *where) for name, where in misplaced.items())
    )
    roots = (config.parent / "state", config.parent / "headnodes", remote_root(tmp_path), outside)
    before = tree_hash(*roots)

    def problem(name: str) -> str:
        path = misplaced[name][1]
        return f"path '{path}' is not '{base}/{name}' (<chroots_base>/<name>)"

    check = qlutui(config, "check")
    assert check.returncode == 1
    lines = chroots_toml.read_text().splitlines()

    def line(name: str) -> int:  # of its table
        return lines.index(f"[chroots.{name}]") + 1

    assert check.stdout.splitlines() == [  # bookworm-base is in its place
        f"{chroots_toml}:{line(name)}: chroots.{name}: {problem(name)}"
        for name in sorted(misplaced)
    ]
    # the CLI's one line, for the two holes found: rm of a tree in use, a clone of /etc
    for verb in (["rm", "thief"], ["clone", "etc", "stolen"]):
        result = qlutui(config, "chroots", *verb)
        refusal = f"chroot '{verb[1]}': {problem(verb[1])}; fix chroots.toml"
        assert one_line_reason(result) == f"qlutui: {refusal}", verb
        assert result.stdout == "", verb  # no job started

    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        state = await service.load()
        for name in misplaced:
            refusal = f"chroot '{name}': {problem(name)}; fix chroots.toml"
            for method, *args in (
                (service.remove, name),
                (service.check_remove, name),
                (service.clone, name, f"{name}-copy", ""),
                (service.rename, name, f"{name}-new"),
                (service.check_rename, name, f"{name}-new"),
                (service.check_idle, name),
                (service.edit_description, name, "changed"),
            ):
                with pytest.raises(Refused) as refused:
                    result = method(state, *args)
                    if inspect.isawaitable(result):
                        await result
                assert str(refused.value) == refusal
            probe = await service.probe(state.chroot(name))  # neither stat nor du of it
            assert (probe.present, probe.size, probe.problem) == (False, None, problem(name))
        problems = await service.tree_problems(state)
        assert problems == {"bookworm-base": ""} | {name: problem(name) for name in misplaced}
    finally:
        await cluster.jobs.close()
        await cluster.aclose()
    assert tree_hash(*roots) == before
    assert (in_use / "etc/shadow").read_text() == "in use\n"


async def test_clone_and_rename_refuse_a_tree_with_a_mount_below(
    own_sshd: SSHD, tmp_path: Path
) -> None:
    config = ssh_demo(tmp_path, own_sshd)
    base = remote_root(tmp_path) / "chroots"
    local = config.parent / "headnodes/beosrv-c"
    trees = {
        "near": tree(local / str(base).lstrip("/") / "near", "near"),  # local, rooted
        "far": tree(base / "far", "far"),  # over SSH
    }
    (config.parent / "state/chroots.toml").write_text(
        record("near", "beosrv-c", base / "near") + record("far", "beosrv-d", base / "far")
    )
    share = tmp_path / "share"  # e.g. an NFS share or /proc, bind-mounted into the trees
    share.mkdir()
    (share / "secret").write_text("not part of the chroot\n")
    roots = (config.parent / "state", config.parent / "headnodes", remote_root(tmp_path))
    points = {"near": trees["near"] / "proc", "far": trees["far"] / "mnt/nfs"}
    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        state = await service.load()
        with mounted(points["near"], share), mounted(points["far"], share):
            before = tree_hash(*roots)
            result = qlutui(config, "chroots", "clone", "near", "copy")
            assert one_line_reason(result) == (
                f"qlutui: chroot 'near' cannot be cloned: {points['near']} is mounted on beosrv-c"
            )
            for name, server in (("near", "beosrv-c"), ("far", "beosrv-d")):
                for what, method, *args in (
                    ("cloned", service.clone, f"{name}-copy", ""),
                    ("renamed", service.rename, f"{name}-new"),
                ):
                    with pytest.raises(Refused) as refused:
                        await method(state, name, *args)
                    assert str(refused.value) == (
                        f"chroot '{name}' cannot be {what}: {points[name]} is mounted on {server}"
                    )
            assert tree_hash(*roots) == before

        # The job's own walls: what is mounted after the up-front check is refused by the
        # job (its `unmounted` step), and without that step `cp` stays on one file system.
        src = state.chroot("near")
        with mounted(trees["near"] / "proc"):
            (trees["near"] / "proc/kcore").write_text("another file system\n")
            plan = service._copy_plan(src, f"{base}/copy", [], lock=service.lock("copy"))
            job = await cluster.jobs.start("test.copy", "copy", {"beosrv-c": plan})
            await asyncio.wait_for(job.wait(), 30)
            target = job.record.targets["beosrv-c"]
            assert target.state == "Failed"
            assert target.error == (
                f"step 2/3: refusing to copy {trees['near']}: {trees['near'] / 'proc'} is mounted"
            )
            copy = local / str(base).lstrip("/") / f"copy{PARTIAL}"
            assert not copy.exists()

            plan.steps = [s for s in plan.steps if s.get("op") != "unmounted"]
            job = await cluster.jobs.start("test.copy", "copy", {"beosrv-c": plan})
            await asyncio.wait_for(job.wait(), 30)
            assert job.record.state == "Success", job.record.targets
            assert (copy / "etc/shadow").read_text() == "near\n"
            assert (copy / "proc").is_dir() and list((copy / "proc").iterdir()) == []
    finally:
        await cluster.jobs.close()
        await cluster.aclose()
