"""The playground after a tool call and with files: the user types each tool's result
and the column continues with it (a tool message answering its call, in either
dialect); images and PDFs ride on the prompt in each dialect's own form."""

from __future__ import annotations

import base64

import orjson
import pytest

from console.models import Comparison
from console.playground import spec as specs
from gateway.core import service

from .test_consumer import collect, connect, staff  # noqa: F401 (staff: its transactional fixture)

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
).decode()
PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()
WEATHER = {
    "name": "get_weather",
    "description": "",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CALLED = {
    "text": "Calling get_weather.",
    "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}],
}
PLAIN = {"text": "No tools here."}


def test_a_followup_with_tool_results_is_checked_against_the_calls_made() -> None:
    result = [{"call_id": "call_1", "content": "rain"}]
    both = specs.parse_followup({"tool_results": {"0": result, "1": result}}, [CALLED, CALLED])
    with pytest.raises(specs.SpecError, match="column B has no tool result"):
        specs.parse_followup({"tool_results": {"0": result}}, [CALLED, CALLED])
    with pytest.raises(specs.SpecError, match="column B has no tool result"):
        specs.parse_followup(
            {"tool_results": {"0": [{"call_id": "call_1", "content": "x"}]}}, [CALLED, PLAIN]
        )
    with pytest.raises(specs.SpecError, match="did not make"):
        specs.parse_followup(
            {"tool_results": {"0": result, "1": [{"call_id": "call_1"}]}}, [CALLED, PLAIN]
        )
    mixed = specs.parse_followup(
        {"message": "And?", "tool_results": {"0": [{"call_id": "call_1", "content": "rain"}]}},
        [CALLED, PLAIN],
    )
    assert mixed == {
        "message": "And?",
        "tool_results": {"0": [{"call_id": "call_1", "content": "rain"}]},
    }
    assert both["tool_results"] == {"0": result, "1": result}
    assert specs.parse_followup({"message": "plain"}, [PLAIN, PLAIN]) == "plain"
    with pytest.raises(specs.SpecError):
        specs.parse_followup({"message": " "}, [PLAIN, PLAIN])


def history_after_results() -> list[dict]:
    followup = {
        "message": "And tomorrow?",
        "tool_results": {"0": [{"call_id": "call_1", "content": "rain, 7 °C"}]},
    }
    opening = [{"role": "user", "content": "Weather in Oslo?"}]
    return specs.column_history(opening, [followup], [[CALLED, PLAIN]], 0, 1)


def test_the_column_that_called_continues_with_its_tool_result() -> None:
    assert history_after_results() == [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "Calling get_weather.",
            "tool_calls": CALLED["tool_calls"],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rain, 7 °C"},
        {"role": "user", "content": "And tomorrow?"},
    ]
    openai = specs.build_body("openai", "r", "", history_after_results(), specs.Params(), [WEATHER])
    assert openai["messages"][1] == {
        "role": "assistant",
        "content": "Calling get_weather.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    }
    assert openai["messages"][2] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "rain, 7 °C",
    }
    anthropic = specs.build_body(
        "anthropic", "r", "", history_after_results(), specs.Params(), [WEATHER]
    )
    assert anthropic["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {"city": "Oslo"},
    }
    assert anthropic["messages"][2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "call_1",
                "content": [{"type": "text", "text": "rain, 7 °C"}],
            },
            {"type": "text", "text": "And tomorrow?"},
        ],
    }
    # Each body is one the gateway's own parser accepts.
    for dialect, body in (("openai", openai), ("anthropic", anthropic)):
        request = service.protocol(dialect).parse_request(body, {})
        assert [m.role for m in request.messages][-2:] in (["user", "user"], ["assistant", "user"])


def test_images_and_pdfs_ride_on_the_prompt_in_each_dialect() -> None:
    files = [
        {"media_type": "image/png", "data": PNG, "name": "dot.png"},
        {"media_type": "application/pdf", "data": PDF, "name": "spec.pdf"},
    ]
    messages = specs.parse_messages(
        [{"role": "user", "content": "What is this?", "attachments": files}]
    )
    openai = specs.build_body("openai", "r", "", messages, specs.Params(), [])
    assert openai["messages"][0]["content"] == [  # files first, as in every dialect
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {
            "type": "file",
            "file": {"filename": "spec.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
        },
        {"type": "text", "text": "What is this?"},
    ]
    anthropic = specs.build_body("anthropic", "r", "", messages, specs.Params(), [])
    assert anthropic["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "title": "spec.pdf",
        },
        {"type": "text", "text": "What is this?"},
    ]
    # A prompt may be a file alone; other file types are refused by name.
    assert specs.parse_messages([{"role": "user", "content": "", "attachments": files[:1]}])
    with pytest.raises(specs.SpecError, match="text/plain"):
        specs.parse_messages(
            [
                {
                    "role": "user",
                    "content": "x",
                    "attachments": [{"media_type": "text/plain", "data": "eA==", "name": "a.txt"}],
                }
            ]
        )


@pytest.mark.django_db(transaction=True)
async def test_a_run_continues_with_the_typed_tool_result(recorder, staff) -> None:  # noqa: F811
    from asgiref.sync import sync_to_async

    from ..playground_support import make_echo_routes

    await sync_to_async(make_echo_routes)({"tooly": {}})
    ws = await connect(staff)
    run = {
        "messages": [{"role": "user", "content": "Please use the get_weather tool for Oslo"}],
        "tools": [WEATHER],
        "columns": [
            {"route": "tooly", "dialect": "openai"},
            {"route": "tooly", "dialect": "anthropic"},
        ],
    }
    await ws.send_json_to({"action": "run", "spec": run})
    first = await collect(ws)
    done = [m for m in first if m["type"] == "column_done"]
    calls = {m["index"]: m["tool_calls"] for m in done}
    assert all(
        calls[i] and calls[i][0]["name"] == "get_weather" and calls[i][0]["id"] for i in (0, 1)
    )
    comparison_id = first[0]["id"]
    results = {str(i): [{"call_id": calls[i][0]["id"], "content": f"sunny-{i}"}] for i in (0, 1)}
    await ws.send_json_to(
        {
            "action": "continue",
            "comparison": comparison_id,
            "followup": {"message": "", "tool_results": results},
        }
    )
    second = await collect(ws)
    await ws.disconnect()
    head = second[0]
    assert head["type"] == "comparison" and head["turn"] == 1
    assert "sunny-0" in head["user_message"]
    assert "sunny-0" in head["user_messages"][0] and "sunny-0" not in head["user_messages"][1]
    answers = {m["index"]: m["text"] for m in second if m["type"] == "column_done"}
    assert "returned: sunny-0" in answers[0] and "returned: sunny-1" in answers[1]
    saved = await sync_to_async(Comparison.objects.get)(pk=comparison_id)
    assert saved.followups[0]["tool_results"]["1"][0]["content"] == "sunny-1"
    # What the anthropic column sent on turn 2: a tool_result answering its own call.
    sent = [orjson.loads(r.inbound_request) for r in recorder.records if r.dialect == "anthropic"]
    last = sent[-1]["messages"][-1]
    assert last["role"] == "user" and last["content"][0] == {
        "type": "tool_result",
        "tool_use_id": calls[1][0]["id"],
        "content": [{"type": "text", "text": "sunny-1"}],
    }
