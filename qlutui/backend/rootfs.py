"""The Root FS Customization service: what the Root FS screen and `qlutui rootfs` both call.

The directories below `rootfs_base` on the head-nodes are the truth; rootfs.toml only adds
descriptions and images.toml says which images a config is assigned to. Every head-node
keeps its own copy (HA): changes go to each of them, a head-node that fails is reported and
the others are served, and `load()` compares the copies by content hash.

Confinement: a path inside a config passes `normalize_relpath`, then every operation on it
runs on the head-node through `backend/confined.py`, which opens each component with
O_NOFOLLOW|O_DIRECTORY relative to the previous directory descriptor: a symbolic link there
is refused, also one that replaces a directory while the operation runs, so a link to `/` or
to another config is never followed.

No edit is lost: a write checks every head-node's copy first (`write_file`'s `expect`, the
editor's `OpenedFile`) and the helper checks it again just before its rename.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import hashlib
import json
import os
import posixpath
import stat
import sys
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from qlutui.backend import confined as confined_ops
from qlutui.backend.cluster import Cluster
from qlutui.backend.jobs import Job, JobContext
from qlutui.backend.transport import NotFound, Transport
from qlutui.errors import (
    ConfigError,
    ConflictError,
    InvalidInput,
    QlutuiError,
    Refused,
    TransportError,
)
from qlutui.model.names import check_line, check_name, name_problem, no_such, shown
from qlutui.model.rootfs import (
    INITD,
    Clash,
    RootfsConfig,
    boot_order,
    clash_note,
    clashes,
    configs_from_dict,
    move_problem,
    new_file_mode,
    normalize_relpath,
    script_problems,
    shebang_shell,
    toggled_executable,
)

HEAD_BYTES = 256  # what script checks look at
SYNTAX_TIMEOUT = 20.0
STDIN = "/dev/stdin"
MAX_FILE_BYTES = 64 << 20  # a file in a config: bigger ones are refused (read, write, import)
LIST_TIMEOUT = 120.0
# find prints per entry: type, permission bits, size, link target, path below the start
_FIND_FORMAT = r"%y\0%m\0%s\0%l\0%P\0"
_KINDS = {"f": "file", "d": "dir", "l": "link"}


@dataclass(frozen=True)
class Entry:
    """One thing inside a config; `digest` is a file's sha256 or a link's target."""

    path: str  # relative to the config directory
    kind: str  # file | dir | link | other
    mode: int  # permission bits
    size: int
    digest: str = ""

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    def signature(self) -> str:
        size = "" if self.kind == "dir" else str(self.size)  # directory sizes are fs-specific
        return f"{self.kind} {self.mode:o} {size} {self.digest} {self.path}"


Manifest = dict[str, Entry]  # relative path -> entry, sorted by path


def manifest_digest(manifest: Manifest) -> str:
    lines = "\n".join(manifest[path].signature() for path in sorted(manifest))
    return hashlib.sha256(lines.encode(errors="surrogateescape")).hexdigest()


@dataclass(frozen=True)
class ConfigView:
    name: str
    description: str
    files: int  # regular files (on the first head-node that has it)
    size: int  # their bytes
    images: tuple[str, ...]  # images it is assigned to
    present: tuple[str, ...]  # head-nodes that have it
    missing: tuple[str, ...]  # reachable head-nodes that lack it
    differs: tuple[tuple[str, ...], ...]  # groups of head-nodes with identical copies
    status: str  # one line: "in sync", "missing on beosrv-d", ...

    @property
    def agree(self) -> bool:
        return not self.missing and len(self.differs) <= 1


@dataclass(frozen=True)
class RootfsState:
    """Everything the dialog shows, as loaded; tokens of rootfs.toml and images.toml."""

    configs: dict[str, ConfigView]  # sorted by name
    manifests: dict[str, dict[str, Manifest]]  # head-node -> config -> manifest
    down: dict[str, str]  # head-node -> why it could not be read
    token: str
    images_token: str
    assigned: dict[str, tuple[str, ...]]  # every image, sorted -> its configs, in its order

    @property
    def images(self) -> tuple[str, ...]:
        """Every image name."""
        return tuple(self.assigned)

    def config(self, name: str) -> ConfigView:
        try:
            return self.configs[name]
        except KeyError:
            raise InvalidInput(no_such("root-fs config", name)) from None

    def manifest(self, name: str) -> Manifest:
        """The config's entries on the first head-node that has it."""
        for manifests in self.manifests.values():
            if name in manifests:
                return manifests[name]
        return {}


