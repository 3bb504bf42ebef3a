"""``phase`` on assistant message items (``commentary`` / ``final_answer``): read from a
Responses client's input onto the text parts, written back to a Responses upstream as it
came, read from the upstream's output (whole and streamed, the fold equal to the whole),
and rendered to a Responses client (whole and streamed, checked by the SDK's own types
and stream accumulator). Texts of different phases never share an item."""

from __future__ import annotations

from typing import Any

import pytest
from openai import omit
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.base import errors
from gateway.base.streaming import fold_events
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    PartStart,
    PartStop,
    Start,
    Text,
    TextDelta,
    ToolCall,
)
from gateway.codecs.base import Target, WireEvent
from gateway.codecs.openai_responses import codec as CODEC
from gateway.codecs.openai_responses import inbound
from gateway.core import lossiness

EVENTS = TypeAdapter(ResponseStreamEvent)
HISTORY = [
    {"role": "user", "content": "Fix the bug"},
    {"type": "message", "role": "assistant", "phase": "commentary",
     "content": [{"type": "output_text", "text": "Looking at the tests first."}]},
    {"type": "function_call", "call_id": "c1", "name": "run", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "c1", "output": "1 failed"},
    {"type": "message", "role": "assistant", "phase": "final_answer",
     "content": [{"type": "output_text", "text": "Fixed."}]},
    {"role": "user", "content": "Thanks"},
]  # fmt: skip


def parse(**body: Any) -> ChatRequest:
    return inbound.parse_request({"model": "gpt-6", "input": HISTORY, **body}, {})


def test_input_phases_land_on_the_text_parts_and_go_back_upstream_as_they_came() -> None:
    request = parse()
    texts = [p for m in request.messages if m.role == "assistant" for p in m.parts]
    assert [(p.text, p.phase) for p in texts if isinstance(p, Text)] == [
        ("Looking at the tests first.", "commentary"),
        ("Fixed.", "final_answer"),
    ]
    body = CODEC.build_request(request, Target(model="gpt-6"))
    sent = [i for i in body["input"] if i.get("role") == "assistant"]
    assert [(i["content"], i["phase"]) for i in sent] == [
        ("Looking at the tests first.", "commentary"),
        ("Fixed.", "final_answer"),
    ]


def test_a_wrong_phase_is_a_400_naming_it() -> None:
    history = [{**HISTORY[1], "phase": "thinking"}]
    with pytest.raises(errors.InvalidRequest) as caught:
        inbound.parse_request({"model": "gpt-6", "input": history}, {})
    assert caught.value.param == "input[0].phase"


def test_an_upstream_of_another_format_notes_the_phase_as_lost() -> None:
    request = parse()

    class Adapter:
        dialect = "openai"
        speaks = None
        provider = type("P", (), {"kind": "openai"})()

        def unsupported_params(self, *_: Any) -> list[str]:
            return []

    route = type("R", (), {"drop_params": True})()
    deployment = type("D", (), {"label": "gpt", "supports_reasoning": False})()
    notes = lossiness.translated(request, request, Adapter(), route, deployment)  # type: ignore[arg-type]
    assert {"field": "phase", "action": "dropped",
            "detail": "the openai upstream's format has no assistant phase"} in (notes or [])  # fmt: skip
    assert lossiness._phased(inbound.parse_request({"model": "m", "input": "hi"}, {})) is False


UPSTREAM = {
    "id": "resp_up", "object": "response", "created_at": 1, "status": "completed",
    "model": "gpt-6",
    "output": [
        {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
         "phase": "commentary",
         "content": [{"type": "output_text", "text": "Running the tests.", "annotations": []}]},
        {"id": "fc_1", "type": "function_call", "call_id": "c9", "name": "run",
         "arguments": "{}", "status": "completed"},
    ],
    "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8},
}  # fmt: skip


def upstream_stream() -> list[WireEvent]:
    message = UPSTREAM["output"][0]
    call = UPSTREAM["output"][1]
    added = {**message, "status": "in_progress", "content": []}
    events = [
        {"type": "response.created", "response": {**UPSTREAM, "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": added},
        {"type": "response.output_text.delta", "output_index": 0, "item_id": "msg_1",
         "content_index": 0, "delta": "Running the tests."},
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {"type": "response.output_item.added", "output_index": 1, "item": call},
        {"type": "response.output_item.done", "output_index": 1, "item": call},
        {"type": "response.completed", "response": UPSTREAM},
    ]  # fmt: skip
    return [WireEvent(e["type"], e) for e in events]


def test_the_upstreams_phase_is_read_whole_and_streamed() -> None:
    whole = CODEC.parse_response(UPSTREAM)
    assert whole.parts[0] == Text("Running the tests.", phase="commentary")
    parser = CODEC.stream_parser()
    events = [e for w in upstream_stream() for e in parser.feed(w)] + parser.finish()
    starts = [e for e in events if isinstance(e, PartStart) and e.kind == "text"]
    assert [s.phase for s in starts] == ["commentary"]
    assert fold_events(events).parts[0] == whole.parts[0]


def test_rendered_to_a_responses_client_texts_of_each_phase_are_their_own_items() -> None:
    answer = ChatResponse(
        id="r",
        model="gpt-6",
        parts=[
            Text("Checking.", phase="commentary"),
            Text("Done: it works.", phase="final_answer"),
            Text(" Really.", phase="final_answer"),
        ],
    )
    rendered = inbound.render_response(answer, parse())
    response = Response.model_validate(rendered)
    assert [(item.phase, item.content[0].text) for item in response.output] == [
        ("commentary", "Checking."),
        ("final_answer", "Done: it works. Really."),
    ]
    plain = inbound.render_response(ChatResponse(id="r", model="m", parts=[Text("x")]), parse())
    assert "phase" not in plain["output"][0]  # not said: not invented


async def test_streamed_to_a_responses_client() -> None:
    events = [
        Start("r", "gpt-6"),
        PartStart(0, "text", phase="commentary"),
        TextDelta(0, "Checking."),
        PartStop(0),
        PartStart(1, "tool_call", tool_id="c1", tool_name="run"),
        PartStop(1),
        Finish("tool_calls"),
    ]

    async def source():  # type: ignore[no-untyped-def]
        for event in events:
            yield event

    request = parse(stream=True)
    chunks = [c async for c in inbound.render_stream(source(), request)]
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    payloads = []
    for chunk in chunks[:-1]:
        data = chunk.decode().split("data: ", 1)[1].strip()
        payload = EVENTS.validate_json(data)
        payloads.append(payload)
        state.handle_event(payload)
    added = [p for p in payloads if p.type == "response.output_item.added"]
    assert added[0].item.type == "message" and added[0].item.phase == "commentary"
    final = payloads[-1].response
    assert final.output[0].phase == "commentary" and final.output[1].type == "function_call"
    assert isinstance(fold_events(events).parts[1], ToolCall)
