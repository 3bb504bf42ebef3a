"""What the Interactions upstream answers, read: call ids carrying the upstream id and
its thought signature, the finish of a status, usage (cached tokens out of the input,
thoughts in the output), ``created`` times and Google's error objects."""

from __future__ import annotations

import orjson
import pytest

from gateway.base.types import Usage
from gateway.codecs.gemini_interactions import upstream_maps as maps
from tests.gateway.codecs.gemini_interactions.test_outbound import SIG


@pytest.mark.parametrize("signature", [SIG, "not base64 at all: ü", None])
def test_a_call_id_carries_the_upstream_id_and_signature(signature: str | None) -> None:
    made = maps.call_id("fc_7x1", signature)
    assert all(c.isalnum() or c in "_-" for c in made)  # Anthropic's tool_use id pattern
    assert maps.split_call_id(made) == ("fc_7x1", signature)


def test_a_foreign_id_is_its_own_upstream_id() -> None:
    assert maps.split_call_id("toolu_01abc") == ("toolu_01abc", None)


@pytest.mark.parametrize(
    ("status", "calls", "finish"),
    [
        (None, False, "stop"),
        ("completed", True, "tool_calls"),
        ("requires_action", False, "tool_calls"),
        ("budget_exceeded", True, "length"),
        ("something_new", False, "stop"),
    ],
)
def test_the_finish_of_a_status(status, calls, finish) -> None:
    assert maps.finish_reason(status, calls) == finish


def test_usage_takes_the_cache_out_of_the_input_and_thoughts_into_the_output() -> None:
    raw = {
        "total_input_tokens": 100,
        "total_tool_use_tokens": 10,
        "total_cached_tokens": 30,
        "total_output_tokens": 7,
        "total_thought_tokens": 5,
    }
    assert maps.usage(raw) == Usage(
        input_tokens=80, output_tokens=12, cache_read_tokens=30, reasoning_tokens=5
    )
    assert maps.usage({"total_input_tokens": -4, "total_output_tokens": "9"}) == Usage()
    assert maps.usage(None) == Usage()


def test_created_times() -> None:
    assert maps.created("2026-05-20T10:00:00Z") == 1779271200
    assert maps.created("2026-05-20T12:00:00+02:00") == 1779271200
    assert maps.created("yesterday") == 0 and maps.created(None) == 0 and maps.created("") == 0


def test_a_key_google_refuses_is_a_401() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid.",
            "status": "INVALID_ARGUMENT",
            "details": [{"reason": "API_KEY_INVALID"}],
        }
    }
    refused = maps.parse_error(400, orjson.dumps(body))
    assert refused.status == 401 and "API key not valid" in refused.message
    plain = maps.parse_error(400, orjson.dumps({"error": {**body["error"], "details": []}}))
    assert plain.status == 400
    overloaded = maps.error_from_object({"code": 503, "message": "busy"}, 503)
    assert overloaded.status == 503 and "busy" in overloaded.message
