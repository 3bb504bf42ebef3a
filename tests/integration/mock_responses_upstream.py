"""A scriptable OpenAI Responses API upstream on 127.0.0.1 (``POST */responses``).

Tests queue ``ResponsesReply`` objects (first in, first out; with none queued a short
text answer) and read ``seen``. A reply renders as a response object (JSON), or as the
typed SSE stream the API sends: ``response.created``, ``response.in_progress``, per
output item ``response.output_item.added`` -> deltas (reasoning summary text, output
text, function-call arguments in small fragments) -> ``response.output_item.done``,
then ``response.completed`` or ``response.incomplete`` with usage. A reply may instead
be an HTTP error (status + ``{"error": {...}}`` body), a ``response.failed`` before any
output, or an ``error`` event after the text.

Replayed reasoning is checked as OpenAI checks it: an item with ``encrypted_content``
must carry the id it was issued with (else ``invalid_encrypted_content``, "The encrypted
content for item None could not be verified."), and with ``store: false`` an item id
without encrypted content is refused (nothing is stored to look it up in).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FunctionCall:
    call_id: str
    name: str
    arguments: str


@dataclass
class ResponsesReply:
    text: str = "Hello from Responses!"
    reasoning: str = ""  # summary text; empty with ``encrypted`` set: a summaryless item
    encrypted: str = ""  # the reasoning item's encrypted_content
    reasoning_id: str = "rs_mock0001"
    calls: list[FunctionCall] = field(default_factory=list)
    incomplete: str | None = None  # incomplete_details.reason
    refusal: bool = False  # the text is a refusal content part
    input_tokens: int = 21
    cached_tokens: int = 0
    output_tokens: int = 9
    reasoning_tokens: int = 0
    status: int = 200
    error: dict[str, Any] | None = None  # HTTP error body, or the failure of a stream
    fail_before_output: bool = False  # stream: response.failed right after created
    error_after_text: bool = False  # stream: an ``error`` event after the text
    piece: int = 4


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]
    body: Any


class MockResponsesUpstream:
    def __init__(self) -> None:
        self.seen: list[SeenRequest] = []
        self.replies: deque[ResponsesReply] = deque()
        self.compacts = True  # serves /responses/compact (False: a 404, as servers without it)
        self.issued: dict[str, str] = {}  # encrypted_content handed out -> its item's id
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MockResponsesUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
            self.replies.clear()
            self.issued.clear()
            self.compacts = True

    def queue(self, *replies: ResponsesReply) -> None:
        with self.lock:
            self.replies.extend(replies)

    @property
    def last(self) -> SeenRequest:
        with self.lock:
            assert self.seen, "the mock Responses upstream received no request"
            return self.seen[-1]

    def next_reply(self) -> ResponsesReply:
        with self.lock:
            return self.replies.popleft() if self.replies else ResponsesReply()


# --- rendering -------------------------------------------------------------------------


def _items(reply: ResponsesReply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.reasoning or reply.encrypted:
        item: dict[str, Any] = {"id": reply.reasoning_id, "type": "reasoning", "summary": []}
        if reply.reasoning:
            item["summary"] = [{"type": "summary_text", "text": reply.reasoning}]
        if reply.encrypted:
            item["encrypted_content"] = reply.encrypted
        items.append(item)
    if reply.text:
        part = (
            {"type": "refusal", "refusal": reply.text}
            if reply.refusal
            else {"type": "output_text", "text": reply.text, "annotations": []}
        )
        items.append(
            {
                "id": "msg_mock0001",
                "type": "message",
                "status": "incomplete" if reply.incomplete else "completed",
                "role": "assistant",
                "content": [part],
            }
        )
    for n, call in enumerate(reply.calls):
        items.append(
            {
                "id": f"fc_mock{n:04d}",
                "type": "function_call",
                "status": "completed",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )
    return items


def _response(reply: ResponsesReply, model: str, status: str, output: list) -> dict[str, Any]:
    done = status in ("completed", "incomplete")
    return {
        "id": "resp_mock0001",
        "object": "response",
        "created_at": 1756400000,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": reply.incomplete} if status == "incomplete" else None,
        "model": model,
        "output": output,
        "store": False,
        "usage": {
            "input_tokens": reply.input_tokens,
            "input_tokens_details": {"cached_tokens": reply.cached_tokens},
            "output_tokens": reply.output_tokens,
            "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        if done
        else None,
    }


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or []


def stream_events(reply: ResponsesReply, model: str) -> list[dict[str, Any]]:
    """The typed events of ``reply``'s stream, in order (sequence numbers added later)."""
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response(reply, model, "in_progress", [])},
        {"type": "response.in_progress", "response": _response(reply, model, "in_progress", [])},
    ]
    if reply.fail_before_output:
        failed = _response(reply, model, "failed", [])
        failed["error"] = reply.error or {"code": "server_error", "message": "mock failure"}
        return [*events, {"type": "response.failed", "response": failed}]
    items = _items(reply)
    for index, item in enumerate(items):
        added = dict(item)
        if item["type"] == "reasoning":
            added = {**item, "summary": []}
            added.pop("encrypted_content", None)
        elif item["type"] == "message":
            added = {**item, "status": "in_progress", "content": []}
        elif item["type"] == "function_call":
            added = {**item, "status": "in_progress", "arguments": ""}
        events.append({"type": "response.output_item.added", "output_index": index, "item": added})
        ref = {"item_id": item["id"], "output_index": index}
        if item["type"] == "reasoning" and reply.reasoning:
            events.append(
                {"type": "response.reasoning_summary_part.added", **ref, "summary_index": 0}
            )
            for piece in _pieces(reply.reasoning, reply.piece):
                events.append(
                    {
                        "type": "response.reasoning_summary_text.delta",
                        **ref,
                        "summary_index": 0,
                        "delta": piece,
                    }
                )
        elif item["type"] == "message":
            delta = "response.refusal.delta" if reply.refusal else "response.output_text.delta"
            events.append({"type": "response.content_part.added", **ref, "content_index": 0})
            for piece in _pieces(reply.text, reply.piece):
                events.append({"type": delta, **ref, "content_index": 0, "delta": piece})
            if reply.error_after_text:
                error = reply.error or {"code": "server_error", "message": "mock stream error"}
                return [*events, {"type": "error", "param": None, **error}]
        elif item["type"] == "function_call":
            for piece in _pieces(item["arguments"], reply.piece):
                events.append(
                    {"type": "response.function_call_arguments.delta", **ref, "delta": piece}
                )
            events.append(
                {
                    "type": "response.function_call_arguments.done",
                    **ref,
                    "name": item["name"],
                    "arguments": item["arguments"],
                }
            )
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    status = "incomplete" if reply.incomplete else "completed"
    events.append(
        {"type": f"response.{status}", "response": _response(reply, model, status, items)}
    )
    return events


