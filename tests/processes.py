"""Whether a process still runs, and a bounded wait for it to end."""

from __future__ import annotations

import time
from pathlib import Path

STEP_S = 0.02


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper does not count)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone(pid: int, seconds: float = 5.0) -> bool:
    """True once `pid` has ended. A job's rc file is written just before its runner
    exits, and a signalled process dies when next scheduled: both take a moment."""
    for _ in range(int(seconds / STEP_S)):
        if not alive(pid):
            return True
        time.sleep(STEP_S)
    return not alive(pid)
