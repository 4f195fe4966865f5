"""TOML text of plain data, fast: the entries a bulk edit appends to a state file.

tomlkit builds an item tree for every value (about 1 ms a host); this writes the same text
directly, byte for byte what tomlkit writes for a new table of the same entry (strings,
booleans, integers, lists of them, and inline tables of those). Anything else raises
TypeError: the caller goes the tomlkit way then.
"""

from __future__ import annotations

import re

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SHORT = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"'}
# TOML basic strings: control characters and DEL escaped (\uXXXX unless a short form)
_ESCAPES = str.maketrans(
    {
        **{chr(c): f"\\u{c:04x}" for c in (*range(0x20), 0x7F)},
        **_SHORT,
        "\\": "\\\\",
    }
)


def value_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return f'"{value.translate(_ESCAPES)}"'
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key_text(k)} = {value_text(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no fast TOML form for {type(value).__name__}")


def key_text(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else value_text(key)


def array_table_text(name: str, entries: list[dict]) -> str:
    """`[[name]]` tables of `entries`, each followed by a blank line (as the admin writes)."""
    header = f"[[{key_text(name)}]]\n"
    parts = []
    for entry in entries:
        lines = "".join(f"{key_text(k)} = {value_text(v)}\n" for k, v in entry.items())
        parts.append(f"{header}{lines}\n")
    return "".join(parts)
