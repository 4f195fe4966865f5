"""A real chroot: built once with mmdebstrap (bookworm, minbase, this machine's apt sources),
run, cloned, renamed, refused and removed; a build killed midway; commands, an upgrade and a
package installed inside it as jobs, with no mount left on the head-node."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomlkit
from tiny_chroot import mounts_below

from qlutui.backend.chroots import ChrootsService
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.errors import Refused

BUILD_TIMEOUT = 600.0
NAME = "bw-test"


async def finish(job, timeout: float = BUILD_TIMEOUT) -> str:
    await asyncio.wait_for(job.wait(), timeout)
    assert job.done
    return job.record.state


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo cluster with one real chroot NAME built on beosrv-c (once per module)."""
    config = init_demo(tmp_path_factory.mktemp("chroots") / "demo")

    async def build() -> str:
        cluster = Cluster.open(config)
        try:
            service = ChrootsService(cluster)
            state = await service.load()
            job = await service.new(
                state, NAME, "built by the test", "beosrv-c", "bookworm", "13.1", ["nvidia"]
            )
            assert chroots(config)[NAME]["state"] == "building"
            return await finish(job)
        finally:
            await cluster.jobs.close()
            await cluster.aclose()

    assert asyncio.run(build()) == "Success"
    return config


def chroots(config: Path) -> dict:
    return tomllib.loads((config.parent / "state/chroots.toml").read_text()).get("chroots", {})


def tree(config: Path, name: str) -> Path:
    return config.parent / "headnodes/beosrv-c/srv/apps/chroots" / name


def runs_inside(root: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["chroot", str(root), *argv], capture_output=True, timeout=60)


@pytest.fixture
async def service(built: Path):
    cluster = Cluster.open(built)
    yield ChrootsService(cluster)
    await cluster.jobs.close()
    await cluster.aclose()


def test_the_built_chroot_runs(built: Path) -> None:
    record = chroots(built)[NAME]
    assert record["state"] == "ready" and record["job"]
    assert runs_inside(tree(built, NAME), "/bin/true").returncode == 0
    # the task's package was included: lspci comes from pciutils
    assert runs_inside(tree(built, NAME), "/usr/bin/lspci", "--version").returncode == 0
    assert not tree(built, NAME + ".partial").exists()
    log = built.parent / "state/jobs" / record["job"] / "beosrv-c.log"
    assert "I: success in" in log.read_text()


async def test_clone_rename_refuse_and_remove(built: Path, service: ChrootsService) -> None:
    state = await service.load()
    job = await service.clone(state, NAME, "bw-clone", "the copy")
    assert await finish(job) == "Success"
    assert chroots(built)["bw-clone"]["state"] == "ready"
    assert chroots(built)["bw-clone"]["description"] == "the copy"
    assert runs_inside(tree(built, "bw-clone"), "/bin/true").returncode == 0
    assert (await service.probe((await service.load()).chroot("bw-clone"))).size > 50_000_000

    images = built.parent / "state/images.toml"
    doc = tomlkit.parse(images.read_text())
    doc["images"]["Standard-bookworm"]["chroot"] = "bw-clone"
    images.write_text(tomlkit.dumps(doc))
    state = await service.load()
    assert service.check_rename(state, "bw-clone", "bw-renamed") == ["Standard-bookworm"]
    job = await service.rename(state, "bw-clone", "bw-renamed")
    assert await finish(job) == "Success"
    assert "bw-clone" not in chroots(built) and not tree(built, "bw-clone").exists()
    assert chroots(built)["bw-renamed"]["state"] == "ready"
    assert runs_inside(tree(built, "bw-renamed"), "/bin/true").returncode == 0
    image = tomllib.loads(images.read_text())["images"]["Standard-bookworm"]
    assert image["chroot"] == "bw-renamed"

    state = await service.load()
    with pytest.raises(Refused) as refused:
        await service.remove(state, "bw-renamed")
    assert str(refused.value) == (
        "chroot 'bw-renamed' is still being used by the following Qlustar Images: Standard-bookworm"
    )
    assert tree(built, "bw-renamed").is_dir()

    doc = tomlkit.parse(images.read_text())
    doc["images"]["Standard-bookworm"]["chroot"] = ""
    images.write_text(tomlkit.dumps(doc))
    job = await service.remove(await service.load(), "bw-renamed")
    assert await finish(job) == "Success"
    assert not tree(built, "bw-renamed").exists()
    assert "bw-renamed" not in chroots(built)
    assert [p.name for p in tree(built, "").iterdir() if not p.name.startswith(".qlutui")] == [NAME]


