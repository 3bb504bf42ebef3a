"""A hosted MCP server's answer is read at most ``SWITCHYARD_MAX_ANSWER_BYTES`` far, as an
upstream model's is (M10): a tool result past it is the call's error item, and the
process does not hold the result (a real SDK server on 127.0.0.1, JSON answers)."""

from __future__ import annotations

import tracemalloc

from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    McpServer,
    Message,
    Text,
    ToolCall,
    ToolResult,
)
from gateway.features.mcp.hosted import Loop

LIMIT = 1024 * 1024
BIG = 8 * LIMIT


def model(size: int):  # type: ignore[no-untyped-def]
    async def answer(request: ChatRequest) -> ChatResponse:
        if any(isinstance(p, ToolResult) for m in request.messages for p in m.parts):
            return ChatResponse("r", "m", [Text("done")])
        return ChatResponse("r", "m", [ToolCall("c1", "big__big", {"size": size})], "tool_calls")

    return answer


async def run(url: str, size: int) -> ChatResponse:
    request = ChatRequest(
        model="m",
        messages=[Message("user", [Text("hi")])],
        mcp_servers=[McpServer("big", url=url, approval="never")],
    )
    return await Loop(request, model(size), max_calls=2, timeout=10, allow="127.0.0.0/8").run()


async def test_a_result_past_the_limit_is_an_error_item_and_is_not_held(big_url, capped):
    await run(big_url, 10)  # the SDK's modules and schemas loaded before measuring
    tracemalloc.start()
    try:
        response = await run(big_url, BIG)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (call,) = [item for item in response.hosted if item.kind == "call"]
    assert call.output is None
    assert "SWITCHYARD_MAX_ANSWER_BYTES" in call.error and str(LIMIT) in call.error
    assert peak < 4 * LIMIT  # the 8 MB answer was never read whole


async def test_a_result_within_the_limit_comes_back(big_url, capped):
    response = await run(big_url, 1000)
    (call,) = [item for item in response.hosted if item.kind == "call"]
    assert call.error is None and call.output == "x" * 1000
