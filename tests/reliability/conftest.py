"""Clusters for the reliability campaign: the demo state with beosrv-c local (rooted in the
demo) and beosrv-d over a real sshd of the test's own (so it can be killed), every head-node
path of the SSH head-node in tmp_path. Plus tree hashes to prove "nothing changed"."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import SSHD

from qlutui.backend.demo import ROOTFS, init_demo

ROOTFS_BASE = "/var/lib/qlustar/root-fs"
SSH_FILES = ("known_hosts", "shosts_equiv", "authorized_keys")


@pytest.fixture
def own_sshd(tmp_path: Path) -> Iterator[SSHD]:
    """A sshd of this test only: it may be stopped, restarted or given new host keys."""
    server = SSHD(tmp_path / "own-sshd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def remote_root(tmp_path: Path) -> Path:
    """Where the SSH head-node's absolute paths live (they are real paths on this machine)."""
    return tmp_path / "remote"


def ssh_demo(tmp_path: Path, sshd: SSHD, *, builder: list[str] | None = None) -> Path:
    """The demo cluster with beosrv-d moved to `sshd`; returns the config path."""
    config = init_demo(tmp_path / "demo")
    remote = remote_root(tmp_path)
    rootfs = remote / "rootfs"
    lines = [
        'state_dir = "state"',
        f'rootfs_base = "{rootfs}"',
        f'chroots_base = "{remote / "chroots"}"',
        f'jobs_dir = "{remote / "jobs"}"',
        '[[headnodes]]\nname = "beosrv-c"\ntransport = "local"\nroot = "headnodes/beosrv-c"',
        '[[headnodes]]\nname = "beosrv-d"\ntransport = "ssh"',
        f'host = "{sshd.host}"\nport = {sshd.port}\nuser = "{sshd.user}"',
        f'known_hosts = "{sshd.known_hosts}"\nidentity = "{sshd.identity}"',
        "connect_timeout = 3.0",
    ]
    for kind in SSH_FILES:
        lines.append(f'[ssh_files.{kind}]\ndestinations = ["{remote / "ssh" / kind}"]')
    if builder:
        argv = ", ".join(f'"{a}"' for a in builder)
        lines.append(f"[builders.debian]\nargv = [{argv}]")
    config.write_text("\n".join(lines) + "\n")
    local_root = config.parent / "headnodes/beosrv-c"
    for base in (local_root / str(rootfs).lstrip("/"), rootfs):
        _seed_rootfs(base)
    return config


def _seed_rootfs(base: Path) -> None:
    for config, (_, files) in ROOTFS.items():
        for rel, (mode, content) in files.items():
            path = base / config / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(mode)


def tree_hash(*roots: Path) -> str:
    """Names, kinds, modes, contents and link targets below every root (links not followed).
    Lock files (empty, created by design) and the audit log are left out."""
    digest = hashlib.sha256()
    for top in roots:
        for root, dirs, files in sorted(os.walk(top)):
            dirs.sort()
            for name in sorted(dirs + files):
                if name.endswith(".lock") or name == "audit.log" or root.endswith(".cache"):
                    continue
                full = os.path.join(root, name)
                st = os.lstat(full)
                digest.update(f"{full} {st.st_mode:o}\n".encode())
                if os.path.islink(full):
                    digest.update(os.readlink(full).encode())
                elif os.path.isfile(full):
                    digest.update(Path(full).read_bytes())
    return digest.hexdigest()


def qlutui(
    config: Path, *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m qlutui --config CONFIG ARGS...` as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), *args],
        input=input.decode() if input is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_reason(result: subprocess.CompletedProcess[str]) -> str:
    """Assert a refusal the way the CLI promises it: exit 1 or 2, no traceback, a reason."""
    assert result.returncode in (1, 2), (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "no reason given"
    if result.returncode == 1:
        assert len(lines) == 1, lines
    return lines[-1]
