"""A scriptable Cohere v2 chat upstream on 127.0.0.1 (``POST */v2/chat``, ``GET
*/v1/models``), written from Cohere's API reference: JSON answers, or SSE with
``message-start``, thinking and text content blocks (``content-start`` /
``content-delta`` pieces / ``content-end``), ``tool-plan-delta`` pieces, tool calls whose
arguments arrive in fragments (``tool-call-start`` / ``-delta`` / ``-end``), then
``message-end`` with the finish reason and usage.

It is ``mock_upstream.MockUpstream`` with a Cohere handler: the same ``Reply`` scripts
(``reasoning`` is thinking content; ``CohereReply.tool_plan`` the plan), errors as
Cohere's ``{"id", "message"}`` envelope with any status, ``error_after`` as a
``message-end`` whose finish reason is ERROR, ``cut_after`` as a dropped connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .mock_upstream import MockUpstream, Reply, Seen, _handler_for, pieces

CHAT_PATH = "/v2/chat"


@dataclass
class CohereReply(Reply):
    tool_plan: str = ""


def finish(reply: Reply) -> str:
    return reply.finish or ("TOOL_CALL" if reply.tool_calls else "COMPLETE")


def usage(reply: Reply) -> dict[str, Any]:
    # Cohere bills only the uncached prompt; ``tokens`` counts every prompt token (cached
    # ones and the chat template too).
    every_input = reply.input_tokens + reply.cached_tokens + 60
    return {
        "billed_units": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        "tokens": {"input_tokens": every_input, "output_tokens": reply.output_tokens},
        "cached_tokens": reply.cached_tokens,
    }


def failure(status: int, message: str) -> Reply:
    """A Cohere error answer: ``{"id", "message"}`` with ``status``."""
    return Reply(status=status, error={"id": "err-mock", "message": message})


def answer(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": []}
    if reply.reasoning:
        message["content"].append({"type": "thinking", "thinking": reply.reasoning})
    if reply.text:
        message["content"].append({"type": "text", "text": reply.text})
    if getattr(reply, "tool_plan", ""):
        message["tool_plan"] = reply.tool_plan  # type: ignore[attr-defined]
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    return {
        "id": "co-mock-0001",
        "finish_reason": finish(reply),
        "message": message,
        "usage": usage(reply),
    }


def event(payload: dict[str, Any]) -> bytes:
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()


def events(reply: Reply) -> Iterator[bytes]:
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    yield event({"type": "message-start", "id": "co-mock-0001", "delta": {"message": start}})
    index = 0
    for kind, text in (("thinking", reply.reasoning), ("text", reply.text)):
        if not text:
            continue
        empty = {"type": kind, kind: ""}
        yield event(
            {"type": "content-start", "index": index, "delta": {"message": {"content": empty}}}
        )
        for piece in pieces(text, reply.piece):
            yield event(
                {
                    "type": "content-delta",
                    "index": index,
                    "delta": {"message": {"content": {kind: piece}}},
                }
            )
        yield event({"type": "content-end", "index": index})
        index += 1
    for piece in pieces(getattr(reply, "tool_plan", ""), reply.piece):
        yield event({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}})
    for position, call in enumerate(reply.tool_calls):
        fragments = pieces(call.arguments, reply.piece)
        first = {"id": call.id, "type": "function", "function": {"name": call.name}}
        first["function"]["arguments"] = fragments[0] if fragments else ""
        yield event(
            {
                "type": "tool-call-start",
                "index": position,
                "delta": {"message": {"tool_calls": first}},
            }
        )
        for fragment in fragments[1:]:
            yield event(
                {
                    "type": "tool-call-delta",
                    "index": position,
                    "delta": {"message": {"tool_calls": {"function": {"arguments": fragment}}}},
                }
            )
        yield event({"type": "tool-call-end", "index": position})
    yield event(
        {"type": "message-end", "delta": {"finish_reason": finish(reply), "usage": usage(reply)}}
    )


def error_event(reply: Reply) -> bytes:
    message = (reply.error or {}).get("message") or "internal model error"
    return event({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": message}})


class MockCohere(MockUpstream):
    """The server; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.server.RequestHandlerClass = _cohere_handler_for(self)
        self.default = lambda seen: Reply(text="Hello from the mock Cohere.")

    def reset(self) -> None:
        super().reset()
        self.default = lambda seen: Reply(text="Hello from the mock Cohere.")

    def chat_requests(self) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path.endswith(CHAT_PATH)]


def _cohere_handler_for(mock: MockCohere) -> type:
    base = _handler_for(mock)

    class Handler(base):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:
            seen = self._seen(b"")
            if seen.path.endswith("/v1/models"):
                self._json(200, {"models": [{"name": "command-a-03-2025"}]})
            else:
                self._json(404, {"id": "x", "message": f"mock: no such path {seen.path}"})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            seen = self._seen(self.rfile.read(length))
            if seen.path.endswith("/v2/rerank"):
                from tests.integration.mock_upstream import rerank_score

                query, documents = seen.body["query"], seen.body["documents"]
                scored = sorted(
                    ((i, rerank_score(query, d)) for i, d in enumerate(documents)),
                    key=lambda pair: -pair[1],
                )[: seen.body.get("top_n") or len(documents)]
                results = [{"index": i, "relevance_score": score} for i, score in scored]
                # Cohere bills a search unit per query with up to 100 documents; the mock
                # adds one for a query of "bill extra" (what the gateway cannot know)
                units = -(-len(documents) // 100) + (query == "bill extra")
                meta = {"api_version": {"version": "2"}, "billed_units": {"search_units": units}}
                self._json(200, {"id": "rr-cohere", "results": results, "meta": meta})
                return
            if not seen.path.endswith(CHAT_PATH):
                self._json(404, {"id": "x", "message": f"mock: no such path {seen.path}"})
                return
            body = seen.body
            reply = mock.next_reply(seen)
            if reply.status >= 400:
                self._json(reply.status, reply.error or {"message": "error"}, reply.headers)
            elif not body.get("stream"):
                self._json(200, answer(reply), reply.headers)
            else:
                self._stream(reply, events(reply), error_event)

    return Handler