MIN_OUTPUT_TOKENS = 16


def _unverified(item_id: Any) -> dict[str, Any]:
    message = f"The encrypted content for item {item_id} could not be verified."
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_encrypted_content",
        }
    }


def _reasoning_refusal(body: dict[str, Any], issued: dict[str, str]) -> dict[str, Any] | None:
    """What OpenAI answers replayed reasoning it cannot take: encrypted content is
    verified against its item, so an item without its id (or with another's) is refused;
    with ``store: false`` an id without encrypted content names nothing stored."""
    items = body.get("input")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("type") != "reasoning":
            continue
        item_id, encrypted = item.get("id"), item.get("encrypted_content")
        if encrypted:
            if not item_id or issued.get(encrypted, item_id) != item_id:
                return _unverified(item_id)
        elif item_id and body.get("store") is False:
            message = (
                f"Item with id '{item_id}' not found. Items are not persisted when `store` "
                "is set to false. Try again with `store` set to true, or remove this item "
                "from your input."
            )
            return {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": "input",
                    "code": None,
                }
            }
    return None


def _refusal(body: dict[str, Any]) -> dict[str, Any] | None:
    """The 400 the Responses API answers a body it refuses with: a field it has not
    (``stop``), or ``max_output_tokens`` below its floor of 16."""
    error = {"type": "invalid_request_error", "code": None}
    if "stop" in body:
        return {"error": {**error, "message": "Unknown parameter: 'stop'.", "param": "stop"}}
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and limit < MIN_OUTPUT_TOKENS:
        message = (
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"{MIN_OUTPUT_TOKENS}, but got {limit} instead."
        )
        return {"error": {**error, "message": message, "param": "max_output_tokens"}}
    return None


NATIVE_COMPACTION = "gAAAA-native-compaction"


def compacted(body: dict[str, Any]) -> dict[str, Any]:
    """What ``POST /responses/compact`` answers: the user messages, then one
    compaction item whose content only this upstream can read."""
    items = body.get("input") or []
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    users = [
        {"id": f"msg_u{n}", "type": "message", "status": "completed", **item}
        for n, item in enumerate(items)
        if isinstance(item, dict) and item.get("role") == "user"
    ]
    usage = {
        "input_tokens": 30,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 12,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 42,
    }
    compaction = {"id": "cmp_native", "type": "compaction", "encrypted_content": NATIVE_COMPACTION}
    return {
        "id": "resp_compact_native",
        "object": "response.compaction",
        "created_at": 1764967971,
        "output": [*users, compaction],
        "usage": usage,
    }


def _handler_for(mock: MockResponsesUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            with mock.lock:
                mock.seen.append(SeenRequest(self.path, headers, body))
            if self.path.endswith("/responses/compact") and mock.compacts:  # native compaction
                return self._json(200, compacted(body or {}))
            if not self.path.endswith("/responses"):
                return self._json(
                    404, {"error": {"message": "not found", "type": "invalid_request_error"}}
                )
            refusal = _refusal(body or {})
            if refusal:  # what the real service refuses, before any reply is used
                return self._json(400, refusal)
            with mock.lock:
                refusal = _reasoning_refusal(body or {}, mock.issued)
            if refusal:
                return self._json(400, refusal)
            reply = mock.next_reply()
            if reply.encrypted:
                with mock.lock:
                    mock.issued[reply.encrypted] = reply.reasoning_id
            if reply.status >= 400:
                return self._json(reply.status, reply.error or {"error": {"message": "mock error"}})
            model = (body or {}).get("model", "")
            if (body or {}).get("stream"):
                return self._stream(stream_events(reply, model))
            status = "incomplete" if reply.incomplete else "completed"
            return self._json(200, _response(reply, model, status, _items(reply)))

        def _json(self, status: int, data: Any) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            self.wfile.flush()

        def _stream(self, events: list[dict[str, Any]]) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            for number, event in enumerate(events):
                event = {**event, "sequence_number": number}
                data = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
                self.wfile.write(data)
                self.wfile.flush()
            self.close_connection = True

    return Handler