@dataclass
class Outcome:
    """Which head-nodes a change was applied to, and why it failed on the others."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self, what: str) -> str:
        parts = [f"{what} on {', '.join(self.done)}"] if self.done else []
        parts += [error for error in self.failed.values()]
        return "; ".join(parts)


@dataclass(frozen=True)
class Script:
    """An entry of lib/qlustar/init.d/ and why it will not run (empty problems: it runs)."""

    name: str
    kind: str
    mode: int
    size: int
    position: int | None  # 1-based place in the boot order; None when it will not run
    problems: tuple[str, ...]  # why run-parts skips it or it cannot start
    syntax: str  # "ok", "not checked (...)" or the shell's error
    fails: str = ""  # why it fails once run-parts runs it (a syntax error); it keeps its place


@dataclass(frozen=True)
class NodeFile:
    """A file as a node gets it."""

    destination: str  # absolute path on the node
    kind: str
    mode: int
    size: int
    target: str = ""  # links
    clashes: tuple[Clash, ...] = ()  # images where another config ships the same path

    def note(self, config: str) -> str:
        """What the node preview shows beside the file (`clash_note`), or ""."""
        return clash_note(config, self.clashes)


class RootfsService:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.base = cluster.config.rootfs_base.rstrip("/") or "/"

    def config_dir(self, name: str) -> str:
        return posixpath.join(self.base, check_name(name, "config name"))

    # -- loading -------------------------------------------------------------------------

    async def load(self, *, contents: bool = True) -> RootfsState:
        """Every config on every head-node, its description and images. `contents=False`
        lists the entries without hashing the files (`clashes` needs paths only): the
        copies are then not compared."""
        names = self.cluster.headnode_names
        scans = await asyncio.gather(
            *(self._scan(self.cluster.transport(n), contents) for n in names),
            return_exceptions=True,
        )
        manifests: dict[str, dict[str, Manifest]] = {}
        down: dict[str, str] = {}
        for name, scan in zip(names, scans, strict=True):
            if isinstance(scan, QlutuiError | OSError):
                down[name] = str(scan)
            elif isinstance(scan, BaseException):
                raise scan
            else:
                manifests[name] = scan
        snap, images = await asyncio.to_thread(
            lambda: (self.store.load("rootfs"), self.store.load("images"))
        )
        described = configs_from_dict(snap.data)
        table = images.data.get("images", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{images.path}: images: must be a table")
        by_image = {image: _rootfs_of(entry) for image, entry in sorted(table.items())}
        assigned: dict[str, list[str]] = {}
        for image, configs in by_image.items():
            for config in configs:
                assigned.setdefault(config, []).append(image)
        found = {c for scan in manifests.values() for c in scan}
        configs = {
            name: self._view(name, described.get(name), manifests, assigned.get(name, []))
            for name in sorted(found | set(described))
        }
        return RootfsState(configs, manifests, down, snap.token, images.token, by_image)

    def _view(
        self,
        name: str,
        described: RootfsConfig | None,
        manifests: dict[str, dict[str, Manifest]],
        images: list[str],
    ) -> ConfigView:
        present = tuple(n for n, scan in manifests.items() if name in scan)
        missing = tuple(n for n in manifests if n not in present)
        groups: dict[str, list[str]] = {}
        for node in present:
            groups.setdefault(manifest_digest(manifests[node][name]), []).append(node)
        differs = tuple(tuple(g) for g in groups.values())
        first = manifests[present[0]][name] if present else {}
        files = [e for e in first.values() if e.kind == "file"]
        if not present:
            status = "missing on every head-node" if manifests else "no head-node reachable"
        elif missing:
            status = f"missing on {', '.join(missing)}"
        elif len(differs) > 1:
            status = "differs: " + " | ".join(", ".join(g) for g in differs)
        else:
            status = "in sync" if len(present) > 1 else f"only head-node {present[0]}"
        return ConfigView(
            name=name,
            description=described.description if described else "",
            files=len(files),
            size=sum(e.size for e in files),
            images=tuple(images),
            present=present,
            missing=missing,
            differs=differs,
            status=status,
        )

    async def _scan(self, transport: Transport, contents: bool = True) -> dict[str, Manifest]:
        """Every config on one head-node with its entries and (`contents`) file hashes (two
        commands, one without them)."""
        info = await transport.stat(self.base)
        if info is None:
            return {}
        host_base = transport.host_path(self.base)
        found = await transport.run_checked(
            ["find", "-H", host_base, "-xdev", "-mindepth", "1", "-printf", _FIND_FORMAT],
            timeout=LIST_TIMEOUT,
        )
        fields = found.stdout.decode(errors="surrogateescape").split("\0")
        configs: dict[str, Manifest] = {}
        files: list[tuple[str, str]] = []
        for i in range(0, len(fields) - 4, 5):
            kind, mode, size, target, relative = fields[i : i + 5]
            config, _, path = relative.partition("/")
            if not path:
                if kind == "d" and name_problem(config) is None:
                    configs[config] = {}
                continue
            leftover = any(confined_ops.is_leftover(part) for part in path.split("/"))
            if config not in configs or leftover:
                continue  # a crashed write's temp file or removal's tree is not content
            entry = Entry(path, _KINDS.get(kind, "other"), int(mode, 8), int(size), target)
            configs[config][path] = entry
            if entry.kind == "file":
                files.append((config, path))
        if contents:
            digests = await self._hashes(transport, host_base, files)
        else:
            digests = dict.fromkeys(files, "")
        for config, path in files:
            entry = configs[config][path]
            configs[config][path] = Entry(
                path, "file", entry.mode, entry.size, digests[config, path]
            )
        return {name: dict(sorted(m.items())) for name, m in configs.items()}

    async def _hashes(
        self, transport: Transport, host_base: str, files: list[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        if not files:
            return {}
        paths = {f"{host_base}/{config}/{path}": (config, path) for config, path in files}
        result = await transport.run_checked(
            ["xargs", "-0", "-r", "sha256sum", "-z", "--"],
            input="\0".join(paths).encode(errors="surrogateescape") + b"\0",
            timeout=LIST_TIMEOUT,
        )
        digests = {}
        for line in result.stdout.decode(errors="surrogateescape").split("\0"):
            if line:
                digest, _, host_path = line.partition("  ")
                digests[paths[host_path]] = digest
        return digests

    # -- the configs -----------------------------------------------------------------------

    async def create(
        self, state: RootfsState, name: str, description: str = "", *, initd: bool = False
    ) -> Outcome:
        """Create the config directory on every head-node and describe it in rootfs.toml."""
        path = self.config_dir(name)
        check_line(description, "description")
        if (view := state.configs.get(name)) and view.present:
            raise Refused(f"root-fs config {name} exists already on {', '.join(view.present)}")

        async def make(transport: Transport) -> None:
            if await transport.stat(path) is not None:
                raise Refused(f"{transport.name}: {path} exists already")
            await transport.mkdir(path, mode=0o755)
            if initd:
                await transport.mkdir(posixpath.join(path, INITD))

        outcome = await self._everywhere(make)

        def mutate(doc) -> None:
            import tomlkit

            if "configs" not in doc:
                doc["configs"] = tomlkit.table(is_super_table=True)
            entry = tomlkit.table()
            entry.update(RootfsConfig(name, description).to_dict())
            doc["configs"][name] = entry

        await self.store.edit_async("rootfs", state.token, mutate)
        return outcome

    def describe(self, state: RootfsState, name: str, description: str) -> None:
        check_name(name, "config name")
        state.config(name)  # never a description for a config that is nowhere
        check_line(description, "description")

        def mutate(doc) -> None:
            import tomlkit

            if "configs" not in doc:
                doc["configs"] = tomlkit.table(is_super_table=True)
            if name not in doc["configs"]:
                doc["configs"][name] = tomlkit.table()
            doc["configs"][name]["description"] = description

        self.store.edit("rootfs", state.token, mutate)

    async def delete(self, state: RootfsState, name: str) -> Outcome:
        """Remove the directory on every head-node that has it (confined to the base), its
        description and its image assignments."""
        view = state.config(name)

        async def remove(transport: Transport) -> None:
            await self._op(transport, "rm", name)

        outcome = await self._everywhere(remove)
        if outcome.failed:  # keep the description while a copy is left somewhere
            return outcome
        if view.images:
            await asyncio.to_thread(self.set_images, state, name, [])

        def mutate(doc) -> None:
            if name in doc.get("configs", {}):
                del doc["configs"][name]

        await self.store.edit_async("rootfs", state.token, mutate)
        return outcome

    def assign(self, state: RootfsState, name: str, image: str, assigned: bool = True) -> None:
        """Add the config to (or remove it from) one image's `rootfs` list in images.toml."""
        images = set(state.config(name).images)
        self.set_images(state, name, images | {image} if assigned else images - {image})

    def set_images(self, state: RootfsState, name: str, images: Iterable[str]) -> None:
        """Assign the config to exactly `images` (one images.toml edit)."""
        state.config(name)
        wanted = set(images)
        if unknown := sorted(wanted - set(state.images)):
            raise InvalidInput(no_such("image", unknown[0]))

        def mutate(doc) -> None:
            for image, entry in doc["images"].items():
                configs = list(entry.get("rootfs", []))
                if image in wanted and name not in configs:
                    entry["rootfs"] = [*configs, name]
                elif image not in wanted and name in configs:
                    entry["rootfs"] = [c for c in configs if c != name]

        self.store.edit("images", state.images_token, mutate)

    # -- files inside a config -------------------------------------------------------------

    async def _op(
        self,
        transport: Transport,
        op: str,
        name: str,
        relpath: str = "",
        data: bytes = b"",
        **fields: Any,
    ) -> Any:
        """Run a confined op on one head-node: every component below the base is opened
        without following links, so a link (to `/`, to another config) is never followed,
        even when it replaces a directory while the op runs. `read` returns bytes, the
        others what the op answers (JSON)."""
        parts = normalize_relpath(relpath).split("/") if relpath else []
        request = {"base": self.base, "parts": [check_name(name, "config name"), *parts]}
        request |= {"op": op, "exist": 1, **fields}  # the config directory is never created
        try:
            out = await transport.confined(request, data)
        except NotFound as error:
            if error.path == name:
                raise InvalidInput(f"{transport.name}: no root-fs config {name}") from None
            raise
        return out if op == "read" else json.loads(out)

    async def list_dir(
        self, name: str, relpath: str = "", headnode: str | None = None
    ) -> list[Entry]:
        transport = await self._reader(headnode)
        prefix = normalize_relpath(relpath) + "/" if relpath else ""
        found = await self._op(transport, "ls", name, relpath)
        return [_entry(prefix + item["name"], item) for item in found]

    async def stat(self, name: str, relpath: str, headnode: str | None = None) -> Entry | None:
        transport = await self._reader(headnode)
        item = await self._op(transport, "stat", name, relpath)
        return _entry(normalize_relpath(relpath), item) if item else None

    async def read_file(self, name: str, relpath: str, headnode: str | None = None) -> bytes:
        """A regular file's content (at most MAX_FILE_BYTES)."""
        return await self._read(await self._reader(headnode), name, relpath)

    async def _read(self, transport: Transport, name: str, relpath: str) -> bytes:
        try:
            return await self._op(transport, "read", name, relpath, limit=MAX_FILE_BYTES)
        except NotFound:
            where = f"{name}/{normalize_relpath(relpath)}"
            raise InvalidInput(f"{transport.name}: {where} does not exist") from None

    async def copies(self, name: str, relpath: str) -> dict[str, str | None]:
        """The sha256 of the file on every head-node that answers (None: it has none)."""
        check_name(name, "config name")
        normalize_relpath(relpath)
        names = self.cluster.headnode_names
        found = await asyncio.gather(
            *(self._op(self.cluster.transport(n), "hash", name, relpath) for n in names),
            return_exceptions=True,
        )
        copies: dict[str, str | None] = {}
        for node, result in zip(names, found, strict=True):
            if isinstance(result, dict):
                copies[node] = result["sha256"]
            elif isinstance(result, Refused) or not isinstance(result, QlutuiError | OSError):
                raise result  # a link where the file is, or a bug
            # else: unreachable, or no such config there; the write reports it
        return copies

    async def open_file(self, name: str, relpath: str) -> OpenedFile:
        """A file for the editor: its text from the first head-node that answers, and every
        head-node's copy (hash) as it was then, which `save_file` checks against."""
        transport = await self._reader(None)
        data = await self._read(transport, name, relpath)
        copies = await self.copies(name, relpath)
        return OpenedFile(name, normalize_relpath(relpath), data, transport.name, copies)

    async def save_file(self, opened: OpenedFile, data: bytes, *, force: bool = False) -> Outcome:
        """Save the editor's text on every head-node, unless a copy is not the one it
        showed (changed since it was opened, or different from the start): FileConflict."""
        absent = opened.missing()  # absent then and still absent: written there too
        return await self.write_file(
            opened.name, opened.path, data, expect=opened.digest, absent_ok=absent, force=force
        )

    async def conflict_diff(
        self, opened: OpenedFile, data: bytes, conflict: FileConflict
    ) -> list[str]:
        """How each head-node's copy that is not the one the editor showed (the conflict)
        differs from `data`, the editor's text."""
        lines: list[str] = []
        for node, copy in conflict.copies.items():
            if copy == opened.digest or copy == hashlib.sha256(data).hexdigest():
                continue
            when = (
                "changed since it was opened"
                if copy != opened.copies.get(node)
                else "differed when opened"
            )
            lines.append(f"=== {node}: its copy {when} (- {node}, + the editor)")
            theirs = b""
            if copy is not None:
                theirs = await self._read(self.cluster.transport(node), opened.name, opened.path)
            lines += text_diff(theirs, data, node if copy else "", "editor", opened.path)
            lines.append("")
        return lines

    async def write_file(
        self,
        name: str,
        relpath: str,
        data: bytes,
        mode: int | None = None,
        *,
        expect: str | None = None,
        absent_ok: Collection[str] = (),
        force: bool = False,
    ) -> Outcome:
        """Write atomically on every head-node; `mode` None keeps each file's mode (a new
        file gets `new_file_mode`: 0755 in init.d, else 0644). Missing parent directories are
        created.

        No copy is lost unseen: with `expect` (a sha256, or "" for "absent") every head-node's
        copy must be that one (or absent, on the head-nodes `absent_ok`); without it the
        head-nodes' copies must not differ. Else
        FileConflict and nothing is written; `force` skips the check. What was checked is
        checked again on each head-node just before its rename."""
        what = f"{name}/{normalize_relpath(relpath)}"
        new_mode = new_file_mode(normalize_relpath(relpath))
        if len(data) > MAX_FILE_BYTES:
            raise InvalidInput(f"{what}: {len(data)} bytes, more than the limit {MAX_FILE_BYTES}")
        now: dict[str, str | None] = {}
        if not force:
            now = await self.copies(name, relpath)
            check_copies(what, now, expect, absent_ok)

        async def write(transport: Transport) -> None:
            fields: dict[str, Any] = {"mode": mode, "new_mode": new_mode}
            if transport.name in now:
                fields["expect"] = now[transport.name] or ""
            await self._op(transport, "put", name, relpath, data, **fields)

        return await self._everywhere(write)

    async def import_file(
        self, name: str, relpath: str, source: str, headnode: str | None = None
    ) -> Outcome:
        """Copy a regular file from an absolute path on a head-node (its mode too) into the
        config on every head-node; a FIFO, a device or a file over the limit is refused."""
        check_name(name, "config name")
        normalize_relpath(relpath)  # a bad destination is refused before anything is read
        if not posixpath.isabs(source) or ".." in source.split("/") or source == "/":
            raise InvalidInput(f"invalid source {shown(source)}: must be an absolute path")
        transport = await self._reader(headnode)
        parent, base = posixpath.split(posixpath.normpath(source))
        request = {"base": parent, "parts": [base], "follow_last": True}
        info = json.loads(await transport.confined({"op": "stat", **request}))
        if info is None:
            raise InvalidInput(f"{transport.name}: {source}: no such file")
        data = await transport.confined({"op": "read", "limit": MAX_FILE_BYTES, **request})
        return await self.write_file(name, relpath, data, mode=info["mode"])

    async def mkdir(self, name: str, relpath: str) -> Outcome:
        async def make(transport: Transport) -> None:
            await self._op(transport, "mkdir", name, relpath)

        return await self._everywhere(make)

    async def removal(self, name: str, relpath: str) -> dict[str, Entry | None]:
        """What `remove` deletes: the entry on each head-node that answers (None: it has
        none there); refused when none of them has it, since removing it would do nothing."""
        path = normalize_relpath(relpath)
        names = self.cluster.headnode_names
        found = await asyncio.gather(
            *(self._op(self.cluster.transport(n), "stat", name, path) for n in names),
            return_exceptions=True,
        )
        entries: dict[str, Entry | None] = {}
        for node, item in zip(names, found, strict=True):
            if isinstance(item, NotFound) or item is None:
                entries[node] = None  # a directory on the way is missing, or the entry
            elif isinstance(item, dict):
                entries[node] = _entry(path, item)
            elif isinstance(item, Refused) or not isinstance(item, QlutuiError | OSError):
                raise item  # a link on the way, or a bug
            # else: unreachable, or no such config there; the removal reports it
        if entries and not any(entries.values()):
            raise InvalidInput(f"{name}/{path} does not exist on {', '.join(entries)}")
        return entries

    async def remove(self, name: str, relpath: str) -> Outcome:
        """Delete a file, a link (never what it points at) or a tree inside the config;
        refused when no head-node has it."""
        await self.removal(name, relpath)

        async def remove(transport: Transport) -> None:
            await self._op(transport, "rm", name, relpath)

        return await self._everywhere(remove)

    async def rename(self, name: str, relpath: str, new_relpath: str) -> Outcome:
        check_name(name, "config name")
        old, new = normalize_relpath(relpath), normalize_relpath(new_relpath)
        if problem := move_problem(old, new):
            raise InvalidInput(f"cannot move {name}/{old} to {name}/{new}: {problem}")
        dst = [name, *new.split("/")]

        async def rename(transport: Transport) -> None:
            await self._op(transport, "rename", name, relpath, dst=dst)

        return await self._everywhere(rename)

    async def chmod(self, name: str, relpath: str, mode: int) -> Outcome:
        if not 0 <= mode <= 0o7777:
            raise InvalidInput(f"invalid mode {mode:o}: must be octal 0..7777")

        async def change(transport: Transport) -> None:
            await self._op(transport, "chmod", name, relpath, mode=mode)

        return await self._everywhere(change)

    async def toggle_executable(self, name: str, relpath: str) -> tuple[int, Outcome]:
        """Clear every x bit when the file has one, else set x where r is set; the new mode
        comes from the first head-node so all copies end up equal."""
        entry = await self.stat(name, relpath)
        if entry is None or entry.kind != "file":
            raise InvalidInput(f"{name}/{relpath} is not a file")
        mode = toggled_executable(entry.mode)
        return mode, await self.chmod(name, relpath, mode)

    # -- boot order and preview -------------------------------------------------------------

    async def scripts(self, name: str, headnode: str | None = None) -> list[Script]:
        """The entries of lib/qlustar/init.d/ in run-parts order, each checked."""
        transport = await self._reader(headnode)
        try:
            entries = await self.list_dir(name, INITD, transport.name)
        except FileNotFoundError:
            return []
        by_name = {e.name: e for e in entries}
        scripts, position = [], 0
        for script_name in boot_order(by_name):
            script = await self._check_script(transport, name, by_name[script_name])
            if not script.problems:
                position += 1
                script = dataclasses.replace(script, position=position)
            scripts.append(script)
        return scripts

    async def _check_script(self, transport: Transport, config: str, entry: Entry) -> Script:
        if entry.kind == "link":
            problems = [f"symbolic link to {entry.digest}: not followed, not checked"]
            return Script(entry.name, "link", entry.mode, entry.size, None, tuple(problems), "")
        kinds = {"file": stat.S_IFREG, "dir": stat.S_IFDIR}
        data = b""
        if entry.kind == "file":
            data = await self._read(transport, config, entry.path)
        problems = script_problems(
            entry.name, kinds.get(entry.kind, stat.S_IFIFO) | entry.mode, data[:HEAD_BYTES]
        )
        syntax = fails = ""
        if entry.kind == "file":
            syntax = await self._syntax(transport, entry.name, data)
            if syntax != "ok" and not syntax.startswith("not checked"):
                fails = f"syntax error: {syntax}"  # run-parts still runs it: the shell fails
        problems = tuple(problems)
        return Script(entry.name, entry.kind, entry.mode, entry.size, None, problems, syntax, fails)

    async def _syntax(self, transport: Transport, name: str, data: bytes) -> str:
        """The shell's verdict on the script's text, fed on stdin (never read by its path)."""
        shell = shebang_shell(data[:HEAD_BYTES])
        if shell is None:
            return "not checked (no sh or bash '#!' line)"
        result = await transport.run([shell, "-n", STDIN], input=data, timeout=SYNTAX_TIMEOUT)
        if result.returncode == 0:
            return "ok"
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        return (
            lines[0].replace(STDIN, name)
            if lines
            else (f"{shell} -n exited with status {result.returncode}")
        )

    def node_files(self, state: RootfsState, name: str) -> list[NodeFile]:
        """What a node gets: every file and link with its destination, mode and size, and
        the clashes with another config of the same image (`clashes`) that ships it too."""
        shared: dict[str, list[Clash]] = {}
        for clash in self.clashes(state):
            if name in clash.configs:
                shared.setdefault(clash.path, []).append(clash)
        return [
            NodeFile(
                "/" + e.path,
                e.kind,
                e.mode,
                e.size,
                e.digest if e.kind == "link" else "",
                tuple(shared.get(e.path, ())),
            )
            for e in state.manifest(name).values()
            if e.kind != "dir"
        ]

    @staticmethod
    def clashes(state: RootfsState) -> list[Clash]:
        """The node paths that several configs of one image ship (model `clashes`), over
        every reachable head-node's copies: a path one of them has counts."""
        shipped: dict[str, dict[str, str]] = {}
        for scan in state.manifests.values():
            for config, manifest in scan.items():
                paths = shipped.setdefault(config, {})
                for path, entry in manifest.items():
                    if paths.get(path, "dir") == "dir":  # a file beside a directory wins
                        paths[path] = entry.kind
        return clashes(state.assigned, shipped)

    def differences(self, state: RootfsState, name: str) -> list[str]:
        """Paths whose entry is not the same on every head-node that has the config."""
        copies = [m[name] for m in state.manifests.values() if name in m]
        paths = sorted({p for copy in copies for p in copy})
        return [p for p in paths if len({copy.get(p) for copy in copies}) > 1]

    # -- HA sync ------------------------------------------------------------------------------

    def _sync_targets(self, state: RootfsState, name: str, source: str) -> list[str]:
        """The head-nodes a sync from `source` changes (refusing a sync that cannot run)."""
        check_name(name, "config name")
        self.cluster.check_headnode(source)
        if source in state.down:
            raise TransportError(state.down[source])
        if name not in state.manifests.get(source, {}):
            raise InvalidInput(f"{source} has no root-fs config {name}")
        targets = [node for node in self.cluster.headnode_names if node != source]
        if not targets:
            raise Refused("only one head-node is configured: nothing to sync")
        return targets

    async def sync(self, state: RootfsState, name: str, source: str) -> Job:
        """A job making the config on every other head-node identical to `source`'s copy."""
        targets = {
            node: self._sync_work(name, source) for node in self._sync_targets(state, name, source)
        }
        return await self.cluster.jobs.start(
            "rootfs.sync",
            f"sync root-fs config {name} from {source}",
            targets,
            subject=f"rootfs:{name}",
            meta={"config": name, "source": source},
        )

    async def sync_preview(self, state: RootfsState, name: str, source: str) -> list[str]:
        """What a sync from `source` would change on each other head-node, as a content diff
        (unified diff lines for text files); nothing is changed."""
        src = self.cluster.transport(source)
        want = state.manifests[source][name] if name in state.manifests.get(source, {}) else {}
        lines: list[str] = []
        for node in self._sync_targets(state, name, source):
            if node in state.down:
                lines += [f"=== {node}: not reachable ({state.down[node]})", ""]
                continue
            have = state.manifests.get(node, {}).get(name)
            steps = sync_steps(want, have or {})
            head = f"=== {node} becomes like {source}"
            lines.append(head + (": create the config directory" if have is None else ""))
            if not steps:
                lines.append("(already identical)")
            for step in steps:
                lines += await self._preview_step(src, self.cluster.transport(node), name, step)
            lines.append("")
        return lines

    async def _preview_step(
        self, src: Transport, dst: Transport, name: str, step: SyncStep
    ) -> list[str]:
        entry, now = step.entry, step.now
        if step.action == "remove" and now is not None:
            if now.kind != "file":
                return [f"remove {now.kind} {step.path}"]
            return text_diff(await self._read(dst, name, step.path), b"", dst.name, "", step.path)
        assert entry is not None
        if step.action == "dir":
            return [f"directory {step.path} ({entry.mode:04o})"]
        if step.action == "link":
            return [f"link {step.path} -> {entry.digest}"]
        if step.action == "mode":
            return [f"mode {step.path} {now.mode if now else 0:04o} -> {entry.mode:04o}"]
        if step.action == "special":
            return [f"{step.path}: special file, not copied"]
        old = await self._read(dst, name, step.path) if now is not None else b""
        new = await self._read(src, name, step.path)
        lines = text_diff(old, new, dst.name if now is not None else "", src.name, step.path)
        if now is not None and now.mode != entry.mode:
            lines.append(f"mode {step.path} {now.mode:04o} -> {entry.mode:04o}")
        return lines

    def _sync_work(self, name: str, source: str) -> Callable[[JobContext], Awaitable[None]]:
        async def work(context: JobContext) -> None:
            await self._sync_one(name, self.cluster.transport(source), context)

        return work

    async def _sync_one(self, name: str, src: Transport, context: JobContext) -> None:
        dst = context.transport
        want = (await self._scan(src)).get(name)
        if want is None:
            raise InvalidInput(f"{src.name} has no root-fs config {name}")
        have = (await self._scan(dst)).get(name)
        if have is None:
            context.message(f"create {self.config_dir(name)}")
            await self._op(dst, "mkdir", name)
        steps = sync_steps(want, have or {})
        for done, step in enumerate(steps, 1):
            await self._sync_step(src, dst, name, step, context)
            context.progress(done / len(steps))
        context.message(f"{name} on {dst.name} is now identical to {src.name}")

    async def _sync_step(
        self, src: Transport, dst: Transport, name: str, step: SyncStep, context: JobContext
    ) -> None:
        """One step of `sync_steps`, through confined ops on both head-nodes."""
        path, entry = step.path, step.entry
        if step.action == "remove":
            context.message(f"remove {path}")
            await self._op(dst, "rm", name, path)
            return
        assert entry is not None
        if step.action == "dir":
            context.message(f"directory {path} ({entry.mode:04o})")
            await self._op(dst, "mkdir", name, path, mode=entry.mode, chmod=True)
        elif step.action == "link":
            context.message(f"link {path} -> {entry.digest}")
            await self._op(dst, "symlink", name, path, target=entry.digest)
        elif step.action == "mode":
            context.message(f"mode {path} {entry.mode:04o}")
            await self._op(dst, "chmod", name, path, mode=entry.mode)
        elif step.action == "write":
            context.message(f"write {path} ({entry.size} bytes, {entry.mode:04o})")
            data = await self._read(src, name, path)
            await self._op(dst, "put", name, path, data, mode=entry.mode)
        else:
            context.log("stderr", f"Error: {path}: special file not copied")

    # -- helpers ------------------------------------------------------------------------------

    async def _reader(self, headnode: str | None) -> Transport:
        """The head-node reads come from: the one asked for, else the first that answers."""
        if headnode:
            return self.cluster.transport(self.cluster.check_headnode(headnode))
        errors = []
        for name in self.cluster.headnode_names:
            transport = self.cluster.transport(name)
            try:
                await transport.stat(self.base)
            except (TransportError, OSError) as error:
                errors.append(str(error))
                continue
            return transport
        raise TransportError("no head-node reachable: " + "; ".join(errors))

    async def _everywhere(self, action: Callable[[Transport], Awaitable[None]]) -> Outcome:
        """Apply `action` on every head-node at once; failures are collected per head-node.
        When it failed everywhere, the first error is raised."""
        names = self.cluster.headnode_names
        results = await asyncio.gather(
            *(action(self.cluster.transport(n)) for n in names), return_exceptions=True
        )
        outcome = Outcome()
        first: BaseException | None = None
        for name, result in zip(names, results, strict=True):
            if isinstance(result, QlutuiError | OSError):
                first = first or result
                text = str(result)
                outcome.failed[name] = text if text.startswith(name) else f"{name}: {text}"
            elif isinstance(result, BaseException):
                raise result
            else:
                outcome.done.append(name)
        if first is not None and not outcome.done:
            raise first
        return outcome


