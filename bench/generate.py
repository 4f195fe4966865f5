"""A cluster at bench scale: the demo cluster (two local head-nodes) with 10,000 hosts (up
to 100,000: `--scale`) on the networks boot / ib / ipmi / extern (2 host keys each, /12
networks in 10.0.0.0/10 so that 100,000 hosts fit), 500 images and 50 chroots.

Host keys come from a pool of real ed25519 keys reused round-robin (each line gets the host's
own comment), so a 10,000-host cluster is generated in about a second. The big state files are
written with a small TOML writer of our own: tomlkit needs seconds for a 3 MB inventory.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

from qlutui.backend.demo import (
    HEADNODES,
    IMAGES,
    ROOTFS,
    build_inventory,
    init_demo,
    public_key,
)
from qlutui.model.qlustar import RELEASES

HOSTS = 10_000
IMAGE_COUNT = 500
CHROOT_COUNT = 50
KEY_POOL = 200
FIXED_HOSTS = len(HEADNODES) + 1  # build_inventory adds the head-nodes and a front-end
# Versions an image may follow, per flavour (every one resolves to a release of the catalog).
VERSIONS = {
    "noble": ["13", "13.1", "13.1.1", "13.0.0"],
    "jammy": ["12", "12.0.1", "13", "13.1"],
    "bookworm": ["12.0", "13", "13.1", "13.1.0"],
}
FLAVOURS = list(VERSIONS)


def key_pool(size: int = KEY_POOL) -> Callable[[str], str]:
    """`key_source(comment)` for build_inventory: real keys from a pool of `size`."""
    blobs = [public_key("pool").split()[:2] for _ in range(size)]
    cycle: Iterator[list[str]] = itertools.cycle(blobs)

    def key_source(comment: str) -> str:
        kind, blob = next(cycle)
        return f"{kind} {blob} {comment}"

    return key_source


def chroots_data(count: int = CHROOT_COUNT) -> dict[str, dict]:
    chroots = {}
    for i in range(count):
        flavour = FLAVOURS[i % len(FLAVOURS)]
        name = f"{flavour}-c{i:02d}"
        chroots[name] = {
            "description": f"Bench chroot {i}",
            "server": HEADNODES[i % len(HEADNODES)],
            "path": f"/srv/apps/chroots/{name}",
            "flavour": flavour,
            "version": "13.1",
            "tasks": [],
            "state": "ready",
            "job": "",
        }
    return chroots


def images_data(count: int, chroots: dict[str, dict]) -> dict[str, dict]:
    """The demo images plus generated ones up to `count`, all valid against the catalog."""
    common = set.intersection(*(set(m) for rel in RELEASES.values() for m in rel.values()))
    modules = sorted(common - {"core"})
    by_flavour = {f: [n for n, c in chroots.items() if c["flavour"] == f] for f in FLAVOURS}
    images = {name: dict(entry) for name, entry in IMAGES.items()}
    for entry in images.values():  # the demo's chroots are replaced by the generated ones
        if entry.get("chroot") and entry["chroot"] not in chroots:
            entry["chroot"] = (
                by_flavour[entry["flavour"]][0] if by_flavour[entry["flavour"]] else ""
            )
    for i in range(count - len(images)):
        flavour = FLAVOURS[i % len(FLAVOURS)]
        versions, choices = VERSIONS[flavour], by_flavour[flavour]
        images[f"img-{i:04d}"] = {
            "flavour": flavour,
            "version": versions[i % len(versions)],
            "chroot": choices[i % len(choices)] if i % 3 == 0 and choices else "",
            "modules": ["core", *modules[: i % (len(modules) + 1)]],
            "postinst": "",
            "description": f"Bench image {i}",
            "rootfs": sorted(ROOTFS)[: i % (len(ROOTFS) + 1)],
        }
    return images


def generate(
    dirpath: str | Path,
    *,
    hosts: int = HOSTS,
    images: int = IMAGE_COUNT,
    chroots: int = CHROOT_COUNT,
    keys: int = KEY_POOL,
) -> Path:
    """Write the cluster into `dirpath` (new or empty); return its config.toml path."""
    config = init_demo(dirpath)
    state = config.parent / "state"
    chroot_table = chroots_data(chroots)
    image_table = images_data(images, chroot_table)
    inventory = build_inventory(
        hosts - FIXED_HOSTS, keys_per_host=2, key_source=key_pool(min(keys, 2 * hosts))
    )
    widen(inventory)
    names = list(image_table)
    for i, host in enumerate(inventory["hosts"][FIXED_HOSTS:]):
        host["image"] = names[i % len(names)]
    for entry in chroot_table.values():
        root = config.parent / "headnodes" / entry["server"]
        (root / entry["path"].lstrip("/")).mkdir(parents=True, exist_ok=True)
    write_toml(state / "inventory.toml", inventory, "Networks and hosts of the bench cluster.")
    write_toml(state / "images.toml", {"images": image_table}, "Qlustar OS images.")
    write_toml(state / "chroots.toml", {"chroots": chroot_table}, "UnionFS chroots.")
    return config


# The bench's networks: /12 each (a million addresses), in the order of the demo's.
WIDE = {"boot": 0, "ib": 16, "ipmi": 32, "extern": 48}
BULK_START = 8  # bulk adds start at 10.8.0.1 (ib 10.24.0.1, ...), after the generated hosts


def _wide_ip(network: str, index: int) -> str:
    n = index + 1
    return f"10.{WIDE[network] + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"


def widen(inventory: dict) -> None:
    """Give the inventory data the bench's /12 networks and number every host in them by
    its place in the list (the demo's /16 networks hold 64,770 hosts at most)."""
    for network in inventory["networks"]:
        network["cidr"] = f"10.{WIDE[network['name']]}.0.0/12"
    for index, host in enumerate(inventory["hosts"]):
        host["ips"] = {net: _wide_ip(net, index) for net in host["ips"]}


def wide_demo(directory: Path) -> Path:
    """A fresh demo cluster in `directory` with the bench's networks; its config.toml."""
    shutil.rmtree(directory, ignore_errors=True)
    config = init_demo(directory)
    path = config.parent / "state" / "inventory.toml"
    inventory = tomllib.loads(path.read_text())
    widen(inventory)
    write_toml(path, inventory, "Networks and hosts of the demo cluster, bench networks.")
    return config


def bulk_add(service, count: int) -> None:  # type: ignore[no-untyped-def]
    """Add `count` hosts through `service` (an InventoryService) as the Hosts screen's bulk
    add does: a node range, boot IPs numbered from a start, ib and ipmi mapped from it."""
    from qlutui.model.inventory_edit import AUTO, HostFields, add_hosts
    from qlutui.model.noderange import expand

    names = expand(f"bulk-[{1:0{len(str(count))}d}-{count}]")
    fields = HostFields(ips={"boot": f"10.{BULK_START}.0.1", "ib": AUTO, "ipmi": AUTO}, image="")
    state = service.load()
    service.apply(state, add_hosts(state.inventory, names, fields), summary="bench")


def job_history(directory: Path, count: int) -> str:
    """Write `count` finished job records (one an hour, oldest first) into a jobs directory,
    as JobManager saves them; return the newest job's id."""
    import time

    import tomlkit

    from qlutui.backend.job_records import JobRecord, TargetRecord

    start = time.time() - count * 3600
    job_id = ""
    for i in range(count):
        created = start + i * 3600
        job_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(created)) + f"-{i % 0x10000:04x}"
        record = JobRecord(
            job_id,
            "chroots.create",
            f"Creating chroot beosrv-c:/srv/apps/chroots/c{i}",
            created=created,
            finished=created + 60,
            targets={"beosrv-c": TargetRecord(state="Success")},
        )
        (directory / job_id).mkdir(parents=True)
        (directory / job_id / "job.toml").write_text(tomlkit.dumps(record.to_dict()))
    return job_id


