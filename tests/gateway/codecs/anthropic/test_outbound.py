"""The Anthropic Messages codec going out: the body built from a canonical request (max
tokens, system placement, tool turns, thinking and its budget, images, tools and tool choice,
JSON output by a forced tool, user ids) and the answer and its stream read back into
canonical events, the golden transcripts folding to the non-streamed response."""

from __future__ import annotations

import pytest

from gateway.base.errors import (
    InvalidRequest,
    UpstreamOverloaded,
)
from gateway.base.streaming import fold_events
from gateway.base.types import (
    ErrorEvent,
    Image,
    Message,
    PartStart,
    Reasoning,
    ResponseFormat,
    Start,
    Text,
    TextDelta,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)
from gateway.codecs.anthropic.outbound import JSON_TOOL, StreamTranslator, parse_response
from gateway.providers.anthropic import build_body
from tests.gateway.providers.test_anthropic import (
    EXPECTED_EVENTS,
    MODEL,
    TRANSCRIPTS,
    body_fixture,
    make_deployment,
    request,
    translated,
    user,
)


def test_body_carries_model_max_tokens_system_and_sampling():
    body = build_body(
        request(
            system=[Text("Be brief."), Text("Use French.")],
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop=["END"],
            user="user-42",
        ),
        make_deployment(),
    )
    assert body == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 1000,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
    }


@pytest.mark.parametrize(
    ("asked", "ceiling", "expected"),
    [(None, 8192, 8192), (None, None, 4096), (100_000, 64_000, 64_000), (0, 64_000, 0)],
)
def test_max_tokens_defaults_and_is_clamped(asked, ceiling, expected):
    body = build_body(request(max_tokens=asked), make_deployment(max_output_tokens=ceiling))
    assert body["max_tokens"] == expected


def test_system_messages_merge_into_system_on_models_without_mid_conversation_system():
    messages = [
        Message("system", [Text("lead")]),
        user("one"),
        Message("system", [Text("now answer in Go")]),
        Message("assistant", [Text("ok")]),
    ]
    body = build_body(request(messages=messages), make_deployment())
    assert body["system"] == [
        {"type": "text", "text": "lead"},
        {"type": "text", "text": "now answer in Go"},
    ]
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant"]


def test_mid_conversation_system_kept_in_place_where_the_model_accepts_it():
    messages = [
        user("one"),
        Message("assistant", [Text("two")]),
        user("three"),
        Message("system", [Text("auto-approve is on")]),
    ]
    body = build_body(request(messages=messages), make_deployment(model="claude-opus-4-8"))
    assert "system" not in body
    assert body["messages"][-1] == {
        "role": "system",
        "content": [{"type": "text", "text": "auto-approve is on"}],
    }


def test_mid_conversation_system_followed_by_user_is_moved_and_users_rejoined():
    messages = [user("one"), Message("system", [Text("note")]), user("two")]
    body = build_body(request(messages=messages), make_deployment(model="claude-opus-4-8"))
    assert body["system"] == [{"type": "text", "text": "note"}]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        }
    ]


def test_tool_turns_alternate_with_results_first_in_one_user_turn():
    call_a = ToolCall(id="toolu_a", name="Read", arguments={"path": "a"})
    call_b = ToolCall(id="toolu_b", name="Read", arguments={"path": "b"})
    messages = [
        user("read both"),
        Message("assistant", [Text("Reading.")]),
        Message("assistant", [call_a, call_b]),
        Message("tool", [ToolResult("toolu_a", [Text("A")])]),
        Message("tool", [ToolResult("toolu_b", [Text("no such file")], is_error=True)]),
        user("and summarise"),
    ]
    body = build_body(request(messages=messages), make_deployment())
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "read both"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_a", "name": "Read", "input": {"path": "a"}},
                {"type": "tool_use", "id": "toolu_b", "name": "Read", "input": {"path": "b"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_a",
                    "content": [{"type": "text", "text": "A"}],
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_b",
                    "content": [{"type": "text", "text": "no such file"}],
                    "is_error": True,
                },
                {"type": "text", "text": "and summarise"},
            ],
        },
    ]


def test_tool_result_placed_before_text_sent_in_the_same_user_message():
    messages = [
        user("go"),
        Message("assistant", [ToolCall(id="t1", name="f")]),
        Message("user", [Text("also this"), ToolResult("t1", [])]),
    ]
    body = build_body(request(messages=messages), make_deployment())
    assert [b["type"] for b in body["messages"][2]["content"]] == ["tool_result", "text"]
    assert "content" not in body["messages"][2]["content"][0]


