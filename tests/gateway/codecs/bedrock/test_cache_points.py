"""Prompt-cache breakpoints as Converse ``cachePoint`` blocks: only for the models
Bedrock caches for (Nova not on tools), right after the block marked, the one-hour TTL
said and five minutes left unsaid."""

from __future__ import annotations

import pytest

from gateway.base.types import Image, Text, Tool, ToolResult
from gateway.codecs.bedrock import cache_points

DEFAULT = {"cachePoint": {"type": "default"}}
HOUR = {"cachePoint": {"type": "default", "ttl": "1h"}}


@pytest.mark.parametrize(
    ("model", "cached", "tools"),
    [
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", True, True),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", True, True),
        ("arn:aws:bedrock:us-east-1:1:inference-profile/us.Claude-x", True, True),
        ("amazon.nova-pro-v1:0", True, False),
        ("meta.llama3-70b-instruct-v1:0", False, False),
        ("mistral.mistral-large-2402-v1:0", False, False),
    ],
)
def test_which_models_take_cache_points(model, cached, tools):
    assert cache_points.supported(model) is cached
    assert cache_points.tools_supported(model) is tools


def test_a_point_says_only_the_hour():
    assert cache_points.point("5m") == DEFAULT
    assert cache_points.point("1h") == HOUR


def test_a_tool_results_point_is_its_own_or_an_inner_parts():
    assert cache_points.of_part(Text("a", cache="1h")) == "1h"
    assert cache_points.of_part(Text("a")) is None
    assert cache_points.of_part(Image(url="https://x.test/a.png")) is None
    inner = ToolResult("call_1", [Text("x"), Text("y", cache="5m")])
    assert cache_points.of_part(inner) == "5m"
    own = ToolResult("call_1", [Text("y", cache="5m")], cache="1h")
    assert cache_points.of_part(own) == "1h"
    assert cache_points.of_part(ToolResult("call_1", [Text("x")])) is None


def test_system_blocks_get_a_point_after_each_marked_one():
    blocks = [{"text": "own"}, {"text": "a"}, {"text": "b"}]
    marked = [Text("own"), Text("a", cache="1h")]  # b has no Text: no point
    assert cache_points.system(blocks, marked) == [
        {"text": "own"},
        {"text": "a"},
        HOUR,
        {"text": "b"},
    ]
    assert cache_points.system(blocks[:1], [Text("own", cache="5m")]) == [{"text": "own"}, DEFAULT]


def test_tools_get_a_point_after_each_marked_one():
    config = {
        "tools": [{"toolSpec": {"name": "a"}}, {"toolSpec": {"name": "b"}}, {"other": {}}],
        "toolChoice": {"auto": {}},
    }
    cache_points.mark_tools(config, [Tool("a", cache="5m"), Tool("b")])
    assert config["tools"] == [
        {"toolSpec": {"name": "a"}},
        DEFAULT,
        {"toolSpec": {"name": "b"}},
        {"other": {}},
    ]
    unmarked = {"tools": [{"toolSpec": {"name": "a"}}]}
    cache_points.mark_tools(unmarked, [Tool("a")])
    assert unmarked == {"tools": [{"toolSpec": {"name": "a"}}]}
    cache_points.mark_tools(None, [Tool("a", cache="1h")])  # no tools sent: nothing to mark
