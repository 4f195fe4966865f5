"""The SSH host files service: what the SSH Configs and Write Files screens and `qlutui ssh` call.

Headers and descriptions live in sshfiles.toml; saving takes the state the user saw (its
token) and refuses a header with bad lines, listing every reason. `statuses()` renders every
file (in a thread: a big inventory takes tens of milliseconds) and compares it with what is
on each destination of each head-node. `write()` runs a Job with one in-process target per
head-node; each file is written atomically with a backup, and skipped when the file on disk
is no longer the one the diff was computed against (another admin wrote it meanwhile).
"""

from __future__ import annotations

import asyncio
import difflib
import errno
import os
import posixpath
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import tomlkit

from qlutui.backend.cluster import Cluster
from qlutui.backend.job_records import STDERR
from qlutui.backend.jobs import Job, JobContext
from qlutui.errors import ConfigError, InvalidInput, QlutuiError, Refused
from qlutui.model.inventory import Inventory, ip_key
from qlutui.model.names import check_line, counted, shown
from qlutui.model.sshfiles import (
    BANNER,
    FILES,
    Checked,
    FileOptions,
    LineProblem,
    check_files,
    options_from_toml,
    problems_text,
    render_all,
    validate_header,
)

TITLES = {
    "known_hosts": "Known Hosts",
    "shosts_equiv": "SHosts Equiv",
    "authorized_keys": "Authorized Keys",
}
# Row states of the Write Files screen.
UNCHANGED, CHANGED, MISSING, UNREACHABLE, INVALID = (
    "unchanged",
    "changed",
    "missing",
    "unreachable",
    "invalid",
)
WRITABLE = (CHANGED, MISSING)
READ_TIMEOUT = 30.0
WRITE_JOB = "sshfiles.write"
SCAN_TIMEOUT = 10.0
SCAN_PARALLEL = 32


def check_kind(kind: str) -> str:
    if kind not in FILES:
        raise InvalidInput(f"unknown SSH file {shown(kind)} (one of {', '.join(FILES)})")
    return kind


@dataclass(frozen=True)
class SSHFilesState:
    """sshfiles.toml as loaded; `token` is its store token."""

    options: dict[str, FileOptions]
    token: str


@dataclass(frozen=True)
class Preview:
    """A rendered file split where the generated part starts (`generated` is "" for
    authorized_keys, which is the header alone)."""

    kind: str
    header: str
    generated: str

    @property
    def text(self) -> str:
        return self.header + self.generated


def split_generated(kind: str, text: str) -> Preview:
    marker = BANNER + "\n"
    if kind != "authorized_keys" and text.startswith(marker):
        return Preview(kind, "", text)
    at = text.find("\n" + marker)
    if kind == "authorized_keys" or at < 0:
        return Preview(kind, text, "")
    return Preview(kind, text[: at + 1], text[at + 1 :])


@dataclass(frozen=True)
class Destination:
    kind: str
    headnode: str
    path: str
    mode: int

    @property
    def label(self) -> str:
        return f"{self.kind} {self.headnode}:{self.path}"


