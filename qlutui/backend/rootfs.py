"""The Root FS Customization service: what the Root FS screen and `qlutui rootfs` both call.

The directories below `rootfs_base` on the head-nodes are the truth; rootfs.toml only adds
descriptions and images.toml says which images a config is assigned to. Every head-node
keeps its own copy (HA): changes go to each of them, a head-node that fails is reported and
the others are served, and `load()` compares the copies by content hash.

Confinement: a path inside a config passes `normalize_relpath`, then every component below
the config directory is lstat'ed on the head-node before it is read, written or deleted; a
symbolic link there is refused, so a link to `/` or to another config is never followed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import posixpath
import stat
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from qlutui.backend.cluster import Cluster
from qlutui.backend.jobs import Job, JobContext
from qlutui.backend.transport import FileInfo, Transport
from qlutui.errors import ConfigError, InvalidInput, QlutuiError, Refused, TransportError
from qlutui.model.names import check_name, name_problem, shown
from qlutui.model.rootfs import (
    INITD,
    RootfsConfig,
    boot_order,
    configs_from_dict,
    normalize_relpath,
    script_problems,
    shebang_shell,
    toggled_executable,
)

HEAD_BYTES = 256  # what script checks look at
SYNTAX_TIMEOUT = 20.0
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
    images: tuple[str, ...]  # every image name

    def config(self, name: str) -> ConfigView:
        try:
            return self.configs[name]
        except KeyError:
            raise InvalidInput(f"no root-fs config named {shown(name)}") from None

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
    problems: tuple[str, ...]
    syntax: str  # "ok", "not checked (...)" or the shell's error


@dataclass(frozen=True)
class NodeFile:
    """A file as a node gets it."""

    destination: str  # absolute path on the node
    kind: str
    mode: int
    size: int
    target: str = ""  # links


class RootfsService:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.base = cluster.config.rootfs_base.rstrip("/") or "/"

    def config_dir(self, name: str) -> str:
        return posixpath.join(self.base, check_name(name, "config name"))

    # -- loading -------------------------------------------------------------------------

    async def load(self) -> RootfsState:
        names = self.cluster.headnode_names
        scans = await asyncio.gather(
            *(self._scan(self.cluster.transport(n)) for n in names), return_exceptions=True
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
        assigned: dict[str, list[str]] = {}
        for image in sorted(table):
            for config in table[image].get("rootfs", []) if isinstance(table[image], dict) else []:
                assigned.setdefault(config, []).append(image)
        found = {c for scan in manifests.values() for c in scan}
        configs = {
            name: self._view(name, described.get(name), manifests, assigned.get(name, []))
            for name in sorted(found | set(described))
        }
        return RootfsState(configs, manifests, down, snap.token, images.token, tuple(sorted(table)))

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

    async def _scan(self, transport: Transport) -> dict[str, Manifest]:
        """Every config on one head-node with its entries and file hashes (two commands)."""
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
            if config not in configs:
                continue
            entry = Entry(path, _KINDS.get(kind, "other"), int(mode, 8), int(size), target)
            configs[config][path] = entry
            if entry.kind == "file":
                files.append((config, path))
        digests = await self._hashes(transport, host_base, files)
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
        path = self.config_dir(name)

        async def remove(transport: Transport) -> None:
            if await transport.stat(path) is not None:
                await transport.remove_tree(path, self.base)

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
            raise InvalidInput(f"no image named {shown(unknown[0])}")

        def mutate(doc) -> None:
            for image, entry in doc["images"].items():
                configs = list(entry.get("rootfs", []))
                if image in wanted and name not in configs:
                    entry["rootfs"] = [*configs, name]
                elif image not in wanted and name in configs:
                    entry["rootfs"] = [c for c in configs if c != name]

        self.store.edit("images", state.images_token, mutate)

    # -- files inside a config -------------------------------------------------------------

    async def checked_path(
        self, transport: Transport, name: str, relpath: str = "", *, link_ok: bool = False
    ) -> str:
        """The head-node path of `relpath` inside config `name`, after checking every
        component below the config directory with lstat: a symbolic link is refused (the
        last one only when `link_ok`), a non-directory in the middle is refused. Missing
        components are fine (they will be created)."""
        root = self.config_dir(name)
        parts = normalize_relpath(relpath).split("/") if relpath else []
        info = await transport.stat(root)
        if info is None:
            raise InvalidInput(f"{transport.name}: no root-fs config {name}")
        if info.kind == "link":
            raise Refused(f"{transport.name}: {root} is a symbolic link; refused")
        if info.kind != "dir":
            raise InvalidInput(f"{transport.name}: {root} is not a directory")
        path = root
        for index, part in enumerate(parts):
            path = f"{path}/{part}"
            info = await transport.stat(path)
            last = index == len(parts) - 1
            if info is None:
                break
            shown_path = f"{name}/{'/'.join(parts[: index + 1])}"
            if info.kind == "link" and not (last and link_ok):
                raise Refused(f"{transport.name}: {shown_path} is a symbolic link; refused")
            if not last and info.kind != "dir":
                raise InvalidInput(f"{transport.name}: {shown_path} is not a directory")
        return posixpath.join(root, *parts)

    async def list_dir(
        self, name: str, relpath: str = "", headnode: str | None = None
    ) -> list[Entry]:
        transport = await self._reader(headnode)
        path = await self.checked_path(transport, name, relpath)
        prefix = normalize_relpath(relpath) + "/" if relpath else ""
        infos = await transport.list_dir(path)
        return [_entry(prefix + info.name, info) for info in infos]

    async def stat(self, name: str, relpath: str, headnode: str | None = None) -> Entry | None:
        transport = await self._reader(headnode)
        path = await self.checked_path(transport, name, relpath, link_ok=True)
        info = await transport.stat(path)
        return _entry(normalize_relpath(relpath), info) if info else None

    async def read_file(self, name: str, relpath: str, headnode: str | None = None) -> bytes:
        transport = await self._reader(headnode)
        path = await self.checked_path(transport, name, relpath)
        info = await transport.stat(path)
        if info is None or info.kind != "file":
            what = "does not exist" if info is None else f"is a {info.kind}, not a file"
            raise InvalidInput(f"{transport.name}: {name}/{normalize_relpath(relpath)} {what}")
        return await transport.read_bytes(path)

    async def write_file(
        self, name: str, relpath: str, data: bytes, mode: int | None = None
    ) -> Outcome:
        """Write atomically on every head-node; `mode` None keeps each file's mode (0644
        for a new file). Missing parent directories are created."""

        async def write(transport: Transport) -> None:
            path = await self.checked_path(transport, name, relpath)
            info = await transport.stat(path)
            if info is not None and info.kind != "file":
                raise InvalidInput(f"{transport.name}: {name}/{relpath} is a {info.kind}")
            keep = info.mode if info else 0o644
            await transport.mkdir(posixpath.dirname(path))
            await transport.write_atomic(path, data, mode=keep if mode is None else mode)

        return await self._everywhere(write)

    async def import_file(
        self, name: str, relpath: str, source: str, headnode: str | None = None
    ) -> Outcome:
        """Copy a file from an absolute path on a head-node (its mode too) into the config
        on every head-node."""
        if not posixpath.isabs(source) or ".." in source.split("/"):
            raise InvalidInput(f"invalid source {shown(source)}: must be an absolute path")
        transport = await self._reader(headnode)
        info = await transport.stat(source)
        if info is None:
            raise InvalidInput(f"{transport.name}: {source}: no such file")
        data = await transport.read_bytes(source)
        return await self.write_file(name, relpath, data, mode=info.mode)

    async def mkdir(self, name: str, relpath: str) -> Outcome:
        async def make(transport: Transport) -> None:
            await transport.mkdir(await self.checked_path(transport, name, relpath))

        return await self._everywhere(make)

    async def remove(self, name: str, relpath: str) -> Outcome:
        """Delete a file, a link (never what it points at) or a tree inside the config."""

        async def remove(transport: Transport) -> None:
            path = await self.checked_path(transport, name, relpath, link_ok=True)
            info = await transport.stat(path)
            if info is None:
                return
            if info.kind == "link":
                await transport.run_checked(["rm", "-f", "--", transport.host_path(path)])
            else:
                await transport.remove_tree(path, self.config_dir(name))

        return await self._everywhere(remove)

    async def rename(self, name: str, relpath: str, new_relpath: str) -> Outcome:
        normalize_relpath(new_relpath)

        async def rename(transport: Transport) -> None:
            src = await self.checked_path(transport, name, relpath, link_ok=True)
            dst = await self.checked_path(transport, name, new_relpath)
            if await transport.stat(src) is None:
                raise InvalidInput(f"{transport.name}: {name}/{relpath} does not exist")
            await transport.mkdir(posixpath.dirname(dst))
            await transport.rename(src, dst)

        return await self._everywhere(rename)

    async def chmod(self, name: str, relpath: str, mode: int) -> Outcome:
        if not 0 <= mode <= 0o7777:
            raise InvalidInput(f"invalid mode {mode:o}: must be octal 0..7777")

        async def change(transport: Transport) -> None:
            path = await self.checked_path(transport, name, relpath)
            if await transport.stat(path) is None:
                raise InvalidInput(f"{transport.name}: {name}/{relpath} does not exist")
            await transport.chmod(path, mode)

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
        head = b""
        path = await self.checked_path(transport, config, entry.path)
        if entry.kind == "file":
            head = (await transport.read_bytes(path))[:HEAD_BYTES]
        problems = script_problems(
            entry.name, kinds.get(entry.kind, stat.S_IFIFO) | entry.mode, head
        )
        syntax = ""
        if entry.kind == "file":
            syntax = await self._syntax(transport, path, head)
            if syntax not in ("ok",) and not syntax.startswith("not checked"):
                problems.append(f"syntax error: {syntax}")
        return Script(entry.name, entry.kind, entry.mode, entry.size, None, tuple(problems), syntax)

    async def _syntax(self, transport: Transport, path: str, head: bytes) -> str:
        shell = shebang_shell(head)
        if shell is None:
            return "not checked (no sh or bash '#!' line)"
        result = await transport.run(
            [shell, "-n", transport.host_path(path)], timeout=SYNTAX_TIMEOUT
        )
        if result.returncode == 0:
            return "ok"
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        return (
            lines[0].replace(transport.host_path(path), posixpath.basename(path))
            if lines
            else (f"{shell} -n exited with status {result.returncode}")
        )

    def node_files(self, state: RootfsState, name: str) -> list[NodeFile]:
        """What a node gets: every file and link with its destination, mode and size."""
        return [
            NodeFile("/" + e.path, e.kind, e.mode, e.size, e.digest if e.kind == "link" else "")
            for e in state.manifest(name).values()
            if e.kind != "dir"
        ]

    def differences(self, state: RootfsState, name: str) -> list[str]:
        """Paths whose entry is not the same on every head-node that has the config."""
        copies = [m[name] for m in state.manifests.values() if name in m]
        paths = sorted({p for copy in copies for p in copy})
        return [p for p in paths if len({copy.get(p) for copy in copies}) > 1]

    # -- HA sync ------------------------------------------------------------------------------

    async def sync(self, state: RootfsState, name: str, source: str) -> Job:
        """A job making the config on every other head-node identical to `source`'s copy."""
        check_name(name, "config name")
        self.cluster.check_headnode(source)
        if source in state.down:
            raise TransportError(state.down[source])
        if name not in state.manifests.get(source, {}):
            raise InvalidInput(f"{source} has no root-fs config {name}")
        targets = {
            node: self._sync_work(name, source)
            for node in self.cluster.headnode_names
            if node != source
        }
        if not targets:
            raise Refused("only one head-node is configured: nothing to sync")
        return await self.cluster.jobs.start(
            "rootfs.sync",
            f"sync root-fs config {name} from {source}",
            targets,
            subject=f"rootfs:{name}",
            meta={"config": name, "source": source},
        )

    def _sync_work(self, name: str, source: str) -> Callable[[JobContext], Awaitable[None]]:
        async def work(context: JobContext) -> None:
            await self._sync_one(name, self.cluster.transport(source), context)

        return work

    async def _sync_one(self, name: str, src: Transport, context: JobContext) -> None:
        dst = context.transport
        want = (await self._scan(src)).get(name)
        if want is None:
            raise InvalidInput(f"{src.name} has no root-fs config {name}")
        root = self.config_dir(name)
        if await dst.stat(root) is None:
            context.message(f"create {root}")
            await dst.mkdir(root)
        have = (await self._scan(dst)).get(name, {})
        removed: list[str] = []
        for path, entry in have.items():
            if any(path.startswith(r + "/") for r in removed):
                continue
            wanted = want.get(path)
            if (
                wanted is None
                or wanted.kind != entry.kind
                or (entry.kind == "link" and wanted.digest != entry.digest)
            ):
                context.message(f"remove {path}")
                await self._remove_on(dst, name, path)
                removed.append(path)
        for done, (path, entry) in enumerate(want.items(), 1):
            now = None if path in removed else have.get(path)
            if now is None or now.signature() != entry.signature():
                await self._copy_entry(src, dst, name, entry, now, context)
            context.progress(done / len(want))
        context.message(f"{name} on {dst.name} is now identical to {src.name}")

    async def _remove_on(self, transport: Transport, name: str, path: str) -> None:
        target = await self.checked_path(transport, name, path, link_ok=True)
        info = await transport.stat(target)
        if info and info.kind == "link":
            await transport.run_checked(["rm", "-f", "--", transport.host_path(target)])
        elif info:
            await transport.remove_tree(target, self.config_dir(name))

    async def _copy_entry(
        self,
        src: Transport,
        dst: Transport,
        name: str,
        entry: Entry,
        now: Entry | None,
        context: JobContext,
    ) -> None:
        target = await self.checked_path(dst, name, entry.path)
        if entry.kind == "dir":
            context.message(f"directory {entry.path} ({entry.mode:04o})")
            await dst.mkdir(target, mode=entry.mode)
            await dst.chmod(target, entry.mode)
        elif entry.kind == "link":
            context.message(f"link {entry.path} -> {entry.digest}")
            await dst.run_checked(["ln", "-sfT", "--", entry.digest, dst.host_path(target)])
        elif entry.kind == "file" and now is not None and now.digest == entry.digest:
            context.message(f"mode {entry.path} {entry.mode:04o}")
            await dst.chmod(target, entry.mode)
        elif entry.kind == "file":
            context.message(f"write {entry.path} ({entry.size} bytes, {entry.mode:04o})")
            data = await src.read_bytes(await self.checked_path(src, name, entry.path))
            await dst.write_atomic(target, data, mode=entry.mode)
        else:
            context.log("stderr", f"Error: {entry.path}: special file not copied")

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


def _entry(path: str, info: FileInfo) -> Entry:
    return Entry(path, info.kind, info.mode, info.size, info.target or "")
