"""Tasks added to a chroot, and the release upgrade of a clone, on the tiny busybox chroot:
the mechanics (what runs, what is switched, what is recorded when) with an `apt-get` of the
test's own inside it. The real apt installs are in tests/integration/test_chroot_build.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from tiny_chroot import BUSYBOX, NAME, busybox_tree, mounts_below

from qlutui.backend.chroots import ChrootsService
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.errors import ConfigError, InvalidInput, Refused

pytestmark = pytest.mark.skipif(BUSYBOX is None, reason="busybox-static is not installed")

SOURCES = "/etc/apt/sources.list.d/qlustar.list"
RULE = f'\n[release_sources.bookworm]\nfile = "{SOURCES}"\ntext = "qlustar/{{version}}-bookworm"\n'
LINE = "deb http://repo.example/qlustar/{}-bookworm main\n"
# apt-get inside the chroot: logs its arguments; fails for the word in /etc/apt-fails
APT_GET = """#!/bin/sh
echo "apt-get $*" >> /var/log/apt-calls
echo "apt-get $*"
[ -e /etc/apt-sleeps ] && sleep 300
for word in "$@"; do
  if grep -qx -- "$word" /etc/apt-fails 2>/dev/null; then echo "E: $word failed" >&2; exit 100; fi
done
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    config = init_demo(tmp_path / "demo")
    root = busybox_tree(config)
    (root / "bin/apt-get").write_text(APT_GET)
    (root / "bin/apt-get").chmod(0o755)
    (root / "var/log").mkdir(parents=True)
    (root / "etc/apt/sources.list.d").mkdir(parents=True)
    (root / SOURCES.lstrip("/")).write_text(LINE.format("13.0"))
    chroots = config.parent / "state/chroots.toml"
    chroots.write_text(chroots.read_text().replace('version = "13.1"', 'version = "13.0"'))
    with config.open("a") as f:
        f.write(RULE)
    return config


@pytest.fixture
async def service(config: Path):
    cluster = Cluster.open(config)
    yield ChrootsService(cluster)
    await cluster.jobs.close()
    await cluster.aclose()


def base(config: Path) -> Path:
    return config.parent / "headnodes/beosrv-c/srv/apps/chroots"


def records(config: Path) -> dict:
    return tomllib.loads((config.parent / "state/chroots.toml").read_text())["chroots"]


def calls(root: Path) -> list[str]:
    log = root / "var/log/apt-calls"
    return log.read_text().splitlines() if log.exists() else []


async def finish(job, timeout: float = 60.0) -> str:
    await asyncio.wait_for(job.wait(), timeout)
    return job.record.state


async def test_tasks_are_installed_and_recorded_only_on_success(
    config: Path, service: ChrootsService
) -> None:
    root = base(config) / NAME
    assert records(config)[NAME]["tasks"] == ["admin-tools"]
    (root / "etc/apt-fails").write_text("seqtk\n")
    job = await service.add_tasks(await service.load(), NAME, ["nvidia", "debmed-ngs"])
    assert job.record.title == f"Adding tasks to chroot {NAME} on beosrv-c: nvidia, debmed-ngs"
    assert await finish(job) == "Failed"
    assert records(config)[NAME]["tasks"] == ["admin-tools"]  # nothing recorded
    assert records(config)[NAME]["job"] == job.id
    (root / "etc/apt-fails").unlink()
    job = await service.add_tasks(await service.load(), NAME, ["nvidia", "debmed-ngs"])
    assert await finish(job) == "Success"
    assert calls(root)[-2:] == ["apt-get update", "apt-get -y install pciutils seqtk"]
    record = records(config)[NAME]
    assert record["tasks"] == ["admin-tools", "nvidia", "debmed-ngs"]
    assert record["state"] == "ready"
    assert mounts_below(base(config)) == []
    assert not (root / "usr/sbin/policy-rc.d").exists()


