"""The SSH host files service on a real demo cluster: headers, statuses, writes, key scans."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sshd import SSHD, free_port

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.files import files_service
from qlutui.backend.files.base import CHANGED, INVALID, MISSING, UNCHANGED, FilesService
from qlutui.backend.sshfiles import SSHFilesService, bare_key
from qlutui.errors import ConflictError, InvalidInput, Refused
from qlutui.model.sshfiles import BANNER

KH = "/etc/ssh/ssh_known_hosts"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    c = Cluster.open(init_demo(tmp_path / "demo"))
    yield c
    await c.aclose()


def on_disk(tmp_path: Path, headnode: str, path: str) -> Path:
    return tmp_path / "demo" / "headnodes" / headnode / path.lstrip("/")


async def write_all(service: FilesService, **kw: bool) -> list[str]:
    job = await service.write(await service.statuses(), **kw)
    await job.wait()
    return [f"{line.target}: {line.text}" for line in job.lines()]


async def test_write_all_then_nothing_differs(cluster: Cluster, tmp_path: Path) -> None:
    service = files_service(cluster, ["ssh"])
    rows = await service.statuses()
    assert len(rows) == 10  # (2 + 2 + 1 destinations) x 2 head-nodes
    assert {r.state for r in rows} == {MISSING}
    log = await write_all(service)
    assert any("Success: Writing 10 files to beosrv-c, beosrv-d" in line for line in log)
    rendered = SSHFilesService(cluster).render()
    for row in rows:
        path = on_disk(tmp_path, row.dest.headnode, row.dest.path)
        assert path.read_text() == rendered[row.dest.spec.id]
        assert path.stat().st_mode & 0o777 == 0o644
    again = await service.statuses()
    assert {r.state for r in again} == {UNCHANGED}
    assert all(r.diff() == "" for r in again)
    with pytest.raises(Refused, match="nothing to write"):
        await service.write(again)


async def test_changed_file_is_diffed_and_backed_up(cluster: Cluster, tmp_path: Path) -> None:
    service = files_service(cluster, ["ssh"])
    await write_all(service)
    path = on_disk(tmp_path, "beosrv-c", KH)
    path.write_text("old-host ssh-ed25519 AAAA\n")
    rows = {r.key: r for r in await service.statuses(["known_hosts"])}
    row = rows[("known_hosts", "beosrv-c", KH)]
    assert row.state == CHANGED
    diff = row.diff()
    assert diff.startswith(f"--- beosrv-c:{KH} (on disk)\n+++ beosrv-c:{KH} (generated)\n")
    assert "-old-host ssh-ed25519 AAAA\n" in diff and f"+{BANNER}\n" in diff
    assert [r.state for r in rows.values()].count(CHANGED) == 1
    await (await service.write(rows.values())).wait()
    assert path.read_text() == row.wanted
    backups = list(path.parent.glob("ssh_known_hosts.bak-*"))
    assert [b.read_text() for b in backups] == ["old-host ssh-ed25519 AAAA\n"]


async def test_file_changed_meanwhile_is_skipped(cluster: Cluster, tmp_path: Path) -> None:
    service = files_service(cluster, ["ssh"])
    rows = await service.statuses(["known_hosts"])
    other = on_disk(tmp_path, "beosrv-d", KH)
    other.write_text("written by another admin\n")  # after the diff was computed
    job = await service.write(rows)
    await job.wait()
    assert job.record.targets["beosrv-c"].state == "Success"
    assert job.record.targets["beosrv-d"].state == "Errors"
    assert other.read_text() == "written by another admin\n"
    texts = [line.text for line in job.lines()]
    assert any(f"{KH} was changed on beosrv-d since the diff was computed" in t for t in texts)
    assert on_disk(tmp_path, "beosrv-c", KH).read_text() == rows[0].wanted


async def test_one_headnode_failing_does_not_stop_the_other(
    cluster: Cluster, tmp_path: Path
) -> None:
    service = files_service(cluster, ["ssh"])
    rows = await service.statuses(["shosts_equiv"])
    etc_ssh = on_disk(tmp_path, "beosrv-d", "/etc/ssh")
    shutil.rmtree(etc_ssh)
    etc_ssh.write_text("not a directory\n")
    job = await service.write(rows)
    await job.wait()
    assert job.record.targets["beosrv-d"].state == "Failed"
    assert "beosrv-d" in job.record.targets["beosrv-d"].error
    assert job.record.targets["beosrv-c"].state == "Success"
    assert on_disk(tmp_path, "beosrv-c", "/etc/ssh/shosts.equiv").exists()
    # beosrv-d's other destination comes before the failing one: it is written
    assert on_disk(
        tmp_path, "beosrv-d", "/etc/qlustar/common/image-files/ssh/shosts.equiv"
    ).exists()


async def test_header_save_refuses_bad_lines_and_conflicts(cluster: Cluster) -> None:
    service = SSHFilesService(cluster)
    state = service.load()
    bad = "extra-host ssh-ed25519 AAAAC3Nza\n+\n"
    with pytest.raises(InvalidInput) as error:
        service.save_header(state, "known_hosts", bad)
    assert str(error.value).startswith("known_hosts header not saved: line 1: ")
    with pytest.raises(InvalidInput, match=r"line 2: '\+' is a wildcard: allowed only with"):
        service.save_header(state, "shosts_equiv", "gw.example.org\n+")
    saved = service.save_header(state, "shosts_equiv", "gw.example.org\n10.0.0.1 alice")
    assert saved.options["shosts_equiv"].header == "gw.example.org\n10.0.0.1 alice\n"
    assert service.load().options["shosts_equiv"].header == "gw.example.org\n10.0.0.1 alice\n"
    with pytest.raises(ConflictError, match=r"sshfiles\.toml was changed by someone else"):
        service.save_description(state, "shosts_equiv", "stale")
    saved = service.save_description(saved, "shosts_equiv", "  Trusted hosts  ")
    assert service.load().options["shosts_equiv"].description == "Trusted hosts"
    preview = await service.preview("shosts_equiv")
    assert preview.header == "gw.example.org\n10.0.0.1 alice\n"
    assert preview.generated.startswith(BANNER + "\nbeosrv-c\n")


async def test_bad_header_on_disk_blocks_writing(cluster: Cluster) -> None:
    # a header edited by hand in sshfiles.toml, bypassing the checks
    cluster.store.update(
        "sshfiles",
        lambda doc: doc["authorized_keys"].update({"header": "# ok\nssh-ed25519 AAAA!x\n"}),
    )
    service = files_service(cluster, ["ssh"])
    rows = await service.statuses()
    bad = [r for r in rows if r.dest.spec.id == "authorized_keys"]
    assert {r.state for r in bad} == {INVALID}
    assert bad[0].error == "header line 2: the ssh-ed25519 key data is not valid base64"
    with pytest.raises(Refused, match="authorized_keys cannot be written: header line 2"):
        await service.write(rows)
    others = [r for r in rows if r.dest.spec.id != "authorized_keys"]
    assert len(service.to_write(others)) == 8


async def test_scan_keys_new_unchanged_changed(cluster: Cluster, sshd: SSHD) -> None:
    def set_keys(keys: list[str]) -> None:
        def mutate(doc) -> None:
            next(h for h in doc["hosts"] if h["name"] == "beo-01")["host_keys"] = keys

        cluster.store.update("inventory", mutate)

    set_keys([])  # beo-01 has no keys of its own yet: the scanned ones are new
    service = SSHFilesService(cluster)
    here = {"beo-01": ("127.0.0.1", sshd.port), "beo-02": ("127.0.0.1", free_port())}
    targets = service.scan_targets(["beo-01", "beo-02"], addresses=here)
    assert [t.address for t in targets] == [
        f"127.0.0.1:{sshd.port}",
        f"127.0.0.1:{here['beo-02'][1]}",
    ]
    first = await service.scan_keys(targets, timeout=5)
    fixture_keys = {bare_key(k.with_suffix(".pub").read_text()) for k in sshd.host_keys}
    assert set(first[0].offered) == fixture_keys
    assert first[0].state == "new"
    assert (first[1].state, first[1].error) == ("unreachable", "Connection refused")
    assert service.store_keys(first) == ["beo-01"]
    hosts = {h["name"]: h for h in cluster.store.load("inventory").data["hosts"]}
    assert {bare_key(k) for k in hosts["beo-01"]["host_keys"]} == fixture_keys
    again = await service.scan_keys(service.scan_targets(["beo-01"], addresses=here), timeout=5)
    assert again[0].state == "unchanged"
    assert service.store_keys(again) == []
    # a reinstall (or an attacker) would offer a different key of a known type
    fake = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    set_keys([fake])
    changed = await service.scan_keys(service.scan_targets(["beo-01"], addresses=here), timeout=5)
    assert changed[0].state == "changed"
    ed = next(k for k in changed[0].offered if k.startswith("ssh-ed25519"))
    assert changed[0].key_state(ed) == "changed"


def test_scan_targets_default_and_unknown(cluster: Cluster) -> None:
    service = SSHFilesService(cluster)
    targets = service.scan_targets(port=2222)
    assert len(targets) == 51 and targets[3].address == "127.52.1.11:2222"
    with pytest.raises(InvalidInput, match="no host named 'nope'"):
        service.scan_targets(["nope"])
