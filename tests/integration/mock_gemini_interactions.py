"""A scriptable Gemini Interactions API upstream on 127.0.0.1 (``POST */interactions``)
that refuses what the real service refuses, as its documentation states it:

- the key in ``x-goog-api-key`` (else 401 UNAUTHENTICATED... as Google words it, a 400
  ``API_KEY_INVALID``);
- snake_case fields only: an unknown field (``systemInstruction``, ``generationConfig``,
  ``maxOutputTokens``...) is a 400 ``Invalid JSON payload received. Unknown name``;
- flat tools (``{"type": "function", "name", "description", "parameters"}``), never
  ``function_declarations`` nor a nested ``function``;
- ``input`` steps of known types; every ``function_call`` answered by exactly one later
  ``function_result`` with its ``call_id``, and every result answering a call;
- thought signatures: a ``function_call`` step must come after, in the same model turn,
  a ``thought`` step whose ``signature`` is the one this mock issued for the first call
  it signed (a call replayed without its signature, or with another, is a 400);
- per model (``tests.google_rules``): a sampling parameter the model refuses
  (``temperature`` on ``gemini-3.7-flash``...) in ``generation_config`` is a 400
  INVALID_ARGUMENT;
- ``previous_interaction_id`` names nothing here (``store`` is honoured by keeping
  nothing): a 404.

Tests queue ``InteractionReply`` objects (first in, first out; none queued: a short
text) and read ``seen``. A reply renders as an interaction (JSON) or as the SSE stream
(``interaction.created``, ``interaction.status_update``, per step ``step.start`` ->
``step.delta``s -> ``step.stop``, ``interaction.completed`` with usage, ``data:
[DONE]``), every event with an ``event_id``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests import google_rules

SIGNING_KEY = b"mock-interactions-signing-key"
CREATED = "2026-07-01T10:00:00Z"
TOP_LEVEL = frozenset(
    {
        "model",
        "agent",
        "input",
        "system_instruction",
        "tools",
        "generation_config",
        "response_format",
        "response_mime_type",
        "response_modalities",
        "safety_settings",
        "service_tier",
        "labels",
        "store",
        "stream",
        "background",
        "previous_interaction_id",
        "webhook_config",
        "environment",
        "agent_config",
    }
)
GENERATION = frozenset(
    {
        "max_output_tokens",
        "temperature",
        "top_p",
        "seed",
        "stop_sequences",
        "thinking_level",
        "thinking_summaries",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "speech_config",
        "image_config",
    }
)
STEP_FIELDS = {
    "user_input": {"type", "content"},
    "model_output": {"type", "content"},
    "thought": {"type", "signature", "summary"},
    "function_call": {"type", "id", "name", "arguments"},
    "function_result": {"type", "call_id", "name", "result", "is_error"},
}
CONTENT_FIELDS = {
    "text": {"type", "text", "annotations"},
    "image": {"type", "data", "uri", "mime_type", "resolution"},
    "document": {"type", "data", "uri", "mime_type"},
}


def sign(call_id: str) -> str:
    """The thought signature this mock issues for the call ``call_id`` (opaque bytes in
    base64, as Google's are)."""
    digest = hmac.new(SIGNING_KEY, call_id.encode(), hashlib.sha256).digest()
    return base64.b64encode(b"\x0a\x96" + digest).decode()


@dataclass
class Call:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class InteractionReply:
    text: str = "Hello from Interactions!"
    thought: str = ""  # summary text; with calls the thought step is always there (signed)
    calls: list[Call] = field(default_factory=list)
    incomplete: bool = False
    input_tokens: int = 21
    cached_tokens: int = 0
    output_tokens: int = 9
    thought_tokens: int = 0
    status: int = 200
    error: dict[str, Any] | None = None  # an HTTP error body (with ``status``)
    error_after_text: bool = False  # stream: an ``error`` event after the text
    piece: int = 4


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]
    body: Any


