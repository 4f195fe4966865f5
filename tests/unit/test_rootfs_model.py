import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qlutui.backend.demo import ROOTFS
from qlutui.errors import InvalidInput
from qlutui.model.rootfs import (
    INITD,
    Clash,
    RootfsConfig,
    boot_order,
    clashes,
    configs_from_dict,
    move_problem,
    normalize_relpath,
    runparts_name_ok,
    script_problems,
)


def test_configs_load_sorted_and_round_trip():
    data = {"configs": {name: {"description": d} for name, (d, _) in ROOTFS.items()}}
    configs = configs_from_dict(data)
    assert list(configs) == ["gpu-setup", "ntp-tweaks"]
    assert configs["ntp-tweaks"] == RootfsConfig("ntp-tweaks", "Chrony pointing at the head-nodes")
    assert configs_from_dict({"configs": {n: c.to_dict() for n, c in configs.items()}}) == configs
    assert configs_from_dict({"configs": {"bare": {}}})["bare"].description == ""
    assert configs_from_dict({}) == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"configs": []}, "configs: must be a table"),
        ({"configs": {"../x": {}}}, "configs.../x: name must contain only"),
        ({"configs": {".x": {}}}, "configs..x: name must not start with '.'"),
        ({"configs": {"x": "text"}}, "configs.x: must be a table with a text description"),
        ({"configs": {"x": {"description": 1}}}, "configs.x: must be a table"),
    ],
)
def test_configs_from_dict_names_the_wrong_entry(data, message):
    with pytest.raises(InvalidInput) as caught:
        configs_from_dict(data)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("path", "clean"),
    [
        ("etc/chrony/conf.d/qlustar.conf", "etc/chrony/conf.d/qlustar.conf"),
        ("a//b/./c/", "a/b/c"),
        ("./etc", "etc"),
        (".bashrc", ".bashrc"),
        ("...", "..."),
        ("a..b/c", "a..b/c"),
        ("my file (1).txt", "my file (1).txt"),
        ("données/été", "données/été"),
        ("-rf", "-rf"),
    ],
)
def test_normalize_relpath_accepts_and_cleans(path, clean):
    assert normalize_relpath(path) == clean


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd", "must be relative to the config directory"),
        ("//etc", "must be relative to the config directory"),
        ("..", "must not contain '..'"),
        ("a/../../etc", "must not contain '..'"),
        ("a/..", "must not contain '..'"),
        ("", "must name something inside the config"),
        (".", "must name something inside the config"),
        ("./", "must name something inside the config"),
        ("a\x00b", "must not contain control characters"),
        ("a\nb", "must not contain control characters"),
        ("a\tb", "must not contain control characters"),
        ("x" * 256, "a name is longer than 255 bytes"),
        ("é" * 128, "a name is longer than 255 bytes"),
        ("/".join(["x" * 200] * 21), "is longer than 4096 bytes"),
    ],
)
def test_normalize_relpath_refuses(path, reason):
    with pytest.raises(InvalidInput) as caught:
        normalize_relpath(path)
    assert str(caught.value).endswith(reason)
    assert "\n" not in str(caught.value) and "\x00" not in str(caught.value)


def test_normalize_relpath_message_shows_the_path():
    with pytest.raises(InvalidInput, match=r"^invalid path '/etc': must be relative"):
        normalize_relpath("/etc")


@given(st.text(max_size=60))
def test_normalized_paths_never_leave_the_config(path):
    try:
        clean = normalize_relpath(path)
    except InvalidInput:
        return
    parts = clean.split("/")
    assert not clean.startswith("/") and "" not in parts
    assert ".." not in parts and "." not in parts
    assert clean.isprintable()
    assert normalize_relpath(clean) == clean


@pytest.mark.parametrize("name", ["10-chrony-wait", "S20_net", "a", "ABC-09_x"])
def test_runparts_names_that_run(name):
    assert runparts_name_ok(name)


@pytest.mark.parametrize("name", ["30-gpu-clocks.sh", "x~", "a b", "", ".hidden", "é", "a\n"])
def test_runparts_names_that_are_skipped(name):
    assert not runparts_name_ok(name)