def _rootfs_of(image: object) -> tuple[str, ...]:
    """The configs an images.toml entry lists (what is not a name is the check's to report)."""
    configs = image.get("rootfs", []) if isinstance(image, dict) else []
    return tuple(c for c in configs if isinstance(c, str)) if isinstance(configs, list) else ()


def read_local(source: str | None) -> bytes:
    """What `rootfs put --from` imports from this machine: a regular file (no FIFO, device
    or directory), or stdin (None), of at most MAX_FILE_BYTES; else one-line InvalidInput."""
    try:
        if source is None:
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                raise InvalidInput(f"stdin: more than the limit of {MAX_FILE_BYTES} bytes")
            return data
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            return confined_ops.read_regular(fd, source, MAX_FILE_BYTES)
        finally:
            os.close(fd)
    except confined_ops.Failure as failure:
        raise InvalidInput(str(failure)) from None
    except OSError as error:
        raise InvalidInput(f"{source}: {error.strerror or error}") from None


def _entry(path: str, item: dict[str, Any]) -> Entry:
    """An Entry from what the confined `ls` and `stat` ops answer."""
    return Entry(path, item["kind"], item["mode"], item["size"], item["target"] or "")


@dataclass(frozen=True)
class SyncStep:
    action: str  # remove | dir | link | mode | write | special
    path: str
    entry: Entry | None  # the source's entry (None: remove)
    now: Entry | None  # the target's entry before the step (None: it has none)


