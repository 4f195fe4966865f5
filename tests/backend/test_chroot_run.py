"""Commands run inside a chroot (ChrootsService.run and `qlutui chroots run`) on a tiny real
chroot: a static busybox. The mounts a run makes must never show in this process's mount
table (the head-node's), whatever way the run ends; the real mmdebstrap chroot is in
tests/integration/test_chroot_build.py."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sshd import SSHD
from tiny_chroot import BUSYBOX, NAME, busybox_tree, mounts_below, open_shell, ssh_cluster

from qlutui.backend.chroots import POLICY_MARK, ChrootsService, complete
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.job_records import KILLED
from qlutui.errors import InvalidInput, Refused

pytestmark = pytest.mark.skipif(BUSYBOX is None, reason="busybox-static is not installed")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    config = init_demo(tmp_path / "demo")
    busybox_tree(config)
    return config


@pytest.fixture
async def service(config: Path):
    cluster = Cluster.open(config)
    yield ChrootsService(cluster)
    await cluster.jobs.close()
    await cluster.aclose()


def base(config: Path) -> Path:
    return config.parent / "headnodes/beosrv-c/srv/apps/chroots"


def chroot_record(config: Path) -> dict:
    return tomllib.loads((config.parent / "state/chroots.toml").read_text())["chroots"][NAME]


def texts(job) -> list[str]:
    return [line.text for line in job.lines()]


async def finish(job, timeout: float = 60.0) -> str:
    await asyncio.wait_for(job.wait(), timeout)
    return job.record.state


async def test_a_command_runs_inside_with_proc_sys_dev_and_no_mount_left(
    config: Path, service: ChrootsService
) -> None:
    script = (
        "cat /etc/debian_version; echo FRONTEND=$DEBIAN_FRONTEND; cat /usr/sbin/policy-rc.d;"
        " ls /proc/self/fd >/dev/null && echo PROC-OK; ls /sys/kernel >/dev/null && echo SYS-OK;"
        " echo hello >/dev/null && echo DEV-OK; grep -c . /proc/self/mountinfo"
    )
    job = await service.run(await service.load(), NAME, ["sh", "-c", script])
    assert job.record.title.startswith(f"Running in chroot {NAME} on beosrv-c: sh -c ")
    assert await finish(job) == "Success"
    out = texts(job)
    for expected in ("tiny-chroot-1.0", "FRONTEND=noninteractive", POLICY_MARK, "exit 101"):
        assert expected in out
    assert {"PROC-OK", "SYS-OK", "DEV-OK"} <= set(out)
    assert mounts_below(base(config)) == []
    root = base(config) / NAME
    assert not (root / "usr/sbin/policy-rc.d").exists()  # the run's own, removed
    assert list((root / "dev").iterdir()) == []  # the nodes lived on the namespace's tmpfs
    record = chroot_record(config)
    assert (record["state"], record["job"]) == ("ready", job.id)


async def test_a_failing_command_fails_the_job(config: Path, service: ChrootsService) -> None:
    job = await service.run(await service.load(), NAME, ["sh", "-c", "echo before; exit 7"])
    assert await finish(job) == "Failed"
    assert "before" in texts(job)
    assert job.record.targets["beosrv-c"].rc == 7
    assert job.record.targets["beosrv-c"].error == "step 1/1: sh exited with 7"  # not unshare
    assert mounts_below(base(config)) == []
    assert not (base(config) / NAME / "usr/sbin/policy-rc.d").exists()
    assert chroot_record(config)["state"] == "ready"


async def test_kill_ends_the_run_and_leaves_nothing(config: Path, service: ChrootsService) -> None:
    job = await service.run(await service.load(), NAME, ["sh", "-c", "echo started; sleep 300"])
    for _ in range(400):
        if "started" in texts(job):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the command did not start: {texts(job)}")
    # while it runs: its mounts are in its own namespace only, its policy-rc.d is on disk
    assert mounts_below(base(config)) == []
    assert (base(config) / NAME / "usr/sbin/policy-rc.d").exists()
    with pytest.raises(Refused, match="is busy"):
        await service.run(await service.load(), NAME, ["true"])
    await service.cluster.jobs.kill(job.id)
    assert await finish(job) == "Killed"
    assert mounts_below(base(config)) == []
    assert not (base(config) / NAME / "usr/sbin/policy-rc.d").exists()
    # as the Jobs screen's log shows them at 80 columns ('* ' and 76 characters): the step
    # named the command past the cut, and the cleanup read 'remove <the chroot's path>'
    shown = [f"* {line.text}"[:78] for line in job.lines() if line.stream == "message"]
    assert "* step 1/1: sh -c 'echo started; sleep 300' (inside " in "\n".join(shown), shown
    assert any(line.startswith("* cleanup 1/1: remove the run's policy-rc.d: ") for line in shown)


async def test_the_chroots_own_policy_rc_d_is_hidden_for_the_run_and_kept(
    config: Path, service: ChrootsService
) -> None:
    own = base(config) / NAME / "usr/sbin/policy-rc.d"
    own.write_text("#!/bin/sh\n# the admin's\nexit 0\n")
    job = await service.run(await service.load(), NAME, ["cat", "/usr/sbin/policy-rc.d"])
    assert await finish(job) == "Success"
    assert POLICY_MARK in texts(job) and "# the admin's" not in texts(job)
    assert own.read_text() == "#!/bin/sh\n# the admin's\nexit 0\n"
    assert mounts_below(base(config)) == []


async def test_a_symlinked_mount_point_is_refused_and_nothing_mounted(
    config: Path, service: ChrootsService, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    proc = base(config) / NAME / "proc"
    proc.rmdir()
    proc.symlink_to(outside)
    job = await service.run(await service.load(), NAME, ["true"])
    assert await finish(job) == "Failed"
    assert any("refusing to run" in t and t.endswith("symbolic link)") for t in texts(job))
    assert list(outside.iterdir()) == [] and mounts_below(tmp_path) == []


async def test_refused_up_front(config: Path, service: ChrootsService) -> None:
    state = await service.load()
    with pytest.raises(InvalidInput, match="the command is empty"):
        await service.run(state, NAME, [])
    with pytest.raises(InvalidInput, match="unknown action 'nope'"):
        await service.run_action(state, NAME, "nope")
    with pytest.raises(InvalidInput, match="no chroot named 'missing'"):
        await service.run(state, "missing", ["true"])
    chroots = config.parent / "state/chroots.toml"
    text = chroots.read_text()
    chroots.write_text(text.replace('state = "ready"', 'state = "failed"'))
    with pytest.raises(Refused, match=f"chroot '{NAME}' is not ready \\(it is failed\\)"):
        await service.run(await service.load(), NAME, ["true"])
    chroots.write_text(text.replace(f"/srv/apps/chroots/{NAME}", "/etc"))
    with pytest.raises(Refused, match=r"path '/etc' is not .*\(<chroots_base>/<name>\)"):
        await service.run_action(await service.load(), NAME, "clean")
    assert service.cluster.jobs.list() == []


MOUNTING_BUILDER = """
[builders.debian]
argv = ["sh", "-c", "mkdir -p $0/proc && mount -t tmpfs t $0/proc && echo MOUNTED && sleep 300",
        "{target}"]
