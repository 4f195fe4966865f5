import re
import tokenize
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qlutui.errors import InvalidInput
from qlutui.model.names import MAX_NAME, check_name, label, name_problem, shown

VALID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
valid_names = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(VALID_CHARS[:-3] + "_"),  # no leading "." or "-"
    st.text(alphabet=VALID_CHARS, max_size=MAX_NAME - 1),
)


@pytest.mark.parametrize(
    "name", ["a", "beo-01", "Standard-noble", "gpu.sh", "_private", "9", "a..b", "x" * 64]
)
def test_valid_names_pass_unchanged(name):
    assert check_name(name) == name
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("-x", "invalid chroot name '-x': must not start with '-'"),
        (".hidden", "invalid chroot name '.hidden': must not start with '.'"),
        (".", "invalid chroot name '.': must not start with '.'"),
        ("..", "invalid chroot name '..': must not start with '.'"),
        ("", "invalid chroot name '': must not be empty"),
        (
            "a/b",
            "invalid chroot name 'a/b': must contain only letters, digits, '.', '_' and '-'"
            " (found '/')",
        ),
        (
            "a b",
            "invalid chroot name 'a b': must contain only letters, digits, '.', '_' and '-'"
            " (found ' ')",
        ),
        (
            "né",
            "invalid chroot name 'né': must contain only letters, digits, '.', '_' and '-'"
            " (found 'é')",
        ),
        ("x" * 65, "must be at most 64 characters (has 65)"),
    ],
)
def test_invalid_names_are_refused_with_the_reason(name, message):
    with pytest.raises(InvalidInput) as caught:
        check_name(name, "chroot name")
    assert message in str(caught.value)


def test_default_what_is_name():
    with pytest.raises(InvalidInput, match=r"^invalid name '-x': must not start with '-'$"):
        check_name("-x")


def test_control_characters_never_make_a_multi_line_message():
    with pytest.raises(InvalidInput) as caught:
        check_name("evil\nname\r\x1b[31m")
    text = str(caught.value)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text
    assert r"'evil\nname\r\x1b[31m'" in text
    assert r"(found '\n')" in text


def test_non_text_is_refused():
    assert name_problem(12) == "must be text, not int"
    assert name_problem(None) == "must be text, not NoneType"


def test_huge_names_are_cut_short_in_messages():
    with pytest.raises(InvalidInput) as caught:
        check_name("a" * 100_000)
    assert len(str(caught.value)) < 200


def test_shown_and_label():
    assert shown("beo-01") == "'beo-01'"
    assert label("beo-01") == "beo-01"
    assert label("a b") == "'a b'"
    assert label("a\nb") == r"'a\nb'"
    assert label("") == "''"
    assert shown("x" * 200).endswith("…") and len(shown("x" * 200)) == 80


@given(valid_names)
def test_every_name_of_the_allowed_alphabet_passes(name):
    assert check_name(name) == name


@given(st.text(max_size=80))
def test_accepted_names_are_safe_in_paths_and_commands(name):
    if name_problem(name) is None:
        assert 1 <= len(name) <= MAX_NAME
        assert name.isascii() and name.isprintable()
        assert "/" not in name and " " not in name and "\x00" not in name
        assert name[0] not in "-." and name not in (".", "..")
    else:
        with pytest.raises(InvalidInput) as caught:
            check_name(name)
        assert "\n" not in str(caught.value)


@given(st.text(min_size=1, max_size=20), st.sampled_from("/\x00\n $;*'\"\\`é"))
def test_names_with_a_forbidden_character_are_refused(text, bad):
    assert name_problem(text + bad) is not None
    assert name_problem(bad + text) is not None


@given(valid_names.filter(lambda n: len(n) < MAX_NAME))
def test_leading_dash_or_dot_is_refused(name):
    assert name_problem("-" + name) == "must not start with '-'"
    assert name_problem("." + name) == "must not start with '.'"


def test_no_message_spells_a_plural_as_s_in_brackets() -> None:
    """`1 host(s)` reads wrong either way: every count goes through `counted()`."""
    import io

    root = Path(__file__).parents[2] / "qlutui"
    found = []
    for path in sorted(root.rglob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        for token in tokens:
            is_text = token.type in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1))
            if is_text and re.search(r"[a-z]\(s\)", token.string):
                found.append(f"{path.relative_to(root)}:{token.start[0]}")
    assert found == []
