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
        assert service._walks_deeper(value, limit) == (depth(value) > limit)


@pytest.mark.parametrize("levels", [1, 2, 127, 128, 129, 130, 254, 255, 256, 300])
def test_the_check_agrees_around_the_limit_and_orjsons(levels: int) -> None:
    """Near ``MAX_JSON_DEPTH`` and near what orjson writes, where its encoding answers."""
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    assert depth(value) == levels
    for limit in (service.MAX_JSON_DEPTH, service.WRITABLE_DEPTH - 1, service.WRITABLE_DEPTH):
        assert service._nests_deeper(value, limit) == (levels > limit)


def test_orjsons_depth_is_found_by_trying() -> None:
    value: Any = []
    for _ in range(service.WRITABLE_DEPTH - 1):
        value = [value]
    orjson.dumps(value)  # the most it writes
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps([value])
    assert service.WRITABLE_DEPTH > service.MAX_JSON_DEPTH


def test_a_value_orjson_cannot_write_is_walked() -> None:
    """An integer past 64 bits (orjson reads it as a float, but a value made otherwise
    may hold one) fails the encoding for another reason than depth: the walk decides."""
    shallow = {"model": "m", "n": [2**70]}
    assert not service._nests_deeper(shallow, 3)
    assert service._nests_deeper(shallow, 1)


def test_a_body_with_brackets_inside_strings_is_measured_by_its_values() -> None:
    raw = orjson.dumps({"model": "m", "text": "[" * 500 + "{" * 500})
    assert service._parse_json(raw)["text"].startswith("[[[")
