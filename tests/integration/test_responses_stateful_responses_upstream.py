"""A Responses chain (``previous_response_id``) on a route whose upstream is itself
the OpenAI Responses API (a mock): the gateway keeps the state, the upstream gets the
whole conversation as items, and a summaryless reasoning item's ``encrypted_content``
goes back to it unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live import running_gateway

from .mock_responses_upstream import FunctionCall, MockResponsesUpstream, ResponsesReply
from .test_sdk_responses_upstream import ENCRYPTED, Stack, setup_code


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    mock = MockResponsesUpstream().start()
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway"),
            seed=False,
            setup=[["shell", "-c", setup_code(mock.url)]],
            workers=2,
        ) as gw:
            yield Stack(gw.url, mock, gw.log)
            assert "Traceback" not in gw.log(), gw.log()[-4000:]
    finally:
        mock.stop()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_chain_sends_redacted_reasoning_back_upstream(stack: Stack, stream: bool) -> None:
    mock = stack.mock
    mock.reset()
    mock.queue(
        ResponsesReply(
            text="",
            encrypted=ENCRYPTED,  # no summary: only the encrypted reasoning
            calls=[FunctionCall("call_r1", "get_weather", '{"city": "Lima"}')],
        ),
        ResponsesReply(text="Mild in Lima."),
    )
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}

    def create(**body):  # type: ignore[no-untyped-def]
        client = stack.openai()
        if not stream:
            return client.responses.create(model="resp", tools=[tool], **body)
        with client.responses.stream(model="resp", tools=[tool], **body) as s:
            return s.get_final_response()

    first = create(input="Weather in Lima?", reasoning={"effort": "low"})
    reasoning = next(item for item in first.output if item.type == "reasoning")
    assert reasoning.summary == [] and reasoning.encrypted_content
    second = create(
        previous_response_id=first.id,
        reasoning={"effort": "low"},
        input=[{"type": "function_call_output", "call_id": "call_r1", "output": "20C"}],
    )
    assert second.output_text == "Mild in Lima."
    sent = mock.last.body
    assert "previous_response_id" not in sent  # the upstream never stored it
    kinds = [item.get("type", "message") for item in sent["input"]]
    assert kinds == ["message", "reasoning", "function_call", "function_call_output"]
    upstream_reasoning = sent["input"][1]
    assert upstream_reasoning["encrypted_content"] == ENCRYPTED  # as the upstream gave it
    assert sent["input"][2]["call_id"] == "call_r1"
