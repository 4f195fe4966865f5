import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qlutui.backend.demo import TASKS, catalog_data, init_demo
from qlutui.errors import InvalidInput
from qlutui.model import qlustar
from qlutui.model.catalog import (
    Catalog,
    Flavour,
    Task,
    module_package,
    parse_module_package,
)
from qlutui.model.versions import parse_version as v


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.from_dict(catalog_data())


def test_demo_catalog(catalog):
    assert catalog.flavours() == ["bookworm", "jammy", "noble"]
    assert catalog.releases() == [v(t) for t in ("12.0.0", "12.0.1", "13.0.0", "13.1.0", "13.1.1")]
    assert catalog.releases("noble") == [v("13.0.0"), v("13.1.0"), v("13.1.1")]
    assert catalog.releases("bionic") == []
    assert catalog.modules("noble", v("13.0.0"))[:3] == ["core", "ofed", "slurm"]
    assert "containers" not in catalog.modules("noble", v("13.0.0"))
    assert "containers" in catalog.modules("noble", v("13.1.0"))
    assert catalog.modules("noble", v("12.0.0")) == []
    assert catalog.modules("noble", v("99.0.0")) == []
    assert catalog.xy_versions() == ["12.0", "13.0", "13.1"]
    assert catalog.xy_versions("noble") == ["13.0", "13.1"]
    assert catalog.flavour("bookworm") == Flavour("bookworm", "debian", "bookworm")
    assert catalog.task("debmed-ngs") == Task(
        "debmed-ngs", "Next-generation sequencing tools", ("seqtk",)
    )
    assert catalog.task_names() == ["admin-tools", "debmed-imaging", "debmed-ngs", "nvidia"]


def test_modules_returns_a_copy(catalog):
    catalog.modules("noble", v("13.1.1")).append("evil")
    assert "evil" not in catalog.modules("noble", v("13.1.1"))


def test_unknown_flavour_and_task(catalog):
    with pytest.raises(InvalidInput, match=r"unknown flavour 'bionic' \(defined: bookworm, jammy"):
        catalog.flavour("bionic")
    with pytest.raises(InvalidInput, match="unknown task 'gpu'"):
        catalog.task("gpu")


def test_round_trip(catalog):
    assert Catalog.from_dict(catalog.to_dict()) == catalog


def test_empty_catalog():
    empty = Catalog.from_dict({})
    assert empty.flavours() == [] and empty.releases() == [] and empty.xy_versions() == []


def test_flavours_include_those_only_seen_in_releases():
    catalog = Catalog.from_dict({"releases": [{"version": "1.0.0", "modules": {"trixie": []}}]})
    assert catalog.flavours() == ["trixie"]
    with pytest.raises(InvalidInput, match="unknown flavour 'trixie'"):
        catalog.flavour("trixie")


def test_suite_defaults_to_the_flavour_name():
    catalog = Catalog.from_dict({"flavours": {"noble": {"distribution": "ubuntu"}}})
    assert catalog.flavour("noble").suite == "noble"


def release(version="13.1.1", **modules):
    return {"releases": [{"version": version, "modules": modules or {"noble": ["core"]}}]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"releases": {}}, "releases: must be a list of tables"),
        ({"releases": ["13.1.1"]}, "releases[0]: must be a table"),
        (release("13.1"), "releases[0]: version '13.1' is not a release (x.y.z)"),
        ({"releases": [{"modules": {}}]}, "releases[0]: version None is not a release"),
        (
            {"releases": release()["releases"] * 2},
            "releases[1]: version 13.1.1 is listed twice",
        ),
        (release(Noble=["core"]), "releases[0] (13.1.1): flavour 'Noble' must be lower-case"),
        (release(**{"no-ble": ["core"]}), "releases[0] (13.1.1): flavour 'no-ble' must be"),
        (release(noble="core"), "releases[0] (13.1.1): modules.noble: must be a list"),
        (release(noble=["core", "Of_ed"]), "releases[0] (13.1.1): modules.noble: 'Of_ed' must"),
        (
            release(noble=["core", "core"]),
            "releases[0] (13.1.1): modules.noble: a module is listed twice",
        ),
        ({"flavours": []}, "flavours: must be a table"),
        ({"flavours": {"noble": {}}}, "flavours.noble: distribution None is missing"),
        (
            {"flavours": {"noble": {"distribution": "ubuntu", "suite": "../x"}}},
            "flavours.noble: suite '../x' is missing or not a plain name",
        ),
        ({"tasks": {"-t": {}}}, "tasks.-t: name must not start with '-'"),
        ({"tasks": {"t": {"packages": "vim"}}}, "tasks.t: packages: must be a list"),
        (
            {"tasks": {"t": {"packages": ["vim; rm -rf /"]}}},
            "tasks.t: packages: 'vim; rm -rf /' is not a package name",
        ),
        ({"tasks": {"t": {"description": 3}}}, "tasks.t: description: must be text"),
    ],
)
def test_from_dict_names_the_entry_that_is_wrong(data, message):
    with pytest.raises(InvalidInput) as caught:
        Catalog.from_dict(data)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("package", "parsed"),
    [
        ("qlustar-module-core-noble-amd64-13.1.1", ("core", "noble", "13.1.1")),
        (
            "qlustar-module-beegfs-7-client-noble-amd64-13.1.1",
            ("beegfs-7-client", "noble", "13.1.1"),
        ),
        ("qlustar-module-lustre-2.12-jammy-amd64-12.0.0", ("lustre-2.12", "jammy", "12.0.0")),
        ("qlustar-module-ws-nvidia-bookworm-amd64-13.10.2", ("ws-nvidia", "bookworm", "13.10.2")),
    ],
)
def test_parse_module_package(package, parsed):
    module, flavour, version = parsed
    assert parse_module_package(package) == (module, flavour, v(version))
    assert module_package(module, flavour, v(version)) == package


