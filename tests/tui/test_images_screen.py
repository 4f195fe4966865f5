"""The Images screen driven by the keyboard only, on a real demo cluster; plus its snapshot."""

from __future__ import annotations

import tomllib

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Select
from waiting import on_screen, until

from qlutui.app import QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.screens.images import ImagesScreen, ImageTree
from qlutui.widgets.dialogs import Confirm, ErrorDialog, FormDialog

SIZE = (80, 24)


pytestmark = pytest.mark.usefixtures("plain_terminal")


def images(cluster: Cluster) -> dict:
    return tomllib.loads((cluster.config.state_dir / "images.toml").read_text())["images"]


async def open_images(pilot: Pilot) -> ImagesScreen:
    await pilot.press("i")
    await on_screen(pilot, ImagesScreen, "the Images screen")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.state is not None, "the images to load")
    return screen


def labels(screen: ImagesScreen, image: str) -> list[str]:
    node = next(n for n in screen.query_one(ImageTree).root.children if n.data.image == image)
    return [str(child.label) for child in node.children]


async def dialog(pilot: Pilot, kind: type) -> object:
    await on_screen(pilot, kind, kind.__name__)
    return pilot.app.screen


async def test_keyboard_walkthrough(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_images(pilot)

        # new image: name typed, the other fields keep their defaults (noble, 13.1, <None>)
        await pilot.press("n")
        form = await dialog(pilot, FormDialog)
        await pilot.press(*"Test-img", "ctrl+s")
        await until(pilot, lambda: "Test-img" in images(cluster), "the new image on disk")
        assert images(cluster)["Test-img"] == {
            "flavour": "noble",
            "version": "13.1",
            "chroot": "",
            "modules": ["core"],
            "postinst": "",
            "description": "",
            "rootfs": [],
        }
        await until(pilot, lambda: app.screen is screen, "the form to close")
        assert screen.query_one(ImageTree).cursor_node.data.image == "Test-img"
        await pilot.press("space")  # expand it
        await until(pilot, lambda: labels(screen, "Test-img"), "the image's fields")
        assert "Version: 13.1 → 13.1.1 (maintenance releases)" in labels(screen, "Test-img")

        # add module: only modules not chosen and offered for noble 13.1.1
        await pilot.press("a")
        form = await dialog(pilot, FormDialog)
        offered = [value for _, value in form.fields[0].options]
        assert offered == screen.service.addable_modules(screen.state, "Test-img")
        assert "core" not in offered and "lustre-client" not in offered
        assert offered[:2] == ["beegfs-7-client", "beegfs-7-server"]
        await pilot.press("enter", "down", "enter", "ctrl+s")
        await until(pilot, lambda: len(images(cluster)["Test-img"]["modules"]) == 2, "a module")
        assert images(cluster)["Test-img"]["modules"] == ["core", "beegfs-7-server"]

        # remove module: core is not offered (it stays in every image)
        await until(pilot, lambda: app.screen is screen, "the form to close")
        await pilot.press("x")
        form = await dialog(pilot, FormDialog)
        assert [value for _, value in form.fields[0].options] == ["beegfs-7-server"]
        await pilot.press("escape")
        assert images(cluster)["Test-img"]["modules"] == ["core", "beegfs-7-server"]

        # chroot of another flavour: confirmation, then marked in the tree; then <None>
        await until(pilot, lambda: app.screen is screen, "the error to close")
        await pilot.press("c")
        await dialog(pilot, FormDialog)
        await pilot.press("enter", "down", "enter", "ctrl+s")
        confirm = await dialog(pilot, Confirm)
        assert "bookworm" in confirm.detail and "noble" in confirm.detail
        await pilot.press("escape")  # declined: back to the form as it was filled
        form = await dialog(pilot, FormDialog)
        assert form.query_one(Select).value == "bookworm-base"
        await pilot.press("ctrl+s")
        await dialog(pilot, Confirm)
        await pilot.press("y")
        await until(pilot, lambda: images(cluster)["Test-img"]["chroot"], "the chroot")
        assert images(cluster)["Test-img"]["chroot"] == "bookworm-base"
        await until(pilot, lambda: app.screen is screen, "the confirmation to close")
        assert "UnionFS Chroot: bookworm-base (!) flavour differs" in labels(screen, "Test-img")
        await pilot.press("c")
        await dialog(pilot, FormDialog)
        await pilot.press("enter", "up", "enter", "ctrl+s")
        await until(pilot, lambda: not images(cluster)["Test-img"]["chroot"], "<None>")
        await until(pilot, lambda: app.screen is screen, "the form to close")
        assert "UnionFS Chroot: <None>" in labels(screen, "Test-img")

        # version: from 13.1 up to 13 (offered first); the tree shows the resolution
        await pilot.press("v")
        form = await dialog(pilot, FormDialog)
        assert [v for _, v in form.fields[0].options][:4] == ["13", "13.0", "13.0.0", "13.1"]
        await pilot.press("enter", "up", "up", "up", "enter", "ctrl+s")
        await until(pilot, lambda: images(cluster)["Test-img"]["version"] == "13", "version 13")
        await until(pilot, lambda: app.screen is screen, "the form to close")
        assert "Version: 13 → 13.1.1 (follows feature releases)" in labels(screen, "Test-img")

        # delete with confirmation
        tree = screen.query_one(ImageTree)
        await until(pilot, lambda: tree.cursor_node is not None, "a cursor")
        await pilot.press("d")
        confirm = await dialog(pilot, Confirm)
        assert confirm.question == "Really delete image 'Test-img'?"
        await pilot.press("y")
        await until(pilot, lambda: "Test-img" not in images(cluster), "the image to go")

        # filter by typing, then a refused delete of an image in use (hosts listed)
        await until(pilot, lambda: app.screen is screen, "the confirmation to close")
        await pilot.press("slash", *"noble", "enter")
        await until(pilot, lambda: len(tree.root.children) == 1, "the filter")
        assert tree.cursor_node.data.image == "Standard-noble"
        await pilot.press("d")
        error = await dialog(pilot, ErrorDialog)
        assert error.message == "image 'Standard-noble' is still used by 32 hosts: beo-[01-32]"
        await pilot.press("enter")
        assert "Standard-noble" in images(cluster)


async def test_conflict_reloads(cluster: Cluster) -> None:
    """The file changes under the open form (no reload under it): the save is refused."""
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_images(pilot)
        await pilot.press("down", "down", "e")  # Standard-noble: edit the description
        await dialog(pilot, FormDialog)
        path = cluster.config.state_dir / "images.toml"
        path.write_text(path.read_text().replace('"Compute nodes"', '"by another admin"'))
        await pilot.press("ctrl+a", *"mine", "ctrl+s")
        await until(pilot, lambda: app.screen is screen, "the form to close")
        await until(
            pilot,
            lambda: screen.state.images["Standard-noble"].description == "by another admin",
            "the reload",
        )
        assert images(cluster)["Standard-noble"]["description"] == "by another admin"
        assert [n.message for n in app._notifications] == [
            "images.toml was changed meanwhile (by another admin or the CLI): reloaded,"
            " nothing saved; try again"
        ]


async def test_a_refused_new_image_opens_its_form_again_then_creates(cluster: Cluster) -> None:
    """A description pasted with a direction override in it: the refusal, then the form as
    it was filled (the name too); the description fixed, the image is created."""
    before = (cluster.config.state_dir / "images.toml").read_bytes()
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_images(pilot)
        await pilot.press("n")
        form = await dialog(pilot, FormDialog)
        await pilot.press(*"Lab-img")
        description = form.query_one("#field-description", Input)
        description.focus()
        description.post_message(events.Paste("Lab\u202enodes"))
        await until(pilot, lambda: description.value == "Lab\u202enodes", "the paste")
        await pilot.press("ctrl+s")
        error = await dialog(pilot, ErrorDialog)
        assert error.message.startswith("description: must be one line without control")
        await pilot.press("enter")
        form = await dialog(pilot, FormDialog)
        assert form.query_one("#field-name", Input).value == "Lab-img"
        assert form.query_one("#field-description", Input).value == "Lab\u202enodes"
        assert (cluster.config.state_dir / "images.toml").read_bytes() == before
        form.query_one("#field-description", Input).focus()
        await pilot.press("ctrl+a", "ctrl+k", *"Lab nodes", "ctrl+s")
        await until(pilot, lambda: "Lab-img" in images(cluster), "the new image on disk")
        assert images(cluster)["Lab-img"]["description"] == "Lab nodes"
        await until(pilot, lambda: app.screen is screen, "the form to close")


def test_snapshot(cluster: Cluster, snap_compare) -> None:
    async def expand(pilot: Pilot) -> None:
        screen = await open_images(pilot)
        await pilot.press("down", "space", "down", "down", "down", "down", "space")
        await until(pilot, lambda: len(labels(screen, "Standard-bookworm")) > 5, "the fields")
        await pilot.pause()

    assert snap_compare(QlutuiApp(cluster), terminal_size=SIZE, run_before=expand)


async def test_remove_module_offers_every_module_but_core(cluster: Cluster) -> None:
    async with QlutuiApp(cluster).run_test(size=(80, 24)) as pilot:
        await open_images(pilot)  # the cursor on Legacy-jammy: core, lustre-client
        await pilot.press("x")
        form = await dialog(pilot, FormDialog)
        assert [value for _, value in form.fields[0].options] == ["lustre-client"]
        await pilot.press("escape")
    await cluster.aclose()


async def test_the_upgrade_preview_follows_a_rename_and_a_delete(cluster: Cluster) -> None:
    """The preview shown is the one of the images as they are now: after a rename it names
    the new name, after a delete the image is gone from it."""
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_images(pilot)
        info = screen.query_one("#images-info")

        def preview() -> str:
            return str(info.render())

        await pilot.press("n")  # Test-img: noble 13.1, no host (so it can be deleted)
        await dialog(pilot, FormDialog)
        await pilot.press(*"Test-img", "ctrl+s")
        await until(pilot, lambda: "Test-img" in images(cluster), "the new image on disk")
        await until(pilot, lambda: app.screen is screen, "the form to close")
        await pilot.press("u")
        await dialog(pilot, FormDialog)
        await pilot.press(*"13.1.2", "ctrl+s")
        await until(pilot, lambda: "Test-img:" in preview(), "the preview")
        assert "Test-img: 13.1.1 -> 13.1.2 (version 13.1)" in preview().splitlines()
        await until(pilot, lambda: app.screen is screen, "the form to close")
        await pilot.press("r")  # the cursor is on Test-img
        await dialog(pilot, FormDialog)
        await pilot.press("ctrl+u", *"Other-img", "ctrl+s")
        await until(pilot, lambda: "Other-img" in images(cluster), "the rename on disk")
        await until(pilot, lambda: "Other-img:" in preview(), "the preview of the new name")
        assert "Test-img" not in preview()
        await until(pilot, lambda: app.screen is screen, "the form to close")
        await pilot.press("d")
        await dialog(pilot, Confirm)
        await pilot.press("y")
        await until(pilot, lambda: "Other-img" not in images(cluster), "the delete")
        await until(pilot, lambda: "Other-img" not in preview(), "the preview without it")
        assert "Standard-noble:" in preview()


async def test_escape_closes_the_upgrade_preview_before_leaving(cluster: Cluster) -> None:
    """Escape first clears the filter, then closes the preview, only then leaves."""
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_images(pilot)
        info = screen.query_one("#images-info")
        await pilot.press("u")
        await dialog(pilot, FormDialog)
        await pilot.press(*"13.1.2", "enter")
        await until(pilot, lambda: info.has_class("-shown"), "the preview")
        await until(pilot, lambda: app.screen is screen, "the form to close")
        await pilot.press("slash", *"noble")
        await pilot.press("escape")  # the filter first
        assert app.screen is screen and screen.query_one("#images-filter").value == ""
        assert info.display
        await pilot.press("escape")  # then the preview
        assert app.screen is screen and not info.display
        await pilot.press("escape")  # then the screen
        await until(pilot, lambda: app.screen is not screen, "back to the menu")


async def test_right_and_left_unfold_and_fold(cluster: Cluster) -> None:
    """As the help screen says: right unfolds an image (then steps into it), left goes back
    to the image (then folds it). Textual's Tree binds neither key."""
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_images(pilot)
        tree = screen.query_one(ImageTree)
        await pilot.press("down")  # Standard-bookworm (Legacy-jammy sorts first)
        image = tree.cursor_node
        assert image is not None and not image.is_expanded
        await pilot.press("right")
        await until(pilot, lambda: image.is_expanded, "right to unfold the image")
        assert "Flavour: bookworm" in labels(screen, image.data.image)
        await pilot.press("right")
        await until(pilot, lambda: tree.cursor_node is image.children[0], "right: into it")
        await pilot.press("left")
        await until(pilot, lambda: tree.cursor_node is image, "left: back to the image")
        await pilot.press("left")
        await until(pilot, lambda: not image.is_expanded, "left to fold the image")


async def test_chroot_choices_name_a_failed_build(cluster: Cluster) -> None:
    """A failed build has no tree: the drop-down says so instead of offering it as if ready."""
    chroots = cluster.config.state_dir / "chroots.toml"
    chroots.write_text(chroots.read_text().replace('state = "ready"', 'state = "failed"', 1))
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await open_images(pilot)
        await pilot.press("n")
        form = await dialog(pilot, FormDialog)
        field = next(f for f in form.fields if f.name == "chroot")
        choices = [label for label, _ in field.options]
        assert "bookworm-base (bookworm 13.1, failed)" in choices
