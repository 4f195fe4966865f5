"""A tiny real chroot for tests that run commands inside one: a static busybox as the demo's
`bookworm-base` tree (seconds, where the mmdebstrap chroot takes minutes), or as the chroot of
an SSH head-node (the test sshd)."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from sshd import SSHD

from qlutui.backend.demo import init_demo
from qlutui.backend.transport import parse_mountinfo

BUSYBOX = shutil.which("busybox")
NAME = "bookworm-base"  # the demo's ready chroot on beosrv-c (it has no tree of its own)


def mounts_below(path: Path) -> list[str]:
    """Mount points at or below `path` in this process's (the head-node's) mount table."""
    real = str(path.resolve())
    points = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    return [p for p in points if p == real or p.startswith(real + "/")]


def busybox_tree(config: Path, root: Path | None = None) -> Path:
    """A chroot tree (by default the demo chroot's): busybox, its applets, the mount points,
    a marker file."""
    root = root or config.parent / "headnodes/beosrv-c/srv/apps/chroots" / NAME
    for sub in ("bin", "proc", "sys", "dev", "usr/sbin", "etc"):
        (root / sub).mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin/busybox")
    for applet in ("sh", "cat", "ls", "sleep", "false", "echo", "grep", "env"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc/debian_version").write_text("tiny-chroot-1.0\n")
    return root


def ssh_cluster(directory: Path, sshd: SSHD) -> tuple[Path, Path]:
    """A demo state with one SSH head-node `beosrv-s` (the test sshd on 127.0.0.1) and its
    ready busybox chroot `small` below `<directory>/remote/chroots`: (config, chroots base)."""
    config = init_demo(directory / "demo")
    remote = directory / "remote/chroots"
    busybox_tree(config, remote / "small")
    hn = sshd.headnode("beosrv-s")
    config.write_text(
        f'state_dir = "state"\nchroots_base = "{remote}"\njobs_dir = "{directory}/remote/jobs"\n'
        f'[[headnodes]]\nname = "beosrv-s"\ntransport = "ssh"\nhost = "{hn.host}"\n'
        f'port = {hn.port}\nuser = "{hn.user}"\nknown_hosts = "{hn.known_hosts}"\n'
        f'identity = "{hn.identity}"\n'
    )
    (config.parent / "state/chroots.toml").write_text(
        f'[chroots.small]\nserver = "beosrv-s"\npath = "{remote}/small"\n'
        'flavour = "bookworm"\nversion = "13.1"\nstate = "ready"\n'
    )
    return config, remote


def present_tree(config: Path) -> Path:
    """An (empty) tree for the demo's bookworm-base: a demo with no chroot missing its tree."""
    root = config.parent / "headnodes/beosrv-c/srv/apps/chroots" / NAME
    root.mkdir(parents=True)
    return root


def open_shell(config: Path) -> subprocess.Popen:
    """`qlutui chroots shell NAME` in its own session, its commands on a pipe; returned once
    the shell inside the chroot answers."""
    argv = [sys.executable, "-m", "qlutui", "--config", str(config), "chroots", "shell", NAME]
    shell = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    shell.stdin.write("cat /etc/debian_version\n")
    shell.stdin.flush()
    said = b""
    try:
        while select.select([shell.stdout], [], [], 60)[0]:  # bounded: 60 s of silence
            said += (chunk := os.read(shell.stdout.fileno(), 4096))
            if b"tiny-chroot-1.0\n" in said:  # after the shell's banner and prompt
                return shell
            if not chunk:
                break
        raise AssertionError(f"the shell did not start inside the chroot: {said!r}")
    except BaseException:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait(30)
        raise
