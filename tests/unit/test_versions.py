import pytest
from hypothesis import given
from hypothesis import strategies as st

from qlutui.errors import InvalidInput
from qlutui.model.versions import (
    Move,
    Version,
    choices,
    default_choice,
    describe,
    parse_version,
    policy,
    resolve,
    upgrade_preview,
)


def v(text: str) -> Version:
    return parse_version(text)


def vs(*texts: str) -> list[Version]:
    return [v(t) for t in texts]


RELEASES = vs("12.0.0", "12.0.1", "13.0.0", "13.1.0", "13.1.1")

parts = st.integers(min_value=0, max_value=10_000)
releases_st = st.lists(st.tuples(parts, parts, parts).map(Version), max_size=12)
choices_st = st.lists(parts, min_size=1, max_size=3).map(lambda p: Version(tuple(p)))


@pytest.mark.parametrize("text", ["13", "13.1", "13.1.1", "0", "0.0.0", "13.10.200"])
def test_parse_round_trips(text):
    assert str(v(text)) == text


@pytest.mark.parametrize(
    "text", ["", "13.", ".1", "13.1.1.1", "a", "13.x", "1 3", "-1", "+1", "13.01", "٣", "13,1"]
)
def test_bad_versions_are_refused(text):
    with pytest.raises(InvalidInput, match="invalid version"):
        parse_version(text)


def test_bad_version_messages_stay_on_one_line():
    with pytest.raises(InvalidInput) as caught:
        parse_version("13\n.1")
    assert "\n" not in str(caught.value)


def test_version_rejects_bad_parts():
    with pytest.raises(InvalidInput):
        Version(())
    with pytest.raises(InvalidInput):
        Version((1, 2, 3, 4))
    with pytest.raises(InvalidInput):
        Version((1, -2))


def test_ordering_is_numeric_and_prefixes_come_first():
    assert v("13.10") > v("13.9")
    assert v("13.10.0") > v("13.9.99")
    assert sorted(vs("13.0", "12.0.1", "13", "12", "12.0", "12.0.0")) == vs(
        "12", "12.0", "12.0.0", "12.0.1", "13", "13.0"
    )


def test_resolve_follows_the_policy_of_the_choice():
    assert resolve(v("13"), RELEASES) == v("13.1.1")
    assert resolve(v("13.0"), RELEASES) == v("13.0.0")
    assert resolve(v("12"), RELEASES) == v("12.0.1")
    assert resolve(v("13.1.0"), RELEASES) == v("13.1.0")
    assert resolve(v("12.0.3"), RELEASES) is None
    assert resolve(v("13.2"), RELEASES) is None
    assert resolve(v("14"), RELEASES) is None
    assert resolve(v("13"), []) is None


def test_resolve_is_numeric_not_textual():
    assert resolve(v("13"), vs("13.9.0", "13.10.0")) == v("13.10.0")
    assert resolve(v("1"), vs("1.0.0", "10.0.0")) == v("1.0.0")


def test_choices_are_every_derivable_x_xy_xyz_in_order():
    assert choices(RELEASES) == vs(
        "12", "12.0", "12.0.0", "12.0.1", "13", "13.0", "13.0.0", "13.1", "13.1.0", "13.1.1"
    )
    assert choices([]) == []


def test_default_choice_is_the_newest_xy():
    assert default_choice(RELEASES) == v("13.1")
    assert default_choice([]) is None


def test_policy_in_words():
    assert policy(v("13")) == "follows feature releases"
    assert policy(v("13.1")) == "maintenance releases"
    assert policy(v("13.1.1")) == "pinned"


@pytest.mark.parametrize(
    ("choice", "text"),
    [
        ("13", "13 → 13.1.1 (follows feature releases)"),
        ("13.1", "13.1 → 13.1.1 (maintenance releases)"),
        ("13.0", "13.0 → 13.0.0 (maintenance releases)"),
        ("13.1.1", "13.1.1 (pinned)"),
        ("13.2", "13.2 → no release available (maintenance releases)"),
        ("14", "14 → no release available (follows feature releases)"),
        ("12.0.3", "12.0.3 (pinned, not available on the head-node)"),
    ],
)
def test_describe(choice, text):
    assert describe(v(choice), RELEASES) == text


def test_upgrade_preview_shows_who_moves_from_what_to_what():
    images = [
        ("Standard-noble", v("13")),
        ("Maint-noble", v("13.1")),
        ("Old-maint", v("13.0")),
        ("Pinned", v("13.1.1")),
        ("Future", v("13.2")),
        ("Legacy", v("12")),
    ]
    moves = upgrade_preview(images, RELEASES, v("13.2.0"))
    assert moves == [
        Move("Standard-noble", v("13"), v("13.1.1"), v("13.2.0")),
        Move("Future", v("13.2"), None, v("13.2.0")),
    ]
    maintenance = upgrade_preview(images, RELEASES, v("13.1.2"))
    assert [m.image for m in maintenance] == ["Standard-noble", "Maint-noble"]
    assert maintenance[1].before == v("13.1.1") and maintenance[1].after == v("13.1.2")


def test_upgrade_preview_with_a_known_or_older_release_moves_nothing():
    images = [("A", v("13")), ("B", v("13.1"))]
    assert upgrade_preview(images, RELEASES, v("13.1.1")) == []
    assert upgrade_preview(images, RELEASES, v("13.0.5")) == []


def test_upgrade_preview_needs_a_release():
    with pytest.raises(InvalidInput, match=r"a release is x\.y\.z"):
        upgrade_preview([], RELEASES, v("13.2"))


@given(releases_st, choices_st)
def test_resolve_returns_the_newest_covered_release(releases, choice):
    got = resolve(choice, releases)
    covered = [r for r in releases if r.parts[: len(choice.parts)] == choice.parts]
    assert got == (max(covered) if covered else None)


@given(releases_st)
def test_every_choice_resolves_and_every_release_is_a_choice(releases):
    offered = choices(releases)
    assert offered == sorted(set(offered))
    assert set(releases) <= set(offered)
    for choice in offered:
        assert resolve(choice, releases) is not None
        assert str(parse_version(str(choice))) == str(choice)


@given(releases_st, choices_st, st.tuples(parts, parts, parts).map(Version))
def test_upgrade_preview_agrees_with_resolve(releases, choice, new):
    moves = upgrade_preview([("img", choice)], releases, new)
    after = resolve(choice, [*releases, new])
    if after == resolve(choice, releases):
        assert moves == []
    else:
        assert moves == [Move("img", choice, resolve(choice, releases), new)]
