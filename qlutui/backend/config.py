"""config.toml: head-nodes, paths, SSH file destinations, chroot builders, release sources and
UI options.

Strict on purpose: an unknown key (a typo) or a value of the wrong type is a ConfigError
naming the file and the key, never silently ignored. Relative local paths (state_dir, a
head-node's root, known_hosts, identity) are relative to the directory of the config file.
The documented example is the project's top-level config.toml.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlutui.backend.store import parse_toml
from qlutui.errors import ConfigError, InvalidInput
from qlutui.model.names import check_name, shown

SEARCH_PATHS = (Path("config.toml"), Path("/etc/qlutui/config.toml"))
ENV_VAR = "QLUTUI_CONFIG"

TRANSPORTS = ("local", "ssh")
SSH_FILES = ("known_hosts", "shosts_equiv", "authorized_keys")
DEFAULT_SSH_DESTINATIONS = {
    "known_hosts": (
        "/etc/qlustar/common/image-files/ssh/ssh_known_hosts",
        "/etc/ssh/ssh_known_hosts",
    ),
    "shosts_equiv": ("/etc/qlustar/common/image-files/ssh/shosts.equiv", "/etc/ssh/shosts.equiv"),
    "authorized_keys": ("/etc/qlustar/common/image-files/ssh/authorized_keys",),
}
DEFAULT_SSH_MODE = 0o644
DEFAULT_HOSTS_DESTINATIONS = ("/etc/dnsmasq.hosts",)
DEFAULT_IMAGE_DESTINATION = "/etc/qlustar/images/{image}/qlutui.conf"
DEFAULT_IMAGE_REBUILD = ("qlustar-image-reconfigure", "{image}")
IMAGE = "{image}"
# placeholders of [images] rebuild: the image, its config file there, the head-node's name
REBUILD_PLACEHOLDERS = (IMAGE, "{file}", "{headnode}")
DEFAULT_STATE_DIR = "state"
DEFAULT_CHROOTS_BASE = "/srv/apps/chroots"
DEFAULT_ROOTFS_BASE = "/var/lib/qlustar/root-fs"
DEFAULT_JOBS_DIR = "/var/lib/qlutui/jobs"

PACKAGES = "{packages...}"
PLACEHOLDERS = ("{suite}", "{target}", "{mirror}")
MMDEBSTRAP_PHASES = (
    "I: running apt-get update",
    "I: downloading packages",
    "I: extracting archives",
    "I: installing essential packages",
    "I: installing remaining packages",
    "I: cleaning package lists",
    "I: success in",
)
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_TOP_KEYS = (
    "state_dir",
    "chroots_base",
    "rootfs_base",
    "jobs_dir",
    "headnodes",
    "ssh_files",
    "hosts_file",
    "images",
    "builders",
    "release_sources",
    "ui",
)
_SSH_ONLY = ("host", "port", "user", "known_hosts", "identity", "connect_timeout", "keepalive")


@dataclass(frozen=True)
class HeadNode:
    name: str
    transport: str = "local"  # "local" | "ssh"
    host: str = ""
    port: int = 22
    user: str = "root"
    known_hosts: Path | None = None  # required for ssh: host keys are always verified
    identity: Path | None = None
    root: Path | None = None  # local only: prefix for every absolute head-node path
    connect_timeout: float = 10.0
    keepalive: float = 15.0


@dataclass(frozen=True)
class Builder:
    """How a chroot of one distribution is built: an argv template and its progress phases."""

    argv: tuple[str, ...]
    phases: tuple[str, ...] = ()  # regexes; a matching output line marks the next phase
    keep_failed: bool = False  # keep the partial tree of a failed build for inspection

    def command(
        self, *, suite: str, target: str, mirror: str = "", packages: Sequence[str] = ()
    ) -> list[str]:
        """The argv for one build. An element that is just "{mirror}" is dropped when no
        mirror is given (the builder's default sources are used); "{packages...}" becomes
        `--include=p1,p2`, or nothing without packages."""
        values = {"{suite}": suite, "{target}": target, "{mirror}": mirror}
        argv: list[str] = []
        for arg in self.argv:
            if arg == PACKAGES:
                argv += [f"--include={','.join(packages)}"] if packages else []
            elif not (arg == "{mirror}" and not mirror):
                argv.append(_PLACEHOLDER.sub(lambda m: values[m.group()], arg))
        return argv

    def phase(self, line: str) -> int | None:
        """Index of the first phase whose regex matches `line`, or None."""
        return next((i for i, p in enumerate(self.phases) if re.search(p, line)), None)


DEFAULT_BUILDERS = {
    "debian": Builder(
        argv=("mmdebstrap", "--variant=minbase", PACKAGES, "{suite}", "{target}", "{mirror}"),
        phases=MMDEBSTRAP_PHASES,
    ),
}


VERSION = "{version}"


@dataclass(frozen=True)
class ReleaseSources:
    """How a chroot of one flavour names its Qlustar release in its apt sources: `file` (a path
    inside the chroot) holds `text` with {version} as the release's x.y. A release upgrade of
    a clone replaces every occurrence of the old release's text by the new one's."""

    file: str
    text: str

    def replaced(self, version: str) -> str:
        return self.text.replace(VERSION, version)


@dataclass(frozen=True)
class UIOptions:
    theme: str = "textual-dark"
    serial: bool | None = None  # None: detect (TERM=linux / vt*)
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys
    log_batch_ms: int = 50  # log lines are shown in batches at most this often


@dataclass(frozen=True)
class Config:
    path: Path
    state_dir: Path
    headnodes: tuple[HeadNode, ...]
    chroots_base: str = DEFAULT_CHROOTS_BASE
    rootfs_base: str = DEFAULT_ROOTFS_BASE
    jobs_dir: str = DEFAULT_JOBS_DIR  # on the head-nodes
    ssh_destinations: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_SSH_DESTINATIONS)
    )
    ssh_modes: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(SSH_FILES, DEFAULT_SSH_MODE)
    )
    hosts_destinations: tuple[str, ...] = DEFAULT_HOSTS_DESTINATIONS
    hosts_mode: int = DEFAULT_SSH_MODE
    image_destination: str = DEFAULT_IMAGE_DESTINATION  # {image}: the image's name
    image_mode: int = DEFAULT_SSH_MODE
    image_rebuild: tuple[str, ...] = DEFAULT_IMAGE_REBUILD  # argv after writing; () = none
    builders: dict[str, Builder] = field(default_factory=lambda: dict(DEFAULT_BUILDERS))
    release_sources: dict[str, ReleaseSources] = field(default_factory=dict)  # by flavour
    ui: UIOptions = field(default_factory=UIOptions)

    def headnode(self, name: str) -> HeadNode:
        for headnode in self.headnodes:
            if headnode.name == name:
                return headnode
        known = ", ".join(h.name for h in self.headnodes)
        raise InvalidInput(f"unknown head-node {shown(name)} (configured: {known})")


def find_config(explicit: str | Path | None = None) -> Path:
    """The config file to use: `explicit`, else $QLUTUI_CONFIG, else the first that exists
    of ./config.toml and /etc/qlutui/config.toml."""
    given = (explicit, "") if explicit else (os.environ.get(ENV_VAR), f" (from ${ENV_VAR})")
    if given[0]:
        path = Path(given[0]).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file{given[1]}")
        return path
    looked = [p.absolute() for p in SEARCH_PATHS]
    for path in looked:
        if path.is_file():
            return path
    raise ConfigError(
        f"no config file found (looked for {', '.join(map(str, looked))}); "
        f"pass --config PATH, set ${ENV_VAR}, or try `qlutui demo`"
    )


def load_config(path: str | Path | None = None) -> Config:
    """Find, read and validate the config; every problem is a ConfigError."""
    path = find_config(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return _Parser(path).config(parse_toml(path, raw))


class _Parser:
    """Validates the parsed TOML; errors read "<file>: <key path>: <problem>"."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent

    def error(self, where: str, problem: str) -> ConfigError:
        return ConfigError(
            f"{self.path}: {where}: {problem}" if where else f"{self.path}: {problem}"
        )

    def config(self, data: dict[str, Any]) -> Config:
        top = self.section(data, "", _TOP_KEYS)
        destinations, modes = self.ssh_files(top.table("ssh_files"))
        hosts = self.section(top.table("hosts_file"), "hosts_file", ("destinations", "mode"))
        images = self.section(top.table("images"), "images", ("destination", "mode", "rebuild"))
        builders = dict(DEFAULT_BUILDERS)
        for distribution, entry in top.table("builders").items():
            builders[distribution] = self.builder(entry, distribution)
        return Config(
            path=self.path,
            state_dir=self.local_path(top, "state_dir", DEFAULT_STATE_DIR),
            headnodes=self.headnodes(top),
            chroots_base=self.headnode_path(top, "chroots_base", DEFAULT_CHROOTS_BASE),
            rootfs_base=self.headnode_path(top, "rootfs_base", DEFAULT_ROOTFS_BASE),
            jobs_dir=self.headnode_path(top, "jobs_dir", DEFAULT_JOBS_DIR),
            ssh_destinations=destinations,
            ssh_modes=modes,
            hosts_destinations=self.destinations(hosts, list(DEFAULT_HOSTS_DESTINATIONS)),
            hosts_mode=self.mode(hosts),
            image_destination=self.image_destination(images),
            image_mode=self.mode(images),
            image_rebuild=self.image_rebuild(images),
            builders=builders,
            release_sources={
                flavour: self.release_sources(entry, flavour)
                for flavour, entry in top.table("release_sources").items()
            },
            ui=self.ui(top.table("ui")),
        )

    def section(self, data: Any, where: str, keys: Iterable[str]) -> _Section:
        """`data` as a table at key path `where`, refusing keys not in `keys`."""
        if not isinstance(data, dict):
            raise self.error(where, "expected a table")
        keys = tuple(keys)
        unknown = [k for k in data if k not in keys]
        if unknown:
            items = []
            for key in unknown:
                close = difflib.get_close_matches(key, keys, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                items.append(f"'{where}.{key}'{hint}" if where else f"'{key}'{hint}")
            plural = "s" if len(items) > 1 else ""
            raise self.error("", f"unknown key{plural} {', '.join(items)}")
        return _Section(self, data, where)

    def headnodes(self, top: _Section) -> tuple[HeadNode, ...]:
        entries = top.get("headnodes", list, "a list of tables ([[headnodes]])", [])
        if not entries:
            raise self.error("headnodes", "at least one head-node is required ([[headnodes]])")
        result: list[HeadNode] = []
        for i, entry in enumerate(entries):
            headnode = self.headnode(entry, f"headnodes[{i}]")
            if any(h.name == headnode.name for h in result):
                raise self.error(f"headnodes[{i}].name", f"duplicate head-node '{headnode.name}'")
            result.append(headnode)
        return tuple(result)

    def headnode(self, entry: Any, where: str) -> HeadNode:
        s = self.section(entry, where, ("name", "transport", "root", *_SSH_ONLY))
        name = s.string("name")
        try:
            check_name(name, "head-node name")
        except InvalidInput as exc:
            raise self.error(s.key("name"), str(exc)) from None
        transport = s.string("transport")
        if transport not in TRANSPORTS:
            raise self.error(s.key("transport"), f'expected "local" or "ssh", got "{transport}"')
        wrong = _SSH_ONLY if transport == "local" else ("root",)
        for key in wrong:
            if key in s.data:
                other = "ssh" if transport == "local" else "local"
                raise self.error(s.key(key), f'only for transport = "{other}"')
        if transport == "local":
            root = self.local_path(s, "root", None)
            return HeadNode(name=name, transport="local", root=root)
        known_hosts = self.local_path(s, "known_hosts", None)
        if known_hosts is None:
            raise self.error(
                s.key("known_hosts"),
                'required for transport = "ssh" (host keys are always verified)',
            )
        port = s.get("port", int, "an integer", 22)
        if not 0 < port < 65536:
            raise self.error(s.key("port"), f"expected a port number (1-65535), got {port}")
        return HeadNode(
            name=name,
            transport="ssh",
            host=s.string("host", name),
            port=port,
            user=s.string("user", "root"),
            known_hosts=known_hosts,
            identity=self.local_path(s, "identity", None),
            connect_timeout=s.number("connect_timeout", 10.0, positive=True),
            keepalive=s.number("keepalive", 15.0, positive=False),
        )

    def ssh_files(self, table: dict[str, Any]) -> tuple[dict[str, tuple[str, ...]], dict[str, int]]:
        self.section(table, "ssh_files", SSH_FILES)
        destinations = dict(DEFAULT_SSH_DESTINATIONS)
        modes = dict.fromkeys(SSH_FILES, DEFAULT_SSH_MODE)
        for kind, entry in table.items():
            s = self.section(entry, f"ssh_files.{kind}", ("destinations", "mode"))
            destinations[kind] = self.destinations(s, list(destinations[kind]))
            modes[kind] = self.mode(s)
        return destinations, modes

    def destinations(self, s: _Section, default: list[str]) -> tuple[str, ...]:
        paths = s.strings("destinations", default)
        for i, dest in enumerate(paths):
            self.check_headnode_path(f"{s.key('destinations')}[{i}]", dest)
        return tuple(posixpath.normpath(p) for p in paths)

    def mode(self, s: _Section) -> int:
        mode = s.get("mode", int, "an integer (e.g. 0o644)", DEFAULT_SSH_MODE)
        if not 0 <= mode <= 0o7777:
            raise self.error(s.key("mode"), f"expected a file mode such as 0o644, got {mode}")
        return mode

    def image_destination(self, s: _Section) -> str:
        path = s.string("destination", DEFAULT_IMAGE_DESTINATION)
        self.check_headnode_path(s.key("destination"), path)
        if _PLACEHOLDER.findall(path) != [IMAGE]:
            raise self.error(s.key("destination"), "must contain {image} once (one file per image)")
        return posixpath.normpath(path)

    def image_rebuild(self, s: _Section) -> tuple[str, ...]:
        argv = tuple(s.strings("rebuild", list(DEFAULT_IMAGE_REBUILD)))
        for i, arg in enumerate(argv):
            for placeholder in _PLACEHOLDER.findall(arg):
                if placeholder not in REBUILD_PLACEHOLDERS:
                    known = ", ".join(REBUILD_PLACEHOLDERS)
                    raise self.error(
                        f"{s.key('rebuild')}[{i}]",
                        f"unknown placeholder {placeholder} (known: {known})",
                    )
        return argv

    def builder(self, entry: Any, distribution: str) -> Builder:
        s = self.section(entry, f"builders.{distribution}", ("argv", "phases", "keep_failed"))
        default = DEFAULT_BUILDERS.get(distribution)
        argv = tuple(s.strings("argv", list(default.argv)) if default else s.strings("argv"))
        if not argv:
            raise self.error(s.key("argv"), "expected a command (a non-empty list of strings)")
        for i, arg in enumerate(argv):
            for placeholder in _PLACEHOLDER.findall(arg):
                if placeholder not in PLACEHOLDERS and arg != PACKAGES:
                    known = ", ".join((*PLACEHOLDERS, PACKAGES))
                    raise self.error(
                        f"{s.key('argv')}[{i}]",
                        f"unknown placeholder {placeholder} (known: {known})",
                    )
        if not any("{target}" in arg for arg in argv):
            raise self.error(s.key("argv"), "must contain {target} (where the chroot is built)")
        mmdebstrap = Path(argv[0]).name == "mmdebstrap"
        phases = tuple(s.strings("phases", list(MMDEBSTRAP_PHASES) if mmdebstrap else []))
        for i, pattern in enumerate(phases):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.error(
                    f"{s.key('phases')}[{i}]", f"bad regular expression: {exc}"
                ) from None
        return Builder(argv, phases, s.get("keep_failed", bool, "true or false", False))

    def release_sources(self, entry: Any, flavour: str) -> ReleaseSources:
        s = self.section(entry, f"release_sources.{flavour}", ("file", "text"))
        path = s.string("file")
        self.check_headnode_path(s.key("file"), path)
        if posixpath.normpath(path) != path or path == "/" or "/../" in f"{path}/":
            raise self.error(s.key("file"), f'expected a plain path of a file, got "{path}"')
        text = s.string("text")
        if _PLACEHOLDER.findall(text) != [VERSION] or "\n" in text:
            raise self.error(s.key("text"), "expected one line with {version} once in it")
        return ReleaseSources(path, text)

    def ui(self, table: dict[str, Any]) -> UIOptions:
        s = self.section(table, "ui", ("theme", "serial", "keymap", "log_batch_ms"))
        keymap = s.table("keymap")
        for binding, keys in keymap.items():
            if not isinstance(keys, str) or not keys:
                raise self.error(f"ui.keymap.{binding}", "expected a non-empty string of keys")
        batch = s.get("log_batch_ms", int, "an integer", 50)
        if batch <= 0:
            raise self.error(s.key("log_batch_ms"), f"expected a positive integer, got {batch}")
        return UIOptions(
            theme=s.string("theme", "textual-dark"),
            serial=s.get("serial", bool, "true or false", None),
            keymap=dict(keymap),
            log_batch_ms=batch,
        )

    def local_path(self, s: _Section, key: str, default: str | None) -> Path | None:
        value = s.string(key, default)
        if value is None:
            return None
        if not value:
            raise self.error(s.key(key), "expected a path, got an empty string")
        path = Path(value).expanduser()
        return Path(os.path.normpath(path if path.is_absolute() else self.base / path))

    def headnode_path(self, s: _Section, key: str, default: str) -> str:
        value = s.string(key, default)
        self.check_headnode_path(s.key(key), value)
        return posixpath.normpath(value)

    def check_headnode_path(self, where: str, value: str) -> None:
        if not value.startswith("/"):
            raise self.error(where, f'expected an absolute head-node path, got "{value}"')


_MISSING: Any = object()


class _Section:
    """One table of the config with typed getters; `where` is its key path for messages."""

    def __init__(self, parser: _Parser, data: dict[str, Any], where: str) -> None:
        self.parser = parser
        self.data = data
        self.where = where

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, kind: type, expected: str, default: Any = _MISSING) -> Any:
        if name not in self.data:
            if default is _MISSING:
                raise self.parser.error(self.key(name), "required")
            return default
        value = self.data[name]
        # bool is an int subclass in Python, but `port = true` is not a port number.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.parser.error(self.key(name), f"expected {expected}")
        return value

    def string(self, name: str, default: Any = _MISSING) -> Any:
        return self.get(name, str, "a string", default)

    def number(self, name: str, default: float, *, positive: bool) -> float:
        value = self.get(name, int | float, "a number", default)
        if isinstance(value, bool):
            raise self.parser.error(self.key(name), "expected a number")
        if value < 0 or (positive and value == 0):
            sign = "positive" if positive else "non-negative"
            raise self.parser.error(self.key(name), f"expected a {sign} number, got {value}")
        return float(value)

    def strings(self, name: str, default: Any = _MISSING) -> Any:
        value = self.get(name, list, "a list of strings", default)
        if not all(isinstance(v, str) for v in value):
            raise self.parser.error(self.key(name), "expected a list of strings")
        return value

    def table(self, name: str) -> dict[str, Any]:
        return self.get(name, dict, "a table", {})
