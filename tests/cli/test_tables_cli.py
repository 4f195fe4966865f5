"""Every plain-text table of the CLI splits with `awk`: one ASCII word per column (only the
last may hold spaces), an empty cell shown as `-`, and the header a word per column too."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.job_records import Plan
from qlutui.cli import main

LISTS = [
    ["images", "list"],
    ["chroots", "list"],
    ["chroots", "list", "--check"],
    ["hosts", "list"],
    ["networks", "list"],
    ["jobs", "list"],
    ["files", "list"],
    ["ssh", "list"],
    ["rootfs", "list"],
    ["audit"],
    ["history", "list", "images"],
]


async def start_job(config: Path) -> None:
    cluster = Cluster.open(config)
    try:
        await cluster.jobs.start(
            "a.kind", "Quick one ...", {"beosrv-c": Plan([{"argv": ["true"]}])}
        )
    finally:
        await cluster.aclose()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = init_demo(tmp_path_factory.mktemp("tables") / "demo")
    asyncio.run(start_job(config))  # a row for `jobs list`
    # a previous version of images.toml for `history list`
    assert (
        main(["--config", str(config), "images", "set", "Legacy-jammy", "--description", "x"]) == 0
    )
    return config


@pytest.mark.parametrize("verb", LISTS, ids=" ".join)
def test_every_row_has_one_word_per_column(
    config: Path, verb: list[str], capsys: pytest.CaptureFixture
) -> None:
    capsys.readouterr()
    assert main(["--config", str(config), *verb]) in (0, 1)
    lines = capsys.readouterr().out.splitlines()
    columns = words(lines[0])  # the header: a word per column, where the column starts
    assert len(columns) > 1 and len(lines) > 1, lines
    for line in lines[1:]:
        assert line.isascii(), line
        assert "<None>" not in line, line
        # every cell but the last is one word, starting under its header
        assert words(line)[: len(columns) - 1] == columns[:-1], line
        assert len(words(line)) >= len(columns), line


def words(line: str) -> list[int]:
    """Where the words of a line start."""
    return [m.start() for m in re.finditer(r"\S+", line)]


def test_images_list_shows_the_version_as_choice_to_release(
    config: Path, capsys: pytest.CaptureFixture
) -> None:
    capsys.readouterr()
    assert main(["--config", str(config), "images", "list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["NAME", "FLAVOUR", "VERSION", "CHROOT", "HOSTS", "WARNINGS"]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["Standard-noble"][2:4] == ["13.1->13.1.1", "-"]
    assert by_name["Standard-bookworm"][2] == "13->13.1.1"
    assert by_name["Legacy-jammy"][2] == "12.0.1"  # pinned: resolves to itself
