"""`qlutui VERB --help` says what each argument is: every verb's every argument has a help,
and a verb's own --help starts with the line its parent lists it with."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator

from qlutui.cli import build_parser

NOT_OURS = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


def verbs(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("qlutui",)
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from verbs(sub, (*path, name))


def test_every_argument_of_every_verb_says_what_it_is() -> None:
    found = list(verbs(build_parser()))
    assert len(found) > 80  # the walk reached the verbs
    bare = [
        f"{path} {action.option_strings or action.dest}"
        for path, parser in found
        for action in parser._actions
        if not isinstance(action, NOT_OURS) and not action.help
    ]
    assert not bare, bare
    undescribed = [path for path, parser in found if not parser.description]
    assert undescribed == [], undescribed


def test_ssh_header_help_says_file_is_a_name_and_set_wants_a_path() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "qlutui", "ssh", "header", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    text = " ".join(shown.split())  # argparse wraps at the terminal's width
    assert "print a file's header, or set it" in text
    assert (
        "FILE which file: known_hosts, shosts_equiv, authorized_keys (a name, not a path)" in text
    )
    assert (
        "--set PATH|- set the header to the text of the local file PATH ('-': standard input)"
        in text
    )
