"""`qlutui check`: exit 0 and a one-line all-clear, or exit 1 and a line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_chroot import present_tree

from qlutui.backend.demo import init_demo
from qlutui.cli import main


def test_check_clean_then_a_typo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = init_demo(tmp_path / "demo")
    present_tree(config)
    state = config.parent / "state"
    assert main(["--config", str(config), "check"]) == 0
    assert capsys.readouterr().out == f"no problem found in {state}\n"
    images = state / "images.toml"
    images.write_text(images.read_text().replace("chroot =", "chrot =", 1))
    assert main(["--config", str(config), "check", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == [
        f"{state}/images.toml: unknown key images.Standard-noble.chrot (not used)"
    ]


def test_an_image_on_a_missing_or_failed_chroot_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bookworm-base says ready but has no tree: check (asking the head-node) and images show
    warn about it and about Standard-bookworm on it; once failed, the image is warned about
    from chroots.toml alone."""
    config = init_demo(tmp_path / "demo")
    state = config.parent / "state"
    assert main(["--config", str(config), "check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{state}/chroots.toml: chroots.bookworm-base: ready, but missing on beosrv-c",
        f"{state}/images.toml: images.Standard-bookworm: chroot 'bookworm-base' cannot be used"
        " (missing on beosrv-c)",
    ]
    assert main(["--config", str(config), "images", "show", "Standard-bookworm"]) == 0
    shown = capsys.readouterr().out
    assert "  warning: chroot 'bookworm-base' cannot be used (missing on beosrv-c)" in shown
    chroots = state / "chroots.toml"
    chroots.write_text(chroots.read_text().replace('state = "ready"', 'state = "failed"'))
    assert main(["--config", str(config), "check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{state}/images.toml: images.Standard-bookworm: chroot 'bookworm-base' is failed"
        " (no usable tree)"
    ]
    assert main(["--config", str(config), "images", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[2].rstrip().endswith("!")  # Standard-bookworm
