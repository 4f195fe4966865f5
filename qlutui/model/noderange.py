"""Node ranges as cluster admins write them (`beo-[001-480]`, `beo-[01-04,10],login-c`).

The syntax is ClusterShell's (and Slurm's): this wraps `ClusterShell.NodeSet` rather than
parsing ranges by hand. Node groups (`@compute`) are switched off: a group would come from
ClusterShell's configuration files, and nothing the inventory did not define is trusted.
ClusterShell is imported on first use (it costs ~30 ms): only the verbs that name hosts pay.
"""

from __future__ import annotations

from collections.abc import Iterable

from qlutui.errors import InvalidInput
from qlutui.model.inventory import hostname_problem
from qlutui.model.names import shown

MAX_EXPANDED = 100_000  # names one range may stand for (`beo-[1-99999999]` is a typo)


def expand(text: str) -> list[str]:
    """The host names a node range stands for, in ClusterShell's order, each checked
    against the host-name rule; InvalidInput with a one-line reason otherwise."""
    from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet, NodeSetException

    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("empty node range")
    if not text.isprintable():
        raise InvalidInput(f"invalid node range {shown(text)}: control characters")
    try:
        nodes = NodeSet(text, resolver=RESOLVER_NOGROUP)
        count = len(nodes)
    except (NodeSetException, AssertionError, ValueError) as exc:  # AssertionError: too large
        raise InvalidInput(f"invalid node range {shown(text)}: {exc}") from None
    if count == 0:
        raise InvalidInput(f"node range {shown(text)} names no host")
    if count > MAX_EXPANDED:
        raise InvalidInput(
            f"node range {shown(text)} names {count:,} hosts (at most {MAX_EXPANDED:,})"
        )
    names = list(nodes)
    for name in names:
        if problem := hostname_problem(name):
            raise InvalidInput(f"node range {shown(text)}: host name {shown(name)} {problem}")
    return names


def expand_all(texts: Iterable[str]) -> list[str]:
    """The names of several ranges (command-line arguments), each name once, in order."""
    return list(dict.fromkeys(name for text in texts for name in expand(text)))


def fold(names: Iterable[str]) -> str:
    """The shortest range for `names` (`beo-[01-48]`); "" for none."""
    names = list(names)
    if not names:
        return ""
    if len(names) == 1:  # the common case of one host: no import
        return names[0]
    from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet, NodeSetException

    try:
        return str(NodeSet.fromlist(names, resolver=RESOLVER_NOGROUP))
    except (NodeSetException, AssertionError, ValueError):  # a name no range can hold
        return ",".join(names)


FOLDED_SHOWN = 120  # characters of a folded host list in a one-line message


def folded(names: Iterable[str], limit: int = FOLDED_SHOWN) -> str:
    """`fold(names)` for a one-line message: cut at a range boundary past `limit` characters
    (`beo-[01-48],gpu-[1,3,5] ... and more`)."""
    text = fold(names)
    if len(text) <= limit:
        return text
    depth, cut = 0, 0
    for i, char in enumerate(text[:limit]):  # the last top-level comma within the limit
        depth += (char == "[") - (char == "]")
        if char == "," and depth == 0:
            cut = i
    return (text[:cut] if cut else text[:limit]) + " ... and more"