@pytest.mark.parametrize(
    "package",
    [
        "qlustar-module-core-noble-amd64-13.1",
        "qlustar-module-core-noble-arm64-13.1.1",
        "qlustar-module-noble-amd64-13.1.1",
        "qlustar-module-core-noble-amd64-13.01.1",
        "qlustar-module-Core-noble-amd64-13.1.1",
        "qlustar-base-noble-amd64-13.1.1",
        "qlustar-module-core-noble-amd64-13.1.1\n",
        "libc6",
        "",
    ],
)
def test_parse_module_package_ignores_other_names(package):
    assert parse_module_package(package) is None


def test_from_packages_keeps_flavours_and_tasks_of_the_base(catalog):
    packages = [
        "qlustar-module-slurm-noble-amd64-14.0.0",
        "qlustar-module-core-noble-amd64-14.0.0",
        "qlustar-module-beegfs-7-client-noble-amd64-14.0.0",
        "qlustar-module-core-bookworm-amd64-14.0.0",
        "qlustar-module-core-noble-amd64-13.1.1",
        "libc6",
        "qlustar-module-core-noble-amd64-13.1.1",  # listed twice: counted once
    ]
    built = Catalog.from_packages(packages, catalog)
    assert built.releases() == [v("13.1.1"), v("14.0.0")]
    assert built.modules("noble", v("14.0.0")) == ["core", "beegfs-7-client", "slurm"]
    assert built.modules("noble", v("13.1.1")) == ["core"]
    assert built.releases("bookworm") == [v("14.0.0")]
    assert built.flavour_defs == catalog.flavour_defs and built.task_defs == catalog.task_defs
    assert Catalog.from_dict(built.to_dict()) == built


modules_st = st.from_regex(r"[a-z0-9][a-z0-9.+-]{0,15}", fullmatch=True)
flavours_st = st.from_regex(r"[a-z0-9][a-z0-9.+]{0,10}", fullmatch=True)
versions_st = st.tuples(*[st.integers(0, 999)] * 3).map(lambda p: ".".join(map(str, p)))


@given(modules_st, flavours_st, versions_st)
def test_package_names_round_trip(module, flavour, version):
    package = module_package(module, flavour, v(version))
    assert parse_module_package(package) == (module, flavour, v(version))


@pytest.mark.parametrize("tasks", [None, TASKS], ids=["init", "demo"])
def test_the_written_catalog_is_the_known_one_commented(tasks: dict | None) -> None:
    """`qlutui init` and the demo write catalog.toml from one source: what it parses to is
    the known catalog (with the demo's tasks), every line fits the admin's editor."""
    text = qlustar.catalog_toml(tasks)
    assert tomllib.loads(text) == qlustar.catalog_data(tasks)
    catalog = Catalog.from_dict(tomllib.loads(text))
    assert catalog.flavours() == sorted(qlustar.FLAVOURS)
    assert [str(r) for r in catalog.releases()] == list(qlustar.RELEASES)
    assert catalog.flavour("noble").distribution == "ubuntu"
    assert catalog.task_names() == sorted(tasks or {})
    assert text.startswith("# ") and all(len(line) <= qlustar.WIDTH for line in text.splitlines())
    assert ("# [tasks.debmed-imaging]" in text) is (tasks is None)  # an example to start from


def test_the_demo_catalog_is_the_known_one(tmp_path) -> None:
    written = (init_demo(tmp_path / "demo").parent / "state/catalog.toml").read_text()
    assert written == qlustar.catalog_toml(TASKS)
