"""`qlutui rootfs ...` in-process (output, files) and as a subprocess (exit codes, stderr)."""

from __future__ import annotations

import hashlib
import json
import os
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
    return run_qlutui(config, "rootfs", *args, stdin=stdin)


def run_qlutui(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), *args],
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


def test_put_makes_a_new_boot_script_executable(config: Path) -> None:
    """A new file in init.d is a boot script: 0755 unless --mode says otherwise; elsewhere
    0644; an existing file keeps its mode."""
    script, plain, notes = "lib/qlustar/init.d/50-new", "lib/qlustar/init.d/60-plain", "etc/x"
    empty = config.parent / "empty"
    empty.write_bytes(b"")
    paths = (script, plain, notes)

    def modes() -> set[tuple[int, ...]]:
        return {
            tuple(on(config, node, f"ntp-tweaks/{rel}").stat().st_mode & 0o777 for rel in paths)
            for node in HEADNODES
        }

    assert cli(config, "put", "ntp-tweaks", script, "--from", str(empty)) == 0
    assert cli(config, "put", "ntp-tweaks", plain, "--from", str(empty), "--mode", "644") == 0
    assert cli(config, "put", "ntp-tweaks", notes, "--from", str(empty)) == 0
    assert modes() == {(0o755, 0o644, 0o644)}
    assert cli(config, "chmod", "ntp-tweaks", script, "700") == 0
    assert run(config, "put", "ntp-tweaks", script, stdin="#!/bin/sh\n").returncode == 0
    assert modes() == {(0o700, 0o644, 0o644)}
    assert "0755 in lib/qlustar/init.d/" in " ".join(run(config, "put", "--help").stdout.split())


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
        (("cat", "ntp-tweaks", "etc"), "is a directory, not a regular file"),
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


