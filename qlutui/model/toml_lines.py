"""The line of each table and key of a TOML text, by the dotted path a message names it with
(`images.Standard-noble.chrot`, `hosts[3].ips`, the names as `label` shows them), so a
problem found in the parsed data can say `path:line:` as a syntax error does.

One pass over the lines of a text tomllib has already accepted, with regular expressions
doing the scanning (a 10,000-host inventory in well under a second); only asked when a file
has a problem to place. Keys inside inline tables and multi-line arrays are not indexed: a
problem there is placed on the line of the key that holds them.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable

from qlutui.model.names import label as _label

label = functools.cache(_label)  # the same few keys on every line of an inventory

_KEY = r"""[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'"""
_DOTTED = re.compile(rf"\s*({_KEY})\s*(\.)?")
_BARE = re.compile(r"\s*([A-Za-z0-9_-]+)\s*=")  # most lines: `name = ...`
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_STRINGS = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'""")
_HEADER = re.compile(r"\s*(\[\[?)")
# What matters in a value: strings skipped whole, brackets counted, a comment ends the line.
_NAMED = re.compile(r"unknown [\w-]+ '([^'\\]*)'")  # "unknown setting 'x'": the key x
_VALUE = re.compile(r'''"""|\'\'\'|"(?:[^"\\]|\\.)*"|'[^']*'|[\[\]{}]|#''')


def _key(token: str) -> str:
    if token[0] == "'":
        return token[1:-1]
    if token[0] == '"':
        return tomllib.loads(f"k = {token}")["k"]  # its escapes, as TOML reads them
    return token


def _keys(text: str, start: int) -> tuple[list[str], int]:
    """The dotted key at `start`: its parts and where it ends."""
    parts = []
    pos = start
    while match := _DOTTED.match(text, pos):
        parts.append(_key(match.group(1)))
        pos = match.end()
        if not match.group(2):
            break
    return parts, pos


class _Scan:
    def __init__(self, wanted: set[str]) -> None:
        self.lines: dict[str, int] = {}
        self.wanted = wanted  # the paths still to find (none asked: every path)
        self.done = False
        self.arrays: dict[str, int] = {}  # an array of tables -> its last index
        self.table = ""
        self.depth = 0  # open brackets of a multi-line array
        self.string = ""  # the delimiter of an open multi-line string

    def where(self, base: str, parts: list[str], number: int) -> str:
        """The path of `parts` under `base`; a table they define on the way (`flavours` of
        `[flavours.noble]`) is placed on this line, unless it was already."""
        for part in parts:
            base = f"{base}.{label(part)}" if base else label(part)
            if base in self.arrays:  # `[hosts.macs]` after `[[hosts]]`: its last entry
                base = f"{base}[{self.arrays[base]}]"
            self.place(base, number)
        return base

    def place(self, path: str, number: int) -> None:
        if path not in self.lines:
            self.lines[path] = number
            if self.wanted:
                self.wanted.discard(path)
                self.done = not self.wanted

    def header(self, line: str, number: int, double: bool, start: int) -> None:
        parts, _ = _keys(line, start)
        if double:
            outer = self.where("", parts[:-1], number)
            name = f"{outer}.{label(parts[-1])}" if outer else label(parts[-1])
            self.place(name, number)
            self.arrays[name] = self.arrays.get(name, -1) + 1
            self.table = f"{name}[{self.arrays[name]}]"
            self.place(self.table, number)
        else:
            self.table = self.where("", parts, number)

    def value(self, text: str) -> None:
        """Follow the brackets and multi-line strings of (the rest of) a value."""
        if not self.string and '"""' not in text and "'''" not in text:  # the quick way
            bare = _STRINGS.sub("", text).partition("#")[0]
            self.depth += bare.count("[") + bare.count("{") - bare.count("]") - bare.count("}")
            return
        pos = 0
        while True:
            if self.string:
                end = text.find(self.string, pos)
                if end < 0:
                    return
                pos, self.string = end + 3, ""
            match = _VALUE.search(text, pos)
            if match is None:
                return
            token, pos = match.group(), match.end()
            if token in ('"""', "'''"):
                self.string = token
            elif token in "[{":
                self.depth += 1
            elif token in "]}":
                self.depth -= 1
            elif token == "#":
                return

    def line(self, line: str, number: int) -> None:
        if self.string or self.depth:
            self.value(line)
            return
        stripped = line.lstrip()
        if not stripped or stripped[0] == "#":
            return
        if header := _HEADER.match(line):
            self.header(line, number, header.group(1) == "[[", header.end())
            return
        if bare := _BARE.match(line):
            parts, end = [bare.group(1)], bare.end() - 1
        else:
            parts, end = _keys(line, 0)
        if parts:
            self.where(self.table, parts, number)
            self.value(line[line.index("=", end) + 1 :])


def key_lines(text: str, wanted: Iterable[str] = ()) -> dict[str, int]:
    """Every table and key of `text` (valid TOML) -> the line (from 1) it is on; with
    `wanted`, the scan stops once each of these paths is found."""
    scan = _Scan(set(wanted))
    for number, line in enumerate(text.splitlines(), 1):
        scan.line(line, number)
        if scan.done:
            break
    return scan.lines


def lines_of(text: str, messages: Iterable[str]) -> list[int | None]:
    """The line each problem message is about (None: not found): its leading path
    (`images.X: version: ...`, `hosts[3] (beo-01): ips: ...`, `unknown key images.X.chrot`;
    `sshfiles.toml:` is the top), the key under it when the message names one (`version`,
    `unknown setting 'x'`), else the table's."""
    paths = [_paths(message) for message in messages]
    lines = key_lines(text, [p for found in paths for p in found])
    return [next((lines[p] for p in found if p in lines), None) for found in paths]


def _paths(message: str) -> list[str]:
    """Where a message may be about, the closest first."""
    head, _, rest = message.partition(": ")
    head = re.sub(r" \(.*\)$", "", head.removeprefix("unknown key "))
    head = "" if head.endswith(".toml") else head
    named = _NAMED.match(rest)
    key = named.group(1) if named else rest.partition(": ")[0]
    paths = [head] if head else []
    if key and (named or _BARE_KEY.fullmatch(key)):
        paths.insert(0, f"{head}.{label(key)}" if head else label(key))
    return paths
