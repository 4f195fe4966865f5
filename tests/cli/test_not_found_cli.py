"""A name that is not there is refused in one style whatever the area: `no KIND named 'NAME'`,
the name as typed in quotes (a host range folded), exit 1, nothing printed on stdout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qlutui.backend.demo import init_demo


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_demo(tmp_path_factory.mktemp("notfound") / "demo")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hosts", "show", "gpu-[01-04]"], "no host named 'gpu-[01-04]' in the inventory"),
        (["hosts", "rm", "gpu-01"], "no host named 'gpu-01' in the inventory"),
        (["images", "show", "nosuch"], "no image named 'nosuch'"),
        (["chroots", "show", "nosuch"], "no chroot named 'nosuch'"),
        (["rootfs", "show", "nosuch"], "no root-fs config named 'nosuch'"),
        (
            ["rootfs", "sync", "gpu-setup", "--from", "beosrv-z"],
            "unknown head-node 'beosrv-z' (configured: beosrv-c, beosrv-d)",
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_a_missing_name_is_quoted(config: Path, argv: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"qlutui: {message}\n")
