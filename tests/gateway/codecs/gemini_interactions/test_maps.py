"""The Interactions API's vocabulary as the gateway serves it: usage as Gemini bills it
(read back by the upstream half), the error envelope a client reads, fresh ids and the
stream's events."""

from __future__ import annotations

import orjson
import pytest

from gateway.codecs.gemini_interactions import maps, upstream_maps
from tests.gateway.codecs.gemini_interactions.test_inbound import USAGE, fixture


def test_usage_round_trips() -> None:
    body = maps.usage_body(USAGE)
    assert body == fixture("interaction_text.json")["usage"]
    assert upstream_maps.usage(body) == USAGE  # what the upstream half reads back


def test_usage_without_thoughts_or_cache_leaves_them_out() -> None:
    from gateway.base.types import Usage

    assert maps.usage_body(Usage(input_tokens=3, output_tokens=2)) == {
        "total_input_tokens": 3,
        "total_output_tokens": 2,
        "total_tokens": 5,
    }


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "resource_exhausted"), (404, "not_found"), (418, "invalid_argument"), (599, "internal")],
)
def test_the_error_envelope(status, code) -> None:
    assert maps.error_body(status, "no") == {"error": {"code": code, "message": "no"}}


def test_ids_are_fresh_and_prefixed() -> None:
    made = {maps.new_id() for _ in range(50)}
    assert len(made) == 50 and all(i.startswith("int_") and len(i) == 28 for i in made)
    assert maps.new_id("step").startswith("step_")


def test_an_event_is_named_by_its_type() -> None:
    payload = {"event_type": "content.delta", "delta": {"text": "hi"}}
    name, data = maps.sse(payload).decode().removesuffix("\n\n").split("\n")
    assert name == "event: content.delta" and orjson.loads(data[6:]) == payload
    assert maps.sse({"x": 1}).startswith(b"event: message\n")
