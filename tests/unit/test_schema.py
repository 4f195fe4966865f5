"""Unknown keys of the state files: reported by dotted path, whatever the nesting."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from qlutui.backend.demo import init_demo
from qlutui.backend.store import AREAS
from qlutui.model.schema import unknown_keys


def test_the_demo_state_files_have_none(tmp_path: Path) -> None:
    state = init_demo(tmp_path / "demo").parent / "state"
    for area in AREAS:
        assert unknown_keys(area, tomllib.loads((state / f"{area}.toml").read_text())) == []


@pytest.mark.parametrize(
    ("area", "data", "unknown"),
    [
        ("images", {"images": {"A": {"chrot": "x", "flavour": "b"}}}, ["images.A.chrot"]),
        ("images", {"image": {}}, ["image"]),
        ("chroots", {"chroots": {"c": {"state": "ready", "size": 1}}}, ["chroots.c.size"]),
        ("rootfs", {"configs": {"ntp": {"descr": ""}}}, ["configs.ntp.descr"]),
        (
            "inventory",
            {
                "hosts": [{"name": "a"}, {"name": "b", "imgae": "x", "ips": {"any": "1.2.3.4"}}],
                "networks": [{"name": "boot", "vlan": 3}],
                "default_host_keys": [],
            },
            ["hosts[1].imgae", "networks[0].vlan"],
        ),
        (
            "catalog",
            {
                "releases": [{"version": "13.1.1", "modules": {"noble": ["core"]}, "date": 1}],
                "flavours": {"noble": {"suite": "noble", "distro": "ubuntu"}},
                "tasks": {"t": {"packages": [], "note": ""}},
            },
            ["releases[0].date", "flavours.noble.distro", "tasks.t.note"],
        ),
        ("images", {"images": {"bad name": {"x y": 1}}}, ["images.'bad name'.'x y'"]),
        ("images", {"images": "not a table"}, []),  # a wrong type is the model's to report
        ("sshfiles", {"whatever": {}}, []),  # sshfiles.toml refuses unknown keys itself
    ],
)
def test_unknown_keys(area: str, data: dict, unknown: list[str]) -> None:
    assert unknown_keys(area, data) == unknown