def sync_steps(want: Manifest, have: Manifest) -> list[SyncStep]:
    """What makes a target's copy (`have`) identical to the source's (`want`): removals
    first (what lies below a removed directory goes with it), then, in path order, what is
    missing or different."""
    steps: list[SyncStep] = []
    removed: list[str] = []

    def gone(path: str) -> bool:
        return any(path == r or path.startswith(r + "/") for r in removed)

    for path, entry in have.items():
        if gone(path):
            continue
        wanted = want.get(path)
        if (
            wanted is None
            or wanted.kind != entry.kind
            or (entry.kind == "link" and wanted.digest != entry.digest)
        ):
            steps.append(SyncStep("remove", path, None, entry))
            removed.append(path)
    for path, entry in want.items():
        now = None if gone(path) else have.get(path)
        if now is not None and now.signature() == entry.signature():
            continue
        if entry.kind in ("dir", "link"):
            action = entry.kind
        elif entry.kind != "file":
            action = "special"
        elif now is not None and now.digest == entry.digest:
            action = "mode"
        else:
            action = "write"
        steps.append(SyncStep(action, path, entry, now))
    return steps


DIFF_LINES = 400  # per file in a preview


def text_diff(old: bytes, new: bytes, old_node: str, new_node: str, path: str) -> list[str]:
    """A unified diff of two copies of a file ("" node: the file is absent there)."""
    try:
        before, after = old.decode(), new.decode()
    except UnicodeDecodeError:
        return [f"binary {path}: {len(old)} -> {len(new)} bytes"]
    lines = list(
        difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            f"{old_node}:{path}" if old_node else "/dev/null",
            f"{new_node}:{path}" if new_node else "/dev/null",
            lineterm="",
        )
    )
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"... {len(lines) - DIFF_LINES} more lines"]
    return lines or [f"mode or metadata of {path}"]


