"""A cluster fresh from `qlutui init` (a local head-node, its dnsmasq.hosts imported) driven
by the keyboard alone at 80x24: a new image from the catalog init wrote, set on two hosts,
written by Write Files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.pilot import Pilot
from waiting import on_screen, until

from qlutui.app import QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.cli import main
from qlutui.screens.hosts import HostsScreen
from qlutui.screens.images import ImagesScreen
from qlutui.screens.write_files import WriteFilesScreen
from qlutui.widgets.dialogs import Confirm, ErrorDialog, FormDialog

SIZE = (80, 24)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/dnsmasq.hosts").write_text(
        "# Network: Boot\n10.1.0.1 beo-01\n10.1.0.2 beo-02\n10.1.0.3 beo-03\n"
    )
    config = tmp_path / "c/config.toml"
    assert main(["init", str(config.parent), "--headnode", f"hn=local:{root}", "--import"]) == 0
    with config.open("a") as text:
        text.write("\n[images]\nrebuild = []\n")  # the head-node has no image tools
    return config


@pytest.fixture
async def cluster(config: Path):
    cluster = Cluster.open(config)
    yield cluster
    await cluster.aclose()


def state(cluster: Cluster, area: str) -> dict:
    return tomllib.loads((cluster.config.state_dir / f"{area}.toml").read_text())


async def opened(pilot: Pilot, key: str, kind: type) -> object:
    await pilot.press(key)
    await on_screen(pilot, kind, kind.__name__)
    return pilot.app.screen


async def test_an_image_from_the_catalog_on_two_hosts_written(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        images = await opened(pilot, "i", ImagesScreen)
        await until(pilot, lambda: images.state is not None, "the images to load")
        await pilot.press("n")
        await on_screen(pilot, FormDialog, "the New image form")
        await pilot.press(*"Compute", "ctrl+s")  # the catalog's defaults: noble 13.1
        await until(pilot, lambda: "Compute" in state(cluster, "images").get("images", {}), "it")
        assert state(cluster, "images")["images"]["Compute"]["flavour"] == "noble"
        await until(pilot, lambda: app.screen is images, "the form to close")

        await pilot.press("escape")
        hosts = await opened(pilot, "h", HostsScreen)
        await until(pilot, lambda: hosts.state is not None, "the inventory to load")
        await pilot.press("space", "space", "i")  # beo-01, beo-02
        await on_screen(pilot, FormDialog, "the image form")
        await pilot.press("tab", "enter", "down", "enter", "ctrl+s")
        await on_screen(pilot, Confirm, "the preview")
        await pilot.press("y")
        await until(
            pilot,
            lambda: (
                [h.get("image") for h in state(cluster, "inventory")["hosts"]]
                == ["Compute", "Compute", None]
            ),
            "the image on beo-01 and beo-02",
        )

        await pilot.press("escape")
        await opened(pilot, "w", WriteFilesScreen)
        await pilot.press("end", "space", "s")  # the image's file, the last row
        await on_screen(pilot, Confirm, "the write's confirmation")
        await pilot.press("y")
        written = cluster.config.headnodes[0].root / "etc/qlustar/images/Compute/qlutui.conf"
        await until(pilot, written.exists, "the image's file on the head-node")
        await until(pilot, lambda: 'hosts = "beo-[01-02]"\n' in written.read_text(), "its hosts")


def test_an_empty_catalog_says_so_in_the_cli(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (config.parent / "state/catalog.toml").write_text("# emptied by hand\n")
    argv = ["--config", str(config), "images", "new", "X", "--flavour", "noble", "--version", "13"]
    assert main(argv) == 1
    assert capsys.readouterr().err == (
        "qlutui: unknown flavour 'noble' (catalog.toml defines none)\n"
    )


async def test_an_empty_catalog_says_so_in_the_new_form(config: Path) -> None:
    (config.parent / "state/catalog.toml").write_text("# emptied by hand\n")
    cluster = Cluster.open(config)
    try:
        app = QlutuiApp(cluster)
        async with app.run_test(size=SIZE) as pilot:
            images = await opened(pilot, "i", ImagesScreen)
            await until(pilot, lambda: images.state is not None, "the images to load")
            await pilot.press("n")
            error = await on_screen(pilot, ErrorDialog, "the error")
            assert "defines none" in error.message
    finally:
        await cluster.aclose()
