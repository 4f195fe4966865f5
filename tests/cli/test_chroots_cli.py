"""`qlutui chroots ...` on a real demo cluster: output, files on disk, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from qlutui.backend.demo import init_demo
from qlutui.cli import main


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return init_demo(tmp_path / "demo")


def chroots(config: Path) -> dict:
    return tomllib.loads((config.parent / "state/chroots.toml").read_text())["chroots"]


def qlutui(config: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), "chroots", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )


def small_tree(config: Path) -> Path:
    """Give the demo's bookworm-base a (tiny) tree on beosrv-c."""
    root = config.parent / "headnodes/beosrv-c/srv/apps/chroots/bookworm-base"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=debian\n")
    return root


def test_list_and_show_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "chroots", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in listed] == ["bookworm-base"]
    assert listed[0]["images"] == ["Standard-bookworm"]
    assert main(["--config", str(config), "chroots", "show", "bookworm-base", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["present"] is False and shown["problem"] == "missing on beosrv-c"


def test_list_check_marks_missing_trees_and_exits_1(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", str(config), "chroots", "list", "--check"]
    assert main(argv) == 1
    listed = capsys.readouterr().out
    assert "  ready  /srv/apps/chroots/bookworm-base  missing on beosrv-c\n" in listed
    tree = config.parent / "headnodes/beosrv-c/srv/apps/chroots/bookworm-base"
    tree.mkdir(parents=True)
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["problem"] == ""


def test_rm_refused_while_used(config: Path) -> None:
    before = (config.parent / "state/chroots.toml").read_bytes()
    result = qlutui(config, "rm", "bookworm-base")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "qlutui: chroot 'bookworm-base' is still being used by the following Qlustar Images: "
        "Standard-bookworm"
    )
    assert (config.parent / "state/chroots.toml").read_bytes() == before


def test_edit_description(config: Path) -> None:
    assert qlutui(config, "edit", "bookworm-base", "--description", "new text").returncode == 0
    assert chroots(config)["bookworm-base"]["description"] == "new text"


def test_new_refused_for_bad_input(config: Path) -> None:
    result = qlutui(config, "new", "../x", "--flavour", "bookworm", "--version", "13.1")
    assert result.returncode == 1 and "invalid chroot name '../x'" in result.stderr
    result = qlutui(config, "new", "j", "--flavour", "jammy", "--version", "13.1")
    assert result.returncode == 1
    assert "no chroot builder for ubuntu (flavour jammy)" in result.stderr
    assert list(chroots(config)) == ["bookworm-base"]


def test_clone_streams_the_log_and_rename_repoints(config: Path) -> None:
    small_tree(config)
    result = qlutui(config, "clone", "bookworm-base", "copy", "--description", "c")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Cloning chroot bookworm-base on beosrv-c: to copy ...\n")
    assert "Success: Cloning chroot" in result.stdout
    copy = config.parent / "headnodes/beosrv-c/srv/apps/chroots/copy"
    assert (copy / "etc/os-release").read_text() == "ID=debian\n"
    assert chroots(config)["copy"]["state"] == "ready"

    result = qlutui(config, "rename", "bookworm-base", "base2")
    assert result.returncode == 0, result.stderr
    assert "images repointed to base2 on success: Standard-bookworm" in result.stdout
    assert set(chroots(config)) == {"base2", "copy"}
    images = tomllib.loads((config.parent / "state/images.toml").read_text())["images"]
    assert images["Standard-bookworm"]["chroot"] == "base2"


def test_failed_job_exits_1(config: Path) -> None:
    # bookworm-base has no tree: the copy fails, the clone is marked failed
    result = qlutui(config, "clone", "bookworm-base", "copy")
    assert result.returncode == 1
    assert "Failed" in result.stdout
    assert chroots(config)["copy"]["state"] == "failed"
    assert not (config.parent / "headnodes/beosrv-c/srv/apps/chroots/copy.partial").exists()


def test_rename_of_a_missing_tree_is_refused_and_changes_nothing(config: Path) -> None:
    """bookworm-base is ready but has no tree: the rename is refused before any job, and the
    chroot stays ready (a failed copy used to mark it failed)."""
    before = (config.parent / "state/chroots.toml").read_text()
    result = qlutui(config, "rename", "bookworm-base", "base2")
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "chroot 'bookworm-base' cannot be renamed (missing on beosrv-c); nothing changed"
    )
    assert "repointed" not in result.stdout
    assert (config.parent / "state/chroots.toml").read_text() == before
    assert not list((config.parent / "state/jobs").glob("*"))