class Refused(Exception):
    def __init__(self, status: int, message: str, code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def validate(body: Any) -> None:
    """Raise ``Refused`` for what the service refuses (module docstring)."""
    if not isinstance(body, dict):
        raise Refused(400, "Invalid JSON payload received.")
    for name in body:
        if name not in TOP_LEVEL:
            raise Refused(400, f'Invalid JSON payload received. Unknown name "{name}"')
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Refused(400, "model is required")
    if body.get("previous_interaction_id"):
        raise Refused(404, "Interaction not found", "NOT_FOUND")
    if problem := google_rules.refusal(body["model"], body.get("generation_config")):
        raise Refused(400, problem)
    for name in body.get("generation_config") or {}:
        if name not in GENERATION:
            raise Refused(
                400,
                f"Invalid JSON payload received. Unknown name \"{name}\" at 'generation_config'",
            )
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict) or "type" not in tool:
            raise Refused(400, "tools[]: type is required")
        if tool["type"] == "function" and (
            not isinstance(tool.get("name"), str)
            or set(tool) - {"type", "name", "description", "parameters"}
        ):
            raise Refused(
                400, "tools[]: a function tool is flat: type, name, description, parameters"
            )
    steps = body.get("input")
    if isinstance(steps, str):
        return
    if not isinstance(steps, list) or not steps:
        raise Refused(400, "input is required")
    _validate_steps(steps)


def _validate_steps(steps: list[Any]) -> None:
    open_calls: dict[str, str] = {}
    answered: set[str] = set()
    signature: str | None = None  # of the last thought step in this model turn
    signed_turn = False  # this model turn's calls were signed by a thought step
    for n, step in enumerate(steps):
        kind = step.get("type") if isinstance(step, dict) else None
        if kind not in STEP_FIELDS:
            raise Refused(400, f"input[{n}]: unknown step type {kind!r}")
        for name in step:
            if name not in STEP_FIELDS[kind]:
                raise Refused(
                    400, f"Invalid JSON payload received. Unknown name \"{name}\" at 'input[{n}]'"
                )
        for c in step.get("content") or []:
            if (
                not isinstance(c, dict)
                or c.get("type") not in CONTENT_FIELDS
                or set(c) - CONTENT_FIELDS[c["type"]]
            ):
                raise Refused(400, f"input[{n}].content: invalid content {c!r}")
        if kind in ("user_input", "function_result"):
            signature, signed_turn = None, False
        if kind == "thought":
            signature = step.get("signature")
        elif kind == "function_call":
            call_id = step.get("id")
            if not isinstance(call_id, str) or not isinstance(step.get("arguments"), dict):
                raise Refused(
                    400, f"input[{n}]: a function_call needs an id and arguments (an object)"
                )
            if signature is not None:
                if signature != sign(call_id):
                    raise Refused(
                        400, f"input[{n}]: Thought signature is not valid for call {call_id!r}."
                    )
                signature, signed_turn = None, True
            elif not signed_turn:
                raise Refused(
                    400, f"input[{n}]: Function call {call_id!r} is missing a thought signature."
                )
            open_calls[call_id] = step.get("name", "")
        elif kind == "function_result":
            call_id = step.get("call_id")
            if call_id not in open_calls or call_id in answered:
                raise Refused(
                    400, f"input[{n}]: function_result {call_id!r} answers no function_call."
                )
            if "result" not in step:
                raise Refused(400, f"input[{n}]: function_result needs a result")
            answered.add(call_id)
    missing = set(open_calls) - answered
    if missing:
        raise Refused(400, f"function_call {sorted(missing)} has no function_result.")


class MockInteractionsUpstream:
    def __init__(self, key: str) -> None:
        self.key = key
        self.seen: list[SeenRequest] = []
        self.replies: deque[InteractionReply] = deque()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.counter = 0

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MockInteractionsUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
            self.replies.clear()

    def queue(self, *replies: InteractionReply) -> None:
        with self.lock:
            self.replies.extend(replies)

    @property
    def last(self) -> SeenRequest:
        with self.lock:
            assert self.seen, "the mock Interactions upstream received no request"
            return self.seen[-1]

    def next_reply(self) -> tuple[InteractionReply, str]:
        with self.lock:
            self.counter += 1
            reply = self.replies.popleft() if self.replies else InteractionReply()
            return reply, f"v1_mockinteraction{self.counter:04d}"


# --- rendering -------------------------------------------------------------------------


def steps_of(reply: InteractionReply) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    if reply.calls or reply.thought:
        thought: dict[str, Any] = {
            "type": "thought",
            "signature": sign(reply.calls[0].id) if reply.calls else sign("text"),
        }
        if reply.thought:
            thought["summary"] = [{"type": "text", "text": reply.thought}]
        steps.append(thought)
    if reply.text:
        steps.append({"type": "model_output", "content": [{"type": "text", "text": reply.text}]})
    for call in reply.calls:
        steps.append(
            {"type": "function_call", "id": call.id, "name": call.name, "arguments": call.arguments}
        )
    return steps


