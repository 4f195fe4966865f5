"""`qlutui history list|diff|restore`: previous versions of a state file, put back as an
audited, conflict-checked edit that is itself undoable."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from tiny_chroot import present_tree

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.history import HistoryService
from qlutui.cli import main
from qlutui.errors import ConflictError


@pytest.fixture
def config(tmp_path: Path) -> Path:
    config = init_demo(tmp_path / "demo")
    present_tree(config)  # check: nothing but the state files to report
    return config


def qlutui(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def description(config: Path) -> str:
    images = tomllib.loads((config.parent / "state/images.toml").read_text())["images"]
    return images["Standard-noble"]["description"]


def test_list_diff_restore_and_undo(config: Path, capsys: pytest.CaptureFixture) -> None:
    first = description(config)
    assert main(["--config", str(config), "history", "list", "images"]) == 0
    assert capsys.readouterr().out == "images.toml has no previous version\n"
    for text in ("second", "third"):
        args = ["images", "set", "Standard-noble", "--description", text]
        assert main(["--config", str(config), *args]) == 0
    capsys.readouterr()

    assert main(["--config", str(config), "history", "list", "images.toml", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in listed] == [1, 2]
    assert main(["--config", str(config), "history", "diff", "images", "2"]) == 0
    diff = capsys.readouterr().out
    assert f'-description = "third"\n+description = "{first}"\n' in diff

    assert main(["--config", str(config), "history", "restore", "images", "2"]) == 0
    assert "restored images.toml version 2" in capsys.readouterr().out
    assert description(config) == first
    # the restore kept what it replaced: version 1 is now "third", and restoring it undoes
    assert main(["--config", str(config), "history", "restore", "images", "1"]) == 0
    assert description(config) == "third"
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "-n", "2", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in events] == ["state.restore", "state.restore"]


def test_restore_mends_a_malformed_file(config: Path) -> None:
    assert main(["--config", str(config), "images", "rm", "Legacy-jammy"]) == 0
    images = config.parent / "state/images.toml"
    images.write_text("[images\n")  # broken by hand
    assert qlutui(config, "check").returncode == 1
    result = qlutui(config, "history", "restore", "images")
    assert result.returncode == 0, result.stderr
    assert "Legacy-jammy" in tomllib.loads(images.read_text())["images"]
    assert qlutui(config, "check").returncode == 0


def test_restore_refuses_when_the_file_changed_meanwhile(config: Path) -> None:
    assert main(["--config", str(config), "images", "rm", "Legacy-jammy"]) == 0
    cluster = Cluster.open(config)
    service = HistoryService(cluster)
    token = service.token("images")
    version = service.version("images", 1)
    assert qlutui(config, "images", "set", "Standard-noble", "--description", "x").returncode == 0
    before = (config.parent / "state/images.toml").read_bytes()
    with pytest.raises(ConflictError, match="changed by someone else"):
        service.restore(version, token)
    assert (config.parent / "state/images.toml").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history", "list", "passwd"], "unknown state file 'passwd'"),
        (["history", "diff", "images"], "images.toml has no previous version"),
        (["history", "restore", "../images"], "unknown state file '../images'"),
    ],
)
def test_bad_arguments_are_one_line(config: Path, args: list[str], message: str) -> None:
    before = sorted(p.name for p in (config.parent / "state").iterdir())
    result = qlutui(config, *args)
    assert result.returncode == 1
    assert result.stderr == f"qlutui: {message}" + result.stderr.split(message, 1)[1]
    assert len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in (config.parent / "state").iterdir()) == before


def test_a_version_out_of_range(config: Path) -> None:
    assert main(["--config", str(config), "images", "rm", "Legacy-jammy"]) == 0
    result = qlutui(config, "history", "diff", "images", "3")
    assert result.returncode == 1
    assert result.stderr.strip() == "qlutui: images.toml has versions 1..1 (1 = newest), not 3"
    assert qlutui(config, "history", "diff", "images", "x").returncode == 2
