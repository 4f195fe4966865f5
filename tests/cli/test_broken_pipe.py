"""A verb whose reader has gone (`qlutui audit | head -1`) ends quietly, as `ls | head` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from qlutui.backend.demo import init_demo


def test_closed_pipe_is_no_error(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "qlutui", "--config", str(config), "audit"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )
    finally:
        os.close(write)
    assert done.stderr == ""  # was "qlutui: [Errno 32] Broken pipe", exit 1
    assert done.returncode == 141  # 128 + SIGPIPE, what a shell reports for `ls | head`
