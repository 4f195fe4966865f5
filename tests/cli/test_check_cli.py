"""`qlutui check`: exit 0 and a one-line all-clear, or exit 1 and a line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qlutui.backend.demo import init_demo
from qlutui.cli import main


def test_check_clean_then_a_typo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = init_demo(tmp_path / "demo")
    state = config.parent / "state"
    assert main(["--config", str(config), "check"]) == 0
    assert capsys.readouterr().out == f"no problem found in {state}\n"
    images = state / "images.toml"
    images.write_text(images.read_text().replace("chroot =", "chrot =", 1))
    assert main(["--config", str(config), "check", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == [
        f"{state}/images.toml: unknown key images.Standard-noble.chrot (not used)"
    ]
