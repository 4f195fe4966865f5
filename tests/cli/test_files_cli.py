"""`qlutui files ...` (and its `ssh` aliases) as a script uses it: exit codes, what is
written and audited, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qlutui.backend.demo import init_demo


@pytest.fixture
def config(tmp_path: Path) -> Path:
    config = init_demo(tmp_path / "demo")
    text = config.read_text()
    config.write_text(text[: text.index("[images]")] + "[images]\nrebuild = []\n")  # no rebuild
    return config


def qlutui(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def writes(config: Path) -> int:
    log = config.parent / "state/audit.log"
    audit = log.read_text().splitlines() if log.exists() else []
    return sum("\tfile.write\t" in line for line in audit)


def test_write_only_what_changed_unless_all(config: Path) -> None:
    assert qlutui(config, "files", "diff").returncode == 1  # everything is missing
    first = qlutui(config, "files", "write", "hosts", "ssh")
    assert first.returncode == 0, first.stderr
    assert writes(config) == 12  # 5 SSH destinations + 1 hosts table, on each head-node
    again = qlutui(config, "files", "write", "hosts", "ssh")
    assert again.returncode == 0 and "nothing to write" in again.stdout
    assert writes(config) == 12
    assert qlutui(config, "files", "diff", "hosts", "ssh").returncode == 0
    alias = qlutui(config, "ssh", "write", "known_hosts", "--all", "--json")
    assert alias.returncode == 0, alias.stderr
    result = json.loads(alias.stdout)
    assert [j["state"] for j in result["jobs"]] == ["Success"]
    assert {f["file"] for f in result["files"]} == {"known_hosts"} and len(result["files"]) == 4
    assert writes(config) == 16


def test_render_and_list(config: Path) -> None:
    rendered = qlutui(config, "files", "render", "images/Standard-noble")
    assert rendered.returncode == 0 and 'hosts = "beo-[01-32]"\n' in rendered.stdout
    listed = json.loads(qlutui(config, "files", "list", "images", "--json").stdout)
    assert [f["file"] for f in listed] == [
        "images/Legacy-jammy",
        "images/Standard-bookworm",
        "images/Standard-noble",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["files", "diff", "passwd"], "unknown class or file 'passwd' (known: ssh, hosts, images"),
        (["files", "render", "images"], "'images' is a class: name one of its files"),
        (["ssh", "diff", "hosts"], "unknown class or file 'hosts' (known: ssh, known_hosts"),
    ],
)
def test_unknown_names_are_one_line(config: Path, args: list[str], message: str) -> None:
    result = qlutui(config, *args)
    assert result.returncode == 1
    assert result.stderr.startswith(f"qlutui: {message}") and len(result.stderr.splitlines()) == 1
    assert writes(config) == 0
