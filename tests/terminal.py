"""A real terminal for the tests: programs in tmux panes on a private tmux server (its own
socket), what each pane shows, keys sent one by one or in one write (a burst: a paste, a
slow SSH link), and bounded waits for text. The `tmux` fixture (tests/conftest.py) kills the
server, and every program in it, at the end of the test."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from waiting import wait_for

SIZE = (80, 24)
# Keys as a terminal sends them, for bursts (`Pane.burst`); `Pane.keys` takes tmux's names.
ENTER, TAB, UP, DOWN, CTRL_S, ESC = "\r", "\t", "\x1b[A", "\x1b[B", "\x13", "\x1b"
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def qlutui(config: Path, *args: str) -> str:
    """The shell words that run qlutui (this test's Python) on `config`."""
    return shlex.join([sys.executable, "-m", "qlutui", "--config", str(config), *args])


def colours(screen: str) -> set[str]:
    """The colour parameters of the SGR sequences in a `capture-pane -e` text (30-49, 90-107,
    38;... and 48;...); 39 and 49, the terminal's own colours, are no colour."""
    found = set()
    for params in SGR.findall(screen):
        for code in (int(p) for p in params.split(";") if p):
            if (30 <= code <= 48 or 90 <= code <= 107) and code not in (39, 49):
                found.add(str(code))
    return found


def reversed_runs(line: str) -> list[str]:
    """The texts that a `capture-pane -e` line draws in reverse video (SGR 7 until a reset)."""
    runs, current, on = [], "", False
    for i, piece in enumerate(SGR.split(line)):  # text, params, text, params, ...
        if i % 2:
            codes = [int(p) for p in piece.split(";") if p] or [0]
            if 0 in codes or 27 in codes:
                if on and current:
                    runs.append(current)
                current, on = "", False
            if 7 in codes:
                on = True
        elif on:
            current += piece
    if on and current:
        runs.append(current)
    return runs


class Tmux:
    """A private tmux server; `tmux(*args)` runs one tmux command on it."""

    def __init__(self, socket: Path) -> None:
        self.socket = str(socket)

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(
        self,
        name: str,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        size: tuple[int, int] = SIZE,
    ) -> Pane:
        """`command` (shell text) in a new session `name` of `size`, with `env` added."""
        words = ["env", *(f"{k}={v}" for k, v in (env or {}).items()), "sh", "-c", command]
        width, height = size
        self(
            "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), shlex.join(words)
        )
        return Pane(self, name)

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=10)


class Pane:
    """The pane of one tmux session: what it shows, keys into it."""

    def __init__(self, tmux: Tmux, name: str) -> None:
        self.tmux = tmux
        self.name = name

    def screen(self, *, escapes: bool = False) -> str:
        """The text shown (`escapes`: with its SGR sequences: colours, reverse video)."""
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.name)

    def keys(self, *keys: str) -> None:
        """Keys by tmux's names (Enter, Escape, BTab, Down, C-s), or literal words."""
        self.tmux("send-keys", "-t", self.name, *keys)

    def burst(self, text: str) -> None:
        """`text` written to the terminal in one write, escape sequences and all."""
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def wait(self, what: str, *texts: str, gone: tuple[str, ...] = (), seconds: float = 20) -> str:
        """Until the screen shows every one of `texts` and none of `gone`; that screen."""

        def shown() -> str | None:
            screen = self.screen()
            ok = all(t in screen for t in texts) and not any(t in screen for t in gone)
            return screen if ok else None

        try:
            return str(wait_for(what, shown, seconds))
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen:\n{self.screen()}") from None

    def pid(self) -> int:
        """The pid of the shell the pane runs."""
        return int(self.tmux("display-message", "-p", "-t", self.name, "#{pane_pid}"))
