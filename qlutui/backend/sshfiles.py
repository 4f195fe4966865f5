"""The SSH host files service: what the SSH Configs screen and `qlutui ssh` call.

Headers and descriptions live in sshfiles.toml; saving takes the state the user saw (its
token) and refuses a header with bad lines, listing every reason. `render()` makes every file
from the inventory (in a thread: a big inventory takes tens of milliseconds). Comparing with
and writing to the head-nodes is the generated-file registry's (`backend/files/`, where the
SSH files are the "ssh" class).
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import tomlkit

from qlutui.backend.cluster import Cluster
from qlutui.errors import ConfigError, InvalidInput, QlutuiError
from qlutui.model.generated import Preview, split
from qlutui.model.inventory import Inventory, ip_key
from qlutui.model.names import check_line, no_such, shown
from qlutui.model.sshfiles import (
    FILES,
    MODES,
    Checked,
    FileOptions,
    LineProblem,
    ca_key_problem,
    check_files,
    fingerprint,
    header_duplicates,
    modes_text,
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


def split_generated(kind: str, text: str) -> Preview:
    """authorized_keys is the header alone; the others split at the banner."""
    return Preview(text, "") if kind == "authorized_keys" else split(text)


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

    def header_warnings(self, state: SSHFilesState, kind: str) -> list[LineProblem]:
        """What a saved header is not refused for but `qlutui check` reports: its known_hosts
        names the generated part has too (`header_duplicates`); nothing when the
        inventory cannot be read (the check says why)."""
        try:
            inventory = self.cluster.inventory()
        except (QlutuiError, OSError):
            return []
        return header_duplicates(check_kind(kind), inventory, state.options[kind])

    def save_description(self, state: SSHFilesState | None, kind: str, text: str) -> SSHFilesState:
        check_kind(kind)
        return self._set(state, kind, {"description": check_line(text.strip(), "description")})

    def set_modes(
        self,
        state: SSHFilesState | None,
        kind: str,
        *,
        hashed: bool | None = None,
        include_ips: bool | None = None,
        ca_key: str | None = None,
        networks: list[str] | None = None,
    ) -> SSHFilesState:
        """Set the modes of one file (None keeps a mode): hashed names and a host CA
        (`@cert-authority`) for known_hosts, IPs and the networks taking part for both
        generated files ([] = every network with ssh = true; ca_key "" = host keys again).

        InvalidInput, and nothing saved, for a mode the file does not have, a CA key that is
        not one plain public key, or a network the inventory lacks. `state` as in save_header.
        """
        check_kind(kind)
        wanted = {"hashed": hashed, "include_ips": include_ips, "ca_key": ca_key}
        wanted["networks"] = networks
        values: dict[str, object] = {k: v for k, v in wanted.items() if v is not None}
        if not MODES[kind]:
            raise InvalidInput(f"{kind} has no modes: it is the header alone")
        if other := [k for k in values if k not in MODES[kind]]:
            raise InvalidInput(
                f"{kind} has no mode {other[0]} (its modes: {', '.join(MODES[kind])})"
            )
        if ca_key is not None:
            values["ca_key"] = ca_key = ca_key.strip()
            if ca_key and (problem := ca_key_problem(ca_key)):
                raise InvalidInput(f"{kind}.ca_key not saved: {problem}")
        if networks is not None:
            values["networks"] = networks = list(dict.fromkeys(networks))
            known = self.network_names()
            if unknown := [n for n in networks if n not in known]:
                raise InvalidInput(
                    f"{kind}.networks not saved: no network {shown(unknown[0])}"
                    f" (networks: {', '.join(known)})"
                )
        if not values:
            raise InvalidInput(f"no mode of {kind} given")
        current = (state or self.load()).options[kind]
        values = {k: v for k, v in values.items() if getattr(current, k) != v}
        if not values:  # nothing to change: nothing written, nothing audited
            return state or self.load()
        return self._set(state, kind, values, summary=f"{kind} modes: {_said(values)}")

    def _set(
        self,
        state: SSHFilesState | None,
        kind: str,
        values: dict[str, object],
        check: Callable[[dict[str, FileOptions]], None] | None = None,
        *,
        summary: str | None = None,
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

        token = None if state is None else state.token
        snap = self.store.edit("sshfiles", token, mutate, summary=summary)
        return SSHFilesState(self._options(snap.data), snap.token)

    @staticmethod
    def modes_text(kind: str, options: FileOptions) -> str:
        return modes_text(check_kind(kind), options)

    def network_names(self) -> list[str]:
        """The inventory's networks, in its order (the choices of a file's networks)."""
        return [n.name for n in Inventory.from_dict(self.store.load("inventory").data).networks]

    def rename_network(self, old: str, new: str, token: str | None = None) -> list[str]:
        """Network `old` is now `new` in every file's `networks` setting; returns those files.
        `token`: sshfiles.toml as it was read (ConflictError if it changed since)."""
        renamed: list[str] = []

        def mutate(doc: tomlkit.TOMLDocument) -> None:
            renamed.clear()  # the edit may be retried on a fresh document
            self._options(doc.unwrap())  # a file the service cannot read is never rewritten
            for kind, table in doc.items():
                networks = table.get("networks") if isinstance(table, dict) else None
                if isinstance(networks, list) and old in networks:
                    table["networks"] = [new if n == old else n for n in networks]
                    renamed.append(kind)

        self.store.edit("sshfiles", token, mutate, summary=f"network {old} renamed {new}")
        return renamed

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

    def check(self, options: dict[str, FileOptions] | None = None) -> dict[str, Checked]:
        """Every file as a write would write it, or why not (`check_files`; blocking)."""
        options = options if options is not None else self.load().options
        return check_files(Inventory.from_dict(self.store.load("inventory").data), options)

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
            raise InvalidInput(no_such("host", unknown[0], "in the inventory"))
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
        from qlutui.backend.inventory import InventoryService
        from qlutui.model.inventory_edit import with_host_keys

        updates = {r.host: r.merged() for r in results if r.state in (KEY_NEW, KEY_CHANGED)}
        if not updates:
            return []
        service = InventoryService(self.cluster)
        state = service.load()
        known = {h.name for h in state.inventory.hosts}
        keys = {
            name: [f"{key} root@{name}" for key in merged]
            for name, merged in updates.items()
            if name in known
        }
        new = with_host_keys(state.inventory, keys)
        change = service.apply(state, new, summary="host keys from a key scan")
        return [name for name in keys if name in change.changed]


def _said(values: dict[str, object]) -> str:
    """The modes set, for the audit trail (a CA key by its fingerprint)."""
    words = []
    for key, value in values.items():
        if key == "ca_key":
            value = fingerprint(str(value)) if value else "none"
        elif key == "networks":
            value = ",".join(value) or "every SSH network"  # type: ignore[arg-type]
        else:
            value = "on" if value else "off"
        words.append(f"{key} {value}")
    return ", ".join(words)


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
