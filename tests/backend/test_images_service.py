"""The Images service against a real demo cluster: real state files, real local transport."""

from __future__ import annotations

import fcntl
import os
import tomllib
from pathlib import Path

import pytest
import tomlkit

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.images import ImagesService
from qlutui.errors import ConflictError, InvalidInput, QlutuiError, Refused
from qlutui.model.catalog import Catalog


@pytest.fixture
async def cluster(tmp_path: Path):
    cluster = Cluster.open(init_demo(tmp_path / "demo"))
    yield cluster
    await cluster.aclose()


def images_file(cluster: Cluster) -> dict:
    return tomllib.loads((cluster.config.state_dir / "images.toml").read_text())["images"]


def set_catalog(cluster: Cluster, releases: dict[str, dict[str, list[str]]]) -> None:
    data = tomllib.loads((cluster.config.state_dir / "catalog.toml").read_text())
    data["releases"] = [{"version": v, "modules": m} for v, m in releases.items()]
    (cluster.config.state_dir / "catalog.toml").write_text(tomlkit.dumps(data))


async def test_load_falls_back_to_catalog_toml(cluster: Cluster) -> None:
    service = ImagesService(cluster)
    state = await service.load()
    assert list(state.images) == ["Legacy-jammy", "Standard-bookworm", "Standard-noble"]
    assert state.catalog_source.startswith("catalog.toml (no qlustar-module packages on beosrv-c")
    assert len(state.users["Standard-noble"]) == 32
    assert service.version_text(state, state.images["Standard-noble"]) == (
        "13.1 → 13.1.1 (maintenance releases)"
    )
    assert service.version_text(state, state.images["Standard-bookworm"]) == (
        "13 → 13.1.1 (follows feature releases)"
    )
    assert service.version_text(state, state.images["Legacy-jammy"]) == "12.0.1 (pinned)"
    assert service.packages(state, "Standard-noble") == [
        "qlustar-module-core-noble-amd64-13.1.1",
        "qlustar-module-ofed-noble-amd64-13.1.1",
        "qlustar-module-slurm-noble-amd64-13.1.1",
    ]


async def test_catalog_from_installed_packages(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real dpkg-query (a script first on PATH) run through the real local transport."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "dpkg-query"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$4" = "qlustar-module-*" ] || exit 2\n'
        "printf 'installed %s\\n' qlustar-module-core-noble-amd64-13.10.0 "
        "qlustar-module-slurm-noble-amd64-13.10.0 qlustar-module-core-noble-amd64-13.9.0 "
        "qlustar-module-gpu-x-noble-amd64-13.9.0 not-a-module-package\n"
        # removed, only its config files left: not available
        "echo 'config-files qlustar-module-nvidia-noble-amd64-13.9.0'\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    service = ImagesService(cluster)
    state = await service.load()
    assert state.catalog_source == "module packages installed on beosrv-c"
    assert [str(v) for v in state.catalog.releases("noble")] == ["13.9.0", "13.10.0"]
    assert state.catalog.modules("noble", state.catalog.releases()[0]) == ["core", "gpu-x"]
    noble = state.images["Standard-noble"]  # 13.1 no longer resolves
    assert service.version_text(state, noble) == (
        "13.1 → no release available (maintenance releases)"
    )
    state = service.update(state, "Standard-noble", version="13")
    assert service.version_text(state, state.images["Standard-noble"]) == (
        "13 → 13.10.0 (follows feature releases)"
    )
    assert service.packages(state, "Standard-noble")[0] == "qlustar-module-core-noble-amd64-13.10.0"
    # ofed is not offered by 13.10.0: flagged, and never offered for adding
    assert service.unknown_modules(state, "Standard-noble") == ["ofed"]
    assert any("ofed" in w for w in service.warnings(state, "Standard-noble"))
    assert service.addable_modules(state, "Standard-noble") == []


