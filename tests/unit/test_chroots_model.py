import pytest

from qlutui.backend.demo import CHROOTS, IMAGES
from qlutui.errors import InvalidInput, Refused
from qlutui.model.chroots import (
    Chroot,
    check_removable,
    chroot_problem,
    chroots_from_dict,
    images_using,
)
from qlutui.model.images import Image, images_from_dict


def good(**changes) -> Chroot:
    fields = {
        "name": "noble-base",
        "description": "Base",
        "server": "beosrv-c",
        "path": "/srv/apps/chroots/noble-base",
        "flavour": "noble",
        "version": "13.1",
        "tasks": ["admin-tools"],
    }
    return Chroot(**(fields | changes))


def test_demo_chroots_load_and_round_trip():
    chroots = chroots_from_dict({"chroots": CHROOTS})
    base = chroots["bookworm-base"]
    assert base.server == "beosrv-c" and base.version == "13.1" and base.state == "ready"
    data = {"chroots": {name: c.to_dict() for name, c in chroots.items()}}
    assert chroots_from_dict(data) == chroots
    assert chroots_from_dict({}) == {}


def test_chroots_are_sorted_and_state_defaults_to_ready():
    table = {name: good(name=name).to_dict() for name in ("b", "a", "c")}
    for entry in table.values():
        del entry["state"]
    chroots = chroots_from_dict({"chroots": table})
    assert list(chroots) == ["a", "b", "c"]
    assert {c.state for c in chroots.values()} == {"ready"}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"name": "-x"}, "name: must not start with '-'"),
        ({"server": ""}, "server: must not be empty"),
        ({"server": "beosrv c"}, "server: must contain only"),
        ({"path": "srv/x"}, "path: 'srv/x' is not an absolute path"),
        ({"path": "/srv/../etc"}, "path: '/srv/../etc' must not contain '.' or '..'"),
        ({"path": "/srv/\nx"}, r"path: '/srv/\nx' must not contain control characters"),
        ({"path": "/"}, "path: must be a directory below '/'"),
        ({"flavour": "Noble"}, "flavour: must be lower-case"),
        ({"version": "13"}, "version: '13' is not an x.y version"),
        ({"version": "13.1.1"}, "version: '13.1.1' is not an x.y version"),
        ({"version": "latest"}, "version: 'latest' is not an x.y version"),
        ({"state": "done"}, "state: must be one of ready, building, failed"),
        ({"job": "../j"}, "job: must contain only"),
        ({"tasks": ["ok", "no way"]}, "tasks: 'no way' must contain only"),
    ],
)
def test_chroot_problems(changes, problem):
    assert chroot_problem(good(**changes)).startswith(problem)


def test_a_good_chroot_has_no_problem():
    assert chroot_problem(good()) is None
    assert chroot_problem(good(job="20261128-101500-ab12", state="building", tasks=[])) is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "chroots: must be a table"),
        ({"x": "y"}, "chroots.x: must be a table"),
        ({"x": {"server": 1}}, "chroots.x: server: must be text"),
        ({"x": good().to_dict() | {"tasks": "a"}}, "chroots.x: tasks: must be a list"),
        ({"x": good().to_dict() | {"version": "13"}}, "chroots.x: version: '13' is not an x.y"),
        ({"a\nb": good().to_dict()}, r"chroots.'a\nb': name: must contain only"),
    ],
)
def test_from_dict_names_the_wrong_entry(table, message):
    with pytest.raises(InvalidInput) as caught:
        chroots_from_dict({"chroots": table})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_images_using_and_removal():
    images = images_from_dict({"images": IMAGES})
    images["Another"] = Image("Another", "bookworm", "13", chroot="bookworm-base")
    assert images_using("bookworm-base", images) == ["Another", "Standard-bookworm"]
    assert images_using("bookworm-base", list(images.values())) == [
        "Another",
        "Standard-bookworm",
    ]
    assert images_using("noble-base", images) == []
    assert images_using("", images) == ["Legacy-jammy", "Standard-noble"]  # <None>
    with pytest.raises(Refused) as caught:
        check_removable("bookworm-base", images)
    assert str(caught.value) == (
        "chroot 'bookworm-base' is still being used by the following Qlustar Images:"
        " Another, Standard-bookworm"
    )
    check_removable("noble-base", images)
