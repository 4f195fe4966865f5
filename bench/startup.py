"""Child process of the cold-start scenario (P1): `python -m bench.startup app CONFIG` or
`python -m bench.startup bare`. Prints `ready` once the first screen is mounted and
interactive, then exits at once (teardown is not part of a cold start)."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import ClassVar


def bare_app():
    """A Textual app mounting the widget types of qlutui's Manage menu, and nothing else."""
    from textual.app import App
    from textual.screen import Screen
    from textual.widgets import Footer, OptionList, Static

    class Menu(Screen):
        BINDINGS: ClassVar = [("q", "app.quit", "Quit")]

        def compose(self):
            yield Static("title")
            yield Static("head-nodes")
            yield OptionList(*(f"{i}  entry {i}" for i in range(7)), id="menu")
            yield Footer()

    class Bare(App):
        def get_default_screen(self) -> Screen:
            return Menu()

    return Bare()


def qlutui_app(config: str):
    from qlutui.app import QlutuiApp
    from qlutui.backend.cluster import Cluster

    return QlutuiApp(Cluster.open(config))


async def main(kind: str, config: str | None) -> None:
    app = bare_app() if kind == "bare" else qlutui_app(config or "")
    async with app.run_test(size=(80, 24)) as pilot:
        while not app.screen.query("#menu"):
            await pilot.pause(0.001)
        print("ready", flush=True)
        os._exit(0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
