"""A request body nested deeper than ``MAX_JSON_DEPTH`` is refused with a 400 before
anything else reads it; the depth check agrees with a plain recursive measure and is
skipped for bodies with too few brackets to reach the limit."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.base.errors import InvalidRequest
from gateway.core import service


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


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=1, max_value=8))
def test_the_walk_agrees_with_a_recursive_measure(value: Any, limit: int) -> None:
    if isinstance(value, dict | list):
        assert service._walks_deeper(value, limit) == (depth(value) > limit)


def test_orjson_writes_the_levels_the_check_counts_on() -> None:
    """``_nests_deeper`` reads orjson's refusal as "deeper": an orjson that wrote more
    or fewer levels would make it answer wrong, so its limit is held here."""
    inner: Any = []
    for _ in range(service.ORJSON_LEVELS - 1):
        inner = [inner]
    orjson.dumps(inner)
    with pytest.raises(orjson.JSONEncodeError, match="^Recursion limit reached$"):
        orjson.dumps([inner])


@pytest.mark.parametrize("levels", [200, 253, 254, 255, 300])
@pytest.mark.parametrize("limit", [128, 253, 254, 260])
def test_deep_values_and_limits_past_orjsons_agree_with_the_walk(levels: int, limit: int) -> None:
    value = nested(levels)
    assert service._nests_deeper(value, limit) == (levels > limit)
    assert service._walks_deeper(value, limit) == (levels > limit)


@pytest.mark.parametrize("levels", [service.MAX_JSON_DEPTH, service.MAX_JSON_DEPTH + 1])
def test_a_value_orjson_refuses_otherwise_is_walked(levels: int) -> None:
    value = nested(levels)
    value["name"] = "\ud800"  # a lone surrogate: orjson refuses to write it
    assert service._nests_deeper(value, service.MAX_JSON_DEPTH) == (levels > service.MAX_JSON_DEPTH)
    assert value["name"] == "\ud800"
