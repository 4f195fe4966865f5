"""Root FS customization: configs are directories copied onto nodes early at boot; the
scripts in `lib/qlustar/init.d/` run then in run-parts order.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from qlutui.errors import InvalidInput
from qlutui.model.names import label, line_problem, name_problem, shown

INITD = "lib/qlustar/init.d"
_RUNPARTS = re.compile(r"[A-Za-z0-9_-]+")
_NAME_MAX = 255  # bytes per path component (Linux NAME_MAX)
_PATH_MAX = 4096


@dataclass
class RootfsConfig:
    name: str
    description: str = ""

    def to_dict(self) -> dict:
        """The rootfs.toml table of this config (its name is the table key)."""
        return {"description": self.description}


def configs_from_dict(data: dict) -> dict[str, RootfsConfig]:
    """The configs of rootfs.toml data, sorted by name; InvalidInput names the wrong entry."""
    table = data.get("configs", {})
    if not isinstance(table, dict):
        raise InvalidInput("configs: must be a table")
    configs = {}
    for name in sorted(table):
        entry, where = table[name], f"configs.{label(name)}"
        if problem := name_problem(name):
            raise InvalidInput(f"{where}: name {problem}")
        if not isinstance(entry, dict) or not isinstance(entry.get("description", ""), str):
            raise InvalidInput(f"{where}: must be a table with a text description")
        if problem := line_problem(entry.get("description", "")):
            raise InvalidInput(f"{where}: description {problem}")
        configs[name] = RootfsConfig(name, entry.get("description", ""))
    return configs


@dataclass(frozen=True)
class Clash:
    """A node path that more than one config assigned to one image ships. Every config is
    copied onto the node at boot and nothing orders them (REFERENCE: root-fs), so the node
    gets one of them, which one is not defined."""

    image: str
    path: str  # below the config root: etc/motd
    configs: tuple[str, ...]  # in the image's order of its rootfs list

    def __str__(self) -> str:
        return (
            f"/{self.path} is shipped by root-fs configs {', '.join(self.configs)}:"
            " the node gets only one of them, which one is not defined"
        )


def clashes(
    assigned: Mapping[str, Iterable[str]], shipped: Mapping[str, Mapping[str, str]]
) -> list[Clash]:
    """Every clash, by image then path: `assigned` is image -> its configs, `shipped` config
    -> {path below its root: kind}. A directory in several configs is merged, not a clash; a
    file, link or other entry is one, also beside a directory of the same path."""
    found = []
    for image in sorted(assigned):
        owners: dict[str, list[str]] = {}
        for config in dict.fromkeys(assigned[image]):
            for path in shipped.get(config, {}):
                owners.setdefault(path, []).append(config)
        found += [
            Clash(image, path, tuple(configs))
            for path, configs in sorted(owners.items())
            if len(configs) > 1 and any(shipped[c][path] != "dir" for c in configs)
        ]
    return found


def clash_note(config: str, found: Iterable[Clash]) -> str:
    """What a file of `config` shows beside it when other configs of an image ship it too:
    "also in gpu-setup on Standard-bookworm: the node gets one of them"."""
    parts = [
        f"{', '.join(c for c in clash.configs if c != config)} on {clash.image}" for clash in found
    ]
    return f"also in {'; '.join(parts)}: the node gets one of them" if parts else ""


def normalize_relpath(path: str) -> str:
    """A path inside a config as 'a/b/c'; refuses anything that could leave the config.

    Empty and '.' components are dropped ('a//./b/' is 'a/b'); absolute paths, '..',
    control characters and over-long names are refused.
    """
    if not isinstance(path, str):
        raise InvalidInput(f"invalid path {shown(path)}: must be text")
    reason = None
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if path.startswith("/"):
        reason = "must be relative to the config directory"
    elif not path.isprintable():
        reason = "must not contain control characters"
    elif ".." in parts:
        reason = "must not contain '..'"
    elif not parts:
        reason = "must name something inside the config"
    elif any(len(part.encode()) > _NAME_MAX for part in parts):
        reason = f"a name is longer than {_NAME_MAX} bytes"
    elif len(path.encode()) > _PATH_MAX:
        reason = f"is longer than {_PATH_MAX} bytes"
    if reason:
        raise InvalidInput(f"invalid path {shown(path)}: {reason}")
    return "/".join(parts)


def move_problem(path: str, new_path: str) -> str | None:
    """Why `path` cannot move to `new_path` (both normalized), found before anything is
    tried: onto itself, or below itself (rename(2) says only "Invalid argument", and the
    confined op would have made the new path's parents first)."""
    if new_path == path:
        return "it is the same path"
    if new_path.startswith(path + "/"):
        return "the new path is inside it"
    return None


def runparts_name_ok(name: str) -> bool:
    """Whether run-parts runs a file of this name (letters, digits, '_' and '-' only)."""
    return bool(_RUNPARTS.fullmatch(name))


def boot_order(names: Iterable[str]) -> list[str]:
    """The names in the order run-parts uses: byte-wise, as under LC_ALL=C."""
    return sorted(names, key=lambda name: name.encode(errors="surrogateescape"))


def script_problems(name: str, mode: int, head: bytes) -> list[str]:
    """Why an init.d entry would not run at boot (empty when it will).

    `mode` is its st_mode (or just the permission bits), `head` its first bytes.
    """
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return ["not a regular file: run-parts skips it"]
    problems = []
    if not runparts_name_ok(name):
        problems.append(
            "name has characters other than letters, digits, '_' and '-': run-parts skips it"
        )
    if not mode & 0o111:
        problems.append("not executable: run-parts skips it")
    if head.startswith(b"#!"):
        line = head.split(b"\n", 1)[0]
        if line.endswith(b"\r"):
            problems.append("the '#!' line ends in CR (DOS line ending): it cannot run")
        elif not line[2:].strip():
            problems.append("the '#!' line names no interpreter")
    elif not head.startswith(b"\x7fELF"):
        problems.append("no '#!' line: the kernel cannot run it")
    return problems


SYNTAX_SHELLS = ("sh", "bash", "dash")


def shebang_shell(head: bytes) -> str | None:
    """The shell whose `-n` checks a script's syntax ('sh', 'bash', 'dash'), from its '#!'
    line ('#!/bin/sh', '#!/usr/bin/env bash' ...); None for other interpreters or none."""
    if not head.startswith(b"#!"):
        return None
    words = head.split(b"\n", 1)[0][2:].decode(errors="replace").split()
    if words and words[0].rsplit("/", 1)[-1] == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
    shell = words[0].rsplit("/", 1)[-1] if words else ""
    return shell if shell in SYNTAX_SHELLS else None


def new_file_mode(relpath: str) -> int:
    """The mode a new file gets: a file in init.d is a boot script, which run-parts runs only
    when it is executable (0755, what the exec-bit toggle gives 0644); any other 0644."""
    return toggled_executable(0o644) if relpath.rpartition("/")[0] == INITD else 0o644


def toggled_executable(mode: int) -> int:
    """Permission bits with the executable bits toggled: cleared when any is set, else set
    for whoever may read (0644 -> 0755, 0600 -> 0700)."""
    mode &= 0o7777
    return mode & ~0o111 if mode & 0o111 else mode | (mode & 0o444) >> 2


def mode_text(kind: str, mode: int) -> str:
    """`-rwxr-xr-x` style: the kind's letter and the permission bits."""
    return {"dir": "d", "link": "l", "file": "-"}.get(kind, "?") + stat.filemode(mode)[1:]


def size_text(size: float, sep: str = " ") -> str:
    """`269 B`, `1.5 KiB` ... (`sep=""`: `269B`, one word for a table)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)}{sep}{unit}" if unit == "B" else f"{size:.1f}{sep}{unit}"
        size /= 1024
    return ""
