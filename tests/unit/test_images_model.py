import pytest
from hypothesis import given
from hypothesis import strategies as st

from qlutui.backend.demo import CHROOTS, IMAGES, build_inventory, catalog_data
from qlutui.errors import InvalidInput, Refused
from qlutui.model.catalog import Catalog
from qlutui.model.chroots import Chroot, chroots_from_dict
from qlutui.model.images import (
    Image,
    add_module,
    available_modules,
    hosts_using,
    images_from_dict,
    module_packages,
    release_of,
    remove_module,
    unknown_modules,
    validate_image,
)
from qlutui.model.inventory import Inventory
from qlutui.model.versions import parse_version as v


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.from_dict(catalog_data())


@pytest.fixture
def images() -> dict[str, Image]:
    return images_from_dict({"images": IMAGES})


@pytest.fixture
def chroots() -> dict[str, Chroot]:
    return chroots_from_dict({"chroots": CHROOTS})


def noble(version="13.1", modules=("core", "ofed")) -> Image:
    return Image("Standard-noble", "noble", version, modules=list(modules))


def test_images_load_sorted_and_round_trip(images):
    assert list(images) == ["Legacy-jammy", "Standard-bookworm", "Standard-noble"]
    gpu = images["Standard-bookworm"]
    assert gpu.chroot == "bookworm-base" and gpu.postinst == "gpu.sh"
    assert gpu.rootfs == ["ntp-tweaks", "gpu-setup"]
    data = {"images": {name: image.to_dict() for name, image in images.items()}}
    assert images_from_dict(data) == images
    assert images_from_dict({}) == {}


def test_core_is_always_first_and_present():
    assert Image("a", "noble", "13").modules == ["core"]
    assert Image("a", "noble", "13", modules=["ofed", "core", "slurm"]).modules == [
        "core",
        "ofed",
        "slurm",
    ]
    assert Image("a", "noble", "13", modules=["slurm", "slurm"]).modules == ["core", "slurm"]
    loaded = images_from_dict({"images": {"a": {"flavour": "noble", "version": "13"}}})
    assert loaded["a"].modules == ["core"] and loaded["a"].chroot == ""


def entry(**fields):
    base = {"flavour": "noble", "version": "13.1", "modules": ["core"]}
    return {"images": {"img": base | fields}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"images": []}, "images: must be a table"),
        ({"images": {"img": "x"}}, "images.img: must be a table"),
        ({"images": {"-img": {"flavour": "noble", "version": "13"}}}, "images.-img: name: must"),
        (entry(version="13.x"), "images.img: version: invalid version '13.x'"),
        (entry(version=13), "images.img: version: must be text"),
        (entry(flavour="No ble"), "images.img: flavour: must be lower-case"),
        (entry(chroot="../etc"), "images.img: chroot: must contain only"),
        (entry(postinst="-rf"), "images.img: postinst: must not start with '-'"),
        (entry(modules="core"), "images.img: modules: must be a list of names"),
        (entry(modules=["core", "ofed", "ofed"]), "images.img: modules: a name is listed twice"),
        (entry(modules=["core", "Bad_Module"]), "images.img: modules: 'Bad_Module' must"),
        (entry(rootfs=["a", "."]), "images.img: rootfs: '.' must not start with '.'"),
        (entry(description=["x"]), "images.img: description: must be text"),
    ],
)
def test_images_from_dict_names_the_wrong_entry(data, message):
    with pytest.raises(InvalidInput) as caught:
        images_from_dict(data)
    assert str(caught.value).startswith(message)


def test_add_module_returns_a_new_image(catalog):
    image = noble()
    added = add_module(image, "slurm")
    assert added.modules == ["core", "ofed", "slurm"]
    assert image.modules == ["core", "ofed"]  # unchanged
    assert add_module(image, "nvidia", catalog).modules[-1] == "nvidia"


def test_add_module_refusals(catalog):
    with pytest.raises(Refused, match="module 'ofed' is already part of image 'Standard-noble'"):
        add_module(noble(), "ofed")
    with pytest.raises(Refused, match="module 'core' is already part"):
        add_module(noble(), "core")
    with pytest.raises(InvalidInput, match="invalid module name 'a b'"):
        add_module(noble(), "a b")
    with pytest.raises(Refused) as caught:
        add_module(noble(), "lustre-client", catalog)
    assert str(caught.value) == (
        "module 'lustre-client' is not available for image 'Standard-noble' (noble 13.1.1)"
    )
    with pytest.raises(Refused, match=r"\(noble 13.7: no release available\)"):
        add_module(noble("13.7"), "slurm", catalog)


def test_remove_module():
    assert remove_module(noble(), "ofed").modules == ["core"]
    with pytest.raises(Refused) as caught:
        remove_module(noble(), "core")
    assert str(caught.value) == "module 'core' is part of every image and cannot be removed"
    with pytest.raises(Refused, match="module 'slurm' is not part of image 'Standard-noble'"):
        remove_module(noble(), "slurm")


