"""The prompt template syntax (``gateway.features.prompts.template``): ``{{name}}`` with
optional spaces, names as the module documents them, values as text (numbers and booleans
as JSON writes them, a Responses ``input_text`` as its text, anything else refused), and
text that only looks like a placeholder left as it is."""

from __future__ import annotations

import pytest

from gateway.features.prompts.template import (
    TemplateError,
    missing,
    render,
    text_of,
    variables_of,
)


def test_variables_are_listed_once_in_order_of_first_use() -> None:
    texts = ["Hi {{name}}, about {{ topic }}.", "{{topic}} again, {{user.id}} and {{a-b}}"]
    assert variables_of(texts) == ["name", "topic", "user.id", "a-b"]


@pytest.mark.parametrize(
    "text", ["{{}}", "{{ two words }}", "{{1st}}", "{name}", "{{ name", "{{-x}}"]
)
def test_what_only_looks_like_a_placeholder_is_no_variable(text) -> None:
    assert variables_of([text]) == []
    assert render(text, {}) == text


def test_render_replaces_every_placeholder_spaced_or_not() -> None:
    text = "{{greeting}}, {{ name }}! {{greeting}} again; {{}} stays"
    assert render(text, {"greeting": "Hello", "name": "Ada"}) == (
        "Hello, Ada! Hello again; {{}} stays"
    )


def test_a_value_is_not_read_as_a_template_or_a_pattern() -> None:
    """A value holding braces or a regex back-reference is written as it is."""
    assert render("{{a}} {{b}}", {"a": "{{b}}", "b": r"\1 \g<0>"}) == r"{{b}} \1 \g<0>"


@pytest.mark.parametrize(
    "value, text",
    [
        ("text", "text"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (0.5, "0.5"),
        (1e20, "1e+20"),
        ({"type": "input_text", "text": "from Responses"}, "from Responses"),
    ],
)
def test_values_are_text_as_json_writes_them(value, text) -> None:
    assert text_of(value) == text


@pytest.mark.parametrize("value", [None, [1], {"a": 1}, {"type": "input_image"}])
def test_other_values_are_refused(value) -> None:
    with pytest.raises(TemplateError, match="text, numbers or booleans"):
        text_of(value)


def test_missing_names_what_was_not_given() -> None:
    assert missing(["a", "b", "c"], {"b": "x"}) == ["a", "c"]
    assert missing([], {}) == []