async def test_add_tasks_refusals(config: Path, service: ChrootsService) -> None:
    state = await service.load()
    with pytest.raises(Refused, match="has these tasks already: admin-tools"):
        await service.add_tasks(state, NAME, ["admin-tools"])
    with pytest.raises(InvalidInput, match="nope"):
        await service.add_tasks(state, NAME, ["nope"])
    with pytest.raises(InvalidInput, match="choose at least one task"):
        await service.add_tasks(state, NAME, [])
    assert service.cluster.jobs.list() == []


async def test_release_upgrade_of_a_clone(config: Path, service: ChrootsService) -> None:
    """The clone is made, its sources switched by the rule and upgraded; its new version is
    recorded on success; the original's tree, sources and record stay as they were."""
    original = base(config) / NAME
    before = records(config)[NAME]
    job = await service.release_upgrade(await service.load(), NAME, "13.1", "next")
    assert records(config)["next"]["state"] == "building"
    assert await finish(job) == "Success", [line.text for line in job.lines()][-10:]
    clone = base(config) / "next"
    assert (clone / SOURCES.lstrip("/")).read_text() == LINE.format("13.1")
    assert calls(clone) == ["apt-get update", "apt-get -y full-upgrade"]
    record = records(config)["next"]
    assert (record["state"], record["version"], record["job"]) == ("ready", "13.1", job.id)
    assert record["tasks"] == before["tasks"] and record["flavour"] == "bookworm"
    assert records(config)[NAME] == before
    assert (original / SOURCES.lstrip("/")).read_text() == LINE.format("13.0")
    assert calls(original) == []
    assert mounts_below(base(config)) == []
    assert not (clone / "usr/sbin/policy-rc.d").exists()


async def test_a_failing_upgrade_leaves_the_old_version_and_a_rerun_finishes(
    config: Path, service: ChrootsService
) -> None:
    (base(config) / NAME / "etc/apt-fails").write_text("full-upgrade\n")
    job = await service.release_upgrade(await service.load(), NAME, "13.1", "next")
    assert await finish(job) == "Failed"
    clone = base(config) / "next"
    record = records(config)["next"]
    assert (record["state"], record["version"]) == ("ready", "13.0")  # the clone is kept
    assert (clone / SOURCES.lstrip("/")).read_text() == LINE.format("13.1")
    assert records(config)[NAME]["version"] == "13.0"
    assert mounts_below(base(config)) == []
    assert not (clone / "usr/sbin/policy-rc.d").exists()

    (clone / "etc/apt-fails").unlink()  # fixed inside the clone: the same verb goes on there
    job = await service.release_upgrade(await service.load(), NAME, "13.1", "next")
    assert "cloned" not in job.record.meta
    assert await finish(job) == "Success"
    assert any("names 'qlustar/13.1-bookworm' already" in line.text for line in job.lines())
    assert records(config)["next"]["version"] == "13.1"
    assert mounts_below(base(config)) == []


async def test_a_killed_upgrade_leaves_the_old_version_and_no_mount(
    config: Path, service: ChrootsService
) -> None:
    (base(config) / NAME / "etc/apt-sleeps").touch()
    job = await service.release_upgrade(await service.load(), NAME, "13.1", "next")
    for _ in range(600):
        if calls(base(config) / "next"):  # apt-get update is at work inside the clone
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError([line.text for line in job.lines()])
    assert mounts_below(base(config)) == []
    await service.cluster.jobs.kill(job.id)
    assert await finish(job) == "Killed"
    record = records(config)["next"]
    assert (record["state"], record["version"]) == ("ready", "13.0")
    assert records(config)[NAME]["version"] == "13.0"
    assert mounts_below(base(config)) == []
    assert not (base(config) / "next/usr/sbin/policy-rc.d").exists()


async def test_sources_without_the_release_fail_the_job(
    config: Path, service: ChrootsService
) -> None:
    (base(config) / NAME / SOURCES.lstrip("/")).write_text("deb http://elsewhere/ x main\n")
    job = await service.release_upgrade(await service.load(), NAME, "13.1", "next")
    assert await finish(job) == "Failed"
    assert any("does not contain 'qlustar/13.0-bookworm'" in line.text for line in job.lines())
    assert calls(base(config) / "next") == []  # no apt-get ran
    assert records(config)["next"]["version"] == "13.0"


