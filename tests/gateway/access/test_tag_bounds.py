"""What a request tag may be (``gateway.access.tag_bounds``), for a key's default tags and
a request's own: strings, stripped of spaces and unprintable characters, each once in
order, at most ``MAX_LENGTH`` characters and ``MAX_TAGS`` of them, a ``ValueError``
naming the problem otherwise."""

from __future__ import annotations

import pytest

from gateway.access.tag_bounds import MAX_LENGTH, MAX_TAGS, clean_tags, parse_tags


def test_tags_are_cleaned_and_kept_once_in_order() -> None:
    assert clean_tags([" team:a ", "x\x00y", "", "  ", "team:a", "b\n"]) == ("team:a", "xy", "b")


def test_a_tag_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        clean_tags(["a", 7])


def test_the_length_is_counted_after_cleaning() -> None:
    assert clean_tags(["  " + "a" * MAX_LENGTH + "  "]) == ("a" * MAX_LENGTH,)
    with pytest.raises(ValueError, match=f"at most {MAX_LENGTH} characters"):
        clean_tags(["a" * (MAX_LENGTH + 1)])


def test_the_count_is_of_distinct_tags() -> None:
    assert len(clean_tags([f"t{i % MAX_TAGS}" for i in range(3 * MAX_TAGS)])) == MAX_TAGS
    with pytest.raises(ValueError, match=f"at most {MAX_TAGS} tags"):
        clean_tags([f"t{i}" for i in range(MAX_TAGS + 1)])


@pytest.mark.parametrize(
    "value, tags",
    [
        (None, []),
        ("", []),
        ("a, b ,a,,", ["a", "b"]),
        (["a", " b"], ["a", "b"]),
        (("a",), ["a"]),
    ],
)
def test_tags_are_a_list_or_one_comma_separated_string(value, tags) -> None:
    assert parse_tags(value) == tags


@pytest.mark.parametrize("value", [7, {"a": 1}, True])
def test_anything_else_is_refused(value) -> None:
    with pytest.raises(ValueError, match="a list of tags, or a comma-separated string"):
        parse_tags(value)
