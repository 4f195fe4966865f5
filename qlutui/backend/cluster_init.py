"""`qlutui init DIR`: a config.toml and a state directory for a real cluster.

Each SSH head-node's host key is fetched first and trusted only after the admin confirmed
its fingerprint (the CLI asks, or checks `--trust-fingerprint`): nothing is written before
every head-node is trusted. The accepted keys go into the known_hosts file the config names
(by default `DIR/known_hosts`, none of the files qlutui generates), the config is checked
with `load_config` before it is put in place, the state directory gets a commented
catalog.toml (the Qlustar releases qlutui knows: images can be created at once), and
`--import` then reads the first head-node's hosts, known_hosts and ethers files
(`backend/inventory_import.py`).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from qlutui.backend.cluster import Cluster
from qlutui.backend.config import DEFAULT_SSH_DESTINATIONS, load_config
from qlutui.backend.store import Store
from qlutui.errors import ConfigError, InvalidInput, Refused, TransportError
from qlutui.model.inventory import hostname_problem, ip_key
from qlutui.model.names import check_name, shown
from qlutui.model.qlustar import catalog_data, catalog_toml

FETCH_TIMEOUT = 15.0
HOSTS_FILES = ("/etc/dnsmasq.hosts", "/etc/hosts")  # the first that exists is imported
OTHER_FILES = ("/etc/ssh/ssh_known_hosts", "/etc/ethers")
_USER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True)
class HeadNodeSpec:
    """One `--headnode NAME=ssh://user@host[:port]` or `NAME=local[:ROOT]`."""

    name: str
    transport: str  # "ssh" | "local"
    host: str = ""
    port: int = 22
    user: str = "root"
    root: str = ""  # local only: prefix of every head-node path

    @property
    def address(self) -> str:
        """The host as known_hosts names it: `host`, or `[host]:port` off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class HostKey:
    algorithm: str  # e.g. "ssh-ed25519"
    data: str  # "keytype base64"
    fingerprint: str  # "SHA256:...", as ssh shows it


def parse_headnode(text: str) -> HeadNodeSpec:
    name, sep, where = text.partition("=")
    if not sep:
        raise InvalidInput(f"--headnode {shown(text)}: expected NAME=ssh://user@host[:port]")
    check_name(name, "head-node name")
    if where == "local" or where.startswith("local:"):
        root = where.removeprefix("local").removeprefix(":")
        return HeadNodeSpec(name, "local", root=str(Path(root).absolute()) if root else "")
    url = urlsplit(where)
    try:
        port = url.port or 22
    except ValueError:
        raise InvalidInput(f"--headnode {shown(text)}: bad port") from None
    host = url.hostname or ""
    if url.scheme != "ssh" or not host or url.path not in ("", "/") or url.query or url.password:
        raise InvalidInput(
            f"--headnode {shown(text)}: expected NAME=ssh://user@host[:port] or NAME=local"
        )
    if ip_key(host) is None and (problem := hostname_problem(host)):
        raise InvalidInput(f"--headnode {shown(text)}: host {shown(host)} {problem}")
    user = url.username or "root"
    if not set(user) <= _USER_CHARS or user.startswith("-"):
        raise InvalidInput(f"--headnode {shown(text)}: {shown(user)} is not a user name")
    return HeadNodeSpec(name, "ssh", host, port, user)