# --- a minimal TOML writer (strings, numbers, booleans, lists, tables, arrays of tables) -----


def write_toml(path: Path, data: dict, comment: str) -> None:
    lines = [f"# {comment}"]
    _table(lines, [], data)
    path.write_text("\n".join(lines) + "\n")


def _table(lines: list[str], keys: list[str], table: dict) -> None:
    nested = []
    for key, value in table.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            nested.append((key, value, "super"))
        elif isinstance(value, dict) and not _inline(value):
            nested.append((key, value, "table"))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested.append((key, value, "array"))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value, kind in nested:
        path = [*keys, key]
        if kind == "array":
            for item in value:
                lines += ["", f"[[{'.'.join(map(_key, path))}]]"]
                _table(lines, path, item)
        elif kind == "super":
            for name, item in value.items():
                lines += ["", f"[{'.'.join(map(_key, [*path, name]))}]"]
                _table(lines, [*path, name], item)
        else:
            lines += ["", f"[{'.'.join(map(_key, path))}]"]
            _table(lines, path, value)


def _inline(value: dict) -> bool:
    """Small tables of plain values (a host's `ips`, `aliases`) are written inline."""
    return all(not isinstance(v, dict) for v in value.values())


def _key(key: str) -> str:
    bare = key.replace("-", "").replace("_", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