@dataclass(frozen=True)
class FileStatus:
    """One file on one head-node at one path, compared with what would be written.

    `current` is what was on disk when compared (None: missing or unreachable); `write()`
    refuses to overwrite a file that is no longer exactly that.
    """

    dest: Destination
    state: str
    wanted: str
    current: str | None
    error: str = ""  # unreachable: why; invalid: the bad lines
    problems: list[LineProblem] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dest.kind, self.dest.headnode, self.dest.path)

    def diff(self) -> str:
        """Unified diff from the file on disk to the generated file ("" when equal)."""
        if self.current is None and self.state == UNREACHABLE:
            return ""
        where = f"{self.dest.headnode}:{self.dest.path}"
        lines = difflib.unified_diff(
            (self.current or "").splitlines(keepends=True),
            self.wanted.splitlines(keepends=True),
            fromfile=f"{where} (on disk)" if self.current is not None else "/dev/null",
            tofile=f"{where} (generated)",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class SSHFilesService:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    # -- headers and descriptions ----------------------------------------------------------

    def load(self) -> SSHFilesState:
        snap = self.store.load("sshfiles")
        return SSHFilesState(self._options(snap.data), snap.token)

    def _options(self, data: dict) -> dict[str, FileOptions]:
        try:
            return options_from_toml(data)
        except InvalidInput as exc:  # name the file, as for any malformed state file
            path = self.store.path("sshfiles")
            raise ConfigError(f"{path}: {str(exc).removeprefix('sshfiles.toml: ')}") from None

    @staticmethod
    def header_problems(kind: str, header: str, allow_patterns: bool = False) -> list[LineProblem]:
        return validate_header(check_kind(kind), header, allow_patterns=allow_patterns)

    def save_header(
        self,
        state: SSHFilesState | None,
        kind: str,
        header: str,
        *,
        allow_patterns: bool | None = None,
    ) -> SSHFilesState:
        """Save `header`; InvalidInput with every bad line's number and reason refuses it.

        `state` is what the user saw (ConflictError when sshfiles.toml changed since); None
        saves without that check (one-shot CLI verbs). `allow_patterns` True confirms the
        header's wildcards and negations, False withdraws that; None keeps the setting.
        """
        check_kind(kind)
        if header and not header.endswith("\n"):
            header += "\n"
        values: dict[str, object] = {"header": header}
        if allow_patterns is not None:
            values["allow_patterns"] = allow_patterns

        def check(options: dict[str, FileOptions]) -> None:
            allowed = options[kind].allow_patterns if allow_patterns is None else allow_patterns
            problems = self.header_problems(kind, header, allowed)
            if problems:
                raise InvalidInput(f"{kind} header not saved: {problems_text(problems)}")

        return self._set(state, kind, values, check)

    def save_description(self, state: SSHFilesState | None, kind: str, text: str) -> SSHFilesState:
        check_kind(kind)
        return self._set(state, kind, {"description": check_line(text.strip(), "description")})

    def _set(
        self,
        state: SSHFilesState | None,
        kind: str,
        values: dict[str, object],
        check: Callable[[dict[str, FileOptions]], None] | None = None,
    ) -> SSHFilesState:
        def mutate(doc: tomlkit.TOMLDocument) -> None:
            options = self._options(
                doc.unwrap()
            )  # a file the service cannot read is never rewritten
            if check is not None:
                check(options)  # against the file as it is now, under the lock
            if kind not in doc:
                doc[kind] = tomlkit.table()
            for key, value in values.items():
                if isinstance(value, str):
                    value = tomlkit.string(value, multiline="\n" in value) if value else ""
                doc[kind][key] = value  # type: ignore[index]

        snap = self.store.edit("sshfiles", None if state is None else state.token, mutate)
        return SSHFilesState(self._options(snap.data), snap.token)

    # -- rendering ---------------------------------------------------------------------------

    def render(self, options: dict[str, FileOptions] | None = None) -> dict[str, str | QlutuiError]:
        """Every file rendered (blocking: call it in a thread); a file that cannot be
        rendered (inventory problems) maps to the error saying why."""
        options = options if options is not None else self.load().options
        inventory = Inventory.from_dict(self.store.load("inventory").data)
        try:
            return dict(render_all(inventory, options))
        except QlutuiError as error:  # the inventory concerns every file but authorized_keys
            rendered: dict[str, str | QlutuiError] = dict.fromkeys(options, error)
            if "authorized_keys" in options:
                keys = {"authorized_keys": options["authorized_keys"]}
                rendered.update(render_all(inventory, keys))
            return rendered

    async def preview(self, kind: str, options: FileOptions | None = None) -> Preview:
        """The whole file as it would be written (`options`: e.g. an unsaved header)."""
        check_kind(kind)
        opts = {kind: options} if options is not None else None
        if opts is None:
            opts = {kind: (await asyncio.to_thread(self.load)).options[kind]}
        text = (await asyncio.to_thread(self.render, opts))[kind]
        if isinstance(text, QlutuiError):
            raise text
        return split_generated(kind, text)

    # -- comparing with the head-nodes -------------------------------------------------------

    def destinations(self, kinds: Iterable[str] = FILES) -> list[Destination]:
        config = self.cluster.config
        return [
            Destination(kind, headnode, path, config.ssh_modes[kind])
            for kind in kinds
            for headnode in self.cluster.headnode_names
            for path in config.ssh_destinations[kind]
        ]

    def check(self, options: dict[str, FileOptions] | None = None) -> dict[str, Checked]:
        """Every file as a write would write it, or why not (`check_files`; blocking)."""
        options = options if options is not None else self.load().options
        return check_files(Inventory.from_dict(self.store.load("inventory").data), options)

    async def statuses(self, kinds: Iterable[str] = FILES) -> list[FileStatus]:
        """One row per file x head-node x destination, in that order."""
        kinds = [check_kind(k) for k in kinds]
        state = await asyncio.to_thread(self.load)
        checked = await asyncio.to_thread(self.check, {k: state.options[k] for k in kinds})
        dests = self.destinations(kinds)
        return list(await asyncio.gather(*(self._status(d, checked[d.kind]) for d in dests)))

    async def _status(self, dest: Destination, checked: Checked) -> FileStatus:
        wanted = checked.text
        if checked.error is not None and not wanted:
            return FileStatus(dest, INVALID, "", None, str(checked.error))
        try:
            current = await self._read(dest)
        except QlutuiError as error:
            return FileStatus(dest, UNREACHABLE, wanted, None, str(error))
        if checked.error is not None:
            return FileStatus(dest, INVALID, wanted, current, str(checked.error), checked.header)
        if current is None:
            return FileStatus(dest, MISSING, wanted, None)
        return FileStatus(dest, UNCHANGED if current == wanted else CHANGED, wanted, current)

    async def _read(self, dest: Destination) -> str | None:
        transport = self.cluster.transport(dest.headnode)
        try:
            data = await asyncio.wait_for(transport.read_bytes(dest.path), READ_TIMEOUT)
        except FileNotFoundError:
            return None
        except TimeoutError:
            raise Refused(f"{dest.headnode}: no answer within {READ_TIMEOUT:.0f} s") from None
        return data.decode("utf-8", errors="replace")

    # -- writing -----------------------------------------------------------------------------

    @staticmethod
    def to_write(rows: Iterable[FileStatus], *, only_changed: bool = True) -> list[FileStatus]:
        """The rows a write would touch: Refused when any of them is invalid; unreachable rows
        are left out (what is on disk there is unknown), unchanged ones with `only_changed`."""
        rows = list(rows)
        invalid = [r for r in rows if r.state == INVALID]
        if invalid:
            r = invalid[0]
            raise Refused(f"{r.dest.kind} cannot be written: {r.error}")
        states = WRITABLE if only_changed else (*WRITABLE, UNCHANGED)
        return [r for r in rows if r.state in states]

    async def write(self, rows: Iterable[FileStatus], *, only_changed: bool = True) -> Job:
        """Start a Job writing `to_write(rows)`, one target per head-node, all at once.

        Refused when nothing is left to write. Without `only_changed`, files already up to
        date are written again too (new backup, configured mode).
        """
        todo = self.to_write(rows, only_changed=only_changed)
        if not todo:
            raise Refused("nothing to write: the files are up to date")
        per_node: dict[str, list[FileStatus]] = {}
        for row in todo:
            per_node.setdefault(row.dest.headnode, []).append(row)
        count = counted(len(todo), "file")
        return await self.cluster.jobs.start(
            WRITE_JOB,
            f"Writing {count} to {', '.join(per_node)}",
            {node: _writer(node_rows, only_changed) for node, node_rows in per_node.items()},
            meta={"files": [r.dest.label for r in todo]},
        )

    # -- host key scan -----------------------------------------------------------------------

    def scan_targets(
        self,
        hosts: Iterable[str] = (),
        *,
        port: int = 22,
        addresses: dict[str, tuple[str, int | None]] | None = None,
    ) -> list[ScanTarget]:
        """Where each host (default: every host of the inventory) is scanned: its IP on the
        primary network and `port`, unless `addresses` says otherwise (host -> (ip, port))."""
        inventory = Inventory.from_dict(self.store.load("inventory").data)
        by_name = {h.name: h for h in inventory.hosts}
        wanted = list(dict.fromkeys(hosts)) or list(by_name)
        addresses = addresses or {}
        unknown = [n for n in [*wanted, *addresses] if n not in by_name]
        if unknown:
            raise InvalidInput(f"no host named {shown(unknown[0])} in the inventory")
        for name, (ip, _) in addresses.items():
            if ip_key(ip) is None:
                raise InvalidInput(f"{name}: {shown(ip)} is not a plain IP address")
        primary = inventory.primary.name
        targets = []
        for name in wanted:
            host = by_name[name]
            ip, over_port = addresses.get(name, (host.ips.get(primary, ""), None))
            targets.append(
                ScanTarget(name, ip, over_port or port, tuple(map(bare_key, host.host_keys)))
            )
        return targets

    @staticmethod
    async def scan_keys(
        targets: list[ScanTarget],
        *,
        timeout: float = SCAN_TIMEOUT,
        concurrency: int = SCAN_PARALLEL,
    ) -> list[ScanResult]:
        """The host keys every target offers (one handshake per key family), in target order."""
        limit = asyncio.Semaphore(concurrency)

        async def one(target: ScanTarget) -> ScanResult:
            async with limit:
                return await _scan(target, timeout)

        return list(await asyncio.gather(*(one(t) for t in targets)))

    def store_keys(self, results: Iterable[ScanResult]) -> list[str]:
        """Make the offered keys the inventory keys of each host whose keys are new or changed
        (after the admin confirmed); returns those hosts' names."""
        updates = {r.host: r.merged() for r in results if r.state in (KEY_NEW, KEY_CHANGED)}
        if not updates:
            return []
        done: list[str] = []

        def mutate(doc: tomlkit.TOMLDocument) -> None:
            for entry in doc.get("hosts", []):
                name = entry.get("name")
                if name in updates:
                    entry["host_keys"] = [f"{key} root@{name}" for key in updates[name]]
                    done.append(str(name))

        self.store.update("inventory", mutate)
        return done


def _writer(rows: list[FileStatus], only_changed: bool) -> Callable[[JobContext], Awaitable[None]]:
    """The in-process work of one head-node's target: its files, one after the other."""

    async def work(ctx: JobContext) -> None:
        transport = ctx.transport
        for done, row in enumerate(rows):
            path = row.dest.path
            try:
                data = await transport.read_bytes(path)
                now: str | None = data.decode("utf-8", errors="replace")
            except FileNotFoundError:
                now = None
            if now == row.wanted and only_changed:
                ctx.message(f"{path}: already up to date, not written")
            elif now != row.current:
                ctx.log(
                    STDERR,
                    f"Error: {path} was changed on {ctx.target} since the diff was computed "
                    "(another admin?); skipped: refresh and review the new diff",
                )
            else:
                await transport.mkdir(posixpath.dirname(path))
                await transport.write_atomic(
                    path, row.wanted.encode(), mode=row.dest.mode, backup=True
                )
                ctx.message(f"{path}: written ({row.dest.kind}, mode {row.dest.mode:04o})")
            ctx.progress((done + 1) / len(rows))

    return work


# -- host key scan -----------------------------------------------------------------------------

# One handshake per family: a server offers one host key per handshake, of the first
# algorithm both sides allow.
KEY_FAMILIES = (
    ("ssh-ed25519",),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"),
    ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
)
UNREACHABLE_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ETIMEDOUT}
)
KEY_NEW, KEY_UNCHANGED, KEY_CHANGED, KEY_UNREACHABLE = "new", "unchanged", "changed", "unreachable"