async def fetch_host_key(spec: HeadNodeSpec, timeout: float = FETCH_TIMEOUT) -> HostKey:
    """The host key the head-node's sshd offers (the algorithm a connection would use)."""
    import asyncssh

    from qlutui.backend.sshfiles import KEY_FAMILIES

    where = f"{spec.host}:{spec.port}"
    algs = [alg for family in KEY_FAMILIES for alg in family]  # ssh's order: ed25519 first
    try:
        # Not verified here on purpose: this is the key the admin is asked to confirm.
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(
                spec.host, spec.port, server_host_key_algs=algs, config=[]
            ),
            timeout,
        )
    except TimeoutError:
        raise TransportError(f"{spec.name}: no answer from {where} within {timeout:g} s") from None
    except (OSError, asyncssh.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TransportError(f"{spec.name}: cannot connect to {where}: {reason}") from None
    if key is None:
        raise TransportError(f"{spec.name}: {where} offered no host key")
    data = key.export_public_key().decode().split()
    return HostKey(key.get_algorithm(), f"{data[0]} {data[1]}", key.get_fingerprint("sha256"))


def known_state(known_hosts: Path, spec: HeadNodeSpec, key: HostKey) -> str:
    """ "trusted" (the file has this key), "other" (it has other keys for the host: a
    reinstall, or someone in the middle) or "unknown"."""
    import asyncssh

    try:
        trusted = asyncssh.read_known_hosts(str(known_hosts)).match(spec.host, "", spec.port)[0]
    except FileNotFoundError:
        return "unknown"
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{known_hosts}: cannot read: {exc}") from None
    offered = asyncssh.import_public_key(key.data)
    if any(k.public_data == offered.public_data for k in trusted):
        return "trusted"
    return "other" if trusted else "unknown"


def check_new_dir(directory: Path) -> None:
    if (directory / "config.toml").exists() or (directory / "config.toml").is_symlink():
        raise Refused(
            f"{directory / 'config.toml'} exists already; init writes a new one (hosts go into"
            " it with `qlutui --config PATH hosts import`)"
        )
    if directory.exists() and not directory.is_dir():
        raise Refused(f"{directory}: not a directory")


def check_known_hosts(known_hosts: Path, specs: list[HeadNodeSpec]) -> None:
    """Refuse a known_hosts file that is one of the SSH files qlutui writes (Write Files would
    replace the head-nodes' trusted keys with the cluster's generated ones)."""
    roots = {Path("/")} | {Path(s.root) for s in specs if s.transport == "local" and s.root}
    generated = {
        root / dest.lstrip("/")
        for root in roots
        for dest in DEFAULT_SSH_DESTINATIONS["known_hosts"]
    }
    if known_hosts.resolve() in {p.resolve() for p in generated}:
        raise Refused(
            f"--known-hosts {known_hosts}: qlutui generates that file (Write Files); name"
            " another one, e.g. DIR/known_hosts"
        )


def trust(known_hosts: Path, accepted: list[tuple[HeadNodeSpec, HostKey]]) -> None:
    """Append the accepted keys to known_hosts (created 0644; never through a symlink)."""
    if not accepted:
        return
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(dict.fromkeys(f"{spec.address} {key.data}\n" for spec, key in accepted))
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(known_hosts, flags, 0o644)
    with os.fdopen(fd, "a") as file:
        if file.tell() and not _ends_with_newline(known_hosts):
            file.write("\n")
        file.write(text)
        file.flush()
        os.fsync(fd)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def write_config(
    directory: Path,
    specs: list[HeadNodeSpec],
    known_hosts: Path,
    identity: Path | None,
) -> tuple[Path, Path | None]:
    """Write DIR/config.toml (checked by load_config before it is put in place), create the
    state directory and its catalog.toml (`write_catalog`). Returns the config's path and
    catalog.toml's (None when one was there already)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.toml"
    temp = directory / f".config.toml.tmp-{os.getpid()}"
    temp.write_text(render_config(directory, specs, known_hosts, identity))
    try:
        config = load_config(temp)
    except ConfigError:
        temp.unlink()
        raise
    os.replace(temp, path)
    store = Store(config.state_dir)
    store.ensure_dir()
    return path, write_catalog(store)


def write_catalog(store: Store) -> Path | None:
    """catalog.toml with the Qlustar releases, flavours and modules qlutui knows, commented
    for the admin to edit (`model/qlustar.py`): without it no image can be created. One
    already there is kept (None)."""
    expected = catalog_data()

    def change(text: str, data: dict) -> str | None:
        return catalog_toml() if not text else None

    def means(old: dict, new: dict) -> bool:
        return new == expected

    done = store.rewrite("catalog", None, change, means, summary="catalog written")
    return done.path if done else None


def _q(value: str) -> str:
    return json.dumps(value)  # a TOML basic string


def _relative(directory: Path, path: Path) -> str:
    """`path` relative to the config's directory when it is inside it."""
    try:
        return str(path.absolute().relative_to(directory.absolute()))
    except ValueError:
        return str(path.absolute())


_HEAD = """\
# qlutui configuration, written by `qlutui init`. The project's config.toml documents
# every setting. Unknown keys are errors; relative paths are relative to this file.

# The state files (inventory.toml, images.toml, ...) and the job records.
state_dir = "state"

# Paths on the head-nodes: chroots, root-fs configs, the detached jobs' logs.
# chroots_base = "/srv/apps/chroots"
# rootfs_base = "/var/lib/qlustar/root-fs"
# jobs_dir = "/var/lib/qlutui/jobs"

# Head-nodes: every file write and chroot job goes to each of them. The first one is
# the one the inventory was imported from.
"""
_TAIL = """
# Where the generated SSH host files go on every head-node, and their mode
# (these are the defaults):
# [ssh_files.known_hosts]
# destinations = ["/etc/qlustar/common/image-files/ssh/ssh_known_hosts",
#                 "/etc/ssh/ssh_known_hosts"]
# mode = 0o644
# [ssh_files.shosts_equiv]
# destinations = ["/etc/qlustar/common/image-files/ssh/shosts.equiv",
#                 "/etc/ssh/shosts.equiv"]
# [ssh_files.authorized_keys]
# destinations = ["/etc/qlustar/common/image-files/ssh/authorized_keys"]

# The generated hosts table (dnsmasq reads it) and each image's config file; after an
# image's file changed, Write Files runs `rebuild` on the head-node (the defaults):
# [hosts_file]
# destinations = ["/etc/dnsmasq.hosts"]
# [images]
# destination = "/etc/qlustar/images/{image}/qlutui.conf"
# rebuild = ["qlustar-image-reconfigure", "{image}"]

# Chroot builders per distribution; debian (mmdebstrap) is built in:
# [builders.debian]
# argv = ["mmdebstrap", "--variant=minbase", "{packages...}", "{suite}", "{target}",
#         "{mirror}"]

# Release upgrade of a chroot clone: per flavour, the apt sources file inside the chroot
# and how it names the release ({version}: x.y); see the project's config.toml.
# [release_sources.bookworm]
# file = "/etc/apt/sources.list.d/qlustar.list"
# text = "/qlustar/{version}-bookworm"

[ui]
# A Textual theme; "ansi-dark" uses the terminal's own 16 colours.
theme = "textual-dark"
# serial = false  # serial-console mode; detected from TERM when left out
log_batch_ms = 50

# Remap keys: binding id = keys.
[ui.keymap]
# "app.quit" = "ctrl+q"
"""


def render_config(
    directory: Path, specs: list[HeadNodeSpec], known_hosts: Path, identity: Path | None
) -> str:
    """The commented config.toml: the head-nodes, and every other setting at its default."""
    blocks = [_headnode_block(directory, s, known_hosts, identity) for s in specs]
    return _HEAD + "".join(blocks) + _TAIL


def _headnode_block(
    directory: Path, spec: HeadNodeSpec, known_hosts: Path, identity: Path | None
) -> str:
    lines = ["", "[[headnodes]]", f"name = {_q(spec.name)}"]
    if spec.transport == "local":
        lines += ['# "local": this machine.', 'transport = "local"']
        if spec.root:
            lines += ["# Every absolute head-node path is mapped below this directory."]
            lines += [f"root = {_q(spec.root)}"]
        return "\n".join(lines) + "\n"
    lines += [
        '# "ssh": one SSH connection; the host key is always checked against known_hosts.',
        'transport = "ssh"',
        f"host = {_q(spec.host)}",
        f"port = {spec.port}",
        f"user = {_q(spec.user)}",
        "# The host key confirmed at `qlutui init` is in this file (not one qlutui writes).",
        f"known_hosts = {_q(_relative(directory, known_hosts))}",
    ]
    if identity is not None:
        lines += ["# The private key to log in with."]
        lines += [f"identity = {_q(_relative(directory, identity))}"]
    else:
        lines += ["# Without `identity` the SSH agent and ~/.ssh default keys are used."]
    lines += ["# connect_timeout = 10.0", "# keepalive = 15.0"]
    return "\n".join(lines) + "\n"


async def import_specs(cluster: Cluster, name: str) -> list[str]:
    """The HEADNODE:PATH of every file `--import` reads from head-node `name`: its
    dnsmasq.hosts (else /etc/hosts), ssh_known_hosts and ethers."""
    transport = cluster.transport(name)
    hosts = HOSTS_FILES[-1]
    for path in HOSTS_FILES[:-1]:
        if await transport.stat(path) is not None:
            hosts = path
            break
    return [f"{name}:{path}" for path in (hosts, *OTHER_FILES)]
