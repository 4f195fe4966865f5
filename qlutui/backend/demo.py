"""A complete demo cluster in one directory, touching nothing outside it.

Two head-nodes `beosrv-c` and `beosrv-d` use the local transport, each with its own root
below DIR, so every head-node path (/var/lib/qlustar/root-fs, /etc/ssh, /srv/apps/chroots)
lands under DIR/headnodes/<name>. Chroot builds in the demo are real: they run mmdebstrap
into the demo head-node's chroots directory.

Network addresses are loopback ranges (127.x): a host key scan started from the demo never
sends a packet off this machine.

`build_inventory` is shared with the bench generator (10,000-host clusters).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

import asyncssh
import tomlkit

from qlutui.errors import InvalidInput
from qlutui.model import qlustar

HEADNODES = ("beosrv-c", "beosrv-d")
REBUILD_SCRIPT = "bin/qlustar-image-reconfigure"  # the demo's stand-in (demo_rebuild.py)

NETWORKS = [
    {
        "name": "boot",
        "kind": "ether",
        "primary": True,
        "suffix": "",
        "ssh": True,
        "cidr": "127.52.0.0/16",
    },
    {
        "name": "ib",
        "kind": "ib",
        "primary": False,
        "suffix": "ib",
        "ssh": True,
        "cidr": "127.53.0.0/16",
    },
    {
        "name": "ipmi",
        "kind": "ipmi",
        "primary": False,
        "suffix": "ipmi",
        "ssh": False,
        "cidr": "127.54.0.0/16",
    },
    {
        "name": "extern",
        "kind": "ether",
        "primary": False,
        "suffix": "ext",
        "ssh": True,
        "cidr": "127.60.0.0/16",
    },
]

# Qlustar tasks (topic package bundles); small real Debian packages so demo builds stay quick.
TASKS = {
    "debmed-imaging": {"description": "Medical imaging tools", "packages": ["xmedcon"]},
    "debmed-ngs": {"description": "Next-generation sequencing tools", "packages": ["seqtk"]},
    "nvidia": {"description": "GPU node utilities", "packages": ["pciutils"]},
    "admin-tools": {"description": "Small admin tools", "packages": ["less", "procps"]},
}

IMAGES = {
    "Standard-noble": {
        "flavour": "noble",
        "version": "13.1",
        "chroot": "",
        "modules": ["core", "ofed", "slurm"],
        "postinst": "",
        "description": "Compute nodes",
        "rootfs": ["ntp-tweaks"],
    },
    "Standard-bookworm": {
        "flavour": "bookworm",
        "version": "13",
        "chroot": "bookworm-base",
        "modules": ["core", "slurm", "nvidia"],
        "postinst": "gpu.sh",
        "description": "GPU nodes",
        "rootfs": ["ntp-tweaks", "gpu-setup"],
    },
    "Legacy-jammy": {
        "flavour": "jammy",
        "version": "12.0.1",
        "chroot": "",
        "modules": ["core", "lustre-client"],
        "postinst": "",
        "description": "Pinned for the old storage nodes",
        "rootfs": [],
    },
}

CHROOTS = {
    "bookworm-base": {
        "description": "Base chroot for the GPU nodes",
        "server": "beosrv-c",
        "path": "/srv/apps/chroots/bookworm-base",
        "flavour": "bookworm",
        "version": "13.1",
        "tasks": ["admin-tools"],
        "state": "ready",
        "job": "",
    },
}

# Root-fs configs: relative path -> (mode, content). gpu-setup shows the boot-order checks:
# a name with a dot (skipped by run-parts) and a script without the executable bit.
ROOTFS = {
    "ntp-tweaks": (
        "Chrony pointing at the head-nodes",
        {
            "etc/chrony/conf.d/qlustar.conf": (
                0o644,
                "server beosrv-c iburst\nserver beosrv-d iburst\n",
            ),
            "lib/qlustar/init.d/10-chrony-wait": (
                0o755,
                "#!/bin/sh\n# Give chrony a head start before the rest of the boot.\n"
                "echo 'chrony: waiting for sync'\n",
            ),
        },
    ),
    "gpu-setup": (
        "NVIDIA persistence daemon and GPU clocks",
        {
            "etc/modprobe.d/nvidia.conf": (
                0o644,
                "options nvidia NVreg_PreserveVideoMemoryAllocations=1\n",
            ),
            "lib/qlustar/init.d/20-nvidia-persistenced": (
                0o755,
                "#!/bin/bash\nset -eu\nif command -v nvidia-smi >/dev/null; then\n"
                "  nvidia-smi -pm 1\nfi\n",
            ),
            "lib/qlustar/init.d/30-gpu-clocks.sh": (
                0o755,
                "#!/bin/sh\n# run-parts skips it: dot in name.\nnvidia-smi -ac 1215,1410\n",
            ),
            "lib/qlustar/init.d/40-fabric-check": (
                0o644,
                "#!/bin/sh\n# Not executable: it will not run.\nibstat\n",
            ),
        },
    ),
}
# beosrv-d lacks one file of gpu-setup: the Root FS dialog flags the divergence.
DIVERGENT = ("beosrv-d", "gpu-setup", "etc/modprobe.d/nvidia.conf")

SSH_DESCRIPTIONS = {
    "known_hosts": "Host keys of all cluster nodes",
    "shosts_equiv": "Host-based login between cluster machines",
    "authorized_keys": "Keys allowed to log in as root on the nodes",
}


def public_key(comment: str) -> str:
    """A fresh ed25519 public key line ("ssh-ed25519 AAAA... comment")."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return key.export_public_key().decode().strip()


