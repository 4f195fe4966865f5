"""`qlutui rootfs ...` in-process (output, files) and as a subprocess (exit codes, stderr)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from qlutui.backend.demo import HEADNODES, init_demo
from qlutui.cli import main

BASE = "var/lib/qlustar/root-fs"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return init_demo(tmp_path / "demo")


def on(config: Path, headnode: str, rel: str) -> Path:
    return config.parent / "headnodes" / headnode / BASE / rel


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), "rootfs", *args])


def run(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), "rootfs", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def test_list_and_show(config: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(config, "list", "--json") == 0
    listed = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert listed["gpu-setup"]["status"] == "differs: beosrv-c | beosrv-d"
    assert listed["ntp-tweaks"] | {"description": ""} == {
        "name": "ntp-tweaks",
        "description": "",
        "files": 2,
        "size": 144,
        "images": ["Standard-bookworm", "Standard-noble"],
        "present": ["beosrv-c", "beosrv-d"],
        "missing": [],
        "agree": True,
        "status": "in sync",
    }
    assert cli(config, "show", "gpu-setup") == 0
    out = capsys.readouterr().out
    assert "    differs: etc/modprobe.d/nvidia.conf" in out
    assert "    0644       52 /lib/qlustar/init.d/40-fabric-check" in out


def test_new_put_cat_ls_chmod_mkdir_rm(config: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(config, "new", "site", "--description", "Site files", "--init-d") == 0
    assert "created root-fs config site on beosrv-c, beosrv-d" in capsys.readouterr().out
    source = config.parent / "hello.sh"
    source.write_text("#!/bin/sh\necho hi\n")
    assert cli(config, "put", "site", "lib/qlustar/init.d/10-hello", "--from", str(source)) == 0
    assert cli(config, "chmod", "site", "lib/qlustar/init.d/10-hello", "755") == 0
    assert cli(config, "mkdir", "site", "etc/site") == 0
    capsys.readouterr()
    assert cli(config, "cat", "site", "lib/qlustar/init.d/10-hello") == 0
    assert capsys.readouterr().out == "#!/bin/sh\necho hi\n"
    assert cli(config, "ls", "site", "lib/qlustar/init.d", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "path": "lib/qlustar/init.d/10-hello",
            "kind": "file",
            "mode": "0755",
            "size": 18,
            "target": "",
        }
    ]
    assert cli(config, "scripts", "site") == 0
    assert capsys.readouterr().out == "  1 0755 10-hello\n"
    for node in HEADNODES:
        assert on(config, node, "site/etc/site").is_dir()
        assert on(config, node, "site/lib/qlustar/init.d/10-hello").stat().st_mode & 0o777 == 0o755
    assert cli(config, "rm", "site") == 0
    assert "deleted root-fs config site (1 files, 18 B)" in capsys.readouterr().out
    assert not any(on(config, node, "site").exists() for node in HEADNODES)
    rootfs = tomllib.loads((config.parent / "state/rootfs.toml").read_text())
    assert "site" not in rootfs["configs"]


def test_sync_makes_the_headnodes_agree(config: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(config, "sync", "gpu-setup", "--from", "beosrv-c") == 0
    out = capsys.readouterr().out
    assert "write etc/modprobe.d/nvidia.conf (54 bytes, 0644)" in out
    assert out.rstrip().endswith(": Success")
    assert on(config, "beosrv-d", "gpu-setup/etc/modprobe.d/nvidia.conf").is_file()
    assert cli(config, "list", "--json") == 0
    assert all(c["agree"] for c in json.loads(capsys.readouterr().out))


def test_scripts_report_problems(config: Path) -> None:
    result = run(config, "scripts", "gpu-setup")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "  1 0755 20-nvidia-persistenced",
        "  - 0755 30-gpu-clocks.sh",
        "      will not run: name has characters other than letters, digits, '_' and '-':"
        " run-parts skips it",
        "  - 0644 40-fabric-check",
        "      will not run: not executable: run-parts skips it",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("cat", "ntp-tweaks", "../gpu-setup/etc"), "invalid path '../gpu-setup/etc'"),
        (("put", "ntp-tweaks", "/etc/passwd"), "must be relative to the config directory"),
        (("new", "../x"), "invalid config name '../x'"),
        (("sync", "gpu-setup", "--from", "beosrv-z"), "unknown head-node 'beosrv-z'"),
        (("cat", "ntp-tweaks", "etc"), "is a dir, not a file"),
        (("new", "ntp-tweaks"), "exists already on beosrv-c, beosrv-d"),
    ],
)
def test_refusals_exit_1_with_one_line(config: Path, args: tuple, message: str) -> None:
    before = sorted(p.relative_to(config.parent) for p in config.parent.rglob("*"))
    result = run(config, *args)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr
    assert sorted(p.relative_to(config.parent) for p in config.parent.rglob("*")) == before


def test_symlink_inside_a_config_is_refused(config: Path) -> None:
    for node in HEADNODES:
        on(config, node, "ntp-tweaks/up").symlink_to("../gpu-setup")
    result = run(config, "put", "ntp-tweaks", "up/new", stdin="x")
    assert result.returncode == 1
    assert "beosrv-c: ntp-tweaks/up is a symbolic link; refused" in result.stderr
    assert not on(config, "beosrv-c", "gpu-setup/new").exists()
    assert run(config, "chmod", "ntp-tweaks", "up", "777").returncode == 1
    assert on(config, "beosrv-c", "gpu-setup").stat().st_mode & 0o777 == 0o755
