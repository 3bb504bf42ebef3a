"""A stored response keeps its assistant messages' ``phase`` and its ``web_search_call``
items; continuing it (``previous_response_id``) sends both back, and the parser reads the
phase onto the text and the search as the call it was with the sources it found."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.base.entries import MASTER
from gateway.base.types import Text, ToolCall, ToolResult
from gateway.codecs.openai_responses.inbound import parse_request
from gateway.features.responses import state as responses_state
from gateway.models import StoredResponse

ALICE = replace(MASTER, id=1, name="alice", prefix="sy-a")
SEARCH = {
    "id": "ws_1",
    "type": "web_search_call",
    "status": "completed",
    "action": {
        "type": "search",
        "query": "switchyard",
        "sources": [{"type": "url", "url": "https://example.com/a"}],
    },
}
COMMENTARY = {
    "id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
    "phase": "commentary",
    "content": [{"type": "output_text", "text": "Searching.", "annotations": []}],
}  # fmt: skip
FINAL = {**COMMENTARY, "id": "msg_2", "phase": "final_answer",
         "content": [{"type": "output_text", "text": "Found it.", "annotations": []}]}  # fmt: skip


@pytest.mark.django_db(transaction=True)
async def test_phase_and_searches_are_kept_and_sent_back() -> None:
    body = {"model": "m", "input": "Find switchyard"}
    turn = await responses_state.begin(body, ALICE)
    output = [COMMENTARY, SEARCH, FINAL]
    await turn.keep({"id": "resp_1", "object": "response", "status": "completed",
                     "output": output, "usage": None})  # fmt: skip
    row = await StoredResponse.objects.aget(id="resp_1")
    assert row.output == output
    body = {"model": "m", "input": "Thanks", "previous_response_id": "resp_1"}
    await responses_state.begin(body, ALICE)
    sent = body["input"]
    assert [i.get("phase") for i in sent if i.get("role") == "assistant"] == [
        "commentary",
        "final_answer",
    ]
    assert SEARCH in sent  # whole: OpenAI reads it by its id and status
    request = parse_request(body, {})
    parts = [p for m in request.messages for p in m.parts]
    texts = [(p.text, p.phase) for p in parts if isinstance(p, Text) and p.phase]
    assert texts == [("Searching.", "commentary"), ("Found it.", "final_answer")]
    call = next(p for p in parts if isinstance(p, ToolCall))
    assert (call.id, call.name, call.arguments) == ("ws_1", "web_search", {"query": "switchyard"})
    result = next(p for p in parts if isinstance(p, ToolResult))
    assert result.call_id == "ws_1" and result.content == [Text("https://example.com/a")]