def check_copies(
    what: str, copies: dict[str, str | None], expect: str | None, absent_ok: Collection[str] = ()
) -> None:
    """Refuse (FileConflict) unless every copy is `expect` (a sha256, "" for absent) or absent
    on a head-node of `absent_ok`, or, with `expect` None, the present copies agree."""
    if expect is None:
        if len({digest for digest in copies.values() if digest}) > 1:
            raise FileConflict(what, copies, None)
    elif any(
        (digest or "") != expect and not (digest is None and node in absent_ok)
        for node, digest in copies.items()
    ):
        raise FileConflict(what, copies, expect)


class FileConflict(ConflictError):
    """A head-node's copy of a file is not the one the change was made against."""

    def __init__(self, what: str, copies: dict[str, str | None], expect: str | None) -> None:
        def short(digest: str | None) -> str:
            return digest[:12] if digest else "absent"

        found = ", ".join(f"{node} {short(digest)}" for node, digest in copies.items())
        if expect is None:
            reason = f"the head-nodes' copies differ ({found})"
        else:
            reason = f"a copy is not the expected {short(expect)} ({found})"
        super().__init__(f"{what}: {reason}; nothing written (--force overwrites)")
        self.what, self.copies, self.expect = what, copies, expect


@dataclass(frozen=True)
class OpenedFile:
    """A file as the editor opened it: its content (from `source`) and every head-node's
    copy (sha256, None: absent) at that moment."""

    name: str  # the config
    path: str
    data: bytes
    source: str
    copies: dict[str, str | None]

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def diverged(self) -> list[str]:
        """Head-nodes whose copy was already another one when the file was opened."""
        return [node for node, d in self.copies.items() if d is not None and d != self.digest]

    def missing(self) -> list[str]:
        """Head-nodes that had no copy when the file was opened (a save writes it there)."""
        return [node for node, digest in self.copies.items() if digest is None]

    def saved(self, data: bytes, outcome: Outcome) -> OpenedFile:
        """The file as it is after `data` was saved (on the head-nodes in `outcome.done`)."""
        digest = hashlib.sha256(data).hexdigest()
        copies = self.copies | dict.fromkeys(outcome.done, digest)
        return dataclasses.replace(self, data=data, copies=copies)