def demo_hash(config: Path) -> str:
    """The state directory and every head-node root of the demo (lock files aside)."""
    digest = hashlib.sha256()
    for path in sorted(config.parent.rglob("*")):
        if path.name.endswith(".lock"):
            continue
        st = path.lstat()
        digest.update(f"{path} {st.st_mode:o} {st.st_size}\n".encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize(
    ("verb", "out"),
    [
        (
            ["rootfs", "rm", "ntp-tweaks"],
            "would delete root-fs config ntp-tweaks (2 files, 144 B) on beosrv-c, beosrv-d\n"
            "would unassign it from Standard-bookworm, Standard-noble\n",
        ),
        (["images", "rm", "Legacy-jammy"], "would delete image Legacy-jammy"),
        (["chroots", "rm", "bookworm-base"], "would remove chroot bookworm-base: the tree"),
    ],
)
def test_rm_dry_run_prints_what_would_go_and_changes_nothing(
    config: Path, verb: list[str], out: str
) -> None:
    images = config.parent / "state/images.toml"  # the chroot must be free to go
    images.write_text(images.read_text().replace('chroot = "bookworm-base"', 'chroot = ""'))
    before = demo_hash(config)
    result = run_qlutui(config, *verb, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(out)
    assert demo_hash(config) == before


def test_rm_dry_run_still_refuses_what_rm_refuses(config: Path) -> None:
    before = demo_hash(config)
    result = run_qlutui(config, "images", "rm", "Standard-noble", "--dry-run")
    assert result.returncode == 1 and "still used by" in result.stderr
    assert demo_hash(config) == before


def test_sync_dry_run_prints_the_content_diff_and_changes_nothing(config: Path) -> None:
    before = demo_hash(config)
    result = run(config, "sync", "gpu-setup", "--from", "beosrv-c", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "=== beosrv-d becomes like beosrv-c"
    assert "+++ beosrv-c:etc/modprobe.d/nvidia.conf" in lines
    assert any(line.startswith("+options nvidia") for line in lines)
    assert demo_hash(config) == before


def test_put_refuses_a_fifo_a_device_and_a_diverged_copy(config: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    before = demo_hash(config)
    for source, what in ((fifo, "FIFO"), (Path("/dev/zero"), "character device")):
        result = run(config, "put", "ntp-tweaks", "etc/x", "--from", str(source))
        assert result.returncode == 1
        assert result.stderr == f"qlutui: {source} is a {what}, not a regular file\n"
    assert demo_hash(config) == before

    rel = "ntp-tweaks/etc/chrony/conf.d/qlustar.conf"
    on(config, "beosrv-d", rel).write_text("only on d\n")
    result = run(config, "put", "ntp-tweaks", rel.partition("/")[2], stdin="new\n")
    assert result.returncode == 1 and "the head-nodes' copies differ" in result.stderr
    assert on(config, "beosrv-d", rel).read_text() == "only on d\n"
    result = run(config, "sum", "ntp-tweaks", rel.partition("/")[2], "--json")
    sums = json.loads(result.stdout)
    assert sums["beosrv-d"] == hashlib.sha256(b"only on d\n").hexdigest()
    path = rel.partition("/")[2]
    expect = ["--expect", sums["beosrv-d"]]
    result = run(config, "put", "ntp-tweaks", path, *expect, stdin="new\n")
    assert result.returncode == 1 and "not the expected" in result.stderr  # c has another
    result = run(config, "put", "ntp-tweaks", path, "--force", stdin="new\n")
    assert result.returncode == 0, result.stderr
    assert {on(config, n, rel).read_text() for n in HEADNODES} == {"new\n"}
    new = hashlib.sha256(b"new\n").hexdigest()
    assert run(config, "put", "ntp-tweaks", path, "--expect", new, stdin="3\n").returncode == 0


def test_a_script_with_a_syntax_error_keeps_its_place(config: Path) -> None:
    """run-parts runs it and the shell fails: it is in the boot order, marked so."""
    for headnode in ("beosrv-c", "beosrv-d"):
        script = on(config, headnode, "gpu-setup/lib/qlustar/init.d/25-broken")
        script.write_text("#!/bin/sh\nif then\n")
        script.chmod(0o755)
    result = run(config, "scripts", "gpu-setup")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[:2] == ["  1 0755 20-nvidia-persistenced", "  2 0755 25-broken"]
    assert lines[2].startswith("      runs and fails: syntax error: ") and "25-broken" in lines[2]
    assert lines[3] == "  - 0755 30-gpu-clocks.sh"


CHRONY = "ntp-tweaks/etc/chrony/conf.d/qlustar.conf"


def test_mv_renames_a_file_and_a_directory_on_every_headnode(
    config: Path, capsys: pytest.CaptureFixture
) -> None:
    text = on(config, "beosrv-c", CHRONY).read_text()
    assert cli(config, "mv", "ntp-tweaks", CHRONY.partition("/")[2], "etc/chrony/site.conf") == 0
    out = capsys.readouterr().out
    assert out == (
        "renamed ntp-tweaks/etc/chrony/conf.d/qlustar.conf to etc/chrony/site.conf"
        " on beosrv-c, beosrv-d\n"
    )
    assert cli(config, "mv", "ntp-tweaks", "etc/chrony", "etc/ntp") == 0
    for node in HEADNODES:
        assert not on(config, node, "ntp-tweaks/etc/chrony").exists()
        assert on(config, node, "ntp-tweaks/etc/ntp/site.conf").read_text() == text
        assert on(config, node, "ntp-tweaks/etc/ntp/conf.d").is_dir()


def test_rm_path_deletes_a_file_and_a_tree_on_every_headnode(
    config: Path, capsys: pytest.CaptureFixture
) -> None:
    before = demo_hash(config)
    assert cli(config, "rm-path", "gpu-setup", "lib/qlustar", "--dry-run") == 0
    assert capsys.readouterr().out == "".join(
        f"would delete dir gpu-setup/lib/qlustar and everything in it on {node}\n"
        for node in HEADNODES
    )
    assert demo_hash(config) == before
    assert cli(config, "rm-path", "ntp-tweaks", CHRONY.partition("/")[2]) == 0
    assert capsys.readouterr().out == f"deleted {CHRONY} on beosrv-c, beosrv-d\n"
    assert cli(config, "rm-path", "gpu-setup", "lib/qlustar") == 0
    for node in HEADNODES:
        assert not on(config, node, CHRONY).exists()
        assert on(config, node, "ntp-tweaks/etc/chrony/conf.d").is_dir()
        assert list(on(config, node, "gpu-setup/lib").iterdir()) == []  # no tree left aside


def test_import_copies_a_headnode_file_and_its_mode_to_every_headnode(
    config: Path, capsys: pytest.CaptureFixture
) -> None:
    for node, text in (("beosrv-c", "c's copy\n"), ("beosrv-d", "d's copy\n")):
        source = config.parent / "headnodes" / node / "etc/site.conf"
        source.write_text(text)
        source.chmod(0o640)
    assert cli(config, "import", "ntp-tweaks", "/etc/site.conf", "etc/site.conf") == 0
    assert capsys.readouterr().out == (
        "imported /etc/site.conf as ntp-tweaks/etc/site.conf on beosrv-c, beosrv-d\n"
    )
    for node in HEADNODES:
        copy = on(config, node, "ntp-tweaks/etc/site.conf")
        assert copy.read_text() == "c's copy\n"  # from the first head-node that answers
        assert copy.stat().st_mode & 0o777 == 0o640
    args = ("import", "ntp-tweaks", "/etc/site.conf", "etc/d.conf", "--headnode", "beosrv-d")
    assert cli(config, *args) == 0
    assert {on(config, n, "ntp-tweaks/etc/d.conf").read_text() for n in HEADNODES} == {"d's copy\n"}


def test_describe_and_assign_change_the_state_files(
    config: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli(config, "describe", "ntp-tweaks", "Chrony for the nodes", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "name": "ntp-tweaks",
        "description": "Chrony for the nodes",
    }
    rootfs = tomllib.loads((config.parent / "state/rootfs.toml").read_text())
    assert rootfs["configs"]["ntp-tweaks"]["description"] == "Chrony for the nodes"
    assert cli(config, "assign", "ntp-tweaks", "Legacy-jammy", "Standard-noble") == 0
    assert capsys.readouterr().out == "ntp-tweaks: assigned to Legacy-jammy, Standard-noble\n"
    images = tomllib.loads((config.parent / "state/images.toml").read_text())["images"]
    using = sorted(name for name, image in images.items() if "ntp-tweaks" in image["rootfs"])
    assert using == ["Legacy-jammy", "Standard-noble"]
    assert cli(config, "assign", "ntp-tweaks") == 0
    images = tomllib.loads((config.parent / "state/images.toml").read_text())["images"]
    assert not any("ntp-tweaks" in image["rootfs"] for image in images.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("mv", "ntp-tweaks", "etc/chrony", "../gpu-setup/x"), "must not contain '..'"),
        (("mv", "ntp-tweaks", "etc/chrony", "/etc/x"), "must be relative to the config"),
        (("mv", "ntp-tweaks", "etc/nope", "etc/x"), "ntp-tweaks/etc/nope: No such file"),
        (("mv", "ntp-tweaks", "etc/chrony", "lib"), "ntp-tweaks/lib exists already"),
        (
            ("mv", "ntp-tweaks", "etc/chrony", "etc/chrony/x"),
            "cannot move ntp-tweaks/etc/chrony to ntp-tweaks/etc/chrony/x: "
            "the new path is inside it",
        ),
        (("mv", "ntp-tweaks", "etc", "./etc/chrony/a/b"), "to ntp-tweaks/etc/chrony/a/b: the"),
        (("mv", "ntp-tweaks", "etc/chrony/", "etc//chrony"), "chrony: it is the same path"),
        (("mv", "../x", "etc/chrony", "etc/x"), "invalid config name '../x'"),
        (("rm-path", "ntp-tweaks", "../gpu-setup"), "must not contain '..'"),
        (("rm-path", "ntp-tweaks", "/"), "must be relative to the config"),
        (("rm-path", "ntp-tweaks", "."), "must name something inside the config"),
        (("rm-path", "ntp-tweaks", "etc/nope"), "ntp-tweaks/etc/nope does not exist on"),
        (("rm-path", "ntp-tweaks", "etc/nope", "--dry-run"), "etc/nope does not exist on"),
        (("rm-path", "nope", "etc"), "no root-fs config nope"),
        (("rm-path", "a b", "etc"), "invalid config name 'a b'"),
        (("import", "ntp-tweaks", "/etc/qlustar", "../gpu-setup/x"), "must not contain '..'"),
        (("import", "ntp-tweaks", "/etc/nope", "etc/x"), "/etc/nope: no such file"),
        (("import", "ntp-tweaks", "etc/qlustar", "etc/x"), "must be an absolute path"),
        (("import", "ntp-tweaks", "/etc/qlustar", "etc/x"), "is a directory"),
        (("import", "nope", f"/{BASE}/{CHRONY}", "etc/x"), "no root-fs config nope"),
        (("import", "../x", "/etc/qlustar", "etc/x"), "invalid config name '../x'"),
        (("describe", "nope", "x"), "no root-fs config named 'nope'"),
        (("describe", "../x", "x"), "invalid config name '../x'"),
        (("describe", "ntp-tweaks", "two\nlines"), "description must be one line"),
        (("assign", "ntp-tweaks", "Nope"), "no image named 'Nope'"),
        (("assign", "nope", "Legacy-jammy"), "no root-fs config named 'nope'"),
    ],
)
def test_new_verbs_refuse_bad_input_with_one_line_changing_nothing(
    config: Path, args: tuple, message: str
) -> None:
    before = demo_hash(config)
    result = run(config, *args)
    assert result.returncode == 1, result.stdout
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr
    assert demo_hash(config) == before
