"""The line of every table and key of a TOML text, by the path a problem message names."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from qlutui.backend.demo import init_demo
from qlutui.model.names import label
from qlutui.model.toml_lines import key_lines, lines_of

TEXT = '''# a comment = 1
top = 1
[images."odd one"]
header = """
fake = 1
[not.a.table]
"""
modules = [
  "core",  # x = 2
  "a]b",
]
dotted.key = 'its'
[[hosts]]
name = "a"
[[hosts]]
name = "b"
ips = { boot = "10.0.0.1" }
[hosts.macs]
boot = "00:11"
[[hosts]]
name = "c"
literal = \'\'\'
fake = 3
\'\'\'
after = true
'''


def test_keys_are_found_past_strings_arrays_and_arrays_of_tables() -> None:
    tomllib.loads(TEXT)  # valid TOML, as what is scanned always is
    lines = key_lines(TEXT)
    assert lines == {
        "top": 2,
        "images.'odd one'": 3,
        "images.'odd one'.header": 4,
        "images.'odd one'.modules": 8,
        "images": 3,
        "images.'odd one'.dotted": 12,
        "images.'odd one'.dotted.key": 12,
        "hosts": 13,
        "hosts[0]": 13,
        "hosts[0].name": 14,
        "hosts[1]": 15,
        "hosts[1].name": 16,
        "hosts[1].ips": 17,
        "hosts[1].macs": 18,
        "hosts[1].macs.boot": 19,
        "hosts[2]": 20,
        "hosts[2].name": 21,
        "hosts[2].literal": 22,
        "hosts[2].after": 25,
    }


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ("unknown key hosts[1].macs.boot (not used)", 19),
        ("hosts[1] (b): ips: not a table of IPs", 17),
        ("hosts[1] (b): must have a name", 15),  # no key named: the table
        ("images.'odd one': modules: must be a list of names", 8),
        ("images: must be a table", 3),
        ("networks: must be a list", None),
        ("top.toml: unknown file 'top'", 2),
        ("hosts[2]: unknown setting 'after'", 25),
    ],
)
def test_a_message_is_placed_on_its_key_else_its_table(message: str, line: int | None) -> None:
    assert lines_of(TEXT, [message]) == [line]


def test_the_scan_stops_once_every_path_asked_is_found() -> None:
    assert key_lines(TEXT, ["hosts[0].name", "images.'odd one'"]) == {
        "top": 2,
        "images": 3,
        "images.'odd one'": 3,
        "images.'odd one'.header": 4,
        "images.'odd one'.modules": 8,
        "images.'odd one'.dotted": 12,
        "images.'odd one'.dotted.key": 12,
        "hosts": 13,
        "hosts[0]": 13,
        "hosts[0].name": 14,
    }


def _paths(value: object, path: str = "") -> Iterator[str]:
    """Every key of tables and arrays of tables, as problem messages name them."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            where = f"{path}.{label(key)}" if path else label(key)
            yield where
            yield from _paths(child, where)
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        for i, entry in enumerate(value):
            yield from _paths(entry, f"{path}[{i}]")


def test_every_key_of_the_demo_state_files_is_on_its_line(tmp_path: Path) -> None:
    state = init_demo(tmp_path / "demo").parent / "state"
    for path in sorted(state.glob("*.toml")):
        text = path.read_text()
        lines, rows = key_lines(text), text.splitlines()
        for where in _paths(tomllib.loads(text)):
            if where in lines:  # else inside an inline table (ips = {...})
                last = where.rsplit(".", 1)[-1].split("[")[0]
                assert last in rows[lines[where] - 1], (path.name, where)
            else:
                assert where.rsplit(".", 1)[0] in lines, (path.name, where)