def bare_key(line: str) -> str:
    """ "keytype base64" of a key line, without its comment."""
    return " ".join(line.split()[:2])


@dataclass(frozen=True)
class ScanTarget:
    host: str
    ip: str
    port: int
    known: tuple[str, ...]  # the host's own inventory keys, bare

    @property
    def address(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ScanResult:
    target: ScanTarget
    offered: tuple[str, ...]  # bare keys, one per key family the server has
    error: str = ""

    @property
    def host(self) -> str:
        return self.target.host

    def key_state(self, key: str) -> str:
        """new (no inventory key of its type), unchanged, or changed (the inventory has a
        different key of the same type: a reinstall, or someone in the middle)."""
        if key in self.target.known:
            return KEY_UNCHANGED
        kind = key.split()[0]
        return KEY_CHANGED if any(k.split()[0] == kind for k in self.target.known) else KEY_NEW

    @property
    def state(self) -> str:
        if not self.offered:
            return KEY_UNREACHABLE
        states = {self.key_state(k) for k in self.offered}
        return next((s for s in (KEY_CHANGED, KEY_NEW) if s in states), KEY_UNCHANGED)

    def merged(self) -> list[str]:
        """The host's keys after accepting the scan: the offered ones, plus the known keys of
        types the server did not offer (e.g. security-key types no handshake asks for)."""
        types = {k.split()[0] for k in self.offered}
        return [*self.offered, *(k for k in self.target.known if k.split()[0] not in types)]


async def _scan(target: ScanTarget, timeout: float) -> ScanResult:
    import asyncssh  # deferred: only a scan pays for it

    if not target.ip:
        return ScanResult(target, (), "no IP on the primary network")
    offered: list[str] = []
    error = ""
    for algs in KEY_FAMILIES:
        try:
            # Not verifying is the point here: the key is collected for the admin to review.
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(
                    target.ip, target.port, server_host_key_algs=list(algs), config=None
                ),
                timeout,
            )
        except TimeoutError:
            error = f"no answer within {timeout:g} s"
            break
        except (OSError, asyncssh.Error) as exc:
            # sshd drops a handshake when it has no key of the family (reset or lost);
            # a host that cannot be reached at all is not asked again
            if isinstance(exc, OSError):
                error = os.strerror(exc.errno) if exc.errno else str(exc)
                if exc.errno in UNREACHABLE_ERRNOS:
                    break
            else:
                error = exc.reason or str(exc)
            continue
        if key is not None:
            offered.append(bare_key(key.export_public_key().decode()))
    if not offered:
        return ScanResult(target, (), error or "offered no host key")
    return ScanResult(target, tuple(offered))