"""


async def test_a_builders_mounts_stay_in_its_own_namespace(tmp_path: Path) -> None:
    """A build runs in a private mount namespace too: what the builder mounts below the tree
    (mmdebstrap mounts /proc, /sys, /dev) never shows on the head-node, and a Kill leaves
    nothing mounted (without the namespace the tmpfs stays)."""
    config = init_demo(tmp_path / "demo")
    config.write_text(config.read_text() + MOUNTING_BUILDER)
    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        state = await service.load()
        job = await service.new(state, "mounting", "", "beosrv-c", "bookworm", "13.1", [])
        try:
            for _ in range(400):
                if "MOUNTED" in texts(job) or job.done:
                    break
                await asyncio.sleep(0.05)
            assert "MOUNTED" in texts(job), texts(job)
            assert mounts_below(base(config)) == []
        finally:
            if not job.done:
                await cluster.jobs.kill(job.id)
        assert await finish(job) == "Killed"
        assert mounts_below(base(config)) == []
        assert not (base(config) / "mounting.partial").exists()
    finally:
        await cluster.jobs.close()
        await cluster.aclose()


def qlutui(config: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), "chroots", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_run_streams_the_log_and_exits_with_the_job(config: Path) -> None:
    done = qlutui(config, "run", NAME, "--", "cat", "/etc/debian_version")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"Running in chroot {NAME} on beosrv-c: cat /etc/debian_version"
    assert any(line.endswith(" tiny-chroot-1.0") for line in lines)
    failed = qlutui(config, "run", NAME, "--", "sh", "-c", "echo oops >&2; exit 3")
    assert failed.returncode == 1
    assert any(line.endswith(" oops") for line in failed.stdout.splitlines())
    for nothing in ([], ["--"]):  # bad usage: said how, exit 2
        empty = qlutui(config, "run", NAME, *nothing)
        assert empty.returncode == 2, nothing
        assert "no command given: qlutui chroots run NAME -- ARGV..." in empty.stderr
    assert mounts_below(base(config)) == []


def test_a_running_shell_marks_the_chroot_in_use(config: Path) -> None:
    """While `chroots shell` runs, remove and rename are refused up front with one line (its
    flock on the chroot's lock, as jobs take it); once the shell ends, by exit or by SIGKILL
    of its session (the kernel drops the lock), they are allowed."""
    images = config.parent / "state/images.toml"  # no image uses it: only the shell refuses
    images.write_text(images.read_text().replace(f'chroot = "{NAME}"', 'chroot = ""'))
    state_files = {f: f.read_bytes() for f in (config.parent / "state").glob("*.toml")}
    shell = open_shell(config)
    try:
        for verb in (["rm", NAME], ["rm", "--dry-run", NAME], ["rename", NAME, "moved"]):
            done = qlutui(config, *verb)
            assert done.returncode != 0 and done.stdout == "", verb
            what = "renamed" if verb[0] == "rename" else "removed"
            assert done.stderr.splitlines() == [
                f"qlutui: chroot '{NAME}' cannot be {what}: it is in use (a shell in it or a "
                f"job holds its lock, beosrv-c:/srv/apps/chroots/.qlutui-locks/{NAME}.lock)"
            ], verb
        assert {f: f.read_bytes() for f in state_files} == state_files  # nothing changed
        assert (base(config) / NAME / "etc/debian_version").is_file()
    finally:
        os.killpg(shell.pid, signal.SIGKILL)  # a dropped terminal: nothing is left to unlock
        shell.wait(30)
    assert qlutui(config, "rm", "--dry-run", NAME).returncode == 0

    shell = open_shell(config)
    shell.communicate("exit 0\n", timeout=60)
    assert shell.returncode == 0
    done = qlutui(config, "rename", NAME, "moved")
    assert done.returncode == 0, done.stderr
    assert (base(config) / "moved/etc/debian_version").is_file()


def state_file(config: Path, area: str) -> dict:
    return tomllib.loads((config.parent / f"state/{area}.toml").read_text())[area]


async def test_rename_moves_the_same_directory(config: Path, service: ChrootsService) -> None:
    """A rename is rename(2) within the chroots base: the tree keeps its inode (nothing is
    copied), no partial tree appears, the records and images follow the tree."""
    inodes = {p.relative_to(base(config) / NAME): p.lstat().st_ino for p in tree_of(config)}
    job = await service.rename(await service.load(), NAME, "moved")
    assert await finish(job) == "Success", texts(job)
    moved = base(config) / "moved"
    assert {p.relative_to(moved): p.lstat().st_ino for p in tree_of(config, moved)} == inodes
    assert sorted(p.name for p in base(config).iterdir()) == [".qlutui-locks", "moved"]
    chroots = state_file(config, "chroots")
    assert NAME not in chroots and chroots["moved"]["state"] == "ready"
    assert chroots["moved"]["path"] == "/srv/apps/chroots/moved"
    assert [i["chroot"] for i in state_file(config, "images").values()].count("moved") == 1


async def test_a_rename_killed_after_its_move_records_the_move(
    config: Path, service: ChrootsService
) -> None:
    """A Kill that lands after the rename(2) ends the job Killed with the tree at the new
    path: the hook follows the tree (new name ready, images repointed), never marking the
    old name failed and dropping the record of the tree that exists."""
    files = [config.parent / f"state/{area}.toml" for area in ("chroots", "images")]
    job = await service.rename(await service.load(), NAME, "moved")
    started = {f: f.read_text() for f in files}  # no await since: the hook has not run
    assert await finish(job) == "Success", texts(job)
    for file, text in started.items():
        file.write_text(text)
    assert set(state_file(config, "chroots")) == {NAME, "moved"}
    job.record.targets["beosrv-c"].state = KILLED
    await complete(service.cluster, job)
    chroots_now = state_file(config, "chroots")
    assert NAME not in chroots_now and chroots_now["moved"]["state"] == "ready"
    assert [i["chroot"] for i in state_file(config, "images").values()].count("moved") == 1


def tree_of(config: Path, root: Path | None = None) -> list[Path]:
    root = root or base(config) / NAME
    return [root, *root.rglob("*")]


@pytest.mark.ssh
async def test_run_over_ssh(sshd: SSHD, tmp_path: Path) -> None:
    config, remote = ssh_cluster(tmp_path, sshd)
    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        job = await service.run(await service.load(), "small", ["cat", "/etc/debian_version"])
        assert await finish(job) == "Success"
        assert "tiny-chroot-1.0" in texts(job)
        assert mounts_below(remote) == []
        assert not (remote / "small/usr/sbin/policy-rc.d").exists()
    finally:
        await cluster.jobs.close()
        await cluster.aclose()


@pytest.mark.ssh
async def test_the_shell_over_ssh_checks_the_host_key(sshd: SSHD, tmp_path: Path) -> None:
    """The shell's argv is `ssh -t` with the head-node's own settings: it reaches the chroot
    (here with commands on stdin, no terminal: the tmux test has the pty); once the
    known_hosts file it names holds another key, ssh fails before anything runs."""
    config, remote = ssh_cluster(tmp_path, sshd)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_bytes(sshd.known_hosts.read_bytes())
    config.write_text(config.read_text().replace(str(sshd.known_hosts), str(known_hosts)))
    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        argv = await service.shell_command(await service.load(), "small")
    finally:
        await cluster.aclose()
    assert argv[:3] == ["ssh", "-F", "none"] and "-oStrictHostKeyChecking=yes" in argv
    script = "cat /etc/debian_version; echo PS1=$PS1; exit 4\n"
    done = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=60)
    assert done.returncode == 4, done.stderr
    assert "tiny-chroot-1.0" in done.stdout and "PS1=(chroot-small) \\w #" in done.stdout
    assert mounts_below(remote) == []

    other = tmp_path / "other_key"
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)]
    subprocess.run(keygen, check=True, stdin=subprocess.DEVNULL)
    known_hosts.write_text(sshd.known_hosts_line(other.with_suffix(".pub")))
    done = subprocess.run(argv, input="echo REACHED\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 255 and "REACHED" not in done.stdout
    assert "host key verification failed" in done.stderr.lower()
