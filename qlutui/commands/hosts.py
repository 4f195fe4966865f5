"""TEMPORARY STAND-IN for d1-inventory's `qlutui hosts` verbs: only `hosts import` (d2-import)
is here. The lead replaces this file with d1's at merge (d1's calls `register_import`)."""

from __future__ import annotations

from typing import Any

from qlutui import commands
from qlutui.commands.hosts_import import register_import


def register(verbs: Any) -> None:
    register_import(commands.add_verb(verbs, "hosts", "the inventory's hosts"))