def _status(reply: InteractionReply) -> str:
    if reply.calls:
        return "requires_action"
    return "incomplete" if reply.incomplete else "completed"


def usage_of(reply: InteractionReply) -> dict[str, Any]:
    return {
        "total_input_tokens": reply.input_tokens,
        "total_cached_tokens": reply.cached_tokens,
        "total_output_tokens": reply.output_tokens,
        "total_thought_tokens": reply.thought_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens + reply.thought_tokens,
    }


def interaction(reply: InteractionReply, model: str, interaction_id: str) -> dict[str, Any]:
    return {
        "id": interaction_id,
        "object": "interaction",
        "model": model,
        "status": _status(reply),
        "created": CREATED,
        "updated": CREATED,
        "steps": steps_of(reply),
        "usage": usage_of(reply),
    }


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def stream_events(reply: InteractionReply, model: str, interaction_id: str) -> list[dict[str, Any]]:
    head = {"id": interaction_id, "object": "interaction", "model": model, "created": CREATED}
    events: list[dict[str, Any]] = [
        {"event_type": "interaction.created", "interaction": {**head, "status": "in_progress"}},
        {
            "event_type": "interaction.status_update",
            "interaction_id": interaction_id,
            "status": "in_progress",
        },
    ]
    for index, step in enumerate(steps_of(reply)):
        kind = step["type"]
        if kind == "thought":
            events.append({"event_type": "step.start", "index": index, "step": {"type": "thought"}})
            for piece in _pieces(reply.thought, reply.piece):
                delta = {"type": "thought_summary", "content": {"type": "text", "text": piece}}
                events.append({"event_type": "step.delta", "index": index, "delta": delta})
            delta = {"type": "thought_signature", "signature": step["signature"]}
            events.append({"event_type": "step.delta", "index": index, "delta": delta})
        elif kind == "model_output":
            events.append(
                {"event_type": "step.start", "index": index, "step": {"type": "model_output"}}
            )
            for piece in _pieces(reply.text, reply.piece):
                delta = {"type": "text", "text": piece}
                events.append({"event_type": "step.delta", "index": index, "delta": delta})
            if reply.error_after_text:
                error = {"code": "https://ai.google.dev/errors/internal", "message": "mock failure"}
                return [*events, {"event_type": "error", "error": error}]
        else:
            start = {**step, "arguments": {}}
            events.append({"event_type": "step.start", "index": index, "step": start})
            for piece in _pieces(json.dumps(step["arguments"]), reply.piece):
                delta = {"type": "arguments_delta", "arguments": piece}
                events.append({"event_type": "step.delta", "index": index, "delta": delta})
        events.append({"event_type": "step.stop", "index": index})
    done = {**head, "status": _status(reply), "updated": CREATED, "usage": usage_of(reply)}
    events.append({"event_type": "interaction.completed", "interaction": done})
    return events


def _handler_for(mock: MockInteractionsUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, error: Refused) -> None:
            body = {"error": {"code": error.status, "message": error.message, "status": error.code}}
            self._json(error.status, body)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            with mock.lock:
                mock.seen.append(SeenRequest(self.path, headers, body))
            if not self.path.rstrip("/").endswith("/interactions"):
                return self._refuse(Refused(404, f"no route {self.path}", "NOT_FOUND"))
            if headers.get("x-goog-api-key") != mock.key:
                return self._json(
                    400,
                    {
                        "error": {
                            "code": 400,
                            "message": "API key not valid. Please pass a valid API key.",
                            "status": "INVALID_ARGUMENT",
                            "details": [{"reason": "API_KEY_INVALID"}],
                        }
                    },
                )
            try:
                validate(body)
            except Refused as refused:
                return self._refuse(refused)
            reply, interaction_id = mock.next_reply()
            if reply.error is not None:
                return self._json(reply.status, {"error": reply.error})
            if not body.get("stream"):
                return self._json(200, interaction(reply, body["model"], interaction_id))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for n, event in enumerate(stream_events(reply, body["model"], interaction_id)):
                event = {**event, "event_id": f"{interaction_id}:{n}"}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            return None

    return Handler
