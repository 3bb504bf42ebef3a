"""A playground answer with hosted MCP calls keeps its parts in order (text, call,
text): the column learns from the hosted loop where each call fell in the text the
gateway joins into the answer, and ``answer_parts`` cuts the answer there. The loop runs
for real against the ``mcp`` SDK's test server, with a model that talks between calls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.playground.run import PARAGRAPH, ColumnRun, answer_parts
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    McpServer,
    Message,
    Text,
    ToolCall,
    ToolResult,
    Usage,
)
from gateway.features.mcp.hosted import Loop
from tests.mcp_test_server import running_mcp_server


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    with running_mcp_server() as url:
        yield url


class Talker:
    """Says ``steps[n][0]`` and calls add(steps[n][1]) once n results are in, then
    answers with the results."""

    def __init__(self, steps: list[tuple[str, dict[str, int]]]) -> None:
        self.steps = steps

    async def __call__(self, request: ChatRequest) -> ChatResponse:
        results = [
            c.text
            for m in request.messages
            for p in m.parts
            if isinstance(p, ToolResult)
            for c in p.content
            if isinstance(c, Text)
        ]
        if len(results) < len(self.steps):
            said, arguments = self.steps[len(results)]
            call = ToolCall(id=f"c{len(results)}", name="tools__add", arguments=arguments)
            parts = [Text(said), call] if said else [call]
            return ChatResponse("r", "m", parts, "tool_calls", usage=Usage(1, 1))
        return ChatResponse("r", "m", [Text("Done: " + " | ".join(results))], usage=Usage(1, 1))


async def run(url: str, steps: list[tuple[str, dict[str, int]]]) -> tuple[str, ColumnRun]:
    column = ColumnRun(index=0, route="r", dialect="openai", body={})
    server = McpServer(label="tools", url=url, approval="never")
    request = ChatRequest(model="m", messages=[Message("user", [Text("hi")])], mcp_servers=[server])
    loop = Loop(
        request,
        Talker(steps),
        max_calls=5,
        timeout=5,
        allow="127.0.0.0/8",
        inline_text=True,  # Chat Completions and Messages: the text joins the answer
        watch=column.mcp_step,
    )
    response = await loop.run()
    return response.text(), column


def shape(parts: list[dict]) -> list[str]:
    return [p["text"] if p["type"] == "text" else f"{p['name']}={p['output']}" for p in parts]


async def test_calls_stand_between_the_paragraphs_said_around_them(mcp_url) -> None:
    text, column = await run(mcp_url, [("Let me add them.", {"a": 20, "b": 22}),
                                       ("Now **check** it.", {"a": 40, "b": 2})])  # fmt: skip
    assert text == "Let me add them.\n\nNow **check** it.\n\nDone: 42 | 42"
    parts = answer_parts(text, column.mcp_calls)
    assert shape(parts) == ["Let me add them.", "add=42", "Now **check** it.", "add=42",
                            "Done: 42 | 42"]  # fmt: skip
    assert PARAGRAPH.join(p["text"] for p in parts if p["type"] == "text") == text
    assert all("at" not in p for p in parts), "the place is the order, not a field"


async def test_a_call_before_any_text_and_two_calls_together(mcp_url) -> None:
    text, column = await run(mcp_url, [("", {"a": 1, "b": 1}), ("Then:", {"a": 2, "b": 2}),
                                       ("", {"a": 3, "b": 3})])  # fmt: skip
    assert text == "Then:\n\nDone: 2 | 4 | 6"
    assert shape(answer_parts(text, column.mcp_calls)) == [
        "add=2", "Then:", "add=4", "add=6", "Done: 2 | 4 | 6"
    ]  # fmt: skip


def test_places_that_do_not_fit_the_text_fall_back_in_order() -> None:
    calls = [{"name": "a", "output": "1"}, {"name": "b", "output": "2", "at": 99}]
    # none recorded (a comparison saved before), or past the text's end: above it
    assert shape(answer_parts("Answer.", calls)) == ["a=1", "b=2", "Answer."]
    # an answer with no text still has its (empty) text part, after the calls
    assert shape(answer_parts("", [{"name": "a", "output": "1", "at": 0}])) == ["a=1", ""]
    assert answer_parts("Plain.", []) == [{"type": "text", "text": "Plain."}]
