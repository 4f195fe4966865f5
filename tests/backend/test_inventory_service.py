"""The inventory service against a real demo cluster: real state files, real store."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.inventory import InventoryRefused, InventoryService
from qlutui.errors import ConflictError, QlutuiError
from qlutui.model.inventory import Host, Network
from qlutui.model.inventory_edit import (
    AUTO,
    HostFields,
    add_hosts,
    add_network,
    remove_hosts,
    set_hosts,
)
from qlutui.model.noderange import expand


@pytest.fixture
async def cluster(tmp_path: Path):
    cluster = Cluster.open(init_demo(tmp_path / "demo"))
    yield cluster
    await cluster.aclose()


def inventory_path(cluster: Cluster) -> Path:
    return cluster.config.state_dir / "inventory.toml"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bulk_add_writes_only_the_new_entries_and_keeps_comments(cluster: Cluster) -> None:
    path = inventory_path(cluster)
    text = path.read_text().replace(
        'name = "beo-01"', 'name = "beo-01"  # rack 3, the one with the loud fan'
    )
    path.write_text("# edited by hand\n" + text)
    before = path.read_text()
    service = InventoryService(cluster)
    state = service.load()
    names = expand("gpu-[01-48]")
    fields = HostFields(
        ips={"boot": "127.52.2.1", "ib": AUTO, "ipmi": AUTO}, image="Standard-noble"
    )
    change = service.apply(state, add_hosts(state.inventory, names, fields), summary="add gpus")
    assert change.added == names and change.changed == change.removed == []
    assert change.text() == "added 48 hosts (gpu-[01-48])"
    after = path.read_text()
    assert after.startswith(before)  # every byte of the file as it was is still there
    assert "# rack 3, the one with the loud fan" in after
    data = tomllib.loads(after)
    gpu = {h["name"]: h for h in data["hosts"]}["gpu-48"]
    assert gpu["ips"] == {"boot": "127.52.2.48", "ib": "127.53.2.48", "ipmi": "127.54.2.48"}
    assert gpu["image"] == "Standard-noble"
    assert len(cluster.store.history("inventory")) == 1
    audit = (cluster.config.state_dir / "audit.log").read_text()
    assert "add gpus: added 48 hosts (gpu-[01-48])" in audit


def test_a_change_updates_the_entry_in_place(cluster: Cluster) -> None:
    path = inventory_path(cluster)
    path.write_text(path.read_text().replace('boot = "127.52.1.11"', 'boot = "127.52.1.11"  # x'))
    service = InventoryService(cluster)
    state = service.load()
    fields = HostFields(image="Legacy-jammy", macs={"boot": "AA:BB:CC:DD:EE:01"})
    change = service.apply(state, set_hosts(state.inventory, ["beo-01"], fields), summary="s")
    assert change.changed == ["beo-01"]
    text = path.read_text()
    assert 'boot = "127.52.1.11"  # x' in text  # the table [hosts.ips] kept as it was
    beo = next(h for h in tomllib.loads(text)["hosts"] if h["name"] == "beo-01")
    assert beo["image"] == "Legacy-jammy" and beo["macs"] == {"boot": "aa:bb:cc:dd:ee:01"}
    state = service.load()
    assert state.inventory.hosts[3].macs == {"boot": "aa:bb:cc:dd:ee:01"}
    service.apply(state, remove_hosts(state.inventory, ["beo-01"]), summary="rm")
    assert "beo-01" not in {h["name"] for h in tomllib.loads(path.read_text())["hosts"]}
    assert "# x" not in path.read_text()


def test_unknown_keys_of_an_entry_survive_an_edit(cluster: Cluster) -> None:
    path = inventory_path(cluster)
    path.write_text(path.read_text().replace('name = "beo-02"', 'name = "beo-02"\nrack = 7'))
    service = InventoryService(cluster)
    state = service.load()
    service.apply(state, set_hosts(state.inventory, ["beo-02"], HostFields(image="")), summary="s")
    beo = next(h for h in tomllib.loads(path.read_text())["hosts"] if h["name"] == "beo-02")
    assert beo["rack"] == 7 and "image" not in beo


@pytest.mark.parametrize(
    ("edit", "reasons"),
    [
        (  # an IP another host has (one host gets the IP it is given), and its mapped ib IP
            lambda inv: add_hosts(
                inv, ["new"], HostFields(ips={"boot": "127.52.1.11", "ib": AUTO})
            ),
            [
                "ip '127.52.1.11' used by beo-01 (boot), new (boot)",
                "ip '127.53.1.11' used by beo-01 (ib), new (ib)",
            ],
        ),
        (
            lambda inv: set_hosts(inv, ["beo-01"], HostFields(aliases={"boot": ["beo-02"]})),
            ["name 'beo-02' used by beo-01 (alias on boot), beo-02 (node name)"],
        ),
        (
            lambda inv: set_hosts(
                inv, ["beo-0" + str(i) for i in range(1, 4)], HostFields(image="Nope")
            ),
            ["unknown image 'Nope' for beo-[01-03]"],
        ),
        (
            lambda inv: add_network(inv, Network("ib2", "ib", suffix="ib", cidr="127.55.0.0/16")),
            ["suffix 'ib' used by several networks: ib, ib2"],
        ),
        (
            lambda inv: set_hosts(
                inv, ["beo-01", "beo-02"], HostFields(macs={"boot": "aa:aa:aa:aa:aa:aa"})
            ),
            ["mac 'aa:aa:aa:aa:aa:aa' used by beo-01 (boot), beo-02 (boot)"],
        ),
        (
            lambda inv: inv.__class__(
                inv.networks, [*inv.hosts, Host("x", {"boot": "127.52.1.11 "})]
            ),
            ["invalid IP '127.52.1.11 ' (x (boot))"],
        ),
        (  # a rule only the entry check has: MACs stored in the plain form
            lambda inv: inv.__class__(
                inv.networks,
                [*inv.hosts, Host("x", {"boot": "127.52.9.1"}, macs={"boot": "AA:BB:CC:DD:EE:FF"})],
            ),
            [
                "hosts[0] (x): macs.boot: not a MAC address in the form aa:bb:cc:dd:ee:ff"
                " ('AA:BB:CC:DD:EE:FF')"
            ],
        ),
    ],
)
def test_refused_edits_name_every_problem_and_change_nothing(
    cluster: Cluster, edit, reasons: list[str]
) -> None:
    path = inventory_path(cluster)
    before = digest(path)
    service = InventoryService(cluster)
    state = service.load()
    new = edit(state.inventory)
    with pytest.raises(InventoryRefused) as info:
        service.apply(state, new, summary="bad")
    for reason in reasons:
        assert reason in info.value.problems, info.value.problems
        assert reason in str(info.value)
    assert "\n" not in str(info.value)
    assert digest(path) == before
    assert cluster.store.history("inventory") == []


def test_problems_the_file_had_do_not_block_an_edit(cluster: Cluster) -> None:
    path = inventory_path(cluster)
    path.write_text(path.read_text().replace('"127.52.1.12"', '"127.52.1.11"'))  # a clash
    service = InventoryService(cluster)
    state = service.load()
    change = service.apply(
        state, set_hosts(state.inventory, ["beo-03"], HostFields(image="")), summary="s"
    )
    assert change.changed == ["beo-03"]


def test_dry_run_changes_nothing(cluster: Cluster) -> None:
    path = inventory_path(cluster)
    before = digest(path)
    service = InventoryService(cluster)
    state = service.load()
    new = remove_hosts(state.inventory, expand("beo-[40-48]"))
    change = service.apply(state, new, summary="rm", dry_run=True)
    assert change.removed == expand("beo-[40-48]")
    assert change.to_dict()["text"] == "would have removed 9 hosts (beo-[40-48])"
    assert digest(path) == before


def test_another_process_editing_meanwhile_is_a_conflict(cluster: Cluster) -> None:
    service = InventoryService(cluster)
    state = service.load()
    other = (  # a real second process adds a host through its own service
        "import sys\n"
        "from qlutui.backend.cluster import Cluster\n"
        "from qlutui.backend.inventory import InventoryService\n"
        "from qlutui.model.inventory_edit import HostFields, add_hosts\n"
        "s = InventoryService(Cluster.open(sys.argv[1]))\n"
        "st = s.load()\n"
        "s.apply(st, add_hosts(st.inventory, ['other'], HostFields(ips={'boot': 'auto'})),"
        " summary='other')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run(
        [sys.executable, "-c", other, str(cluster.config.path)], check=True, env=env, timeout=60
    )
    new = set_hosts(state.inventory, ["beo-01"], HostFields(image=""))
    with pytest.raises(ConflictError, match=r"inventory\.toml was changed by someone else"):
        service.apply(state, new, summary="mine")
    hosts = {h["name"]: h for h in tomllib.loads(inventory_path(cluster).read_text())["hosts"]}
    assert "other" in hosts and hosts["beo-01"]["image"] == "Standard-noble"  # nothing lost
    state = service.load()  # reloaded, the same edit goes through
    service.apply(state, set_hosts(state.inventory, ["beo-01"], HostFields(image="")), summary="m")


def test_no_change_writes_nothing(cluster: Cluster) -> None:
    service = InventoryService(cluster)
    state = service.load()
    change = service.apply(state, state.inventory, summary="nothing")
    assert change.empty and change.text() == "no change"
    assert cluster.store.history("inventory") == []


def test_a_new_inventory_file(tmp_path: Path) -> None:
    cluster = Cluster.open(init_demo(tmp_path / "demo"))
    inventory_path(cluster).unlink()
    service = InventoryService(cluster)
    state = service.load()
    assert state.token == ""
    inv = add_network(state.inventory, Network("boot", "ether", primary=True, cidr="127.9.0.0/24"))
    service.apply(state, inv, summary="network")
    state = service.load()
    service.apply(
        state, add_hosts(state.inventory, ["a"], HostFields(ips={"boot": AUTO})), summary="host"
    )
    data = tomllib.loads(inventory_path(cluster).read_text())
    assert data["hosts"] == [{"name": "a", "ips": {"boot": "127.9.0.1"}}]
    assert data["networks"][0]["cidr"] == "127.9.0.0/24"


def _bulk(cluster: Cluster, names: list[str], **fields: object) -> None:
    service = InventoryService(cluster)
    state = service.load()
    host = HostFields(ips={"boot": "127.52.2.1", "ib": AUTO, "ipmi": AUTO}, **fields)  # type: ignore[arg-type]
    service.apply(state, add_hosts(state.inventory, names, host), summary="bulk")


def test_a_bulk_add_appends_text_without_tomlkit_and_writes_what_tomlkit_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only hosts added: their tables are appended to the file's text (no tomlkit parse of
    the whole file, the cost of a 10,000-host add), the same bytes the tomlkit way writes."""
    import tomlkit

    from qlutui.backend import inventory

    names = expand("gpu-[01-48]")
    fields = {"image": "Standard-noble", "aliases": {"ib": ["{name}-hca"]}}
    slow = Cluster.open(init_demo(tmp_path / "slow"))
    fast = Cluster.open(init_demo(tmp_path / "fast"))
    path = inventory_path(fast)
    path.write_bytes(inventory_path(slow).read_bytes())  # the same host keys
    with monkeypatch.context() as patch:  # the tomlkit way: no append fast path
        patch.setattr(inventory.InventoryService, "_edit_text", lambda *a: None)
        _bulk(slow, names, **fields)
    monkeypatch.setattr(tomlkit, "parse", lambda *a: pytest.fail("tomlkit parsed the file"))
    _bulk(fast, names, **fields)
    assert path.read_text() == inventory_path(slow).read_text()
    assert len(fast.store.history("inventory")) == 1
    assert "bulk: added 48 hosts (gpu-[01-48])" in (fast.config.state_dir / "audit.log").read_text()
    data = tomllib.loads(path.read_text())
    assert data["hosts"][-1]["aliases"] == {"ib": ["gpu-48-hca"]}


