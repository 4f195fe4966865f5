"""`qlutui init-demo` / `qlutui demo`: a new demo never opens on a broken chroot. Its chroot is
being built from the start (a real build job, killed here once seen), not recorded as ready
without a tree."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from qlutui.cli import main


def test_a_new_demo_builds_its_chroot_with_the_log_in_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = tmp_path / "demo"
    assert main(["init-demo", str(demo)]) == 0
    config = Path(capsys.readouterr().out.strip())
    chroot = tomllib.loads((demo / "state/chroots.toml").read_text())["chroots"]["bookworm-base"]
    job = chroot["job"]
    try:
        assert chroot["state"] == "building" and job
        assert main(["--config", str(config), "jobs", "show", job, "--json"]) == 0
        record = json.loads(capsys.readouterr().out)
        assert record["kind"] == "chroots.create"
        assert record["title"].startswith("Creating chroot bookworm")
        assert main(["--config", str(config), "check"]) == 0  # nothing said ready is missing
        capsys.readouterr()
    finally:
        main(["--config", str(config), "jobs", "kill", job])
        main(["--config", str(config), "jobs", "log", job, "--follow"])  # until it ended
    capsys.readouterr()
    assert main(["--config", str(config), "chroots", "show", "bookworm-base", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "failed"  # killed, and said so
