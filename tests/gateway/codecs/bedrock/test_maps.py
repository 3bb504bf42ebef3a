"""Bedrock Converse vocabulary: stop reasons to canonical finishes (the JSON tool's
``tool_use`` an ordinary stop), usage, and errors whose status follows the error type
routing acts on, however the type was spelled."""

from __future__ import annotations

import pytest

from gateway.base.types import Usage
from gateway.codecs.bedrock import maps


@pytest.mark.parametrize(
    ("reason", "json_tool", "expected"),
    [
        ("end_turn", False, "stop"),
        (None, False, "stop"),
        ("tool_use", False, "tool_calls"),
        ("tool_use", True, "stop"),
        ("max_tokens", True, "length"),
        ("model_context_window_exceeded", False, "length"),
        ("guardrail_intervened", False, "content_filter"),
        ("something_new", False, "stop"),
    ],
)
def test_stop_reasons(reason, json_tool, expected):
    assert maps.finish_reason(reason, json_tool) == expected


def test_usage_keeps_cache_reads_and_writes_apart():
    got = maps.usage(
        {
            "inputTokens": 10,
            "outputTokens": 3,
            "cacheReadInputTokens": 70,
            "cacheWriteInputTokens": None,
        }
    )
    assert got == Usage(input_tokens=10, output_tokens=3, cache_read_tokens=70)
    assert maps.usage(None) == Usage()


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("ValidationException:http://internal.amazon.com/coral/", "ValidationException"),
        ("com.amazon.coral.service#ThrottlingException", "ThrottlingException"),
        ("throttlingException", "ThrottlingException"),
        (None, ""),
    ],
)
def test_error_type_names(raw, name):
    assert maps.error_type_name(raw) == name


def test_an_errors_status_follows_its_type_then_the_http_status():
    throttled = maps.error("throttlingException", "slow down", 400)
    assert (throttled.status, throttled.code) == (429, "ThrottlingException")
    assert throttled.message == "ThrottlingException: slow down"
    assert maps.error("ModelErrorException", "boom", 424).status == 502
    assert maps.error("AccessDeniedException", None, 400).status == 403
    unknown = maps.error("NewException", "huh", 418)
    assert (unknown.status, unknown.message) == (418, "NewException: huh")
    bare = maps.error(None, None, None)
    assert (bare.status, bare.message, bare.code) == (502, "Bedrock answered 502", None)