def _edit(cluster: Cluster, compute: object) -> None:
    service = InventoryService(cluster)
    state = service.load()
    service.apply(state, compute(state.inventory), summary="range")  # type: ignore[operator]


def test_edits_on_a_range_change_the_text_in_place_as_tomlkit_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image set on a range, a range removed: only those hosts' blocks are rewritten (the
    whole document never goes through tomlkit: 5 s on 10,000 hosts), the same bytes."""
    from qlutui.backend import inventory

    edits = [
        lambda inv: set_hosts(inv, expand("beo-[05-20]"), HostFields(image="Legacy-jammy")),
        lambda inv: set_hosts(inv, ["beo-21"], HostFields(aliases={"ib": ["{name}-x"]})),
        lambda inv: remove_hosts(inv, expand("beo-[30-40]")),
    ]
    slow = Cluster.open(init_demo(tmp_path / "slow"))
    fast = Cluster.open(init_demo(tmp_path / "fast"))
    path = inventory_path(fast)
    text = (
        inventory_path(slow)
        .read_text()
        .replace('name = "beo-07"', 'name = "beo-07"  # the admin\'s note')
    )
    path.write_text(text)
    inventory_path(slow).write_text(text)
    with monkeypatch.context() as patch:
        patch.setattr(inventory.InventoryService, "_edit_text", lambda *a: None)
        for compute in edits:
            _edit(slow, compute)
    monkeypatch.setattr(fast.store, "edit", lambda *a, **k: pytest.fail("the whole document"))
    for compute in edits:
        _edit(fast, compute)
        assert path.read_text().count("\n") > 100
    assert path.read_text() == inventory_path(slow).read_text()
    assert "# the admin's note" in path.read_text()
    assert len(fast.store.history("inventory")) == 3
    found = {h["name"]: h for h in tomllib.loads(path.read_text())["hosts"]}
    assert found["beo-07"]["image"] == "Legacy-jammy" and "beo-30" not in found
    assert found["beo-21"]["aliases"] == {"ib": ["beo-21-x"]}


def test_a_bulk_add_that_text_cannot_append_goes_the_tomlkit_way(cluster: Cluster) -> None:
    path = inventory_path(cluster)
    data = tomllib.loads(path.read_text())
    hosts = ", ".join(
        f'{{name = "{h["name"]}", ips = {{boot = "{h["ips"]["boot"]}"}}}}'
        for h in data["hosts"][:1]
    )
    text = path.read_text()
    first = text.index("[[hosts]]")
    path.write_text(f"hosts = [{hosts}]\n" + text[:first])  # an inline array: no [[hosts]]
    _bulk(cluster, expand("gpu-[01-03]"))
    after = tomllib.loads(path.read_text())
    assert [h["name"] for h in after["hosts"]] == [
        data["hosts"][0]["name"],
        "gpu-01",
        "gpu-02",
        "gpu-03",
    ]


def test_a_new_file_gets_one_blank_line_between_entries(tmp_path: Path) -> None:
    """Networks and hosts written at once into a new file (as `qlutui init --import` does)."""
    cluster = Cluster.open(init_demo(tmp_path / "demo"))
    inventory_path(cluster).unlink()
    service = InventoryService(cluster)
    state = service.load()
    inv = add_network(state.inventory, Network("boot", "ether", primary=True, cidr="127.9.0.0/24"))
    inv = add_network(inv, Network("ib", "ib", cidr="127.10.0.0/24", suffix="ib"))
    service.apply(state, add_hosts(inv, ["a", "b"], HostFields(ips={"boot": AUTO})), summary="x")
    text = inventory_path(cluster).read_text()
    assert "\n\n\n" not in text and text.count("\n\n[[") == 3 and text.endswith('"}\n\n')


@pytest.fixture
def extern_in_sshfiles(cluster: Cluster) -> Path:
    sshfiles = cluster.config.state_dir / "sshfiles.toml"
    sshfiles.write_text('[known_hosts]\nnetworks = ["boot", "extern"]\n')
    return sshfiles


def test_a_rename_the_ssh_files_cannot_follow_changes_nothing(
    cluster: Cluster, extern_in_sshfiles: Path
) -> None:
    """sshfiles.toml locked by another process: inventory.toml, written first, is put back."""
    before = inventory_path(cluster).read_bytes()
    service = InventoryService(cluster)
    cluster.store.lock_timeout = 0.2
    lock = os.open(f"{extern_in_sshfiles}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(QlutuiError) as failed:
            service.rename_network(service.load(), "extern", "wan")
    finally:
        os.close(lock)
    assert str(failed.value) == "sshfiles.toml is locked by another process: nothing changed"
    assert inventory_path(cluster).read_bytes() == before
    assert extern_in_sshfiles.read_text() == '[known_hosts]\nnetworks = ["boot", "extern"]\n'
    done = service.rename_network(service.load(), "extern", "wan")  # once free, it goes
    assert done.settings == ["sshfiles.toml known_hosts.networks"]
    assert tomllib.loads(extern_in_sshfiles.read_text())["known_hosts"]["networks"] == [
        "boot",
        "wan",
    ]


def test_a_rename_meeting_another_edit_of_the_ssh_files_changes_nothing(
    cluster: Cluster, extern_in_sshfiles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process edits sshfiles.toml between the rename's read and its write: the
    conflict is refused, the other edit kept, inventory.toml put back."""
    from qlutui.backend.sshfiles import SSHFilesService

    before = inventory_path(cluster).read_bytes()
    theirs = '[known_hosts]\nnetworks = ["boot", "extern", "ib"]\n'
    write = SSHFilesService.rename_network

    def edited_meanwhile(self: SSHFilesService, *args: object) -> list[str]:
        extern_in_sshfiles.write_text(theirs)
        return write(self, *args)

    monkeypatch.setattr(SSHFilesService, "rename_network", edited_meanwhile)
    service = InventoryService(cluster)
    with pytest.raises(ConflictError, match=r"sshfiles\.toml .*: nothing changed$"):
        service.rename_network(service.load(), "extern", "wan")
    assert inventory_path(cluster).read_bytes() == before
    assert extern_in_sshfiles.read_text() == theirs
