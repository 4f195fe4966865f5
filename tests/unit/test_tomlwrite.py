"""The fast TOML writer: what it writes reads back as the data, tomlkit's bytes for entries."""

from __future__ import annotations

import tomllib

import pytest
import tomlkit

from qlutui.model.tomlwrite import array_table_text

HOSTILE = ['a"b', "back\\slash", "tab\there", "nl\nx", "del\x7f", "nul\x00", "é ü 日本", "\x1b[31m"]


def test_hostile_strings_and_keys_read_back() -> None:
    entries = [
        {"name": text, "ips": {"my net": text, "boot": "10.0.0.1"}, "keys": [text, ""], "n": 3}
        for text in HOSTILE
    ] + [{"name": "x", "ssh": False, "primary": True, "aliases": {"ib": []}}]
    assert tomllib.loads(array_table_text("hosts", entries)) == {"hosts": entries}


def test_the_bytes_tomlkit_writes_for_tables_appended_to_a_file() -> None:
    entries = [
        {
            "name": "beo-01",
            "image": "Standard-noble",
            "ips": {"boot": "10.0.0.1", "ib": "10.1.0.1"},
        },
        {
            "name": "beo-02",
            "aliases": {"ib": ["beo-02-hca"]},
            "host_keys": ['ssh-ed25519 AAAA "c"'],
        },
    ]
    head = '# the admin\'s file\n[[hosts]]\nname = "first"\n\n'
    doc = tomlkit.parse(head)
    array = doc["hosts"]
    for entry in entries:
        table = tomlkit.table()
        for key, value in entry.items():
            if isinstance(value, dict):
                inline = tomlkit.inline_table()
                inline.update(value)
                value = inline
            table[key] = value
        table.add(tomlkit.nl())
        array.append(table)
    assert head + array_table_text("hosts", entries) == doc.as_string()


@pytest.mark.parametrize("value", [1.5, None, {"deep": {"er": 1}}.items()])
def test_other_values_are_left_to_tomlkit(value: object) -> None:
    with pytest.raises(TypeError):
        array_table_text("hosts", [{"name": "x", "v": value}])
