"""`qlutui images ...` in-process (output, files) and as a subprocess (exit codes, stderr)."""

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


def images(config: Path) -> dict:
    return tomllib.loads((config.parent / "state/images.toml").read_text())["images"]


def run(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), "images", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_list_and_show_json(config: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--config", str(config), "images", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [i["name"] for i in listed] == ["Legacy-jammy", "Standard-bookworm", "Standard-noble"]
    assert listed[2]["version_text"] == "13.1 → 13.1.1 (maintenance releases)"
    assert listed[2]["resolved"] == "13.1.1"
    assert listed[2]["hosts"] == 32
    assert main(["--config", str(config), "images", "show", "Standard-bookworm", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["packages"][0] == "qlustar-module-core-bookworm-amd64-13.1.1"
    assert shown["host_names"][0] == "login-c"
    assert shown["rootfs"] == ["ntp-tweaks", "gpu-setup"]
    assert main(["--config", str(config), "images", "list"]) == 0
    text = capsys.readouterr().out
    assert "Standard-noble     noble     13.1->13.1.1  -              32     0\n" in text


def test_versions_and_upgrade_preview(config: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--config", str(config), "images", "versions", "--flavour", "noble"]) == 0
    out = capsys.readouterr().out
    assert "  13 → 13.1.1 (follows feature releases)\n" in out
    assert "  13.0.0 (pinned)\n" in out
    assert "12" not in out.split("\n", 1)[1]  # noble has no 12.x release
    args = ["--config", str(config), "images", "upgrade-preview", "13.2.0", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "image": "Standard-bookworm",
            "version": "13",
            "from": "13.1.1",
            "to": "13.2.0",
            "rebuild": True,
        }
    ]
    assert main(args[:-1]) == 0  # the text names the images Write Files would rebuild
    assert "\nWrite Files would rebuild: Standard-bookworm (with " in capsys.readouterr().out
    text = config.read_text()
    config.write_text(text[: text.index("[images]")] + "[images]\nrebuild = []\n")
    assert main(args) == 0 and json.loads(capsys.readouterr().out)[0]["rebuild"] is False
    assert main(args[:-1]) == 0 and "rebuild" not in capsys.readouterr().out


def test_changes(config: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["--config", str(config), "images"]
    new = ["new", "Gpu", "--flavour", "noble", "--version", "13", "--module", "nvidia"]
    assert main([*base, *new, "--postinst", "gpu.sh", "--description", "GPU"]) == 0
    assert images(config)["Gpu"]["modules"] == ["core", "nvidia"]
    assert main([*base, "add-module", "Gpu", "ws-nvidia"]) == 0
    assert main([*base, "rm-module", "Gpu", "nvidia"]) == 0
    assert main([*base, "set", "Gpu", "--chroot", "bookworm-base", "--force"]) == 0
    assert main([*base, "set", "Gpu", "--version", "13.1.0", "--rootfs", "gpu-setup"]) == 0
    gpu = images(config)["Gpu"]
    assert (gpu["modules"], gpu["chroot"], gpu["version"], gpu["rootfs"]) == (
        ["core", "ws-nvidia"],
        "bookworm-base",
        "13.1.0",
        ["gpu-setup"],
    )
    assert main([*base, "set", "Gpu", "--no-chroot"]) == 0
    assert images(config)["Gpu"]["chroot"] == ""
    assert main([*base, "rename", "Gpu", "Gpu2"]) == 0
    assert main([*base, "rm", "Gpu2"]) == 0
    assert "Gpu2" not in images(config)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["rm", "Standard-noble"], "is still used by 32 hosts: beo-[01-32]"),
        (["rm-module", "Standard-noble", "core"], "module 'core' is part of every image"),
        (["add-module", "Standard-noble", "lustre-client"], "'lustre-client' is not available"),
        (["set", "Standard-noble", "--chroot", "bookworm-base"], "the image is noble"),
        (["set", "Standard-noble", "--version", "12"], "version 12 matches no release for noble"),
        (["new", "a/b", "--flavour", "noble", "--version", "13"], "invalid image name 'a/b'"),
        (["rename", "Legacy-jammy", "Standard-noble"], "'Standard-noble' exists already"),
        (["show", "Nope"], "no image named 'Nope'"),
    ],
)
def test_refusals_exit_1_and_change_nothing(config: Path, args: list[str], reason: str) -> None:
    state = config.parent / "state"
    before = {p.name: p.read_bytes() for p in state.glob("*.toml")}
    result = run(config, *args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("qlutui: ") and reason in result.stderr
    assert result.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in state.glob("*.toml")} == before


def test_bad_usage_exits_2(config: Path) -> None:
    result = run(config, "set", "Standard-noble", "--chroot", "x", "--no-chroot")
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr


def test_an_unknown_argument_gets_the_usage_of_its_own_verb(config: Path) -> None:
    done = run(config, "versions", "Standard-noble")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: qlutui images versions [-h] [--flavour FLAVOUR]")
    assert done.stderr.endswith(
        "qlutui images versions: error: unrecognized arguments: Standard-noble\n"
    )