def _ip(cidr: str, index: int) -> str:
    """The index-th host address of a /16 loopback range (1-based, skipping .0 and .255)."""
    prefix = cidr.split("/")[0].rsplit(".", 2)[0]
    return f"{prefix}.{index // 254 + 1}.{index % 254 + 1}"


def build_inventory(computes: int, *, keys_per_host: int = 1, key_source=public_key) -> dict:
    """The inventory.toml data of a cluster: head-nodes, a front-end and `computes` nodes.

    `key_source(comment)` makes one public key line; the bench passes a cheap one.
    """
    networks = [dict(n) for n in NETWORKS]
    cidrs = {n["name"]: n["cidr"] for n in networks}
    images = list(IMAGES)

    def host(name: str, index: int, nets: Iterable[str], image: str = "") -> dict:
        entry: dict = {"name": name}
        if image:
            entry["image"] = image
        entry["host_keys"] = [key_source(f"root@{name}") for _ in range(keys_per_host)]
        entry["ips"] = {net: _ip(cidrs[net], index) for net in nets}
        return entry

    hosts = [host(name, i, ("boot", "ib", "ipmi", "extern")) for i, name in enumerate(HEADNODES)]
    login = host("login-c", 2, ("boot", "ib", "extern"), images[1])
    login["override"] = "login"
    login["override_network"] = "extern"
    login["aliases"] = {"extern": ["gateway", "www"], "boot": ["frontend"]}
    hosts.append(login)
    width = max(2, len(str(computes)))
    for n in range(1, computes + 1):
        image = images[0] if n <= computes * 2 // 3 else images[1]
        hosts.append(host(f"beo-{n:0{width}d}", n + 9, ("boot", "ib", "ipmi"), image))
    return {
        "default_host_keys": [key_source("root@default-node")],
        "networks": networks,
        "hosts": hosts,
    }


def catalog_data() -> dict:
    """The demo's catalog: the releases and flavours qlutui knows, and the demo's tasks."""
    return qlustar.catalog_data(TASKS)


def _config_text(dirpath: Path) -> str:
    lines = [
        "# qlutui demo cluster: two local head-nodes with their roots below this directory.",
        "# Every head-node path (/srv/apps/chroots, /var/lib/qlustar/root-fs, /etc/ssh ...)",
        "# is mapped below headnodes/<name>/. See the documented config.toml of the project.",
        'state_dir = "state"',
        "",
    ]
    for name in HEADNODES:
        lines += [
            "[[headnodes]]",
            f'name = "{name}"',
            'transport = "local"',
            f'root = "headnodes/{name}"',
            "",
        ]
    rebuild = [str(dirpath / REBUILD_SCRIPT), "{image}", "{file}", "{headnode}"]
    lines += [
        "# After an image's config file changed on a head-node, Write Files runs this there.",
        '# On a real cluster: rebuild = ["qlustar-image-reconfigure", "{image}"]. The demo\'s',
        "# stand-in checks the image file and says what a rebuild would assemble.",
        "[images]",
        f"rebuild = {json.dumps(rebuild)}",
        "",
    ]
    return "\n".join(lines)