def test_boot_order_is_bytewise():
    names = ["b", "B", "_x", "10-a", "9-z", "-dash", "a", "Z", "é"]
    assert boot_order(names) == ["-dash", "10-a", "9-z", "B", "Z", "_x", "a", "b", "é"]
    assert boot_order([]) == []


@given(st.lists(st.text(alphabet="abcXYZ019_-", min_size=1, max_size=6)))
def test_boot_order_matches_the_c_locale(names):
    assert boot_order(names) == sorted(names, key=lambda n: n.encode())


REG = stat.S_IFREG


def test_a_good_script_has_no_problems():
    assert script_problems("10-chrony-wait", REG | 0o755, b"#!/bin/sh\necho\n") == []
    assert script_problems("10-bin", 0o700, b"\x7fELF\x02\x01") == []  # permission bits only


def test_script_problems_explain_why_it_will_not_run():
    assert script_problems("30-gpu-clocks.sh", REG | 0o755, b"#!/bin/sh\n") == [
        "name has characters other than letters, digits, '_' and '-': run-parts skips it"
    ]
    assert script_problems("40-fabric-check", REG | 0o644, b"#!/bin/sh\n") == [
        "not executable: run-parts skips it"
    ]
    assert script_problems("50-x", REG | 0o755, b"echo hi\n") == [
        "no '#!' line: the kernel cannot run it"
    ]
    assert script_problems("50-x", REG | 0o755, b"") == ["no '#!' line: the kernel cannot run it"]
    assert script_problems("60-dos", REG | 0o755, b"#!/bin/sh\r\necho\r\n") == [
        "the '#!' line ends in CR (DOS line ending): it cannot run"
    ]
    assert script_problems("70-empty", REG | 0o755, b"#!  \n") == [
        "the '#!' line names no interpreter"
    ]
    assert script_problems("a.b", REG | 0o600, b"data") == [
        "name has characters other than letters, digits, '_' and '-': run-parts skips it",
        "not executable: run-parts skips it",
        "no '#!' line: the kernel cannot run it",
    ]


def test_directories_and_links_in_initd_are_skipped():
    assert script_problems("10-dir", stat.S_IFDIR | 0o755, b"") == [
        "not a regular file: run-parts skips it"
    ]
    assert script_problems("10-link", stat.S_IFLNK | 0o777, b"") == [
        "not a regular file: run-parts skips it"
    ]


def test_demo_initd_scripts():
    files = ROOTFS["gpu-setup"][1]
    flagged = {
        rel.rsplit("/", 1)[1]: script_problems(
            rel.rsplit("/", 1)[1], REG | mode, content.encode()[:128]
        )
        for rel, (mode, content) in files.items()
        if rel.startswith(INITD + "/")
    }
    assert flagged["20-nvidia-persistenced"] == []
    assert flagged["30-gpu-clocks.sh"] and flagged["40-fabric-check"]


def test_clashes_are_paths_several_configs_of_one_image_ship() -> None:
    shipped = {
        "a": {"etc": "dir", "etc/motd": "file", "lib/x": "file"},
        "b": {"etc": "dir", "etc/motd": "link", "lib/x": "dir"},
        "c": {"etc": "dir", "etc/motd": "file"},
    }
    found = clashes({"img1": ["b", "a"], "img2": ["a"], "img3": ["c", "c"]}, shipped)
    assert found == [
        Clash("img1", "etc/motd", ("b", "a")),  # the image's order
        Clash("img1", "lib/x", ("b", "a")),  # a file beside a directory
    ]  # etc, a directory in both, is merged; a config listed twice is one
    assert str(found[0]) == (
        "/etc/motd is shipped by root-fs configs b, a: the node gets only one of them,"
        " which one is not defined"
    )


@pytest.mark.parametrize(
    ("path", "new_path", "problem"),
    [
        ("etc/chrony", "etc/chrony", "it is the same path"),
        ("etc/chrony", "etc/chrony/x", "the new path is inside it"),
        ("etc", "etc/chrony/a/b", "the new path is inside it"),
        ("etc/chrony", "etc/chrony2", None),
        ("etc/chrony", "etc", None),
        ("etc/chrony/x", "etc/chrony", None),
    ],
)
def test_a_move_onto_or_below_itself_is_refused(path, new_path, problem):
    assert move_problem(path, new_path) == problem
