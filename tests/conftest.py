"""Shared fixtures: a real sshd, a ready transport of either kind, a real terminal (tmux)."""

from __future__ import annotations

import posixpath
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sshd import SSHD
from terminal import Tmux

from qlutui.backend.transport import Transport
from qlutui.backend.transport_local import LocalTransport


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    """One real OpenSSH sshd on 127.0.0.1 for the whole test session (leave it running)."""
    server = SSHD(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["local", pytest.param("ssh", marks=pytest.mark.ssh)])
async def transport(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Transport]:
    """A LocalTransport rooted in tmp_path/"hn", or an SSHTransport to the session sshd."""
    if request.param == "local":
        (tmp_path / "hn").mkdir()
        t: Transport = LocalTransport("beosrv-c", root=tmp_path / "hn")
    else:
        from qlutui.backend.transport_ssh import SSHTransport

        t = SSHTransport(request.getfixturevalue("sshd").headnode("beosrv-d"))
    try:
        yield t
    finally:
        await t.close()


@pytest.fixture
async def base(transport: Transport, tmp_path: Path) -> str:
    """An existing, empty head-node directory to work in ("/data" locally, a real tmp dir
    over SSH); `transport.host_path(base)` is where it really is."""
    path = "/data" if isinstance(transport, LocalTransport) else str(tmp_path / "data")
    await transport.mkdir(path)
    return path


@pytest.fixture
async def outside(transport: Transport, base: str) -> str:
    """A directory next to `base`, i.e. outside it."""
    path = posixpath.join(posixpath.dirname(base), "outside")
    await transport.mkdir(path)
    return path


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    """A private tmux server (tests/terminal.py), killed with all it runs at the end."""
    if not shutil.which("tmux"):
        pytest.skip("needs tmux")
    server = Tmux(tmp_path / "tmux.sock")
    try:
        yield server
    finally:
        server.kill()