def test_thinking_kept_only_when_signed_and_redacted_round_trips():
    messages = [
        user("q"),
        Message(
            "assistant",
            [
                Thinking("signed", signature="sig"),
                Thinking("unsigned from another model"),
                Thinking(redacted="opaque"),
                Text("answer"),
            ],
        ),
    ]
    body = build_body(request(messages=messages), make_deployment())
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "signed", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "answer"},
    ]


def test_images_by_url_base64_and_data_url():
    parts = [
        Image(url="https://example.test/cat.png"),
        Image(data="QUJD", media_type="image/jpeg"),
        Image(url="data:image/webp;base64,REVG"),
    ]
    body = build_body(request(messages=[Message("user", parts)]), make_deployment())
    assert [b["source"] for b in body["messages"][0]["content"]] == [
        {"type": "url", "url": "https://example.test/cat.png"},
        {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"},
        {"type": "base64", "media_type": "image/webp", "data": "REVG"},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("auto"), {"type": "auto"}),
        (ToolChoice("required"), {"type": "any"}),
        (ToolChoice("tool", name="lookup"), {"type": "tool", "name": "lookup"}),
        (ToolChoice("none"), {"type": "none"}),
        (ToolChoice("auto", parallel=False), {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tools_and_tool_choice(choice, expected):
    tool = Tool(
        "lookup", "Find a thing", {"type": "object", "properties": {"q": {"type": "string"}}}
    )
    body = build_body(request(tools=[tool], tool_choice=choice), make_deployment())
    assert body["tools"] == [
        {
            "name": "lookup",
            "description": "Find a thing",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    assert body["tool_choice"] == expected


def test_thinking_budget_sent_without_temperature_and_max_tokens_raised_for_it():
    body = build_body(
        request(
            max_tokens=2000,
            temperature=0.3,
            top_k=5,
            top_p=0.97,
            reasoning=Reasoning(budget_tokens=10_000),
        ),
        make_deployment(),
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 10_000}
    assert body["max_tokens"] == 12_000
    assert "temperature" not in body and "top_k" not in body
    assert body["top_p"] == 0.97


@pytest.mark.parametrize(("effort", "budget"), [("low", 2048), ("medium", 8192), ("high", 24576)])
def test_reasoning_effort_buckets_to_a_budget(effort, budget):
    body = build_body(
        request(max_tokens=32_000, reasoning=Reasoning(effort=effort)), make_deployment()
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}


def test_thinking_budget_fits_under_the_ceiling_or_is_dropped():
    fitted = build_body(
        request(max_tokens=4000, reasoning=Reasoning(budget_tokens=8000)),
        make_deployment(max_output_tokens=6000),
    )
    assert fitted["max_tokens"] == 6000 and fitted["thinking"]["budget_tokens"] == 5999
    dropped = build_body(
        request(max_tokens=500, reasoning=Reasoning(budget_tokens=2000)),
        make_deployment(max_output_tokens=900),
    )
    assert "thinking" not in dropped and dropped["max_tokens"] == 500


def test_reasoning_dropped_for_non_reasoning_deployments_and_forced_tools():
    plain = build_body(
        request(reasoning=Reasoning(budget_tokens=2048)), make_deployment(supports_reasoning=False)
    )
    assert "thinking" not in plain
    forced = build_body(
        request(
            reasoning=Reasoning(budget_tokens=2048),
            tools=[Tool("f")],
            tool_choice=ToolChoice("required"),
        ),
        make_deployment(),
    )
    assert "thinking" not in forced and forced["max_tokens"] == 1000


def test_reasoning_dropped_when_the_last_tool_turn_has_no_signed_thinking():
    loop = [
        user("list files"),
        Message("assistant", [ToolCall(id="call_1", name="LS", arguments={})]),
        Message("tool", [ToolResult("call_1", [Text("a.py")])]),
    ]
    unsigned = build_body(
        request(messages=loop, reasoning=Reasoning(budget_tokens=2048)), make_deployment()
    )
    assert "thinking" not in unsigned
    loop[1].parts.insert(0, Thinking("plan", signature="sig"))
    signed = build_body(
        request(messages=loop, reasoning=Reasoning(budget_tokens=2048)), make_deployment()
    )
    assert signed["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_tool_choice_left_out_without_tools():
    assert "tool_choice" not in build_body(
        request(tool_choice=ToolChoice("none")), make_deployment()
    )


def test_adaptive_reasoning_passes_as_adaptive():
    body = build_body(request(reasoning=Reasoning()), make_deployment())
    assert body["thinking"] == {"type": "adaptive"}


def test_json_schema_response_format_becomes_a_forced_tool():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    body = build_body(
        request(response_format=ResponseFormat("json_schema", schema=schema, name="place")),
        make_deployment(),
    )
    assert body["tools"] == [
        {
            "name": JSON_TOOL,
            "description": "Give your answer as this tool's input.",
            "input_schema": schema,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}


def test_json_object_with_caller_tools_asks_by_instruction():
    body = build_body(
        request(response_format=ResponseFormat("json_object"), tools=[Tool("f")]), make_deployment()
    )
    assert [t["name"] for t in body["tools"]] == ["f"]
    assert "JSON" in body["system"][-1]["text"]


def test_n_above_one_is_a_clear_400():
    with pytest.raises(InvalidRequest) as caught:
        build_body(request(n=2), make_deployment())
    assert caught.value.status == 400 and "n > 1" in caught.value.message


def test_extra_forwarded_only_for_anthropic_callers():
    extra = {"context_management": {"edits": []}, "logprobs": True}
    from_anthropic = build_body(request(extra=extra, dialect="anthropic"), make_deployment())
    assert from_anthropic["context_management"] == {"edits": []}
    assert "logprobs" not in from_anthropic
    from_openai = build_body(request(extra=extra, dialect="openai"), make_deployment())
    assert "context_management" not in from_openai


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript_translates_to_the_exact_canonical_events(name):
    assert translated(name) == EXPECTED_EVENTS[name]


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_folded_stream_equals_the_non_streamed_response(name):
    assert fold_events(translated(name)) == parse_response(body_fixture(name))


def test_parse_response_maps_blocks_reasons_and_usage():
    response = parse_response(body_fixture("tool_use"))
    assert response.parts == [
        Text("I'll check the weather in Paris."),
        ToolCall(
            id="toolu_01WeatherA",
            name="get_weather",
            arguments={"location": "Paris, France", "unit": "celsius"},
        ),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(412, 68)
    thinking = parse_response(body_fixture("thinking"))
    assert (thinking.finish_reason, thinking.stop_sequence) == ("stop_sequence", "</answer>")
    for stop_reason, canonical in [
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("end_turn", "stop"),
    ]:
        assert (
            parse_response({"content": [], "stop_reason": stop_reason}).finish_reason == canonical
        )


def test_mid_stream_error_event_becomes_error_event():
    events = translated("overloaded_midstream")
    assert events[:3] == [
        Start("msg_01OverL", MODEL, usage=Usage(40, 1)),
        PartStart(0, "text"),
        TextDelta(0, "Partial answer"),
    ]
    assert len(events) == 4 and isinstance(events[3], ErrorEvent)
    assert (
        isinstance(events[3].error, UpstreamOverloaded) and events[3].error.message == "Overloaded"
    )


def test_json_output_tool_comes_back_as_text_in_both_paths():
    body = {
        "id": "msg_j",
        "model": MODEL,
        "content": [
            {"type": "tool_use", "id": "toolu_j", "name": JSON_TOOL, "input": {"city": "Oslo"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 9},
    }
    parsed = parse_response(body)
    assert parsed.parts == [Text('{"city":"Oslo"}')] and parsed.finish_reason == "stop"
    translator = StreamTranslator()
    events = []
    for data in [
        {
            "type": "message_start",
            "message": {"id": "msg_j", "model": MODEL, "usage": {"input_tokens": 5}},
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_j", "name": JSON_TOOL, "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"city":'},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]:
        events += translator.feed(data)
    assert events[1:4] == [PartStart(0, "text"), TextDelta(0, '{"city":'), TextDelta(0, '"Oslo"}')]
    assert fold_events(events) == parsed


def test_user_ids_anthropic_would_refuse_are_hashed():
    """Anthropic takes an opaque metadata.user_id; an OpenAI caller's ``user`` may be an
    e-mail address."""
    sent = build_body(request(user="ada@example.com"), make_deployment())["metadata"]
    assert len(sent["user_id"]) == 64 and "@" not in sent["user_id"]
    again = build_body(request(user="ada@example.com"), make_deployment())["metadata"]
    assert again == sent
    kept = build_body(request(user="user_42-a"), make_deployment())["metadata"]
    assert kept == {"user_id": "user_42-a"}
