"""Stored Responses API responses on PostgreSQL (``DATABASE_URL``): the chain read
(a recursive query) and the JSON columns as PostgreSQL returns them, on two workers."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.live import free_port, running_gateway

from .conftest import Stack, setup_code
from .mock_upstream import MockUpstream, Reply, ToolUse

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Stack]:
    mock = MockUpstream().start()
    dead = f"http://127.0.0.1:{free_port()}"
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway"),
            env={"DATABASE_URL": database_url},
            setup=[["shell", "-c", setup_code(mock.url, dead)]],
            workers=2,
        ) as gw:
            yield Stack(gw=gw, mock=mock)
    finally:
        mock.stop()


def test_a_chain_on_postgres(stack: Stack) -> None:
    mock = stack.mock
    mock.reset()
    mock.queue(
        Reply(
            reasoning="Look it up.",
            signature="sig-pg",
            tool_calls=[ToolUse("call_pg", "lookup", '{"q": "x"}')],
        ),
        Reply(text="Found it."),
        Reply(text="Bye."),
    )
    tool = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
    first = stack.openai().responses.create(model="mock-claude", input="Find x", tools=[tool])
    second = stack.openai().responses.create(
        model="mock-claude",
        tools=[tool],
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "call_pg", "output": "x=1"}],
    )
    third = stack.openai().responses.create(
        model="mock-claude", input="Thanks", previous_response_id=second.id
    )
    assert (second.output_text, third.output_text) == ("Found it.", "Bye.")
    sent = mock.chat_requests()[-1].body["messages"]
    kinds = [[b["type"] for b in m["content"]] for m in sent]
    assert kinds == [["text"], ["thinking", "tool_use"], ["tool_result"], ["text"], ["text"]]
    assert sent[1]["content"][0]["signature"] == "sig-pg"

    items = stack.openai().responses.input_items.list(second.id)
    assert [i.type for i in items.data] == ["function_call_output"]
    assert stack.openai().responses.retrieve(third.id).output_text == "Bye."

    stack.openai().responses.delete(first.id)
    with pytest.raises(openai.BadRequestError) as caught:
        stack.openai().responses.create(
            model="mock-claude", input="more", previous_response_id=third.id
        )
    assert "no longer stored" in caught.value.message
    stack.assert_clean_log()