def test_catalog_from_packages_parsing() -> None:
    base = Catalog.from_dict({"flavours": {"noble": {"distribution": "ubuntu"}}})
    catalog = Catalog.from_packages(
        [
            "qlustar-module-beegfs-7-client-noble-amd64-13.1.1",
            "qlustar-module-core-noble-amd64-13.1.1",
            "qlustar-module-core-noble-amd64-13.01.1",  # leading zero: not a release
            "qlustar-module-core-noble-arm64-13.1.1",
        ],
        base,
    )
    assert [str(v) for v in catalog.releases()] == ["13.1.1"]
    assert catalog.modules("noble", catalog.releases()[0]) == ["core", "beegfs-7-client"]
    assert catalog.flavour("noble").distribution == "ubuntu"


async def test_version_edge_cases(cluster: Cluster) -> None:
    service = ImagesService(cluster)
    set_catalog(
        cluster,
        {
            "13.9.0": {"noble": ["core"]},
            "13.10.0": {"noble": ["core"]},
            "12.0.0": {"jammy": ["core"]},
        },
    )
    state = await service.load()
    # ordering is numeric: 13.10 > 13.9
    assert service.version_choices(state, "noble") == [
        "13", "13.9", "13.9.0", "13.10", "13.10.0"
    ]  # fmt: skip
    assert service.default_version(state, "noble") == "13.10"
    # a major with no release: refused with the choices
    with pytest.raises(InvalidInput, match=r"version 14 matches no release for noble"):
        service.update(state, "Standard-noble", version="14")
    # the pinned release 12.0.1 was removed from the catalog: a clear warning
    legacy = state.images["Legacy-jammy"]
    assert service.version_text(state, legacy) == (
        "12.0.1 (pinned, not available on the head-node)"
    )
    assert "version 12.0.1 resolves to no release available for jammy" in service.warnings(
        state, "Legacy-jammy"
    )
    assert service.packages(state, "Legacy-jammy") == []
    # ... and the image can still be edited otherwise
    state = service.update(state, "Legacy-jammy", description="still pinned")
    assert images_file(cluster)["Legacy-jammy"]["description"] == "still pinned"
    # upgrade preview: bookworm's `13` resolves to nothing today and would take 13.10.1
    moves = service.upgrade_preview(state, "13.10.1")
    assert [(m.image, str(m.choice), m.before, str(m.after)) for m in moves] == [
        ("Standard-bookworm", "13", None, "13.10.1"),
    ]
    with pytest.raises(InvalidInput):
        service.upgrade_preview(state, "13.10")


async def test_upgrade_preview_on_demo_catalog(cluster: Cluster) -> None:
    service = ImagesService(cluster)
    state = await service.load()
    moves = service.upgrade_preview(state, "13.1.2")
    assert [(m.image, str(m.before), str(m.after)) for m in moves] == [
        ("Standard-bookworm", "13.1.1", "13.1.2"),
        ("Standard-noble", "13.1.1", "13.1.2"),
    ]
    assert [m.image for m in service.upgrade_preview(state, "13.2.0")] == ["Standard-bookworm"]


async def test_create_rename_delete(cluster: Cluster) -> None:
    service = ImagesService(cluster)
    state = await service.load()
    with pytest.raises(InvalidInput, match="invalid image name"):
        service.create(state, "-bad", flavour="noble", version="13")
    with pytest.raises(Refused, match="exists already"):
        service.create(state, "Legacy-jammy", flavour="noble", version="13")
    with pytest.raises(Refused, match="not available for image 'New'"):
        service.create(state, "New", flavour="noble", version="13", modules=["lustre-2.12"])
    state = service.create(
        state, "New", flavour="noble", version="13.1.0", modules=["nvidia"], rootfs=["gpu-setup"]
    )
    assert images_file(cluster)["New"] == {
        "flavour": "noble",
        "version": "13.1.0",
        "chroot": "",
        "modules": ["core", "nvidia"],
        "postinst": "",
        "description": "",
        "rootfs": ["gpu-setup"],
    }
    # rename: the hosts follow
    state = service.rename(state, "Standard-noble", "Compute-noble")
    inventory = (cluster.config.state_dir / "inventory.toml").read_text()
    assert 'image = "Standard-noble"' not in inventory
    assert inventory.count('image = "Compute-noble"') == 32
    assert len(service.hosts_using(state, "Compute-noble")) == 32
    # delete: refused while hosts use it, listing them; nothing changes
    before = (cluster.config.state_dir / "images.toml").read_bytes()
    with pytest.raises(Refused, match=r"still used by 32 hosts: beo-\[01-32\]$"):
        service.delete(state, "Compute-noble")
    assert (cluster.config.state_dir / "images.toml").read_bytes() == before
    state = service.delete(state, "New")
    assert "New" not in images_file(cluster)
    assert "New" not in state.images