async def test_a_symlinked_sources_directory_is_not_followed(
    config: Path, service: ChrootsService, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "qlustar.list").write_text(LINE.format("13.0"))
    job = await service.clone(await service.load(), NAME, "next", "")
    assert await finish(job) == "Success"
    listd = base(config) / "next/etc/apt/sources.list.d"
    for child in listd.iterdir():
        child.unlink()
    listd.rmdir()
    listd.symlink_to(outside)
    job = await service.release_upgrade(await service.load(), NAME, "13.1", "next")
    assert await finish(job) == "Failed"
    assert (outside / "qlustar.list").read_text() == LINE.format("13.0")
    assert records(config)["next"]["version"] == "13.0"


async def test_release_upgrade_refusals(config: Path, service: ChrootsService) -> None:
    state = await service.load()
    with pytest.raises(Refused, match="works on a clone; the original is never touched"):
        await service.release_upgrade(state, NAME, "13.1", NAME)
    with pytest.raises(Refused, match=r"is at 13\.0: choose a newer version"):
        await service.release_upgrade(state, NAME, "12.0", "next")
    with pytest.raises(InvalidInput, match=r"version '14\.2' is not offered for bookworm"):
        await service.release_upgrade(state, NAME, "14.2", "next")
    config.write_text(config.read_text().replace(RULE, ""))
    cluster = Cluster.open(config)
    try:
        bare = ChrootsService(cluster)
        with pytest.raises(Refused, match=r"add \[release_sources.bookworm\] to config.toml"):
            await bare.release_upgrade(await bare.load(), NAME, "13.1", "next")
    finally:
        await cluster.aclose()
    assert "next" not in records(config) and not (base(config) / "next").exists()
    assert service.cluster.jobs.list() == []


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('file = "etc/x"\ntext = "{version}"', "expected an absolute head-node path"),
        ('file = "/etc/../x"\ntext = "{version}"', "expected a plain path of a file"),
        ('file = "/etc/x"\ntext = "13.1"', "expected one line with {version} once in it"),
        ('file = "/etc/x"\ntext = "{version}"\nextra = 1', "unknown key"),
    ],
)
def test_bad_release_rules_are_config_errors(tmp_path: Path, entry: str, problem: str) -> None:
    from qlutui.backend.config import load_config

    config = init_demo(tmp_path / "demo")
    with config.open("a") as f:
        f.write(f"\n[release_sources.bookworm]\n{entry}\n")
    with pytest.raises(ConfigError, match=problem):
        load_config(config)


def qlutui(config: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), "chroots", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_add_tasks_and_release_upgrade(config: Path) -> None:
    root = base(config) / NAME
    (root / "etc/apt-fails").write_text("pciutils\n")
    failed = qlutui(config, "add-tasks", NAME, "nvidia")
    assert failed.returncode == 1 and "E: pciutils failed" in failed.stdout
    (root / "etc/apt-fails").unlink()
    done = qlutui(config, "add-tasks", NAME, "nvidia")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"Adding tasks to chroot {NAME} on beosrv-c: nvidia\n")
    assert records(config)[NAME]["tasks"] == ["admin-tools", "nvidia"]
    again = qlutui(config, "add-tasks", NAME, "nvidia")
    assert again.returncode == 1 and "has these tasks already: nvidia" in again.stderr

    done = qlutui(config, "release-upgrade", NAME, "13.1")
    assert done.returncode == 0, done.stdout + done.stderr
    clone = f"{NAME}-13.1"
    assert f"{NAME} is cloned to {clone} first" in done.stdout
    assert records(config)[clone]["version"] == "13.1"
    assert records(config)[NAME]["version"] == "13.0"
    shown = qlutui(config, "show", clone)
    assert "Version:     13.1" in shown.stdout and "admin-tools, nvidia" in shown.stdout
    refused = qlutui(config, "release-upgrade", NAME, "13.1", "--clone", NAME)
    assert refused.returncode == 1 and "the original is never touched" in refused.stderr
    assert mounts_below(base(config)) == []
