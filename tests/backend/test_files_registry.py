"""The generated-file registry on a real demo cluster: a class added in a test is picked up
by Write Files' service, `check` and the CLI; the hosts class is what dnsmasq serves; image
files carry the image and, once changed on a head-node, run the configured rebuild there."""

from __future__ import annotations

import asyncio
import json
import os
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qlutui.backend import files
from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.files.base import INVALID, MISSING, UNCHANGED, FileClass, FileSpec, Rendered
from qlutui.cli import main
from qlutui.errors import InvalidInput


class MotdFile(FileClass):
    """A class defined by a test: one file, the number of hosts."""

    id = "motd"
    title = "Message of the day"

    def files(self) -> list[FileSpec]:
        return [FileSpec(self.id, "motd", "MOTD", ("/etc/motd",), 0o644)]

    def render(self, files: list[FileSpec]) -> Rendered:
        hosts = len(self.cluster.inventory().hosts)
        text = f"{hosts} hosts\n" if hosts < 100 else InvalidInput("too many hosts for a motd")
        return {spec.id: text for spec in files}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return init_demo(tmp_path / "demo")


@pytest.fixture
async def cluster(config: Path) -> AsyncIterator[Cluster]:
    c = Cluster.open(config)
    yield c
    await c.aclose()


def on_disk(config: Path, headnode: str, path: str) -> Path:
    return config.parent / "headnodes" / headnode / path.lstrip("/")


async def test_a_new_class_is_picked_up_everywhere(
    config: Path, cluster: Cluster, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(files, "CLASSES", [*files.CLASSES, MotdFile])
    service = files.files_service(cluster)
    rows = await service.statuses(["motd"])
    assert [(r.dest.headnode, r.state, r.wanted) for r in rows] == [
        ("beosrv-c", MISSING, "51 hosts\n"),
        ("beosrv-d", MISSING, "51 hosts\n"),
    ]
    await (await service.write(rows)).wait()
    assert on_disk(config, "beosrv-d", "/etc/motd").read_text() == "51 hosts\n"
    assert {r.state for r in await service.statuses(["motd"])} == {UNCHANGED}

    assert await asyncio.to_thread(main, ["--config", str(config), "files", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"class": "motd", "file": "motd", "title": "MOTD", "destinations": ["/etc/motd"],
            "mode": "0644"} in listed  # fmt: skip
    assert await asyncio.to_thread(main, ["--config", str(config), "files", "diff", "motd"]) == 0

    data = tomllib.loads((config.parent / "state/inventory.toml").read_text())
    template = data["hosts"][-1]
    extra = "".join(
        f'\n[[hosts]]\nname = "x-{i}"\nips = {{ boot = "127.52.2.{i}" }}\n' for i in range(60)
    )
    (config.parent / "state/inventory.toml").write_text(
        (config.parent / "state/inventory.toml").read_text() + extra
    )
    assert template["name"] == "beo-48"
    assert cluster.problems() == ["generated file motd: too many hosts for a motd"]
    assert {r.state for r in await service.statuses(["motd"])} == {INVALID}


async def test_check_reports_what_write_refuses(config: Path, cluster: Cluster) -> None:
    assert cluster.problems() == []
    (config.parent / "state/files.toml").write_text('[hosts]\nheader = "127.55.0.1 bad_name\\n"\n')
    images = config.parent / "state/images.toml"
    images.write_text(images.read_text().replace('version = "12.0.1"', 'version = "12.9"'))
    problems = cluster.problems()
    assert len(problems) == 2, problems
    assert problems[0].startswith("generated file hosts: hosts table: 1 problem: line 1: ")
    assert problems[1] == (
        "generated file images/Legacy-jammy: version 12.9 resolves to no release of jammy"
    )
    rows = await files.files_service(cluster).statuses(["hosts", "images/Legacy-jammy"])
    assert {r.state for r in rows} == {INVALID}


def rebuild_recorder(tmp_path: Path) -> Path:
    """A real command on PATH that records its argv and its working directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "rebuilds"
    script = bin_dir / "qlustar-image-reconfigure"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$PWD $*" >> {record}\n'
        'echo "reconfiguring $1"\n'
        '[ "$1" != Legacy-jammy ] || { echo "no chroot for $1" >&2; exit 3; }\n'
    )
    script.chmod(0o755)
    return bin_dir


async def test_image_files_and_the_rebuild_of_changed_ones(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = config.read_text()
    config.write_text(text[: text.index("[images]")])  # the real command's default argv
    monkeypatch.setenv("PATH", f"{rebuild_recorder(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    cluster = Cluster.open(config)
    service = files.files_service(cluster, ["images"])
    try:
        job = await service.write(await service.statuses())
        await job.wait()
        rebuilds = [cluster.jobs.get(i) for i in job.record.meta["after"]]
        for rebuild in rebuilds:
            await rebuild.wait()
        conf = on_disk(config, "beosrv-c", "/etc/qlustar/images/Standard-noble/qlutui.conf")
        parsed = tomllib.loads(conf.read_text())
        assert parsed["hosts"] == "beo-[01-32]" and parsed["resolved"] == "13.1.1"
        calls = sorted((tmp_path / "rebuilds").read_text().splitlines())
        roots = {node: str(config.parent / "headnodes" / node) for node in ("beosrv-c", "beosrv-d")}
        images = ("Legacy-jammy", "Standard-bookworm", "Standard-noble")
        # the first image's rebuild fails: the others are rebuilt all the same
        assert calls == sorted(f"{root} {image}" for root in roots.values() for image in images)
        assert sorted(r.record.title for r in rebuilds) == [
            "Rebuilding 3 images on beosrv-c: Legacy-jammy, Standard-bookworm, Standard-noble",
            "Rebuilding 3 images on beosrv-d: Legacy-jammy, Standard-bookworm, Standard-noble",
        ]
        assert {r.record.state for r in rebuilds} == {"Failed"}
        log = [line.text for line in rebuilds[0].lines()]
        assert log.index("no chroot for Legacy-jammy") < log.index("reconfiguring Standard-noble")
        assert [line for line in log if line.startswith(("step ", "failed:", "summary:"))] == [
            "step 1/3: qlustar-image-reconfigure Legacy-jammy",
            "failed: step 1/3: qlustar-image-reconfigure exited with 3",
            "step 2/3: qlustar-image-reconfigure Standard-bookworm",
            "step 3/3: qlustar-image-reconfigure Standard-noble",
            "summary: 2 of 3 succeeded; failed: Legacy-jammy",
        ]

        # only changed images are rebuilt: one image changes
        (tmp_path / "rebuilds").unlink()
        args = ["--config", str(config), "images", "set", "Standard-noble", "--postinst", "gpu.sh"]
        assert await asyncio.to_thread(main, args) == 0
        rows = await service.statuses()
        assert [r.dest.spec.id for r in rows if r.state != UNCHANGED] == [
            "images/Standard-noble",
            "images/Standard-noble",
        ]
        job = await service.write(rows)
        await job.wait()
        for after in job.record.meta["after"]:
            await cluster.jobs.get(after).wait()
        assert sorted((tmp_path / "rebuilds").read_text().splitlines()) == sorted(
            f"{root} Standard-noble" for root in roots.values()
        )
    finally:
        await cluster.aclose()
