"""Node ranges (ClusterShell syntax): expansion, folding, and every bad input refused."""

from __future__ import annotations

import pytest

from qlutui.errors import InvalidInput
from qlutui.model.noderange import MAX_EXPANDED, expand, expand_all, fold, folded


def test_expand_ranges_lists_and_padding() -> None:
    assert expand("beo-[01-03]") == ["beo-01", "beo-02", "beo-03"]
    assert expand("beo-[01-02,10],login-c") == ["beo-01", "beo-02", "beo-10", "login-c"]
    assert expand("beo-[1-2]-ib") == ["beo-1-ib", "beo-2-ib"]
    assert expand("beo-01") == ["beo-01"]
    assert len(expand("beo-[001-480]")) == 480
    assert expand("beo-[01-04]!beo-02") == ["beo-01", "beo-03", "beo-04"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("beo-[", "invalid node range 'beo-\\[': missing bracket"),
        ("beo-[05-01]", "invalid node range"),
        ("", "empty node range"),
        ("   ", "empty node range"),
        ("a b", "host name 'a b' must be labels"),
        ("@compute", "host name '@compute'"),  # no groups from ClusterShell's config files
        ("beo_[1-2]", "host name 'beo_1'"),
        ("-x", "host name '-x'"),
        ("x\n", "control characters"),
        ("a&b", "names no host"),
        ("beo-[1-1000000000]", "invalid node range"),
        (f"beo-[1-{MAX_EXPANDED + 1}]", "names 100,001 hosts"),
    ],
)
def test_expand_refuses_with_one_line(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as info:
        expand(text)
    assert "\n" not in str(info.value)


def test_expand_all_keeps_each_name_once() -> None:
    assert expand_all(["beo-[01-02]", "beo-02", "login-c"]) == ["beo-01", "beo-02", "login-c"]


def test_fold() -> None:
    names = [f"beo-{i:02d}" for i in range(1, 49)]
    assert fold(names) == "beo-[01-48]"
    assert fold(["beo-01", "beo-02", "beo-10", "login-c"]) == "beo-[01-02,10],login-c"
    assert fold(["x"]) == "x"
    assert fold([]) == ""
    assert expand(fold(names)) == names


def test_folded_cuts_at_a_range_boundary() -> None:
    names = [f"{c}x-[1-2]" for c in "abcdefghijklmnop"]
    names = expand_all(names)  # ax-1, ax-2, bx-1 ...: no common prefix to fold on
    text = folded(names, limit=40)
    assert text.endswith(" ... and more")
    head = text.removesuffix(" ... and more")
    assert len(head) <= 40 and head.count("[") == head.count("]")
    assert expand(head)  # what is shown is still a valid range
    assert folded(["beo-01", "beo-02"]) == "beo-[01-02]"
