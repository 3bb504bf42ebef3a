"""A request body nested deeper than ``MAX_JSON_DEPTH`` is refused with a 400 before
anything else reads it; the depth check agrees with a plain recursive measure and is
skipped for bodies with too few brackets to reach the limit."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core import service
from gateway.errors import InvalidRequest


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def nested(levels: int) -> dict[str, Any]:
    """A body whose containers reach ``levels`` levels (the body itself is the first)."""
    inner: Any = []
    for _ in range(levels - 2):
        inner = [inner]
    return {"model": "m", "messages": inner}


@pytest.mark.parametrize("levels", [service.MAX_JSON_DEPTH, service.MAX_JSON_DEPTH + 1])
def test_the_limit_is_the_last_level_taken(levels: int) -> None:
    raw = orjson.dumps(nested(levels))
    assert depth(orjson.loads(raw)) == levels
    if levels <= service.MAX_JSON_DEPTH:
        assert service._parse_json(raw)["model"] == "m"
    else:
        with pytest.raises(InvalidRequest, match="nests deeper"):
            service._parse_json(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=1, max_value=8))
def test_the_check_agrees_with_a_recursive_measure(value: Any, limit: int) -> None:
    if isinstance(value, dict | list):
        assert service._nests_deeper(value, limit) == (depth(value) > limit)


def test_a_body_with_brackets_inside_strings_is_measured_by_its_values() -> None:
    raw = orjson.dumps({"model": "m", "text": "[" * 500 + "{" * 500})
    assert service._parse_json(raw)["text"].startswith("[[[")
