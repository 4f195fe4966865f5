"""Names that may reach a path or a command: images, chroots, configs, head-nodes, scripts.

The rule is deliberately narrow (ASCII letters, digits, `.`, `_`, `-`; no leading `-` or `.`)
so a valid name can never be an option, a hidden file, `..`, or anything a shell or a path
would interpret.
"""

from __future__ import annotations

import re

from qlutui.errors import InvalidInput

MAX_NAME = 64
_ALLOWED = re.compile(r"[A-Za-z0-9._-]+")
_BAD_CHAR = re.compile(r"[^A-Za-z0-9._-]")
_SHOWN_MAX = 80  # characters of a value quoted in a message


def shown(value: object) -> str:
    """`value` quoted for a one-line message: repr escaping, long values cut short."""
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


def no_such(what: str, name: str, where: str = "") -> str:
    """The one not-found message, the name as typed quoted like every value in a message:
    `no image named 'nosuch'`, `no host named 'gpu-[01-04]' in the inventory`."""
    return f"no {what} named {shown(name)}" + (f" {where}" if where else "")


def label(value: object) -> str:
    """Like `shown`, but a plain printable word is shown without quotes (e.g. "beo-01")."""
    if isinstance(value, str) and value and value.isprintable() and " " not in value:
        return value if len(value) <= _SHOWN_MAX else value[: _SHOWN_MAX - 1] + "…"
    return shown(value)


def counted(number: int, noun: str) -> str:
    """ "1 host", "10,000 hosts"."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def name_problem(name: object) -> str | None:
    """Why `name` is not acceptable, or None when it is."""
    if not isinstance(name, str):
        return f"must be text, not {type(name).__name__}"
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters (has {len(name)})"
    if not _ALLOWED.fullmatch(name):
        bad = _BAD_CHAR.search(name)
        found = f" (found {shown(bad.group())})" if bad else ""
        return f"must contain only letters, digits, '.', '_' and '-'{found}"
    if name[0] in "-.":
        return f"must not start with {name[0]!r}"
    return None


# Characters a one-line field refuses: C0 and C1 controls (ESC, CR, LF, tab, NUL ...), DEL,
# the Unicode line and paragraph separators and the bidirectional overrides (which reorder
# what a terminal shows).
_NOT_ONE_LINE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def line_problem(text: object) -> str | None:
    """Why `text` is not acceptable in a one-line field (a description), or None: the one
    rule for every such field, so none can clear a terminal or fake a table row."""
    if not isinstance(text, str):
        return f"must be text, not {type(text).__name__}"
    bad = _NOT_ONE_LINE.search(text)
    if bad:
        return f"must be one line without control characters (found {shown(bad.group())})"
    return None


def check_line(text: str, what: str = "text") -> str:
    """Return `text` when it is acceptable in a one-line field, else raise InvalidInput."""
    problem = line_problem(text)
    if problem:
        raise InvalidInput(f"{what} {problem}")
    return text


def check_name(name: str, what: str = "name") -> str:
    """Return `name` when it is acceptable, else raise InvalidInput saying why."""
    problem = name_problem(name)
    if problem:
        raise InvalidInput(f"invalid {what} {shown(name)}: {problem}")
    return name