def _write_toml(path: Path, data: dict, comment: str) -> None:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(comment))
    doc.update(data)
    path.write_text(tomlkit.dumps(doc))


def seed_rootfs(base: Path, headnode: str) -> None:
    """Write the demo's root-fs configs below `base` as `headnode` has them."""
    for config, (_, files) in ROOTFS.items():
        for rel, (mode, content) in files.items():
            if (headnode, config, rel) == DIVERGENT:
                continue
            path = base / config / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(mode)


def init_demo(dirpath: str | Path, *, chroots: bool = True) -> Path:
    """Create the demo cluster in `dirpath` (must be empty or missing); return its config path.

    `chroots=False` leaves CHROOTS out of chroots.toml, for `start_builds` to build them (what
    `qlutui demo` does); the tests keep their records, ready without a tree, and give them
    whatever tree they need."""
    dirpath = Path(dirpath).absolute()
    config = dirpath / "config.toml"
    if dirpath.exists() and any(dirpath.iterdir()):
        raise InvalidInput(f"{dirpath} is not empty; choose a new directory for the demo")
    state = dirpath / "state"
    state.mkdir(parents=True)
    for name in HEADNODES:
        root = dirpath / "headnodes" / name
        for sub in (
            "srv/apps/chroots",
            "etc/qlustar/common/image-files/ssh",
            "etc/ssh",
            "var/lib/qlutui/jobs",
        ):
            (root / sub).mkdir(parents=True, exist_ok=True)
        seed_rootfs(root / "var/lib/qlustar/root-fs", name)
    admin_key = public_key("admin@beosrv-c")
    _write_toml(
        state / "inventory.toml", build_inventory(48), "Networks and hosts of the demo cluster."
    )
    (state / "catalog.toml").write_text(qlustar.catalog_toml(TASKS))
    _write_toml(state / "images.toml", {"images": IMAGES}, "Qlustar OS images.")
    _write_toml(state / "chroots.toml", {"chroots": CHROOTS if chroots else {}}, "UnionFS chroots.")
    ssh = {kind: {"description": text, "header": ""} for kind, text in SSH_DESCRIPTIONS.items()}
    ssh["authorized_keys"]["header"] = f"{admin_key}\n"
    _write_toml(state / "sshfiles.toml", ssh, "SSH host files: headers and options.")
    hosts = {"description": "Hosts not in the inventory (a license server ...)", "header": ""}
    _write_toml(state / "files.toml", {"hosts": hosts}, "Headers of the other generated files.")
    _write_toml(
        state / "rootfs.toml",
        {"configs": {name: {"description": d} for name, (d, _) in ROOTFS.items()}},
        "Root FS customization configs: descriptions.",
    )
    script = dirpath / REBUILD_SCRIPT
    script.parent.mkdir()
    shutil.copyfile(Path(__file__).with_name("demo_rebuild.py"), script)
    script.chmod(0o755)
    config.write_text(_config_text(dirpath))
    os.chmod(config, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    return config


def ensure_demo(dirpath: str | Path) -> Path:
    """The demo's config path, creating the demo first when it does not exist yet, its
    chroots being built (`start_builds`)."""
    config = Path(dirpath).absolute() / "config.toml"
    return config if config.exists() else create_demo(dirpath)


def create_demo(dirpath: str | Path) -> Path:
    """`init_demo` with the chroots being built (`start_builds`): what a user gets."""
    config = init_demo(dirpath, chroots=False)
    asyncio.run(start_builds(config))
    return config


async def start_builds(config: Path) -> list[str]:
    """Start building the demo's chroots (CHROOTS, missing from chroots.toml) as the New
    chroot form would: each "building" at once, its job's log in Jobs; the jobs run detached,
    so the TUI opens meanwhile. Returns the job ids."""
    from qlutui.backend.chroots import ChrootsService  # the demo's data needs no service
    from qlutui.backend.cluster import Cluster

    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        state = await service.load()
        jobs = []
        for name, spec in CHROOTS.items():
            job = await service.new(
                state,
                name,
                spec["description"],
                spec["server"],
                spec["flavour"],
                spec["version"],
                list(spec["tasks"]),
            )
            jobs.append(job.id)
            state = await service.load()
        return jobs
    finally:
        await cluster.aclose()