async def test_rename_is_undone_when_the_hosts_cannot_follow(cluster: Cluster) -> None:
    """inventory.toml held by another process: the image keeps its name (no host is left
    naming an image that does not exist) and the error says why."""
    service = ImagesService(cluster)
    state = await service.load()
    cluster.store.lock_timeout = 0.2
    state_dir = cluster.config.state_dir
    inventory = (state_dir / "inventory.toml").read_bytes()
    lock = os.open(state_dir / "inventory.toml.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(
            QlutuiError,
            match=r"^image 'Standard-noble' not renamed: inventory\.toml is locked by another",
        ):
            service.rename(state, "Standard-noble", "Compute-noble")
    finally:
        os.close(lock)
    assert "Standard-noble" in images_file(cluster) and "Compute-noble" not in images_file(cluster)
    assert (state_dir / "inventory.toml").read_bytes() == inventory
    state = await service.load()  # and the rename works once the lock is gone
    state = service.rename(state, "Standard-noble", "Compute-noble")
    assert len(service.hosts_using(state, "Compute-noble")) == 32


async def test_modules_and_chroot_rules(cluster: Cluster) -> None:
    service = ImagesService(cluster)
    state = await service.load()
    addable = service.addable_modules(state, "Standard-noble")
    assert "ofed" not in addable and "lustre-client" not in addable and "nvidia" in addable
    with pytest.raises(Refused, match="module 'core' is part of every image"):
        service.remove_module(state, "Standard-noble", "core")
    with pytest.raises(Refused, match="not available"):
        service.add_module(state, "Standard-noble", "lustre-client")
    state = service.add_module(state, "Standard-noble", "nvidia")
    state = service.remove_module(state, "Standard-noble", "ofed")
    assert images_file(cluster)["Standard-noble"]["modules"] == ["core", "slurm", "nvidia"]
    # a chroot of another flavour needs force, and is then flagged
    with pytest.raises(Refused, match="chroot 'bookworm-base' is bookworm, the image is noble"):
        service.update(state, "Standard-noble", chroot="bookworm-base")
    assert images_file(cluster)["Standard-noble"]["chroot"] == ""
    state = service.update(state, "Standard-noble", chroot="bookworm-base", force=True)
    assert images_file(cluster)["Standard-noble"]["chroot"] == "bookworm-base"
    assert any("bookworm-base" in w for w in service.warnings(state, "Standard-noble"))
    state = service.update(state, "Standard-noble", chroot="")
    assert images_file(cluster)["Standard-noble"]["chroot"] == ""
    with pytest.raises(InvalidInput, match="no chroot named 'nope'"):
        service.update(state, "Standard-noble", chroot="nope")
    with pytest.raises(InvalidInput, match="no root-fs config named 'nope'"):
        service.update(state, "Standard-noble", rootfs=["nope"])
    with pytest.raises(InvalidInput, match="unknown flavour 'sid'"):
        service.update(state, "Standard-noble", flavour="sid")


async def test_conflict_with_another_admin(cluster: Cluster) -> None:
    service = ImagesService(cluster)
    state = await service.load()
    other = ImagesService(cluster)
    other_state = await other.load()
    other.update(other_state, "Legacy-jammy", description="changed elsewhere")
    with pytest.raises(ConflictError, match=r"images\.toml was changed by someone else"):
        service.update(state, "Legacy-jammy", description="mine")
    assert images_file(cluster)["Legacy-jammy"]["description"] == "changed elsewhere"