async def test_kill_a_build_midway(built: Path, service: ChrootsService) -> None:
    state = await service.load()
    job = await service.new(state, "bw-killed", "", "beosrv-c", "bookworm", "13.1", [])
    seen: list[str] = []
    job.subscribe(lambda batch: seen.extend(line.text for line in batch))
    for _ in range(600):  # until mmdebstrap is really at work
        if any(text.startswith("I: ") for text in seen):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the build did not start: {seen}")
    assert not job.done
    await service.cluster.jobs.kill(job.id)
    assert await finish(job, 60) == "Killed"
    record = chroots(built)["bw-killed"]
    assert record["state"] == "failed" and record["job"] == job.id
    assert not tree(built, "bw-killed").exists()
    assert not tree(built, "bw-killed.partial").exists()
    log = (built.parent / "state/jobs" / job.id / "beosrv-c.log").read_text()
    assert " m killed" in log and "I: " in log
    state = await service.load()
    assert (await service.probe(state.chroot("bw-killed"))).problem == "missing on beosrv-c"


def mounts_below_base(config: Path) -> list[str]:
    return mounts_below(tree(config, ""))


def qlutui(config: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), "chroots", *argv],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )


async def test_commands_run_inside_the_real_chroot(built: Path, service: ChrootsService) -> None:
    """Through the service: the chroot's own file is read, a failure fails the job, Kill ends
    it; a package is installed and its binary runs; nothing stays mounted after any of it."""
    own = (tree(built, NAME) / "etc/debian_version").read_text().strip()
    assert own.startswith("12.")  # bookworm's
    (tree(built, NAME) / "etc/qlutui-marker").write_text("only in the chroot\n")
    argv = ["cat", "/etc/debian_version", "/etc/qlutui-marker"]
    job = await service.run(await service.load(), NAME, argv)
    assert await finish(job, 120) == "Success"
    assert {own, "only in the chroot"} <= {line.text for line in job.lines()}
    assert mounts_below_base(built) == []

    job = await service.run(await service.load(), NAME, ["ls", "/no/such/file"])
    assert await finish(job, 120) == "Failed"
    assert mounts_below_base(built) == []

    job = await service.run(await service.load(), NAME, ["sh", "-c", "echo started; sleep 300"])
    for _ in range(600):
        if "started" in [line.text for line in job.lines()]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the command did not start")
    await service.cluster.jobs.kill(job.id)
    assert await finish(job, 60) == "Killed"
    assert mounts_below_base(built) == []

    job = await service.run_action(await service.load(), NAME, "upgrade")
    assert await finish(job) == "Success", [line.text for line in job.lines()][-20:]
    argv = ["apt-get", "install", "-y", "--no-install-recommends", "hello"]
    job = await service.run(await service.load(), NAME, argv)
    assert await finish(job) == "Success", [line.text for line in job.lines()][-20:]
    assert runs_inside(tree(built, NAME), "/usr/bin/hello").stdout == b"Hello, world!\n"
    job = await service.run_action(await service.load(), NAME, "clean")
    assert await finish(job, 120) == "Success"
    assert not list((tree(built, NAME) / "var/cache/apt/archives").glob("*.deb"))
    assert not (tree(built, NAME) / "usr/sbin/policy-rc.d").exists()
    assert chroots(built)[NAME]["state"] == "ready" and chroots(built)[NAME]["job"] == job.id
    assert mounts_below_base(built) == []


def test_cli_run_in_the_real_chroot(built: Path) -> None:
    own = (tree(built, NAME) / "etc/debian_version").read_text().strip()
    done = qlutui(built, "run", NAME, "--", "cat", "/etc/debian_version")
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(line.endswith(f" {own}") for line in done.stdout.splitlines())
    failed = qlutui(built, "run", NAME, "--", "false")
    assert failed.returncode == 1
    assert "Failed on beosrv-c" in failed.stdout
    assert mounts_below_base(built) == []


async def test_a_task_added_later_installs_its_packages(
    built: Path, service: ChrootsService
) -> None:
    """admin-tools (less, procps) onto the chroot built with nvidia: installed by apt inside
    it, listed on its record after the job, and nothing mounted."""
    assert chroots(built)[NAME]["tasks"] == ["nvidia"]
    assert runs_inside(tree(built, NAME), "/usr/bin/less", "--version").returncode != 0
    job = await service.add_tasks(await service.load(), NAME, ["admin-tools"])
    assert await finish(job) == "Success", [line.text for line in job.lines()][-20:]
    assert runs_inside(tree(built, NAME), "/usr/bin/less", "--version").returncode == 0
    assert runs_inside(tree(built, NAME), "dpkg-query", "-W", "procps").returncode == 0
    assert chroots(built)[NAME]["tasks"] == ["nvidia", "admin-tools"]
    assert not (tree(built, NAME) / "usr/sbin/policy-rc.d").exists()
    assert mounts_below_base(built) == []