def test_available_modules_follow_flavour_and_resolved_release(catalog):
    latest = available_modules(noble("13.1"), catalog)
    assert "containers" in latest and "ws-xfce" in latest
    assert "core" not in latest and "ofed" not in latest
    assert latest == sorted(latest)
    pinned_old = available_modules(noble("13.0.0"), catalog)
    assert "containers" not in pinned_old and "gridengine" in pinned_old
    assert available_modules(noble("13.0"), catalog) == pinned_old
    assert available_modules(noble("12"), catalog) == []  # no noble in 12.x
    jammy = Image("j", "jammy", "12.0.1", modules=["core"])
    assert "lustre-client" in available_modules(jammy, catalog)


def test_release_of(catalog):
    assert release_of(noble("13"), catalog) == v("13.1.1")
    assert release_of(noble("13.0"), catalog) == v("13.0.0")
    assert release_of(Image("j", "jammy", "12"), catalog) == v("12.0.1")
    assert release_of(noble("12.0.1"), catalog) is None  # that release has no noble


def test_unknown_modules(catalog):
    image = noble("13.0", ["core", "ofed", "containers", "ws-xfce"])
    assert unknown_modules(image, catalog) == ["containers", "ws-xfce"]
    assert unknown_modules(noble("13.1", image.modules), catalog) == []
    assert unknown_modules(noble("14", image.modules), catalog) == []


def test_module_packages(catalog):
    assert module_packages(noble("13", ["core", "beegfs-7-client"]), catalog) == [
        "qlustar-module-core-noble-amd64-13.1.1",
        "qlustar-module-beegfs-7-client-noble-amd64-13.1.1",
    ]
    assert module_packages(noble("13.0.0", ["core"]), catalog) == [
        "qlustar-module-core-noble-amd64-13.0.0"
    ]
    with pytest.raises(Refused) as caught:
        module_packages(noble("13.2"), catalog)
    assert str(caught.value) == (
        "image 'Standard-noble': version 13.2 resolves to no release available for flavour noble"
    )


def test_the_demo_images_are_valid(images, catalog, chroots):
    for image in images.values():
        assert validate_image(image, catalog, chroots) == []


def test_validate_image_warnings(catalog, chroots):
    image = Image("x", "bionic", "13", chroot="bookworm-base")
    assert validate_image(image, catalog, chroots) == [
        "flavour 'bionic' is not offered by any release",
        "version 13 resolves to no release available for bionic",
        "chroot 'bookworm-base' is bookworm, the image is bionic",
    ]
    old = Image("y", "bookworm", "13.0", chroot="bookworm-base", modules=["core", "ws-xfce"])
    assert validate_image(old, catalog, chroots) == [
        "modules not available in 13.0.0 for bookworm: ws-xfce",
        "chroot 'bookworm-base' is version 13.1, the image resolves to 13.0.0",
    ]
    gone = Image("z", "noble", "13", chroot="noble-base")
    assert validate_image(gone, catalog, chroots) == ["chroot 'noble-base' does not exist"]
    broken = Image("-z", "noble", "13")
    assert validate_image(broken, catalog, chroots) == ["name: must not start with '-'"]


def test_hosts_using():
    inv = Inventory.from_dict(build_inventory(6, key_source=lambda c: f"ssh-ed25519 AAAA {c}"))
    assert hosts_using("Standard-noble", inv) == ["beo-01", "beo-02", "beo-03", "beo-04"]
    assert hosts_using("Standard-bookworm", inv) == ["login-c", "beo-05", "beo-06"]
    assert hosts_using("Legacy-jammy", inv) == []


module_names = st.sampled_from(["core", "ofed", "slurm", "nvidia", "ha", "samba"])


@given(st.lists(module_names, max_size=8), st.lists(module_names, max_size=8))
def test_adding_and_removing_keeps_core_first_and_no_repeats(start, steps):
    image = Image("img", "noble", "13", modules=start)
    for module in steps:
        try:
            image = (
                remove_module(image, module)
                if module in image.modules
                else add_module(image, module)
            )
        except Refused:
            assert module == "core"
        assert image.modules[0] == "core"
        assert len(set(image.modules)) == len(image.modules)


def test_an_image_on_a_chroot_that_cannot_serve_it() -> None:
    from qlutui.model.images import chroot_unusable

    def chroot(state: str) -> dict[str, Chroot]:
        path = "/srv/apps/chroots/base"
        return {"base": Chroot("base", "", "beosrv-c", path, "noble", "13.1", [], state)}

    image = Image("img", "noble", "13.1", chroot="base")
    missing = {"base": "missing on beosrv-c"}
    assert chroot_unusable(image, chroot("ready"), {}) == ""
    assert chroot_unusable(image, chroot("ready"), missing) == (
        "chroot 'base' cannot be used (missing on beosrv-c)"
    )
    assert (
        chroot_unusable(image, chroot("failed"), {}) == "chroot 'base' is failed (no usable tree)"
    )
    assert chroot_unusable(image, chroot("building"), missing) == ""  # not asked: no tree yet
    assert chroot_unusable(Image("none", "noble", "13.1"), chroot("failed"), {}) == ""
